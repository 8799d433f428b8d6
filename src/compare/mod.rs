//! `secretome compare`: finished runs and sweep cases side by side, as designs ranked by one
//! objective, with the spread each design shows under its uncertain parameters, the rank flips
//! that spread allows, and the Pareto front of two metrics (docs/compare.md).
//!
//! A run's output folder is one design. In a sweep's (or an optimisation's) output folder, the
//! cases with the same `design` in their `case.json` are draws of one design under the
//! uncertain parameters; their draw index `sample` is shared across designs when the draws are
//! common. Per design and metric the summary is the median and the 90 % band (the 5th and 95th
//! percentiles, [`percentile`]).
//!
//! [`gather`] reads the folders, [`Comparison::new`] ranks, [`write`] writes
//! `comparison.csv`, `comparison.md`, `comparison.html` and the pictures in `plots/`.

mod plots;
mod tables;

use crate::outcome::{Objective, OutcomeError, RunOutcome};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use tables::summary_text;

/// Errors of `compare`.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A folder given is neither a run's output folder nor a sweep's.
    #[error(
        "{path}: {message}; accepted: a run's output folder (with summary.json) or a sweep's or an optimisation's (with sweep.json and case_NNNNN/ folders)"
    )]
    NotARunOrSweep { path: PathBuf, message: String },
    /// No complete run in any of the folders given.
    #[error("no complete run to compare in {dirs}{left_out}")]
    NoRuns { dirs: String, left_out: String },
    /// A run folder given by name that cannot be read as a run.
    #[error(transparent)]
    Outcome(#[from] OutcomeError),
    /// An objective or a Pareto metric that is not a metric of the runs (the message of
    /// [`Objective::parse`] or [`Objective::check`]).
    #[error("{0}")]
    Metric(String),
    /// A picture could not be drawn or its file not read back.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// A file could not be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// One design: a run, or the cases of a sweep that share their design (one per draw).
#[derive(Clone, Debug)]
pub struct Design {
    /// A short name: the run's folder name, or `<sweep folder>/case_NNNNN` (one case) or
    /// `<sweep folder>/design_D` (several draws).
    pub label: String,
    /// The run's folder, or the sweep's.
    pub folder: PathBuf,
    /// (key, value) of every design key (empty for a run outside a sweep); values as the sweep
    /// file writes them, without TOML quotes.
    pub values: Vec<(String, String)>,
    /// Its complete runs, in the order of their draw.
    pub runs: Vec<RunOutcome>,
}

impl Design {
    /// Whether its runs are draws of uncertain parameters.
    pub fn has_samples(&self) -> bool {
        self.runs.iter().any(|r| r.case.as_ref().is_some_and(|c| c.sample.is_some()))
    }
}

/// What [`gather`] found.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub designs: Vec<Design>,
    /// Runs left out: (folder, why).
    pub left_out: Vec<(PathBuf, String)>,
}

impl Gathered {
    /// Every complete run.
    pub fn runs(&self) -> Vec<RunOutcome> {
        self.designs.iter().flat_map(|d| d.runs.iter().cloned()).collect()
    }
}

