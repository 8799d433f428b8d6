//! The output folder as other tools open it: the `.vti`/`.pvd` files read by VTK itself (the
//! library ParaView is built on) agree with the `.npy` files and `summary.json`, and the README's
//! Python snippet (numpy, pandas) runs on a fresh run folder.
//!
//! These tests need a Python 3 with `vtk`, `numpy` and `pandas` (Debian: `python3-vtk9
//! python3-numpy python3-pandas`); `SECRETOME_PYTHON` names one, otherwise `python3` and then
//! `/usr/bin/python3` are tried. Without one they say loudly that they skipped; with
//! `SECRETOME_REQUIRE_PYTHON=1` (CI) its absence is a failure.

mod common;

use common::python::python_with as python_in;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A 3D box with a gel layer along z; three different cell sizes and cell counts, so that any
/// axis mix-up between the `.vti`, the `.npy` and the grid shows.
const SCENARIO_3D: &str = r#"
[scenario]
name = "vtk_3d"
[grid]
size = ["1.2 mm", "0.5 mm", "0.8 mm"]
cells = [6, 5, 4]
default_material = "tissue"
[time]
end = "1 h"
output_interval = "30 min"
snapshot_interval = "30 min"
scheme = "adi"
tolerance = 1e-3
[[material]]
name = "gel"
role = "depot"
[[material]]
name = "tissue"
role = "tissue"
[[region]]
name = "top"
material = "gel"
shape = "layer"
axis = "z"
from = "0 mm"
to = "0.4 mm"
[[species]]
name = "VEGF"
unit = "pg/mL"
molecular_weight = "45 kDa"
diffusivity = { gel = "105 um^2/s", tissue = "41 um^2/s" }
decay = { gel = "90 min", tissue = "33.7 min" }
initial = { gel = "300 pg/mL" }
"#;

/// A Python 3 with `modules` (Debian's VTK, numpy and pandas), or `None` after saying loudly
/// that `test` is skipped.
fn python_with(modules: &[&str], test: &str) -> Option<PathBuf> {
    python_in(modules, "python3-vtk9 python3-numpy python3-pandas", test)
}

/// The 2D slab of these tests: outputs every 30 min, snapshots every hour.
fn scenario_2d() -> String {
    common::binding_slab_2d(
        "vtk_2d",
        "end = \"2 h\"\noutput_interval = \"30 min\"\nsnapshot_interval = \"1 h\"\nscheme = \"adi\"\ntolerance = 1e-3",
    )
}

/// Runs `scenario` with the `secretome` command (fast CPU engine) into `dir/out`; returns the
/// output folder.
fn run(scenario: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = dir.join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_secretome"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(["--backend", "cpu", "--quiet"])
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "run failed:\n{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

/// Runs `python script args…`, failing with its output when it fails; returns its stdout.
fn python(python: &Path, script: &Path, args: &[&Path]) -> String {
    let o = Command::new(python).arg(script).args(args).output().expect("python runs");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{} failed:\n--- stdout\n{stdout}\n--- stderr\n{}",
        script.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

#[test]
fn vtk_files_read_by_vtk_match_the_npy_files_in_2d_and_3d() {
    let Some(py) = python_with(&["vtk", "numpy"], "vtk_files_read_by_vtk_match_the_npy_files_in_2d_and_3d") else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_vtk.py");
    // Snapshots at 0, 1 and 2 h in 2D; at 0, 0.5 and 1 h in 3D.
    for (scenario, label, files, arrays) in [
        (scenario_2d(), "2D", 3, "['IL-6', 'VEGF', 'VEGF_bound', 'materials']"),
        (SCENARIO_3D.to_string(), "3D", 3, "['VEGF', 'materials']"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = run(&scenario, dir.path(), &[]);
        let json = summary(&out);
        assert_eq!(json["vtk"]["files"].as_array().unwrap().len(), files, "{label}: {}", json["vtk"]);
        let stdout = python(&py, &script, &[&out]);
        eprintln!("{label}:\n{stdout}");
        assert!(stdout.contains(&format!("vtk ok: {files} files")), "{label}: {stdout}");
        assert!(stdout.contains(arrays), "{label}: expected arrays {arrays} in\n{stdout}");
    }
}

#[test]
fn no_vtk_writes_no_vtk_files_and_no_vtk_entry() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(SCENARIO_3D, dir.path(), &["--no-vtk"]);
    let vtk: Vec<_> = std::fs::read_dir(out.join("fields"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".vti") || name.ends_with(".pvd"))
        .collect();
    assert!(vtk.is_empty(), "{vtk:?}");
    let json = summary(&out);
    assert!(json.get("vtk").is_none(), "{}", json["vtk"]);
    assert_eq!(json["snapshots"].as_array().unwrap().len(), 3);
}

/// The README's section "## Output".
fn readme_output_section() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("\n## Output\n").expect("README has a section \"## Output\"");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end].to_string()
}

