//! The outcome of one finished run as named numbers: what `collect`, `compare` and `optimize`
//! rank, plot and search over. A metric's name is `metric[:species][@region]`:
//!
//! - run: `cm_used_ml`, `wall_time_s`;
//! - per species: `released_percent:S`, `t50_h:S`, `t90_h:S`, `burst_fraction:S`, `kp_n:S`,
//!   `higuchi_k:S`, `loaded:S` (amount put in at t = 0 and by every dose), `balance_error:S`;
//! - per species and target region (summary.json `exposure.targets`): `coverage:S@R`
//!   (time-averaged fraction of the region above the threshold), `coverage_final:S@R`,
//!   `time_above_threshold_h:S@R`, `time_in_window_h:S@R`, `time_covered_<L>_h:S@R` (time at least
//!   L % of the region is above the threshold, L in [`COVERAGE_LEVELS`]), `mean_free:S@R`, `peak_free:S@R`,
//!   `auc_free:S@R`, `mean_bound:S@R`, `peak_bound:S@R`, `auc_bound:S@R`, `penetration_mm:S@R`.
//!
//! Formulas: docs/metrics.md.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a metric lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Run,
    Species,
    Target,
}

/// The coverage levels (% of a region above the threshold) whose duration each target reports
/// (`time_covered_h` in summary.json, metrics `time_covered_<level>_h`).
pub const COVERAGE_LEVELS: [u32; 5] = [10, 25, 50, 75, 90];

/// Every metric: name, scope, whether more is better, and what it is (with its unit).
pub const METRICS: &[(&str, Scope, bool, &str)] = &[
    ("cm_used_ml", Scope::Run, false, "conditioned medium used over all fills, mL of 1x CM"),
    ("wall_time_s", Scope::Run, false, "wall time of the run, s"),
    ("released_percent", Scope::Species, true, "released from the depot by the end, % of the amount put in"),
    ("t50_h", Scope::Species, false, "time to 50 % released, h"),
    ("t90_h", Scope::Species, false, "time to 90 % released, h"),
    ("burst_fraction", Scope::Species, false, "fraction released in the burst window"),
    ("kp_n", Scope::Species, false, "Korsmeyer-Peppas exponent n"),
    ("higuchi_k", Scope::Species, true, "Higuchi constant, 1/sqrt(h)"),
    ("loaded", Scope::Species, false, "amount put in at t = 0 and by every dose, species amount unit"),
    ("balance_error", Scope::Species, false, "relative balance error of the books"),
    ("coverage", Scope::Target, true, "time-averaged fraction of the region above the threshold"),
    ("coverage_final", Scope::Target, true, "fraction of the region above the threshold at the end"),
    ("time_above_threshold_h", Scope::Target, true, "time the region's mean is above the threshold, h"),
    ("time_in_window_h", Scope::Target, true, "time the region's mean is between threshold and ceiling, h"),
    ("time_covered_10_h", Scope::Target, true, "time at least 10 % of the region is above the threshold, h"),
    ("time_covered_25_h", Scope::Target, true, "time at least 25 % of the region is above the threshold, h"),
    ("time_covered_50_h", Scope::Target, true, "time at least 50 % of the region is above the threshold, h"),
    ("time_covered_75_h", Scope::Target, true, "time at least 75 % of the region is above the threshold, h"),
    ("time_covered_90_h", Scope::Target, true, "time at least 90 % of the region is above the threshold, h"),
    ("mean_free", Scope::Target, true, "time-averaged mean free concentration in the region, species unit"),
    ("peak_free", Scope::Target, true, "highest free concentration in the region, species unit"),
    ("auc_free", Scope::Target, true, "area under the region's mean free concentration, species unit x h"),
    ("mean_bound", Scope::Target, true, "time-averaged mean bound concentration in the region, species unit"),
    ("peak_bound", Scope::Target, true, "highest bound concentration in the region, species unit"),
    ("auc_bound", Scope::Target, true, "area under the region's mean bound concentration, species unit x h"),
    (
        "penetration_mm",
        Scope::Target,
        true,
        "depth at which the time-averaged concentration falls below the threshold, mm",
    ),
];

/// Where a case of a sweep sits: its design and, for sweeps with uncertain parameters, its sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseInfo {
    pub index: usize,
    /// The design the case belongs to (equal to `index` in a sweep without uncertainty).
    pub design: usize,
    /// The draw of the uncertain parameters (`None` in a sweep without uncertainty).
    pub sample: Option<usize>,
    /// (key, value) of every design key.
    pub values: Vec<(String, String)>,
    /// (key, value) of every uncertain key drawn for this case.
    pub uncertain: Vec<(String, String)>,
}

