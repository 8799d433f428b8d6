//! Drives an engine over a problem's schedule and writes the output folder.
//!
//! Time stepping, per output interval:
//! - **fixed steps** (explicit scheme, or a user `dt`): the largest stable step times the safety
//!   factor, or the user's step, shortened so that a whole number of equal steps lands exactly
//!   on the output time;
//! - **adaptive steps** (ADI scheme): an embedded estimate. From the saved state the engine takes
//!   one step, recording the rate `A uⁿ`; the step's local error is estimated from its distance
//!   to the explicit Adams–Bashforth 2 companion built from the last two rates
//!   ([`crate::solver::error_estimate`]). The step is accepted when, for every species, the
//!   estimate's root mean square over the cells stays below `tolerance` × the species'
//!   concentration scale and its largest value below [`PEAK_FACTOR`] times that; the next dt is
//!   dt · clamp(0.9·(1/err)^(1/order), 0.2, 4). Steps are sized so that a whole number of steps
//!   lands exactly on each output time. An accepted step costs one step and one pass over the
//!   field; a rejected one is restored from the save and retried shorter.
//!
//! At every output time the engine's bookkeeping is reduced and added up here in f64; at
//! snapshot times whole fields are read and written as `.npy`.
//!
//! Files (see README): `summary.json`, `timeseries.csv`, `fields/<species>_t<seconds>s.npy`,
//! `fields/materials.npy`. `summary.json` is written last: a folder without it is an unfinished run.

use crate::output::{OutputDir, OutputError, encode_npy};
use crate::problem::{DEFAULT_TOLERANCE, FACE_NAMES, Problem, Role, Scheme, TimeStep};
use crate::solver::{Engine, EngineInfo, SolverError, SpeciesTotals, error_estimate};
use serde::Serialize;
use std::time::Instant;

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Solver(#[from] SolverError),
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The fixed time step is above the stability limit.
    #[error(
        "time step {dt} s is above the explicit stability limit {limit} s; lower [time] dt or remove it to choose the step automatically"
    )]
    UnstableStep { dt: f64, limit: f64 },
    /// An adaptive step was asked of the explicit scheme, whose step is set by stability.
    #[error("the explicit scheme has no adaptive step; use scheme = \"adi\" for a tolerance, or a fixed dt")]
    AdaptiveExplicit,
    /// A value stopped being a finite number while stepping.
    #[error(
        "{species} became {value} by t = {t} s in cell ({i}, {j}, {k}) at x = {x_mm:.4} mm, y = {y_mm:.4} mm, \
         z = {z_mm:.4} mm (material {material}); the run stopped. Check the scenario's magnitudes \
         (concentrations, diffusivities, rates) for values that overflow single precision"
    )]
    NonFinite {
        species: String,
        value: f32,
        t: f64,
        i: usize,
        j: usize,
        k: usize,
        x_mm: f64,
        y_mm: f64,
        z_mm: f64,
        material: String,
    },
    /// The books did not balance to the stated bound at the end of the run.
    #[error(
        "the books of {species} do not balance: initial − present − decayed − outflow is {error:e} of \
         the initial amount, above the bound {bound:e}; summary.json is written with \"complete\": false"
    )]
    Balance { species: String, error: f64, bound: f64 },
    /// The adaptive step shrank below any useful size (the tolerance cannot be met).
    #[error(
        "the adaptive step fell to {dt:e} s at t = {t} s without meeting tolerance {tolerance}; raise [time] tolerance or give a fixed dt"
    )]
    StepControl { dt: f64, t: f64, tolerance: f64 },
}

/// The largest relative balance error a run accepts; above it the run fails
/// ([`RunError::Balance`]). The books close to ~1e-7 in tests and to a few 1e-5 after tens of
/// thousands of f32 steps.
pub const BALANCE_BOUND: f64 = 1e-3;

