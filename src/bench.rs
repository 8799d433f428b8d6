//! `secretome bench`: a fixed suite of timed runs, printed as a table beside the peer's figures.
//!
//! Rows: problem, engine, scheme, cells × species, steps, wall time, cell·species updates per
//! second, peak memory, and the error against the exact solution where there is one.
//!
//! - **peer_cube**: the peer's own benchmark problem (BioFVM 1.0.4): 128³ cells of 10 µm,
//!   10 species, uniform D = 100 µm²/s, decay 0.001 1/s, no-flux faces, Δt = 0.6 s, 100 steps.
//! - **slab_600s**: a slab depot (x < 250 µm of a 1000 µm line, 10 µm cells, D = 100 µm²/s,
//!   no-flux) at t = 600 s, relative L2 error against the exact cosine series, at the peer's step
//!   sizes and at the largest step that reaches 1e-3.
//! - **wound_gel_2d_14d**: the shipped 2D wound scenario (`scenarios/wound_gel_2d.toml`, 10 µm,
//!   10 species, adaptive ADI) run for 14 simulated days with hourly outputs, on the fast CPU
//!   engine, output files included.
//! - **ulcer_twice_daily_14d**, **adscm_every_3_days_8wk**: the shipped dosing schedules, run as
//!   they are on the fast CPU engine, output files included.
//!
//! Peak memory is the process' resident high-water mark (`VmHWM`) during the row, reset before
//! each row through `/proc/self/clear_refs`; bytes per cell·species is the rise of the resident
//! size over the level before the engine was built, divided by cells × species.

use crate::problem::*;
use crate::solver::Engine;
use crate::solver::cpu::CpuReference;
use crate::solver::fast::CpuFast;
use crate::solver::gpu::{self, GpuContext, GpuEngine};
use std::time::Instant;

/// Which engine a row runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Reference,
    Fast { threads: usize },
    Gpu,
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    pub problem: String,
    pub engine: String,
    pub scheme: String,
    pub cell_species: u64,
    pub steps: u64,
    pub dt: f64,
    pub wall_s: f64,
    pub updates_per_s: f64,
    pub peak_mib: Option<f64>,
    pub bytes_per_cell_species: Option<f64>,
    pub error: Option<f64>,
    /// GPU time of the steps from timestamp queries, s (GPU rows on adapters that have them).
    pub gpu_time_s: Option<f64>,
    /// Bytes the kernels move per step (see [`bytes_per_step`]) over the GPU time, GB/s.
    pub bandwidth_gb_s: Option<f64>,
    pub note: String,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Edge of the peer cube (128 for the peer's problem; smaller for a quick check).
    pub cube: usize,
    /// Steps of the peer cube on the fast engine (100 as the peer); slow engines run fewer.
    pub cube_steps: u64,
    /// Threads of the fast engine's multi-threaded rows.
    pub threads: usize,
    /// Include GPU rows when an adapter (software included) exists.
    pub gpu: bool,
    /// Include the 14-day wound row (needs the scenario file).
    pub wound: Option<std::path::PathBuf>,
    /// Shipped scenarios run as they are (the dosing schedules), one row each.
    pub scenarios: Vec<std::path::PathBuf>,
    /// A sweep of this many cases of this scenario (the 24-h wound), run as a sweep and one by
    /// one ([`sweep_rows`]).
    pub sweep: Option<(std::path::PathBuf, usize)>,
    /// Only the sweep rows.
    pub only_sweep: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cube: 128,
            cube_steps: 100,
            threads: 2,
            gpu: true,
            wound: None,
            scenarios: Vec::new(),
            sweep: None,
            only_sweep: false,
        }
    }
}

