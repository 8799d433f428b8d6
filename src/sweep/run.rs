//! Running a sweep's cases: shards, concurrency, resuming, and collecting the results.
//!
//! Case `k` belongs to shard `k mod N` (shards numbered 1 to N, `--shard I/N`), so that N jobs
//! of a job array split a sweep with no coordination. Every case writes into its own folder
//! `case_NNNNN/` under the sweep's output folder (the usual run output, the case's scenario as
//! `scenario.toml` and its values as `case.json`); a case whose `summary.json` says
//! `"complete": true` is skipped, one with a checkpoint is resumed, any other is run from the
//! start. Nothing else is shared, so shards may run at once on one file system. With
//! [`FieldStore::Zarr`] each complete case's fields then move into the sweep's one Zarr store
//! ([`store`]), which shards share by writing only their own cases' chunks.

// The store's module lives beside this file; it is declared here so that `sweep/mod.rs` stays as
// it is.
#[path = "store.rs"]
pub mod store;

use super::{Case, Sweep, SweepError};
use crate::output::OutputDir;
use crate::run::{self, CHECKPOINT_FILE, RunOptions};
use crate::solver::EngineFactory;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
pub use store::FieldStore;

/// Which share of the cases this process runs: shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// `"I/N"` with 1 ≤ I ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("shard {text:?}: accepted: I/N with whole numbers 1 ≤ I ≤ N, e.g. 2/8");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard a job array gives, from `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN` and
    /// `SLURM_ARRAY_TASK_COUNT`, or Kubernetes' `JOB_COMPLETION_INDEX` (0-based) with the
    /// number of completions in `count_hint`; `None` outside a job array.
    pub fn from_env(get: impl Fn(&str) -> Option<String>, count_hint: Option<usize>) -> Result<Option<Shard>, String> {
        let num = |name: &str| -> Result<Option<usize>, String> {
            match get(name) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| format!("{name} = {v:?} is not a whole number")),
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count =
                num("SLURM_ARRAY_TASK_COUNT")?.ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            if id < min || id - min >= count {
                return Err(format!(
                    "SLURM_ARRAY_TASK_ID = {id} is outside the array ({count} tasks from {min}); submit the array as \
                     --array=0-{}",
                    count.saturating_sub(1)
                ));
            }
            return Ok(Some(Shard { index: id - min + 1, count }));
        }
        if let Some(k) = num("JOB_COMPLETION_INDEX")? {
            let count =
                count_hint.ok_or("JOB_COMPLETION_INDEX is set: give the number of completions with --shards N")?;
            if k >= count {
                return Err(format!("JOB_COMPLETION_INDEX = {k} is not below --shards {count}"));
            }
            return Ok(Some(Shard { index: k + 1, count }));
        }
        Ok(None)
    }

    /// Whether case `k` is this shard's.
    pub fn owns(&self, k: usize) -> bool {
        k % self.count == self.index - 1
    }
}

/// What became of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Already complete: skipped.
    Skipped,
    /// Run from the start.
    Ran,
    /// Continued from its checkpoint.
    Resumed,
}

/// Runs this shard's cases of `sweep` into `out`, `jobs` at a time on engines from `factory`
/// (one thread pool or GPU context for all). `interrupt` stops every running case at its next
/// output time with a checkpoint. Returns each case run and its outcome.
pub fn run_cases(
    sweep: &Sweep,
    out: &Path,
    shard: Shard,
    jobs: usize,
    factory: &EngineFactory,
    interrupt: Option<&AtomicBool>,
) -> Result<Vec<(usize, Outcome)>, SweepError> {
    run_cases_into(sweep, out, shard, jobs, factory, interrupt, FieldStore::Files)
}

