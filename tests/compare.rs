//! `secretome compare` end to end: a hand-built sweep of three designs under five common draws
//! (known medians, bands, ranking, Pareto front and a rank flip), real runs of the slab scenario
//! ranked in the order the physics gives, and the refusals of objectives and folders.

mod common;

use common::command::{scenario, secretome, stderr};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

/// Coverage of `bed` by VEGF in design d, draw j (designs 0 and 1 swap in draw 0).
const COVERAGE: [[f64; 5]; 3] =
    [[0.50, 0.60, 0.70, 0.80, 0.90], [0.60, 0.55, 0.65, 0.62, 0.58], [0.10, 0.12, 0.11, 0.13, 0.14]];
/// Conditioned medium used by each design, mL.
const CM: [f64; 3] = [3.0, 1.0, 1.0];
const GEL: [&str; 3] = ["1 mm", "2 mm", "3 mm"];

/// A run folder with a hand-written summary.json, timeseries.csv and exposure.csv.
fn write_run(dir: &Path, complete: bool, coverage: f64, cm: f64, case: Option<serde_json::Value>) {
    std::fs::create_dir_all(dir).unwrap();
    let released = 40.0 + 50.0 * coverage;
    let summary = json!({
        "complete": complete,
        "scenario": { "name": "fake", "species": [{ "name": "VEGF", "concentration_unit": "pg/mL" }] },
        "species": [{ "name": "VEGF", "released_percent": released, "initial": 10.0, "added": 0.0,
                      "time_to_50_percent_release_h": 2.0 / coverage }],
        "exposure": { "targets": [{ "region": "bed", "species": "VEGF",
                                    "threshold": { "value": 5.0, "source": "scenario" },
                                    "coverage_time_avg": coverage, "coverage_final": coverage }] },
        "cost": { "cm_used_ml": cm },
        "wall_time_s": 0.5,
    });
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&summary).unwrap()).unwrap();
    let mut ts = String::from("time_s,time_h,species,material,released_percent\n");
    let mut ex = String::from(
        "time_s,time_h,region,species,unit,mean_free,peak_free,mean_bound,peak_bound,coverage,threshold\n",
    );
    for h in 0..=4 {
        let f = h as f64 / 4.0;
        for material in ["gel", "tissue"] {
            ts.push_str(&format!("{},{h},VEGF,{material},{}\n", h * 3600, released * f));
        }
        ex.push_str(&format!("{},{h},bed,VEGF,pg/mL,1,2,0,0,{},5\n", h * 3600, coverage * f));
    }
    std::fs::write(dir.join("timeseries.csv"), ts).unwrap();
    std::fs::write(dir.join("exposure.csv"), ex).unwrap();
    if let Some(case) = case {
        std::fs::write(dir.join("case.json"), case.to_string()).unwrap();
    }
}

fn case(index: usize, design: usize, sample: usize) -> serde_json::Value {
    json!({ "index": index, "design": design, "sample": sample,
            "values": [["region[gel].to", format!("\"{}\"", GEL[design.min(2)])]],
            "uncertain": [["species[VEGF].decay.tissue", format!("\"{} min\"", 30 + sample)]] })
}

/// A sweep folder: designs 0 to 2 under draws 0 to 4 (cases 0 to 14), an incomplete case 15 and a
/// case 16 that sweep.json lists but that has no folder.
fn fake_sweep(root: &Path) -> std::path::PathBuf {
    let sweep = root.join("sweep");
    let mut cases = Vec::new();
    for (d, draws) in COVERAGE.iter().enumerate() {
        for (j, &coverage) in draws.iter().enumerate() {
            let k = d * 5 + j;
            write_run(&sweep.join(format!("case_{k:05}")), true, coverage, CM[d], Some(case(k, d, j)));
            cases.push(case(k, d, j));
        }
    }
    write_run(&sweep.join("case_00015"), false, 0.99, 0.1, Some(case(15, 3, 0)));
    cases.push(case(15, 3, 0));
    cases.push(case(16, 3, 1));
    let index = json!({ "base": "base.toml", "design": "Grid", "keys": ["region[gel].to"], "cases": cases });
    std::fs::write(sweep.join("sweep.json"), index.to_string()).unwrap();
    sweep
}

/// comparison.csv as rows of column → text.
fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
}

