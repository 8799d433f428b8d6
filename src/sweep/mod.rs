//! Sweeps: many variants of one base scenario, each a case with its own output folder.
//!
//! A sweep file names a base scenario and the values to vary, each by its key path in the
//! scenario (`time.end`, `species[0].initial.gel`, `species[VEGF].decay.tissue`, `dose[0].every`):
//! a list of values, or a range (`from`, `to`, `steps`, linear or log). The design is a full
//! factorial grid of every list and range, or a Latin hypercube of `samples` cases with a `seed`.
//! Each case is the base scenario's TOML with its values put in, compiled and checked like any
//! scenario before anything runs. Cases are numbered from 0 in a fixed order, so that shards
//! (`--shard I/N`) can split them without talking to each other (see [`run`]).

pub mod batch;
pub mod run;

use rand::Rng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of a sweep file or a sweep run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// A case's scenario is refused (a value of the wrong unit, out of range, …).
    #[error("{file}: case {case} ({values}) is not a valid scenario: {error}")]
    Case { file: String, case: usize, values: String, error: String },
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    #[error(transparent)]
    Solver(#[from] crate::solver::SolverError),
}

/// The sweep file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    sweep: SweepSpec,
    #[serde(default)]
    vary: Vec<VarySpec>,
    uncertainty: Option<UncertaintySpec>,
    #[serde(default)]
    uncertain: Vec<UncertainSpec>,
}

/// `[uncertainty]`: how many draws of the uncertain parameters each design is run with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UncertaintySpec {
    samples: i64,
    seed: i64,
}

/// One `[[uncertain]]` entry: a key and its range, written or taken from the factor library.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UncertainSpec {
    key: String,
    from: Option<toml::Value>,
    to: Option<toml::Value>,
    /// `"linear"` or `"log"` (default log for a library range, linear otherwise).
    scale: Option<String>,
    /// `"FACTOR.field"`: the range the library gives for a factor's value (`EGF.half_life`,
    /// `VEGF165.cm_concentration`).
    library: Option<String>,
}

/// An uncertain parameter: its range and where the range comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Uncertain {
    pub key: String,
    #[serde(skip)]
    pub range: Variation,
    /// `written in the sweep file`, or the library entries with their sources and marks.
    pub source: String,
    pub from: String,
    pub to: String,
    pub log: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSpec {
    /// The base scenario, relative to the sweep file.
    base: String,
    /// `"grid"` (default) or `"lhs"`.
    #[serde(default)]
    design: Option<String>,
    samples: Option<i64>,
    seed: Option<i64>,
}

/// One `[[vary]]` entry as written (sweep and optimisation files share it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VarySpec {
    pub(crate) key: String,
    pub(crate) values: Option<Vec<toml::Value>>,
    pub(crate) from: Option<toml::Value>,
    pub(crate) to: Option<toml::Value>,
    pub(crate) steps: Option<i64>,
    /// `"linear"` (default) or `"log"`.
    pub(crate) scale: Option<String>,
}

/// One varied key: its path and how its values are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Variation {
    /// These values.
    List { key: String, values: Vec<toml::Value> },
    /// From `from` to `to` (in `unit`, the text after the number; empty for plain numbers):
    /// `steps` values for a grid, continuous for a Latin hypercube.
    Range { key: String, from: f64, to: f64, unit: String, steps: usize, log: bool },
}

impl Variation {
    pub fn key(&self) -> &str {
        match self {
            Variation::List { key, .. } | Variation::Range { key, .. } => key,
        }
    }

    /// The value at fraction `u` ∈ [0, 1] of a range.
    pub(crate) fn at(&self, u: f64) -> toml::Value {
        match self {
            Variation::Range { from, to, unit, log, .. } => {
                let x = if *log { from * (to / from).powf(u) } else { from + (to - from) * u };
                number_with_unit(x, unit)
            }
            Variation::List { values, .. } => {
                values[((u * values.len() as f64) as usize).min(values.len() - 1)].clone()
            }
        }
    }

    /// The grid values.
    fn grid(&self) -> Vec<toml::Value> {
        match self {
            Variation::List { values, .. } => values.clone(),
            Variation::Range { steps, .. } => {
                (0..*steps).map(|i| self.at(if *steps == 1 { 0.0 } else { i as f64 / (*steps - 1) as f64 })).collect()
            }
        }
    }
}

