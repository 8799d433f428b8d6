//! Optimisation: the design (values of a base scenario's keys within bounds) that minimises or
//! maximises a metric of its run, subject to bounds on other metrics, found by a
//! derivative-free search in which every evaluation is a run.
//!
//! The file names a base scenario, an objective (`minimize` or `maximize`, a metric as
//! [`crate::outcome`] names them), `[[constraint]]` bounds and `[[vary]]` ranges, written as a
//! sweep's ranges and checked the same way. The search ([`search`]) runs in normalised
//! coordinates u ∈ [0, 1]^d (logarithmic for `scale = "log"`). Every evaluated design is a sweep
//! case (`case_NNNNN/`, listed in `sweep.json`, so that `collect` reads the folder), and
//! `optimize.json` records every evaluation, the best feasible design and why the search stopped.
//! The search is deterministic: run again, it asks for the same designs in the same order, reads
//! the cases already complete and goes on from there.

pub mod search;

use crate::outcome::{Objective, RunOutcome};
use crate::output::OutputDir;
use crate::solver::EngineFactory;
use crate::sweep::run::{run_case, write_index};
use crate::sweep::{Case, Design, MAX_CASES, Sweep, SweepError, Variation, VarySpec};
use rand::Rng;
use rand_pcg::Pcg64;
use search::{Bound, Evaluation, Found, Measured, Method, Settings, Status};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Errors of an optimisation file or of its search.
#[derive(Debug, thiserror::Error)]
pub enum OptimizeError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    /// The file, or what it names, is refused.
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// A case could not be run or its folder written.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// A case's output folder cannot be read back.
    #[error(transparent)]
    Outcome(#[from] crate::outcome::OutcomeError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}

/// The optimisation file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimizeFile {
    optimize: OptimizeSpec,
    #[serde(default)]
    constraint: Vec<ConstraintSpec>,
    #[serde(default)]
    vary: Vec<VarySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimizeSpec {
    base: String,
    minimize: Option<String>,
    maximize: Option<String>,
    budget: Option<i64>,
    method: Option<String>,
    seed: Option<i64>,
    tolerance: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConstraintSpec {
    metric: String,
    at_least: Option<f64>,
    at_most: Option<f64>,
}

/// Most cases run when `budget` is not given.
pub const DEFAULT_BUDGET: usize = 40;
/// Stopping tolerance in normalised coordinates when `tolerance` is not given.
pub const DEFAULT_TOLERANCE: f64 = 1e-3;

/// A bound on a metric.
#[derive(Clone, Debug)]
pub struct Constraint {
    pub metric: Objective,
    pub bound: Bound,
}

/// A checked optimisation: the base scenario, what to minimise, the constraints and the ranges.
#[derive(Clone, Debug)]
pub struct Optimization {
    /// The file, for messages.
    pub file: String,
    pub objective: Objective,
    /// Whether the file says `maximize`.
    pub maximize: bool,
    pub constraints: Vec<Constraint>,
    /// One range per varied key.
    pub variations: Vec<Variation>,
    pub budget: usize,
    pub method: Method,
    /// Draws Nelder–Mead's first point; `None`: the centre of the box.
    pub seed: Option<u64>,
    pub tolerance: f64,
    /// The base scenario and the keys, as a sweep whose cases the search adds one by one.
    pub sweep: Sweep,
}

impl Optimization {
    /// Reads and checks an optimisation file and its base scenario: the metrics' names, the
    /// keys' paths, and the base scenario with every key at either end of its range.
    pub fn load(path: &Path) -> Result<Optimization, OptimizeError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| OptimizeError::Read { path: path.to_path_buf(), error })?;
        Optimization::from_str(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new(".")))
    }

    /// As [`Optimization::load`], from the text of a file whose relative paths start at `dir`.
    pub fn from_str(text: &str, file: &str, dir: &Path) -> Result<Optimization, OptimizeError> {
        let invalid = |message: String| OptimizeError::Invalid { file: file.to_string(), message };
        let spec: OptimizeFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let o = &spec.optimize;
        let (key, text_of, maximize) = match (&o.minimize, &o.maximize) {
            (Some(m), None) => ("optimize.minimize", m, false),
            (None, Some(m)) => ("optimize.maximize", m, true),
            _ => {
                return Err(invalid(
                    "give exactly one of `optimize.minimize` and `optimize.maximize`, a metric such as \
                     \"cm_used_ml\" or \"released_percent:VEGF165\" (docs/optimize.md)"
                        .into(),
                ));
            }
        };
        let objective = Objective::parse(text_of).map_err(|e| invalid(format!("`{key}`: {e}")))?;
        let mut constraints = Vec::new();
        for (i, c) in spec.constraint.iter().enumerate() {
            let metric = Objective::parse(&c.metric).map_err(|e| invalid(format!("`constraint[{i}].metric`: {e}")))?;
            let bound = match (c.at_least, c.at_most) {
                (Some(b), None) => Bound::AtLeast(b),
                (None, Some(b)) => Bound::AtMost(b),
                _ => {
                    return Err(invalid(format!(
                        "`constraint[{i}]` ({}): give exactly one of `at_least` and `at_most`, a number in the \
                         metric's unit",
                        c.metric
                    )));
                }
            };
            if !bound.value().is_finite() {
                return Err(invalid(format!("`constraint[{i}].{}`: accepted: a finite number", bound.kind())));
            }
            constraints.push(Constraint { metric, bound });
        }
        let budget = match o.budget {
            None => DEFAULT_BUDGET,
            Some(n) if n >= 1 && n as usize <= MAX_CASES => n as usize,
            Some(n) => {
                return Err(invalid(format!(
                    "`optimize.budget` = {n}: accepted: a whole number of cases from 1 to {MAX_CASES}"
                )));
            }
        };
        let tolerance = match o.tolerance {
            None => DEFAULT_TOLERANCE,
            Some(t) if t > 0.0 && t < 1.0 => t,
            Some(t) => {
                return Err(invalid(format!(
                    "`optimize.tolerance` = {t}: accepted: a number between 0 and 1 (a fraction of each range)"
                )));
            }
        };
        let seed = match o.seed {
            None => None,
            Some(s) if s >= 0 => Some(s as u64),
            Some(s) => return Err(invalid(format!("`optimize.seed` = {s}: accepted: a whole number ≥ 0"))),
        };

        let base_path = dir.join(&o.base);
        let base_text = std::fs::read_to_string(&base_path)
            .map_err(|error| OptimizeError::Read { path: base_path.clone(), error })?;
        let base: toml::Table = toml::from_str(&base_text)
            .map_err(|e| invalid(format!("`optimize.base` = {:?}: not a scenario file: {e}", o.base)))?;
        if spec.vary.is_empty() {
            return Err(invalid(
                "nothing to search: no [[vary]] entry; accepted: one or more [[vary]] with a `key`, `from` and `to`"
                    .into(),
            ));
        }
        let variations =
            crate::sweep::variations(&spec.vary, &toml::Value::Table(base), &base_path).map_err(&invalid)?;
        for (i, v) in variations.iter().enumerate() {
            match v {
                Variation::List { .. } => {
                    return Err(invalid(format!(
                        "`vary[{i}]` ({}): a list of values cannot be searched; accepted: a range, `from` and `to`",
                        v.key()
                    )));
                }
                Variation::Range { steps, .. } if *steps != 0 => {
                    return Err(invalid(format!(
                        "`vary[{i}].steps`: an optimisation chooses its own points; accepted: `from`, `to` and \
                         `scale` only"
                    )));
                }
                Variation::Range { from, to, unit, .. } if from == to => {
                    return Err(invalid(format!(
                        "`vary[{i}]` ({}): `from` = `to` = {from} {unit}: nothing to search; accepted: two different \
                         ends (or set the value in the base scenario)",
                        v.key()
                    )));
                }
                _ => {}
            }
        }
        let method = match (o.method.as_deref(), variations.len()) {
            (None, 1) | (Some("brent"), 1) => Method::Brent,
            (None, _) | (Some("nelder-mead"), _) => Method::NelderMead,
            (Some("brent"), n) => {
                return Err(invalid(format!(
                    "`optimize.method` = \"brent\" searches one key and this file varies {n}; accepted: \"nelder-mead\""
                )));
            }
            (Some(other), _) => {
                return Err(invalid(format!(
                    "`optimize.method` = {other:?}; accepted: \"nelder-mead\" or \"brent\" (one key)"
                )));
            }
        };
        // A sweep without cases: the search adds them. Its design is never expanded; the index
        // names the method instead (see `optimize`).
        let sweep = Sweep {
            file: file.to_string(),
            base_path,
            base_text,
            design: Design::Grid,
            variations,
            uncertain: Vec::new(),
            samples: None,
            cases: Vec::new(),
        };
        let opt = Optimization {
            file: file.to_string(),
            objective,
            maximize,
            constraints,
            variations: sweep.variations.clone(),
            budget,
            method,
            seed,
            tolerance,
            sweep,
        };
        opt.check_ends()?;
        Ok(opt)
    }

    /// Compiles the base scenario with each key at each end of its range (alone, then all
    /// together), so that a bound the scenario refuses (a wrong unit, a value out of range) is
    /// named before anything runs.
    fn check_ends(&self) -> Result<(), OptimizeError> {
        let refused = |what: String, case: &Case| -> Result<(), OptimizeError> {
            let name = format!("{} with {}", self.sweep.base_path.display(), case.describe());
            crate::scenario::from_str(&self.sweep.scenario_text(case), &name)
                .map(|_| ())
                .map_err(|e| OptimizeError::Invalid { file: self.file.clone(), message: format!("{what}: {e}") })
        };
        let case =
            |values: Vec<(String, String)>| Case { index: 0, design: 0, sample: None, values, uncertain: vec![] };
        for (i, v) in self.variations.iter().enumerate() {
            for (end, u) in [("from", 0.0), ("to", 1.0)] {
                let value = v.at(u).to_string();
                refused(
                    format!("`vary[{i}].{end}` = {value} for `{}`: the base scenario refuses it", v.key()),
                    &case(vec![(v.key().to_string(), value.clone())]),
                )?;
            }
        }
        for (end, u) in [("from", 0.0), ("to", 1.0)] {
            let c = case(self.values(&vec![u; self.variations.len()]));
            refused(format!("every key at its `{end}` end ({}): the base scenario refuses it", c.describe()), &c)?;
        }
        Ok(())
    }

    /// (key, value as TOML text) of the design at `u`.
    pub fn values(&self, u: &[f64]) -> Vec<(String, String)> {
        self.variations.iter().zip(u).map(|(v, &x)| (v.key().to_string(), v.at(x).to_string())).collect()
    }

    /// The search's settings.
    pub fn settings(&self) -> Settings {
        let d = self.variations.len();
        let start = match self.seed {
            None => vec![0.5; d],
            Some(seed) => {
                let mut rng = <Pcg64 as rand::SeedableRng>::seed_from_u64(seed);
                (0..d).map(|_| 0.25 + 0.5 * rng.random::<f64>()).collect()
            }
        };
        Settings {
            method: self.method,
            budget: self.budget,
            tolerance: self.tolerance,
            start,
            maximize: self.maximize,
            bounds: self.constraints.iter().map(|c| c.bound).collect(),
        }
    }

    /// The file key naming the objective.
    fn objective_key(&self) -> &'static str {
        if self.maximize { "optimize.maximize" } else { "optimize.minimize" }
    }
}