/// Reads every folder: a run's output folder is one design; a sweep's output folder
/// (`sweep.json`) gives its `case_NNNNN/` folders, grouped into designs by their `case.json`.
/// Incomplete runs (no `summary.json`, or `"complete": false`) are left out and named.
pub fn gather(dirs: &[PathBuf]) -> Result<Gathered, CompareError> {
    let mut found = Gathered::default();
    for dir in dirs {
        let not = |message: &str| CompareError::NotARunOrSweep { path: dir.clone(), message: message.to_string() };
        if !dir.is_dir() {
            return Err(not(if dir.exists() { "not a folder" } else { "no such folder" }));
        }
        if dir.join("summary.json").is_file() {
            let run = RunOutcome::read(dir)?;
            if run.complete {
                found.designs.push(Design {
                    label: run.label(),
                    folder: dir.clone(),
                    values: Vec::new(),
                    runs: vec![run],
                });
            } else {
                found.left_out.push((dir.clone(), "summary.json says \"complete\": false".into()));
            }
        } else if dir.join("sweep.json").is_file() {
            gather_sweep(dir, &mut found)?;
        } else {
            return Err(not("neither a run (no summary.json) nor a sweep (no sweep.json)"));
        }
    }
    // Labels that two folders share get the folder's whole path.
    let labels: Vec<String> = found.designs.iter().map(|d| d.label.clone()).collect();
    for d in &mut found.designs {
        if labels.iter().filter(|l| **l == d.label).count() > 1 {
            d.label = match d.label.rsplit_once('/') {
                Some((_, case)) if d.folder.join("sweep.json").is_file() => format!("{}/{case}", d.folder.display()),
                _ => d.folder.display().to_string(),
            };
        }
    }
    if found.designs.is_empty() {
        let left_out = if found.left_out.is_empty() {
            String::new()
        } else {
            format!("; left out: {}", describe_left_out(&found.left_out))
        };
        let dirs = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
        return Err(CompareError::NoRuns { dirs, left_out });
    }
    Ok(found)
}

/// `folder (why), …`.
pub fn describe_left_out(left_out: &[(PathBuf, String)]) -> String {
    left_out.iter().map(|(p, why)| format!("{} ({why})", p.display())).collect::<Vec<_>>().join(", ")
}

/// The case folders of a sweep: those `sweep.json` lists and those on disk.
fn gather_sweep(dir: &Path, found: &mut Gathered) -> Result<(), CompareError> {
    let index_path = dir.join("sweep.json");
    let bad = |message: String| CompareError::NotARunOrSweep { path: index_path.clone(), message };
    let index: serde_json::Value = std::fs::read(&index_path)
        .map_err(|e| bad(format!("cannot read: {e}")))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| bad(format!("not a sweep index: {e}"))))?;
    let listed: Vec<crate::outcome::CaseInfo> = match index.get("cases") {
        Some(cases) => serde_json::from_value(cases.clone()).map_err(|e| bad(format!("not a sweep index: {e}")))?,
        None => Vec::new(),
    };
    let mut folders: Vec<String> = listed.iter().map(|c| format!("case_{:05}", c.index)).collect();
    let entries = std::fs::read_dir(dir).map_err(|e| bad(format!("cannot list the folder: {e}")))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("case_") && entry.path().is_dir() && !folders.contains(&name) {
            folders.push(name);
        }
    }
    folders.sort();
    let sweep_name =
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
    // Designs of this sweep by their number, in order of first appearance.
    let mut designs: Vec<(usize, Design)> = Vec::new();
    for folder in folders {
        let path = dir.join(&folder);
        if !path.join("summary.json").is_file() {
            found.left_out.push((path, "no summary.json".into()));
            continue;
        }
        let mut run = match RunOutcome::read(&path) {
            Ok(run) => run,
            Err(e) => {
                found.left_out.push((path, e.message));
                continue;
            }
        };
        if !run.complete {
            found.left_out.push((path, "summary.json says \"complete\": false".into()));
            continue;
        }
        if run.case.is_none() {
            run.case = listed.iter().find(|c| format!("case_{:05}", c.index) == folder).cloned();
        }
        // A case folder without case.json in a sweep.json without it is a design of its own.
        let design = run.case.as_ref().map_or(usize::MAX - designs.len(), |c| c.design);
        let values: Vec<(String, String)> = run
            .case
            .as_ref()
            .map(|c| c.values.iter().map(|(k, v)| (k.clone(), v.trim().trim_matches('"').to_string())).collect())
            .unwrap_or_default();
        match designs.iter_mut().find(|(d, _)| *d == design) {
            Some((_, d)) => d.runs.push(run),
            None => designs.push((
                design,
                Design { label: format!("{sweep_name}/{folder}"), folder: dir.to_path_buf(), values, runs: vec![run] },
            )),
        }
    }
    for (number, mut d) in designs {
        d.runs.sort_by_key(|r| r.case.as_ref().and_then(|c| c.sample));
        if d.runs.len() > 1 || d.has_samples() {
            d.label = format!("{sweep_name}/design_{number}");
        }
        found.designs.push(d);
    }
    Ok(())
}