/// A value as TOML: a bare number without a unit, a string with one.
fn number_with_unit(x: f64, unit: &str) -> toml::Value {
    if unit.is_empty() { toml::Value::Float(x) } else { toml::Value::String(format!("{x} {unit}")) }
}

/// How the cases are drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum Design {
    Grid,
    LatinHypercube { samples: usize, seed: u64 },
}

/// One case: its number and the value of every varied key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub index: usize,
    /// The design this case is a draw of (equal to `index` without uncertain parameters).
    #[serde(default)]
    pub design: usize,
    /// The draw of the uncertain parameters (`None` without them).
    #[serde(default)]
    pub sample: Option<usize>,
    /// (key path, value as TOML text) of every design key, in the order of the sweep file.
    pub values: Vec<(String, String)>,
    /// (key path, value as TOML text) of every uncertain key drawn for this case.
    #[serde(default)]
    pub uncertain: Vec<(String, String)>,
}

impl Case {
    /// `key = value, …` for messages (design keys, then uncertain ones).
    pub fn describe(&self) -> String {
        self.values.iter().chain(&self.uncertain).map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
    }

    /// Folder name of this case.
    pub fn folder(&self) -> String {
        format!("case_{:05}", self.index)
    }
}

/// A checked sweep: the base scenario, its variations and every case.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The sweep file, for messages.
    pub file: String,
    pub base_path: PathBuf,
    pub base_text: String,
    pub design: Design,
    pub variations: Vec<Variation>,
    /// Uncertain parameters, drawn `samples` times for every design (common draws).
    pub uncertain: Vec<Uncertain>,
    pub samples: Option<(usize, u64)>,
    pub cases: Vec<Case>,
}

/// The most cases a sweep may have.
pub const MAX_CASES: usize = 1_000_000;

