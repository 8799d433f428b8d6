//! Problems with known exact solutions, built directly as plain data, and small numeric helpers.
#![allow(dead_code)] // each test file uses a different subset

use secretome::problem::*;
use secretome::solver::Engine;

pub mod command;
pub mod engines;
pub mod python;
pub mod refusals;

/// Concentration unit used by the test problems: ng/mL.
pub fn ng_per_ml() -> ConcentrationUnit {
    ConcentrationUnit { text: "ng/mL".into(), amount_text: "ng".into(), si: 1e-9 / 1e-6 * 1e-3, volume_si: 1e-6 }
}

/// A species with per-material D (m²/s), k (1/s), initial values and face conditions.
pub fn species(name: &str, d: &[f64], k: &[f64], initial: &[f64], boundaries: [Boundary; 6]) -> Species {
    Species {
        name: name.into(),
        unit: ng_per_ml(),
        diffusivity: d.to_vec(),
        decay_rate: k.to_vec(),
        clearance_rate: vec![0.0; (k.to_vec()).len()],
        uptake_rate: vec![0.0; (k.to_vec()).len()],
        initial: initial.to_vec(),
        initial_is_total: false,
        molar_per_unit: None,
        boundaries,
        sources: Vec::new(),
        bioactive_threshold: None,
        bioactive_ceiling: None,
    }
}

/// A box of `cells` over `extent` (m) whose cell materials come from `paint(centre)`.
pub fn box_problem(
    cells: [usize; 3],
    extent: [f64; 3],
    materials: &[&str],
    paint: impl Fn([f64; 3]) -> u32,
    species: Vec<Species>,
    end: f64,
) -> Problem {
    let grid = Grid { cells, spacing: [0, 1, 2].map(|a| extent[a] / cells[a] as f64) };
    let mut material_id = Vec::with_capacity(grid.n_cells());
    for k in 0..cells[2] {
        for j in 0..cells[1] {
            for i in 0..cells[0] {
                material_id.push(paint(grid.centre(i, j, k)));
            }
        }
    }
    Problem {
        name: "test".into(),
        materials: materials
            .iter()
            .enumerate()
            .map(|(i, n)| Material { name: n.to_string(), role: if i == 0 { Role::Depot } else { Role::Tissue } })
            .collect(),
        grid,
        material_id,
        species,
        regions: Vec::new(),
        pools: Vec::new(),
        reactions: Vec::new(),
        timeline: Default::default(),
        metrics: Default::default(),
        velocity: Vec::new(),
        schedule: Schedule {
            end,
            output_times: vec![end],
            snapshot_times: vec![end],
            scheme: Scheme::ExplicitFtcs,
            time_step: TimeStep::Auto { safety: 0.9 },
        },
    }
}

/// A 1D line of `n` cells along x over `length` m (1 mm × 1 mm cross-section).
pub fn line(
    n: usize,
    length: f64,
    materials: &[&str],
    paint: impl Fn(f64) -> u32,
    species: Vec<Species>,
    end: f64,
) -> Problem {
    box_problem([n, 1, 1], [length, 1e-3, 1e-3], materials, |p| paint(p[0]), species, end)
}

/// All faces no-flux except those given.
pub fn faces(xmin: Boundary, xmax: Boundary) -> [Boundary; 6] {
    [xmin, xmax, Boundary::NoFlux, Boundary::NoFlux, Boundary::NoFlux, Boundary::NoFlux]
}

/// Advances `engine` to `t` seconds in equal steps no longer than `dt_max`; returns the step.
pub fn advance_to(engine: &mut dyn Engine, t: f64, dt_max: f64) -> f64 {
    let n = (t / dt_max).ceil().max(1.0) as u64;
    let dt = t / n as f64;
    engine.step(n, dt).unwrap();
    dt
}

/// Root-mean-square difference between a field and an exact solution at cell centres.
pub fn rms_error(field: &[f32], exact: impl Fn(usize) -> f64) -> f64 {
    let sum: f64 = field.iter().enumerate().map(|(i, &v)| (v as f64 - exact(i)).powi(2)).sum();
    (sum / field.len() as f64).sqrt()
}

/// Convergence order between two errors at grid spacings differing by `ratio`.
pub fn order(coarse: f64, fine: f64, ratio: f64) -> f64 {
    (coarse / fine).ln() / ratio.ln()
}

/// Diffusion of the box initial condition 1 on [a, b] on the whole line, at x after D·t.
pub fn box_spread(x: f64, a: f64, b: f64, dt: f64) -> f64 {
    let s = (4.0 * dt).sqrt();
    0.5 * (libm::erf((b - x) / s) - libm::erf((a - x) / s))
}

/// The same problem, advanced by `scheme`.
pub fn with_scheme(mut problem: Problem, scheme: Scheme) -> Problem {
    problem.schedule.scheme = scheme;
    problem
}

/// A box of one species in which every cell is a material of its own, so that the initial
/// concentration (`initial`) and the decay rate (`decay`, 1/s) can be any function of the cell
/// centre; uniform diffusivity `d` (m²/s).
pub fn painted_box(
    cells: [usize; 3],
    extent: [f64; 3],
    d: f64,
    decay: impl Fn([f64; 3]) -> f64,
    initial: impl Fn([f64; 3]) -> f64,
    boundaries: [Boundary; 6],
    end: f64,
) -> Problem {
    let grid = Grid { cells, spacing: [0, 1, 2].map(|a| extent[a] / cells[a] as f64) };
    let mut centres = Vec::with_capacity(grid.n_cells());
    for k in 0..cells[2] {
        for j in 0..cells[1] {
            for i in 0..cells[0] {
                centres.push(grid.centre(i, j, k));
            }
        }
    }
    let n = centres.len();
    let s = species(
        "painted",
        &vec![d; n],
        &centres.iter().map(|&p| decay(p)).collect::<Vec<_>>(),
        &centres.iter().map(|&p| initial(p)).collect::<Vec<_>>(),
        boundaries,
    );
    let names: Vec<String> = (0..n).map(|i| format!("cell{i}")).collect();
    let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    let index = |p: [f64; 3]| {
        let [i, j, k] = [0, 1, 2].map(|a| (p[a] / grid.spacing[a]) as usize);
        grid.index(i, j, k) as u32
    };
    box_problem(cells, extent, &names, index, vec![s], end)
}

