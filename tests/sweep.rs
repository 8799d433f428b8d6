//! Sweeps: deterministic expansion (grid, lists, Latin hypercube with a seed), shards that
//! partition the cases exactly, resuming an interrupted sweep to the same results as an
//! uninterrupted one, shards written apart merged by `collect`, and refusals of bad sweep files.

mod common;

use secretome::solver::{Backend, EngineFactory};
use secretome::sweep::run::{Outcome, Shard, collect, run_cases};
use secretome::sweep::{Sweep, SweepError};
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn base() -> String {
    common::gel_sheet_scenario(
        "sheet",
        [40, 1, 1],
        "end = \"2 h\"\noutput_interval = \"20 min\"\nscheme = \"adi\"\ntolerance = 1e-3",
        "0.5 mm",
        r#"
[[species]]
name = "VEGF"
unit = "pg/mL"
diffusivity = { gel = "105 um^2/s", tissue = "41 um^2/s" }
decay = { gel = "90 min", tissue = "33.7 min" }
initial = { gel = "30 pg/mL" }
[[dose]]
region = "sheet"
mode = "replace"
times = ["1 h"]
[[boundary]]
faces = ["xmax"]
species = ["all"]
type = "fixed"
value = "0 pg/mL"
"#,
    )
}

fn sweep(dir: &Path, text: &str) -> Result<Sweep, SweepError> {
    std::fs::write(dir.join("base.toml"), base()).unwrap();
    Sweep::from_str(text, "sweep.toml", dir)
}

const GRID: &str = r#"
[sweep]
base = "base.toml"
[[vary]]
key = "region[sheet].to"
values = ["0.3 mm", "0.5 mm"]
[[vary]]
key = "species[VEGF].initial.gel"
from = "10 pg/mL"
to = "30 pg/mL"
steps = 3
"#;

#[test]
fn a_grid_expands_every_combination_in_a_fixed_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(dir.path(), GRID).unwrap();
    let rows: Vec<String> = s.cases.iter().map(|c| c.describe()).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0], "region[sheet].to = \"0.3 mm\", species[VEGF].initial.gel = \"10 pg/mL\"");
    assert_eq!(rows[1], "region[sheet].to = \"0.3 mm\", species[VEGF].initial.gel = \"20 pg/mL\"");
    assert_eq!(rows[5], "region[sheet].to = \"0.5 mm\", species[VEGF].initial.gel = \"30 pg/mL\"");
    // The values reach the problem.
    let p = s.problem(&s.cases[1]).unwrap();
    assert!((p.species[0].initial[0] - 20.0).abs() < 1e-12);
    assert_eq!(p.region_cells("sheet").unwrap().len(), 6);
    assert_eq!(sweep(dir.path(), GRID).unwrap().cases, s.cases, "expansion is deterministic");
}

#[test]
fn a_latin_hypercube_is_drawn_again_from_its_seed_and_fills_every_stratum() {
    let dir = tempfile::tempdir().unwrap();
    let text = |seed: u64| {
        format!(
            "[sweep]\nbase = \"base.toml\"\ndesign = \"lhs\"\nsamples = 8\nseed = {seed}\n\
             [[vary]]\nkey = \"species[0].initial.gel\"\nfrom = \"10 pg/mL\"\nto = \"90 pg/mL\"\n\
             [[vary]]\nkey = \"time.tolerance\"\nfrom = 1e-4\nto = 1e-2\nscale = \"log\"\n"
        )
    };
    let a = sweep(dir.path(), &text(7)).unwrap();
    assert_eq!(a.cases, sweep(dir.path(), &text(7)).unwrap().cases, "the same seed draws the same cases");
    assert_ne!(a.cases, sweep(dir.path(), &text(8)).unwrap().cases, "another seed draws others");
    let mut strata: Vec<usize> = a
        .cases
        .iter()
        .map(|c| {
            let v: f64 = c.values[0].1.trim_matches('"').split(' ').next().unwrap().parse().unwrap();
            ((v - 10.0) / 10.0).floor() as usize
        })
        .collect();
    strata.sort();
    assert_eq!(strata, (0..8).collect::<Vec<_>>(), "one sample in each of the 8 strata");
    let mut logs: Vec<usize> = a
        .cases
        .iter()
        .map(|c| ((c.values[1].1.parse::<f64>().unwrap().log10() + 4.0) / 0.25).floor() as usize)
        .collect();
    logs.sort();
    assert_eq!(logs, (0..8).collect::<Vec<_>>(), "log strata");
}