impl Sweep {
    /// Reads and checks a sweep file and its base scenario, and expands the cases (each case's
    /// scenario is compiled and checked too).
    pub fn load(path: &Path) -> Result<Sweep, SweepError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| SweepError::Read { path: path.to_path_buf(), error })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Sweep::from_str(&text, &path.display().to_string(), dir)
    }

    /// As [`Sweep::load`], from the text of a sweep file whose relative paths start at `dir`.
    pub fn from_str(text: &str, file: &str, dir: &Path) -> Result<Sweep, SweepError> {
        let invalid = |message: String| SweepError::Invalid { file: file.to_string(), message };
        let spec: SweepFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let base_path = dir.join(&spec.sweep.base);
        let base_text =
            std::fs::read_to_string(&base_path).map_err(|error| SweepError::Read { path: base_path.clone(), error })?;
        let base: toml::Table = toml::from_str(&base_text)
            .map_err(|e| invalid(format!("`sweep.base` = {:?}: not a scenario file: {e}", spec.sweep.base)))?;
        let base = toml::Value::Table(base);

        if spec.vary.is_empty() {
            return Err(invalid(
                "an empty sweep: no [[vary]] entry; accepted: one or more [[vary]] with a `key` and `values` or \
                 `from`/`to`"
                    .into(),
            ));
        }
        let variations = variations(&spec.vary, &base, &base_path).map_err(invalid)?;
        let design = match spec.sweep.design.as_deref() {
            None | Some("grid") => {
                if spec.sweep.samples.is_some() || spec.sweep.seed.is_some() {
                    return Err(invalid("`sweep.samples` and `sweep.seed` belong to design = \"lhs\"".into()));
                }
                Design::Grid
            }
            Some("lhs") => {
                let samples = match spec.sweep.samples {
                    Some(n) if n >= 1 && n as usize <= MAX_CASES => n as usize,
                    other => {
                        return Err(invalid(format!(
                            "`sweep.samples` = {other:?}: a Latin hypercube needs a number of samples from 1 to {MAX_CASES}"
                        )));
                    }
                };
                let seed = match spec.sweep.seed {
                    Some(s) if s >= 0 => s as u64,
                    other => {
                        return Err(invalid(format!(
                            "`sweep.seed` = {other:?}: a Latin hypercube needs a seed (a whole number ≥ 0), so that it can be drawn again"
                        )));
                    }
                };
                Design::LatinHypercube { samples, seed }
            }
            Some(other) => {
                return Err(invalid(format!("`sweep.design` = {other:?}: accepted: \"grid\" or \"lhs\"")));
            }
        };
        let values = expand(&design, &variations).map_err(invalid)?;
        let (uncertain, samples) = uncertainty(&spec, &base, &base_path, &variations).map_err(invalid)?;
        let draws: Vec<Vec<toml::Value>> = match samples {
            Some((n, seed)) => {
                let ranges: Vec<Variation> = uncertain.iter().map(|u| u.range.clone()).collect();
                expand(&Design::LatinHypercube { samples: n, seed }, &ranges).map_err(invalid)?
            }
            None => vec![Vec::new()],
        };
        if values.len().checked_mul(draws.len()).is_none_or(|n| n > MAX_CASES) {
            return Err(invalid(format!(
                "{} designs × {} draws is more than {MAX_CASES} cases",
                values.len(),
                draws.len()
            )));
        }
        let mut cases = Vec::with_capacity(values.len() * draws.len());
        for (design, row) in values.into_iter().enumerate() {
            let values: Vec<(String, String)> =
                variations.iter().zip(row).map(|(v, x)| (v.key().to_string(), x.to_string())).collect();
            for (j, draw) in draws.iter().enumerate() {
                let drawn: Vec<(String, String)> =
                    uncertain.iter().zip(draw).map(|(u, x)| (u.key.clone(), x.to_string())).collect();
                cases.push(Case {
                    index: cases.len(),
                    design,
                    sample: samples.map(|_| j),
                    values: values.clone(),
                    uncertain: drawn,
                });
            }
        }
        let sweep =
            Sweep { file: file.to_string(), base_path, base_text, design, variations, uncertain, samples, cases };
        for case in &sweep.cases {
            sweep.problem(case)?;
        }
        Ok(sweep)
    }

    /// The scenario text of `case`: the base with the case's values put in.
    pub fn scenario_text(&self, case: &Case) -> String {
        let mut doc: toml::Value = toml::Value::Table(toml::from_str(&self.base_text).expect("checked at load"));
        for (key, value) in case.values.iter().chain(&case.uncertain) {
            let value: toml::Value =
                toml::from_str::<toml::Table>(&format!("v = {value}")).expect("formatted TOML")["v"].clone();
            *lookup_mut(&mut doc, key).expect("checked at load") = value;
        }
        toml::to_string(&doc).expect("a TOML document serialises")
    }

    /// The compiled problem of `case`.
    pub fn problem(&self, case: &Case) -> Result<crate::problem::Problem, SweepError> {
        let name = format!("{} (case {})", self.base_path.display(), case.index);
        crate::scenario::from_str(&self.scenario_text(case), &name).map_err(|e| SweepError::Case {
            file: self.file.clone(),
            case: case.index,
            values: case.describe(),
            error: e.to_string(),
        })
    }
}