#[test]
fn readme_lists_every_timeseries_column() {
    let section = readme_output_section();
    let words: std::collections::HashSet<&str> =
        section.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).collect();
    let missing: Vec<&str> =
        secretome::run::sinks::TIMESERIES_HEADER.trim().split(',').filter(|column| !words.contains(column)).collect();
    assert!(missing.is_empty(), "README \"Output\" does not name the timeseries.csv columns {missing:?}");
}

#[test]
fn readme_python_snippet_runs_on_a_fresh_run() {
    let Some(py) = python_with(&["numpy", "pandas"], "readme_python_snippet_runs_on_a_fresh_run") else {
        return;
    };
    let section = readme_output_section();
    let start = section.find("```python\n").expect("README \"Output\" has a ```python block") + "```python\n".len();
    let snippet = &section[start..start + section[start..].find("```").expect("the python block ends")];

    let dir = tempfile::tempdir().unwrap();
    let out = run(&scenario_2d(), dir.path(), &[]);
    // The snippet reads the run named on its `run = "…"` line; point it at this one.
    let line = snippet.lines().find(|l| l.starts_with("run = ")).expect("the snippet sets `run = \"…\"`");
    let out_text = out.to_str().unwrap();
    let mut program = snippet.replacen(line, &format!("run = {out_text:?}"), 1);
    let columns: Vec<&str> = secretome::run::sinks::TIMESERIES_HEADER.trim().split(',').collect();
    program.push_str(&format!(
        r#"
# Appended by tests/other_tools.rs: what the snippet's names must hold on this run.
assert list(ts.columns) == {columns:?}, list(ts.columns)
assert len(vegf) == 5 and list(vegf.time_h) == [0.0, 0.5, 1.0, 1.5, 2.0], vegf.time_h
assert vegf.released_percent.iloc[0] == 0 and vegf.released_percent.iloc[-1] > 0
assert snap["time_h"] == 2.0 and snap["unit"] == "pg/mL"
assert field.shape == materials.shape == (8, 10), (field.shape, materials.shape)
assert field.dtype == np.float32 and materials.dtype == np.uint32
assert field.max() > 0
assert summary["vtk"]["collection"] == "fields/series.pvd"
print("snippet ok", len(ts), "rows")
"#
    ));
    let script = dir.path().join("snippet.py");
    std::fs::write(&script, &program).unwrap();
    let stdout = python(&py, &script, &[]);
    // 5 output times × 2 species × 2 materials.
    assert!(stdout.contains("snippet ok 20 rows"), "{stdout}\n--- program\n{program}");
}

#[test]
fn an_interrupted_run_keeps_a_collection_of_the_snapshots_it_reached() {
    use secretome::output::OutputDir;
    use secretome::run::{self, RunOptions, Silent};
    let problem = secretome::scenario::from_str(&scenario_2d(), "vtk_2d.toml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::create(&dir.path().join("out"), false).unwrap();
    // Asked to stop from the start: the run stops at its first output time (30 min), after the
    // snapshot at 0 h and before the one at 1 h.
    let flag = std::sync::atomic::AtomicBool::new(true);
    let options = RunOptions { interrupt: Some(&flag), scenario_text: scenario_2d(), ..Default::default() };
    let mut engine = secretome::solver::cpu::CpuReference::new(&problem);
    let Err(err) = run::run_with(&problem, &mut engine, &out, &mut Silent, &options) else {
        panic!("the run was not interrupted");
    };
    assert!(matches!(err, run::RunError::Interrupted { .. }), "{err}");
    let pvd = std::fs::read_to_string(out.path().join("fields/series.pvd")).unwrap();
    assert_eq!(pvd.matches("<DataSet ").count(), 1, "{pvd}");
    assert!(pvd.contains("timestep=\"0\"") && pvd.contains("file=\"snapshot_t0s.vti\""), "{pvd}");
    let json = summary(out.path());
    assert_eq!(json["complete"], false);
    assert_eq!(
        json["vtk"]["files"],
        serde_json::json!([{ "time_s": 0.0, "time_h": 0.0, "file": "fields/snapshot_t0s.vti" }])
    );
    if let Some(py) =
        python_with(&["vtk", "numpy"], "an_interrupted_run_keeps_a_collection_of_the_snapshots_it_reached")
    {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_vtk.py");
        assert!(python(&py, &script, &[out.path()]).contains("vtk ok: 1 files"));
    }
}