#[test]
fn shards_partition_the_cases_exactly() {
    for n in 1..=7 {
        let mut seen = vec![0; 23];
        for i in 1..=n {
            let shard = Shard::parse(&format!("{i}/{n}")).unwrap();
            for (k, count) in seen.iter_mut().enumerate() {
                if shard.owns(k) {
                    *count += 1;
                }
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{n} shards: {seen:?}");
    }
    for bad in ["5/4", "0/4", "1/0", "a/b", "3"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let slurm = env(&[("SLURM_ARRAY_TASK_ID", "12"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
    assert_eq!(Shard::from_env(slurm, None).unwrap(), Some(Shard { index: 3, count: 4 }));
    let k8s = env(&[("JOB_COMPLETION_INDEX", "0")]);
    assert_eq!(Shard::from_env(k8s, Some(3)).unwrap(), Some(Shard { index: 1, count: 3 }));
    assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")]), None).is_err());
    assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_COUNT", "4")]), None).is_err());
    assert_eq!(Shard::from_env(env(&[]), None).unwrap(), None);
}

/// Every case folder's time series and fields, for comparing two sweeps.
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for case in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()) {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        out.push((format!("{name}/timeseries.csv"), std::fs::read(case.join("timeseries.csv")).unwrap()));
        for f in std::fs::read_dir(case.join("fields")).unwrap().map(|e| e.unwrap().path()) {
            out.push((format!("{name}/{}", f.file_name().unwrap().to_string_lossy()), std::fs::read(&f).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn an_interrupted_sweep_run_again_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(dir.path(), GRID).unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 2).unwrap();
    let whole = dir.path().join("whole");
    let done = run_cases(&s, &whole, Shard::ALL, 2, &factory, None).unwrap();
    assert!(done.iter().all(|(_, o)| *o == Outcome::Ran));
    assert_eq!(collect(&[&whole]).unwrap().complete, 6);

    // Half the cases, then a stop that catches the next case at its first output time.
    let parts = dir.path().join("parts");
    run_cases(&s, &parts, Shard::parse("1/2").unwrap(), 1, &factory, None).unwrap();
    let stop = AtomicBool::new(true);
    let err = run_cases(&s, &parts, Shard::ALL, 1, &factory, Some(&stop)).err().expect("stopped");
    assert!(err.to_string().contains("interrupted"), "{err}");
    let again = run_cases(&s, &parts, Shard::ALL, 1, &factory, None).unwrap();
    let count = |o| again.iter().filter(|(_, x)| *x == o).count();
    assert_eq!((count(Outcome::Skipped), count(Outcome::Resumed), count(Outcome::Ran)), (3, 1, 2));
    assert!(outputs(&whole) == outputs(&parts), "the resumed sweep's outputs differ");
    // Sweeps running the same cases in another order and number at once give the same results.
    let drop_columns = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("results.csv"))
            .unwrap()
            .lines()
            .map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string())
            .collect()
    };
    collect(&[&parts]).unwrap();
    assert_eq!(drop_columns(&whole), drop_columns(&parts));
    // A thicker sheet releases a smaller fraction in the same time: the sensitivity says so.
    let sens = std::fs::read_to_string(whole.join("sensitivity.csv")).unwrap();
    let rho: f64 = sens
        .lines()
        .find(|l| l.starts_with("released_percent:VEGF,region[sheet].to,"))
        .unwrap_or_else(|| panic!("{sens}"))
        .split(',')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(rho < -0.8, "ρ = {rho}\n{sens}");
}

#[test]
fn spearman_correlation_of_monotone_and_reversed_pairs() {
    use secretome::sweep::run::spearman;
    let up: Vec<(f64, f64)> = (0..6).map(|i| (i as f64, (i as f64).exp())).collect();
    assert_eq!(spearman(&up), Some(1.0));
    let down: Vec<(f64, f64)> = (0..6).map(|i| (i as f64, -(i as f64).powi(3))).collect();
    assert_eq!(spearman(&down), Some(-1.0));
    assert_eq!(spearman(&up[..2]), None);
    assert_eq!(spearman(&[(1.0, 2.0), (1.0, 3.0), (1.0, 4.0)]), None, "a constant key says nothing");
}

#[test]
fn shards_written_apart_are_merged_and_gaps_and_duplicates_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(dir.path(), GRID).unwrap();
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_cases(&s, &a, Shard::parse("1/3").unwrap(), 1, &factory, None).unwrap();
    run_cases(&s, &b, Shard::parse("2/3").unwrap(), 1, &factory, None).unwrap();
    let found = collect(&[&a, &b]).unwrap();
    assert_eq!((found.complete, found.missing.clone()), (4, vec![2, 5]), "{found:?}");
    run_cases(&s, &b, Shard::parse("3/3").unwrap(), 1, &factory, None).unwrap();
    run_cases(&s, &a, Shard::parse("2/3").unwrap(), 1, &factory, None).unwrap();
    let found = collect(&[&a, &b]).unwrap();
    assert_eq!(found.missing, Vec::<usize>::new());
    assert_eq!(found.duplicate, vec![1, 4], "{found:?}");
}

#[test]
fn bad_sweep_files_are_refused_with_what_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |text: &str, also: &[&str]| {
        let msg = sweep(dir.path(), text).expect_err("refused").to_string();
        for a in also {
            assert!(msg.contains(a), "no `{a}` in: {msg}");
        }
    };
    let head = "[sweep]\nbase = \"base.toml\"\n";
    refused(
        &format!("{head}[[vary]]\nkey = \"species[0].diffusion.gel\"\nvalues = [\"1 um^2/s\"]"),
        &["no such value", "species[0].diffusivity.gel"],
    );
    refused(&format!("{head}[[vary]]\nkey = \"time.end\"\nvalues = [\"3 pg/mL\"]"), &["case 0", "time.end", "3 pg/mL"]);
    refused(head, &["empty sweep"]);
    refused(&format!("{head}[[vary]]\nkey = \"time.end\"\nvalues = []"), &["empty"]);
    refused(
        &format!("{head}design = \"lhs\"\nsamples = 4\n[[vary]]\nkey = \"time.end\"\nfrom = \"1 h\"\nto = \"2 h\""),
        &["seed"],
    );
    refused(&format!("{head}[[vary]]\nkey = \"time.end\"\nfrom = \"1 h\"\nto = \"2 d\"\nsteps = 2"), &["same unit"]);
    refused(&format!("{head}[[vary]]\nkey = \"time.end\"\nfrom = \"1 h\"\nto = \"2 h\""), &["steps"]);
}

const UNCERTAIN: &str = r#"
[sweep]
base = "base.toml"
[[vary]]
key = "region[sheet].to"
values = ["0.3 mm", "0.5 mm"]
[uncertainty]
samples = 6
seed = 11
[[uncertain]]
key = "species[VEGF].decay.tissue"
library = "EGF.half_life"
[[uncertain]]
key = "species[VEGF].diffusivity.tissue"
from = "30 um^2/s"
to = "60 um^2/s"
"#;

#[test]
fn uncertain_parameters_are_drawn_alike_for_every_design_within_their_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let s = sweep(dir.path(), UNCERTAIN).unwrap();
    assert_eq!(s.cases.len(), 12, "2 designs × 6 draws");
    assert_eq!(sweep(dir.path(), UNCERTAIN).unwrap().cases, s.cases, "drawn again from the seed");
    // The library's range: EGF's elimination half-life, 78 to 118 min, with its source.
    let u = &s.uncertain[0];
    assert_eq!((u.from.as_str(), u.to.as_str()), ("78 min", "118 min"));
    assert!(u.log && u.source.contains("Kuo") && u.source.contains("verified"), "{u:?}");
    for design in 0..2 {
        let cases: Vec<_> = s.cases.iter().filter(|c| c.design == design).collect();
        assert_eq!(cases.len(), 6);
        for (j, c) in cases.iter().enumerate() {
            assert_eq!(c.sample, Some(j));
            // Common draws: draw j is the same for every design.
            assert_eq!(c.uncertain, s.cases[j].uncertain, "design {design} draw {j}");
            assert_eq!(c.values, cases[0].values);
        }
    }
    // Every draw inside its range, one per stratum (a Latin hypercube of the draws).
    let minutes: Vec<f64> = s.cases[..6]
        .iter()
        .map(|c| c.uncertain[0].1.trim_matches('"').split(' ').next().unwrap().parse().unwrap())
        .collect();
    let mut strata: Vec<usize> =
        minutes.iter().map(|m| ((m / 78.0f64).ln() / (118.0f64 / 78.0).ln() * 6.0) as usize).collect();
    strata.sort();
    assert_eq!(strata, (0..6).collect::<Vec<_>>(), "{minutes:?}");
    // The drawn values reach the problem.
    let p = s.problem(&s.cases[3]).unwrap();
    let tissue = p.materials.iter().position(|m| m.name == "tissue").unwrap();
    let k = (2.0f64).ln() / (minutes[3] * 60.0);
    assert!((p.species[0].decay_rate[tissue] / k - 1.0).abs() < 1e-9);

    // Refusals.
    let refused = |text: &str, also: &[&str]| {
        let msg = sweep(dir.path(), text).expect_err("refused").to_string();
        for a in also {
            assert!(msg.contains(a), "no `{a}` in: {msg}");
        }
    };
    refused(
        &UNCERTAIN.replace("library = \"EGF.half_life\"", "library = \"VEGF165.half_life\""),
        &["uncertain[0].library", "one value", "from"],
    );
    refused(&UNCERTAIN.replace("EGF.half_life", "EGG.half_life"), &["no factor `EGG`", "EGF"]);
    refused(&UNCERTAIN.replace("EGF.half_life", "EGF.halflife"), &["no `halflife`", "half_life"]);
    refused(&UNCERTAIN.replace("samples = 6", "samples = 1"), &["uncertainty.samples", "from 2"]);
    refused(&UNCERTAIN.replace("decay.tissue", "decay.tisue"), &["uncertain[0].key", "closest", "decay.tissue"]);
    refused(&UNCERTAIN.replace("[uncertainty]\nsamples = 6\nseed = 11\n", ""), &["without [uncertainty]"]);
    refused(&UNCERTAIN.replace("from = \"30 um^2/s\"", "from = \"30 mm\""), &["`uncertain[1]`", "same unit"]);
    refused(
        &UNCERTAIN.replace("\"30 um^2/s\"", "\"30 mm\"").replace("\"60 um^2/s\"", "\"60 mm\""),
        &["species[VEGF].diffusivity.tissue", "mm"],
    );
    refused(&UNCERTAIN.replace("species[VEGF].diffusivity.tissue", "region[sheet].to"), &["already varied"]);
}

#[test]
fn a_sweep_under_uncertainty_is_collected_with_its_draws_and_compared_with_bands() {
    let dir = tempfile::tempdir().unwrap();
    let text = UNCERTAIN.replace("samples = 6", "samples = 3");
    let s = sweep(dir.path(), &text).unwrap();
    let out = dir.path().join("out");
    let factory = EngineFactory::new(Backend::Cpu, 1).unwrap();
    run_cases(&s, &out, Shard::ALL, 2, &factory, None).unwrap();
    collect(&[&out]).unwrap();
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let header = results.lines().next().unwrap();
    assert!(
        header.starts_with(
            "case,design,sample,region[sheet].to,species[VEGF].decay.tissue,species[VEGF].diffusivity.tissue,"
        ),
        "{header}"
    );
    assert_eq!(results.lines().count(), 1 + 6);
    // Every metric has its sensitivity, the uncertain keys among the inputs.
    let sens = std::fs::read_to_string(out.join("sensitivity.csv")).unwrap();
    let of = secretome::sweep::run::sensitivity_of(&sens, "released_percent:VEGF");
    assert!(of.iter().any(|(k, _, n)| k == "species[VEGF].decay.tissue" && *n == 6), "{of:?}");
    // compare: two designs, each with 3 draws, a median inside its band.
    let o = common::command::secretome(&["compare", out.to_str().unwrap(), "--objective", "released_percent:VEGF"]);
    assert!(o.status.success(), "{}", common::command::stderr(&o));
    let table = std::fs::read_to_string(out.join("comparison.csv")).unwrap();
    assert_eq!(table.lines().count(), 3, "{table}");
    // A thinner sheet releases a larger fraction: design 0 (0.3 mm) ranks first in every draw.
    let first = table.lines().nth(1).unwrap();
    assert!(first.contains("0.3 mm"), "{table}");
}

#[test]
fn every_shipped_sweep_loads_with_every_case_compiled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweeps");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let s = Sweep::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!s.cases.is_empty(), "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 1, "no sweep in {}", dir.display());
}