/// The peer's published and measured figures on its own problem (see docs/benchmarks.md).
pub fn peer_rows() -> Vec<Row> {
    let cell_species = 128u64.pow(3) * 10;
    let peer = |threads: usize, per_step: f64| Row {
        problem: "peer_cube".into(),
        engine: format!("BioFVM 1.0.4 ({threads} thr, measured)"),
        scheme: "LOD implicit Euler (1st order)".into(),
        cell_species,
        steps: 100,
        dt: 0.6,
        wall_s: 100.0 * per_step,
        updates_per_s: cell_species as f64 / per_step,
        peak_mib: Some(130.0 * cell_species as f64 / 1048576.0),
        bytes_per_cell_species: Some(130.0),
        error: None,
        gpu_time_s: None,
        bandwidth_gb_s: None,
        note: "f64".into(),
    };
    let slab = |dt: f64, error: f64| Row {
        problem: "slab_600s".into(),
        engine: "BioFVM 1.0.4 (measured)".into(),
        scheme: "LOD implicit Euler (1st order)".into(),
        cell_species: 100,
        steps: (600.0 / dt) as u64,
        dt,
        wall_s: f64::NAN,
        updates_per_s: f64::NAN,
        peak_mib: None,
        bytes_per_cell_species: None,
        error: Some(error),
        gpu_time_s: None,
        bandwidth_gb_s: None,
        note: String::new(),
    };
    vec![peer(2, 0.20), peer(1, 0.32), slab(1.0, 4.5e-4), slab(10.0, 3.7e-3), slab(60.0, 2.2e-2)]
}

/// The peer's benchmark problem with our data types: a cube of `n³` cells of 10 µm, 10 species,
/// D = 100 µm²/s, k = 0.001 1/s, no-flux, loaded in a central sphere (BioFVM's benchmark starts
/// from a smooth field; the speed of either code does not depend on the values).
pub fn peer_cube(n: usize, scheme: Scheme) -> Problem {
    let mut p = Problem::loaded_sphere_cube(n, 10, 10e-6);
    for s in &mut p.species {
        s.diffusivity = vec![1e-10, 1e-10];
        s.decay_rate = vec![1e-3, 1e-3];
    }
    p.name = format!("peer_cube_{n}");
    p.schedule.scheme = scheme;
    p
}

/// The slab depot line: 100 cells of 10 µm, load 1 for x < 250 µm.
pub fn slab_line(scheme: Scheme) -> Problem {
    let n = 100;
    let h = 10e-6;
    let grid = Grid { cells: [n, 1, 1], spacing: [h, h, h] };
    let material_id = (0..n).map(|i| u32::from((i as f64 + 0.5) * h > 250e-6)).collect();
    let species = Species {
        name: "slab".into(),
        unit: ConcentrationUnit { text: "ng/mL".into(), amount_text: "ng".into(), si: 1e-6, volume_si: 1e-6 },
        diffusivity: vec![1e-10, 1e-10],
        decay_rate: vec![0.0, 0.0],
        clearance_rate: vec![0.0; (vec![0.0, 0.0]).len()],
        uptake_rate: vec![0.0; (vec![0.0, 0.0]).len()],
        initial: vec![1.0, 0.0],
        initial_is_total: false,
        molar_per_unit: None,
        boundaries: [Boundary::NoFlux; 6],
        sources: Vec::new(),
        bioactive_threshold: None,
        bioactive_ceiling: None,
    };
    Problem {
        name: "slab_600s".into(),
        grid,
        materials: vec![
            Material { name: "gel".into(), role: Role::Depot },
            Material { name: "tissue".into(), role: Role::Tissue },
        ],
        material_id,
        species: vec![species],
        regions: Vec::new(),
        pools: Vec::new(),
        reactions: Vec::new(),
        timeline: Default::default(),
        metrics: Default::default(),
        velocity: Vec::new(),
        schedule: Schedule {
            end: 600.0,
            output_times: vec![600.0],
            snapshot_times: vec![600.0],
            scheme,
            time_step: TimeStep::Auto { safety: 1.0 },
        },
    }
}

