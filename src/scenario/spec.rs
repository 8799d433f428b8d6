//! The scenario file as written: serde structs mirroring the TOML, every physical value still
//! text. `docs/scenarios.md` documents every key; keep the two in step.
//!
//! Values that can be wrong carry their byte span (`Spanned`) so that errors can name the line.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A value that is still unit text, e.g. `"1.5 mm"`.
pub type Text = Spanned<String>;
/// A per-material table of unit text, e.g. `{ gel = "105 um^2/s", dermis = "41 um^2/s" }`.
pub type PerMaterial = Spanned<BTreeMap<String, Text>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenario: Meta,
    pub grid: GridSpec,
    pub time: TimeSpec,
    pub material: Spanned<Vec<MaterialSpec>>,
    #[serde(default)]
    pub region: Vec<RegionSpec>,
    pub species: Spanned<Vec<SpeciesSpec>>,
    #[serde(default)]
    pub boundary: Vec<BoundarySpec>,
    #[serde(default)]
    pub pool: Vec<PoolSpec>,
    #[serde(default)]
    pub binding: Vec<BindingSpec>,
    #[serde(default)]
    pub uptake: Vec<UptakeSpec>,
    #[serde(default)]
    pub conversion: Vec<ConversionSpec>,
    /// `[flow]`: interstitial flow (see `flow.rs`).
    pub flow: Option<FlowSpec>,
}

/// `[flow]`: the velocity of every material that does not give its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    pub velocity: Spanned<Vec<Text>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: Text,
    #[serde(default)]
    #[allow(dead_code)] // read by people, not by the engines
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    pub size: Spanned<Vec<Text>>,
    pub cells: Spanned<Vec<Spanned<i64>>>,
    pub default_material: Text,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SchemeSpec {
    Explicit,
    Adi,
    Auto,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    pub end: Text,
    pub output_interval: Text,
    pub snapshot_interval: Option<Text>,
    pub scheme: Option<Spanned<SchemeSpec>>,
    pub safety: Option<Spanned<f64>>,
    pub dt: Option<Text>,
    pub tolerance: Option<Spanned<f64>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoleSpec {
    Depot,
    Tissue,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    pub name: Text,
    pub role: RoleSpec,
    /// This material's flow velocity along x, y, z (overrides `[flow] velocity`).
    pub velocity: Option<Spanned<Vec<Text>>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ShapeKind {
    Box,
    Sphere,
    Cylinder,
    Layer,
}

impl ShapeKind {
    pub fn name(self) -> &'static str {
        match self {
            ShapeKind::Box => "box",
            ShapeKind::Sphere => "sphere",
            ShapeKind::Cylinder => "cylinder",
            ShapeKind::Layer => "layer",
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AxisSpec {
    X,
    Y,
    Z,
}

impl AxisSpec {
    pub fn index(self) -> usize {
        match self {
            AxisSpec::X => 0,
            AxisSpec::Y => 1,
            AxisSpec::Z => 2,
        }
    }
}

/// One `[[region]]`. The keys each shape uses are checked in `shapes.rs`, where a key that the
/// shape does not use is refused rather than ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Name the region is known by (metrics, doses); default `region[i]`.
    pub name: Option<Text>,
    pub material: Text,
    pub shape: Spanned<ShapeKind>,
    pub axis: Option<Spanned<AxisSpec>>,
    pub from: Option<Text>,
    pub to: Option<Text>,
    pub min: Option<Spanned<Vec<Text>>>,
    pub max: Option<Spanned<Vec<Text>>>,
    pub center: Option<Spanned<Vec<Text>>>,
    pub radius: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeciesSpec {
    pub name: Text,
    pub unit: Text,
    pub molecular_weight: Option<Text>,
    pub diffusivity: PerMaterial,
    pub decay: PerMaterial,
    pub clearance: Option<PerMaterial>,
    pub uptake: Option<PerMaterial>,
    pub initial: Option<PerMaterial>,
    pub initial_form: Option<Spanned<InitialForm>>,
}

/// What a species' `initial` concentrations are where it binds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InitialForm {
    /// Free + bound (the default).
    Total,
    /// The free concentration; the bound part is added at equilibrium.
    Free,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryKind {
    NoFlux,
    Fixed,
    Clearance,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundarySpec {
    pub faces: Spanned<Vec<Text>>,
    pub species: Spanned<Vec<Text>>,
    #[serde(rename = "type")]
    pub kind: Spanned<BoundaryKind>,
    pub value: Option<Text>,
    pub rate: Option<Text>,
}

/// One `[[pool]]`: immobile binding sites.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub name: Text,
    pub density: PerMaterial,
}

/// One `[[binding]]`: a species binding a pool, reversibly.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingSpec {
    pub species: Text,
    pub pool: Text,
    pub materials: Option<Spanned<Vec<Text>>>,
    pub k_on: Text,
    pub k_off: Option<Text>,
    #[serde(rename = "K_d")]
    pub k_d: Option<Text>,
}

/// One `[[uptake]]`: saturable (Michaelis–Menten) uptake by cells.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UptakeSpec {
    pub species: Text,
    pub materials: Spanned<Vec<Text>>,
    pub v_max: Text,
    pub k_m: Text,
    pub linear: Option<Spanned<bool>>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FormSpec {
    Free,
    Bound,
}

/// One `[[conversion]]`: first-order conversion of one species into another.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionSpec {
    pub from: Text,
    pub form: Option<Spanned<FormSpec>>,
    pub to: Text,
    pub materials: Spanned<Vec<Text>>,
    pub rate: Text,
}
