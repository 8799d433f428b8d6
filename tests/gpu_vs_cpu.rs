//! The GPU engine against its CPU twin, and the physics both must obey.
//!
//! Every GPU test opens its device and compiles the kernels with `context_for_tests`: where no adapter exists it says so
//! loudly and returns early, and with `SECRETOME_REQUIRE_GPU=1` (CI, on lavapipe) it fails.
//!
//! Tolerances ([`Tolerance`]): fields agree when `|gpu − cpu| ≤ atol_rel · max initial value +
//! rtol · |cpu|` cell by cell; totals when `|gpu − cpu| ≤ rtol · |cpu| + totals_atol_rel · amount`,
//! where `amount` is the species' initial amount (a small total, such as the outflow through a
//! face that nearly balances, is judged against the amount, as the books are).
//!
//! - Explicit scheme ([`EXPLICIT`]): both engines use the same f32 operation order, and on
//!   lavapipe agree bit for bit; real GPUs may fuse multiply-adds, hence rtol 1e-5.
//! - ADI scheme ([`ADI`]): the same operation order too, but each Thomas solve spreads a
//!   difference in one cell along its line. Measured on lavapipe (LLVM 15) at 20× the explicit
//!   step, through the implicit-Euler LOD start-up and beyond: see the constant.

use secretome::problem::{
    Boundary, ConcentrationUnit, Grid, Material, Problem, Role, Schedule, Scheme, Species, TimeStep,
};
use secretome::solver::cpu::CpuReference;
use secretome::solver::gpu::kernels::{self, KERNELS};
use secretome::solver::gpu::{
    Gpu, GpuContext, GpuEngine, STEPS_PER_SUBMIT, auto_choice, check_fits, context_for_tests, list_adapters,
};
use secretome::solver::{Channel, Difference, Engine, SolverError, SpeciesTotals, error_estimate};
use std::path::PathBuf;
use std::sync::Arc;

/// How closely the GPU must reproduce the CPU reference.
#[derive(Clone, Copy, Debug)]
struct Tolerance {
    /// Relative tolerance of fields and totals.
    rtol: f64,
    /// Absolute tolerance of fields, as a fraction of the largest initial value.
    atol_rel: f64,
    /// Absolute tolerance of totals, as a fraction of the species' initial amount.
    totals_atol_rel: f64,
}

/// GPU vs CPU, explicit scheme: same operation order, so only fused multiply-adds may differ.
const EXPLICIT: Tolerance = Tolerance { rtol: 1e-5, atol_rel: 1e-6, totals_atol_rel: 1e-5 };

/// GPU vs CPU, ADI scheme. The loss sits inside the implicit sweeps (no `exp` anywhere), so both
/// engines take the same f32 operations in the same order. Measured on lavapipe over the
/// comparisons below (12 steps at 20× the explicit step, 521 in the long run, with decay, every
/// boundary kind, coefficient changes and tracked rates): fields bit for bit, totals within
/// 1.6e-10 × the amount (the last bits of compensated outflow books). A device that fuses
/// multiply-adds changes last bits, which each Thomas solve spreads along its line and
/// `v = u + δ` can magnify relatively where it cancels digits (near fixed boundaries). Hence
/// atol 4e-6 of the largest value, rtol 2e-5, totals 4e-6 of the amount plus rtol: room for
/// fused roundings over a dozen steps, while a wrong binding, θ, stage coefficient or stage order
/// shows up at 1e-3 or more.
const ADI: Tolerance = Tolerance { rtol: 2e-5, atol_rel: 4e-6, totals_atol_rel: 4e-6 };

const NO_FLUX: Boundary = Boundary::NoFlux;
const FIXED: Boundary = Boundary::Fixed { value: 2.0 };
const CLEARANCE: Boundary = Boundary::Clearance { rate: 2e-6, value: 0.0 };
const CLEARANCE_FROM_OUTSIDE: Boundary = Boundary::Clearance { rate: 5e-7, value: 1.5 };

fn pg_per_ml() -> ConcentrationUnit {
    ConcentrationUnit { text: "pg/mL".into(), amount_text: "pg".into(), si: 1e-9, volume_si: 1e-6 }
}

/// Gel depot, wound bed, dermis: diffusivities 1e-10, 1e-11, 2e-12 m²/s (50× apart at most).
fn materials() -> Vec<Material> {
    vec![
        Material { name: "gel".into(), role: Role::Depot },
        Material { name: "wound_bed".into(), role: Role::Tissue },
        Material { name: "dermis".into(), role: Role::Tissue },
    ]
}

/// Two species with heterogeneous diffusivity, decay in the tissues, and the given boundaries.
fn two_species(boundaries: [[Boundary; 6]; 2], decay: bool) -> Vec<Species> {
    let k = |rate: f64| if decay { rate } else { 0.0 };
    vec![
        Species {
            name: "VEGF".into(),
            unit: pg_per_ml(),
            diffusivity: vec![1e-10, 1e-11, 2e-12],
            decay_rate: vec![0.0, k(2e-4), k(5e-5)],
            clearance_rate: vec![0.0; (vec![0.0, k(2e-4), k(5e-5)]).len()],
            uptake_rate: vec![0.0; (vec![0.0, k(2e-4), k(5e-5)]).len()],
            initial: vec![100.0, 0.0, 0.0],
            initial_is_total: false,
            molar_per_unit: None,
            boundaries: boundaries[0],
            sources: Vec::new(),
            bioactive_threshold: None,
            bioactive_ceiling: None,
        },
        Species {
            name: "TGF-b1".into(),
            unit: pg_per_ml(),
            diffusivity: vec![6e-11, 3e-12, 6e-12],
            decay_rate: vec![k(1e-4), k(3e-4), 0.0],
            clearance_rate: vec![0.0; (vec![k(1e-4), k(3e-4), 0.0]).len()],
            uptake_rate: vec![0.0; (vec![k(1e-4), k(3e-4), 0.0]).len()],
            initial: vec![50.0, 5.0, 1.0],
            initial_is_total: false,
            molar_per_unit: None,
            boundaries: boundaries[1],
            sources: Vec::new(),
            bioactive_threshold: None,
            bioactive_ceiling: None,
        },
    ]
}

/// A problem on `cells` of 100 µm, painted by `paint(x, y, z) -> material id`.
fn problem(
    name: &str,
    cells: [usize; 3],
    paint: impl Fn(usize, usize, usize) -> u32,
    species: Vec<Species>,
) -> Problem {
    let grid = Grid { cells, spacing: [1e-4; 3] };
    let mut material_id = Vec::with_capacity(grid.n_cells());
    for z in 0..cells[2] {
        for y in 0..cells[1] {
            for x in 0..cells[0] {
                material_id.push(paint(x, y, z));
            }
        }
    }
    Problem {
        name: name.into(),
        grid,
        materials: materials(),
        material_id,
        species,
        regions: Vec::new(),
        pools: Vec::new(),
        reactions: Vec::new(),
        timeline: Default::default(),
        metrics: Default::default(),
        velocity: Vec::new(),
        schedule: Schedule {
            end: 1.0,
            output_times: vec![1.0],
            snapshot_times: vec![],
            scheme: Scheme::ExplicitFtcs,
            time_step: TimeStep::Auto { safety: 0.9 },
        },
    }
}

/// 1D, 37 cells: gel on the left third, wound bed, then dermis; all boundary kinds on x.
fn problem_1d() -> Problem {
    let bcs = [
        [FIXED, CLEARANCE, NO_FLUX, NO_FLUX, NO_FLUX, NO_FLUX],
        [CLEARANCE_FROM_OUTSIDE, NO_FLUX, NO_FLUX, NO_FLUX, NO_FLUX, FIXED],
    ];
    let paint = |x, _, _| {
        if x < 12 {
            0
        } else if x < 25 {
            1
        } else {
            2
        }
    };
    problem("line", [37, 1, 1], paint, two_species(bcs, true))
}

/// 2D, 29 × 17: a gel disc in a wound bed over dermis; boundary kinds mixed over x and y.
fn problem_2d() -> Problem {
    let bcs = [
        [NO_FLUX, FIXED, CLEARANCE, CLEARANCE_FROM_OUTSIDE, NO_FLUX, NO_FLUX],
        [CLEARANCE, NO_FLUX, FIXED, NO_FLUX, NO_FLUX, NO_FLUX],
    ];
    let paint = |x: usize, y: usize, _| {
        let (dx, dy) = (x as f64 - 14.0, y as f64 - 11.0);
        if dx * dx + dy * dy < 25.0 {
            0
        } else if y >= 6 {
            1
        } else {
            2
        }
    };
    problem("plane", [29, 17, 1], paint, two_species(bcs, true))
}

/// 3D, 13 × 11 × 9: a gel block on top of wound bed over dermis; every face carries a boundary.
fn problem_3d() -> Problem {
    let bcs = [
        [FIXED, CLEARANCE, NO_FLUX, CLEARANCE_FROM_OUTSIDE, NO_FLUX, CLEARANCE],
        [NO_FLUX, CLEARANCE_FROM_OUTSIDE, CLEARANCE, FIXED, FIXED, NO_FLUX],
    ];
    let paint = |x: usize, y: usize, z: usize| {
        if z >= 6 && (3..10).contains(&x) && (2..9).contains(&y) {
            0
        } else if z >= 3 {
            1
        } else {
            2
        }
    };
    problem("block", [13, 11, 9], paint, two_species(bcs, true))
}

/// The 3D problem with no-flux walls everywhere and no decay: nothing can leave.
fn problem_closed() -> Problem {
    let mut p = problem_3d();
    p.name = "closed".into();
    for s in &mut p.species {
        s.boundaries = [NO_FLUX; 6];
        s.decay_rate.iter_mut().for_each(|k| *k = 0.0);
    }
    p
}

/// Stable step of the explicit scheme with a 10 % margin.
fn dt(problem: &Problem) -> f64 {
    0.9 * problem.explicit_step_limit()
}