/// Exact slab solution between no-flux walls at 0 and L, load 1 on [0, a):
/// c = a/L + Σ 2/(nπ) sin(nπa/L) cos(nπx/L) exp(−n²π²Dt/L²).
pub fn slab_exact(x: f64, t: f64) -> f64 {
    let (l, a, d) = (1000e-6, 250e-6, 1e-10);
    let pi = std::f64::consts::PI;
    a / l
        + (1..400)
            .map(|n| {
                let k = n as f64 * pi / l;
                2.0 / (n as f64 * pi) * (k * a).sin() * (k * x).cos() * (-k * k * d * t).exp()
            })
            .sum::<f64>()
}

/// Relative L2 error of a slab field against [`slab_exact`] at cell centres.
pub fn slab_error(field: &[f32], t: f64) -> f64 {
    let h = 10e-6;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &c) in field.iter().enumerate() {
        let e = slab_exact((i as f64 + 0.5) * h, t);
        num += (c as f64 - e).powi(2);
        den += e * e;
    }
    (num / den).sqrt()
}

fn build(kind: EngineKind, problem: &Problem) -> anyhow::Result<(Box<dyn Engine>, String)> {
    Ok(match kind {
        EngineKind::Reference => (Box::new(CpuReference::new(problem)), "cpu reference (1 thr)".into()),
        EngineKind::Fast { threads } => {
            (Box::new(CpuFast::new(problem, threads)?), format!("cpu fast ({threads} thr)"))
        }
        EngineKind::Gpu => {
            let gpu = gpu::open(true)?;
            let name = format!("gpu ({})", gpu.adapter.name);
            (Box::new(GpuEngine::new(&GpuContext::new(gpu)?, problem)?), name)
        }
    })
}

