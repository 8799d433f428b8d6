//! Optimisation: the search core on analytic functions with known constrained optima; a real
//! tiny scenario whose optimum is known from Crank's solution; resuming an optimisation (finished,
//! with a larger budget, or interrupted mid-case) replays it from its case folders to the same
//! record; refusals of bad optimisation files, each naming the file and key.

mod common;

use common::command::{secretome, stderr};
use secretome::optimize::search::{Bound, Measured, Method, Settings, Status, search};
use secretome::optimize::{Optimization, OptimizeError, optimize};
use secretome::solver::{Backend, EngineFactory};
use std::path::Path;

// ---- The search core on analytic functions ----

fn settings(method: Method, d: usize, budget: usize, bounds: Vec<Bound>) -> Settings {
    Settings { method, budget, tolerance: 1e-6, start: vec![0.5; d], maximize: false, bounds }
}

/// min (x − 0.8)² + (y − 0.7)² subject to x + y ≤ 1: the constrained optimum is the
/// projection of (0.8, 0.7) onto the line, (0.55, 0.45).
#[test]
fn nelder_mead_finds_the_constrained_optimum_of_a_quadratic() {
    let s = settings(Method::NelderMead, 2, 400, vec![Bound::AtMost(1.0)]);
    let mut calls = 0;
    let found = search(
        &s,
        |u: &[f64]| -> Result<Measured, ()> {
            calls += 1;
            let f = 1.0 + (u[0] - 0.8).powi(2) + (u[1] - 0.7).powi(2);
            Ok(Measured { objective: Some(f), constraints: vec![Some(u[0] + u[1])] })
        },
        |_| {},
    )
    .unwrap();
    let best = &found.evaluations[found.best.unwrap()];
    assert_eq!(found.status, Status::Converged, "{} evaluations", found.evaluations.len());
    assert!(calls <= 400 && calls == found.evaluations.len());
    assert!((best.u[0] - 0.55).abs() < 2e-3 && (best.u[1] - 0.45).abs() < 2e-3, "{:?}", best.u);
    assert!(best.feasible && best.u[0] + best.u[1] <= 1.0);
}

/// The unconstrained minimum of a quadratic outside the box lands on the box's edge.
#[test]
fn a_minimum_outside_the_box_is_found_on_its_edge() {
    let s = settings(Method::NelderMead, 2, 400, vec![]);
    let found = search(
        &s,
        |u: &[f64]| -> Result<Measured, ()> {
            Ok(Measured { objective: Some((u[0] - 1.5).powi(2) + (u[1] - 0.3).powi(2)), constraints: vec![] })
        },
        |_| {},
    )
    .unwrap();
    let best = &found.evaluations[found.best.unwrap()];
    assert!((best.u[0] - 1.0).abs() < 1e-3 && (best.u[1] - 0.3).abs() < 2e-3, "{:?}", best.u);
}

/// max −(x − 0.3)² on [0, 1] subject to x ≥ 0.6: the optimum sits on the constraint.
#[test]
fn brent_finds_a_maximum_on_the_constraint() {
    let mut s = settings(Method::Brent, 1, 100, vec![Bound::AtLeast(0.6)]);
    s.maximize = true;
    let found = search(
        &s,
        |u: &[f64]| -> Result<Measured, ()> {
            Ok(Measured { objective: Some(-(u[0] - 0.3).powi(2)), constraints: vec![Some(u[0])] })
        },
        |_| {},
    )
    .unwrap();
    let best = &found.evaluations[found.best.unwrap()];
    assert_eq!(found.status, Status::Converged);
    assert!((best.u[0] - 0.6).abs() < 1e-5, "{:?}", best.u);
}

