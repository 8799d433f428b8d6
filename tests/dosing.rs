//! Dosing schedules on every engine: the stepper lands on every dose, the books take what each
//! dose adds and what a replaced dressing takes away, and a train of top-ups decaying in a
//! closed, uniform box follows the exact sum of exponentials.

mod common;

use common::engines::{Gpu, engines};
use secretome::problem::Problem;
use secretome::run::{Driver, Silent};

fn scenario(text: &str) -> Problem {
    secretome::scenario::from_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A 1D gel sheet (0.4 mm) on 1.6 mm of tissue that clears and degrades the factor; the sheet
/// is replaced every `every` up to 5 h, each time with 100 ng/mL.
fn replaced_sheet(scheme: &str) -> Problem {
    let step = if scheme == "adi" { "tolerance = 1e-4" } else { "" };
    scenario(&common::gel_sheet_scenario(
        "replaced_sheet",
        [50, 1, 1],
        &format!("end = \"6 h\"\noutput_interval = \"1 h\"\nscheme = \"{scheme}\"\n{step}"),
        "0.4 mm",
        r#"
[[species]]
name = "f"
unit = "ng/mL"
diffusivity = { gel = "50 um^2/s", tissue = "40 um^2/s" }
decay = { gel = "0 1/s", tissue = "2 h" }
clearance = { tissue = "0.1 1/h" }
initial = { gel = "100 ng/mL" }
[[dose]]
region = "gel"
mode = "replace"
every = "1 h"
until = "5 h"
load = { f = "100 ng/mL" }
"#,
    ))
}

#[test]
fn replaced_dressings_book_what_they_held_and_doses_land_exactly() {
    for scheme in ["adi", "explicit"] {
        let problem = replaced_sheet(scheme);
        let gel_cells = problem.region_cells("gel").unwrap().len() as f64;
        let volume = problem.grid.cell_volume();
        // 100 ng/mL over the gel's cells, in ng (1 mL = 1e-6 m³).
        let per_dose = 100.0 * gel_cells * volume / 1e-6;
        for mut named in engines(&problem, Gpu::Include) {
            let name = format!("{} ({scheme})", named.name);
            let engine = named.engine.as_mut();
            let mut driver = Driver::new(&problem, engine).unwrap();
            let mut held_before = Vec::new();
            while !driver.done() {
                let t = driver.advance(engine, &mut Silent).unwrap();
                let books = driver.books();
                // Outputs at a dose time show the field just before the dose.
                held_before.push((t, books.present[0][0] + books.bound[0][0]));
                let removed = books.removed[0][0];
                let expected: f64 = held_before.iter().filter(|(tt, _)| *tt < t).map(|(_, h)| h).sum();
                assert!(
                    (removed - expected).abs() <= 1e-6 * expected.max(per_dose),
                    "{name}: at t = {t} s the dressings took {removed} ng, the gel held {expected} ng before them"
                );
            }
            let books = driver.books();
            let times: Vec<f64> = (1..=5).map(|h| h as f64 * 3600.0).collect();
            assert_eq!(books.dose_times, times, "{name}: doses applied at other times than scheduled");
            let added: f64 = books.added[0].iter().sum();
            assert!(
                (added - 5.0 * per_dose).abs() <= 1e-6 * per_dose,
                "{name}: the doses added {added} ng, the schedule {} ng",
                5.0 * per_dose
            );
            let error = books.balance_error(0);
            assert!(error <= 1e-5, "{name}: books balance to {error:e}");
            let (released, put_in) = books.released(&problem, 0);
            assert!(released > 0.0 && released < put_in, "{name}: released {released} of {put_in}");
        }
    }
}

/// A closed box of one material loaded uniformly, topped up at given times: nothing diffuses,
/// so c(t) = c0·e^(−kt) + Σ_{t_i ≤ t} L·e^(−k(t − t_i)) exactly.
#[test]
fn top_ups_decaying_in_a_closed_box_follow_the_exact_sum() {
    let text = r#"
[scenario]
name = "top_ups"
[grid]
size = ["0.2 mm", "0.2 mm", "1 mm"]
cells = [8, 8, 1]
default_material = "gel"
[time]
end = "10 h"
output_interval = "30 min"
scheme = "adi"
tolerance = 1e-5
[[material]]
name = "gel"
role = "depot"
[[species]]
name = "f"
unit = "ng/mL"
diffusivity = { gel = "100 um^2/s" }
decay = { gel = "2 h" }
initial = { gel = "40 ng/mL" }
[[dose]]
region = "gel"
mode = "add"
every = "3 h"
start = "1.5 h"
count = 3
times = ["8 h"]
load = { f = "25 ng/mL" }
"#;
    let problem = scenario(text);
    let k = std::f64::consts::LN_2 / 7200.0;
    let doses = [1.5, 4.5, 7.5, 8.0].map(|h| h * 3600.0);
    let exact = |t: f64| {
        40.0 * (-k * t).exp() + doses.iter().filter(|&&d| d <= t).map(|&d| 25.0 * (-k * (t - d)).exp()).sum::<f64>()
    };
    for mut named in engines(&problem, Gpu::Include) {
        let engine = named.engine.as_mut();
        let mut driver = Driver::new(&problem, engine).unwrap();
        while !driver.done() {
            let t = driver.advance(engine, &mut Silent).unwrap();
            let field = engine.read_field().unwrap();
            let want = exact(t - 1e-9);
            for &c in &field {
                assert!(((c as f64) - want).abs() <= 2e-4 * want, "{}: c = {c} at t = {t} s, exact {want}", named.name);
            }
        }
        assert_eq!(driver.books().dose_times, doses.to_vec(), "{}", named.name);
        let error = driver.books().balance_error(0);
        assert!(error <= 1e-5, "{}: books balance to {error:e}", named.name);
    }
}
