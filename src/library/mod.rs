//! The built-in factor library and the MSC-CM presets.
//!
//! The data are two TOML files embedded in the binary, `factors.toml` and `presets.toml`, read
//! once at first use. Every number in them was taken from the project's reference table of factor
//! parameters, with the table's source text and a confidence [`Mark`]; where the table has no
//! number the library has none. `docs/library.md` lists what is in it and how scenarios use it.
//!
//! Also here, the physics the library's estimates use (all at 37 °C, T = 310.15 K, water
//! viscosity η = 0.691 mPa·s):
//!
//! ```text
//!   Stokes–Einstein      D = k_B·T / (6π·η·r)
//!   Young et al. 1980    D [cm²/s] = 8.34e-8·T / (η[cP]·M^(1/3)),  M in g/mol
//!   Stokes radius of a protein of molar mass M (the two above):  r = k_B·M^(1/3) / (6π·8.34e-15) m
//!   Ogston               D_gel/D_water = exp(−√φ·(r_s + r_f)/r_f)
//!   Amsden 1998          D_gel/D_water = exp(−π·((r_s + r_f)/(ξ + 2·r_f))²)
//! ```
//!
//! with φ the polymer volume fraction, ξ the mesh size, r_s the solute's hydrodynamic radius and
//! r_f the radius of the gel's fibres.

pub mod show;

use serde::Deserialize;
use std::fmt;
use std::sync::OnceLock;

/// Boltzmann's constant, J/K.
pub const BOLTZMANN: f64 = 1.380_649e-23;
/// Body temperature of every library estimate, K (37 °C).
pub const BODY_TEMPERATURE: f64 = 310.15;
/// Viscosity of water at 37 °C, Pa·s.
pub const WATER_VISCOSITY_37C: f64 = 0.691e-3;
/// The constant of Young, Carroad & Bell 1980, in their units: D [cm²/s] = `YOUNG_CONSTANT` ·
/// T [K] / (η [cP] · M^(1/3)), M in g/mol.
pub const YOUNG_CONSTANT: f64 = 8.34e-8;

/// How far a library value can be trusted, as marked in the reference table.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// The number was read in the cited abstract or text.
    Verified,
    /// Recalled from secondary material and not checked against the source, or given without a
    /// mark: use it only as an estimate.
    Unverified,
    /// Computed from a formula or derived from other numbers (the formula is in the source text).
    Estimate,
    /// Measured by the user: a batch given to a scenario as a CSV file (`[depot] composition`).
    /// Never used in the library itself.
    Measured,
}

impl Mark {
    pub fn name(self) -> &'static str {
        match self {
            Mark::Verified => "verified",
            Mark::Unverified => "unverified",
            Mark::Estimate => "estimate",
            Mark::Measured => "measured",
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value of the library: a number with its unit (`value`) or a range (`low`, `high`), with the
/// reference table's cell and source as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The value, `"<number> <unit>"` (a bare number for ratios).
    pub value: Option<String>,
    /// Lower end of a range.
    pub low: Option<String>,
    /// Upper end of a range.
    pub high: Option<String>,
    /// The study a CM concentration comes from (a preset's name).
    pub study: Option<String>,
    /// What was measured, where, and which number of the cell this is.
    pub context: Option<String>,
    /// The reference table's cell, as written.
    pub csv: String,
    /// The reference table's source text, as written.
    pub source: String,
    pub mark: Mark,
}

impl Entry {
    /// The value as text: `"33.7 min"`, or `"2 min to 3 min"` for a range.
    pub fn text(&self) -> String {
        match (&self.value, &self.low, &self.high) {
            (Some(v), _, _) => v.clone(),
            (None, Some(lo), Some(hi)) => format!("{lo} to {hi}"),
            _ => "(none)".to_string(),
        }
    }

    /// The texts of every number of the entry (`value`, or `low` and `high`).
    pub fn numbers(&self) -> Vec<&str> {
        [&self.value, &self.low, &self.high].into_iter().flatten().map(String::as_str).collect()
    }
}

/// Whether a factor binds heparin, as the reference table says.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeparinBinding {
    pub binds: bool,
    pub csv: String,
    pub source: String,
    pub mark: Mark,
}

