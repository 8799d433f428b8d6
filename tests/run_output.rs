//! The run driver end to end on the reference engine: the output folder has every file, the
//! files agree with each other, and the books in summary.json balance.

mod common;

use common::*;
use secretome::output::OutputDir;
use secretome::problem::Boundary;
use secretome::run::{self, Silent};
use secretome::solver::cpu::CpuReference;

/// Reads a `.npy` written by the run: returns (shape, f32 data).
fn read_npy_f32(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
    let shape_text = &header[header.find("'shape': (").unwrap() + 10..];
    let shape = shape_text[..shape_text.find(')').unwrap()]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data = bytes[10 + len..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    (shape, data)
}

#[test]
fn run_writes_consistent_output_folder() {
    let sink = Boundary::Fixed { value: 0.0 };
    let gel_then_tissue = |x: f64| u32::from(x > 2e-4);
    let a = species("VEGF", &[2e-11, 1e-10], &[0.0, 1e-3], &[40.0, 0.0], faces(Boundary::NoFlux, sink));
    let b = species("IL-6 (free)", &[5e-11, 5e-11], &[1e-4, 1e-4], &[5.0, 0.0], faces(Boundary::NoFlux, sink));
    let mut p = line(50, 1e-3, &["gel", "tissue"], gel_then_tissue, vec![a, b], 1800.0);
    p.schedule.output_times = vec![600.0, 1200.0, 1800.0];
    p.schedule.snapshot_times = vec![1200.0, 1800.0];

    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::create(&dir.path().join("run"), false).unwrap();
    let mut engine = CpuReference::new(&p);
    let summary = run::run(&p, &mut engine, &out, &mut Silent).unwrap();
    let root = dir.path().join("run");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["grid"]["cells"], serde_json::json!([50, 1, 1]));
    assert_eq!(json["scenario"]["species"][0]["concentration_unit"], "ng/mL");
    for s in json["species"].as_array().unwrap() {
        let err = s["relative_balance_error"].as_f64().unwrap();
        assert!(err < 1e-5, "{}: balance error {err}", s["name"]);
        assert!(s["outflow_per_face"]["xmax"].as_f64().unwrap() > 0.0);
        assert!(s["released_percent"].as_f64().unwrap() > 0.0);
    }
    // Snapshots at 0, 1200 and 1800 s for both species, plus the material ids.
    let snaps = json["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 6);
    assert!(root.join("fields/materials.npy").exists());
    assert!(!std::fs::read_dir(root.join("fields")).unwrap().any(|e| e.unwrap().path().extension().unwrap() == "tmp"));

    // The last snapshot of species 0 holds the amount summary.json reports as present.
    let last = snaps.iter().rfind(|s| s["species"] == "VEGF").unwrap();
    let (shape, field) = read_npy_f32(&root.join(last["file"].as_str().unwrap()));
    assert_eq!(shape, vec![1, 1, 50]);
    let volume_ml = p.grid.cell_volume() / 1e-6;
    let from_field: f64 = field.iter().map(|&c| c as f64 * volume_ml).sum();
    let present = summary.species[0].present;
    assert!((from_field - present).abs() < 1e-5 * present, "field {from_field} vs summary {present}");

    // timeseries.csv: one row per time × species × material, released column non-decreasing.
    let csv = std::fs::read_to_string(root.join("timeseries.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4 * 2 * 2);
    assert!(csv.contains("\"IL-6 (free)\"") || csv.contains("IL-6 (free)"));
    let released: Vec<f64> = rows
        .iter()
        .filter(|r| r.contains(",VEGF,gel,"))
        .map(|r| r.split(',').nth(7).unwrap().parse().unwrap())
        .collect();
    assert_eq!(released.len(), 4);
    assert!(released.windows(2).all(|w| w[1] >= w[0]), "release curve not monotone: {released:?}");
}

/// Regression: `summary.json` had `"steps"` twice in `"time"` (an echo beside the flattened step
/// statistics), which strict JSON readers refuse; and `--backend reference` reported `"cpu"`.
#[test]
fn summary_json_has_each_key_once_and_names_the_reference_backend() {
    let s = species("VEGF", &[1e-10], &[0.0], &[10.0], faces(Boundary::NoFlux, Boundary::NoFlux));
    let mut p = line(20, 4e-4, &["gel"], |_| 0, vec![s], 60.0);
    p.schedule.output_times = vec![60.0];
    p.schedule.snapshot_times = vec![60.0];
    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::create(&dir.path().join("run"), false).unwrap();
    run::run(&p, &mut CpuReference::new(&p), &out, &mut Silent).unwrap();
    let text = std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap();
    // Every object's keys, on one line each in the pretty output: no key twice at one level.
    let mut stack: Vec<std::collections::HashSet<String>> = vec![Default::default()];
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix('"') {
            if let Some(end) = rest.find("\":") {
                let key = rest[..end].to_string();
                assert!(stack.last_mut().unwrap().insert(key.clone()), "key {key:?} twice in one object");
            }
        }
        if t.ends_with('{') {
            stack.push(Default::default());
        }
        if t.starts_with('}') {
            stack.pop();
        }
    }
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(json["time"]["steps"].as_u64().unwrap() > 0);
    assert_eq!(json["engine"]["backend"], "reference");
}

/// Values that overflow f32 while stepping stop the run with the species, the cell (in mm), the
/// material and the time, on every engine, instead of running to the end with NaN books.
#[test]
fn a_value_that_overflows_while_stepping_stops_the_run_naming_where() {
    use common::engines::{Gpu, engines};
    use secretome::run::RunError;
    // Loadings near f32's largest value between two boundaries far below it: the fluxes
    // overflow in the first step.
    let edge = Boundary::Fixed { value: -3e38 };
    let s = species("hot", &[1e-10, 1e-10], &[0.0, 0.0], &[3e38, 0.0], faces(edge, edge));
    let mut p = line(20, 2e-4, &["gel", "tissue"], |x| u32::from(x > 1e-4), vec![s], 60.0);
    p.schedule.output_times = vec![30.0, 60.0];
    for mut e in engines(&p, Gpu::Include) {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::create(&dir.path().join("run"), false).unwrap();
        let Err(err) = run::run(&p, e.engine.as_mut(), &out, &mut Silent) else {
            panic!("{}: the run must fail", e.name)
        };
        let text = err.to_string();
        eprintln!("{}: {text}", e.name);
        assert!(matches!(err, RunError::NonFinite { .. }), "{}: {text}", e.name);
        assert!(text.contains("hot") && text.contains("mm") && text.contains("material gel"), "{}: {text}", e.name);
        assert!(!dir.path().join("run/summary.json").exists(), "{}: a failed run must not look finished", e.name);
    }
}

/// A run whose books do not balance fails, and its summary says it is not complete.
#[test]
fn books_that_do_not_balance_fail_the_run() {
    use secretome::run::{BALANCE_BOUND, RunError};
    // A species loaded far below f32's normal range: every value flushes to zero in the first
    // step, so the amount vanishes without being booked.
    let s = species("faint", &[1e-10], &[0.0], &[1e-39], faces(Boundary::NoFlux, Boundary::NoFlux));
    let p = line(10, 1e-4, &["gel"], |_| 0, vec![s], 10.0);
    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::create(&dir.path().join("run"), false).unwrap();
    let Err(err) = run::run(&p, &mut CpuReference::new(&p), &out, &mut Silent) else { panic!("the run must fail") };
    assert!(matches!(err, RunError::Balance { error, .. } if error > BALANCE_BOUND), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], false);
    assert!(summary["error"].as_str().unwrap().contains("faint"));
    assert_eq!(summary["balance_bound"], BALANCE_BOUND);
}
