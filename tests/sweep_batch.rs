//! Batched sweeps: small cases on one grid run as one problem with every case's species, then
//! written to each case's own folder. With a fixed step every case's fields and books are those
//! of its own run, bit for bit (reference and fast engines); with an adaptive step they agree
//! within the tolerance; on the GPU within 1e-5. Cases that change the grid or the schedule run
//! apart, saying why; an incomplete case of a group makes the whole group run again, to the
//! same outputs.

mod common;

use secretome::output::OutputDir;
use secretome::solver::{Backend, EngineFactory};
use secretome::sweep::Sweep;
use secretome::sweep::batch::{merge, plan_groups, run_cases_batched, run_group};
use secretome::sweep::run::{Outcome, Shard, collect, run_cases};
use std::path::Path;

/// Two species, a replacing dose at 1 h, an exposure target with a threshold, an open face.
fn base(time: &str) -> String {
    common::gel_sheet_scenario(
        "sheet",
        [24, 1, 1],
        time,
        "0.5 mm",
        r#"
[[species]]
name = "VEGF"
unit = "pg/mL"
diffusivity = { gel = "105 um^2/s", tissue = "41 um^2/s" }
decay = { gel = "90 min", tissue = "33.7 min" }
initial = { gel = "30 pg/mL" }
bioactive_threshold = "2 pg/mL"
[[species]]
name = "PDGF"
unit = "ng/mL"
diffusivity = { gel = "60 um^2/s", tissue = "30 um^2/s" }
decay = { gel = "3 h", tissue = "1 h" }
initial = { gel = "5 ng/mL" }
[[dose]]
region = "sheet"
mode = "replace"
times = ["1 h"]
[[boundary]]
faces = ["xmax"]
species = ["all"]
type = "fixed"
value = "0 pg/mL"
[metrics]
targets = ["tissue"]
"#,
    )
}

const FIXED: &str = "end = \"2 h\"\noutput_interval = \"20 min\"\nscheme = \"adi\"\ndt = \"60 s\"";
const ADAPTIVE: &str = "end = \"2 h\"\noutput_interval = \"20 min\"\nscheme = \"adi\"\ntolerance = 1e-3";

/// Four cases that differ only in species values.
const FOUR: &str = r#"
[sweep]
base = "base.toml"
[[vary]]
key = "species[VEGF].initial.gel"
values = ["10 pg/mL", "40 pg/mL"]
[[vary]]
key = "species[PDGF].diffusivity.tissue"
values = ["10 um^2/s", "50 um^2/s"]
"#;

