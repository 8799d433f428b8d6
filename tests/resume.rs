//! Runs that survive interruption: a run stopped at an output time and resumed from its
//! checkpoint ends bit for bit where the uninterrupted run ends on the CPU engines (fields,
//! time series, books), through doses, binding and a degrading gel; a real SIGINT to the command
//! line stops a run with a checkpoint, and `--resume` finishes it.

mod common;

use common::engines::{Gpu, engines};
use secretome::output::OutputDir;
use secretome::run::{self, CHECKPOINT_FILE, Progress, RunError, RunOptions};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// A heparin gel sheet on tissue, dosed twice and degrading, with hourly outputs over 8 h.
fn scenario_text() -> String {
    common::gel_sheet_scenario(
        "resumable",
        [40, 4, 1],
        "end = \"8 h\"\noutput_interval = \"1 h\"\nsnapshot_interval = \"2 h\"\nscheme = \"adi\"\ntolerance = 1e-3",
        "0.5 mm",
        r#"
[[species]]
name = "VEGF"
unit = "pg/mL"
molecular_weight = "45 kDa"
diffusivity = { gel = "105 um^2/s", tissue = "41 um^2/s" }
decay = { gel = "90 min", tissue = "33.7 min" }
initial = { gel = "300 pg/mL" }
[[pool]]
name = "heparin"
density = { gel = "1 uM" }
[[binding]]
species = "VEGF"
pool = "heparin"
k_on = "4.2e5 1/(M*s)"
K_d = "24 nM"
[[dose]]
region = "sheet"
mode = "replace"
times = ["2.5 h", "5 h"]
[[degradation]]
material = "gel"
diffusivity_rate = "0.5 1/d"
site_loss = "1 d"
[[boundary]]
faces = ["xmax"]
species = ["all"]
type = "fixed"
value = "0 pg/mL"
"#,
    )
}

/// Sets the interrupt flag once the run has passed `at` s, as a signal handler would.
struct InterruptAt<'a> {
    at: f64,
    flag: &'a AtomicBool,
}

