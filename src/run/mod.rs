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
//! `fields/materials.npy`, and for ParaView `fields/snapshot_t<seconds>s.vti` with the collection
//! `fields/series.pvd` ([`vtk`]). `summary.json` is written last: a folder without it is an unfinished run.
//!
//! Parts: [`control`] (the step plan and the step controller), [`driver`] (the run as a
//! resumable state machine between output times, whose state serialises), [`books`] (the
//! running bookkeeping in f64), [`sinks`] (file names and snapshots), [`vtk`] (the ParaView
//! files), [`summary`] (`summary.json`).

pub mod books;
pub mod checkpoint;
pub mod control;
pub mod driver;
pub mod events;
pub mod exposure;
pub mod sinks;
pub mod summary;
pub mod vtk;

pub use books::Books;
pub use checkpoint::{CHECKPOINT_FILE, Checkpoint};
pub use control::{Controller, PEAK_FACTOR, StepPlan, StepStats, Stepping};
pub use driver::{Driver, DriverState};
pub use sinks::file_safe;
pub use summary::*;

use crate::output::{OutputDir, OutputError, encode_npy};
use crate::problem::Problem;
use crate::solver::{Engine, SolverError, SpeciesTotals};
use sinks::{TimeseriesSink, field_shape, file_stems, write_snapshot};
use std::time::Instant;

