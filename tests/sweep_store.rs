//! The field store of a sweep (`--store zarr`): every case's every snapshot field read back from
//! `fields.zarr` equals, bit for bit, the `.npy` the same case writes without the store; cases not
//! yet run read NaN; shards written one after the other, or by two processes at once, give the
//! same store; a case complete with its `.npy` still there is moved on the next run; Python's zarr
//! and xarray read the store; a store that does not fit the sweep is refused.
//!
//! The Python check needs a Python 3 with `zarr` (2.x, which reads Zarr version 2 only), `xarray`
//! and `numpy` (Debian: `python3-zarr python3-xarray python3-numpy`); `SECRETOME_PYTHON` names
//! one, otherwise `python3` and then `/usr/bin/python3` are tried. Without one it says loudly that
//! it skipped; with `SECRETOME_REQUIRE_PYTHON=1` (CI) its absence is a failure.

mod common;

use common::command::{secretome, stderr};
use secretome::solver::{Backend, EngineFactory};
use secretome::sweep::Sweep;
use secretome::sweep::run::{FieldStore, Outcome, Shard, collect, run_cases, run_cases_into};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

/// The 2D slab of `tests/common` with seven snapshot times.
fn base() -> String {
    common::binding_slab_2d(
        "store_2d",
        "end = \"2 h\"\noutput_interval = \"20 min\"\nsnapshot_interval = \"20 min\"\nscheme = \"adi\"\ntolerance = 1e-3",
    )
}

/// Four cases; the sheet's thickness changes the materials map from case to case.
const SWEEP: &str = r#"
[sweep]
base = "base.toml"
[[vary]]
key = "region[sheet].to"
values = ["0.4 mm", "0.6 mm"]
[[vary]]
key = "species[VEGF].initial.gel"
values = ["100 pg/mL", "300 pg/mL"]
"#;

const ARRAYS: [&str; 3] = ["VEGF_free", "IL-6_free", "VEGF_bound"];
const TIMES: usize = 7;

/// Writes the base scenario and `text` as `sweep.toml` into `dir`; returns the sweep file.
fn sweep_file(dir: &Path, text: &str) -> PathBuf {
    std::fs::write(dir.join("base.toml"), base()).unwrap();
    std::fs::write(dir.join("sweep.toml"), text).unwrap();
    dir.join("sweep.toml")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The data of a `.npy` file as little-endian 32-bit words.
fn npy_words(path: &Path) -> Vec<u32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[start..].chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect()
}