/// As [`run_cases`], with the snapshot fields kept as `store` says: with [`FieldStore::Zarr`]
/// the cases run without ParaView files and each complete case (run now, or complete before
/// but not yet moved) has its fields moved into `out/fields.zarr`.
pub fn run_cases_into(
    sweep: &Sweep,
    out: &Path,
    shard: Shard,
    jobs: usize,
    factory: &EngineFactory,
    interrupt: Option<&AtomicBool>,
    store: FieldStore,
) -> Result<Vec<(usize, Outcome)>, SweepError> {
    let root = OutputDir::create(out, true)?;
    // Every shard writes the same index; the write is atomic.
    write_index(&root, sweep, &format!("{:?}", sweep.design), &sweep.cases)?;
    let zarr = match store {
        FieldStore::Files => None,
        FieldStore::Zarr => Some(store::ZarrStore::create(sweep, out)?),
    };
    let mine: Vec<&Case> = sweep.cases.iter().filter(|c| shard.owns(c.index)).collect();
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    let first_error = std::sync::Mutex::new(None);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(mine.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if first_error.lock().unwrap().is_some() {
                        return;
                    }
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    let Some(case) = mine.get(k) else { return };
                    match run_case_with(sweep, case, out, factory, interrupt, zarr.is_some()) {
                        Ok(outcome) => {
                            // A store that cannot take a case stops the sweep, as a folder would.
                            if let Some(Err(e)) = zarr.as_ref().map(|z| z.take_case(case, &out.join(case.folder()))) {
                                first_error.lock().unwrap().get_or_insert(e);
                                return;
                            }
                            results.lock().unwrap().push((case.index, outcome))
                        }
                        // A stop asked for, or a folder that cannot be written: stop the sweep.
                        Err(e @ (SweepError::Run(run::RunError::Interrupted { .. }) | SweepError::Output(_))) => {
                            first_error.lock().unwrap().get_or_insert(e);
                            return;
                        }
                        // A case that fails (its summary says why) does not stop the others.
                        Err(e) => failed.lock().unwrap().push(format!("case {}: {e}", case.index)),
                    }
                }
            });
        }
    });
    finish(sweep, results, first_error, failed)
}

/// What the workers of a sweep left: the first error that stopped them, else every failed case
/// named, else the outcomes in case order.
pub(crate) fn finish(
    sweep: &Sweep,
    results: std::sync::Mutex<Vec<(usize, Outcome)>>,
    first_error: std::sync::Mutex<Option<SweepError>>,
    failed: std::sync::Mutex<Vec<String>>,
) -> Result<Vec<(usize, Outcome)>, SweepError> {
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }
    let failed = failed.into_inner().unwrap();
    if !failed.is_empty() {
        return Err(SweepError::Invalid {
            file: sweep.file.clone(),
            message: format!("{} cases failed: {}", failed.len(), failed.join("; ")),
        });
    }
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    Ok(results)
}

/// Writes `sweep.json` into `root`: the base, the design, the keys and `cases`, atomically (what
/// `collect` reads).
pub(crate) fn write_index(root: &OutputDir, sweep: &Sweep, design: &str, cases: &[Case]) -> Result<(), SweepError> {
    let index = serde_json::json!({
        "base": sweep.base_path.display().to_string(),
        "design": design,
        "keys": sweep.variations.iter().map(|v| v.key()).collect::<Vec<_>>(),
        "uncertain": sweep.uncertain,
        "draws_per_design": sweep.samples.map(|s| s.0),
        "uncertainty_seed": sweep.samples.map(|s| s.1),
        "cases": cases,
    });
    root.write_atomic("sweep.json", serde_json::to_string_pretty(&index).expect("plain data").as_bytes())?;
    Ok(())
}

