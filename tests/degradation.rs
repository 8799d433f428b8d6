//! Degrading gels on every engine: a step change in the gel's diffusivity matches two runs
//! joined at the step, sites lost by the gel free what they held with the books closed, and a
//! degrading heparin gel releases faster than the same gel that keeps its shape.

mod common;

use common::engines::{Gpu, engines};
use secretome::problem::{Problem, equilibrium_bound};
use secretome::run::{Driver, Silent};

fn scenario(text: &str) -> Problem {
    secretome::scenario::from_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A 1D gel sheet (0.5 mm) releasing into 1.5 mm of decaying tissue, with `extra` TOML added
/// (binding, degradation) and `time` as the [time] table's body.
fn sheet(time: &str, extra: &str) -> Problem {
    let species = r#"
[[species]]
name = "f"
unit = "nM"
diffusivity = { gel = "20 um^2/s", tissue = "60 um^2/s" }
decay = { gel = "0 1/s", tissue = "1 h" }
initial = { gel = "10 nM" }
"#;
    scenario(&common::gel_sheet_scenario("sheet", [40, 1, 1], time, "0.5 mm", &format!("{species}{extra}")))
}

#[test]
fn a_step_in_the_gel_diffusivity_matches_two_runs_joined_at_the_step() {
    let time = "end = \"2 h\"\noutput_interval = \"30 min\"\nscheme = \"adi\"\ndt = \"60 s\"";
    let stepped = sheet(
        time,
        "[[degradation]]\nmaterial = \"gel\"\ndiffusivity_factor = [[\"0 h\", 1.0], [\"45 min\", 1.0], [\"45 min\", 3.0]]",
    );
    let plain = sheet(time, "");
    let mut tripled = plain.clone();
    for s in &mut tripled.species {
        s.diffusivity[0] *= 3.0;
    }
    let mut runs = engines(&stepped, Gpu::Include);
    for (mut named, mut joined) in runs.drain(..).zip(engines(&plain, Gpu::Include)) {
        let engine = named.engine.as_mut();
        let mut driver = Driver::new(&stepped, engine).unwrap();
        while !driver.done() {
            driver.advance(engine, &mut Silent).unwrap();
        }
        let whole = engine.read_field().unwrap();
        // The same steps by hand: 45 one-minute steps, new coefficients, 75 more.
        let other = joined.engine.as_mut();
        other.step(45, 60.0).unwrap();
        other.reduce_totals().unwrap();
        other.set_coefficients(&tripled).unwrap();
        other.step(75, 60.0).unwrap();
        let parts = other.read_field().unwrap();
        let scale = whole.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        for (i, (a, b)) in whole.iter().zip(&parts).enumerate() {
            assert!((a - b).abs() <= 1e-6 * scale, "{}: cell {i}: {a} (one run) vs {b} (joined)", named.name);
        }
        assert!(driver.books().balance_error(0) <= 1e-5, "{}", named.name);
    }
}

#[test]
fn lost_sites_free_what_they_held_and_the_bound_part_follows_the_sites() {
    // A closed uniform box: nothing leaves, binding is fast (relaxation 0.1 s), the sites halve
    // every 2 h; the bound part follows the equilibrium on the sites left, and what the lost
    // sites held is free.
    let text = r#"
[scenario]
name = "losing_sites"
[grid]
size = ["0.1 mm", "0.1 mm", "1 mm"]
cells = [4, 4, 1]
default_material = "gel"
[time]
end = "6 h"
output_interval = "1 h"
scheme = "adi"
tolerance = 1e-4
[[material]]
name = "gel"
role = "depot"
[[species]]
name = "f"
unit = "nM"
diffusivity = { gel = "50 um^2/s" }
decay = { gel = "0 1/s" }
initial = { gel = "100 nM" }
[[pool]]
name = "heparin"
density = { gel = "1 uM" }
[[binding]]
species = "f"
pool = "heparin"
k_on = "1e7 1/(M*s)"
K_d = "50 nM"
[[degradation]]
material = "gel"
site_loss = "2 h"
update_interval = "10 min"
"#;
    let problem = scenario(text);
    let rate = std::f64::consts::LN_2 / 7200.0;
    for mut named in engines(&problem, Gpu::Include) {
        let engine = named.engine.as_mut();
        let mut driver = Driver::new(&problem, engine).unwrap();
        while !driver.done() {
            let t = driver.advance(engine, &mut Silent).unwrap();
            let books = driver.books();
            let cells = problem.grid.n_cells() as f64;
            let volume = problem.grid.cell_volume() / problem.species[0].unit.volume_si;
            let bound = books.bound[0][0] / (cells * volume);
            let total = (books.present[0][0] + books.bound[0][0]) / (cells * volume);
            assert!((total - 100.0).abs() <= 1e-4 * 100.0, "{}: total {total} nM at t = {t} s", named.name);
            // The sites are updated every 10 min, after the outputs at that time: the engine
            // holds the sites of 10 min ago, and binding (relaxation 0.1 s) is at equilibrium
            // with them. In mol/m³: 100 nM = 1e-4, sites 1e-3·e^(−k(t − 600 s)), K_d 5e-5.
            let want = equilibrium_bound(1e-4, 1e-3 * (-rate * (t - 600.0)).exp(), 5e-5) * 1e6;
            assert!(
                (bound - want).abs() <= 2e-4 * want,
                "{}: bound {bound} nM at t = {t} s, equilibrium {want}",
                named.name
            );
        }
        assert!(driver.books().balance_error(0) <= 1e-5, "{}", named.name);
    }
}

#[test]
fn a_degrading_heparin_gel_releases_faster_than_the_same_gel_intact() {
    let time = "end = \"12 h\"\noutput_interval = \"1 h\"\nscheme = \"adi\"\ntolerance = 1e-3";
    let binding = r#"
[[pool]]
name = "heparin"
density = { gel = "2 uM" }
[[binding]]
species = "f"
pool = "heparin"
k_on = "4.2e5 1/(M*s)"
K_d = "20 nM"
"#;
    let intact = sheet(time, binding);
    let degrading = sheet(
        time,
        &format!(
            "{binding}\n[[degradation]]\nmaterial = \"gel\"\ndiffusivity_rate = \"0.2 1/h\"\ndiffusivity_max_factor = 5\nsite_loss = \"0.3 1/h\""
        ),
    );
    for (mut a, mut b) in engines(&intact, Gpu::Include).into_iter().zip(engines(&degrading, Gpu::Include)) {
        let mut released = Vec::new();
        for (problem, engine) in [(&intact, a.engine.as_mut()), (&degrading, b.engine.as_mut())] {
            let mut driver = Driver::new(problem, engine).unwrap();
            while !driver.done() {
                driver.advance(engine, &mut Silent).unwrap();
            }
            let error = driver.books().balance_error(0);
            assert!(error <= 1e-5, "{}: books balance to {error:e}", a.name);
            let (out, put_in) = driver.books().released(problem, 0);
            released.push(out / put_in);
        }
        assert!(
            released[1] > 1.5 * released[0],
            "{}: the degrading gel released {:.3} of its load in 12 h, the intact one {:.3}",
            a.name,
            released[1],
            released[0]
        );
    }
}