fn num(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column].parse().unwrap_or_else(|_| panic!("{column} = {:?} is not a number", row[column]))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_sweep_under_uncertainty_is_ranked_with_bands_flips_and_its_pareto_front() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = fake_sweep(tmp.path());
    let out = tmp.path().join("out");
    let o = secretome(&["compare", sweep.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();

    let rows = read_csv(&out.join("comparison.csv"));
    let labels: Vec<&str> = rows.iter().map(|r| r["design"].as_str()).collect();
    assert_eq!(labels, ["sweep/design_0", "sweep/design_1", "sweep/design_2"], "ranked by median coverage");
    assert_eq!(rows.iter().map(|r| r["rank"].as_str()).collect::<Vec<_>>(), ["1", "2", "3"]);
    assert_eq!(rows.iter().map(|r| r["region[gel].to"].as_str()).collect::<Vec<_>>(), GEL);
    assert!(rows.iter().all(|r| r["samples"] == "5" && r["objective_metric"] == "coverage:VEGF@bed"));
    // Five draws: the 5th percentile sits at h = 0.2 and the 95th at h = 3.8 between order statistics.
    let want = [(0.70, 0.52, 0.88), (0.60, 0.556, 0.644), (0.12, 0.102, 0.138)];
    for (row, (median, p5, p95)) in rows.iter().zip(want) {
        let got = (num(row, "objective"), num(row, "objective_p5"), num(row, "objective_p95"));
        assert!(close(got.0, median) && close(got.1, p5) && close(got.2, p95), "{}: {got:?}", row["design"]);
        assert!(close(num(row, "coverage:VEGF@bed_p5"), p5), "per-metric band columns");
    }
    // Coverage up, medium down: design 2 (0.12, 1 mL) is dominated by design 1 (0.60, 1 mL).
    assert_eq!(rows.iter().map(|r| r["pareto"].as_str()).collect::<Vec<_>>(), ["true", "true", "false"]);
    assert_eq!(rows.iter().map(|r| r["first_in_draws"].as_str()).collect::<Vec<_>>(), ["4/5", "1/5", "0/5"]);
    assert!(close(num(&rows[1], "cm_used_ml"), 1.0));

    let flip = "the ranking flips within the parameters' uncertainty";
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    let html = std::fs::read_to_string(out.join("comparison.html")).unwrap();
    for (what, text) in [("stdout", &stdout), ("comparison.md", &md), ("comparison.html", &html)] {
        assert!(text.contains(flip), "{what} lacks the rank-flip warning:\n{text}");
        assert!(text.contains("first in 4 of 5"), "{what} lacks the top design's share of draws");
        assert!(text.contains("may swap"), "{what} lacks the overlapping bands of ranks 1 and 2");
        assert!(text.contains("case_00015") && text.contains("case_00016"), "{what} does not name the runs left out");
    }
    // Ranks 2 and 3 do not overlap: one pair only.
    assert_eq!(md.matches("may swap").count(), 1, "{md}");
    assert!(md.contains("| 1 | sweep/design_0 | 1 mm | 5 | 0.7 [0.52, 0.88] | 3 | yes |"), "{md}");

    // Four pictures, each a PNG that decodes, each embedded in the page.
    let pictures = ["compare_release.png", "compare_coverage.png", "compare_objective.png", "compare_pareto.png"];
    for p in pictures {
        let file = std::fs::File::open(out.join("plots").join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.width, 1000, "{p}");
        assert!(buf.iter().any(|&b| b != 255), "{p} is blank");
        assert!(html.contains(&format!("plots/{p}")), "the page lacks {p}");
    }
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), pictures.len());
}