/// Resident memory: (current, high-water mark) in bytes, from /proc/self/status.
fn resident() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |key: &str| {
        status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Bytes the kernels of one step read and write per cell·species, counting every array element
/// once per kernel that touches it (neighbours come from cache) and the material id read with
/// it: explicit 28 (c, c_next, decay pair, id); ADI 12 for the predictor (c, id, v) and 24 per
/// swept axis (u, v in and out, the Thomas coefficients out and in), leaving out the loss books
/// the sweeps update where a species decays. A lower bound on the traffic, used for the achieved
/// bandwidth.
pub fn bytes_per_step(problem: &Problem) -> f64 {
    let per = match problem.schedule.scheme {
        Scheme::ExplicitFtcs => 28.0,
        Scheme::AdiDouglas => 12.0 + 24.0 * crate::solver::adi_sweep_axes(problem).len() as f64,
    };
    per * (problem.grid.n_cells() * problem.species.len()) as f64
}

/// Times `steps` steps of `dt` on a fresh engine after one untimed warm-up step (which also takes
/// the ADI start-up, so the timed steps are all ordinary steps; on a GPU it compiles the
/// pipelines); GPU rows also take the GPU time of the steps from timestamp queries where the
/// adapter has them.
fn timed(problem: &Problem, kind: EngineKind, steps: u64, dt: f64, note: &str) -> anyhow::Result<Row> {
    reset_peak();
    let before = resident().map(|r| r.0);
    let mut gpu_time = None;
    let (wall, name) = if kind == EngineKind::Gpu {
        let gpu = gpu::open(true)?;
        let name = format!("gpu ({})", gpu.adapter.name);
        let mut engine = GpuEngine::new(&GpuContext::new(gpu)?, problem)?;
        engine.step_timed(1, dt)?;
        let start = Instant::now();
        gpu_time = engine.step_timed(steps, dt)?;
        engine.reduce_totals()?;
        (start.elapsed().as_secs_f64(), name)
    } else {
        let (mut engine, name) = build(kind, problem)?;
        engine.step(1, dt)?;
        let start = Instant::now();
        engine.step(steps, dt)?;
        engine.reduce_totals()?;
        (start.elapsed().as_secs_f64(), name)
    };
    let after = resident();
    let cell_species = (problem.grid.n_cells() * problem.species.len()) as u64;
    Ok(Row {
        problem: problem.name.clone(),
        engine: name,
        scheme: problem.schedule.scheme.name().into(),
        cell_species,
        steps,
        dt,
        wall_s: wall,
        updates_per_s: (cell_species * steps) as f64 / wall,
        peak_mib: after.map(|a| a.1 as f64 / 1048576.0),
        bytes_per_cell_species: after.zip(before).map(|(a, b)| a.1.saturating_sub(b) as f64 / cell_species as f64),
        error: None,
        gpu_time_s: gpu_time,
        bandwidth_gb_s: gpu_time.map(|t| bytes_per_step(problem) * steps as f64 / t / 1e9),
        note: note.into(),
    })
}

/// Error of a scheme on the slab at t = 600 s with `n` equal steps, and the wall time.
fn slab_run(kind: EngineKind, scheme: Scheme, n: u64) -> anyhow::Result<(f64, f64)> {
    let problem = slab_line(scheme);
    let (mut engine, _) = build(kind, &problem)?;
    let start = Instant::now();
    engine.step(n, 600.0 / n as f64)?;
    let field = engine.read_field()?;
    Ok((slab_error(&field, 600.0), start.elapsed().as_secs_f64()))
}

fn slab_row(kind: EngineKind, scheme: Scheme, n: u64, note: &str) -> anyhow::Result<Row> {
    let (error, wall) = slab_run(kind, scheme, n)?;
    let (_, name) = build(kind, &slab_line(scheme))?;
    Ok(Row {
        problem: "slab_600s".into(),
        engine: name,
        scheme: scheme.name().into(),
        cell_species: 100,
        steps: n,
        dt: 600.0 / n as f64,
        wall_s: wall,
        updates_per_s: (100 * n) as f64 / wall,
        peak_mib: None,
        bytes_per_cell_species: None,
        error: Some(error),
        gpu_time_s: None,
        bandwidth_gb_s: None,
        note: note.into(),
    })
}

/// Fewest equal steps to t = 600 s with a relative L2 error below `target` (searched over a
/// geometric ladder of step counts, then refined by bisection).
fn steps_for_error(kind: EngineKind, scheme: Scheme, target: f64, min_steps: u64) -> anyhow::Result<u64> {
    let mut hi = min_steps.max(1);
    while slab_run(kind, scheme, hi)?.0 >= target {
        hi *= 2;
        if hi > 1 << 20 {
            anyhow::bail!("{} does not reach {target} within 2^20 steps", scheme.name());
        }
    }
    let mut lo = hi / 2;
    if lo < min_steps || slab_run(kind, scheme, lo.max(1))?.0 < target {
        return Ok(hi);
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if slab_run(kind, scheme, mid)?.0 < target { hi = mid } else { lo = mid }
    }
    Ok(hi)
}

/// Runs the suite; `report` is called with each row as soon as it is measured.
pub fn run_suite(options: &Options, report: &mut dyn FnMut(&Row)) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut push = |row: Row, rows: &mut Vec<Row>| {
        report(&row);
        rows.push(row);
    };
    if options.only_sweep {
        if let Some((base, cases)) = &options.sweep {
            for row in sweep_rows(base, *cases, options.threads)? {
                push(row, &mut rows);
            }
        }
        return Ok(rows);
    }
    for row in peer_rows() {
        push(row, &mut rows);
    }
    let fast2 = EngineKind::Fast { threads: options.threads };
    let fast1 = EngineKind::Fast { threads: 1 };

    // The peer's problem.
    let adi = peer_cube(options.cube, Scheme::AdiDouglas);
    let explicit = peer_cube(options.cube, Scheme::ExplicitFtcs);
    let limit = explicit.explicit_step_limit();
    push(timed(&adi, fast2, options.cube_steps, 0.6, "")?, &mut rows);
    push(timed(&adi, fast1, options.cube_steps, 0.6, "")?, &mut rows);
    let note = format!("dt = 0.6 s is above its limit {limit:.3} s");
    push(timed(&explicit, fast2, options.cube_steps, limit, &note)?, &mut rows);
    push(timed(&adi, EngineKind::Reference, 2, 0.6, "kernel twins, plain loops")?, &mut rows);
    let binding = peer_cube_binding(options.cube);
    let note = "one binding pair per species; 10 species compete for one pool in the react pass";
    push(timed(&binding, fast2, 2, 0.6, note)?, &mut rows);
    let gpu_ok = options.gpu && gpu::open(true).is_ok();
    if gpu_ok {
        push(timed(&adi, EngineKind::Gpu, 3, 0.6, "")?, &mut rows);
        push(timed(&explicit, EngineKind::Gpu, 10, limit, "")?, &mut rows);
    }

    // Accuracy at a step size.
    for scheme in [Scheme::AdiDouglas, Scheme::ExplicitFtcs] {
        let limit = slab_line(scheme).explicit_step_limit();
        let min_steps = if scheme == Scheme::ExplicitFtcs { (600.0 / limit).ceil() as u64 } else { 1 };
        for n in [600, 60, 10] {
            if n >= min_steps {
                push(slab_row(fast1, scheme, n, "")?, &mut rows);
            }
        }
        let n = steps_for_error(fast1, scheme, 1e-3, min_steps)?;
        push(slab_row(fast1, scheme, n, "largest step reaching 1e-3")?, &mut rows);
    }

    // The everyday job: the shipped wound scenario, run for 14 days with hourly outputs, as
    // shipped (with its binding terms) and without them.
    if let Some(path) = &options.wound {
        let problem = crate::scenario::load(path)?;
        if !problem.reactions.is_empty() {
            let mut plain = problem.clone();
            plain.reactions.clear();
            plain.pools.clear();
            plain.name = format!("{}_without_reactions", problem.name);
            push(wound_row(&plain, fast2)?, &mut rows);
        }
        push(wound_row(&problem, fast2)?, &mut rows);
    }
    // Dosing schedules, as shipped.
    for path in &options.scenarios {
        let problem = crate::scenario::load(path)?;
        push(scenario_row(&problem, fast2)?, &mut rows);
    }
    if let Some((base, cases)) = &options.sweep {
        for row in sweep_rows(base, *cases, options.threads)? {
            push(row, &mut rows);
        }
    }
    Ok(rows)
}

