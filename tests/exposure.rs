//! Exposure metrics mean what they say: on hand-built fields whose coverage, area under the
//! curve, time above the threshold and penetration depth are computed by hand; on a uniform
//! decaying box run by every engine, whose answers are exact exponentials; and end to end, where
//! a library factor brings its threshold with its source and a CM depot its cost.

mod common;

use common::engines::{Gpu, engines};
use secretome::output::OutputDir;
use secretome::problem::Problem;
use secretome::run::exposure::{Exposure, ExposurePlan};
use secretome::run::{self, RunOptions, Silent};

fn scenario(text: &str) -> Problem {
    secretome::scenario::from_str(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A 1D line: a gel (depot) from 0 to 0.2 mm, tissue to 2 mm in 100 cells; one species with a
/// threshold of 10 ng/mL and a ceiling of 80 ng/mL; the tissue is the target.
fn line() -> Problem {
    scenario(&common::gel_sheet_scenario(
        "exposure_line",
        [100, 1, 1],
        "end = \"6 h\"\noutput_interval = \"1 h\"\nscheme = \"adi\"\ndt = \"60 s\"",
        "0.2 mm",
        r#"
[[species]]
name = "f"
unit = "ng/mL"
diffusivity = { gel = "50 um^2/s", tissue = "40 um^2/s" }
decay = { gel = "0 1/s", tissue = "0 1/s" }
initial = { gel = "100 ng/mL" }
bioactive_threshold = "10 ng/mL"
bioactive_ceiling = "80 ng/mL"
[metrics]
targets = ["tissue"]
"#,
    ))
}

#[test]
fn a_hand_built_field_gives_the_metrics_computed_by_hand() {
    let problem = line();
    let plan = ExposurePlan::new(&problem);
    let (c0, lambda, k, theta, ceiling) = (120.0f64, 0.3e-3, (2.0f64).ln() / 3600.0, 10.0, 80.0);
    let h = problem.grid.spacing[0];
    let n = problem.grid.n_cells();
    // c(x, t) = c0·exp(−(x − 0.2 mm)/λ)·exp(−k t) in the tissue, 50 in the gel.
    let profile = |cell: usize| {
        let x = (cell as f64 + 0.5) * h;
        if x < 0.2e-3 { 50.0 } else { c0 * (-(x - 0.2e-3) / lambda).exp() }
    };
    let field = |t: f64| -> Vec<f32> { (0..n).map(|c| (profile(c) * (-k * t).exp()) as f32).collect() };
    let values = |t: f64| -> Vec<f32> {
        let f = field(t);
        plan.indices().iter().map(|&i| f[i as usize]).collect()
    };
    let (dt, end) = (60.0, 6.0 * 3600.0);
    let mut exposure = Exposure::empty(&plan, 0.0);
    exposure.observe_values(&plan, &values(0.0), 0.0, false);
    let steps = (end / dt) as usize;
    for i in 1..=steps {
        let t = i as f64 * dt;
        exposure.observe_values(&plan, &values(t), t, true);
    }
    let summary = exposure.summary(&plan, &problem);
    let m = &summary.targets[0];
    assert_eq!(m.region, "tissue");

    // Cells of the tissue, by hand.
    let tissue: Vec<f64> = (0..n).map(profile).filter(|_| true).collect::<Vec<_>>();
    let tissue: Vec<f64> =
        tissue.iter().enumerate().filter(|(c, _)| (*c as f64 + 0.5) * h > 0.2e-3).map(|(_, v)| *v).collect();
    let cells = tissue.len() as f64;
    let mean0 = tissue.iter().sum::<f64>() / cells;
    let decay_integral = (1.0 - (-k * end).exp()) / k;

    // Area under the mean: mean0·(1 − e^{−kT})/k; the trapezoid rule over 60 s steps is
    // (k dt)²/12 = 1.1e-5 above it.
    let auc = m.auc_free * 3600.0;
    let trapezoid = (k * dt).powi(2) / 12.0;
    assert!((auc / (mean0 * decay_integral) - 1.0 - trapezoid).abs() < 1e-6, "AUC {auc} vs {}", mean0 * decay_integral);
    assert!((m.mean_free_time_avg - mean0 * decay_integral / end).abs() < 2e-5 * mean0);
    // Peak at t = 0, the first tissue cell.
    assert!((m.peak_free - tissue.iter().cloned().fold(0.0, f64::max)).abs() < 1e-4, "peak {}", m.peak_free);
    assert_eq!(m.peak_free_time_h, 0.0);

    // Time the mean is above the threshold: ln(mean0/θ)/k; inside [θ, ceiling]: from ln(mean0/C)/k.
    let above = (mean0 / theta).ln() / k;
    let window = above - (mean0 / ceiling).ln().max(0.0) / k;
    let above_h = m.time_above_threshold_h.unwrap();
    assert!((above_h * 3600.0 - above.min(end)).abs() < 1.0, "above {above_h} h vs {} h", above / 3600.0);
    assert!((m.time_in_window_h.unwrap() * 3600.0 - window.min(end)).abs() < 1.0);

    // Coverage: cell i is above θ for ln(c_i/θ)/k (clamped to the run); the time-averaged
    // coverage is their mean over the run. Linear within a step: within one step.
    let per_cell: Vec<f64> = tissue.iter().map(|&c| ((c / theta).ln() / k).clamp(0.0, end)).collect();
    let coverage = per_cell.iter().sum::<f64>() / (cells * end);
    let got = m.coverage_time_avg.unwrap();
    assert!((got - coverage).abs() < dt / end, "coverage {got} vs {coverage}");
    // Coverage ≥ 50 %: until the time the middle cell falls below, within a cell and a step.
    let mut sorted = per_cell.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let half = (cells / 2.0).ceil() as usize;
    let covered = m.time_covered_h.as_ref().unwrap()["50"] * 3600.0;
    assert!(
        covered >= sorted[half] - dt && covered <= sorted[half - 1] + dt,
        "covered ≥ 50 % for {covered} s, between {} and {}",
        sorted[half],
        sorted[half - 1]
    );

    // Penetration: the time-averaged profile c0·e^{−d/λ}·(1 − e^{−kT})/(kT) falls below θ at
    // d = λ·ln(c0 (1 − e^{−kT})/(kT θ)); linear between cell centres costs ≤ h²/(8λ).
    let depth = lambda * (c0 * decay_integral / (end * theta)).ln();
    let got = m.penetration_depth_mm.unwrap() * 1e-3;
    assert!((got - depth).abs() < h * h / (8.0 * lambda) * 1.5, "penetration {got} m vs {depth} m");
    assert_eq!(m.penetration_beyond_region, Some(false));
    assert_eq!(summary.depth_axis, "x");
}

/// A closed 8 × 8 box of tissue holding 100 ng/mL that decays with a half-life of 1 h; threshold
/// 25 ng/mL (reached at 2 h), ceiling 80 ng/mL.
fn decaying_box() -> Problem {
    scenario(
        r#"
[scenario]
name = "decaying_box"
[grid]
size = ["1 mm", "1 mm", "0.1 mm"]
cells = [8, 8, 1]
default_material = "tissue"
[time]
end = "6 h"
output_interval = "30 min"
scheme = "adi"
dt = "30 s"
[[material]]
name = "tissue"
role = "tissue"
[[species]]
name = "f"
unit = "ng/mL"
diffusivity = { tissue = "40 um^2/s" }
decay = { tissue = "1 h" }
initial = { tissue = "100 ng/mL" }
bioactive_threshold = "25 ng/mL"
bioactive_ceiling = "80 ng/mL"
"#,
    )
}

#[test]
fn a_uniform_decaying_box_gives_exact_exposure_on_every_engine() {
    let problem = decaying_box();
    let k = (2.0f64).ln() / 3600.0;
    let end = 6.0 * 3600.0;
    for mut named in engines(&problem, Gpu::Include) {
        let name = named.name;
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::create(&dir.path().join("run"), false).unwrap();
        let options = RunOptions { no_vtk: true, ..Default::default() };
        run::run_with(&problem, named.engine.as_mut(), &out, &mut Silent, &options).unwrap();
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("summary.json")).unwrap()).unwrap();
        let m = &summary["exposure"]["targets"][0];
        let get = |key: &str| m[key].as_f64().unwrap_or_else(|| panic!("{name}: no {key} in {m}"));
        assert_eq!(m["region"], "tissue", "{name}: the tissue material is the default target");
        // AUC = 100·(1 − e^{−kT})/k, in ng/mL·h.
        let auc = 100.0 * (1.0 - (-k * end).exp()) / k / 3600.0;
        assert!((get("auc_free") / auc - 1.0).abs() < 1e-4, "{name}: AUC {} vs {auc}", get("auc_free"));
        assert!((get("peak_free") - 100.0).abs() < 1e-4, "{name}: peak");
        // Above 25 ng/mL for 2 h; inside [25, 80] from ln(100/80)/k.
        let above = 2.0;
        let window = above - (100.0f64 / 80.0).ln() / k / 3600.0;
        assert!((get("time_above_threshold_h") - above).abs() < 30.0 / 3600.0, "{name}: above");
        assert!((get("time_in_window_h") - window).abs() < 30.0 / 3600.0, "{name}: window");
        // Every cell crosses at once: coverage 1 for 2 h, then 0; within one step of 30 s.
        assert!((get("coverage_time_avg") - above / 6.0).abs() < 30.0 / end, "{name}: coverage");
        assert!((m["time_covered_h"]["90"].as_f64().unwrap() - above).abs() < 30.0 / 3600.0, "{name}");
        assert_eq!(get("coverage_final"), 0.0, "{name}");
        // Time-averaged 100·(1 − e^{−kT})/(kT) = 23.7 < 25: nothing penetrates.
        assert_eq!(get("penetration_depth_mm"), 0.0, "{name}");
        // The exposure time series: one row per output time, the mean following 100·e^{−kt}.
        let csv = std::fs::read_to_string(out.path().join("exposure.csv")).unwrap();
        let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 13, "{name}: rows at 0, 0.5, …, 6 h");
        for r in &rows {
            let (t, mean): (f64, f64) = (r[0].parse().unwrap(), r[5].parse().unwrap());
            let exact = 100.0 * (-k * t).exp();
            assert!((mean - exact).abs() < 1e-3 * 100.0, "{name}: mean {mean} at {t} s vs {exact}");
            // (At 2 h the field sits on the threshold itself; either side is right.)
            if t != 7200.0 {
                assert_eq!(r[9].parse::<f64>().unwrap(), if t < 7200.0 { 1.0 } else { 0.0 }, "{name}: coverage at {t}");
            }
        }
    }
}