#[test]
fn the_budget_is_kept_and_an_error_stops_the_search() {
    let s = settings(Method::NelderMead, 3, 7, vec![]);
    let quadratic = |u: &[f64]| -> Result<Measured, String> {
        Ok(Measured { objective: Some(u.iter().map(|x| (x - 0.1).powi(2)).sum()), constraints: vec![] })
    };
    let mut seen = 0;
    let found = search(&s, quadratic, |all| seen = all.len()).unwrap();
    assert_eq!((found.status, found.evaluations.len(), seen), (Status::Budget, 7, 7));
    let mut n = 0;
    let err = search(
        &s,
        |_: &[f64]| {
            n += 1;
            if n == 2 {
                Err("run failed".to_string())
            } else {
                Ok(Measured { objective: Some(1.0), constraints: vec![] })
            }
        },
        |_| {},
    )
    .unwrap_err();
    assert_eq!(err, "run failed");
}

#[test]
fn infeasible_designs_rank_by_violation_and_below_any_feasible_one() {
    let b = Bound::AtLeast(10.0);
    assert_eq!(b.violation(Some(12.0)), 0.0);
    assert!((b.violation(Some(7.0)) - 0.3).abs() < 1e-12);
    assert_eq!(b.violation(None), 1.0);
    assert!((Bound::AtMost(0.0).violation(Some(0.25)) - 0.25).abs() < 1e-12);
    // Feasible only for x > 0.9, where the objective is largest: the search still gets there.
    let s = settings(Method::NelderMead, 1, 200, vec![Bound::AtLeast(0.9)]);
    let found = search(
        &s,
        |u: &[f64]| -> Result<Measured, ()> {
            Ok(Measured { objective: Some(1e3 * u[0]), constraints: vec![Some(u[0])] })
        },
        |_| {},
    )
    .unwrap();
    let best = &found.evaluations[found.best.expect("a feasible design")];
    assert!((best.u[0] - 0.9).abs() < 1e-4, "{:?}", best.u);
}

// ---- A real tiny scenario ----

/// Crank's plane sheet (scenarios/validation_slab_1d.toml, 50 cells): a 1 mm gel sheet loaded with
/// 100 pg/mL releasing into a perfect sink on both faces for 1 h, its diffusivity to be chosen.
fn slab() -> String {
    r#"
[scenario]
name = "slab"
[grid]
size = ["1 mm", "1 mm", "1 mm"]
cells = [50, 1, 1]
default_material = "gel"
[time]
end = "1 h"
output_interval = "2 min"
scheme = "explicit"
safety = 0.9
[[material]]
name = "gel"
role = "depot"
[[species]]
name = "solute"
unit = "pg/mL"
diffusivity = { gel = "100 um^2/s" }
decay = { gel = "0 1/s" }
initial = { gel = "100 pg/mL" }
[[boundary]]
faces = ["xmin", "xmax"]
species = ["all"]
type = "fixed"
value = "0 pg/mL"
"#
    .to_string()
}

/// Fraction released by a plane sheet of thickness L into a perfect sink on both faces at
/// τ = D t / L² (Crank 1975, eq. 4.18).
fn crank_released(tau: f64) -> f64 {
    let pi2 = std::f64::consts::PI.powi(2);
    1.0 - (0..200)
        .map(|n| {
            let m = (2 * n + 1) as f64;
            8.0 / (m * m * pi2) * (-m * m * pi2 * tau).exp()
        })
        .sum::<f64>()
}

/// The diffusivity (um²/s) at which the sheet releases `fraction` in one hour.
fn crank_diffusivity_for(fraction: f64) -> f64 {
    let (mut lo, mut hi) = (1e-6, 10.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if crank_released(mid) < fraction { lo = mid } else { hi = mid }
    }
    // τ = D t / L² with t = 3600 s, L = 1 mm; D in um²/s.
    0.5 * (lo + hi) * 1e-6 / 3600.0 * 1e12
}