/// Step of the ADI comparisons: 20× the explicit limit, where the explicit scheme would blow up.
fn adi_dt(problem: &Problem) -> f64 {
    20.0 * problem.explicit_step_limit()
}

/// The same problem, advanced by the Douglas ADI scheme.
fn adi(mut problem: Problem) -> Problem {
    problem.name = format!("{} (ADI)", problem.name);
    problem.schedule.scheme = Scheme::AdiDouglas;
    problem
}

/// What one engine produced: the field after each batch of steps and the totals at its end.
struct Record {
    fields: Vec<Vec<f32>>,
    totals: Vec<Vec<SpeciesTotals>>,
}

/// Runs `batches` of steps, reading the field and reducing the totals after each batch.
fn run(engine: &mut dyn Engine, batches: &[u64], dt: f64) -> Record {
    let mut record = Record { fields: vec![], totals: vec![] };
    for &steps in batches {
        engine.step(steps, dt).expect("step");
        record.fields.push(engine.read_field().expect("read_field"));
        record.totals.push(engine.reduce_totals().expect("reduce_totals"));
    }
    record
}

/// Cell (row, x, y, z) of linear index `i` of a `[row][z][y][x]` field (rows: every species,
/// then every bound field, as `read_field` gives them).
fn cell_of(problem: &Problem, i: usize) -> (usize, usize, usize, usize) {
    let [nx, ny, nz] = problem.grid.cells;
    (i / (nx * ny * nz), i % nx, (i / nx) % ny, (i / (nx * ny)) % nz)
}

/// The name of row `r` of a field from `read_field`: a species, or a species' bound field.
fn row_name(problem: &Problem, r: usize) -> String {
    let ns = problem.species.len();
    if r < ns {
        problem.species[r].name.clone()
    } else {
        format!("{} (bound)", problem.species[problem.bound_species()[r - ns]].name)
    }
}

fn write_field(path: &PathBuf, problem: &Problem, field: &[f32]) {
    let mut text = String::from("species,x,y,z,value\n");
    for (i, v) in field.iter().enumerate() {
        let (s, x, y, z) = cell_of(problem, i);
        text += &format!("{},{x},{y},{z},{v:e}\n", row_name(problem, s));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Asserts `gpu ≈ cpu` cell by cell; on failure prints the worst cell and writes both fields
/// to `target/gpu-mismatch/`.
fn assert_fields_match(label: &str, problem: &Problem, gpu: &[f32], cpu: &[f32], tol: Tolerance) {
    assert_eq!(gpu.len(), cpu.len(), "{label}: field lengths differ");
    let scale = problem.initial_field().iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64));
    let atol = tol.atol_rel * scale;
    let rtol = tol.rtol;
    // Worst cell by how far it exceeds its own tolerance.
    let (worst, ratio) = gpu
        .iter()
        .zip(cpu)
        .map(|(&a, &b)| {
            let (a, b) = (a as f64, b as f64);
            if a.is_nan() || b.is_nan() { f64::INFINITY } else { (a - b).abs() / (atol + rtol * b.abs()) }
        })
        .enumerate()
        .fold((0, 0.0f64), |best, (i, r)| if r > best.1 { (i, r) } else { best });
    if ratio <= 1.0 {
        return;
    }
    let (s, x, y, z) = cell_of(problem, worst);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("gpu-mismatch");
    std::fs::create_dir_all(&dir).expect("creating target/gpu-mismatch");
    let stem = label.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let (gpu_path, cpu_path) = (dir.join(format!("{stem}.gpu.csv")), dir.join(format!("{stem}.cpu.csv")));
    write_field(&gpu_path, problem, gpu);
    write_field(&cpu_path, problem, cpu);
    panic!(
        "{label}: GPU and CPU fields differ beyond |a−b| ≤ {atol:e} + {rtol:e}·|b|; worst cell: row {} \
         ({}), x {x}, y {y}, z {z}: gpu {:e}, cpu {:e}, difference {:e} ({ratio:.1}× the tolerance); \
         fields written to {} and {}",
        s,
        row_name(problem, s),
        gpu[worst],
        cpu[worst],
        gpu[worst] as f64 - cpu[worst] as f64,
        gpu_path.display(),
        cpu_path.display()
    );
}

/// Initial amount of each species, in concentration unit × m³.
fn initial_amounts(problem: &Problem) -> Vec<f64> {
    let volume = problem.grid.cell_volume();
    problem
        .species
        .iter()
        .map(|s| problem.material_id.iter().map(|&m| s.initial[m as usize]).sum::<f64>() * volume)
        .collect()
}

fn assert_totals_match(label: &str, problem: &Problem, gpu: &[SpeciesTotals], cpu: &[SpeciesTotals], tol: Tolerance) {
    assert_eq!(gpu.len(), cpu.len(), "{label}: number of species");
    let amounts = initial_amounts(problem);
    let peak = problem.initial_field().iter().fold(0.0f64, |m, &v| m.max(v as f64));
    for (s, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let name = &problem.species[s].name;
        let close = |what: String, a: f64, b: f64, scale: f64| {
            let tol = tol.rtol * b.abs() + tol.totals_atol_rel * scale;
            assert!(
                (a - b).abs() <= tol,
                "{label}: {name} {what}: gpu {a:e}, cpu {b:e}, difference {:e} > tolerance {tol:e}",
                a - b
            );
        };
        for m in 0..problem.materials.len() {
            let material = &problem.materials[m].name;
            close(format!("present in {material}"), g.present[m], c.present[m], amounts[s]);
            close(format!("bound in {material}"), g.bound[m], c.bound[m], amounts[s]);
            for channel in Channel::ALL {
                let (a, b) = (g.channel(channel)[m], c.channel(channel)[m]);
                close(format!("{} in {material}", channel.name()), a, b, amounts[s]);
            }
            for (what, a, b) in [("max", g.max[m], c.max[m]), ("bound max", g.bound_max[m], c.bound_max[m])] {
                match (a, b) {
                    (Some(a), Some(b)) => close(format!("{what} in {material}"), a, b, peak),
                    (a, b) => assert_eq!(a, b, "{label}: {name} {what} in {material}"),
                }
            }
        }
        for f in 0..6 {
            let face = secretome::problem::FACE_NAMES[f];
            close(format!("outflow through {face}"), g.outflow[f], c.outflow[f], amounts[s]);
        }
    }
}

/// Largest field difference over the cells, `(max |Δ| / max initial value, max |Δ| / |cpu|)`;
/// the relative one over cells holding at least 1e-3 of the largest initial value.
fn field_difference(problem: &Problem, gpu: &[f32], cpu: &[f32]) -> (f64, f64) {
    let scale = problem.initial_field().iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64));
    gpu.iter().zip(cpu).fold((0.0f64, 0.0f64), |(abs, rel), (&a, &b)| {
        let (a, b) = (a as f64, b as f64);
        let d = (a - b).abs();
        (abs.max(d / scale), if b.abs() >= 1e-3 * scale { rel.max(d / b.abs()) } else { rel })
    })
}

/// Every total of both engines, `(gpu, cpu, species)`: present and bound per material, every
/// channel per material, outflow per face.
fn total_pairs<'a>(gpu: &'a [SpeciesTotals], cpu: &'a [SpeciesTotals]) -> impl Iterator<Item = (f64, f64, usize)> + 'a {
    gpu.iter().zip(cpu).enumerate().flat_map(|(s, (g, c))| {
        let channels = Channel::ALL.into_iter().flat_map(|ch| g.channel(ch).iter().zip(c.channel(ch)));
        let pairs = g.present.iter().zip(&c.present).chain(g.bound.iter().zip(&c.bound)).chain(channels);
        pairs.chain(g.outflow.iter().zip(&c.outflow)).map(move |(&a, &b)| (a, b, s))
    })
}

/// Largest difference of any total, relative to the species' initial amount.
fn totals_difference(problem: &Problem, gpu: &[SpeciesTotals], cpu: &[SpeciesTotals]) -> f64 {
    let amounts = initial_amounts(problem);
    total_pairs(gpu, cpu).fold(0.0f64, |worst, (a, b, s)| worst.max((a - b).abs() / amounts[s]))
}

/// Runs both engines through the same batches of steps of `dt` and compares every field and
/// every total; `start_up` overrides the ADI start-up steps of both engines.
fn compare_engines(
    context: &Arc<GpuContext>,
    problem: &Problem,
    batches: &[u64],
    dt: f64,
    tol: Tolerance,
    start_up: Option<u32>,
) {
    assert!(dt.is_finite() && dt > 0.0, "{}: no stable step", problem.name);
    let mut gpu_engine = GpuEngine::new(context, problem).expect("GpuEngine::new");
    let mut cpu_engine = CpuReference::new(problem);
    if let Some(steps) = start_up {
        gpu_engine.set_start_up_steps(steps);
        cpu_engine.set_start_up_steps(steps);
    }
    let gpu_run = run(&mut gpu_engine, batches, dt);
    let cpu_run = run(&mut cpu_engine, batches, dt);
    let mut done = 0;
    for (b, steps) in batches.iter().enumerate() {
        done += steps;
        let label = format!("{} after {done} steps", problem.name);
        let (abs, rel) = field_difference(problem, &gpu_run.fields[b], &cpu_run.fields[b]);
        let totals = totals_difference(problem, &gpu_run.totals[b], &cpu_run.totals[b]);
        eprintln!(
            "{label}: max |Δfield| = {abs:.2e} × max initial value, max |Δfield|/|cpu| = {rel:.2e}, \
             max |Δtotal| = {totals:.2e} × amount"
        );
        assert_fields_match(&label, problem, &gpu_run.fields[b], &cpu_run.fields[b], tol);
        assert_totals_match(&label, problem, &gpu_run.totals[b], &cpu_run.totals[b], tol);
    }
    // Something must have happened, or the comparison proves nothing.
    let last = gpu_run.fields.last().unwrap();
    let moved = last.iter().zip(problem.initial_field()).filter(|&(&a, b)| a != b).count();
    assert!(moved > last.len() / 4, "{}: only {moved} of {} values changed", problem.name, last.len());
}