/// The uncertain parameters of `[uncertainty]` and `[[uncertain]]`, and (draws, seed).
#[allow(clippy::type_complexity)]
fn uncertainty(
    spec: &SweepFile,
    base: &toml::Value,
    base_path: &Path,
    design: &[Variation],
) -> Result<(Vec<Uncertain>, Option<(usize, u64)>), String> {
    let Some(u) = &spec.uncertainty else {
        if !spec.uncertain.is_empty() {
            return Err("[[uncertain]] entries without [uncertainty]; accepted: [uncertainty] with `samples` (draws \
                        per design, ≥ 2) and `seed`"
                .into());
        }
        return Ok((Vec::new(), None));
    };
    if spec.uncertain.is_empty() {
        return Err("[uncertainty] without any [[uncertain]] entry; accepted: one or more [[uncertain]] with a `key` \
                    and `from`/`to` or `library = \"FACTOR.field\"`"
            .into());
    }
    if !(2..=MAX_CASES as i64).contains(&u.samples) {
        return Err(format!(
            "`uncertainty.samples` = {}: accepted: a number of draws per design from 2 to {MAX_CASES}",
            u.samples
        ));
    }
    if u.seed < 0 {
        return Err(format!("`uncertainty.seed` = {}: accepted: a whole number ≥ 0", u.seed));
    }
    let mut out: Vec<Uncertain> = Vec::new();
    for (i, e) in spec.uncertain.iter().enumerate() {
        let name = format!("uncertain[{i}]");
        if lookup(base, &e.key).is_none() {
            return Err(format!(
                "`{name}.key` = {:?}: no such value in the base scenario {}; closest: {}",
                e.key,
                base_path.display(),
                closest_paths(base, &e.key)
            ));
        }
        if design.iter().any(|v| v.key() == e.key) || out.iter().any(|o| o.key == e.key) {
            return Err(format!("`{name}.key` = {:?}: this key is already varied or uncertain", e.key));
        }
        let (from, to, source, default_log) = match (&e.library, &e.from, &e.to) {
            (Some(lib), None, None) => {
                let (from, to, source) = library_range(lib).map_err(|m| format!("`{name}.library` = {lib:?}: {m}"))?;
                (toml::Value::String(from), toml::Value::String(to), source, true)
            }
            (None, Some(f), Some(t)) => (f.clone(), t.clone(), "written in the sweep file".to_string(), false),
            _ => {
                return Err(format!(
                    "`{name}`: give either `from` and `to`, or `library = \"FACTOR.field\"` (e.g. \"EGF.half_life\")"
                ));
            }
        };
        let log = match e.scale.as_deref() {
            None => default_log,
            Some("log") => true,
            Some("linear") => false,
            Some(other) => return Err(format!("`{name}.scale` = {other:?}: accepted: \"linear\" or \"log\"")),
        };
        let vary = VarySpec {
            key: e.key.clone(),
            values: None,
            from: Some(from.clone()),
            to: Some(to.clone()),
            steps: None,
            scale: Some(if log { "log" } else { "linear" }.into()),
        };
        let range = variation(i, &vary).map_err(|m| m.replace(&format!("vary[{i}]"), &name))?;
        out.push(Uncertain {
            key: e.key.clone(),
            range,
            source,
            from: from.to_string().trim_matches('"').to_string(),
            to: to.to_string().trim_matches('"').to_string(),
            log,
        });
    }
    Ok((out, Some((u.samples as usize, u.seed as u64))))
}

/// The range the factor library gives for `FACTOR.field`: the lowest and highest of its entries
/// (a range's ends, or single values), in the first entry's unit, and their sources and marks.
fn library_range(text: &str) -> Result<(String, String, String), String> {
    let lib = crate::library::library();
    let Some((name, field)) = text.rsplit_once('.') else {
        return Err("accepted: \"FACTOR.field\", e.g. \"EGF.half_life\" or \"VEGF165.cm_concentration\"".into());
    };
    let factor = lib.factor(name.trim()).ok_or_else(|| {
        format!("no factor `{name}` in the library; closest: {}", lib.closest_factors(name.trim(), 3).join(", "))
    })?;
    let entries: Vec<&crate::library::Entry> =
        factor.entries().into_iter().filter(|(f, _)| *f == field.trim()).map(|(_, e)| e).collect();
    if entries.is_empty() {
        let mut fields: Vec<&str> = factor.entries().into_iter().map(|(f, _)| f).collect();
        fields.dedup();
        return Err(format!("the library has no `{field}` for {}; it has: {}", factor.name, fields.join(", ")));
    }
    let mut points: Vec<f64> = Vec::new();
    let mut unit = None;
    for e in &entries {
        for t in [&e.value, &e.low, &e.high].into_iter().flatten() {
            let q = crate::units::parse_quantity(t).map_err(|err| format!("the library's value {t:?}: {err}"))?;
            let (_, _, dim) = unit.get_or_insert_with(|| (q.unit_text.clone(), q.unit.si, q.unit.dim));
            if *dim != q.unit.dim {
                return Err(format!(
                    "the library's values for {}'s {field} are of different kinds ({t:?}); accepted: `from` and \
                     `to` written in the sweep file",
                    factor.name
                ));
            }
            points.push(q.si());
        }
    }
    let (unit_text, unit_si, _) = unit.expect("an entry has a value");
    let lo = points.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = points.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo >= hi {
        return Err(format!(
            "the library gives one value for {}'s {field} ({}), no range; accepted: `from` and `to` written in the \
             sweep file",
            factor.name,
            entries[0].text()
        ));
    }
    let source = entries
        .iter()
        .map(|e| format!("{} ({}): {}", e.text(), e.mark.name(), e.source))
        .collect::<Vec<_>>()
        .join("; ");
    Ok((format!("{} {unit_text}", lo / unit_si), format!("{} {unit_text}", hi / unit_si), source))
}