/// The slowest sheet (largest time to half release) that still releases at least 60 % in an hour.
fn slab_file(method: Option<&str>, budget: usize, tolerance: f64) -> String {
    format!(
        "[optimize]\nbase = \"slab.toml\"\nmaximize = \"t50_h:solute\"\nbudget = {budget}\ntolerance = {tolerance}\n{}\
         [[constraint]]\nmetric = \"released_percent:solute\"\nat_least = 60\n\
         [[vary]]\nkey = \"species[solute].diffusivity.gel\"\nfrom = \"10 um^2/s\"\nto = \"1000 um^2/s\"\nscale = \"log\"\n",
        method.map(|m| format!("method = \"{m}\"\n")).unwrap_or_default()
    )
}

fn load(dir: &Path, text: &str) -> Result<Optimization, OptimizeError> {
    std::fs::write(dir.join("slab.toml"), slab()).unwrap();
    Optimization::from_str(text, "opt.toml", dir)
}

fn diffusivity(values: &[(String, String)]) -> f64 {
    values[0].1.trim_matches('"').split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn the_slowest_sheet_releasing_60_percent_matches_crank() {
    let expected = crank_diffusivity_for(0.6);
    assert!((19.0..21.0).contains(&expected), "{expected}");
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    for (method, budget) in [(None, 40), (Some("nelder-mead"), 60)] {
        let dir = tempfile::tempdir().unwrap();
        let opt = load(dir.path(), &slab_file(method, budget, 1e-4)).unwrap();
        let out = dir.path().join("out");
        let done = optimize(&opt, &out, &factory, None, &mut |_| {}).unwrap();
        let found = &done.found;
        let label = format!("{}: {} cases", opt.method.name(), found.evaluations.len());
        assert_eq!(found.status, Status::Converged, "{label}");
        assert!(found.evaluations.len() <= budget, "{label}");
        assert_eq!(
            std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count(),
            found.evaluations.len()
        );
        let best = found.best.expect("a feasible design");
        let d = diffusivity(&done.cases[best].values);
        // The numerical sheet (50 cells, explicit steps) releases within ~0.1 % of Crank's; the
        // search stops within 1e-4 of the log range (0.05 % in D).
        assert!((d / expected - 1.0).abs() < 0.01, "{label}: D = {d} um²/s, Crank {expected} um²/s");
        let released = found.evaluations[best].measured.constraints[0].unwrap();
        assert!((60.0..60.5).contains(&released), "{label}: released {released} %");
        // Every evaluation is a sweep case: collect reads the folder.
        assert_eq!(secretome::sweep::run::collect(&[&out]).unwrap().complete, found.evaluations.len(), "{label}");
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("optimize.json")).unwrap()).unwrap();
        assert_eq!(record["status"], "converged");
        assert_eq!(record["best"]["case"], best);
        assert_eq!(record["evaluations"].as_array().unwrap().len(), found.evaluations.len());
    }
}

fn modified(dir: &Path, name: &str) -> std::time::SystemTime {
    std::fs::metadata(dir.join(name).join("summary.json")).unwrap().modified().unwrap()
}

#[test]
fn an_optimisation_run_again_replays_its_cases_without_running_them() {
    let dir = tempfile::tempdir().unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let out = dir.path().join("out");
    let small = load(dir.path(), &slab_file(Some("nelder-mead"), 5, 1e-4)).unwrap();
    let first = optimize(&small, &out, &factory, None, &mut |_| {}).unwrap();
    assert_eq!((first.found.status, first.found.evaluations.len(), first.reused), (Status::Budget, 5, 0));
    let record = std::fs::read(out.join("optimize.json")).unwrap();
    let times: Vec<_> = first.cases.iter().map(|c| modified(&out, &c.folder())).collect();

    let mut lines = Vec::new();
    let again = optimize(&small, &out, &factory, None, &mut |l| lines.push(l)).unwrap();
    assert_eq!(again.reused, 5, "every case read back, none run");
    assert_eq!(again.cases, first.cases);
    assert_eq!(lines.len(), 5, "the progress is printed again");
    assert_eq!(std::fs::read(out.join("optimize.json")).unwrap(), record, "optimize.json differs");
    let times_again: Vec<_> = first.cases.iter().map(|c| modified(&out, &c.folder())).collect();
    assert_eq!(times, times_again, "a case folder was written again");

    // A larger budget goes on from where the first stopped.
    let larger = load(dir.path(), &slab_file(Some("nelder-mead"), 8, 1e-4)).unwrap();
    let more = optimize(&larger, &out, &factory, None, &mut |_| {}).unwrap();
    assert_eq!((more.reused, more.found.evaluations.len()), (5, 8));
    assert_eq!(more.cases[..5], first.cases[..]);

    // Another file's search does not take over the folder.
    let other = load(dir.path(), &slab_file(Some("nelder-mead"), 8, 1e-4).replace("10 um^2/s", "12 um^2/s")).unwrap();
    let err = optimize(&other, &out, &factory, None, &mut |_| {}).expect_err("refused").to_string();
    assert!(err.contains("another design") && err.contains("new --out"), "{err}");
}