/// [`RunError::NonFinite`] for the first cell of `field` (all species, `[species][z][y][x]`)
/// that is not finite, if any.
pub fn first_non_finite(problem: &Problem, field: &[f32], t: f64) -> Option<RunError> {
    let n = problem.grid.n_cells();
    let at = field.iter().position(|v| !v.is_finite())?;
    let (s, cell) = (at / n, at % n);
    let [nx, ny, _] = problem.grid.cells;
    let (i, j, k) = (cell % nx, (cell / nx) % ny, cell / (nx * ny));
    let centre = problem.grid.centre(i, j, k);
    Some(RunError::NonFinite {
        species: problem.species[s].name.clone(),
        value: field[at],
        t,
        i,
        j,
        k,
        x_mm: centre[0] * 1e3,
        y_mm: centre[1] * 1e3,
        z_mm: centre[2] * 1e3,
        material: problem.materials[problem.material_id[cell] as usize].name.clone(),
    })
}

/// Fails with [`RunError::NonFinite`] if the totals are not all finite, naming the first such
/// cell of the engine's field.
fn check_finite(problem: &Problem, engine: &mut dyn Engine, totals: &[SpeciesTotals], t: f64) -> Result<(), RunError> {
    let finite = totals.iter().all(|s| {
        s.present.iter().chain(&s.decayed).chain(&s.outflow).all(|v| v.is_finite())
            && s.max.iter().flatten().all(|v| v.is_finite())
    });
    if finite {
        return Ok(());
    }
    match first_non_finite(problem, &engine.read_field()?, t) {
        Some(e) => Err(e),
        // The field is finite but the books are not: name the first species whose books are.
        None => {
            let s = totals
                .iter()
                .position(|s| !s.present.iter().chain(&s.decayed).chain(&s.outflow).all(|v| v.is_finite()));
            Err(RunError::Balance {
                species: s.map(|s| problem.species[s].name.clone()).unwrap_or_default(),
                error: f64::NAN,
                bound: BALANCE_BOUND,
            })
        }
    }
}

/// How the steps of a run are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Stepping {
    /// For each output interval: (number of steps, step length in s).
    Fixed(Vec<(u64, f64)>),
    /// Step doubling with a relative local-error `tolerance`, starting from `initial_dt` (s).
    Adaptive { tolerance: f64, initial_dt: f64 },
}

/// The step plan of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct StepPlan {
    /// Explicit stability limit, s (reported for the ADI scheme too, which does not need it).
    pub limit: f64,
    pub stepping: Stepping,
}

impl StepPlan {
    pub fn new(problem: &Problem) -> Result<Self, RunError> {
        let limit = problem.explicit_step_limit();
        let fixed = |dt: f64| {
            let mut intervals = Vec::with_capacity(problem.schedule.output_times.len());
            let mut t = 0.0;
            for &t_out in &problem.schedule.output_times {
                let span = t_out - t;
                // A relative slack keeps a step that divides the span exactly from adding one more.
                let n = if dt.is_finite() { ((span / dt) * (1.0 - 1e-12)).ceil().max(1.0) as u64 } else { 1 };
                intervals.push((n, span / n as f64));
                t = t_out;
            }
            Stepping::Fixed(intervals)
        };
        // The first pair's error is estimated like any other, but nothing is known before it:
        // start far below the explicit limit (or the first output interval where nothing limits
        // it), so that the burst from sharp initial data is resolved whatever the tolerance;
        // the controller grows the step ×4 per accepted pair, so this costs a few cheap pairs.
        let first = problem.schedule.output_times.first().copied().unwrap_or(problem.schedule.end);
        let initial_dt = 1e-3 * limit.min(first / 16.0);
        let stepping = match (problem.schedule.scheme, problem.schedule.time_step) {
            (Scheme::ExplicitFtcs, TimeStep::Auto { safety }) => fixed(safety * limit),
            (Scheme::ExplicitFtcs, TimeStep::Fixed { dt }) if dt > limit => {
                return Err(RunError::UnstableStep { dt, limit });
            }
            (Scheme::ExplicitFtcs, TimeStep::Adaptive { .. }) => return Err(RunError::AdaptiveExplicit),
            (_, TimeStep::Fixed { dt }) => fixed(dt),
            (Scheme::AdiDouglas, TimeStep::Auto { .. }) => {
                Stepping::Adaptive { tolerance: DEFAULT_TOLERANCE, initial_dt }
            }
            (Scheme::AdiDouglas, TimeStep::Adaptive { tolerance }) => Stepping::Adaptive { tolerance, initial_dt },
        };
        Ok(StepPlan { limit, stepping })
    }