/// One finished run, read back from its output folder.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub dir: PathBuf,
    /// The scenario's name.
    pub name: String,
    pub complete: bool,
    /// From `case.json`, when the run is a case of a sweep.
    pub case: Option<CaseInfo>,
    pub species: Vec<String>,
    /// Target regions of the exposure metrics.
    pub regions: Vec<String>,
    /// Every metric the run has a finite value of.
    pub metrics: BTreeMap<String, f64>,
    /// Concentration unit per species.
    pub units: BTreeMap<String, String>,
    /// Threshold per `species@region`: (value in the species' unit, where it comes from).
    pub thresholds: BTreeMap<String, (f64, String)>,
}

/// A run folder that cannot be read as a finished run.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct OutcomeError {
    pub path: PathBuf,
    pub message: String,
}

impl RunOutcome {
    /// Reads `summary.json` (and `case.json`, if there is one) in `dir`.
    pub fn read(dir: &Path) -> Result<RunOutcome, OutcomeError> {
        let path = dir.join("summary.json");
        let err = |message: String| OutcomeError { path: path.clone(), message };
        let bytes = std::fs::read(&path).map_err(|e| err(format!("cannot read: {e} (not a run's output folder?)")))?;
        let summary: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| err(format!("not a run summary: {e}")))?;
        let case = match std::fs::read(dir.join("case.json")) {
            Ok(b) => Some(serde_json::from_slice::<CaseInfo>(&b).map_err(|e| OutcomeError {
                path: dir.join("case.json"),
                message: format!("not a sweep case: {e}"),
            })?),
            Err(_) => None,
        };
        Ok(Self::from_summary(dir, &summary, case))
    }

    /// The outcome held in a parsed `summary.json`.
    pub fn from_summary(dir: &Path, summary: &serde_json::Value, case: Option<CaseInfo>) -> RunOutcome {
        let mut metrics = BTreeMap::new();
        let mut put = |name: String, v: &serde_json::Value| {
            if let Some(x) = v.as_f64().filter(|x| x.is_finite()) {
                metrics.insert(name, x);
            }
        };
        put("cm_used_ml".into(), &summary["cost"]["cm_used_ml"]);
        put("wall_time_s".into(), &summary["wall_time_s"]);
        let mut species = Vec::new();
        let mut units = BTreeMap::new();
        for s in summary["species"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or_default().to_string();
            let rm = &s["release_metrics"];
            for (metric, v) in [
                ("released_percent", &s["released_percent"]),
                ("t50_h", &s["time_to_50_percent_release_h"]),
                ("t90_h", &s["time_to_90_percent_release_h"]),
                ("burst_fraction", &rm["burst_fraction"]),
                ("kp_n", &rm["korsmeyer_peppas"]["parameter"]),
                ("higuchi_k", &rm["higuchi"]["parameter"]),
                ("balance_error", &s["relative_balance_error"]),
            ] {
                put(format!("{metric}:{name}"), v);
            }
            if let (Some(a), Some(b)) = (s["initial"].as_f64(), s["added"].as_f64()) {
                put(format!("loaded:{name}"), &serde_json::json!(a + b));
            }
            species.push(name);
        }
        for s in summary["scenario"]["species"].as_array().into_iter().flatten() {
            if let (Some(n), Some(u)) = (s["name"].as_str(), s["concentration_unit"].as_str()) {
                units.insert(n.to_string(), u.to_string());
            }
        }
        let mut regions: Vec<String> = Vec::new();
        let mut thresholds = BTreeMap::new();
        for t in summary["exposure"]["targets"].as_array().into_iter().flatten() {
            let (Some(r), Some(s)) = (t["region"].as_str(), t["species"].as_str()) else { continue };
            if !regions.iter().any(|x| x == r) {
                regions.push(r.to_string());
            }
            if let Some(v) = t["threshold"]["value"].as_f64() {
                let from = t["threshold"]["source"].as_str().unwrap_or_default().to_string();
                thresholds.insert(format!("{s}@{r}"), (v, from));
            }
            for (metric, key) in [
                ("coverage", "coverage_time_avg"),
                ("coverage_final", "coverage_final"),
                ("time_above_threshold_h", "time_above_threshold_h"),
                ("time_in_window_h", "time_in_window_h"),
                ("mean_free", "mean_free_time_avg"),
                ("peak_free", "peak_free"),
                ("auc_free", "auc_free"),
                ("mean_bound", "mean_bound_time_avg"),
                ("peak_bound", "peak_bound"),
                ("auc_bound", "auc_bound"),
                ("penetration_mm", "penetration_depth_mm"),
            ] {
                put(format!("{metric}:{s}@{r}"), &t[key]);
            }
            for level in COVERAGE_LEVELS {
                put(format!("time_covered_{level}_h:{s}@{r}"), &t["time_covered_h"][level.to_string()]);
            }
        }
        RunOutcome {
            dir: dir.to_path_buf(),
            name: summary["scenario"]["name"].as_str().unwrap_or_default().to_string(),
            complete: summary["complete"] == serde_json::Value::Bool(true),
            case,
            species,
            regions,
            metrics,
            units,
            thresholds,
        }
    }

    /// A short label: the folder's name.
    pub fn label(&self) -> String {
        self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| self.dir.display().to_string())
    }
}