/// Whether the run in `dir` is complete.
pub fn is_complete(dir: &Path) -> bool {
    std::fs::read(dir.join("summary.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["complete"] == serde_json::Value::Bool(true))
}

/// Runs `case` into `out/case_NNNNN/` (skipped if complete there, resumed from a checkpoint).
pub(crate) fn run_case(
    sweep: &Sweep,
    case: &Case,
    out: &Path,
    factory: &EngineFactory,
    interrupt: Option<&AtomicBool>,
) -> Result<Outcome, SweepError> {
    run_case_with(sweep, case, out, factory, interrupt, false)
}

/// As [`run_case`], without ParaView files when `no_vtk`.
fn run_case_with(
    sweep: &Sweep,
    case: &Case,
    out: &Path,
    factory: &EngineFactory,
    interrupt: Option<&AtomicBool>,
    no_vtk: bool,
) -> Result<Outcome, SweepError> {
    let dir = out.join(case.folder());
    if is_complete(&dir) {
        return Ok(Outcome::Skipped);
    }
    let resume = dir.join(CHECKPOINT_FILE).exists();
    let problem = sweep.problem(case)?;
    let text = sweep.scenario_text(case);
    let folder = if resume { OutputDir::open(&dir)? } else { OutputDir::create(&dir, true)? };
    folder.write_atomic("scenario.toml", text.as_bytes())?;
    folder.write_atomic("case.json", serde_json::to_string_pretty(case).expect("plain data").as_bytes())?;
    let mut engine = factory.build(&problem)?;
    let options = RunOptions {
        checkpoint_every: Some(problem.schedule.end / 10.0),
        interrupt,
        resume,
        scenario_text: text,
        no_vtk,
    };
    run::run_with(&problem, engine.as_mut(), &folder, &mut run::Silent, &options)?;
    Ok(if resume { Outcome::Resumed } else { Outcome::Ran })
}

/// What `collect` found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Collected {
    /// Cases complete in exactly one folder.
    pub complete: usize,
    /// Cases with no complete result anywhere.
    pub missing: Vec<usize>,
    /// Cases complete in more than one of the folders given.
    pub duplicate: Vec<usize>,
}

/// Merges the case folders of one or more sweep output folders (shards that wrote apart) into
/// `results.csv` in the first: one row per case and species with the case's values and its
/// release figures and balance. Names every missing or duplicate case.
pub fn collect(dirs: &[&Path]) -> Result<Collected, SweepError> {
    let first = dirs
        .first()
        .ok_or_else(|| SweepError::Invalid { file: "collect".into(), message: "no folder given".into() })?;
    let index_path = first.join("sweep.json");
    let bytes = std::fs::read(&index_path).map_err(|error| SweepError::Read { path: index_path.clone(), error })?;
    let index: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| SweepError::Invalid {
        file: index_path.display().to_string(),
        message: format!("not a sweep index: {e}"),
    })?;
    let cases: Vec<Case> = serde_json::from_value(index["cases"].clone()).map_err(|e| SweepError::Invalid {
        file: index_path.display().to_string(),
        message: format!("not a sweep index: {e}"),
    })?;
    let keys: Vec<String> = cases
        .first()
        .map(|c| c.values.iter().chain(&c.uncertain).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    let mut found = Collected::default();
    let mut rows = String::from("case,design,sample");
    for k in &keys {
        rows.push(',');
        rows.push_str(&csv(k));
    }
    rows.push_str(",species,released_percent,time_to_50_percent_h,time_to_90_percent_h,relative_balance_error,wall_time_s,folder\n");
    // (the case's values as numbers where they are, its metrics by name).
    let mut table: Vec<CaseMetrics> = Vec::new();
    for case in &cases {
        let homes: Vec<&Path> = dirs.iter().copied().filter(|d| is_complete(&d.join(case.folder()))).collect();
        match homes.len() {
            0 => {
                found.missing.push(case.index);
                continue;
            }
            1 => found.complete += 1,
            _ => {
                found.duplicate.push(case.index);
                continue;
            }
        }
        let folder = homes[0].join(case.folder());
        let summary: serde_json::Value = serde_json::from_slice(
            &std::fs::read(folder.join("summary.json"))
                .map_err(|error| SweepError::Read { path: folder.join("summary.json"), error })?,
        )
        .map_err(|e| SweepError::Invalid { file: folder.display().to_string(), message: e.to_string() })?;
        let inputs: Vec<&(String, String)> = case.values.iter().chain(&case.uncertain).collect();
        table.push((
            inputs.iter().map(|(_, v)| leading_number(v)).collect(),
            crate::outcome::RunOutcome::from_summary(&folder, &summary, None).metrics,
        ));
        for s in summary["species"].as_array().into_iter().flatten() {
            rows.push_str(&format!(
                "{},{},{}",
                case.index,
                case.design,
                case.sample.map(|j| j.to_string()).unwrap_or_default()
            ));
            for (_, v) in &inputs {
                rows.push(',');
                rows.push_str(&csv(v.trim_matches('"')));
            }
            let num = |k: &str| s[k].as_f64().map(|x| format!("{x:e}")).unwrap_or_default();
            rows.push_str(&format!(
                ",{},{},{},{},{},{},{}\n",
                csv(s["name"].as_str().unwrap_or("")),
                num("released_percent"),
                num("time_to_50_percent_release_h"),
                num("time_to_90_percent_release_h"),
                num("relative_balance_error"),
                summary["wall_time_s"].as_f64().map(|x| format!("{x:e}")).unwrap_or_default(),
                csv(&folder.display().to_string()),
            ));
        }
    }
    let dir = OutputDir::open(first)?;
    dir.write_atomic("results.csv", rows.as_bytes())?;
    dir.write_atomic("sensitivity.csv", sensitivity(&keys, &table).as_bytes())?;
    Ok(found)
}

fn csv(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// The number a value starts with (`"2.6 mm"` → 2.6, `0.5` → 0.5), if any.
fn leading_number(value: &str) -> Option<f64> {
    let v = value.trim().trim_matches('"');
    v.split_whitespace().next()?.parse().ok().filter(|x: &f64| x.is_finite())
}

/// A case's inputs as numbers (where they are) and its metrics by name.
type CaseMetrics = (Vec<Option<f64>>, std::collections::BTreeMap<String, f64>);

/// Spearman's rank correlation of each numeric input (design and uncertain keys) with each
/// metric of the runs (`crate::outcome` names: `released_percent:VEGF`,
/// `coverage:VEGF@wound_bed`, …): `sensitivity.csv` with columns metric, key, spearman_rho,
/// cases, the keys of each metric by decreasing |ρ|.
fn sensitivity(keys: &[String], table: &[CaseMetrics]) -> String {
    let mut out = String::from("metric,key,spearman_rho,cases\n");
    let mut metrics: Vec<&String> = table.iter().flat_map(|r| r.1.keys()).collect();
    metrics.sort();
    metrics.dedup();
    for metric in metrics {
        let mut found: Vec<(f64, &String, usize)> = Vec::new();
        for (k, key) in keys.iter().enumerate() {
            let pairs: Vec<(f64, f64)> = table.iter().filter_map(|r| Some((r.0[k]?, *r.1.get(metric)?))).collect();
            if let Some(rho) = spearman(&pairs) {
                found.push((rho, key, pairs.len()));
            }
        }
        found.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
        for (rho, key, n) in found {
            out.push_str(&format!("{},{},{rho},{n}\n", csv(metric), csv(key)));
        }
    }
    out
}

/// The inputs that move `metric` most, from a `sensitivity.csv`: (key, ρ, cases) by decreasing
/// |ρ|.
pub fn sensitivity_of(csv_text: &str, metric: &str) -> Vec<(String, f64, usize)> {
    csv_text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.rsplitn(4, ',');
            let n = f.next()?.parse().ok()?;
            let rho = f.next()?.parse().ok()?;
            let key = f.next()?.trim_matches('"').to_string();
            let m = f.next()?.trim_matches('"');
            (m == metric).then_some((key, rho, n))
        })
        .collect()
}

/// Ranks with ties averaged.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        for &o in &order[i..=j] {
            r[o] = (i + j) as f64 / 2.0 + 1.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ (Pearson's correlation of the ranks); `None` with fewer than 3 pairs or a
/// constant column.
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let a = ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let b = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}
