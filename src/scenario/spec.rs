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
    #[serde(default)]
    pub dose: Vec<DoseSpec>,
    #[serde(default)]
    pub degradation: Vec<DegradationSpec>,
    /// What the depot materials are loaded with: a CM preset or a measured batch (see
    /// `library.rs`).
    pub depot: Option<DepotSpec>,
    /// `[flow]`: interstitial flow (see `flow.rs`).
    pub flow: Option<FlowSpec>,
    /// `[metrics]`: what the release metrics are taken over.
    pub metrics: Option<MetricsSpec>,
}

/// `[metrics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// The burst window from the start.
    pub burst: Option<Text>,
    /// The release fits use points up to this fraction released.
    pub fit_up_to: Option<Spanned<f64>>,
    /// Regions (named `[[region]]` shapes or materials) the exposure metrics are taken in;
    /// default every tissue material.
    pub targets: Option<Spanned<Vec<Text>>>,
    /// The axis depth is measured along (`"x"`, `"y"`, `"z"`); default the last axis with more
    /// than one cell.
    pub depth_axis: Option<Text>,
}

/// What a `[[dose]]` does to its region.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DoseModeSpec {
    Replace,
    Add,
}

/// A dosing schedule: `every` with `until` or `count`, explicit `times`, or both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseSpec {
    pub region: Text,
    pub mode: Spanned<DoseModeSpec>,
    pub every: Option<Text>,
    pub start: Option<Text>,
    pub until: Option<Text>,
    pub count: Option<Spanned<i64>>,
    pub times: Option<Spanned<Vec<Text>>>,
    /// Concentration per species name; without it, each species' initial loading.
    pub load: Option<Spanned<BTreeMap<String, Text>>>,
}

/// A material whose gel degrades.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationSpec {
    pub material: Text,
    pub diffusivity_rate: Option<Text>,
    pub diffusivity_max_factor: Option<Spanned<f64>>,
    pub diffusivity_factor: Option<Spanned<Vec<(Text, Spanned<f64>)>>>,
    pub mesh_rate: Option<Text>,
    pub site_loss: Option<Text>,
    pub update_interval: Option<Text>,
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
    /// Mesh size of a gel (a length): D in it from the Amsden model, for species that do not
    /// give one.
    pub mesh_size: Option<Text>,
    /// Polymer volume fraction of a gel (0 < φ < 1): D in it from the Ogston model.
    pub polymer_fraction: Option<Spanned<f64>>,
    /// Radius of the gel's fibres (a length), needed by both mesh models.
    pub fiber_radius: Option<Text>,
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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeciesSpec {
    pub name: Text,
    pub unit: Text,
    pub molecular_weight: Option<Text>,
    /// A factor of the built-in library whose values fill what the species does not give.
    pub factor: Option<Text>,
    /// Diffusivity in water at 37 °C, for the mesh models and the library's tissue hindrance.
    pub diffusivity_water: Option<Text>,
    /// Hydrodynamic radius, for the mesh models (and D in water of vesicles).
    pub hydrodynamic_radius: Option<Text>,
    /// Required unless a `factor` fills it.
    pub diffusivity: Option<PerMaterial>,
    /// Required unless a `factor` fills it.
    pub decay: Option<PerMaterial>,
    pub clearance: Option<PerMaterial>,
    pub uptake: Option<PerMaterial>,
    pub initial: Option<PerMaterial>,
    pub initial_form: Option<Spanned<InitialForm>>,
    /// Concentration above which the factor acts (exposure metrics, the report's contour).
    pub bioactive_threshold: Option<Text>,
    /// The top of the exposure window (concentration with a unit), optional.
    pub bioactive_ceiling: Option<Text>,
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

/// `[depot]`: what the depot materials are loaded with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepotSpec {
    /// A preset composition of the library (`nasiri2026_mid`).
    pub preset: Option<Text>,
    /// A measured batch: a CSV file (factor, concentration, unit), relative to the scenario.
    pub composition: Option<Text>,
    /// `"10 %"` (CM in the gel) or `"10x"` (concentrated CM).
    pub loading: Option<Text>,
    /// The materials loaded; default every depot material.
    pub materials: Option<Spanned<Vec<Text>>>,
}