impl Progress for InterruptAt<'_> {
    fn advanced(&mut self, time: f64, _: u64) {
        if time >= self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("fields"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    all.push(("timeseries.csv".into(), std::fs::read(dir.join("timeseries.csv")).unwrap()));
    // The exposure taken after every step goes through the checkpoint too.
    if let Ok(exposure) = std::fs::read(dir.join("exposure.csv")) {
        all.push(("exposure.csv".into(), exposure));
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    all.push(("summary exposure".into(), summary["exposure"].to_string().into_bytes()));
    all.sort();
    all
}

fn books(dir: &Path) -> serde_json::Value {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    summary["species"].clone()
}

#[test]
fn an_interrupted_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one() {
    let problem = secretome::scenario::from_str(&scenario_text(), "resumable.toml").unwrap();
    let root = tempfile::tempdir().unwrap();
    for (i, ((mut whole, mut first), mut second)) in engines(&problem, Gpu::Include)
        .into_iter()
        .zip(engines(&problem, Gpu::Include))
        .zip(engines(&problem, Gpu::Include))
        .enumerate()
    {
        let name = whole.name;
        let options = |resume| RunOptions { scenario_text: scenario_text(), resume, ..Default::default() };
        let straight = OutputDir::create(&root.path().join(format!("straight{i}")), false).unwrap();
        run::run_with(&problem, whole.engine.as_mut(), &straight, &mut run::Silent, &options(false)).unwrap();

        // Stopped after 3 h (past the first dose), as a signal would stop it.
        let flag = AtomicBool::new(false);
        let stopped = OutputDir::create(&root.path().join(format!("stopped{i}")), false).unwrap();
        let interrupted = RunOptions { interrupt: Some(&flag), ..options(false) };
        let mut progress = InterruptAt { at: 3.0 * 3600.0, flag: &flag };
        let err = run::run_with(&problem, first.engine.as_mut(), &stopped, &mut progress, &interrupted)
            .err()
            .expect("refused");
        assert!(matches!(err, RunError::Interrupted { .. }), "{name}: {err}");
        assert!(err.to_string().contains("--resume"), "{name}: {err}");
        assert!(stopped.path().join(CHECKPOINT_FILE).exists(), "{name}: no checkpoint");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(stopped.path().join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["complete"], false, "{name}");
        let rows = std::fs::read_to_string(stopped.path().join("timeseries.csv")).unwrap();
        assert!(rows.lines().any(|l| l.starts_with("3600,")), "{name}: rows written as the run went");

        // Resumed by a new engine.
        let resumed = OutputDir::open(stopped.path()).unwrap();
        run::run_with(&problem, second.engine.as_mut(), &resumed, &mut run::Silent, &options(true)).unwrap();
        assert!(!resumed.path().join(CHECKPOINT_FILE).exists(), "{name}: the checkpoint outlived the run");
        // Resuming a complete run says so.
        let again = run::run_with(&problem, second.engine.as_mut(), &resumed, &mut run::Silent, &options(true));
        let err = again.err().expect("a complete run is not resumed");
        assert!(err.to_string().contains("complete"), "{name}: {err}");
        if name == "gpu" {
            // The GPU engine resumes too; bit identity is asserted on the CPU engines.
            let (a, b) = (books(straight.path()), books(resumed.path()));
            let (x, y) = (a[0]["present"].as_f64().unwrap(), b[0]["present"].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-5 * x.abs(), "{name}: present {x} vs {y}");
            continue;
        }
        let (a, b) = (files(straight.path()), files(resumed.path()));
        assert_eq!(a.len(), b.len(), "{name}: files");
        for ((fa, da), (fb, db)) in a.iter().zip(&b) {
            assert_eq!(fa, fb, "{name}: files");
            assert!(da == db, "{name}: {fa} differs after resuming");
        }
        assert_eq!(books(straight.path()), books(resumed.path()), "{name}: books");
    }
}

#[test]
fn a_checkpoint_of_another_scenario_is_refused() {
    let problem = secretome::scenario::from_str(&scenario_text(), "resumable.toml").unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut list = engines(&problem, Gpu::Skip);
    let flag = AtomicBool::new(true);
    let out = OutputDir::create(root.path(), true).unwrap();
    let options = RunOptions { interrupt: Some(&flag), scenario_text: scenario_text(), ..Default::default() };
    let err =
        run::run_with(&problem, list[0].engine.as_mut(), &out, &mut run::Silent, &options).err().expect("refused");
    assert!(matches!(err, RunError::Interrupted { .. }));
    let other = RunOptions { resume: true, scenario_text: scenario_text().replace("8 h", "9 h"), ..Default::default() };
    let err = run::run_with(&problem, list[1].engine.as_mut(), &out, &mut run::Silent, &other).err().expect("refused");
    assert!(err.to_string().contains("another scenario"), "{err}");
    let none = OutputDir::create(&root.path().join("empty"), false).unwrap();
    let resume = RunOptions { resume: true, scenario_text: scenario_text(), ..Default::default() };
    let err =
        run::run_with(&problem, list[2].engine.as_mut(), &none, &mut run::Silent, &resume).err().expect("refused");
    assert!(err.to_string().contains("no checkpoint"), "{err}");
}

/// A 2D box that takes a few seconds on one thread, with many outputs.
const SLOW: &str = r#"
[scenario]
name = "slow"
[grid]
size = ["1.6 mm", "1.6 mm", "1 mm"]
cells = [160, 160, 1]
default_material = "gel"
[time]
end = "6 h"
output_interval = "5 min"
snapshot_interval = "3 h"
scheme = "explicit"
[[material]]
name = "gel"
role = "depot"
[[region]]
material = "gel"
shape = "box"
min = ["0 mm", "0 mm", "0 mm"]
max = ["0.4 mm", "0.4 mm", "1 mm"]
[[species]]
name = "f"
unit = "pg/mL"
diffusivity = { gel = "100 um^2/s" }
decay = { gel = "2 h" }
initial = { gel = "100 pg/mL" }
"#;

#[test]
fn sigint_stops_the_command_line_run_with_a_checkpoint_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("slow.toml");
    std::fs::write(&scenario, SLOW).unwrap();
    let bin = env!("CARGO_BIN_EXE_secretome");
    let args = |out: &Path| {
        vec![
            "run".to_string(),
            scenario.display().to_string(),
            "--out".into(),
            out.display().to_string(),
            "--backend".into(),
            "cpu".into(),
            "--threads".into(),
            "1".into(),
            "--quiet".into(),
        ]
    };
    let straight = dir.path().join("straight");
    let o = Command::new(bin).args(args(&straight)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let stopped = dir.path().join("stopped");
    let child = Command::new(bin).args(args(&stopped)).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wait for a few rows, then interrupt.
    let series = stopped.join("timeseries.csv");
    let started = std::time::Instant::now();
    while std::fs::read_to_string(&series).map_or(0, |s| s.lines().count()) < 6 {
        assert!(started.elapsed().as_secs() < 60, "the run wrote no rows");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The shell's own `kill`: no procps needed.
    let kill = Command::new("sh").args(["-c", &format!("kill -INT {}", child.id())]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the interrupted run exited 0: {err}");
    assert!(err.contains("--resume") && err.contains("interrupted"), "{err}");
    assert!(stopped.join(CHECKPOINT_FILE).exists());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(stopped.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], false);

    let mut resume = args(&stopped);
    resume.push("--resume".into());
    let o = Command::new(bin).args(&resume).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(files(&straight) == files(&stopped), "fields and time series differ after resuming");
    assert_eq!(books(&straight), books(&stopped), "books after resuming");
}