/// The three paths of `base` closest to `key`.
fn closest_paths(base: &toml::Value, key: &str) -> String {
    let paths = leaf_paths(base);
    let mut close: Vec<(f64, &String)> =
        paths.iter().map(|p| (strsim::normalized_damerau_levenshtein(p, key), p)).collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    close.iter().take(3).map(|(_, p)| format!("`{p}`")).collect::<Vec<_>>().join(", ")
}

/// The variations of `[[vary]]` entries: each key a path to a value of `base` (refused with the
/// closest paths otherwise), no key twice, each entry a list or a range.
pub(crate) fn variations(vary: &[VarySpec], base: &toml::Value, base_path: &Path) -> Result<Vec<Variation>, String> {
    let mut variations = Vec::new();
    for (i, v) in vary.iter().enumerate() {
        if lookup(base, &v.key).is_none() {
            let paths = leaf_paths(base);
            let mut close: Vec<(f64, &String)> =
                paths.iter().map(|p| (strsim::normalized_damerau_levenshtein(p, &v.key), p)).collect();
            close.sort_by(|a, b| b.0.total_cmp(&a.0));
            let names: Vec<String> = close.iter().take(3).map(|(_, p)| format!("`{p}`")).collect();
            return Err(format!(
                "`vary[{i}].key` = {:?}: no such value in the base scenario {}; closest: {}",
                v.key,
                base_path.display(),
                names.join(", ")
            ));
        }
        if variations.iter().any(|o: &Variation| o.key() == v.key) {
            return Err(format!("`vary[{i}].key` = {:?}: this key is varied twice", v.key));
        }
        variations.push(variation(i, v)?);
    }
    Ok(variations)
}

fn variation(i: usize, v: &VarySpec) -> Result<Variation, String> {
    let key = v.key.clone();
    match (&v.values, &v.from, &v.to) {
        (Some(values), None, None) => {
            if values.is_empty() {
                return Err(format!("`vary[{i}].values` is empty; accepted: one or more values"));
            }
            if v.steps.is_some() || v.scale.is_some() {
                return Err(format!("`vary[{i}]`: `steps` and `scale` belong to a range (`from`, `to`)"));
            }
            Ok(Variation::List { key, values: values.clone() })
        }
        (None, Some(from), Some(to)) => {
            let (a, ua) = number_and_unit(from)
                .ok_or_else(|| format!("`vary[{i}].from` = {from}: not a number with an optional unit"))?;
            let (b, ub) = number_and_unit(to)
                .ok_or_else(|| format!("`vary[{i}].to` = {to}: not a number with an optional unit"))?;
            if ua != ub {
                return Err(format!(
                    "`vary[{i}]`: `from` is in {:?} and `to` in {:?}; accepted: both ends in the same unit",
                    ua, ub
                ));
            }
            let log = match v.scale.as_deref() {
                None | Some("linear") => false,
                Some("log") => true,
                Some(other) => return Err(format!("`vary[{i}].scale` = {other:?}; accepted: \"linear\" or \"log\"")),
            };
            if log && !(a > 0.0 && b > 0.0) {
                return Err(format!("`vary[{i}]`: a log range needs both ends > 0"));
            }
            let steps = match v.steps {
                Some(n) if n >= 1 && (n as usize) <= MAX_CASES => n as usize,
                Some(n) => {
                    return Err(format!("`vary[{i}].steps` = {n}; accepted: a whole number from 1 to {MAX_CASES}"));
                }
                None => 0,
            };
            Ok(Variation::Range { key, from: a, to: b, unit: ua, steps, log })
        }
        _ => Err(format!("`vary[{i}]`: give either `values = [...]` or `from` and `to` (with `steps` for a grid)")),
    }
}

