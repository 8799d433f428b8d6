//! The `secretome` command end to end: the shipped validation scenarios against their exact
//! solutions through the output files, both engines on the same scenario, and the refusals a user
//! sees at the command line.

mod common;

use common::command::{scenario, secretome, stderr};

use std::path::Path;
use std::process::Command;

/// Rows of timeseries.csv as (time_s, species, material, released_percent).
fn release_rows(dir: &Path) -> Vec<(f64, String, String, f64)> {
    let text = std::fs::read_to_string(dir.join("timeseries.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (t, s, m, r) = (col("time_s"), col("species"), col("material"), col("released_percent"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[t].parse().unwrap(), f[s].to_string(), f[m].to_string(), f[r].parse().unwrap())
        })
        .collect()
}

fn read_npy(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + len..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

#[test]
fn validate_describes_the_run_without_running_it() {
    let o = secretome(&["validate", &scenario("wound_gel_2d.toml")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    for part in ["is valid", "800 × 260 × 1", "gel", "depot", "VEGF", "limit", "steps", "MiB", "regions", "gel_sheet"]
    {
        assert!(text.contains(part), "validate output lacks {part:?}:\n{text}");
    }
}

#[test]
fn shipped_slab_scenario_releases_as_cranks_series() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slab");
    let o =
        secretome(&["run", &scenario("validation_slab_1d.toml"), "--out", out.to_str().unwrap(), "--backend", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (d, l) = (1e-10, 1e-3);
    let crank = |t: f64| {
        100.0
            * (1.0
                - (0..200)
                    .map(|n| {
                        let m = (2 * n + 1) as f64;
                        let pi2 = std::f64::consts::PI.powi(2);
                        8.0 / (m * m * pi2) * (-(m * m) * pi2 * d * t / (l * l)).exp()
                    })
                    .sum::<f64>())
    };
    let rows = release_rows(&out);
    assert_eq!(rows.len(), 61, "one row per minute and t = 0");
    let worst = rows.iter().filter(|r| r.0 > 0.0).map(|r| (r.3 - crank(r.0)).abs()).fold(0.0, f64::max);
    eprintln!("slab via CLI: worst |released % − Crank| = {worst:.2e} percentage points");
    assert!(worst < 0.02, "release curve off Crank's series by {worst} percentage points (bound 0.02)");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let t50 = summary["species"][0]["time_to_50_percent_release_h"].as_f64().unwrap() * 3600.0;
    // Crank: M/M∞ = 1/2 at D t / L² ≈ 0.04918.
    assert!((t50 - 0.04918 * l * l / d).abs() < 5.0, "t50 = {t50} s");
}

#[test]
fn shipped_decay_scenario_reaches_the_exponential_profile() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("decay");
    let o =
        secretome(&["run", &scenario("validation_decay_1d.toml"), "--out", out.to_str().unwrap(), "--backend", "cpu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let sp = &summary["scenario"]["species"][0];
    let d = sp["diffusivity_m2_per_s"].as_object().unwrap().values().next().unwrap().as_f64().unwrap();
    let k = sp["decay_rate_per_s"].as_object().unwrap().values().next().unwrap().as_f64().unwrap();
    let c0 = sp["boundaries"]["xmin"]["value"].as_f64().unwrap();
    let h = summary["grid"]["spacing_m"][0].as_f64().unwrap();
    let length = summary["grid"]["extent_m"][0].as_f64().unwrap();
    let last = summary["snapshots"].as_array().unwrap().last().unwrap();
    let field = read_npy(&out.join(last["file"].as_str().unwrap()));
    let ell = (d / k).sqrt();
    let worst = field
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let x = (i as f64 + 0.5) * h;
            (c as f64 - c0 * ((length - x) / ell).cosh() / (length / ell).cosh()).abs() / c0
        })
        .fold(0.0, f64::max);
    eprintln!("decay profile via CLI: worst relative error {worst:.2e} (h/ℓ = {:.2})", h / ell);
    assert!(worst < 2e-3, "steady profile off by {worst} of c0");
}

#[test]
fn gpu_and_cpu_backends_agree_on_a_shipped_scenario() {
    let Some(_gpu) = secretome::solver::gpu::gpu_for_tests("gpu_and_cpu_backends_agree_on_a_shipped_scenario") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut fields = Vec::new();
    for backend in ["cpu", "gpu"] {
        let out = dir.path().join(backend);
        let o = secretome(&[
            "run",
            &scenario("validation_interface_1d.toml"),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            backend,
            "--quiet",
        ]);
        assert!(o.status.success(), "{backend}: {}", stderr(&o));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["engine"]["backend"], backend);
        let last = summary["snapshots"].as_array().unwrap().last().unwrap();
        fields.push(read_npy(&out.join(last["file"].as_str().unwrap())));
    }
    let scale = fields[0].iter().cloned().fold(0.0f32, f32::max);
    let (worst, at) = fields[0]
        .iter()
        .zip(&fields[1])
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .map(|(i, d)| (d, i))
        .fold((0.0f32, 0), |m, x| if x.0 > m.0 { x } else { m });
    assert!(worst <= 1e-5 * scale, "cell {at}: cpu {} gpu {} differ by {worst}", fields[0][at], fields[1][at]);
}

#[test]
fn gpu_backend_without_an_adapter_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_secretome"))
        .args(["run", &scenario("validation_slab_1d.toml"), "--backend", "gpu", "--out"])
        .arg(dir.path().join("x"))
        .env("WGPU_ADAPTER_NAME", "no adapter is called this")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("error:") && err.to_lowercase().contains("adapter"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!dir.path().join("x").join("summary.json").exists());
}

#[test]
fn bad_scenario_and_occupied_output_folder_are_refused_with_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(scenario("validation_slab_1d.toml")).unwrap().replace("100 um^2/s", "100");
    std::fs::write(&bad, text).unwrap();
    let o = secretome(&["validate", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("bad.toml") && err.contains("diffusivity"), "{err}");

    let out = dir.path().join("occupied");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "earlier results").unwrap();
    let o =
        secretome(&["run", &scenario("validation_slab_1d.toml"), "--out", out.to_str().unwrap(), "--backend", "cpu"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--overwrite"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "earlier results");
}

/// `--threads 100000` started that many threads; above 8 per core (and above 1024) it is
/// refused before any work, quoting the value, the cores and the limit.
#[test]
fn threads_above_the_limit_are_refused() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = (8 * cores).min(1024);
    let too_many = (limit + 1).to_string();
    let runs: [&[&str]; 3] = [
        &["run", "no-such-scenario.toml", "--threads", "100000"],
        &["run", "no-such-scenario.toml", "--threads", &too_many],
        &["bench", "--threads", "100000", "--cube", "4", "--steps", "1", "--no-gpu", "--no-wound"],
    ];
    for args in runs {
        let o = secretome(args);
        assert!(!o.status.success(), "{args:?} accepted");
        let err = stderr(&o);
        let value = args[args.iter().position(|a| *a == "--threads").unwrap() + 1];
        for part in [value, &format!("{cores} cores"), &format!("limit of {limit}"), "--threads"] {
            assert!(err.contains(part), "{args:?}: no {part:?} in: {err}");
        }
        assert!(!err.contains("cannot read"), "{args:?}: the scenario was read first: {err}");
    }
    // The limit itself is accepted.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slab");
    let limit = limit.to_string();
    let o = secretome(&[
        "run",
        &scenario("validation_slab_1d.toml"),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
        "--threads",
        &limit,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The operating system's reason was printed twice in the `error:` line (once in the error's
/// message, once as its source).
#[test]
fn an_os_error_appears_once_in_the_error_line() {
    let o = secretome(&["validate", "/nonexistent/dir/missing.toml"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("missing.toml"), "{err}");
    assert_eq!(err.matches("(os error").count(), 1, "{err}");

    // An output folder under a file: creating it fails with the OS reason.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = file.join("out");
    let o = secretome(&[
        "run",
        &scenario("validation_slab_1d.toml"),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("a-file"), "{err}");
    assert_eq!(err.matches("(os error").count(), 1, "{err}");
}

/// `validate` of an explicit run needing more steps than a u64 holds showed a wrapped count
/// (18446744073709551556); it now says "more than 1e9".
#[test]
fn validate_never_shows_a_wrapped_step_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many_steps.toml");
    // 1 um cells, D = 1e-9 m²/s: a limit of ~3e-4 s, over 1e16 s about 3e19 steps.
    std::fs::write(
        &path,
        r#"[scenario]
name = "many_steps"
[grid]
size = ["20 um", "1 um", "1 um"]
cells = [20, 1, 1]
default_material = "a"
[time]
end = "1e16 s"
output_interval = "1e15 s"
scheme = "explicit"
[[material]]
name = "a"
role = "tissue"
[[species]]
name = "s"
unit = "nM"
diffusivity = { a = "1e-9 m^2/s" }
decay = { a = "0 1/s" }
"#,
    )
    .unwrap();
    let o = secretome(&["validate", path.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    let longest_number = out.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
    assert!(longest_number <= 10, "a step count above 1e9 shown in:\n{out}");
    if o.status.success() {
        assert!(out.contains("more than 1e9 steps"), "{out}");
    } else {
        // Refused before describing (a step-count limit of the engines).
        assert!(err.contains("error:") && err.contains("many_steps.toml"), "{err}");
    }
}

/// On a headless machine without XDG_RUNTIME_DIR, probing for adapters printed Mesa's
/// "error: XDG_RUNTIME_DIR is invalid or not set" twice before every run, although nothing
/// was wrong.
#[test]
fn adapter_probe_on_a_headless_machine_prints_no_false_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_secretome"))
        .arg("info")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("XDG_RUNTIME_DIR"), "{}", stderr(&o));
}

/// `validate` of a scenario with interstitial flow prints the flow's figures on the grid (cell
/// Péclet number, the time the flow takes to cross a cell) and warns where a stated limit is
/// passed: Pe > 2, and a fixed ADI step longer than that crossing time.
#[test]
fn validate_reports_the_flow_and_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, size: &str, dt: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                r#"[scenario]
name = "flow"
[grid]
size = ["{size}", "10 um", "10 um"]
cells = [100, 1, 1]
default_material = "wound"
[time]
end = "1 h"
output_interval = "30 min"
scheme = "adi"
dt = "{dt}"
[[material]]
name = "wound"
role = "tissue"
[flow]
velocity = ["0.6 um/s", "0 um/s", "0 um/s"]
[[species]]
name = "vegf"
unit = "ng/mL"
diffusivity = {{ wound = "100 um^2/s" }}
decay = {{ wound = "0 1/s" }}
"#
            ),
        )
        .unwrap();
        path
    };
    // 10 um cells: Pe = 0.06, the flow crosses a cell in 16.7 s; a 10 s step is within it.
    let fine = write("fine.toml", "1 mm", "10 s");
    let o = secretome(&["validate", fine.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    for part in ["flow", "wound", "(0.6, 0, 0) µm/s", "cell Péclet |v|·h/D up to 0.06", "16.6667 s"] {
        assert!(out.contains(part), "validate output lacks {part:?}:\n{out}");
    }
    assert!(!out.contains("warning"), "{out}");
    // 1 mm cells: Pe = 6; the 1 h step is cut to 30 min by the outputs: 1.08 cells of flow.
    let coarse = write("coarse.toml", "10 cm", "1 h");
    let o = secretome(&["validate", coarse.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    for part in ["warning: cell Péclet 6 > 2", "warning: the fixed ADI step of 1800 s moves the flow 1.08 cells"] {
        assert!(out.contains(part), "validate output lacks {part:?}:\n{out}");
    }
}