    /// Total number of steps, when known before the run.
    pub fn total_steps(&self) -> Option<u64> {
        match &self.stepping {
            Stepping::Fixed(intervals) => Some(intervals.iter().map(|(n, _)| n).sum()),
            Stepping::Adaptive { .. } => None,
        }
    }

    /// Longest fixed step, when steps are fixed.
    pub fn max_step(&self) -> Option<f64> {
        match &self.stepping {
            Stepping::Fixed(intervals) => Some(intervals.iter().map(|&(_, dt)| dt).fold(0.0, f64::max)),
            Stepping::Adaptive { .. } => None,
        }
    }
}

/// How the run reports progress.
pub trait Progress {
    /// Called after each chunk of steps with the simulated time (s) and steps done so far.
    fn advanced(&mut self, time: f64, steps_done: u64);
}

/// No progress reports.
pub struct Silent;
impl Progress for Silent {
    fn advanced(&mut self, _: f64, _: u64) {}
}

/// What the stepping did, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StepStats {
    /// Steps that make up the solution.
    pub steps: u64,
    /// Steps computed, counting the ones the error control rejected.
    pub steps_computed: u64,
    /// Steps rejected by the error control.
    pub rejected_steps: u64,
    pub smallest_step_s: f64,
    pub largest_step_s: f64,
}

impl StepStats {
    fn record(&mut self, n: u64, dt: f64) {
        if self.steps == 0 {
            self.smallest_step_s = dt;
        }
        self.steps += n;
        self.steps_computed += n;
        self.smallest_step_s = self.smallest_step_s.min(dt);
        self.largest_step_s = self.largest_step_s.max(dt);
    }
}

/// The adaptive step bounds the root-mean-square local error by `tolerance` × scale and the
/// largest local error in any cell by `PEAK_FACTOR` times that.
pub const PEAK_FACTOR: f64 = 10.0;

/// The embedded-estimate controller of [`Stepping::Adaptive`].
struct Controller {
    tolerance: f64,
    scales: Vec<f64>,
    dt: f64,
    /// Length of the last accepted step, whose rate the engine holds (`None` at the start).
    previous: Option<f64>,
    /// The last step was rejected: the next accepted one may not grow the step (Hairer &
    /// Wanner's rule; it stops the step from oscillating around the rejection threshold).
    just_rejected: bool,
}

impl Controller {
    /// Advances from `t0` to exactly `t1` in accepted steps of equal length.
    fn advance(
        &mut self,
        problem: &Problem,
        engine: &mut dyn Engine,
        t0: f64,
        t1: f64,
        stats: &mut StepStats,
        progress: &mut dyn Progress,
    ) -> Result<(), RunError> {
        let mut t = t0;
        while t1 - t > 1e-12 * t1.max(1.0) {
            let remaining = t1 - t;
            let steps = (remaining / self.dt * (1.0 - 1e-12)).ceil().max(1.0);
            let dt = remaining / steps;
            engine.save(0)?;
            engine.step(1, dt)?;
            let estimate = error_estimate(dt, self.previous);
            let local = engine.local_error(estimate.weights)?;
            let err = local
                .iter()
                .zip(&self.scales)
                .map(|(d, scale)| {
                    let bound = self.tolerance * scale;
                    (estimate.factor * d.rms / bound).max(estimate.factor * d.max / (PEAK_FACTOR * bound))
                })
                .fold(0.0f64, f64::max);
            if !err.is_finite() {
                if let Some(e) = first_non_finite(problem, &engine.read_field()?, t + dt) {
                    return Err(e);
                }
            }
            let factor = if err > 0.0 { (0.9 * err.powf(-1.0 / estimate.order)).clamp(0.2, 4.0) } else { 4.0 };
            if err <= 1.0 {
                t = if steps <= 1.0 { t1 } else { t + dt };
                stats.record(1, dt);
                self.previous = Some(dt);
                self.dt = dt * if self.just_rejected { factor.min(1.0) } else { factor };
                self.just_rejected = false;
                progress.advanced(t, stats.steps);
            } else {
                engine.restore(0)?;
                stats.rejected_steps += 1;
                stats.steps_computed += 1;
                self.dt = dt * factor.min(0.5);
                self.just_rejected = true;
                if self.dt < 1e-12 * t1.max(1.0) {
                    return Err(RunError::StepControl { dt: self.dt, t, tolerance: self.tolerance });
                }
            }
        }
        Ok(())
    }
}