/// A sweep of `cases` variants of `base` (a Latin hypercube, seed 1, over the VEGF loading ×0.5
/// to ×2 and the gel sheet's top from 2.1 to 2.6 mm, so that the cases differ as a real design
/// sweep's do) on `threads` threads: run by the sweep (one case at a time, and two at once on
/// the same thread pool), then the same cases one by one, each on a fresh engine into a fresh
/// folder as separate `secretome run`s would. Rows: cases per hour, and the sweep's overhead over
/// the cases one by one.
pub fn sweep_rows(base: &std::path::Path, cases: usize, threads: usize) -> anyhow::Result<Vec<Row>> {
    use crate::sweep::run::{Shard, run_cases};
    let base = base.canonicalize()?;
    let text = format!(
        "[sweep]\nbase = {:?}\ndesign = \"lhs\"\nsamples = {cases}\nseed = 1\n\
         [[vary]]\nkey = \"species[VEGF].initial.gel\"\nfrom = \"15 pg/mL\"\nto = \"60 pg/mL\"\nscale = \"log\"\n\
         [[vary]]\nkey = \"region[gel_sheet].to\"\nfrom = \"2.1 mm\"\nto = \"2.6 mm\"\n",
        base.display().to_string()
    );
    let sweep = crate::sweep::Sweep::from_str(&text, "bench sweep", std::path::Path::new("."))?;
    let first = sweep.problem(&sweep.cases[0])?;
    let cell_species = (first.grid.n_cells() * first.species.len()) as u64;
    let hours = first.schedule.end / 3600.0;
    let factory = crate::solver::EngineFactory::new(crate::solver::Backend::Cpu, threads)?;
    let root = std::env::temp_dir().join(format!("secretome-bench-sweep-{}", std::process::id()));
    let row = |what: &str, wall: f64, steps: u64, note: String| Row {
        problem: format!("sweep_{}_{cases}_cases_{hours}h", first.name),
        engine: format!("fast CPU ({threads} threads), {what}"),
        scheme: first.schedule.scheme.name().into(),
        cell_species,
        steps,
        dt: 0.0,
        wall_s: wall,
        updates_per_s: (cell_species * steps) as f64 / wall,
        peak_mib: None,
        bytes_per_cell_species: None,
        error: None,
        gpu_time_s: None,
        bandwidth_gb_s: None,
        note,
    };
    let steps_in = |dir: &std::path::Path| -> u64 {
        (0..cases)
            .filter_map(|k| std::fs::read(dir.join(format!("case_{k:05}/summary.json"))).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .filter_map(|v| v["time"]["steps_computed"].as_u64())
            .sum()
    };
    let mut rows = Vec::new();
    let mut sweep_walls = Vec::new();
    for jobs in [1usize, 2] {
        let dir = root.join(format!("jobs{jobs}"));
        let _ = std::fs::remove_dir_all(&dir);
        let start = std::time::Instant::now();
        run_cases(&sweep, &dir, Shard::ALL, jobs, &factory, None)?;
        let wall = start.elapsed().as_secs_f64();
        let steps = steps_in(&dir);
        sweep_walls.push(wall);
        rows.push(row(
            &format!("secretome sweep --jobs {jobs}"),
            wall,
            steps,
            format!(
                "{:.1} cases/hour, {:.1} s per case, outputs written",
                cases as f64 * 3600.0 / wall,
                wall / cases as f64
            ),
        ));
    }
    let dir = root.join("one_by_one");
    let _ = std::fs::remove_dir_all(&dir);
    let start = std::time::Instant::now();
    for case in &sweep.cases {
        let problem = sweep.problem(case)?;
        let out = crate::output::OutputDir::create(&dir.join(case.folder()), true)?;
        let mut engine = crate::solver::fast::CpuFast::new(&problem, threads)?;
        crate::run::run(&problem, &mut engine, &out, &mut crate::run::Silent)?;
    }
    let wall = start.elapsed().as_secs_f64();
    let steps = steps_in(&dir);
    let best = sweep_walls.iter().cloned().fold(f64::INFINITY, f64::min);
    rows.push(row(
        "the same cases one by one",
        wall,
        steps,
        format!(
            "{:.1} cases/hour; the sweep's overhead over these: {:+.1} % (--jobs 1), {:+.1} % (--jobs 2), best {:+.1} %",
            cases as f64 * 3600.0 / wall,
            100.0 * (sweep_walls[0] / wall - 1.0),
            100.0 * (sweep_walls[1] / wall - 1.0),
            100.0 * (best / wall - 1.0)
        ),
    ));
    let _ = std::fs::remove_dir_all(&root);
    Ok(rows)
}

/// 14 days of `problem` (a wound scenario) with hourly outputs on `kind`, output written.
fn wound_row(problem: &Problem, kind: EngineKind) -> anyhow::Result<Row> {
    let mut problem = problem.clone();
    let end = 14.0 * 86400.0;
    problem.schedule.end = end;
    problem.schedule.output_times = (1..=14 * 24).map(|h| h as f64 * 3600.0).collect();
    problem.schedule.snapshot_times = vec![end];
    let mut row = scenario_row(&problem, kind)?;
    row.problem = format!("{}_14d", problem.name);
    Ok(row)
}

/// The whole schedule of `problem` on `kind`, output written.
fn scenario_row(problem: &Problem, kind: EngineKind) -> anyhow::Result<Row> {
    let problem = problem.clone();
    let days = problem.schedule.end / 86400.0;
    let dir = std::env::temp_dir().join(format!("secretome-bench-{}", std::process::id()));
    let out = crate::output::OutputDir::create(&dir, true)?;
    reset_peak();
    let before = resident().map(|r| r.0);
    let (mut engine, name) = build(kind, &problem)?;
    let summary = crate::run::run(&problem, engine.as_mut(), &out, &mut crate::run::Silent);
    let after = resident();
    let _ = std::fs::remove_dir_all(&dir);
    let summary = summary?;
    let cell_species = (problem.grid.n_cells() * problem.species.len()) as u64;
    let steps = summary.time.stats.steps_computed;
    let worst_balance = summary.species.iter().map(|s| s.relative_balance_error).fold(0.0, f64::max);
    let binding = problem.bound_species().len();
    Ok(Row {
        problem: problem.name.clone(),
        engine: name,
        scheme: problem.schedule.scheme.name().into(),
        cell_species,
        steps,
        dt: summary.time.stats.largest_step_s,
        wall_s: summary.wall_time_s,
        updates_per_s: (cell_species * steps) as f64 / summary.wall_time_s,
        peak_mib: after.map(|a| a.1 as f64 / 1048576.0),
        bytes_per_cell_species: after.zip(before).map(|(a, b)| a.1.saturating_sub(b) as f64 / cell_species as f64),
        error: None,
        gpu_time_s: None,
        bandwidth_gb_s: None,
        note: format!(
            "{days} d, {} steps kept of {} computed, dt up to {:.0} s, f32 balance error {worst_balance:.1e}, \
             {binding} binding species, {} doses, output written",
            summary.time.stats.steps,
            steps,
            summary.time.stats.largest_step_s,
            problem.timeline.doses.len()
        ),
    })
}

/// [`peer_cube`] with one binding pair per species: a pool of sites at 4·K_d (K_d = 100 nM
/// for a species of 20 kDa in its unit) in both materials, k_on = 1e6 1/(M·s).
pub fn peer_cube_binding(n: usize) -> Problem {
    let mut p = peer_cube(n, Scheme::AdiDouglas);
    p.name = format!("peer_cube_binding_{n}");
    let kd = 100e-6; // mol/m³
    p.pools.push(crate::problem::SitePool { name: "sites".into(), density: vec![4.0 * kd; p.materials.len()] });
    let k_on = 1e6 * 1e-3;
    for s in 0..p.species.len() {
        // pg/mL of a 20 kDa factor: 1e-9 kg/m³ / 20 kg/mol.
        p.species[s].molar_per_unit = Some(p.species[s].unit.si / 20.0);
        for m in 0..p.materials.len() {
            p.reactions.push(crate::problem::Reaction::Binding {
                material: m,
                species: s,
                pool: 0,
                k_on,
                k_off: kd * k_on,
            });
        }
    }
    p
}

/// Header of the printed table.
pub fn table_header() -> String {
    format!(
        "{:<18} {:<32} {:<30} {:>11} {:>6} {:>8} {:>9} {:>10} {:>9} {:>8} {:>9} {:>9} {:>7}  {}",
        "problem",
        "engine",
        "scheme",
        "cells×spec",
        "steps",
        "dt (s)",
        "wall (s)",
        "updates/s",
        "peak MiB",
        "B/cell·s",
        "rel error",
        "GPU (s)",
        "GB/s",
        "note"
    )
}

/// One printed line.
pub fn table_line(r: &Row) -> String {
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    let num = |v: f64, f: &dyn Fn(f64) -> String| if v.is_finite() { f(v) } else { "-".into() };
    format!(
        "{:<18} {:<32} {:<30} {:>11} {:>6} {:>8} {:>9} {:>10} {:>9} {:>8} {:>9} {:>9} {:>7}  {}",
        r.problem,
        r.engine,
        r.scheme,
        r.cell_species,
        r.steps,
        format!("{:.3}", r.dt),
        num(r.wall_s, &|v| format!("{v:.3}")),
        num(r.updates_per_s, &|v| format!("{v:.3e}")),
        opt(r.peak_mib, &|v| format!("{v:.0}")),
        opt(r.bytes_per_cell_species, &|v| format!("{v:.1}")),
        opt(r.error, &|v| format!("{v:.2e}")),
        opt(r.gpu_time_s, &|v| format!("{v:.3}")),
        opt(r.bandwidth_gb_s, &|v| format!("{v:.2}")),
        r.note
    )
}