/// The `p`-th quantile (0 ≤ p ≤ 1) of ascending `sorted` values, linear between order
/// statistics: at position h = (n − 1)·p, x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋+1₎ − x₍⌊h⌋₎). One value is
/// its own quantile; `None` for none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// A metric over the draws of a design: median and 90 % band.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Band {
    pub median: f64,
    /// 5th percentile.
    pub p5: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Number of draws with a value.
    pub n: usize,
}

impl Band {
    /// The band of `values` (any order); `None` for none.
    pub fn of(values: &[f64]) -> Option<Band> {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Some(Band { median: percentile(&v, 0.5)?, p5: percentile(&v, 0.05)?, p95: percentile(&v, 0.95)?, n: v.len() })
    }

    /// Whether the two bands share a point.
    pub fn overlaps(&self, other: &Band) -> bool {
        self.p5.max(other.p5) <= self.p95.min(other.p95)
    }
}

/// The objective when none is given: the time-averaged coverage of the first target region of
/// the first species that has a threshold (`coverage:S@R`); without exposure targets,
/// `released_percent` of the first species, with a note saying so.
pub fn default_objective(runs: &[RunOutcome]) -> (Objective, Option<String>) {
    for run in runs {
        let with_threshold =
            run.species.iter().find(|s| run.regions.iter().any(|r| run.thresholds.contains_key(&format!("{s}@{r}"))));
        if let Some(s) = with_threshold {
            let r = run.regions.iter().find(|r| run.thresholds.contains_key(&format!("{s}@{r}"))).expect("found above");
            return (Objective::parse(&format!("coverage:{s}@{r}")).expect("a known metric"), None);
        }
    }
    let species = runs.iter().flat_map(|r| r.species.first()).next().cloned().unwrap_or_default();
    let objective = Objective::parse(&format!("released_percent:{species}")).expect("a known metric");
    let note = format!(
        "no run has exposure targets with a threshold ([metrics] targets in the scenario): ranked by {} instead of \
         coverage",
        objective.name()
    );
    (objective, Some(note))
}

/// The Pareto metrics when none are given: the objective and `cm_used_ml` where the runs have
/// it, else the objective and `loaded:S` of the objective's species (or the first species).
pub fn default_pareto(objective: &Objective, runs: &[RunOutcome]) -> (Objective, Objective) {
    let second = if objective.metric != "cm_used_ml" && runs.iter().any(|r| r.metrics.contains_key("cm_used_ml")) {
        "cm_used_ml".to_string()
    } else {
        let species = objective
            .species
            .clone()
            .or_else(|| runs.iter().flat_map(|r| r.species.first()).next().cloned())
            .unwrap_or_default();
        format!("loaded:{species}")
    };
    (objective.clone(), Objective::parse(&second).expect("a known metric"))
}

/// Parses a metric and checks it against the runs ([`Objective::parse`], [`Objective::check`]).
pub fn metric(text: &str, runs: &[RunOutcome]) -> Result<Objective, CompareError> {
    let o = Objective::parse(text).map_err(CompareError::Metric)?;
    o.check(runs).map_err(CompareError::Metric)?;
    Ok(o)
}

/// Which of `points` (metric A, metric B) are Pareto-optimal: no other point is at least as good
/// in both and strictly better in one (more is better where `maximize_*`). A point without both
/// values is on no front and dominates none.
pub fn pareto_front(points: &[Option<(f64, f64)>], maximize_a: bool, maximize_b: bool) -> Vec<bool> {
    // Values within single precision of each other are equal: the engines' fields are f32, so
    // two designs that put in the same amount book it equal only to about 1e-7.
    let same = |x: f64, y: f64| (x - y).abs() <= SAME * x.abs().max(y.abs());
    let better = |x: f64, y: f64, max: bool| !same(x, y) && if max { x > y } else { x < y };
    let as_good = |x: f64, y: f64, max: bool| same(x, y) || if max { x >= y } else { x <= y };
    points
        .iter()
        .map(|p| {
            let Some((a, b)) = *p else { return false };
            !points.iter().flatten().any(|&(oa, ob)| {
                as_good(oa, a, maximize_a)
                    && as_good(ob, b, maximize_b)
                    && (better(oa, a, maximize_a) || better(ob, b, maximize_b))
            })
        })
        .collect()
}