/// What an optimisation found.
#[derive(Clone, Debug)]
pub struct Optimized {
    pub found: Found,
    /// The case of each evaluation (the case's index is the evaluation's).
    pub cases: Vec<Case>,
    /// Evaluations whose case was already complete in the folder (read, not run).
    pub reused: usize,
}

/// Runs the search of `opt` into `out`: each design a case folder, `sweep.json` and
/// `optimize.json` rewritten after every case. `progress` gets one line per evaluation.
pub fn optimize(
    opt: &Optimization,
    out: &Path,
    factory: &EngineFactory,
    interrupt: Option<&AtomicBool>,
    progress: &mut dyn FnMut(String),
) -> Result<Optimized, OptimizeError> {
    let root = OutputDir::create(out, true)?;
    let cases = std::cell::RefCell::new(Vec::<Case>::new());
    let mut reused = 0;
    let evaluate = |u: &[f64]| -> Result<Measured, OptimizeError> {
        let index = cases.borrow().len();
        let case = Case { index, design: index, sample: None, values: opt.values(u), uncertain: Vec::new() };
        let dir = out.join(case.folder());
        if let Ok(bytes) = std::fs::read(dir.join("case.json")) {
            let earlier: Option<Case> = serde_json::from_slice(&bytes).ok();
            if earlier.as_ref().map(|c| &c.values) != Some(&case.values) {
                return Err(OptimizeError::Invalid {
                    file: opt.file.clone(),
                    message: format!(
                        "{} holds another design ({}) than this search's evaluation {index} ({}): the folder is \
                         another optimisation's, or the file changed since; give a new --out folder",
                        dir.display(),
                        earlier.map(|c| c.describe()).unwrap_or_else(|| "unreadable case.json".into()),
                        case.describe()
                    ),
                });
            }
        }
        cases.borrow_mut().push(case.clone());
        write_index(&root, &opt.sweep, &format!("optimize ({})", opt.method.name()), &cases.borrow())?;
        if run_case(&opt.sweep, &case, out, factory, interrupt)? == crate::sweep::run::Outcome::Skipped {
            reused += 1;
        }
        let outcome = RunOutcome::read(&dir)?;
        if index == 0 {
            let named = std::iter::once((opt.objective_key().to_string(), &opt.objective))
                .chain(opt.constraints.iter().enumerate().map(|(i, c)| (format!("constraint[{i}].metric"), &c.metric)));
            for (key, metric) in named {
                metric
                    .check(std::slice::from_ref(&outcome))
                    .map_err(|e| OptimizeError::Invalid { file: opt.file.clone(), message: format!("`{key}`: {e}") })?;
            }
        }
        Ok(Measured {
            objective: opt.objective.value(&outcome),
            constraints: opt.constraints.iter().map(|c| c.metric.value(&outcome)).collect(),
        })
    };
    let mut write_error = None;
    let observe = |all: &[Evaluation]| {
        let e = all.last().expect("called after an evaluation");
        let case = &cases.borrow()[all.len() - 1];
        progress(progress_line(opt, case, e));
        let record = record(opt, &cases.borrow(), all, None);
        if let Err(err) = root.write_atomic(RECORD_FILE, record.as_bytes()) {
            write_error.get_or_insert(err);
        }
    };
    let found = search::search(&opt.settings(), evaluate, observe)?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let cases = cases.into_inner();
    root.write_atomic(RECORD_FILE, record(opt, &cases, &found.evaluations, Some(&found)).as_bytes())?;
    Ok(Optimized { found, cases, reused })
}