/// The explicit scheme at 0.9× its stability limit.
fn compare_explicit(context: &Arc<GpuContext>, problem: &Problem, batches: &[u64]) {
    compare_engines(context, problem, batches, dt(problem), EXPLICIT, None);
}

/// 50 steps in uneven batches (odd counts exercise the ping-pong bookkeeping).
const BATCHES: [u64; 4] = [7, 13, 1, 29];

#[test]
fn gpu_matches_cpu_1d() {
    let Some(context) = context_for_tests("gpu_matches_cpu_1d") else { return };
    compare_explicit(&context, &problem_1d(), &BATCHES);
}

#[test]
fn gpu_matches_cpu_2d() {
    let Some(context) = context_for_tests("gpu_matches_cpu_2d") else { return };
    compare_explicit(&context, &problem_2d(), &BATCHES);
}

#[test]
fn gpu_matches_cpu_3d() {
    let Some(context) = context_for_tests("gpu_matches_cpu_3d") else { return };
    compare_explicit(&context, &problem_3d(), &BATCHES);
}

/// A batch longer than one command buffer, so the chunked submission path is compared too.
#[test]
fn gpu_matches_cpu_across_submits() {
    let Some(context) = context_for_tests("gpu_matches_cpu_across_submits") else { return };
    let mut p = problem_1d();
    p.name = "line, long batch".into();
    compare_explicit(&context, &p, &[STEPS_PER_SUBMIT + 89, 3]);
}

/// ADI batches: the first step alone (the start-up: four implicit-Euler LOD quarter steps, the
/// first recording the rate where tracked), then a batch that takes the first Douglas steps,
/// then Douglas steps only.
const ADI_BATCHES: [u64; 3] = [1, 2, 9];

#[test]
fn gpu_matches_cpu_adi_1d() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_1d") else { return };
    let p = adi(problem_1d());
    compare_engines(&context, &p, &ADI_BATCHES, adi_dt(&p), ADI, None);
}

#[test]
fn gpu_matches_cpu_adi_2d() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_2d") else { return };
    let p = adi(problem_2d());
    compare_engines(&context, &p, &ADI_BATCHES, adi_dt(&p), ADI, None);
}

#[test]
fn gpu_matches_cpu_adi_3d() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_3d") else { return };
    let p = adi(problem_3d());
    compare_engines(&context, &p, &ADI_BATCHES, adi_dt(&p), ADI, None);
}

/// Without decay the sweeps take their no-loss branch (nothing booked as decayed); the ADI
/// kernels take the same operation order on both engines and must agree as closely as the
/// explicit ones (bit for bit on lavapipe).
#[test]
fn gpu_matches_cpu_adi_without_decay() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_without_decay") else { return };
    for p in [adi(problem_3d()), adi(problem_thin_slab())] {
        let mut p = p;
        p.name = format!("{} without decay", p.name);
        for s in &mut p.species {
            s.decay_rate.iter_mut().for_each(|k| *k = 0.0);
        }
        compare_engines(&context, &p, &ADI_BATCHES, adi_dt(&p), EXPLICIT, None);
    }
}

/// `set_start_up_steps` acts the same on both engines: no start-up at all (Douglas from the
/// first step), and a start-up longer than the default that spans two `step` calls.
#[test]
fn gpu_matches_cpu_adi_start_up_steps() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_start_up_steps") else { return };
    let p = adi(problem_2d());
    compare_engines(&context, &p, &[3, 4], adi_dt(&p), ADI, Some(0));
    compare_engines(&context, &p, &[3, 4], adi_dt(&p), ADI, Some(5));
}

/// `step` calls with different steps back to back, without a read in between: each call writes
/// the uniforms of its own step while the previous call's work may still be queued, which must
/// not change what that work computes.
#[test]
fn gpu_matches_cpu_adi_changing_step() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_changing_step") else { return };
    let p = adi(problem_3d());
    let dt = adi_dt(&p);
    let mut gpu_engine = GpuEngine::new(&context, &p).expect("GpuEngine::new");
    let mut cpu_engine = CpuReference::new(&p);
    for engine in [&mut gpu_engine as &mut dyn Engine, &mut cpu_engine] {
        for (steps, dt) in [(1, dt), (2, 0.25 * dt), (3, 3.0 * dt), (1, 0.5 * dt)] {
            engine.step(steps, dt).expect("step");
        }
    }
    let label = format!("{} after steps of 1, 1/4, 3 and 1/2 × {dt:.0} s", p.name);
    let (gpu_field, cpu_field) = (gpu_engine.read_field().expect("read"), cpu_engine.read_field().expect("read"));
    assert_fields_match(&label, &p, &gpu_field, &cpu_field, ADI);
    let (gpu_totals, cpu_totals) =
        (gpu_engine.reduce_totals().expect("reduce"), cpu_engine.reduce_totals().expect("reduce"));
    assert_totals_match(&label, &p, &gpu_totals, &cpu_totals, ADI);
}

/// ADI steps beyond one command buffer, start-up included in the first.
#[test]
fn gpu_matches_cpu_adi_across_submits() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_across_submits") else { return };
    let mut p = adi(problem_1d());
    p.name = "line, long ADI batch".into();
    compare_engines(&context, &p, &[STEPS_PER_SUBMIT + 7, 2], adi_dt(&p), ADI, None);
}

/// 2D, 23 × 13 × 1 with clearance on zmin and zmax: the z axis has a single cell but is swept,
/// so every z line has length 1 and both its end faces are the same cell's (the 'length-1 line'
/// case of `adi_sweep`); the explicit scheme takes the same faces.
fn problem_thin_slab() -> Problem {
    let bcs = [
        [NO_FLUX, FIXED, NO_FLUX, CLEARANCE, CLEARANCE, CLEARANCE_FROM_OUTSIDE],
        [CLEARANCE, NO_FLUX, NO_FLUX, NO_FLUX, CLEARANCE_FROM_OUTSIDE, CLEARANCE],
    ];
    let paint = |x: usize, y: usize, _| {
        if x < 8 && y < 7 {
            0
        } else if y < 9 {
            1
        } else {
            2
        }
    };
    problem("thin slab", [23, 13, 1], paint, two_species(bcs, true))
}

#[test]
fn gpu_matches_cpu_adi_length_one_lines() {
    let Some(context) = context_for_tests("gpu_matches_cpu_adi_length_one_lines") else { return };
    let p = adi(problem_thin_slab());
    assert_eq!(secretome::solver::adi_sweep_axes(&p), vec![0, 1, 2], "z must be swept");
    compare_engines(&context, &p, &ADI_BATCHES, adi_dt(&p), ADI, None);
    compare_explicit(&context, &problem_thin_slab(), &BATCHES);
    let mut engine = GpuEngine::new(&context, &p).expect("GpuEngine::new");
    engine.step(5, adi_dt(&p)).expect("step");
    let totals = engine.reduce_totals().expect("reduce_totals");
    for (s, t) in totals.iter().enumerate() {
        for f in [4, 5] {
            assert!(t.outflow[f] != 0.0, "{}: nothing booked through face {f} of the single z cell", p.species[s].name);
        }
    }
    assert_books_balance(
        "gpu thin slab (ADI)",
        &mut GpuEngine::new(&context, &p).expect("new"),
        &p,
        adi_dt(&p),
        &[3, 10],
    );
}

fn total_present(totals: &[SpeciesTotals]) -> Vec<f64> {
    totals.iter().map(|t| t.present.iter().sum()).collect()
}

/// With no-flux walls and no decay the amount of every species stays at its initial value to a
/// relative 1e-5 over the `batches` of steps of `dt`, and nothing is booked as decayed or lost
/// through a face.
fn assert_conserves(name: &str, engine: &mut dyn Engine, problem: &Problem, dt: f64, batches: &[u64]) {
    let initial = initial_amounts(problem);
    for (b, &steps) in batches.iter().enumerate() {
        engine.step(steps, dt).expect("step");
        let totals = engine.reduce_totals().expect("reduce_totals");
        for (s, present) in total_present(&totals).into_iter().enumerate() {
            let error = (present - initial[s]).abs() / initial[s];
            assert!(
                error <= 1e-5,
                "{name}: {} not conserved after batch {b}: {present:e} vs initial {:e} (relative error {error:e})",
                problem.species[s].name,
                initial[s]
            );
            assert!(totals[s].decayed().iter().all(|&d| d == 0.0), "{name}: decay booked without decay");
            assert!(totals[s].outflow.iter().all(|&f| f == 0.0), "{name}: outflow booked through no-flux walls");
        }
    }
    let field = engine.read_field().expect("read_field");
    assert!(field.iter().all(|v| v.is_finite() && *v >= 0.0), "{name}: negative or non-finite values");
}

#[test]
fn gpu_conserves_mass_with_no_flux_walls() {
    let Some(context) = context_for_tests("gpu_conserves_mass_with_no_flux_walls") else { return };
    let p = problem_closed();
    assert_conserves("gpu", &mut GpuEngine::new(&context, &p).expect("GpuEngine::new"), &p, dt(&p), &[250, 450]);
    assert_conserves("cpu", &mut CpuReference::new(&p), &p, dt(&p), &[250, 450]);
    let p = adi(problem_closed());
    assert_conserves("gpu ADI", &mut GpuEngine::new(&context, &p).expect("GpuEngine::new"), &p, adi_dt(&p), &[3, 40]);
    assert_conserves("cpu ADI", &mut CpuReference::new(&p), &p, adi_dt(&p), &[3, 40]);
}