/// Smallest and largest value of a field.
pub fn min_max(field: &[f32]) -> (f64, f64) {
    field.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v as f64), hi.max(v as f64)))
}

/// A 3D box with a gel sphere (D 10× lower than the tissue) and two species.
pub fn sphere_in_tissue(boundaries: [Boundary; 6], k: f64) -> Problem {
    let extent = [4.8e-4, 4.0e-4, 3.2e-4];
    let inside = |p: [f64; 3]| {
        let d2: f64 = (0..3).map(|a| (p[a] - 0.5 * extent[a]).powi(2)).sum();
        u32::from(d2 > (1.2e-4f64).powi(2))
    };
    let a = species("A", &[1e-11, 1e-10], &[k, 2.0 * k], &[250.0, 0.0], boundaries);
    let b = species("B", &[4e-11, 4e-12], &[0.0, k], &[7.0, 1.0], boundaries);
    box_problem([24, 20, 16], extent, &["gel", "tissue"], inside, vec![a, b], 60.0)
}

pub fn total(t: &secretome::solver::SpeciesTotals) -> f64 {
    t.present.iter().sum()
}

/// Runs `steps` steps of `dt` on a closed problem without decay and asserts what conservation
/// means there: every species keeps its total to 1e-5 relative (f32 round-off is ~1e-7), nothing
/// is booked as decayed or as outflow, and species 0 has moved out of material 0, keeping less
/// than `gel_kept` of what it held there.
pub fn assert_closed_box_keeps_mass(label: &str, engine: &mut dyn Engine, steps: u64, dt: f64, gel_kept: f64) {
    let start = engine.reduce_totals().unwrap();
    engine.step(steps, dt).unwrap();
    let end = engine.reduce_totals().unwrap();
    for s in 0..start.len() {
        let drift = (total(&end[s]) - total(&start[s])).abs() / total(&start[s]);
        eprintln!("{label} species {s}: relative mass drift after {steps} steps {drift:.2e}");
        assert!(drift < 1e-5, "{label} species {s} drifted by {drift:e}");
        assert!(end[s].outflow.iter().all(|&f| f == 0.0), "{label} species {s}: outflow booked");
        assert!(end[s].decayed().iter().all(|&d| d == 0.0), "{label} species {s}: decay booked");
    }
    assert!(end[0].present[0] < gel_kept * start[0].present[0], "{label}: the gel must lose mass");
}

/// Scenario text of a gel sheet on tissue: a 2 mm × 1 mm × 1 mm box of `cells`, the material
/// `gel` (a depot) painted as the region `sheet` for x from 0 to `sheet_to`, the rest `tissue`;
/// `time` is the body of `[time]` and `rest` the species and everything after them.
pub fn gel_sheet_scenario(name: &str, cells: [usize; 3], time: &str, sheet_to: &str, rest: &str) -> String {
    format!(
        r#"
[scenario]
name = "{name}"
[grid]
size = ["2 mm", "1 mm", "1 mm"]
cells = [{}, {}, {}]
default_material = "tissue"
[time]
{time}
[[material]]
name = "gel"
role = "depot"
[[material]]
name = "tissue"
role = "tissue"
[[region]]
name = "sheet"
material = "gel"
shape = "layer"
axis = "x"
from = "0 mm"
to = "{sheet_to}"
{rest}
"#,
        cells[0], cells[1], cells[2]
    )
}

/// A 2D slab (10 × 8 cells, 2 mm × 0.8 mm): VEGF binds heparin in a 0.6 mm gel layer (so it has
/// a bound field), IL-6 does not; `time` is the body of `[time]`.
pub fn binding_slab_2d(name: &str, time: &str) -> String {
    format!(
        r#"[scenario]
name = "{name}"
[grid]
size = ["2 mm", "0.8 mm", "1 mm"]
cells = [10, 8, 1]
default_material = "tissue"
[time]
{time}
[[material]]
name = "gel"
role = "depot"
[[material]]
name = "tissue"
role = "tissue"
[[region]]
name = "sheet"
material = "gel"
shape = "layer"
axis = "x"
from = "0 mm"
to = "0.6 mm"
[[species]]
name = "VEGF"
unit = "pg/mL"
molecular_weight = "45 kDa"
diffusivity = {{ gel = "105 um^2/s", tissue = "41 um^2/s" }}
decay = {{ gel = "90 min", tissue = "33.7 min" }}
initial = {{ gel = "300 pg/mL" }}
[[species]]
name = "IL-6"
unit = "pg/mL"
molecular_weight = "21 kDa"
diffusivity = {{ gel = "120 um^2/s", tissue = "60 um^2/s" }}
decay = {{ gel = "2 h", tissue = "1 h" }}
initial = {{ gel = "50 pg/mL" }}
[[pool]]
name = "heparin"
density = {{ gel = "1 uM" }}
[[binding]]
species = "VEGF"
pool = "heparin"
k_on = "4.2e5 1/(M*s)"
K_d = "24 nM"
[[boundary]]
faces = ["xmax"]
species = ["all"]
type = "fixed"
value = "0 pg/mL"
"#
    )
}