/// What sort of thing a factor is: it decides how its size is known.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Protein,
    SmallMolecule,
    /// Extracellular vesicles: a size, no molecular weight; D from the size (Stokes–Einstein).
    Vesicle,
}

/// One factor of the library. Every value is optional: the library holds only what the reference
/// table gives.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Factor {
    /// Canonical name, used in scenarios (`factor = "VEGF165"`) and by `secretome factors`.
    pub name: String,
    /// Other names it is found by (`VEGF`, `VEGF-A`).
    pub aliases: Vec<String>,
    pub kind: Kind,
    /// The reference table's row name.
    pub csv_row: String,
    /// The reference table's notes on the row.
    pub notes: Option<String>,
    /// Diameter (vesicles).
    pub size: Option<Entry>,
    pub molecular_weight: Option<Entry>,
    /// Diffusivity in water at 37 °C.
    pub diffusivity_water: Option<Entry>,
    /// D_tissue / D_water, a number: what the library multiplies D_water by in tissue materials.
    pub tissue_hindrance: Option<Entry>,
    /// Measured diffusivities in gels (shown, never used by themselves: the gel must match).
    #[serde(default)]
    pub gel_diffusivity: Vec<Entry>,
    pub half_life: Option<Entry>,
    pub heparin_binding: Option<HeparinBinding>,
    /// Dissociation constant from heparin or heparan sulfate sites.
    pub heparin_kd: Option<Entry>,
    /// Concentrations in MSC-CM, each from one study.
    #[serde(default)]
    pub cm_concentration: Vec<Entry>,
    /// Concentrations with a reported biological effect.
    #[serde(default)]
    pub bioactive_concentration: Vec<Entry>,
}

impl Factor {
    /// Every value of the factor with the name of its field, in display order.
    pub fn entries(&self) -> Vec<(&'static str, &Entry)> {
        let mut out = Vec::new();
        let single = [
            ("size", &self.size),
            ("molecular_weight", &self.molecular_weight),
            ("diffusivity_water", &self.diffusivity_water),
            ("tissue_hindrance", &self.tissue_hindrance),
        ];
        out.extend(single.into_iter().filter_map(|(k, e)| e.as_ref().map(|e| (k, e))));
        out.extend(self.gel_diffusivity.iter().map(|e| ("gel_diffusivity", e)));
        out.extend(self.half_life.iter().map(|e| ("half_life", e)));
        out.extend(self.heparin_kd.iter().map(|e| ("heparin_kd", e)));
        out.extend(self.cm_concentration.iter().map(|e| ("cm_concentration", e)));
        out.extend(self.bioactive_concentration.iter().map(|e| ("bioactive_concentration", e)));
        out
    }
}

/// A level of a study's ranges.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Mid,
    High,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Mid => "mid",
            Level::High => "high",
        }
    }
}

/// An MSC-CM composition: the `cm_concentration` entries of every factor tagged with its name.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    /// Levels of a study that gives ranges; empty for single values.
    pub levels: Vec<Level>,
    /// Where the MSCs came from: bone marrow, adipose, …
    pub msc_source: String,
    pub preconditioning: String,
    pub reference: String,
    pub notes: Option<String>,
}

impl Preset {
    /// The names a scenario selects it by: `<name>_<level>` for each level, or `<name>`.
    pub fn selections(&self) -> Vec<String> {
        if self.levels.is_empty() {
            vec![self.name.clone()]
        } else {
            self.levels.iter().map(|l| format!("{}_{}", self.name, l.name())).collect()
        }
    }
}