/// A metric chosen by name, to rank by, to constrain or to minimise.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub metric: String,
    pub species: Option<String>,
    pub region: Option<String>,
    /// Whether more is better.
    pub maximize: bool,
}

impl Objective {
    /// Parses `metric[:species][@region]`, checking that the metric exists and takes the parts
    /// given. Which species and regions exist is checked against runs by [`Objective::check`].
    pub fn parse(text: &str) -> Result<Objective, String> {
        let text = text.trim();
        let (head, region) = match text.split_once('@') {
            Some((h, r)) => (h, Some(r.trim().to_string())),
            None => (text, None),
        };
        let (metric, species) = match head.split_once(':') {
            Some((m, s)) => (m.trim().to_string(), Some(s.trim().to_string())),
            None => (head.trim().to_string(), None),
        };
        let Some(&(_, scope, maximize, _)) = METRICS.iter().find(|m| m.0 == metric) else {
            let names: Vec<&str> = METRICS.iter().map(|m| m.0).collect();
            return Err(format!(
                "unknown metric `{metric}` in `{text}`{}; the metrics are {}",
                suggest(&metric, names.iter().copied()),
                names.join(", ")
            ));
        };
        let form = match scope {
            Scope::Run => format!("`{metric}`"),
            Scope::Species => format!("`{metric}:SPECIES`"),
            Scope::Target => format!("`{metric}:SPECIES@REGION`"),
        };
        let fits = match scope {
            Scope::Run => species.is_none() && region.is_none(),
            Scope::Species => species.as_deref().is_some_and(|s| !s.is_empty()) && region.is_none(),
            Scope::Target => {
                species.as_deref().is_some_and(|s| !s.is_empty()) && region.as_deref().is_some_and(|r| !r.is_empty())
            }
        };
        if !fits {
            return Err(format!("`{text}`: the metric `{metric}` is written {form}"));
        }
        Ok(Objective { metric, species, region, maximize })
    }

    /// `metric[:species][@region]`.
    pub fn name(&self) -> String {
        let mut s = self.metric.clone();
        if let Some(sp) = &self.species {
            s.push(':');
            s.push_str(sp);
        }
        if let Some(r) = &self.region {
            s.push('@');
            s.push_str(r);
        }
        s
    }

    /// Refuses an objective whose species or region none of `runs` has, naming the ones they
    /// have (and the closest).
    pub fn check(&self, runs: &[RunOutcome]) -> Result<(), String> {
        if let Some(s) = &self.species {
            let known: Vec<&str> = unique(runs.iter().flat_map(|r| r.species.iter().map(String::as_str)));
            if !known.contains(&s.as_str()) {
                return Err(format!(
                    "`{}`: no species (factor) `{s}` in the runs{}; they have {}",
                    self.name(),
                    suggest(s, known.iter().copied()),
                    list(&known)
                ));
            }
        }
        if let Some(r) = &self.region {
            let known: Vec<&str> = unique(runs.iter().flat_map(|x| x.regions.iter().map(String::as_str)));
            if !known.contains(&r.as_str()) {
                return Err(format!(
                    "`{}`: no target region `{r}` in the runs{}; their target regions are {} (set them with \
                     [metrics] targets in the scenario)",
                    self.name(),
                    suggest(r, known.iter().copied()),
                    list(&known)
                ));
            }
        }
        Ok(())
    }

    /// The objective's value in a run, if it has one.
    pub fn value(&self, run: &RunOutcome) -> Option<f64> {
        run.metrics.get(&self.name()).copied()
    }
}

fn unique<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn list(v: &[&str]) -> String {
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

/// ` (did you mean `x`?)` for the closest of `known` to `name`, if any is close.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|k| (strsim::jaro_winkler(&name.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse_and_name_their_parts() {
        let o = Objective::parse("coverage:VEGF165@wound_bed").unwrap();
        assert_eq!(
            (o.metric.as_str(), o.species.as_deref(), o.region.as_deref()),
            ("coverage", Some("VEGF165"), Some("wound_bed"))
        );
        assert!(o.maximize);
        assert_eq!(o.name(), "coverage:VEGF165@wound_bed");
        assert!(!Objective::parse("cm_used_ml").unwrap().maximize);
        assert!(Objective::parse("coverag:VEGF@bed").unwrap_err().contains("did you mean `coverage`"));
        assert!(Objective::parse("coverage:VEGF").unwrap_err().contains("SPECIES@REGION"));
        assert!(Objective::parse("cm_used_ml:VEGF").unwrap_err().contains("written `cm_used_ml`"));
    }
}