// ---- Refusals ----

/// Runs `secretome optimize` on `text` (with the slab as `slab.toml` beside it) and expects a
/// refusal naming the file and every one of `also`; returns the message.
fn refused(text: &str, also: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slab.toml"), slab()).unwrap();
    let file = dir.path().join("opt.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("out");
    let o = secretome(&[
        "optimize",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--threads",
        "1",
    ]);
    let msg = stderr(&o);
    assert!(!o.status.success(), "accepted:\n{msg}");
    assert_eq!(o.status.code(), Some(1), "{msg}");
    assert!(!msg.contains("panicked"), "{msg}");
    assert!(msg.contains("opt.toml"), "no file name in: {msg}");
    for a in also {
        assert!(msg.contains(a), "no `{a}` in: {msg}");
    }
    msg
}

const HEAD: &str = "[optimize]\nbase = \"slab.toml\"\n";
const VARY: &str = "[[vary]]\nkey = \"species[solute].diffusivity.gel\"\nfrom = \"10 um^2/s\"\nto = \"1000 um^2/s\"\nscale = \"log\"\n";

#[test]
fn bad_optimisation_files_are_refused_naming_the_file_and_the_key() {
    let with = |optimize: &str, rest: &str| format!("{HEAD}{optimize}\n{rest}\n{VARY}");
    // Metrics: unknown, unknown species, unknown region.
    refused(&with("minimize = \"t5O_h:solute\"", ""), &["`optimize.minimize`", "unknown metric", "t50_h"]);
    refused(&with("minimize = \"t50_h:solut\"", ""), &["`optimize.minimize`", "solut", "solute"]);
    refused(
        &with("minimize = \"t50_h:solute\"", "[[constraint]]\nmetric = \"coverage:solute@wound_bed\"\nat_least = 0.5"),
        &["`constraint[0].metric`", "wound_bed", "target regions are none"],
    );
    refused(&with("maximize = \"released_percent:VEGF\"", ""), &["`optimize.maximize`", "VEGF", "solute"]);
    refused(&with("minimize = \"t50_h\"", ""), &["`optimize.minimize`", "t50_h:SPECIES"]);
    // Objective and constraints.
    refused(&with("", ""), &["exactly one of `optimize.minimize` and `optimize.maximize`"]);
    refused(&with("minimize = \"t50_h:solute\"\nmaximize = \"t90_h:solute\"", ""), &["exactly one of"]);
    refused(
        &with("minimize = \"t50_h:solute\"", "[[constraint]]\nmetric = \"released_percent:solute\""),
        &["`constraint[0]`", "exactly one of `at_least` and `at_most`"],
    );
    refused(
        &with(
            "minimize = \"t50_h:solute\"",
            "[[constraint]]\nmetric = \"released_percent:solute\"\nat_least = 1\nat_most = 2",
        ),
        &["`constraint[0]`", "exactly one of `at_least` and `at_most`"],
    );
    // Budget, method.
    refused(&with("minimize = \"t50_h:solute\"\nbudget = 0", ""), &["`optimize.budget` = 0", "accepted"]);
    refused(&with("minimize = \"t50_h:solute\"\nmethod = \"simplex\"", ""), &["`optimize.method`", "nelder-mead"]);
    // Ranges: a wrong unit, from = to, a key that is not there, a list.
    let m = "minimize = \"t50_h:solute\"";
    refused(
        &format!("{HEAD}{m}\n[[vary]]\nkey = \"species[solute].diffusivity.gel\"\nfrom = \"10 mm\"\nto = \"20 mm\""),
        &["`vary[0].from`", "species[solute].diffusivity.gel", "10 mm", "um^2/s"],
    );
    refused(
        &format!(
            "{HEAD}{m}\n[[vary]]\nkey = \"species[solute].diffusivity.gel\"\nfrom = \"10 um^2/s\"\nto = \"10 um^2/s\""
        ),
        &["`vary[0]`", "nothing to search"],
    );
    refused(
        &format!(
            "{HEAD}{m}\n[[vary]]\nkey = \"species[solute].diffusion.gel\"\nfrom = \"10 um^2/s\"\nto = \"20 um^2/s\""
        ),
        &["`vary[0].key`", "no such value", "species[0].diffusivity.gel"],
    );
    refused(
        &format!("{HEAD}{m}\n[[vary]]\nkey = \"species[solute].diffusivity.gel\"\nvalues = [\"10 um^2/s\"]"),
        &["`vary[0]`", "a range"],
    );
    refused(&format!("{HEAD}{m}\n"), &["no [[vary]]"]);
}

#[test]
fn the_shipped_optimisation_finds_crank_s_diffusivity() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/optimize/slab_slowest_60_percent.toml");
    let opt = Optimization::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let done = optimize(&opt, dir.path(), &factory, None, &mut |_| {}).unwrap();
    assert_eq!(done.found.status, Status::Converged);
    assert!(done.found.evaluations.len() <= opt.budget);
    let d = diffusivity(&done.cases[done.found.best.unwrap()].values);
    let expected = crank_diffusivity_for(0.6);
    assert!((d / expected - 1.0).abs() < 0.005, "D = {d} um²/s, Crank {expected} um²/s");
}