fn open(store: &Path, name: &str) -> Array<FilesystemStore> {
    Array::open(Arc::new(FilesystemStore::new(store).unwrap()), &format!("/{name}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The chunk of `case` of array `name`, as bits.
fn chunk_bits(store: &Path, name: &str, case: usize) -> Vec<u32> {
    let array = open(store, name);
    if name == "materials" {
        array.retrieve_chunk::<Vec<u32>>(&[case as u64, 0, 0, 0]).unwrap()
    } else {
        array.retrieve_chunk::<Vec<f32>>(&[case as u64, 0, 0, 0, 0]).unwrap().iter().map(|v| v.to_bits()).collect()
    }
}

/// Asserts that the store holds case `k` exactly as the `.npy` files of `files/case_k` (a sweep
/// run without the store): every snapshot of its summary, and its materials.
fn assert_case_equals_npy(store: &Path, files: &Path, k: usize) {
    let case = files.join(format!("case_{k:05}"));
    let times: Vec<f64> = serde_json::from_value(json(&store.join("VEGF_free/.zattrs"))["time_s"].clone()).unwrap();
    let cells = 10 * 8;
    let summary = json(&case.join("summary.json"));
    let snapshots = summary["snapshots"].as_array().unwrap();
    assert_eq!(snapshots.len(), ARRAYS.len() * TIMES);
    for s in snapshots {
        let name = format!("{}_{}", s["species"].as_str().unwrap(), s["form"].as_str().unwrap());
        let t = times.iter().position(|&x| x == s["time_s"].as_f64().unwrap()).expect("a store time");
        let stored = chunk_bits(store, &name, k);
        let want = npy_words(&case.join(s["file"].as_str().unwrap()));
        let got = &stored[t * cells..(t + 1) * cells];
        if let Some(i) = (0..cells).find(|&i| got[i] != want[i]) {
            panic!(
                "case {k} {name} at t = {} s, cell {i}: store {} ≠ npy {}",
                times[t],
                f32::from_bits(got[i]),
                f32::from_bits(want[i])
            );
        }
    }
    assert_eq!(chunk_bits(store, "materials", k), npy_words(&case.join("fields/materials.npy")), "case {k} materials");
}

fn assert_case_is_nan(store: &Path, k: usize) {
    for name in ARRAYS {
        let bits = chunk_bits(store, name, k);
        assert_eq!(bits.len(), TIMES * 80);
        assert!(bits.iter().all(|&b| f32::from_bits(b).is_nan()), "case {k} {name} not yet run must read NaN");
    }
    assert!(chunk_bits(store, "materials", k).iter().all(|&m| m == u32::MAX), "case {k} materials");
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()) {
            if entry.is_dir() {
                stack.push(entry);
            } else {
                out.push(entry.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Every file of the store and its bytes: chunks and metadata.
fn store_bytes(store: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(store).into_iter().map(|f| (f.clone(), std::fs::read(store.join(&f)).unwrap())).collect()
}

#[test]
fn the_store_holds_every_case_bit_for_bit_and_cases_not_run_read_nan() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = Sweep::load(&sweep_file(dir.path(), SWEEP)).unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let files = dir.path().join("files");
    run_cases(&sweep, &files, Shard::ALL, 2, &factory, None).unwrap();

    let out = dir.path().join("zarr");
    let store = out.join("fields.zarr");
    let half = Shard::parse("1/2").unwrap();
    run_cases_into(&sweep, &out, half, 1, &factory, None, FieldStore::Zarr).unwrap();
    let array = open(&store, "VEGF_free");
    assert_eq!(array.shape(), &[4, TIMES as u64, 1, 8, 10]);
    for k in [0, 2] {
        assert_case_equals_npy(&store, &files, k);
    }
    for k in [1, 3] {
        assert_case_is_nan(&store, k);
    }

    let done = run_cases_into(&sweep, &out, Shard::parse("2/2").unwrap(), 1, &factory, None, FieldStore::Zarr).unwrap();
    assert!(done.iter().all(|(_, o)| *o == Outcome::Ran), "{done:?}");
    for k in 0..4 {
        assert_case_equals_npy(&store, &files, k);
    }

    // A case folder keeps its summary and tables, no field files, and says where its fields are.
    let case = out.join("case_00001");
    let kept: Vec<PathBuf> = files_under(&case);
    let names: Vec<&str> = kept.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(names, ["case.json", "exposure.csv", "scenario.toml", "summary.json", "timeseries.csv"]);
    let summary = json(&case.join("summary.json"));
    assert_eq!(summary["complete"], true);
    let home = &summary["fields_store"];
    assert_eq!((home["path"].as_str(), home["case"].as_u64()), (Some("../fields.zarr"), Some(1)), "{home}");
    assert_eq!(home["arrays"], serde_json::json!(ARRAYS));
    let last = summary["snapshots"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["store_array"].as_str(), &last["store_index"]), (Some("VEGF_bound"), &serde_json::json!([1, 6])));
    assert!(last.get("file").is_none() && summary.get("materials_file").is_none(), "{summary}");

    // Far fewer files: one chunk per case and array instead of a .npy per time, and no VTK.
    let (n_files, n_zarr) = (files_under(&files).len(), files_under(&out).len());
    eprintln!("files: {n_files} without the store, {n_zarr} with it");
    assert!(n_zarr * 2 < n_files, "{n_zarr} files with the store, {n_files} without");
    // The store grows by one chunk per case and array (3 fields and the materials), whatever the
    // number of snapshot times; 11 metadata files besides.
    let in_store = files_under(&store);
    assert_eq!(in_store.iter().filter(|f| !f.file_name().unwrap().to_string_lossy().starts_with('.')).count(), 4 * 4);
    assert_eq!(in_store.len(), 4 * 4 + 3 + 4 * 2, "{in_store:?}");

    // Running again skips every case and changes nothing; collect reads the summaries.
    let before = store_bytes(&store);
    let again = run_cases_into(&sweep, &out, Shard::ALL, 1, &factory, None, FieldStore::Zarr).unwrap();
    assert!(again.iter().all(|(_, o)| *o == Outcome::Skipped));
    assert!(store_bytes(&store) == before);
    assert_eq!(collect(&[&out]).unwrap().complete, 4);
    collect(&[&files]).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("results.csv")).unwrap().lines().count(),
        std::fs::read_to_string(files.join("results.csv")).unwrap().lines().count()
    );
}

#[test]
fn complete_cases_whose_fields_are_still_files_are_moved_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = Sweep::load(&sweep_file(dir.path(), SWEEP)).unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let reference = dir.path().join("reference");
    run_cases(&sweep, &reference, Shard::ALL, 2, &factory, None).unwrap();
    // Cases complete as .npy: as if a sweep stopped after each case finished and before its
    // fields moved.
    let out = dir.path().join("out");
    run_cases(&sweep, &out, Shard::ALL, 2, &factory, None).unwrap();
    let done = run_cases_into(&sweep, &out, Shard::ALL, 1, &factory, None, FieldStore::Zarr).unwrap();
    assert!(done.iter().all(|(_, o)| *o == Outcome::Skipped), "nothing runs again: {done:?}");
    for k in 0..4 {
        assert_case_equals_npy(&out.join("fields.zarr"), &reference, k);
        assert!(!out.join(format!("case_{k:05}/fields/materials.npy")).exists());
    }
    // A field file left behind after the summary was rewritten goes on the next run.
    let stray = out.join("case_00002/fields/VEGF_t0s.npy");
    std::fs::copy(reference.join("case_00002/fields/VEGF_t0s.npy"), &stray).unwrap();
    run_cases_into(&sweep, &out, Shard::ALL, 1, &factory, None, FieldStore::Zarr).unwrap();
    assert!(!stray.exists());
    assert_case_equals_npy(&out.join("fields.zarr"), &reference, 2);
}

#[test]
fn two_shards_at_once_in_two_processes_write_the_store_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let file = sweep_file(dir.path(), SWEEP);
    let run = |out: &Path, shard: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_secretome"));
        c.arg("sweep").arg(&file).arg("--out").arg(out);
        c.args(["--store", "zarr", "--backend", "cpu", "--threads", "1"]);
        if let Some(s) = shard {
            c.args(["--shard", s]);
        }
        c.spawn().unwrap()
    };
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    assert!(run(&one, None).wait().unwrap().success());
    let (mut a, mut b) = (run(&two, Some("1/2")), run(&two, Some("2/2")));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    let (x, y) = (store_bytes(&one.join("fields.zarr")), store_bytes(&two.join("fields.zarr")));
    assert_eq!(x.iter().map(|f| &f.0).collect::<Vec<_>>(), y.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name, p), (_, q)) in x.iter().zip(&y) {
        assert!(p == q, "{} differs between one process and two shards at once", name.display());
    }
    assert!(files_under(&two).iter().all(|f| !f.to_string_lossy().ends_with(".tmp")), "no temporary file left");
}