#[test]
fn an_objective_to_minimise_reverses_the_ranking_and_out_defaults_to_the_first_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = fake_sweep(tmp.path());
    let o = secretome(&[
        "compare",
        sweep.to_str().unwrap(),
        "--objective",
        "t50_h:VEGF",
        "--pareto",
        "coverage:VEGF@bed,t50_h:VEGF",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = read_csv(&sweep.join("comparison.csv"));
    // t50 = 2 / coverage: the shortest belongs to the best-covered design.
    let labels: Vec<&str> = rows.iter().map(|r| r["design"].as_str()).collect();
    assert_eq!(labels, ["sweep/design_0", "sweep/design_1", "sweep/design_2"]);
    assert!(close(num(&rows[2], "objective"), 2.0 / 0.12));
    // Lower t50 and higher coverage go together: only design 0 is on the front.
    assert_eq!(rows.iter().map(|r| r["pareto"].as_str()).collect::<Vec<_>>(), ["true", "false", "false"]);
}

/// Runs the shipped slab scenario with the gel's diffusivity set to `d` µm²/s.
fn slab_run(root: &Path, d: u32) -> String {
    let text = std::fs::read_to_string(scenario("validation_slab_1d.toml")).unwrap();
    let text = text.replace("gel = \"100 um^2/s\"", &format!("gel = \"{d} um^2/s\""));
    assert!(text.contains(&format!("{d} um^2/s")));
    let file = root.join(format!("slab_{d}.toml"));
    std::fs::write(&file, text).unwrap();
    let out = root.join(format!("slab_d{d}"));
    let o = secretome(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
        "--no-plots",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    out.to_str().unwrap().to_string()
}

#[test]
fn real_runs_rank_as_the_diffusivity_releases() {
    let tmp = tempfile::tempdir().unwrap();
    // In a fixed hour, a sheet with a faster diffusivity releases more into the sinks.
    let runs: Vec<String> = [30, 300, 100].iter().map(|&d| slab_run(tmp.path(), d)).collect();
    let out = tmp.path().join("cmp");
    let mut args = vec!["compare"];
    args.extend(runs.iter().map(String::as_str));
    args.extend(["--out", out.to_str().unwrap()]);
    let o = secretome(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("ranked by released_percent:solute instead of coverage"), "{stdout}");
    let rows = read_csv(&out.join("comparison.csv"));
    let labels: Vec<&str> = rows.iter().map(|r| r["design"].as_str()).collect();
    assert_eq!(labels, ["slab_d300", "slab_d100", "slab_d30"]);
    let released: Vec<f64> = rows.iter().map(|r| num(r, "objective")).collect();
    assert!(released[0] > released[1] && released[1] > released[2], "{released:?}");
    // Crank's series at D t / L² = 0.36 gives 97.7 % for D = 100 µm²/s.
    assert!((released[1] - 97.7).abs() < 0.5, "{released:?}");
    // The same loading everywhere: the most released is the only point of the front.
    assert_eq!(rows.iter().map(|r| r["pareto"].as_str()).collect::<Vec<_>>(), ["true", "false", "false"]);
    // f2 against the top design's release curve: 100 for itself, lower the further a curve is.
    let f2: Vec<f64> = rows.iter().map(|r| num(r, "f2_vs_top:solute")).collect();
    assert!((f2[0] - 100.0).abs() < 1e-9 && f2[1] < 100.0 && f2[2] < f2[1], "{f2:?}");
    // The release chart has each run's curve: it is drawn from timeseries.csv.
    assert!(out.join("plots/compare_release.png").is_file());
    assert!(!out.join("plots/compare_coverage.png").exists(), "no exposure targets, no coverage curves");
    assert!(stdout.contains("no coverage curves"), "{stdout}");
}

/// Runs `compare` expecting a refusal whose message holds every one of `parts`.
fn refused(args: &[&str], parts: &[&str]) {
    let o = secretome(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} was accepted");
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    for p in parts {
        assert!(err.contains(p), "{args:?}: the message lacks {p:?}:\n{err}");
    }
}

#[test]
fn unknown_objectives_are_refused_with_what_the_runs_have() {
    let tmp = tempfile::tempdir().unwrap();
    let sweep = fake_sweep(tmp.path());
    let s = sweep.to_str().unwrap();
    refused(
        &["compare", s, "--objective", "coverage:VEGF@wound"],
        &["--objective coverage:VEGF@wound", "no target region `wound`", "their target regions are bed"],
    );
    refused(
        &["compare", s, "--objective", "coverage:VEGF16@bed"],
        &["--objective", "no species (factor) `VEGF16`", "did you mean `VEGF`"],
    );
    refused(
        &["compare", s, "--objective", "coverag:VEGF@bed"],
        &["--objective", "unknown metric `coverag`", "did you mean `coverage`"],
    );
    refused(&["compare", s, "--objective", "coverage:VEGF"], &["--objective", "coverage:SPECIES@REGION"]);
    refused(&["compare", s, "--pareto", "coverage:VEGF@bed"], &["--pareto", "two metrics as A,B"]);
    refused(&["compare", s, "--pareto", "coverage:VEGF@bed,cost_ml"], &["--pareto", "unknown metric `cost_ml`"]);
    assert!(!sweep.join("comparison.csv").exists(), "a refused comparison writes nothing");
}

#[test]
fn folders_that_hold_no_runs_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    refused(&["compare", missing.to_str().unwrap()], &["nowhere", "no such folder", "accepted: a run's output folder"]);
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    refused(&["compare", empty.to_str().unwrap()], &["empty", "neither a run", "sweep.json"]);
    // A sweep whose only case stopped part-way.
    let sweep = tmp.path().join("stopped");
    write_run(&sweep.join("case_00000"), false, 0.5, 1.0, Some(case(0, 0, 0)));
    std::fs::write(sweep.join("sweep.json"), json!({ "cases": [case(0, 0, 0)] }).to_string()).unwrap();
    refused(
        &["compare", sweep.to_str().unwrap()],
        &["no complete run to compare", "case_00000", "\"complete\": false"],
    );
    // A run folder that is no run.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("summary.json"), "not json").unwrap();
    refused(&["compare", bad.to_str().unwrap()], &["summary.json", "not a run summary"]);
}