/// The order of `values` best first (descending if `maximize`), those without a value last;
/// equal values keep their order.
pub fn ranking(values: &[Option<f64>], maximize: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| match (values[a], values[b]) {
        (Some(x), Some(y)) => {
            if maximize {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    order
}

/// For draws common to several designs: per design, (draws in which it is first, common draws
/// it takes part in). `draws[d]` holds design d's (draw index, objective value); a draw counts
/// when at least two designs have it, and a design is first in it when no other design is
/// strictly better there.
pub fn firsts_in_common_draws(draws: &[Vec<(usize, f64)>], maximize: bool) -> Vec<Option<(usize, usize)>> {
    let mut by_draw: BTreeMap<usize, Vec<(usize, f64)>> = BTreeMap::new();
    for (d, samples) in draws.iter().enumerate() {
        for &(j, v) in samples {
            by_draw.entry(j).or_default().push((d, v));
        }
    }
    let mut out = vec![None; draws.len()];
    for entries in by_draw.values().filter(|e| e.len() >= 2) {
        let best =
            entries.iter().map(|e| e.1).fold(if maximize { f64::NEG_INFINITY } else { f64::INFINITY }, |a, b| {
                if maximize { a.max(b) } else { a.min(b) }
            });
        for &(d, v) in entries {
            let (first, total) = out[d].get_or_insert((0, 0));
            *total += 1;
            if v == best {
                *first += 1;
            }
        }
    }
    out
}

/// Adds `f2_vs_top:S` to every design's bands: the f2 similarity factor (docs/metrics.md) of its
/// release curve of S (the objective's species, else the first) against the top design's, run
/// by run (draw j against the top's draw j where draws are shared, else against the top's first
/// run), over the output times both curves have. Curves at different times give none.
fn add_f2_against(
    designs: &[Design],
    top: usize,
    objective: &Objective,
    bands: &mut [BTreeMap<String, Band>],
    notes: &mut Vec<String>,
) {
    let Some(species) = objective.species.clone().or_else(|| designs[top].runs.first()?.species.first().cloned())
    else {
        return;
    };
    let curve = |r: &RunOutcome| plots::release_points(&r.dir.join("timeseries.csv"), &species);
    let top_runs: Vec<_> =
        designs[top].runs.iter().map(|r| (r.case.as_ref().and_then(|c| c.sample), curve(r))).collect();
    let Some(first) = top_runs.first().map(|t| t.1.clone()) else { return };
    let mut any = false;
    for (d, design) in designs.iter().enumerate() {
        let values: Vec<f64> = design
            .runs
            .iter()
            .filter_map(|r| {
                let sample = r.case.as_ref().and_then(|c| c.sample);
                let against = top_runs.iter().find(|t| t.0.is_some() && t.0 == sample).map_or(&first, |t| &t.1);
                let mine = curve(r);
                let times_match = mine.len() == against.len() && mine.iter().zip(against).all(|(a, b)| a.0 == b.0);
                let (a, b): (Vec<f64>, Vec<f64>) = mine.iter().zip(against).map(|(a, b)| (a.1, b.1)).unzip();
                if times_match { crate::metrics::f2(&a, &b) } else { None }
            })
            .collect();
        if let Some(band) = Band::of(&values) {
            bands[d].insert(format!("f2_vs_top:{species}"), band);
            any = true;
        }
    }
    if any {
        notes.push(format!(
            "f2_vs_top:{species}: the f2 similarity factor of each design's release curve of {species} against the \
             top design's (100 identical, ≥ 50 similar, as pharmaceutics reads it)"
        ));
    }
}

/// Relative difference below which two values of a metric count as equal on the Pareto front.
pub const SAME: f64 = 1e-6;

/// A design with its figures, in the ranking.
#[derive(Clone, Debug)]
pub struct Ranked {
    /// 1 for the best.
    pub rank: usize,
    pub design: Design,
    /// Median and band of every metric its runs have, by name.
    pub bands: BTreeMap<String, Band>,
    /// Whether it is on the Pareto front of the two Pareto metrics.
    pub pareto: bool,
    /// (draws in which it is first, common draws it takes part in), where draws are shared.
    pub first_in_draws: Option<(usize, usize)>,
}

impl Ranked {
    /// The band of the metric called `name`.
    pub fn band(&self, name: &str) -> Option<&Band> {
        self.bands.get(name)
    }
}

/// The designs ranked, with the notes and warnings the ranking calls for.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub objective: Objective,
    pub pareto: (Objective, Objective),
    /// Best first; designs without a value of the objective last.
    pub ranked: Vec<Ranked>,
    /// What the reader should know: runs left out, defaults taken, designs without a value,
    /// neighbours whose bands overlap.
    pub notes: Vec<String>,
    /// Rank flips across common draws.
    pub warnings: Vec<String>,
}

impl Comparison {
    /// Ranks `designs` by `objective`'s median, marks the Pareto front of `pareto`, and finds
    /// the neighbours that may swap and the flips across common draws. `notes` are carried over.
    pub fn new(
        designs: Vec<Design>,
        objective: Objective,
        pareto: (Objective, Objective),
        mut notes: Vec<String>,
    ) -> Comparison {
        let bands: Vec<BTreeMap<String, Band>> = designs.iter().map(design_bands).collect();
        let name = objective.name();
        let values: Vec<Option<f64>> = bands.iter().map(|b| b.get(&name).map(|b| b.median)).collect();
        let order = ranking(&values, objective.maximize);
        let (pa, pb) = (pareto.0.name(), pareto.1.name());
        let points: Vec<Option<(f64, f64)>> =
            bands.iter().map(|b| Some((b.get(&pa)?.median, b.get(&pb)?.median))).collect();
        let front = pareto_front(&points, pareto.0.maximize, pareto.1.maximize);
        let draws: Vec<Vec<(usize, f64)>> = designs
            .iter()
            .map(|d| d.runs.iter().filter_map(|r| Some((r.case.as_ref()?.sample?, objective.value(r)?))).collect())
            .collect();
        let firsts = firsts_in_common_draws(&draws, objective.maximize);
        let mut bands = bands;
        if let Some(&top) = order.first() {
            add_f2_against(&designs, top, &objective, &mut bands, &mut notes);
        }
        let mut slots: Vec<Option<(Design, BTreeMap<String, Band>)>> =
            designs.into_iter().zip(bands).map(Some).collect();
        let ranked: Vec<Ranked> = order
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let (design, bands) = slots[i].take().expect("each design once");
                Ranked { rank: k + 1, design, bands, pareto: front[i], first_in_draws: firsts[i] }
            })
            .collect();

        let missing: Vec<&str> =
            ranked.iter().filter(|r| r.band(&name).is_none()).map(|r| r.design.label.as_str()).collect();
        if !missing.is_empty() {
            notes.push(format!("no value of {name} (ranked last): {}", missing.join(", ")));
        }
        for pair in ranked.windows(2) {
            let (Some(a), Some(b)) = (pair[0].band(&name), pair[1].band(&name)) else { continue };
            if (a.n > 1 || b.n > 1) && a.overlaps(b) {
                notes.push(format!(
                    "{} (rank {}) and {} (rank {}) may swap: their 90 % bands of {name} overlap ({} and {})",
                    pair[0].design.label,
                    pair[0].rank,
                    pair[1].design.label,
                    pair[1].rank,
                    band_text(a),
                    band_text(b)
                ));
            }
        }
        let mut warnings = Vec::new();
        if let Some(top) = ranked.first().filter(|t| t.band(&name).is_some()) {
            if let Some((first, total)) = top.first_in_draws.filter(|&(f, t)| f < t) {
                let others: Vec<String> = ranked[1..]
                    .iter()
                    .filter_map(|r| {
                        let (f, t) = r.first_in_draws?;
                        (f > 0).then(|| format!("{} in {f} of {t}", r.design.label))
                    })
                    .collect();
                warnings.push(format!(
                    "the ranking flips within the parameters' uncertainty: the top design {} is first in {first} of \
                     {total} common draws of {name}; first instead: {}",
                    top.design.label,
                    if others.is_empty() { "none".to_string() } else { others.join(", ") }
                ));
            }
        }
        Comparison { objective, pareto, ranked, notes, warnings }
    }

    /// Whether any design has more than one draw.
    pub fn has_samples(&self) -> bool {
        self.ranked.iter().any(|r| r.design.runs.len() > 1)
    }
}