#[test]
fn a_library_factor_brings_its_threshold_and_a_cm_depot_its_cost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cm.toml");
    std::fs::write(
        &path,
        common::gel_sheet_scenario(
            "cm_sheet",
            [40, 1, 1],
            "end = \"4 h\"\noutput_interval = \"1 h\"",
            "0.5 mm",
            r#"
[[species]]
name = "VEGF"
factor = "VEGF165"
unit = "ng/mL"
diffusivity = { gel = "105 um^2/s" }
[[species]]
name = "TGF-b1"
factor = "TGF-beta1"
unit = "ng/mL"
diffusivity = { gel = "128 um^2/s" }
decay = { gel = "3 min", tissue = "3 min" }
[[species]]
name = "IGF-1"
unit = "ng/mL"
diffusivity = { gel = "190 um^2/s", tissue = "74 um^2/s" }
decay = { gel = "14.4 min", tissue = "14.4 min" }
[depot]
preset = "katagiri2017_bm"
loading = "10x"
[[dose]]
region = "sheet"
mode = "replace"
times = ["2 h"]
"#,
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = common::command::secretome(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--no-plots",
        "--backend",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", common::command::stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let t = &summary["exposure"]["targets"][0];
    // VEGF165's lowest bioactive concentration in the library: 1 nM (read in its source) is
    // below 10 ng/mL; the threshold says where it comes from and how sure it is.
    let source = t["threshold"]["source"].as_str().unwrap();
    assert!(source.starts_with("factor library") && source.contains("VEGF165"), "{source}");
    assert!(t["threshold"]["mark"].is_string(), "{t}");
    // CM used: the gel (0.5 mm × 1 mm × 1 mm = 0.5 µL) at 10x, filled twice.
    let cm = summary["cost"]["cm_used_ml"].as_f64().unwrap();
    assert!((cm - 2.0 * 0.5e-3 * 10.0).abs() < 1e-12, "CM used {cm} mL");
    assert_eq!(summary["cost"]["fills"], 2);
    // The outcome reads it all back by name.
    let outcome = secretome::outcome::RunOutcome::read(&out).unwrap();
    assert!(outcome.metrics.contains_key("coverage:VEGF@tissue"), "{:?}", outcome.metrics.keys());
    assert_eq!(outcome.metrics["cm_used_ml"], cm);
}

const BAD: common::refusals::Fixture = common::refusals::Fixture {
    file: "exposure.toml",
    base: r#"
[scenario]
name = "exposure_refusals"
[grid]
size = ["1 mm", "1 mm", "0.1 mm"]
cells = [8, 8, 1]
default_material = "tissue"
[time]
end = "1 h"
output_interval = "30 min"
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
axis = "y"
from = "0.8 mm"
to = "1 mm"
[[species]]
name = "f"
unit = "ng/mL"
diffusivity = { gel = "50 um^2/s", tissue = "40 um^2/s" }
decay = { gel = "0 1/s", tissue = "1 h" }
initial = { gel = "100 ng/mL" }
bioactive_threshold = "10 ng/mL"
"#,
};

#[test]
fn exposure_settings_that_cannot_be_met_are_refused() {
    // The base loads, with the tissue as the default target and depth along y.
    let p = BAD.load(BAD.base);
    assert_eq!(p.metrics.targets.len(), 1);
    assert_eq!(p.metrics.depth_axis, 1);
    let msg = BAD.refused_at(
        &BAD.with("[metrics]\ntargets = [\"wound_bedd\"]"),
        "metrics.targets[0]",
        "wound_bedd",
        &["no region or material of this name", "`tissue`", "`sheet`"],
    );
    assert!(msg.contains("wound_bedd"), "{msg}");
    BAD.refused_at(
        &BAD.with("[metrics]\ntargets = [\"sheet\", \"sheet\"]"),
        "metrics.targets[1]",
        "\"sheet\"]",
        &["listed twice"],
    );
    BAD.refused_at(&BAD.with("[metrics]\ndepth_axis = \"z\""), "metrics.depth_axis", "\"z\"", &["\"x\", \"y\""]);
    BAD.refused_at(&BAD.with("[metrics]\ndepth_axis = \"depth\""), "metrics.depth_axis", "\"depth\"", &[]);
    BAD.refused_at(
        &BAD.edit(
            "bioactive_threshold = \"10 ng/mL\"",
            "bioactive_threshold = \"10 ng/mL\"\nbioactive_ceiling = \"5 ng/mL\"",
        ),
        "species[0].bioactive_ceiling",
        "\"5 ng/mL\"",
        &["not above the bioactive threshold"],
    );
    BAD.refused_at(
        &BAD.edit(
            "bioactive_threshold = \"10 ng/mL\"",
            "bioactive_threshold = \"10 ng/mL\"\nbioactive_ceiling = \"5 mm\"",
        ),
        "species[0].bioactive_ceiling",
        "\"5 mm\"",
        &[],
    );
    BAD.refused_at(
        &BAD.edit("bioactive_threshold = \"10 ng/mL\"", "bioactive_ceiling = \"50 ng/mL\""),
        "species[0].bioactive_ceiling",
        "\"50 ng/mL\"",
        &["without a bioactive threshold"],
    );
    // An empty list turns the exposure off.
    assert!(BAD.load(&BAD.with("[metrics]\ntargets = []")).metrics.targets.is_empty());
}