/// The record of every evaluation, in the output folder.
pub const RECORD_FILE: &str = "optimize.json";

/// `case_00003  key = value, …  objective 1.2, feasible`.
fn progress_line(opt: &Optimization, case: &Case, e: &Evaluation) -> String {
    let objective = e.measured.objective.map(|x| format!("{x:.6}")).unwrap_or_else(|| "no value".into());
    let mut line = format!("{}  {}  {} {objective}", case.folder(), case.describe(), opt.objective.name());
    if e.feasible {
        line.push_str(", feasible");
    } else {
        let broken: Vec<String> = opt
            .constraints
            .iter()
            .zip(&e.measured.constraints)
            .zip(&e.violations)
            .filter(|(_, v)| **v > 0.0)
            .map(|((c, value), _)| {
                let value = value.map(|x| format!("{x:.6}")).unwrap_or_else(|| "no value".into());
                format!("{} = {value} (wants {} {})", c.metric.name(), c.bound.kind(), c.bound.value())
            })
            .collect();
        line.push_str(&format!(
            ", infeasible: {}",
            if broken.is_empty() { "objective has no value".into() } else { broken.join(", ") }
        ));
    }
    line
}

/// `optimize.json`: the problem, every evaluation, and (when `found`) the best feasible design
/// and why the search stopped; `"status": "running"` while it runs.
fn record(opt: &Optimization, cases: &[Case], evaluations: &[Evaluation], found: Option<&Found>) -> String {
    let evaluation = |k: usize| {
        let e = &evaluations[k];
        let constraints: Vec<serde_json::Value> = opt
            .constraints
            .iter()
            .zip(&e.measured.constraints)
            .zip(&e.violations)
            .map(|((c, value), violation)| {
                serde_json::json!({
                    "metric": c.metric.name(),
                    c.bound.kind(): c.bound.value(),
                    "value": value,
                    "violation": violation,
                })
            })
            .collect();
        serde_json::json!({
            "case": cases[k].index,
            "folder": cases[k].folder(),
            "values": cases[k].values.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v.trim_matches('"')})).collect::<Vec<_>>(),
            "u": e.u,
            "objective": e.measured.objective,
            "constraints": constraints,
            "feasible": e.feasible,
            "score": e.score,
        })
    };
    let doc = serde_json::json!({
        "file": opt.file,
        "base": opt.sweep.base_path.display().to_string(),
        "method": opt.method.name(),
        "objective": { "metric": opt.objective.name(), "sense": if opt.maximize { "maximize" } else { "minimize" } },
        "constraints": opt.constraints.iter().map(|c| serde_json::json!({"metric": c.metric.name(), c.bound.kind(): c.bound.value()})).collect::<Vec<_>>(),
        "vary": opt.variations.iter().map(|v| match v {
            Variation::Range { key, from, to, unit, log, .. } =>
                serde_json::json!({"key": key, "from": from, "to": to, "unit": unit, "scale": if *log { "log" } else { "linear" }}),
            Variation::List { key, .. } => serde_json::json!({"key": key}),
        }).collect::<Vec<_>>(),
        "budget": opt.budget,
        "tolerance": opt.tolerance,
        "penalty_base": search::PENALTY_BASE,
        "status": found.map_or("running", |f| f.status.name()),
        "converged": found.map(|f| f.status == Status::Converged),
        "cases": evaluations.len(),
        "best": found.and_then(|f| f.best).map(evaluation),
        "least_infeasible": found.filter(|f| f.best.is_none()).and_then(|f| f.lowest).map(evaluation),
        "evaluations": (0..evaluations.len()).map(evaluation).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).expect("plain data")
}