/// `median [p5, p95]`, or the value alone for one draw.
pub fn band_text(b: &Band) -> String {
    use crate::report::plot::fmt_num;
    if b.n > 1 { format!("{} [{}, {}]", fmt_num(b.median), fmt_num(b.p5), fmt_num(b.p95)) } else { fmt_num(b.median) }
}

/// Every metric's band over a design's runs.
fn design_bands(design: &Design) -> BTreeMap<String, Band> {
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in &design.runs {
        for (name, &v) in &run.metrics {
            values.entry(name).or_default().push(v);
        }
    }
    values.into_iter().filter_map(|(name, v)| Some((name.to_string(), Band::of(&v)?))).collect()
}

/// What [`write`] wrote, relative to the output folder.
#[derive(Clone, Debug, Default)]
pub struct Written {
    pub files: Vec<String>,
    /// Pictures not drawn, and why.
    pub skipped: Vec<String>,
}

/// Writes `comparison.csv`, `comparison.md`, `comparison.html` and `plots/compare_*.png` into
/// `out` (created if need be), each file atomically.
pub fn write(comparison: &Comparison, out: &Path) -> Result<Written, CompareError> {
    let dir = crate::output::OutputDir::create(out, true)?;
    let pictures = plots::draw(comparison, &dir)?;
    let mut written = Written { files: Vec::new(), skipped: pictures.skipped.clone() };
    dir.write_atomic("comparison.csv", tables::csv(comparison).as_bytes())?;
    dir.write_atomic("comparison.md", tables::markdown(comparison, &pictures).as_bytes())?;
    dir.write_atomic("comparison.html", tables::html(comparison, &pictures, out)?.as_bytes())?;
    written.files.extend(["comparison.csv", "comparison.md", "comparison.html"].map(String::from));
    written.files.extend(pictures.drawn.iter().map(|p| p.file.clone()));
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_order_statistics() {
        let v: Vec<f64> = (1..=11).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(6.0));
        // h = 10 * 0.05 = 0.5: halfway between 1 and 2.
        assert_eq!(percentile(&v, 0.05), Some(1.5));
        assert_eq!(percentile(&v, 0.95), Some(10.5));
        assert_eq!(percentile(&[4.0], 0.05), Some(4.0));
        assert_eq!(percentile(&[], 0.5), None);
        let b = Band::of(&[3.0, 1.0, 2.0, 4.0]).unwrap();
        // h = 3 * 0.05 = 0.15 → 1.15; median h = 1.5 → 2.5; h = 2.85 → 3.85.
        assert!((b.p5 - 1.15).abs() < 1e-12 && (b.median - 2.5).abs() < 1e-12 && (b.p95 - 3.85).abs() < 1e-12);
        assert_eq!(b.n, 4);
    }

    #[test]
    fn pareto_front_of_six_designs() {
        // A: more is better; B (a cost): less is better.
        let pts = [
            Some((0.9, 10.0)), // on the front (best A)
            Some((0.7, 5.0)),  // on the front
            Some((0.7, 6.0)),  // dominated by the one above (equal A, worse B)
            Some((0.5, 5.0)),  // dominated by (0.7, 5)
            Some((0.2, 1.0)),  // on the front (best B)
            None,              // no value: on no front
        ];
        assert_eq!(pareto_front(&pts, true, false), vec![true, true, false, false, true, false]);
        // Both maximised: only (0.9, 10) is left.
        assert_eq!(pareto_front(&pts, true, true), vec![true, false, false, false, false, false]);
        // Two equal points dominate neither.
        assert_eq!(pareto_front(&[Some((1.0, 1.0)), Some((1.0, 1.0))], true, true), vec![true, true]);
        // A cost equal to single precision is equal: the more covering design dominates.
        let f32_twins = [Some((0.9, 1.0)), Some((0.5, 1.0 - 3e-8))];
        assert_eq!(pareto_front(&f32_twins, true, false), vec![true, false]);
    }

    #[test]
    fn ranking_puts_designs_without_a_value_last() {
        let v = [Some(2.0), None, Some(5.0), Some(1.0)];
        assert_eq!(ranking(&v, true), vec![2, 0, 3, 1]);
        assert_eq!(ranking(&v, false), vec![3, 0, 2, 1]);
    }

    #[test]
    fn firsts_count_the_common_draws() {
        // Three draws shared by A and B; C has draw 7 alone (not common).
        let draws = vec![vec![(0, 5.0), (1, 5.0), (2, 1.0)], vec![(0, 4.0), (1, 6.0), (2, 0.5)], vec![(7, 9.0)]];
        let f = firsts_in_common_draws(&draws, true);
        assert_eq!(f, vec![Some((2, 3)), Some((1, 3)), None]);
        // Minimised, B is first in draws 0 and 2.
        assert_eq!(firsts_in_common_draws(&draws, false), vec![Some((1, 3)), Some((2, 3)), None]);
    }

    /// A one-run design with the given coverage of `bed` and medium used.
    fn design(label: &str, coverage: Option<f64>, cm: f64) -> Design {
        let target = match coverage {
            Some(c) => serde_json::json!([{ "region": "bed", "species": "VEGF", "coverage_time_avg": c }]),
            None => serde_json::json!([]),
        };
        let summary = serde_json::json!({
            "complete": true,
            "species": [{ "name": "VEGF" }],
            "exposure": { "targets": target },
            "cost": { "cm_used_ml": cm },
        });
        let run = RunOutcome::from_summary(Path::new(label), &summary, None);
        Design { label: label.into(), folder: label.into(), values: Vec::new(), runs: vec![run] }
    }

    #[test]
    fn six_designs_rank_by_coverage_and_their_front_trades_it_against_medium() {
        let designs = vec![
            design("a", Some(0.5), 2.0), // dominated by d (more coverage, same medium)
            design("b", Some(0.9), 6.0), // front: most coverage
            design("c", None, 0.5),      // no coverage: last, on no front
            design("d", Some(0.7), 2.0), // front
            design("e", Some(0.2), 1.0), // front: least medium of those with coverage
            design("f", Some(0.2), 3.0), // dominated by e
        ];
        let objective = Objective::parse("coverage:VEGF@bed").unwrap();
        let pareto = (objective.clone(), Objective::parse("cm_used_ml").unwrap());
        let c = Comparison::new(designs, objective, pareto, Vec::new());
        let order: Vec<(&str, bool)> = c.ranked.iter().map(|r| (r.design.label.as_str(), r.pareto)).collect();
        assert_eq!(order, [("b", true), ("d", true), ("a", false), ("e", true), ("f", false), ("c", false)]);
        assert_eq!(c.ranked.iter().map(|r| r.rank).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
        assert!(c.notes.iter().any(|n| n.contains("no value of coverage:VEGF@bed (ranked last): c")), "{:?}", c.notes);
        // One run per design: no bands, so no swaps and no flips.
        assert!(c.warnings.is_empty() && !c.notes.iter().any(|n| n.contains("may swap")));
    }
}