#[test]
fn python_zarr_and_xarray_read_the_store() {
    let Some(python) = python_with(&["zarr", "xarray", "numpy"], "python_zarr_and_xarray_read_the_store") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sweep = Sweep::load(&sweep_file(dir.path(), SWEEP)).unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let (files, out) = (dir.path().join("files"), dir.path().join("zarr"));
    run_cases(&sweep, &files, Shard::ALL, 2, &factory, None).unwrap();
    run_cases_into(&sweep, &out, Shard::parse("1/2").unwrap(), 2, &factory, None, FieldStore::Zarr).unwrap();
    // Each snapshot of each case run equals its .npy; cases 1 and 3 (not run) are NaN; xarray
    // (the docs' snippet) finds the dimensions by name.
    let script = r#"
import json, sys, numpy as np, zarr, xarray as xr
files, out = sys.argv[1], sys.argv[2]
group = zarr.open_consolidated(out + "/fields.zarr", mode="r")
times = group.attrs["time_s"]
for k in (0, 2):
    summary = json.load(open(f"{files}/case_{k:05d}/summary.json"))
    for s in summary["snapshots"]:
        a = group[s["species"] + "_" + s["form"]]
        assert a.attrs["unit"] == s["unit"], a.attrs.asdict()
        got = a[k, times.index(s["time_s"])]
        want = np.load(f"{files}/case_{k:05d}/" + s["file"])
        assert got.dtype == want.dtype and np.array_equal(got, want), (k, s)
    assert np.array_equal(group["materials"][k], np.load(f"{files}/case_{k:05d}/fields/materials.npy"))
for k in (1, 3):
    assert np.isnan(group["VEGF_free"][k]).all()
ds = xr.open_zarr(out + "/fields.zarr")
ds = ds.assign_coords(time=ds.attrs["time_s"])
assert ds["VEGF_bound"].dims == ("case", "time", "z", "y", "x"), ds["VEGF_bound"].dims
last = ds["IL-6_free"].sel(time=7200.0).isel(case=2).values
assert np.array_equal(last, np.load(f"{files}/case_00002/fields/IL-6_t7200s.npy"))
print("ok")
"#;
    let o = Command::new(&python).args(["-c", script]).arg(&files).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "ok");
}