/// Initial amount = present + decayed + outflow (negative outflow: entered), relative error
/// ≤ 1e-5, summed over several reduce intervals (`batches` of steps of `dt`), with decay, fixed
/// values and clearance.
fn assert_books_balance(name: &str, engine: &mut dyn Engine, problem: &Problem, dt: f64, batches: &[u64]) {
    let initial = initial_amounts(problem);
    let n = problem.species.len();
    let (mut decayed, mut outflow) = (vec![0.0; n], vec![[0.0; 6]; n]);
    let mut present = vec![0.0; n];
    for &steps in batches {
        engine.step(steps, dt).expect("step");
        let totals = engine.reduce_totals().expect("reduce_totals");
        for (s, t) in totals.iter().enumerate() {
            decayed[s] += t.decayed().iter().sum::<f64>();
            for (sum, f) in outflow[s].iter_mut().zip(t.outflow) {
                *sum += f;
            }
        }
        present = total_present(&totals);
    }
    for s in 0..n {
        let species = &problem.species[s].name;
        assert!(decayed[s] > 1e-3 * initial[s], "{name}: {species}: too little decay to test the books");
        let through_faces: f64 = outflow[s].iter().map(|f| f.abs()).sum();
        assert!(through_faces > 1e-3 * initial[s], "{name}: {species}: too little flow to test the books");
        let net_outflow: f64 = outflow[s].iter().sum();
        let error = (initial[s] - (present[s] + decayed[s] + net_outflow)).abs() / initial[s];
        assert!(
            error <= 1e-5,
            "{name}: {species}: books do not balance: initial {:e}, present {:e} + decayed {:e} + outflow {:e} \
             (relative error {error:e})",
            initial[s],
            present[s],
            decayed[s],
            net_outflow
        );
    }
}

#[test]
fn gpu_books_balance() {
    let Some(context) = context_for_tests("gpu_books_balance") else { return };
    for p in [problem_1d(), problem_2d(), problem_3d()] {
        let batches = [40, 110, 150];
        assert_books_balance(
            &format!("gpu {}", p.name),
            &mut GpuEngine::new(&context, &p).expect("new"),
            &p,
            dt(&p),
            &batches,
        );
        assert_books_balance(&format!("cpu {}", p.name), &mut CpuReference::new(&p), &p, dt(&p), &batches);
    }
}

/// The books of the ADI scheme at 20× the explicit step, through the start-up and beyond: each
/// sweep books the end faces of its lines and each cell's share of the loss, once per stage.
#[test]
fn gpu_books_balance_adi() {
    let Some(context) = context_for_tests("gpu_books_balance_adi") else { return };
    for p in [adi(problem_1d()), adi(problem_2d()), adi(problem_3d())] {
        let (dt, batches) = (adi_dt(&p), [1, 6, 20]);
        assert_books_balance(
            &format!("gpu {}", p.name),
            &mut GpuEngine::new(&context, &p).expect("new"),
            &p,
            dt,
            &batches,
        );
        assert_books_balance(&format!("cpu {}", p.name), &mut CpuReference::new(&p), &p, dt, &batches);
    }
}

#[test]
fn gpu_engine_describes_itself() {
    let Some(context) = context_for_tests("gpu_engine_describes_itself") else { return };
    let info = GpuEngine::new(&context, &problem_1d()).expect("new").info();
    assert_eq!(info.backend, "gpu");
    assert!(info.device.contains(&context.gpu.adapter.name), "{info:?}");
    assert!(list_adapters().iter().any(|a| a.name == context.gpu.adapter.name), "opened adapter not listed");
    let (choice, reason) = auto_choice();
    assert!(!reason.is_empty());
    assert!(choice.is_none_or(|a| !a.software), "auto picked a software adapter: {reason}");
}

/// A problem whose field exceeds the adapter's storage-binding cap is refused before any
/// allocation, with a message quoting the cap.
#[test]
fn gpu_refuses_a_problem_larger_than_the_binding_cap() {
    let Some(context) = context_for_tests("gpu_refuses_a_problem_larger_than_the_binding_cap") else { return };
    let cap = context.gpu.limits.max_storage_buffer_binding_size.min(context.gpu.limits.max_buffer_size);
    // 4 Mi cells (16 MiB of material ids on the host); enough species to pass the cap.
    let cells = [256, 256, 64];
    let n_cells = (cells[0] * cells[1] * cells[2]) as u64;
    let n_species = (cap / (4 * n_cells) + 1) as usize;
    if n_species > 4096 {
        eprintln!(
            "gpu_refuses_a_problem_larger_than_the_binding_cap: cap {cap} B too large for a host-side problem; covered by gpu_size_check_with_numbers"
        );
        return;
    }
    let base = two_species([[NO_FLUX; 6]; 2], false);
    let species = (0..n_species).map(|i| base[i % 2].clone()).collect();
    let p = problem("too large", cells, |_, _, z| (z % 3) as u32, species);
    match GpuEngine::new(&context, &p) {
        Err(SolverError::TooLarge(message)) => {
            let cap_text = context.gpu.limits.max_storage_buffer_binding_size.to_string();
            assert!(message.contains(&cap_text), "message does not quote the cap {cap_text}: {message}");
            assert!(message.contains(&context.gpu.adapter.name), "message does not name the adapter: {message}");
            eprintln!("refused as expected: {message}");
        }
        Err(other) => panic!("expected TooLarge, got {other}"),
        Ok(_) => panic!("a {n_species}-species problem of {n_cells} cells was accepted under a {cap} B cap"),
    }
}