/// One factor's concentration in a composition, in CM (before any loading).
#[derive(Clone, Debug, PartialEq)]
pub struct CompositionEntry {
    /// The library factor's canonical name.
    pub factor: String,
    /// `"<number> <unit>"`.
    pub concentration: String,
    /// Where the number comes from (the study, and the level for a range).
    pub source: String,
    pub mark: Mark,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FactorsFile {
    factor: Vec<Factor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetsFile {
    preset: Vec<Preset>,
}

/// The library: factors and presets.
#[derive(Debug)]
pub struct Library {
    pub factors: Vec<Factor>,
    pub presets: Vec<Preset>,
}

/// The text of the embedded factor data.
pub const FACTORS_TOML: &str = include_str!("factors.toml");
/// The text of the embedded preset data.
pub const PRESETS_TOML: &str = include_str!("presets.toml");

/// The built-in library, read from the embedded data at first use. The data are part of the
/// program and checked by its tests (`tests/library.rs`), so a failure to read them is a bug.
pub fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let factors: FactorsFile = toml::from_str(FACTORS_TOML).expect("src/library/factors.toml is valid");
        let presets: PresetsFile = toml::from_str(PRESETS_TOML).expect("src/library/presets.toml is valid");
        Library { factors: factors.factor, presets: presets.preset }
    })
}

/// A name reduced for matching: lower case, Greek α β γ spelt out, without spaces, `-`, `_`,
/// `(`, `)` and `.`: `VEGF-A`, `vegf a` and `VEGFA` are one name.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            'α' | 'Α' => out.push_str("alpha"),
            'β' | 'Β' => out.push_str("beta"),
            'γ' | 'Γ' => out.push_str("gamma"),
            ' ' | '-' | '_' | '(' | ')' | '.' | '/' => {}
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

impl Library {
    /// The factor called `name` (its canonical name or an alias, matched as [`normalise`]d).
    pub fn factor(&self, name: &str) -> Option<&Factor> {
        let n = normalise(name);
        if n.is_empty() {
            return None;
        }
        self.factors
            .iter()
            .find(|f| normalise(&f.name) == n)
            .or_else(|| self.factors.iter().find(|f| f.aliases.iter().any(|a| normalise(a) == n)))
    }