#[test]
fn a_store_other_than_files_or_zarr_and_a_sweep_that_changes_the_grid_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = sweep_file(dir.path(), SWEEP);
    let out = dir.path().join("out");
    let o = secretome(&["sweep", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--store", "foo"]);
    let msg = stderr(&o);
    assert!(!o.status.success());
    for want in ["\"foo\"", "\"files\"", "\"zarr\""] {
        assert!(msg.contains(want), "no {want} in: {msg}");
    }
    assert!(!out.exists(), "nothing written");

    let grid = "[sweep]\nbase = \"base.toml\"\n[[vary]]\nkey = \"grid.cells[0]\"\nvalues = [10, 12]\n";
    let file = sweep_file(dir.path(), grid);
    let o = secretome(&["sweep", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--store", "zarr"]);
    let msg = stderr(&o);
    assert!(!o.status.success());
    for want in ["case 1", "grid.cells[0] = 12", "12 × 8 × 1", "10 × 8 × 1", "--store files"] {
        assert!(msg.contains(want), "no `{want}` in: {msg}");
    }
    assert!(!out.join("case_00000").exists(), "refused before any case runs");

    let times = "[sweep]\nbase = \"base.toml\"\n[[vary]]\nkey = \"time.end\"\nvalues = [\"2 h\", \"3 h\"]\n";
    let sweep = Sweep::load(&sweep_file(dir.path(), times)).unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let err = run_cases_into(&sweep, &out, Shard::ALL, 1, &factory, None, FieldStore::Zarr).expect_err("refused");
    assert!(err.to_string().contains("case 1") && err.to_string().contains("snapshot times"), "{err}");

    // A store written for another sweep is not overwritten.
    let other = dir.path().join("other");
    let sweep = Sweep::load(&sweep_file(dir.path(), SWEEP)).unwrap();
    let fewer = Sweep::load(&sweep_file(
        dir.path(),
        "[sweep]\nbase = \"base.toml\"\n[[vary]]\nkey = \"species[VEGF].initial.gel\"\nvalues = [\"1 pg/mL\"]\n",
    ))
    .unwrap();
    run_cases_into(&fewer, &other, Shard::ALL, 1, &factory, None, FieldStore::Zarr).unwrap();
    let err = run_cases_into(&sweep, &other, Shard::ALL, 1, &factory, None, FieldStore::Zarr).expect_err("refused");
    assert!(err.to_string().contains("another sweep"), "{err}");
}

/// A Python 3 with `modules` (Debian's zarr, xarray and numpy), or `None` after saying loudly
/// that `test` is skipped.
fn python_with(modules: &[&str], test: &str) -> Option<PathBuf> {
    common::python::python_with(modules, "python3-zarr python3-xarray python3-numpy", test)
}