/// The size check on its own, with the limits of a small adapter; needs no device.
#[test]
fn gpu_size_check_with_numbers() {
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: 128 << 20,
        max_buffer_size: 256 << 20,
        max_compute_workgroups_per_dimension: 65535,
        ..wgpu::Limits::default()
    };
    assert!(check_fits([250, 250, 250], 1, 3, 0, None, &limits, "small").is_ok());
    assert!(check_fits([250, 250, 250], 1, 3, 0, Some(&[0, 1, 2]), &limits, "small").is_ok());
    match check_fits([400, 400, 400], 1, 3, 0, None, &limits, "small") {
        Err(SolverError::TooLarge(m)) => {
            assert!(m.contains("134217728") && m.contains("256000000") && m.contains("\"small\""), "{m}")
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    match check_fits([1, 1, 70000], 1, 3, 0, None, &limits, "small") {
        Err(SolverError::TooLarge(m)) => assert!(m.contains("65535") && m.contains("diffuse_explicit"), "{m}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // reduce_totals runs one workgroup of 256 cells per species along x: beyond
    // 65535 · 256 cells the dispatch itself does not fit, whatever the memory.
    match check_fits([256, 256, 256], 1, 3, 0, None, &limits, "small") {
        Err(SolverError::TooLarge(m)) => assert!(m.contains("65536") && m.contains("reduce_totals"), "{m}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // ADI on a 2048 × 2048 plane: x and y lines fit (32 workgroups of 64 lines), but sweeping the
    // single-cell z axis (where zmin or zmax is not no-flux) takes one line per cell, 65536
    // workgroups of 64; the explicit kernels and reduce_totals fit.
    let plane = [2048, 2048, 1];
    assert!(check_fits(plane, 1, 3, 0, None, &limits, "small").is_ok());
    assert!(check_fits(plane, 1, 3, 0, Some(&[0, 1]), &limits, "small").is_ok());
    match check_fits(plane, 1, 3, 0, Some(&[0, 1, 2]), &limits, "small") {
        Err(SolverError::TooLarge(m)) => assert!(m.contains("65536") && m.contains("adi_sweep_z"), "{m}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // A thin plate has more boundary-face entries than cells; their accumulators are counted.
    let thin = [4096, 4096, 1];
    let face_bytes = 4 * 2 * (4096 + 4096 + 4096 * 4096) as u64;
    let tight = wgpu::Limits { max_storage_buffer_binding_size: face_bytes - 1, ..limits.clone() };
    match check_fits(thin, 1, 3, 0, None, &tight, "small") {
        Err(SolverError::TooLarge(m)) => assert!(m.contains("outflow accumulator"), "{m}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // The local rows of the reactions (bound fields and book slots) are one buffer: three rows
    // of a field that fits alone do not.
    assert!(check_fits([250, 250, 250], 1, 3, 2, None, &limits, "small").is_ok());
    match check_fits([250, 250, 250], 1, 3, 3, None, &limits, "small") {
        Err(SolverError::TooLarge(m)) => assert!(m.contains("local rows") && m.contains("187500000"), "{m}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

/// Regression: the decay accumulator must stay compensated on the GPU. Lavapipe's shader
/// compiler reassociated `(sum − acc) − add` to zero in the former exposure accumulator, so the
/// GPU summed in plain f32, and after 20 000 steps the decayed amount was off by 2e-4 relative.
/// Here the decay is too slow to change an f32 concentration of 1 (`k·dt < ε/2`), so each step
/// books `fl(k·fl(dt))` per cell and the decayed amount must match `k·N·fl(dt)·V` to 1e-6
/// relative (compensated: ~1e-7, the rounding of one product).
#[test]
fn gpu_exposure_accumulator_stays_compensated() {
    let Some(context) = context_for_tests("gpu_exposure_accumulator_stays_compensated") else { return };
    let (k, dt, steps) = (1e-8, 1.7, 20_000u64);
    let mut species = two_species([[NO_FLUX; 6]; 2], false);
    for s in &mut species {
        s.decay_rate = vec![k; 3];
        s.initial = vec![1.0; 3];
    }
    let p = problem("constant", [2, 1, 1], |x, _, _| x as u32, species);
    let expected = (k as f32) as f64 * steps as f64 * (dt as f32) as f64 * p.grid.cell_volume() * 2.0;
    for (name, engine) in [
        ("gpu", &mut GpuEngine::new(&context, &p).expect("new") as &mut dyn Engine),
        ("cpu", &mut CpuReference::new(&p)),
    ] {
        engine.step(steps, dt).expect("step");
        let totals = engine.reduce_totals().expect("reduce_totals");
        assert!(engine.read_field().expect("read_field").iter().all(|&c| c == 1.0), "{name}: field changed");
        let decayed: f64 = totals[0].decayed().iter().sum();
        let error = (decayed - expected).abs() / expected;
        assert!(error <= 1e-6, "{name}: decayed {decayed:e}, exact {expected:e}: relative error {error:e}");
    }
}

/// A wgpu validation error comes back as `SolverError::Gpu`, never as the default handler's
/// panic: limits that claim more workgroups per dimension than the device allows let a
/// too-large dispatch past the size check, and the device then rejects it.
#[test]
fn gpu_validation_error_is_an_error_not_a_panic() {
    let Some(context) = context_for_tests("gpu_validation_error_is_an_error_not_a_panic") else { return };
    let real = context.gpu.limits.max_compute_workgroups_per_dimension;
    let lying = Gpu {
        device: context.gpu.device.clone(),
        queue: context.gpu.queue.clone(),
        adapter: context.gpu.adapter.clone(),
        limits: wgpu::Limits { max_compute_workgroups_per_dimension: u32::MAX, ..context.gpu.limits.clone() },
    };
    let species = two_species([[NO_FLUX; 6]; 2], false).into_iter().take(1).collect();
    let p = problem("tall", [1, 1, real as usize + 1], |_, _, z| (z % 3) as u32, species);
    let mut engine =
        GpuEngine::new(&GpuContext::new(lying).expect("kernels compile"), &p).expect("buffers are small and valid");
    match engine.step(1, 1.0) {
        Err(SolverError::Gpu(message)) => eprintln!("reported as expected: {message}"),
        other => panic!("expected SolverError::Gpu from a dispatch of {} workgroups, got {other:?}", real + 1),
    }
}

#[test]
fn gpu_timed_steps_advance_like_plain_steps() {
    let Some(context) = context_for_tests("gpu_timed_steps_advance_like_plain_steps") else { return };
    let p = adi(problem_2d());
    let dt = adi_dt(&p);
    let mut timed = GpuEngine::new(&context, &p).unwrap();
    let mut plain = GpuEngine::new(&context, &p).unwrap();
    let seconds = timed.step_timed(5, dt).unwrap();
    plain.step(5, dt).unwrap();
    assert_eq!(timed.read_field().unwrap(), plain.read_field().unwrap());
    if context.gpu.adapter.timestamps {
        let s = seconds.expect("the adapter has timestamp queries");
        assert!(s > 0.0 && s < 60.0, "GPU time {s} s for 5 small steps");
    } else {
        assert!(seconds.is_none());
    }
}

/// One context serves engines of different problems and schemes at once: every pipeline is
/// compiled when the context is built, and building an engine compiles nothing.
#[test]
fn gpu_engines_share_the_kernels_of_one_context() {
    let Some(context) = context_for_tests("gpu_engines_share_the_kernels_of_one_context") else { return };
    let entry_points: usize = KERNELS.iter().map(|k| kernels::parse(k).expect("parses").entry_points.len()).sum();
    let compiled = context.pipelines_created();
    assert_eq!(compiled, entry_points, "one pipeline per entry point of KERNELS, all built with the context");
    let problems = [adi(problem_3d()), problem_2d()];
    let dts = [adi_dt(&problems[0]), dt(&problems[1])];
    let mut gpu_engines: Vec<_> = problems.iter().map(|p| GpuEngine::new(&context, p).expect("new")).collect();
    assert_eq!(context.pipelines_created(), compiled, "building two engines compiled pipelines");
    assert!(gpu_engines.iter().all(|e| Arc::ptr_eq(e.context(), &context)), "an engine has a context of its own");
    let mut cpu_engines: Vec<_> = problems.iter().map(CpuReference::new).collect();
    // Interleaved, so that each engine's work is queued between the other's.
    for steps in [[1, 7], [4, 13]] {
        for e in 0..2 {
            gpu_engines[e].step(steps[e], dts[e]).expect("step");
            cpu_engines[e].step(steps[e], dts[e]).expect("step");
        }
    }
    for (e, tol) in [(0, ADI), (1, EXPLICIT)] {
        let p = &problems[e];
        let label = format!("{} beside another engine of the same context", p.name);
        let (gpu_field, cpu_field) =
            (gpu_engines[e].read_field().expect("read"), cpu_engines[e].read_field().expect("read"));
        assert_fields_match(&label, p, &gpu_field, &cpu_field, tol);
        let (gpu_totals, cpu_totals) =
            (gpu_engines[e].reduce_totals().expect("reduce"), cpu_engines[e].reduce_totals().expect("reduce"));
        assert_totals_match(&label, p, &gpu_totals, &cpu_totals, tol);
        let moved = gpu_field.iter().zip(p.initial_field()).filter(|&(&a, b)| a != b).count();
        assert!(moved > gpu_field.len() / 4, "{label}: only {moved} of {} values changed", gpu_field.len());
    }
    assert_eq!(context.pipelines_created(), compiled, "running the engines compiled pipelines");
}

/// `problem` with other coefficients: every decay rate doubled plus 5e-5 /s (so the gel decays
/// too), the wound bed's diffusivity halved and the dermis' doubled, and the first species'
/// fixed value on xmin turned into clearance.
fn with_new_coefficients(problem: &Problem) -> Problem {
    let mut p = problem.clone();
    for s in &mut p.species {
        s.decay_rate.iter_mut().for_each(|k| *k = 2.0 * *k + 5e-5);
        s.diffusivity[1] *= 0.5;
        s.diffusivity[2] *= 2.0;
    }
    if p.species[0].boundaries[0] == FIXED {
        p.species[0].boundaries[0] = CLEARANCE;
    }
    p
}

/// Both engines step, take new coefficients with `set_coefficients` (after each batch of `changes`),
/// and step again; then the fields and the totals of the whole run must agree to `tol`. Returns
/// how far the GPU field ended from a run that kept the first coefficients (× the largest initial
/// value), and the ratio of the decayed amounts of the two runs.
fn compare_coefficient_change(
    context: &Arc<GpuContext>,
    problem: &Problem,
    changes: &[(u64, Problem)],
    dt: f64,
    tol: Tolerance,
) -> (f64, f64) {
    let mut gpu = GpuEngine::new(context, problem).expect("GpuEngine::new");
    let mut cpu = CpuReference::new(problem);
    let mut unchanged = GpuEngine::new(context, problem).expect("GpuEngine::new");
    let mut steps_before = 0;
    for (steps, next) in changes {
        for engine in [&mut gpu as &mut dyn Engine, &mut cpu, &mut unchanged] {
            engine.step(*steps, dt).expect("step");
        }
        gpu.set_coefficients(next).expect("GPU set_coefficients");
        cpu.set_coefficients(next).expect("CPU set_coefficients");
        steps_before += steps;
    }
    let after = 9;
    for engine in [&mut gpu as &mut dyn Engine, &mut cpu, &mut unchanged] {
        engine.step(after, dt).expect("step");
    }
    let label = format!("{} after {steps_before} steps, coefficient changes and {after} more steps", problem.name);
    let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
    let (abs, rel) = field_difference(problem, &gpu_field, &cpu_field);
    eprintln!("{label}: max |Δfield| = {abs:.2e} × max initial value, max |Δfield|/|cpu| = {rel:.2e}");
    assert_fields_match(&label, problem, &gpu_field, &cpu_field, tol);
    let (gpu_totals, cpu_totals) = (gpu.reduce_totals().expect("reduce"), cpu.reduce_totals().expect("reduce"));
    assert_totals_match(&label, problem, &gpu_totals, &cpu_totals, tol);
    let (old_field, old_totals) = (unchanged.read_field().expect("read"), unchanged.reduce_totals().expect("reduce"));
    let (changed, _) = field_difference(problem, &gpu_field, &old_field);
    let decayed = |t: &[SpeciesTotals]| t.iter().map(|s| s.decayed().iter().sum::<f64>()).sum::<f64>();
    let decayed_ratio = decayed(&gpu_totals) / decayed(&old_totals);
    eprintln!("{label}: field moved {changed:.2e} × peak from the unchanged run; decayed ×{decayed_ratio:.3}");
    (changed, decayed_ratio)
}

/// Decay and diffusivity (and a boundary condition) changed mid-run, explicit and ADI: the GPU
/// engine writes the new tables between steps and follows the CPU reference that does the same.
#[test]
fn gpu_matches_cpu_after_set_coefficients() {
    let Some(context) = context_for_tests("gpu_matches_cpu_after_set_coefficients") else { return };
    let p = problem_3d();
    let changed = with_new_coefficients(&p);
    let stable = 0.9 * p.explicit_step_limit().min(changed.explicit_step_limit());
    // Each change must show: the field moves and more decays than without it.
    let took_effect = |(moved, decayed): (f64, f64)| assert!(moved > 1e-3 && decayed > 1.2, "{moved:e}, ×{decayed}");
    took_effect(compare_coefficient_change(&context, &p, &[(17, changed.clone())], stable, EXPLICIT));
    // Back and forth, once with no step in between.
    let changes = [(11, changed.clone()), (0, p.clone()), (6, changed)];
    took_effect(compare_coefficient_change(&context, &p, &changes, stable, EXPLICIT));
    let p = adi(problem_3d());
    let changed = with_new_coefficients(&p);
    took_effect(compare_coefficient_change(&context, &p, &[(3, changed)], adi_dt(&p), ADI));
}

/// A boundary change that decides whether the ADI scheme sweeps the single-cell z axis of a thin
/// slab: the GPU engine adds and drops the z sweep as the CPU reference does.
#[test]
fn gpu_matches_cpu_after_set_coefficients_changes_the_swept_axes() {
    let Some(context) = context_for_tests("gpu_matches_cpu_after_set_coefficients_changes_the_swept_axes") else {
        return;
    };
    let swept = adi(problem_thin_slab());
    let mut closed = with_new_coefficients(&swept);
    for s in &mut closed.species {
        s.boundaries[4] = NO_FLUX;
        s.boundaries[5] = NO_FLUX;
    }
    assert_eq!(secretome::solver::adi_sweep_axes(&swept), vec![0, 1, 2]);
    assert_eq!(secretome::solver::adi_sweep_axes(&closed), vec![0, 1]);
    let dt = adi_dt(&swept);
    // z sweep added for two steps, then dropped: the outflow through z is the evidence.
    let (moved, _) = compare_coefficient_change(&context, &closed, &[(2, swept.clone()), (3, closed.clone())], dt, ADI);
    assert!(moved > 1e-4, "two steps with clearance through z changed the field by only {moved:e}");
    let (moved, _) = compare_coefficient_change(&context, &swept, &[(4, closed)], dt, ADI);
    assert!(moved > 1e-3, "closing z changed the field by only {moved:e}");
}

/// New coefficients must come with the same grid, materials and species: anything else is a
/// usage error on both engines, and the engines go on as before.
#[test]
fn set_coefficients_refuses_another_problem() {
    let p = problem_2d();
    let mut other_grid = problem_2d();
    other_grid.grid.spacing = [2e-4; 3];
    let mut other_materials = problem_2d();
    other_materials.material_id[0] = 0; // was dermis (2)
    let mut other_species = problem_2d();
    other_species.species.pop();
    let refused = [
        (other_grid, "grid"),
        (other_materials, "material ids"),
        (other_species, "species"),
        (adi(p.clone()), "scheme"),
    ];
    let mut cpu = CpuReference::new(&p);
    for (q, what) in &refused {
        match cpu.set_coefficients(q) {
            Err(SolverError::Usage(m)) => assert!(m.contains(what), "CPU: {m}"),
            other => panic!("CPU: a different {what} accepted: {other:?}"),
        }
    }
    let Some(context) = context_for_tests("set_coefficients_refuses_another_problem") else { return };
    let mut gpu = GpuEngine::new(&context, &p).expect("new");
    for (q, what) in &refused {
        match gpu.set_coefficients(q) {
            Err(SolverError::Usage(m)) => assert!(m.contains(what), "GPU: {m}"),
            other => panic!("GPU: a different {what} accepted: {other:?}"),
        }
    }
    gpu.step(20, dt(&p)).expect("step");
    cpu.step(20, dt(&p)).expect("step");
    let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
    assert_fields_match("after refused coefficient changes", &p, &gpu_field, &cpu_field, EXPLICIT);
}

/// Asserts that the GPU's `local_error` values match the reference's to `tol` (absolute part
/// relative to the largest initial value, as for fields).
fn assert_local_errors_match(label: &str, problem: &Problem, gpu: &[Difference], cpu: &[Difference], tol: Tolerance) {
    assert_eq!(gpu.len(), cpu.len(), "{label}: number of species");
    let peak = problem.initial_field().iter().fold(0.0f64, |m, &v| m.max(v as f64));
    for (s, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        for (what, a, b) in [("max", g.max, c.max), ("rms", g.rms, c.rms)] {
            let bound = tol.atol_rel * peak + tol.rtol * b.abs();
            assert!(
                (a - b).abs() <= bound,
                "{label}: {} local error {what}: gpu {a:e}, cpu {b:e}, difference {:e} > {bound:e}",
                problem.species[s].name,
                a - b
            );
        }
    }
}

/// `local_error` with tracked rates, called as the adaptive step calls it (save, step, estimate,
/// restore on rejection), through the start-up (rate recorded by the first LOD substep only),
/// Douglas steps, a rejected Douglas step and a rejected start-up step retried shorter (the
/// retry must record into the rate buffer the rejected step used: `newest` is restored), and a
/// second start-up set mid-run. Every estimate, field and total must match the reference, and
/// both engines refuse `local_error` before a save and without tracked rates.
#[test]
fn gpu_local_error_matches_cpu_with_tracked_rates() {
    let Some(context) = context_for_tests("gpu_local_error_matches_cpu_with_tracked_rates") else { return };
    let p = adi(problem_2d());
    let dt = adi_dt(&p);
    let mut gpu = GpuEngine::new(&context, &p).expect("GpuEngine::new");
    let mut cpu = CpuReference::new(&p);
    for (name, engine) in [("gpu", &mut gpu as &mut dyn Engine), ("cpu", &mut cpu)] {
        match engine.local_error([dt, 0.0]) {
            Err(SolverError::Usage(m)) => assert!(m.contains("slot 0"), "{name}: {m}"),
            other => panic!("{name}: local_error before any save: {other:?}"),
        }
        engine.save(0).expect("save");
        match engine.local_error([dt, 0.0]) {
            Err(SolverError::Usage(m)) => assert!(m.contains("track_rates"), "{name}: {m}"),
            other => panic!("{name}: local_error without tracked rates: {other:?}"),
        }
        engine.track_rates(true);
    }
    // (step as a multiple of dt, accepted, start-up steps set before the step)
    let plan = [
        (1.0, true, None),
        (1.0, true, None),
        (2.0, false, None),
        (0.7, true, None),
        (1.3, true, None),
        (1.5, false, Some(1)),
        (0.75, true, None),
        (1.0, true, None),
    ];
    let mut previous = None;
    let mut largest = 0.0f64;
    for (k, &(factor, accepted, start_up)) in plan.iter().enumerate() {
        let step = factor * dt;
        for engine in [&mut gpu as &mut dyn Engine, &mut cpu] {
            engine.save(0).expect("save");
        }
        if let Some(steps) = start_up {
            gpu.set_start_up_steps(steps);
            cpu.set_start_up_steps(steps);
        }
        gpu.step(1, step).expect("step");
        cpu.step(1, step).expect("step");
        let weights = error_estimate(step, previous).weights;
        let (g, c) =
            (gpu.local_error(weights).expect("GPU local_error"), cpu.local_error(weights).expect("local_error"));
        let label = format!("{} step {k} ({factor} × dt, weights {weights:.3?})", p.name);
        eprintln!(
            "{label}: local error max gpu {:.6e} / cpu {:.6e}, rms gpu {:.6e} / cpu {:.6e}",
            g[0].max, c[0].max, g[0].rms, c[0].rms
        );
        assert_local_errors_match(&label, &p, &g, &c, ADI);
        largest = c.iter().fold(largest, |m, d| m.max(d.max));
        let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
        assert_fields_match(&label, &p, &gpu_field, &cpu_field, ADI);
        if accepted {
            previous = Some(step);
        } else {
            gpu.restore(0).expect("restore");
            cpu.restore(0).expect("restore");
        }
    }
    let peak = p.initial_field().iter().fold(0.0f64, |m, &v| m.max(v as f64));
    assert!(largest > 1e3 * ADI.atol_rel * peak, "local errors too small ({largest:e}) to test anything");
    let label = format!("{} after the adaptive sequence", p.name);
    let (gpu_totals, cpu_totals) = (gpu.reduce_totals().expect("reduce"), cpu.reduce_totals().expect("reduce"));
    assert_totals_match(&label, &p, &gpu_totals, &cpu_totals, ADI);
    for (name, engine) in [("gpu", &mut gpu as &mut dyn Engine), ("cpu", &mut cpu)] {
        engine.track_rates(false);
        match engine.local_error([dt, 0.0]) {
            Err(SolverError::Usage(m)) => assert!(m.contains("track_rates"), "{name}: {m}"),
            other => panic!("{name}: local_error after track_rates(false): {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Local reactions: the react pass (binding, Michaelis–Menten uptake, conversion) and the local
// rows (bound fields and reaction books).

/// GPU vs CPU with local reactions, fields and totals. `react` takes the reference's f32
/// operations in its order, but `exp` (in the binding solution, the uptake Newton and the
/// conversions) is the device's, whose last bit may differ from Rust's. With one `exp` on both
/// sides (an experiment: the same polynomial in both twins) the engines agreed bit for bit on
/// lavapipe in the comparisons below, start-up, capacities of fast binding, recorded rates, local
/// errors and books included. With the device's `exp`, measured on lavapipe (LLVM 15) over the
/// reaction tests (stiff binding amplifies a last-bit difference of `b` into the free field where
/// free ≪ bound, as `c = total − b` cancels digits, and the capacity carries it into the stages):
/// fields within 1.7e-6 × the largest initial value and 1.4e-5 relative, at most 11 % of the
/// tolerance below in any cell; totals within 4.8e-6 of themselves (3.4e-5 of the initial amount
/// for C, which starts small and is made by conversion). The ADI tolerance covers both, with room
/// for fused roundings.
const REACT: Tolerance = ADI;

/// GPU vs CPU with local reactions, `local_error`. The rate a binding term records,
/// `k_on·c·(S − f·b) − k_off·b`, nearly cancels near equilibrium, and `f·k_on·c·dt` multiplies
/// a last-bit difference of `b` into the companion: measured on lavapipe, the local errors
/// differ by up to 4.7e-4 of themselves and 3.3e-5 × the largest initial value (a step-size
/// control compares them with tolerances of 1e-3 and more). Hence rtol 2e-3 and atol 4e-5 of the
/// largest initial value, summed.
const REACT_LOCAL_ERROR: Tolerance = Tolerance { rtol: 2e-3, atol_rel: 4e-5, totals_atol_rel: 0.0 };

/// nM: a molar unit, so that binding has its meaning (`molar_per_unit` = 1e-6 mol/m³).
fn nanomolar() -> ConcentrationUnit {
    ConcentrationUnit { text: "nM".into(), amount_text: "nmol".into(), si: 1e-6, volume_si: 1e-3 }
}

/// 2D, 24 × 16 (a gel disc in a wound bed over dermis) with three species in nM and a heparin
/// pool (50 nM of sites in the gel, 10 nM in the wound bed):
///
/// - A (initial total 100 nM in the gel) and B (20 nM in the gel, 1 nM in the wound bed) bind the
///   pool in the gel and the wound bed, competing for its sites; in the gel `k_on·B_T` is 0.5/s
///   for A and 0.25/s for B, so `k_on·B_T·dt ≫ 1` at the steps of these tests;
/// - A is taken up (Michaelis–Menten) in the wound bed and the dermis, and converted into C
///   (yield ½) in the dermis; bound B is converted into free C (yield 2) in the gel;
/// - A decays in the wound bed, C in the dermis, B is cleared in the dermis;
/// - A is held at 2 nM on xmax (a fixed face); every other face is closed.
fn problem_reactions() -> Problem {
    use secretome::problem::{Form, Reaction, SitePool};
    let species = |name: &str, d: [f64; 3], k: [f64; 3], initial: [f64; 3], boundaries: [Boundary; 6]| Species {
        name: name.into(),
        unit: nanomolar(),
        diffusivity: d.to_vec(),
        decay_rate: k.to_vec(),
        clearance_rate: vec![0.0; 3],
        uptake_rate: vec![0.0; 3],
        initial: initial.to_vec(),
        initial_is_total: true,
        molar_per_unit: Some(1e-6),
        boundaries,
        sources: Vec::new(),
        bioactive_threshold: None,
        bioactive_ceiling: None,
    };
    let a_faces = [NO_FLUX, FIXED, NO_FLUX, NO_FLUX, NO_FLUX, NO_FLUX];
    let a = species("A", [1e-10, 1e-11, 2e-12], [0.0, 1e-4, 0.0], [100.0, 0.0, 0.0], a_faces);
    let mut b = species("B", [6e-11, 3e-12, 6e-12], [0.0; 3], [20.0, 1.0, 0.0], [NO_FLUX; 6]);
    b.clearance_rate = vec![0.0, 0.0, 5e-5];
    let mut c = species("C", [8e-11, 8e-12, 4e-12], [0.0, 0.0, 2e-4], [0.0, 0.0, 0.5], [NO_FLUX; 6]);
    c.initial_is_total = false;
    let paint = |x: usize, y: usize, _| {
        let (dx, dy) = (x as f64 - 8.0, y as f64 - 9.0);
        if dx * dx + dy * dy < 25.0 {
            0
        } else if y >= 5 {
            1
        } else {
            2
        }
    };
    let mut p = problem("reactions", [24, 16, 1], paint, vec![a, b, c]);
    p.pools = vec![SitePool { name: "heparin".into(), density: vec![5e-5, 1e-5, 0.0] }];
    p.reactions = vec![
        Reaction::Binding { material: 0, species: 0, pool: 0, k_on: 1e4, k_off: 1e-2 },
        Reaction::Binding { material: 0, species: 1, pool: 0, k_on: 5e3, k_off: 2e-3 },
        Reaction::Binding { material: 1, species: 0, pool: 0, k_on: 1e3, k_off: 1e-2 },
        Reaction::Binding { material: 1, species: 1, pool: 0, k_on: 1e3, k_off: 5e-3 },
        Reaction::Uptake { material: 1, species: 0, vmax: 2e-3, km: 5.0 },
        Reaction::Uptake { material: 2, species: 0, vmax: 1e-3, km: 2.0 },
        Reaction::Conversion { material: 2, from: 0, form: Form::Free, to: 2, rate: 5e-4, yield_: 0.5 },
        Reaction::Conversion { material: 0, from: 1, form: Form::Bound, to: 2, rate: 2e-4, yield_: 2.0 },
    ];
    p
}

/// The largest differences seen by one reaction comparison: fields (× the largest initial value),
/// totals (× the amount, and relative to themselves where they exceed 1e-6 of the amount),
/// local errors (× the largest initial value, and relative).
#[derive(Clone, Copy, Debug, Default)]
struct Measured {
    field: f64,
    field_rel: f64,
    /// The largest `|Δ|` over the tolerance of its cell.
    field_tolerance_used: f64,
    totals: f64,
    totals_rel: f64,
    local_error: f64,
    local_error_rel: f64,
}

impl Measured {
    fn local_errors(&mut self, label: &str, problem: &Problem, gpu: &[Difference], cpu: &[Difference]) {
        let peak = problem.initial_field().iter().fold(0.0f64, |m, &v| m.max(v as f64));
        for (g, c) in gpu.iter().zip(cpu) {
            for (a, b) in [(g.max, c.max), (g.rms, c.rms)] {
                self.local_error = self.local_error.max((a - b).abs() / peak);
                self.local_error_rel = self.local_error_rel.max((a - b).abs() / b.abs());
            }
        }
        eprintln!(
            "{label}: local error of {} gpu {:.6e} / cpu {:.6e}",
            problem.species[0].name, gpu[0].max, cpu[0].max
        );
        assert_local_errors_match(label, problem, gpu, cpu, REACT_LOCAL_ERROR);
    }

    fn field(&mut self, label: &str, problem: &Problem, gpu: &[f32], cpu: &[f32], tol: Tolerance) {
        let (abs, rel) = field_difference(problem, gpu, cpu);
        eprintln!("{label}: max |Δfield| = {abs:.2e} × max initial value, max |Δfield|/|cpu| = {rel:.2e}");
        self.field = self.field.max(abs);
        self.field_rel = self.field_rel.max(rel);
        let scale = problem.initial_field().iter().fold(0.0f64, |m, &v| m.max(v.abs() as f64));
        let used = gpu.iter().zip(cpu).fold(0.0f64, |m, (&a, &b)| {
            m.max((a as f64 - b as f64).abs() / (tol.atol_rel * scale + tol.rtol * (b as f64).abs()))
        });
        self.field_tolerance_used = self.field_tolerance_used.max(used);
        assert_fields_match(label, problem, gpu, cpu, tol);
    }

    fn totals(&mut self, label: &str, problem: &Problem, gpu: &[SpeciesTotals], cpu: &[SpeciesTotals], tol: Tolerance) {
        let d = totals_difference(problem, gpu, cpu);
        let amounts = initial_amounts(problem);
        let rel = total_pairs(gpu, cpu)
            .filter(|&(_, b, s)| b.abs() > 1e-6 * amounts[s])
            .fold(0.0f64, |worst, (a, b, _)| worst.max((a - b).abs() / b.abs()));
        eprintln!("{label}: max |Δtotal| = {d:.2e} × amount, {rel:.2e} of the total");
        self.totals = self.totals.max(d);
        self.totals_rel = self.totals_rel.max(rel);
        assert_totals_match(label, problem, gpu, cpu, tol);
    }
}

/// Something happened in every kind of term: bound amounts in the gel, uptake, conversion in
/// and out, outflow through the fixed face; `totals` summed over a run.
fn assert_reactions_acted(label: &str, totals: &[SpeciesTotals]) {
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    assert!(totals[0].bound[0] > 0.0 && totals[1].bound[0] > 0.0, "{label}: nothing bound in the gel");
    assert!(sum(totals[0].channel(Channel::TakenUp)) > 0.0, "{label}: nothing taken up");
    assert!(sum(totals[0].channel(Channel::ConvertedOut)) > 0.0, "{label}: no free A converted");
    assert!(sum(totals[1].channel(Channel::ConvertedOut)) > 0.0, "{label}: no bound B converted");
    assert!(sum(totals[2].channel(Channel::ConvertedIn)) > 0.0, "{label}: no C made");
    assert!(totals[0].outflow[1] != 0.0, "{label}: nothing through the fixed face");
}

/// Adds the flows of `t` to `sum` (channels and outflow; what is present is `t`'s).
fn accumulate(sum: &mut Vec<SpeciesTotals>, t: &[SpeciesTotals]) {
    if sum.is_empty() {
        *sum = t.to_vec();
        return;
    }
    for (s, e) in sum.iter_mut().zip(t) {
        let mut next = e.clone();
        next.add_earlier(s);
        *s = next;
    }
}

/// Fixed ADI steps with local reactions and tracked rates, through the start-up (its first LOD
/// substep adds `A u` to the rate the first react pass stored) and Douglas steps, the stages
/// solving with the capacities of fast binding the first react pass leaves; before each
/// step a save, after it `local_error`, the fields (free and bound) and, every few steps, every
/// total. Then the explicit scheme with reactions (react after each step).
#[test]
fn gpu_matches_cpu_with_reactions() {
    let Some(context) = context_for_tests("gpu_matches_cpu_with_reactions") else { return };
    let p = adi(problem_reactions());
    let dt = adi_dt(&p);
    let gel_rate = 1e4 * 5e-5 * dt;
    assert!(gel_rate > 100.0, "k_on·B_T·dt = {gel_rate} in the gel: not stiff");
    let mut gpu = GpuEngine::new(&context, &p).expect("GpuEngine::new");
    let mut cpu = CpuReference::new(&p);
    let mut measured = Measured::default();
    let (initial_gpu, initial_cpu) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
    assert_eq!(initial_gpu, initial_cpu, "{}: initial fields (bound at equilibrium)", p.name);
    assert_eq!(initial_gpu.len(), (3 + 2) * p.grid.n_cells(), "three free and two bound fields");
    let (mut gpu_sum, mut cpu_sum) = (Vec::new(), Vec::new());
    let mut previous = None;
    let steps = 9;
    for k in 0..steps {
        for engine in [&mut gpu as &mut dyn Engine, &mut cpu] {
            engine.track_rates(true);
            engine.save(0).expect("save");
            engine.step(1, dt).expect("step");
        }
        let label = format!("{} step {k}", p.name);
        let weights = error_estimate(dt, previous).weights;
        let (g, c) =
            (gpu.local_error(weights).expect("GPU local_error"), cpu.local_error(weights).expect("local_error"));
        assert!(c.iter().all(|d| d.max > 0.0), "{label}: no local error to compare");
        measured.local_errors(&label, &p, &g, &c);
        let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
        measured.field(&label, &p, &gpu_field, &cpu_field, REACT);
        if [0, 3, steps - 1].contains(&k) {
            let (g, c) = (gpu.reduce_totals().expect("reduce"), cpu.reduce_totals().expect("reduce"));
            measured.totals(&label, &p, &g, &c, REACT);
            accumulate(&mut gpu_sum, &g);
            accumulate(&mut cpu_sum, &c);
        }
        previous = Some(dt);
    }
    assert_reactions_acted(&format!("{} (gpu)", p.name), &gpu_sum);
    assert_reactions_acted(&format!("{} (cpu)", p.name), &cpu_sum);
    let adi_measured = measured;

    let p = problem_reactions();
    let step = 0.9 * p.explicit_step_limit();
    let mut gpu = GpuEngine::new(&context, &p).expect("GpuEngine::new");
    let mut cpu = CpuReference::new(&p);
    let mut measured = Measured::default();
    let (mut gpu_sum, mut cpu_sum) = (Vec::new(), Vec::new());
    let mut done = 0;
    for steps in BATCHES {
        gpu.step(steps, step).expect("step");
        cpu.step(steps, step).expect("step");
        done += steps;
        let label = format!("{} (explicit) after {done} steps", p.name);
        let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
        measured.field(&label, &p, &gpu_field, &cpu_field, REACT);
        let (g, c) = (gpu.reduce_totals().expect("reduce"), cpu.reduce_totals().expect("reduce"));
        measured.totals(&label, &p, &g, &c, REACT);
        accumulate(&mut gpu_sum, &g);
        accumulate(&mut cpu_sum, &c);
    }
    assert_reactions_acted(&format!("{} explicit (gpu)", p.name), &gpu_sum);
    eprintln!("REACT_MEASURED: ADI {adi_measured:?}; explicit {measured:?}");
}

/// With local reactions the first react pass of a step stores the rate and the predictor adds
/// `A u` to it: `local_error` as the adaptive step calls it (save, step, estimate, restore on
/// rejection), through a rejected Douglas step and a rejected start-up step retried shorter, each
/// retry recording into the rate buffer of the rejected step (`newest` restored), and a second
/// start-up set mid-run; the books of the rejected steps must vanish with the restore.
#[test]
fn gpu_local_error_matches_cpu_with_reactions_and_rejected_steps() {
    let Some(context) = context_for_tests("gpu_local_error_matches_cpu_with_reactions_and_rejected_steps") else {
        return;
    };
    let p = adi(problem_reactions());
    let dt = adi_dt(&p);
    let mut gpu = GpuEngine::new(&context, &p).expect("GpuEngine::new");
    let mut cpu = CpuReference::new(&p);
    for engine in [&mut gpu as &mut dyn Engine, &mut cpu] {
        engine.track_rates(true);
    }
    // (step as a multiple of dt, accepted, start-up steps set before the step)
    let plan = [
        (1.0, false, None),
        (0.5, true, None),
        (1.0, true, None),
        (2.0, false, None),
        (0.7, true, None),
        (1.5, false, Some(1)),
        (0.75, true, None),
        (1.0, true, None),
    ];
    let mut measured = Measured::default();
    let mut previous = None;
    for (k, &(factor, accepted, start_up)) in plan.iter().enumerate() {
        let step = factor * dt;
        for engine in [&mut gpu as &mut dyn Engine, &mut cpu] {
            engine.save(0).expect("save");
            if let Some(steps) = start_up {
                engine.set_start_up_steps(steps);
            }
            engine.step(1, step).expect("step");
        }
        let weights = error_estimate(step, previous).weights;
        let label = format!("{} step {k} ({factor} × dt, {})", p.name, if accepted { "accepted" } else { "rejected" });
        let (g, c) =
            (gpu.local_error(weights).expect("GPU local_error"), cpu.local_error(weights).expect("local_error"));
        measured.local_errors(&label, &p, &g, &c);
        let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
        measured.field(&label, &p, &gpu_field, &cpu_field, REACT);
        if accepted {
            previous = Some(step);
            let (g, c) = (gpu.reduce_totals().expect("reduce"), cpu.reduce_totals().expect("reduce"));
            measured.totals(&label, &p, &g, &c, REACT);
        } else {
            gpu.restore(0).expect("restore");
            cpu.restore(0).expect("restore");
        }
    }
    eprintln!("REACT_MEASURED (adaptive): {measured:?}");
}

/// `p` with other reaction coefficients: the gel's sites doubled and the wound bed's halved,
/// A's `k_on` in the gel tripled, its uptake in the wound bed faster, the conversion of free A
/// slower, and B's clearance in the dermis turned into linear uptake.
fn with_new_reaction_coefficients(p: &Problem) -> Problem {
    use secretome::problem::Reaction;
    let mut q = p.clone();
    q.pools[0].density = vec![1e-4, 5e-6, 0.0];
    for r in &mut q.reactions {
        match r {
            Reaction::Binding { material: 0, species: 0, k_on, .. } => *k_on *= 3.0,
            Reaction::Uptake { material: 1, vmax, .. } => *vmax *= 4.0,
            Reaction::Conversion { form: secretome::problem::Form::Free, rate, .. } => *rate *= 0.5,
            _ => {}
        }
    }
    q.species[1].uptake_rate = q.species[1].clearance_rate.clone();
    q.species[1].clearance_rate = vec![0.0; 3];
    q
}

/// Reaction rates and site densities changed mid-run (the GPU rewrites its term table; both
/// engines reduce first and add those books to the next reduce), then the state of each engine
/// exported and imported into a fresh engine of the other kind: bound fields travel with the
/// free ones and both pairs go on in step.
#[test]
fn gpu_matches_cpu_with_reactions_after_set_coefficients_and_state_exchange() {
    let Some(context) = context_for_tests("gpu_matches_cpu_with_reactions_after_set_coefficients_and_state_exchange")
    else {
        return;
    };
    let p = adi(problem_reactions());
    let changed = with_new_reaction_coefficients(&p);
    let dt = adi_dt(&p);
    let mut gpu = GpuEngine::new(&context, &p).expect("GpuEngine::new");
    let mut cpu = CpuReference::new(&p);
    let mut unchanged = CpuReference::new(&p);
    let mut measured = Measured::default();
    for engine in [&mut gpu as &mut dyn Engine, &mut cpu, &mut unchanged] {
        engine.step(3, dt).expect("step");
    }
    gpu.set_coefficients(&changed).expect("GPU set_coefficients");
    cpu.set_coefficients(&changed).expect("CPU set_coefficients");
    for engine in [&mut gpu as &mut dyn Engine, &mut cpu, &mut unchanged] {
        engine.step(4, dt).expect("step");
    }
    let label = format!("{} after 3 steps, new reaction coefficients and 4 more", p.name);
    let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
    measured.field(&label, &p, &gpu_field, &cpu_field, REACT);
    let (moved, _) = field_difference(&p, &gpu_field, &unchanged.read_field().expect("read"));
    assert!(moved > 1e-3, "{label}: the new coefficients moved the field by only {moved:e} × peak");
    let (g, c) = (gpu.reduce_totals().expect("reduce"), cpu.reduce_totals().expect("reduce"));
    measured.totals(&label, &p, &g, &c, REACT);
    assert_reactions_acted(&label, &g);
    let linear_uptake: f64 = g[1].channel(Channel::TakenUp).iter().sum();
    assert!(linear_uptake > 0.0, "{label}: B's new linear uptake booked nothing");

    let (gpu_state, cpu_state) = (gpu.export_state().expect("export"), cpu.export_state().expect("export"));
    assert_eq!(gpu_state.field.len(), gpu_field.len(), "the state holds the bound fields");
    assert_eq!(gpu_state.field, gpu_field, "GPU state and read_field");
    let mut gpu_from_cpu = GpuEngine::new(&context, &changed).expect("GpuEngine::new");
    let mut cpu_from_gpu = CpuReference::new(&changed);
    gpu_from_cpu.import_state(&cpu_state).expect("GPU import");
    cpu_from_gpu.import_state(&gpu_state).expect("CPU import");
    assert_eq!(gpu_from_cpu.read_field().expect("read"), cpu_state.field, "imported into the GPU engine");
    for engine in [&mut gpu_from_cpu as &mut dyn Engine, &mut cpu, &mut gpu, &mut cpu_from_gpu] {
        engine.step(3, dt).expect("step");
    }
    for (label, gpu, cpu) in [
        (format!("{} continued on the GPU from the CPU's state", p.name), &mut gpu_from_cpu, &mut cpu),
        (format!("{} continued on the CPU from the GPU's state", p.name), &mut gpu, &mut cpu_from_gpu),
    ] {
        let (gpu_field, cpu_field) = (gpu.read_field().expect("read"), cpu.read_field().expect("read"));
        measured.field(&label, &p, &gpu_field, &cpu_field, REACT);
        let (g, c) = (gpu.reduce_totals().expect("reduce"), cpu.reduce_totals().expect("reduce"));
        measured.totals(&label, &p, &g, &c, REACT);
    }
    eprintln!("REACT_MEASURED (coefficients, states): {measured:?}");
}

/// The books of the GPU engine balance with local reactions, per species: initial (free +
/// bound) = present + bound + decayed + cleared + taken up + converted out − converted in +
/// outflow, to 1e-5 of what passed through the species, over several reduce intervals of both
/// schemes.
#[test]
fn gpu_books_balance_with_reactions() {
    let Some(context) = context_for_tests("gpu_books_balance_with_reactions") else { return };
    let explicit = problem_reactions();
    for (p, dt, batches) in [
        (adi(problem_reactions()), adi_dt(&explicit), [1, 4, 7]),
        (explicit.clone(), 0.9 * explicit.explicit_step_limit(), [20, 30, 50]),
    ] {
        let mut engine = GpuEngine::new(&context, &p).expect("GpuEngine::new");
        let start = engine.reduce_totals().expect("reduce");
        let mut sum = Vec::new();
        for steps in batches {
            engine.step(steps, dt).expect("step");
            accumulate(&mut sum, &engine.reduce_totals().expect("reduce"));
        }
        assert_reactions_acted(&p.name, &sum);
        for (s, (t0, t)) in start.iter().zip(&sum).enumerate() {
            let amount = |t: &SpeciesTotals| t.present.iter().chain(&t.bound).sum::<f64>();
            let flows: f64 = Channel::ALL.iter().map(|&ch| ch.sign() * t.channel(ch).iter().sum::<f64>()).sum();
            let outflow: f64 = t.outflow.iter().sum();
            let through = amount(t0) + t.channel(Channel::ConvertedIn).iter().sum::<f64>();
            let error = (amount(t0) - (amount(t) + flows + outflow)).abs() / through;
            eprintln!("{}: {} balance error {error:.2e}", p.name, p.species[s].name);
            assert!(error <= 1e-5, "{}: {} books do not balance: relative error {error:e}", p.name, p.species[s].name);
        }
    }
}