#[test]
fn the_command_prints_the_best_design_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let file = common::command::scenario("optimize/slab_slowest_60_percent.toml");
    let args = ["optimize", &file, "--out", out.to_str().unwrap(), "--backend", "cpu", "--threads", "1"];
    let first = secretome(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let best = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(best.starts_with("best: case_") && best.contains("released_percent:solute = 60.0"), "{best}");
    assert!(stderr(&first).contains("t50_h:solute"), "no progress lines: {}", stderr(&first));
    let again = secretome(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout), best);
    let cases = std::fs::read_dir(&out).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert!(
        stderr(&again).contains(&format!("converged after {cases} cases ({cases} read from earlier runs)")),
        "{}",
        stderr(&again)
    );
}

#[test]
fn an_interrupted_optimisation_run_again_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let opt = load(dir.path(), &slab_file(Some("nelder-mead"), 4, 1e-4)).unwrap();
    let whole = dir.path().join("whole");
    optimize(&opt, &whole, &factory, None, &mut |_| {}).unwrap();

    // A stop that catches the first case at its first output time, with a checkpoint.
    let parts = dir.path().join("parts");
    let stop = std::sync::atomic::AtomicBool::new(true);
    let err = optimize(&opt, &parts, &factory, Some(&stop), &mut |_| {}).expect_err("stopped").to_string();
    assert!(err.contains("interrupted"), "{err}");
    assert!(parts.join("case_00000").join(secretome::run::CHECKPOINT_FILE).exists());
    let again = optimize(&opt, &parts, &factory, None, &mut |_| {}).unwrap();
    assert_eq!(again.reused, 0, "the interrupted case is resumed, not read as complete");
    let read = |d: &Path| std::fs::read_to_string(d.join("optimize.json")).unwrap();
    assert_eq!(read(&whole), read(&parts), "optimize.json differs");
}