/// `"10 pg/mL"` → (10, "pg/mL"); a bare number → (x, "").
fn number_and_unit(v: &toml::Value) -> Option<(f64, String)> {
    match v {
        toml::Value::Integer(i) => Some((*i as f64, String::new())),
        toml::Value::Float(x) => Some((*x, String::new())),
        toml::Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
            let x: f64 = s[..split].parse().ok()?;
            x.is_finite().then(|| (x, s[split..].trim().to_string()))
        }
        _ => None,
    }
}

/// The value rows of every case, in case order.
fn expand(design: &Design, variations: &[Variation]) -> Result<Vec<Vec<toml::Value>>, String> {
    match design {
        Design::Grid => {
            let axes: Vec<Vec<toml::Value>> = variations
                .iter()
                .map(|v| match v {
                    Variation::Range { steps: 0, key, .. } => {
                        Err(format!("the range of `{key}` needs `steps` in a grid"))
                    }
                    v => Ok(v.grid()),
                })
                .collect::<Result<_, _>>()?;
            let count = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.len()).filter(|&n| n <= MAX_CASES));
            let Some(count) = count else { return Err(format!("the grid has more than {MAX_CASES} cases")) };
            // The last key varies fastest.
            Ok((0..count)
                .map(|mut k| {
                    let mut row = vec![toml::Value::Boolean(false); axes.len()];
                    for (a, axis) in axes.iter().enumerate().rev() {
                        row[a] = axis[k % axis.len()].clone();
                        k /= axis.len();
                    }
                    row
                })
                .collect())
        }
        Design::LatinHypercube { samples, seed } => {
            // Each key's range is cut into `samples` strata; each stratum is used once, in an
            // order shuffled per key, at a uniform point inside it. Lists take their entries by
            // stratum.
            let mut rng = <Pcg64 as rand::SeedableRng>::seed_from_u64(*seed);
            let n = *samples;
            let mut columns = Vec::with_capacity(variations.len());
            for v in variations {
                let mut strata: Vec<usize> = (0..n).collect();
                strata.shuffle(&mut rng);
                let column: Vec<toml::Value> = strata
                    .into_iter()
                    .map(|s| {
                        let u = (s as f64 + rng.random::<f64>()) / n as f64;
                        v.at(u)
                    })
                    .collect();
                columns.push(column);
            }
            Ok((0..n).map(|k| columns.iter().map(|c| c[k].clone()).collect()).collect())
        }
    }
}

/// One step of a key path: a table key, or an array entry by index or by its `name`.
fn steps_of(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            out.push(rest[..open].to_string());
            rest = &rest[open..];
            while let Some(end) = rest.find(']') {
                out.push(rest[..=end].to_string());
                rest = &rest[end + 1..];
            }
        } else {
            out.push(rest.to_string());
        }
    }
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn step<'a>(v: &'a toml::Value, s: &str) -> Option<&'a toml::Value> {
    if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        let array = v.as_array()?;
        return match inner.parse::<usize>() {
            Ok(i) => array.get(i),
            Err(_) => array.iter().find(|e| e.get("name").and_then(|n| n.as_str()) == Some(inner)),
        };
    }
    v.as_table()?.get(s)
}

fn lookup<'a>(v: &'a toml::Value, path: &str) -> Option<&'a toml::Value> {
    let steps = steps_of(path);
    if steps.is_empty() {
        return None;
    }
    steps.iter().try_fold(v, |v, s| step(v, s)).filter(|v| !v.is_table())
}

fn lookup_mut<'a>(v: &'a mut toml::Value, path: &str) -> Option<&'a mut toml::Value> {
    let mut v = v;
    for s in steps_of(path) {
        v = if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            let array = v.as_array_mut()?;
            match inner.parse::<usize>() {
                Ok(i) => array.get_mut(i)?,
                Err(_) => array.iter_mut().find(|e| e.get("name").and_then(|n| n.as_str()) == Some(inner))?,
            }
        } else {
            v.as_table_mut()?.get_mut(&s)?
        };
    }
    Some(v)
}

/// Every path to a value (not a table) of a document, for suggestions.
fn leaf_paths(v: &toml::Value) -> Vec<String> {
    fn walk(v: &toml::Value, prefix: String, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, x) in t {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(x, p, out);
                }
            }
            toml::Value::Array(a) if a.iter().all(|e| e.is_table()) && !a.is_empty() => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{prefix}[{i}]"), out);
                }
            }
            _ => out.push(prefix),
        }
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}