fn sweep(dir: &Path, time: &str, text: &str) -> Sweep {
    std::fs::write(dir.join("base.toml"), base(time)).unwrap();
    std::fs::write(dir.join("sweep.toml"), text).unwrap();
    Sweep::from_str(text, "sweep.toml", dir).unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.npy` of a case folder, by name.
fn fields(case: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(case.join("fields"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), read(&p)))
        .collect();
    out.sort();
    out
}

/// The float32 values of an `.npy` written by the run (header then raw little-endian data).
fn npy_values(bytes: &[u8]) -> Vec<f32> {
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

/// summary.json without what depends on how the run was made (engine, steps, wall time).
fn summary_of_the_case(case: &Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(&read(&case.join("summary.json"))).unwrap();
    for k in ["engine", "time", "wall_time_s", "batched_with"] {
        v.as_object_mut().unwrap().remove(k);
    }
    v
}

#[test]
fn fixed_step_batches_give_every_case_its_own_runs_fields_and_books_bit_for_bit() {
    for backend in [Backend::Reference, Backend::Cpu] {
        let dir = tempfile::tempdir().unwrap();
        let s = sweep(dir.path(), FIXED, FOUR);
        let factory = EngineFactory::new(backend, 2).unwrap();
        let (alone, batched) = (dir.path().join("alone"), dir.path().join("batched"));
        run_cases(&s, &alone, Shard::ALL, 1, &factory, None).unwrap();
        let done = run_cases_batched(&s, &batched, Shard::ALL, 1, 4, &factory, None).unwrap();
        assert_eq!(done, (0..4).map(|k| (k, Outcome::Ran)).collect::<Vec<_>>());
        for case in &s.cases {
            let (a, b) = (alone.join(case.folder()), batched.join(case.folder()));
            let fa = fields(&a);
            assert_eq!(fa.len(), 2 * 2 + 1, "{backend:?}: two species at the start and the end, and the materials");
            assert!(fa == fields(&b), "{backend:?} case {}: the fields differ from its own run", case.index);
            for file in ["timeseries.csv", "exposure.csv", "scenario.toml", "case.json"] {
                assert!(read(&a.join(file)) == read(&b.join(file)), "{backend:?} case {}: {file}", case.index);
            }
            assert_eq!(summary_of_the_case(&a), summary_of_the_case(&b), "{backend:?} case {}", case.index);
            let summary: serde_json::Value = serde_json::from_slice(&read(&b.join("summary.json"))).unwrap();
            assert_eq!(summary["batched_with"], serde_json::json!([0, 1, 2, 3]));
            assert_eq!(summary["complete"], true);
            assert_eq!(
                summary["time"]["steps"],
                serde_json::from_slice::<serde_json::Value>(&read(&a.join("summary.json"))).unwrap()["time"]["steps"]
            );
        }
        assert_eq!(collect(&[&batched]).unwrap().complete, 4);
    }
}

#[test]
fn adaptive_step_batches_agree_with_their_own_runs_within_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(dir.path(), ADAPTIVE, FOUR);
    let factory = EngineFactory::new(Backend::Cpu, 2).unwrap();
    let (alone, batched) = (dir.path().join("alone"), dir.path().join("batched"));
    run_cases(&s, &alone, Shard::ALL, 1, &factory, None).unwrap();
    run_cases_batched(&s, &batched, Shard::ALL, 1, 4, &factory, None).unwrap();
    for case in &s.cases {
        let p = s.problem(case).unwrap();
        let scales = p.concentration_scales();
        let (a, b) = (fields(&alone.join(case.folder())), fields(&batched.join(case.folder())));
        assert_eq!(a.iter().map(|x| &x.0).collect::<Vec<_>>(), b.iter().map(|x| &x.0).collect::<Vec<_>>());
        for ((name, x), (_, y)) in a.iter().zip(&b).filter(|(f, _)| !f.0.starts_with("materials")) {
            let scale = if name.starts_with("VEGF") { scales[0] } else { scales[1] };
            let worst = npy_values(x).iter().zip(npy_values(y)).map(|(u, v)| (u - v).abs() as f64).fold(0.0, f64::max);
            // The tolerance bounds each step's local error per unit of the species' scale; over
            // the run's few dozen steps the two step sequences end within a few tolerances.
            assert!(worst <= 5e-3 * scale, "case {} {name}: differs by {worst:e} (scale {scale})", case.index);
        }
        let books = |dir: &Path| summary_of_the_case(&dir.join(case.folder()))["species"].clone();
        let (ba, bb) = (books(&alone), books(&batched));
        for (x, y) in ba.as_array().unwrap().iter().zip(bb.as_array().unwrap()) {
            let (r, q) = (x["released_percent"].as_f64().unwrap(), y["released_percent"].as_f64().unwrap());
            assert!((r - q).abs() <= 0.5, "case {}: released {r} % alone, {q} % batched", case.index);
            assert!(y["relative_balance_error"].as_f64().unwrap() < 1e-5, "{y}");
        }
    }
}

#[test]
fn on_the_gpu_a_batched_run_equals_the_cases_own_runs_within_1e_5() {
    let Some(context) = secretome::solver::gpu::context_for_tests("batched sweep") else { return };
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(dir.path(), FIXED, FOUR);
    let problems: Vec<_> = s.cases.iter().map(|c| s.problem(c).unwrap()).collect();
    let folders: Vec<_> =
        (0..4).map(|k| Some(OutputDir::create(&dir.path().join(format!("b{k}")), false).unwrap())).collect();
    let mut engine = secretome::solver::gpu::GpuEngine::new(&context, &merge(&problems)).unwrap();
    let done = run_group(&problems, folders, &[0, 1, 2, 3], &mut engine, None).unwrap();
    assert!(done.iter().all(|r| matches!(r, Some(Ok(_)))));
    for (k, p) in problems.iter().enumerate() {
        let alone = dir.path().join(format!("a{k}"));
        let mut engine = secretome::solver::gpu::GpuEngine::new(&context, p).unwrap();
        secretome::run::run(p, &mut engine, &OutputDir::create(&alone, false).unwrap(), &mut secretome::run::Silent)
            .unwrap();
        let (a, b) = (fields(&alone), fields(&dir.path().join(format!("b{k}"))));
        assert_eq!(a.len(), b.len());
        for ((name, x), (_, y)) in a.iter().zip(&b).filter(|(f, _)| !f.0.starts_with("materials")) {
            let (x, y) = (npy_values(x), npy_values(y));
            let top = x.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
            let (i, worst) = x
                .iter()
                .zip(&y)
                .map(|(u, v)| (u - v).abs())
                .enumerate()
                .fold((0, 0.0f32), |m, (i, d)| if d > m.1 { (i, d) } else { m });
            assert!(
                worst <= 1e-5 * top,
                "case {k} {name}: cell {i}: alone {}, batched {}, |Δ| = {worst:e}",
                x[i],
                y[i]
            );
        }
    }
}

#[test]
fn cases_that_change_the_grid_or_the_schedule_run_apart_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[sweep]
base = "base.toml"
[[vary]]
key = "region[sheet].to"
values = ["0.5 mm", "0.25 mm"]
[[vary]]
key = "time.end"
values = ["80 min", "2 h"]
[[vary]]
key = "species[VEGF].initial.gel"
values = ["10 pg/mL", "40 pg/mL"]
"#;
    let s = sweep(dir.path(), FIXED, text);
    let problems: Vec<_> = s.cases.iter().map(|c| s.problem(c).unwrap()).collect();
    let labels: Vec<usize> = (0..problems.len()).collect();
    let (groups, reasons) = plan_groups(&problems, &labels, 4);
    // Only the initial loading changes within each pair.
    assert_eq!(groups, vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]]);
    assert!(reasons.iter().any(|r| r.contains("material maps differ")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("end times differ")), "{reasons:?}");

    // The grid itself.
    let grid = "[sweep]\nbase = \"base.toml\"\n[[vary]]\nkey = \"grid.cells\"\nvalues = [[24, 1, 1], [12, 1, 1]]\n";
    let g = sweep(dir.path(), FIXED, grid);
    let problems: Vec<_> = g.cases.iter().map(|c| g.problem(c).unwrap()).collect();
    let (groups, reasons) = plan_groups(&problems, &[0, 1], 4);
    assert_eq!(groups, vec![vec![0], vec![1]]);
    assert!(reasons[0].contains("grids differ") && reasons[0].contains("case 1"), "{reasons:?}");

    // From the command line: the reasons on stderr, once each, and every case complete.
    let out = dir.path().join("out");
    std::fs::write(dir.path().join("sweep.toml"), text).unwrap();
    let o = common::command::secretome(&[
        "sweep",
        dir.path().join("sweep.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--threads",
        "1",
        "--batch",
        "4",
    ]);
    let err = common::command::stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("material maps differ").count(), 1, "{err}");
    assert_eq!(err.matches("end times differ").count(), 1, "{err}");
    assert_eq!(collect(&[&out]).unwrap().complete, 8);
    let summary: serde_json::Value = serde_json::from_slice(&read(&out.join("case_00003/summary.json"))).unwrap();
    assert_eq!(summary["batched_with"], serde_json::json!([2, 3]));
}

#[test]
fn a_group_with_an_incomplete_case_runs_again_to_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    // An adaptive step: the group's steps depend on every case in it, so only a rerun of the
    // whole group gives the same numbers again.
    let s = sweep(dir.path(), ADAPTIVE, FOUR);
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let out = dir.path().join("out");
    run_cases_batched(&s, &out, Shard::ALL, 1, 4, &factory, None).unwrap();
    let first: Vec<_> = s
        .cases
        .iter()
        .map(|c| (fields(&out.join(c.folder())), read(&out.join(c.folder()).join("timeseries.csv"))))
        .collect();
    let summary2 = summary_of_the_case(&out.join("case_00002"));
    std::fs::remove_file(out.join("case_00002/summary.json")).unwrap();
    std::fs::remove_file(out.join("case_00002/timeseries.csv")).unwrap();
    let again = run_cases_batched(&s, &out, Shard::ALL, 1, 4, &factory, None).unwrap();
    assert_eq!(again, vec![(0, Outcome::Skipped), (1, Outcome::Skipped), (2, Outcome::Ran), (3, Outcome::Skipped)]);
    let second: Vec<_> = s
        .cases
        .iter()
        .map(|c| (fields(&out.join(c.folder())), read(&out.join(c.folder()).join("timeseries.csv"))))
        .collect();
    assert!(first == second, "the outputs after the rerun differ");
    assert_eq!(summary_of_the_case(&out.join("case_00002")), summary2);
    // Everything complete: nothing runs.
    let third = run_cases_batched(&s, &out, Shard::ALL, 1, 4, &factory, None).unwrap();
    assert!(third.iter().all(|(_, o)| *o == Outcome::Skipped));
}