    /// The canonical names of the (at most) `count` factors whose names or aliases are closest
    /// to `name` (Jaro–Winkler similarity of the normalised names), closest first.
    pub fn closest_factors(&self, name: &str, count: usize) -> Vec<&str> {
        let n = normalise(name);
        let mut scored: Vec<(f64, &str)> = self
            .factors
            .iter()
            .map(|f| {
                let best = std::iter::once(&f.name)
                    .chain(&f.aliases)
                    .map(|a| strsim::jaro_winkler(&n, &normalise(a)))
                    .fold(0.0, f64::max);
                (best, f.name.as_str())
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(count).map(|(_, name)| name).collect()
    }

    /// Every name a scenario may select a preset by, in file order.
    pub fn preset_selections(&self) -> Vec<String> {
        self.presets.iter().flat_map(Preset::selections).collect()
    }

    /// The preset a selection names (`nasiri2026_mid`) and the level it asks for.
    pub fn preset(&self, selection: &str) -> Option<(&Preset, Option<Level>)> {
        for p in &self.presets {
            if p.levels.is_empty() && p.name == selection {
                return Some((p, None));
            }
            for &level in &p.levels {
                if format!("{}_{}", p.name, level.name()) == selection {
                    return Some((p, Some(level)));
                }
            }
        }
        None
    }

    /// The closest preset selections to `name` (Jaro–Winkler), closest first.
    pub fn closest_presets(&self, name: &str, count: usize) -> Vec<String> {
        let mut scored: Vec<(f64, String)> =
            self.preset_selections().into_iter().map(|s| (strsim::jaro_winkler(name, &s), s)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(count).map(|(_, s)| s).collect()
    }

    /// The concentrations in CM of a preset at a level: one entry per factor with a
    /// `cm_concentration` of the preset's study, in library order. For a range, `low` and `high`
    /// are its ends and `mid` their arithmetic mean (marked [`Mark::Estimate`]); a single value is
    /// the same at every level.
    pub fn composition(&self, preset: &Preset, level: Option<Level>) -> Vec<CompositionEntry> {
        let mut out = Vec::new();
        for f in &self.factors {
            for e in f.cm_concentration.iter().filter(|e| e.study.as_deref() == Some(preset.name.as_str())) {
                let (concentration, how, mark) = match (&e.value, &e.low, &e.high, level) {
                    (Some(v), _, _, _) => (v.clone(), String::new(), e.mark),
                    (None, Some(lo), _, Some(Level::Low) | None) => (lo.clone(), " (low end)".to_string(), e.mark),
                    (None, _, Some(hi), Some(Level::High)) => (hi.clone(), " (high end)".to_string(), e.mark),
                    (None, Some(lo), Some(hi), Some(Level::Mid)) => match midpoint(lo, hi) {
                        Some(mid) => (mid, format!(" (midpoint of {lo} to {hi})"), Mark::Estimate),
                        None => continue,
                    },
                    _ => continue,
                };
                out.push(CompositionEntry {
                    factor: f.name.clone(),
                    concentration,
                    source: format!("{}{how}: {}", e.context.as_deref().unwrap_or(""), e.source),
                    mark,
                });
            }
        }
        out
    }
}

/// The arithmetic mean of two quantities written in the same unit, in that unit.
fn midpoint(low: &str, high: &str) -> Option<String> {
    let lo = crate::units::parse_quantity(low).ok()?;
    let hi = crate::units::parse_quantity(high).ok()?;
    (lo.unit_text == hi.unit_text).then(|| format!("{} {}", 0.5 * (lo.value + hi.value), lo.unit_text))
}

/// Diffusivity of a sphere of hydrodynamic radius `radius` (m) in water at 37 °C, m²/s
/// (Stokes–Einstein, `k_B·T/(6π·η·r)`).
pub fn stokes_einstein_diffusivity(radius: f64) -> f64 {
    BOLTZMANN * BODY_TEMPERATURE / (6.0 * std::f64::consts::PI * WATER_VISCOSITY_37C * radius)
}

/// Hydrodynamic (Stokes) radius, m, of a globular protein of molar mass `molar_mass` (kg/mol): the
/// radius of the sphere whose Stokes–Einstein diffusivity is that of Young, Carroad & Bell 1980,
/// `r = k_B·M^(1/3)/(6π·8.34e-15 m)` with M in g/mol (T and η cancel). About 3.1 nm at 45 kDa.
pub fn stokes_radius_of_protein(molar_mass: f64) -> f64 {
    // Young's constant turned to SI: cm²/s → m²/s (1e-4) and cP → Pa·s (1e-3).
    let young_si = YOUNG_CONSTANT * 1e-4 * 1e-3;
    BOLTZMANN * (molar_mass * 1e3).cbrt() / (6.0 * std::f64::consts::PI * young_si)
}

/// Ogston's obstruction model: D_gel/D_water = `exp(−√φ·(r_s + r_f)/r_f)` for polymer volume
/// fraction `phi`, solute radius `r_s` and fibre radius `r_f` (same length unit).
pub fn ogston_hindrance(phi: f64, r_s: f64, r_f: f64) -> f64 {
    (-phi.sqrt() * (r_s + r_f) / r_f).exp()
}

/// Amsden's obstruction model (1998): D_gel/D_water = `exp(−π·((r_s + r_f)/(ξ + 2·r_f))²)` for
/// mesh size `xi`, solute radius `r_s` and fibre radius `r_f` (same length unit).
pub fn amsden_hindrance(xi: f64, r_s: f64, r_f: f64) -> f64 {
    (-std::f64::consts::PI * ((r_s + r_f) / (xi + 2.0 * r_f)).powi(2)).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_read() {
        let lib = library();
        assert_eq!(lib.factors.len(), 17);
        assert!(lib.factor("vegf-a").is_some_and(|f| f.name == "VEGF165"));
        assert!(lib.factor("TGF-β1").is_some_and(|f| f.name == "TGF-beta1"));
    }

    #[test]
    fn young_radius_matches_young_diffusivity() {
        // 45 kDa: Young gives 3743/45000^(1/3) µm²/s at 37 °C.
        let m: f64 = 45_000.0;
        let d_young = YOUNG_CONSTANT * BODY_TEMPERATURE / (0.691 * m.cbrt()) * 1e-4;
        let r = stokes_radius_of_protein(45.0);
        assert!((stokes_einstein_diffusivity(r) / d_young - 1.0).abs() < 1e-12);
    }
}