/// `exposure.csv`, when the run has target regions.
fn write_exposure(problem: &Problem, driver: &Driver<'_>, out: &OutputDir) -> Result<(), RunError> {
    let (exposure, _) = driver.exposure();
    if !exposure.items.is_empty() {
        out.write_atomic("exposure.csv", exposure.csv(problem).as_bytes())?;
    }
    Ok(())
}

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
        "the books of {species} do not balance: initial + added − present − bound − every channel − outflow \
         − removed with dressings is {error:e} of the amount put in, above the bound {bound:e}; summary.json \
         is written with \"complete\": false"
    )]
    Balance { species: String, error: f64, bound: f64 },
    /// A saved run state that does not fit the scenario it is resumed with.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// The run was asked to stop (SIGINT, SIGTERM) and stopped at an output time after writing
    /// a checkpoint.
    #[error(
        "interrupted: stopped at t = {t_h} h of {end_h} h after writing a checkpoint, the time series so far and a \
         summary.json marked \"complete\": false in {dir}; continue the run with the same command and --resume"
    )]
    Interrupted { t_h: f64, end_h: f64, dir: String },
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
        s.present.iter().chain(&s.bound).chain(s.channels.iter().flatten()).chain(&s.outflow).all(|v| v.is_finite())
            && s.max.iter().flatten().all(|v| v.is_finite())
    });
    if finite {
        return Ok(());
    }
    match first_non_finite(problem, &engine.read_field()?, t) {
        Some(e) => Err(e),
        // The field is finite but the books are not: name the first species whose books are.
        None => {
            let s = totals.iter().position(|s| {
                !s.present
                    .iter()
                    .chain(&s.bound)
                    .chain(s.channels.iter().flatten())
                    .chain(&s.outflow)
                    .all(|v| v.is_finite())
            });
            Err(RunError::Balance {
                species: s.map(|s| problem.species[s].name.clone()).unwrap_or_default(),
                error: f64::NAN,
                bound: BALANCE_BOUND,
            })
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

/// How a run checkpoints, stops and resumes.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Simulated time between checkpoints, s: one is written at the first output time at or
    /// after each multiple (none when `None`).
    pub checkpoint_every: Option<f64>,
    /// When set (by a signal handler), the run stops at the next output time, writes a
    /// checkpoint and returns [`RunError::Interrupted`].
    pub interrupt: Option<&'a std::sync::atomic::AtomicBool>,
    /// Continue from the folder's checkpoint instead of starting at t = 0.
    pub resume: bool,
    /// The scenario file's text, kept in checkpoints (a resume must bring the same).
    pub scenario_text: String,
    /// Write no VTK files (`.vti`, `.pvd`) with the snapshots (default: write them).
    pub no_vtk: bool,
}

/// Runs the whole schedule and writes every output file (no checkpoints, no interruption).
pub fn run(
    problem: &Problem,
    engine: &mut dyn Engine,
    out: &OutputDir,
    progress: &mut dyn Progress,
) -> Result<Summary, RunError> {
    run_with(problem, engine, out, progress, &RunOptions::default())
}

/// Runs the schedule (from t = 0, or from the folder's checkpoint), writing the time series as
/// it goes, snapshots at their times, checkpoints as asked, and `summary.json` last.
pub fn run_with(
    problem: &Problem,
    engine: &mut dyn Engine,
    out: &OutputDir,
    progress: &mut dyn Progress,
    options: &RunOptions<'_>,
) -> Result<Summary, RunError> {
    use std::sync::atomic::Ordering;
    let start = Instant::now();
    let info = engine.info();
    let stems = file_stems(problem);
    let (mut driver, mut snapshots, mut series, wall_before) = if options.resume {
        let checkpoint = Checkpoint::read(out, &options.scenario_text)?;
        // The driver first: it switches on the engine's rate tracking, which the imported state
        // may fill.
        let driver = Driver::resume(problem, checkpoint.driver, engine)?;
        engine.import_state(&checkpoint.engine)?;
        let series = TimeseriesSink::reopen(out, checkpoint.timeseries_bytes)?;
        (driver, checkpoint.snapshots, series, checkpoint.wall_s)
    } else {
        let mut driver = Driver::new(problem, engine)?;
        let mut series = TimeseriesSink::create(out)?;
        let mut rows = String::new();
        driver.books_mut().write_rows(problem, 0.0, &mut rows);
        series.append(&rows)?;
        let mut snapshots = Vec::new();
        out.write_atomic("fields/materials.npy", &encode_npy(&problem.material_id, &field_shape(problem)))?;
        let field = write_snapshot(problem, engine, out, &stems, 0.0, &mut snapshots)?;
        if !options.no_vtk {
            vtk::write_snapshot(problem, out, &field, 0.0, &snapshots)?;
        }
        (driver, snapshots, series, 0.0)
    };
    let checkpoint_due = |t_before: f64, t: f64| {
        options.checkpoint_every.is_some_and(|every| (t / every).floor() > (t_before / every).floor() + 0.5)
    };

    while !driver.done() {
        let t_before = driver.time();
        let t = driver.advance(engine, progress)?;
        let mut rows = String::new();
        driver.books_mut().write_rows(problem, t, &mut rows);
        series.append(&rows)?;
        if problem.schedule.snapshot_times.iter().any(|&s| (s - t).abs() <= 1e-9 * t.max(1.0)) {
            let field = write_snapshot(problem, engine, out, &stems, t, &mut snapshots)?;
            if !options.no_vtk {
                vtk::write_snapshot(problem, out, &field, t, &snapshots)?;
            }
        }
        let interrupted = options.interrupt.is_some_and(|flag| flag.load(Ordering::SeqCst));
        if !driver.done() && (interrupted || checkpoint_due(t_before, t)) {
            Checkpoint {
                version: checkpoint::CHECKPOINT_VERSION,
                scenario: options.scenario_text.clone(),
                backend: info.backend.clone(),
                driver: driver.state().clone(),
                engine: engine.export_state()?,
                snapshots: snapshots.clone(),
                timeseries_bytes: series.len(),
                wall_s: wall_before + start.elapsed().as_secs_f64(),
            }
            .write(out)?;
        }
        if interrupted && !driver.done() {
            let error = RunError::Interrupted {
                t_h: t / 3600.0,
                end_h: problem.schedule.end / 3600.0,
                dir: out.path().display().to_string(),
            };
            write_exposure(problem, &driver, out)?;
            let wall = wall_before + start.elapsed().as_secs_f64();
            let mut summary = Summary::new(
                problem,
                driver.plan(),
                driver.stats(),
                &info,
                driver.books(),
                Some(driver.exposure()),
                snapshots,
                wall,
            );
            summary.vtk = vtk::echo(out, &summary.snapshots);
            summary.complete = false;
            summary.error = Some(error.to_string());
            let json = serde_json::to_string_pretty(&summary).expect("summary is plain data");
            out.write_atomic("summary.json", json.as_bytes())?;
            return Err(error);
        }
    }

    write_exposure(problem, &driver, out)?;
    let wall = wall_before + start.elapsed().as_secs_f64();
    let mut summary = Summary::new(
        problem,
        driver.plan(),
        driver.stats(),
        &info,
        driver.books(),
        Some(driver.exposure()),
        snapshots,
        wall,
    );
    summary.vtk = vtk::echo(out, &summary.snapshots);
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
    // The run is complete: its checkpoint is of no more use.
    let _ = std::fs::remove_file(out.path().join(CHECKPOINT_FILE));
    match unbalanced {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

#[cfg(test)]
mod tests {
    use super::books::time_to_fraction;
    use super::*;
    use crate::problem::{DEFAULT_TOLERANCE, Scheme, TimeStep};

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
            clearance_rate: vec![0.0; (vec![0.0]).len()],
            uptake_rate: vec![0.0; (vec![0.0]).len()],
            initial: vec![1.0],
            initial_is_total: false,
            molar_per_unit: None,
            boundaries: [Boundary::NoFlux; 6],
            sources: Vec::new(),
            bioactive_threshold: None,
            bioactive_ceiling: None,
        };
        Problem {
            name: "line".into(),
            grid: Grid { cells: [50, 1, 1], spacing: [2e-5, 1e-3, 1e-3] },
            materials: vec![Material { name: "gel".into(), role: Role::Depot }],
            material_id: vec![0; 50],
            species: vec![species],
            regions: Vec::new(),
            pools: Vec::new(),
            reactions: Vec::new(),
            timeline: Default::default(),
            metrics: Default::default(),
            velocity: Vec::new(),
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