/// Runs the whole schedule and writes every output file.
pub fn run(
    problem: &Problem,
    engine: &mut dyn Engine,
    out: &OutputDir,
    progress: &mut dyn Progress,
) -> Result<Summary, RunError> {
    let start = Instant::now();
    let plan = StepPlan::new(problem)?;
    let info = engine.info();
    let mut books = Books::new(problem, &engine.reduce_totals()?);
    let mut rows = String::from(TIMESERIES_HEADER);
    books.write_rows(problem, 0.0, &mut rows);

    let stems = file_stems(problem);
    let mut snapshots = Vec::new();
    out.write_atomic("fields/materials.npy", &encode_npy(&problem.material_id, &field_shape(problem)))?;
    write_snapshot(problem, engine, out, &stems, 0.0, &mut snapshots)?;

    let mut stats = StepStats::default();
    let mut controller = match plan.stepping {
        Stepping::Adaptive { tolerance, initial_dt } => {
            engine.track_rates(true);
            Some(Controller {
                tolerance,
                scales: problem.concentration_scales(),
                dt: initial_dt,
                previous: None,
                just_rejected: false,
            })
        }
        Stepping::Fixed(_) => None,
    };
    let mut t = 0.0;
    for (i, &t_out) in problem.schedule.output_times.iter().enumerate() {
        match (&plan.stepping, controller.as_mut()) {
            (Stepping::Fixed(intervals), _) => {
                let (n, dt) = intervals[i];
                // Chunks of about 1 % of the run keep the progress bar alive without slowing the GPU.
                let chunk = (plan.total_steps().unwrap_or(n) / 100).max(1);
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk);
                    engine.step(k, dt)?;
                    left -= k;
                    stats.record(k, dt);
                    progress.advanced(t + (n - left) as f64 * dt, stats.steps);
                }
            }
            (Stepping::Adaptive { .. }, Some(controller)) => {
                controller.advance(problem, engine, t, t_out, &mut stats, progress)?;
            }
            (Stepping::Adaptive { .. }, None) => unreachable!("an adaptive plan always has a controller"),
        }
        t = t_out;
        let totals = engine.reduce_totals()?;
        check_finite(problem, engine, &totals, t)?;
        books.add(&totals);
        books.write_rows(problem, t, &mut rows);
        if problem.schedule.snapshot_times.iter().any(|&s| (s - t).abs() <= 1e-9 * t.max(1.0)) {
            write_snapshot(problem, engine, out, &stems, t, &mut snapshots)?;
        }
    }
    out.write_atomic("timeseries.csv", rows.as_bytes())?;

    let mut summary = Summary::new(problem, &plan, &stats, &info, &books, snapshots, start.elapsed().as_secs_f64());
    let unbalanced = summary
        .species
        .iter()
        .find(|s| s.relative_balance_error.is_nan() || s.relative_balance_error > BALANCE_BOUND)
        .map(|s| RunError::Balance { species: s.name.clone(), error: s.relative_balance_error, bound: BALANCE_BOUND });
    if let Some(e) = &unbalanced {
        summary.complete = false;
        summary.error = Some(e.to_string());
    }
    let json = serde_json::to_string_pretty(&summary).expect("summary is plain data");
    out.write_atomic("summary.json", json.as_bytes())?;
    match unbalanced {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

fn field_shape(problem: &Problem) -> [usize; 3] {
    let [nx, ny, nz] = problem.grid.cells;
    [nz, ny, nx]
}

fn write_snapshot(
    problem: &Problem,
    engine: &mut dyn Engine,
    out: &OutputDir,
    stems: &[String],
    t: f64,
    snapshots: &mut Vec<SnapshotEntry>,
) -> Result<(), RunError> {
    let field = engine.read_field()?;
    let n = problem.grid.n_cells();
    for (s, species) in problem.species.iter().enumerate() {
        let file = format!("fields/{}_t{}s.npy", stems[s], format_seconds(t));
        out.write_atomic(&file, &encode_npy(&field[s * n..(s + 1) * n], &field_shape(problem)))?;
        snapshots.push(SnapshotEntry {
            time_s: t,
            time_h: t / 3600.0,
            species: species.name.clone(),
            unit: species.unit.text.clone(),
            file,
        });
    }
    Ok(())
}

/// File-name stem of each species: its [`file_safe`] name, with `_2`, `_3`, … added where two
/// names would otherwise write the same file.
fn file_stems(problem: &Problem) -> Vec<String> {
    let mut stems: Vec<String> = Vec::new();
    for species in &problem.species {
        let base = file_safe(&species.name);
        let mut stem = base.clone();
        let mut n = 1;
        while stems.contains(&stem) {
            n += 1;
            stem = format!("{base}_{n}");
        }
        stems.push(stem);
    }
    stems
}

/// Seconds as a file-name part: whole seconds without a fraction, else up to 3 decimals.
fn format_seconds(t: f64) -> String {
    if (t - t.round()).abs() < 1e-6 { format!("{}", t.round() as u64) } else { format!("{t:.3}") }
}

/// A species name as a file-name part: letters, digits, `-` and `_`; anything else becomes `_`.
pub fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

const TIMESERIES_HEADER: &str =
    "time_s,time_h,species,material,amount,mean,max,released,released_percent,concentration_unit,amount_unit\n";

/// Running bookkeeping of every species, in its amount unit (concentration unit × volume unit).
struct Books {
    /// Amount unit per concentration-unit·m³, per species (1 / volume_si).
    to_amount: Vec<f64>,
    initial: Vec<Vec<f64>>,
    present: Vec<Vec<f64>>,
    max: Vec<Vec<Option<f64>>>,
    decayed: Vec<Vec<f64>>,
    outflow: Vec<[f64; 6]>,
    /// (time s, cumulative released from depot materials) per species.
    release_curve: Vec<Vec<(f64, f64)>>,
}

impl Books {
    fn new(problem: &Problem, at_start: &[SpeciesTotals]) -> Self {
        let to_amount: Vec<f64> = problem.species.iter().map(|s| 1.0 / s.unit.volume_si).collect();
        let scale = |s: usize, v: &[f64]| v.iter().map(|x| x * to_amount[s]).collect::<Vec<_>>();
        let initial: Vec<Vec<f64>> = at_start.iter().enumerate().map(|(s, t)| scale(s, &t.present)).collect();
        let nm = problem.materials.len();
        Books {
            present: initial.clone(),
            max: at_start.iter().map(|t| t.max.clone()).collect(),
            decayed: vec![vec![0.0; nm]; at_start.len()],
            outflow: vec![[0.0; 6]; at_start.len()],
            release_curve: vec![Vec::new(); at_start.len()],
            initial,
            to_amount,
        }
    }

    fn add(&mut self, totals: &[SpeciesTotals]) {
        for (s, t) in totals.iter().enumerate() {
            let k = self.to_amount[s];
            for m in 0..t.present.len() {
                self.present[s][m] = t.present[m] * k;
                self.decayed[s][m] += t.decayed[m] * k;
            }
            self.max[s] = t.max.clone();
            for f in 0..6 {
                self.outflow[s][f] += t.outflow[f] * k;
            }
        }
    }

    /// Amount that has left the depot materials (not counting decay inside them).
    fn released(&self, problem: &Problem, s: usize) -> (f64, f64) {
        let mut initial = 0.0;
        let mut left = 0.0;
        for (m, mat) in problem.materials.iter().enumerate() {
            if mat.role == Role::Depot {
                initial += self.initial[s][m];
                left += self.initial[s][m] - self.present[s][m] - self.decayed[s][m];
            }
        }
        (left, initial)
    }

    fn write_rows(&mut self, problem: &Problem, t: f64, rows: &mut String) {
        let counts = problem.material_cell_counts();
        let volume = problem.grid.cell_volume();
        for (s, species) in problem.species.iter().enumerate() {
            let (released, depot_initial) = self.released(problem, s);
            self.release_curve[s].push((t, released));
            let percent = if depot_initial > 0.0 { 100.0 * released / depot_initial } else { 0.0 };
            for (m, mat) in problem.materials.iter().enumerate() {
                let amount = self.present[s][m];
                let mean = if counts[m] > 0 { amount / (self.to_amount[s] * counts[m] as f64 * volume) } else { 0.0 };
                let max = self.max[s][m].map(|v| format!("{v:e}")).unwrap_or_default();
                rows.push_str(&format!(
                    "{},{},{},{},{:e},{:e},{},{:e},{},{},{}\n",
                    t,
                    t / 3600.0,
                    csv_field(&species.name),
                    csv_field(&mat.name),
                    amount,
                    mean,
                    max,
                    released,
                    percent,
                    csv_field(&species.unit.text),
                    csv_field(&species.unit.amount_text),
                ));
            }
        }
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// First time (s) at which the release curve reaches `fraction` of `initial`, linearly
/// interpolated between output times; `None` if it never does within the run.
fn time_to_fraction(curve: &[(f64, f64)], initial: f64, fraction: f64) -> Option<f64> {
    if initial <= 0.0 {
        return None;
    }
    let target = fraction * initial;
    curve.windows(2).find_map(|w| {
        let ((t0, r0), (t1, r1)) = (w[0], w[1]);
        (r1 >= target && r0 < target).then(|| t0 + (t1 - t0) * (target - r0) / (r1 - r0))
    })
}

/// Contents of `summary.json`.
#[derive(Serialize)]
pub struct Summary {
    pub complete: bool,
    /// Why the run is not complete, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The largest relative balance error a run accepts ([`BALANCE_BOUND`]).
    pub balance_bound: f64,
    pub scenario: ScenarioEcho,
    pub engine: EngineEcho,
    pub grid: GridEcho,
    pub time: TimeEcho,
    pub wall_time_s: f64,
    pub species: Vec<SpeciesBooks>,
    pub materials_file: String,
    pub snapshots: Vec<SnapshotEntry>,
}

#[derive(Serialize)]
pub struct ScenarioEcho {
    pub name: String,
    pub materials: Vec<MaterialEcho>,
    pub species: Vec<SpeciesEcho>,
}

#[derive(Serialize)]
pub struct MaterialEcho {
    pub id: usize,
    pub name: String,
    pub role: &'static str,
    pub cells: usize,
}

#[derive(Serialize)]
pub struct SpeciesEcho {
    pub name: String,
    pub concentration_unit: String,
    pub concentration_unit_si: f64,
    pub amount_unit: String,
    pub diffusivity_m2_per_s: std::collections::BTreeMap<String, f64>,
    pub decay_rate_per_s: std::collections::BTreeMap<String, f64>,
    pub initial_concentration: std::collections::BTreeMap<String, f64>,
    pub boundaries: std::collections::BTreeMap<String, BoundaryEcho>,
}

#[derive(Serialize)]
pub struct BoundaryEcho {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_m_per_s: Option<f64>,
}

#[derive(Serialize)]
pub struct EngineEcho {
    pub backend: String,
    pub device: String,
    pub precision: String,
}

#[derive(Serialize)]
pub struct GridEcho {
    pub dimension: usize,
    pub cells: [usize; 3],
    pub spacing_m: [f64; 3],
    pub extent_m: [f64; 3],
    pub total_cells: usize,
    /// Layout of every `.npy` field.
    pub array_layout: &'static str,
}

#[derive(Serialize)]
pub struct TimeEcho {
    pub scheme: &'static str,
    /// `fixed` or `adaptive`.
    pub step_control: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    pub end_s: f64,
    pub stability_limit_s: f64,
    #[serde(flatten)]
    pub stats: StepStats,
    pub output_times_s: Vec<f64>,
}

#[derive(Serialize)]
pub struct SpeciesBooks {
    pub name: String,
    pub amount_unit: String,
    pub initial: f64,
    pub initial_per_material: std::collections::BTreeMap<String, f64>,
    pub present: f64,
    pub present_per_material: std::collections::BTreeMap<String, f64>,
    pub decayed: f64,
    pub decayed_per_material: std::collections::BTreeMap<String, f64>,
    pub outflow: f64,
    pub outflow_per_face: std::collections::BTreeMap<String, f64>,
    /// |initial − present − decayed − outflow| / initial.
    pub relative_balance_error: f64,
    pub released_from_depot: f64,
    pub released_percent: f64,
    pub time_to_50_percent_release_h: Option<f64>,
    pub time_to_90_percent_release_h: Option<f64>,
}

#[derive(Serialize, Clone)]
pub struct SnapshotEntry {
    pub time_s: f64,
    pub time_h: f64,
    pub species: String,
    pub unit: String,
    pub file: String,
}

impl Summary {
    fn new(
        problem: &Problem,
        plan: &StepPlan,
        stats: &StepStats,
        info: &EngineInfo,
        books: &Books,
        snapshots: Vec<SnapshotEntry>,
        wall: f64,
    ) -> Self {
        let counts = problem.material_cell_counts();
        let names: Vec<&str> = problem.materials.iter().map(|m| m.name.as_str()).collect();
        let per_material = |v: &[f64]| names.iter().zip(v).map(|(n, x)| (n.to_string(), *x)).collect();
        let species = problem
            .species
            .iter()
            .enumerate()
            .map(|(s, sp)| {
                let initial: f64 = books.initial[s].iter().sum();
                let present: f64 = books.present[s].iter().sum();
                let decayed: f64 = books.decayed[s].iter().sum();
                let outflow: f64 = books.outflow[s].iter().sum();
                let (released, depot_initial) = books.released(problem, s);
                let curve = &books.release_curve[s];
                let hours = |f| time_to_fraction(curve, depot_initial, f).map(|t| t / 3600.0);
                SpeciesBooks {
                    name: sp.name.clone(),
                    amount_unit: sp.unit.amount_text.clone(),
                    initial,
                    initial_per_material: per_material(&books.initial[s]),
                    present,
                    present_per_material: per_material(&books.present[s]),
                    decayed,
                    decayed_per_material: per_material(&books.decayed[s]),
                    outflow,
                    outflow_per_face: FACE_NAMES
                        .iter()
                        .zip(books.outflow[s])
                        .map(|(f, x)| (f.to_string(), x))
                        .collect(),
                    relative_balance_error: if initial > 0.0 {
                        (initial - present - decayed - outflow).abs() / initial
                    } else {
                        (present + decayed + outflow).abs()
                    },
                    released_from_depot: released,
                    released_percent: if depot_initial > 0.0 { 100.0 * released / depot_initial } else { 0.0 },
                    time_to_50_percent_release_h: hours(0.5),
                    time_to_90_percent_release_h: hours(0.9),
                }
            })
            .collect();
        let scenario = ScenarioEcho {
            name: problem.name.clone(),
            materials: problem
                .materials
                .iter()
                .enumerate()
                .map(|(id, m)| MaterialEcho {
                    id,
                    name: m.name.clone(),
                    role: match m.role {
                        Role::Depot => "depot",
                        Role::Tissue => "tissue",
                    },
                    cells: counts[id],
                })
                .collect(),
            species: problem
                .species
                .iter()
                .map(|sp| SpeciesEcho {
                    name: sp.name.clone(),
                    concentration_unit: sp.unit.text.clone(),
                    concentration_unit_si: sp.unit.si,
                    amount_unit: sp.unit.amount_text.clone(),
                    diffusivity_m2_per_s: per_material(&sp.diffusivity),
                    decay_rate_per_s: per_material(&sp.decay_rate),
                    initial_concentration: per_material(&sp.initial),
                    boundaries: FACE_NAMES
                        .iter()
                        .zip(&sp.boundaries)
                        .map(|(f, b)| {
                            use crate::problem::Boundary::*;
                            let (value, rate_m_per_s) = match *b {
                                NoFlux => (None, None),
                                Fixed { value } => (Some(value), None),
                                Clearance { rate, value } => (Some(value), Some(rate)),
                            };
                            (f.to_string(), BoundaryEcho { kind: b.kind_name(), value, rate_m_per_s })
                        })
                        .collect(),
                })
                .collect(),
        };
        Summary {
            complete: true,
            error: None,
            balance_bound: BALANCE_BOUND,
            scenario,
            engine: EngineEcho {
                backend: info.backend.clone(),
                device: info.device.clone(),
                precision: info.precision.clone(),
            },
            grid: GridEcho {
                dimension: problem.grid.dimension(),
                cells: problem.grid.cells,
                spacing_m: problem.grid.spacing,
                extent_m: problem.grid.extent(),
                total_cells: problem.grid.n_cells(),
                array_layout: "float32 (materials: uint32), C order, shape [nz, ny, nx], x fastest",
            },
            time: TimeEcho {
                scheme: problem.schedule.scheme.name(),
                step_control: match plan.stepping {
                    Stepping::Fixed(_) => "fixed",
                    Stepping::Adaptive { .. } => "adaptive",
                },
                tolerance: match plan.stepping {
                    Stepping::Fixed(_) => None,
                    Stepping::Adaptive { tolerance, .. } => Some(tolerance),
                },
                end_s: problem.schedule.end,
                stability_limit_s: plan.limit,
                stats: stats.clone(),
                output_times_s: problem.schedule.output_times.clone(),
            },
            wall_time_s: wall,
            species,
            materials_file: "fields/materials.npy".into(),
            snapshots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_time_is_interpolated_between_outputs() {
        let curve = [(0.0, 0.0), (10.0, 40.0), (20.0, 60.0)];
        assert_eq!(time_to_fraction(&curve, 100.0, 0.5), Some(15.0));
        assert_eq!(time_to_fraction(&curve, 100.0, 0.9), None);
    }

    /// A 1D line of 50 cells (no CLI or scenario parser needed).
    fn line_problem(scheme: Scheme, time_step: TimeStep) -> Problem {
        use crate::problem::*;
        let unit = ConcentrationUnit { text: "ng/mL".into(), amount_text: "ng".into(), si: 1e-6, volume_si: 1e-6 };
        let species = Species {
            name: "f".into(),
            unit,
            diffusivity: vec![1e-10],
            decay_rate: vec![0.0],
            initial: vec![1.0],
            boundaries: [Boundary::NoFlux; 6],
        };
        Problem {
            name: "line".into(),
            grid: Grid { cells: [50, 1, 1], spacing: [2e-5, 1e-3, 1e-3] },
            materials: vec![Material { name: "gel".into(), role: Role::Depot }],
            material_id: vec![0; 50],
            species: vec![species],
            schedule: Schedule {
                end: 600.0,
                output_times: vec![300.0, 600.0],
                snapshot_times: vec![600.0],
                scheme,
                time_step,
            },
        }
    }

    #[test]
    fn adi_steps_are_not_limited_by_explicit_stability() {
        let explicit = line_problem(Scheme::ExplicitFtcs, TimeStep::Fixed { dt: 100.0 });
        assert!(matches!(StepPlan::new(&explicit), Err(RunError::UnstableStep { .. })));
        let fixed = StepPlan::new(&line_problem(Scheme::AdiDouglas, TimeStep::Fixed { dt: 100.0 })).unwrap();
        assert_eq!(fixed.stepping, Stepping::Fixed(vec![(3, 100.0), (3, 100.0)]));
        let auto = StepPlan::new(&line_problem(Scheme::AdiDouglas, TimeStep::Auto { safety: 1.0 })).unwrap();
        assert!(matches!(auto.stepping, Stepping::Adaptive { tolerance, .. } if tolerance == DEFAULT_TOLERANCE));
    }

    #[test]
    fn species_names_become_safe_file_names() {
        assert_eq!(file_safe("TGF-β1"), "TGF-_1");
        assert_eq!(file_safe("IL 6/x"), "IL_6_x");
    }
}
