//! The factor library, CM compositions and gel mesh models in scenario files.
//!
//! A species with `factor = "<library name>"` takes from the library what it does not write
//! itself: `molecular_weight`, `diffusivity` in tissue materials (D in water × the library's
//! tissue hindrance), `decay` (the library's half-life). A gel material with a mesh model
//! (`mesh_size` or `polymer_fraction`, with `fiber_radius`) gives the diffusivity of species that
//! do not write one for it. `[depot]` loads the depot materials with a preset composition or a
//! measured batch, diluted or concentrated by `loading`.
//!
//! Everything is filled in as text in the species' tables, before the species are read, so a
//! scenario that leaves values to the library compiles to the same problem as one that writes the
//! same numbers by hand. Each filled value is recorded as a [`ValueSource`].

use super::spec::{DepotSpec, MaterialSpec, PerMaterial, RoleSpec, ScenarioFile, SpeciesSpec, Text};
use super::{Ctx, F32_MAX, ScenarioError, names_list};
use crate::library::{self, Factor, Library, Mark, amsden_hindrance, ogston_hindrance};
use crate::problem::ValueSource;
use crate::units::{self, Quantity};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// A gel's mesh model, from its `[[material]]` keys (lengths in m).
#[derive(Clone, Debug)]
pub(super) enum Mesh {
    /// `mesh_size` ξ: Amsden 1998.
    Amsden { xi: f64, r_f: f64, text: String },
    /// `polymer_fraction` φ: Ogston.
    Ogston { phi: f64, r_f: f64, text: String },
}

impl Mesh {
    fn hindrance(&self, r_s: f64) -> f64 {
        match *self {
            Mesh::Amsden { xi, r_f, .. } => amsden_hindrance(xi, r_s, r_f),
            Mesh::Ogston { phi, r_f, .. } => ogston_hindrance(phi, r_s, r_f),
        }
    }

    fn describe(&self) -> String {
        match self {
            Mesh::Amsden { text, .. } => format!("Amsden 1998, exp(−π((r_s + r_f)/(ξ + 2r_f))²), {text}"),
            Mesh::Ogston { text, .. } => format!("Ogston, exp(−√φ(r_s + r_f)/r_f), {text}"),
        }
    }
}

/// One concentration a `[depot]` puts into a species, before `loading`.
#[derive(Clone)]
struct Load {
    /// `"<number> <unit>"` in CM.
    concentration: String,
    source: String,
    mark: Mark,
}

/// The species of `spec` with every value the library, a composition or a mesh model supplies
/// filled in, each with its sources.
pub(super) fn fill_species(
    ctx: &Ctx<'_>,
    spec: &ScenarioFile,
) -> Result<Vec<(SpeciesSpec, Vec<ValueSource>)>, ScenarioError> {
    let lib = library::library();
    let materials = spec.material.get_ref();
    let meshes = materials.iter().enumerate().map(|(i, m)| mesh_model(ctx, i, m)).collect::<Result<Vec<_>, _>>()?;
    let species = spec.species.get_ref();
    let mut factors: Vec<Option<&Factor>> = Vec::with_capacity(species.len());
    for (i, s) in species.iter().enumerate() {
        factors.push(match &s.factor {
            None => None,
            Some(v) => Some(find_factor(ctx, lib, &format!("species[{i}].factor"), v)?),
        });
    }
    let loads = match &spec.depot {
        None => vec![BTreeMap::new(); species.len()],
        Some(depot) => depot_loads(ctx, lib, spec, depot, &factors)?,
    };
    let mut out = Vec::with_capacity(species.len());
    for (i, s) in species.iter().enumerate() {
        out.push(fill_one(ctx, i, s, factors[i], materials, &meshes, &loads[i])?);
    }
    Ok(out)
}

fn find_factor<'l>(ctx: &Ctx<'_>, lib: &'l Library, key: &str, v: &Text) -> Result<&'l Factor, ScenarioError> {
    lib.factor(v.get_ref()).ok_or_else(|| {
        ctx.invalid(
            key,
            v,
            "no factor of this name in the built-in library",
            format!(
                "a library name or alias; closest: {} (`secretome factors` lists them all)",
                backticked(&lib.closest_factors(v.get_ref(), 3))
            ),
        )
    })
}

fn backticked(names: &[impl AsRef<str>]) -> String {
    names.iter().map(|n| format!("`{}`", n.as_ref())).collect::<Vec<_>>().join(", ")
}

/// A positive length of a `[[material]]` or species key, in m.
pub(super) fn positive_length(ctx: &Ctx<'_>, key: &str, v: &Text, what: &str) -> Result<f64, ScenarioError> {
    let x = ctx.quantity(key, v, units::length, units::LENGTH_UNITS)?;
    if !(x > 0.0) {
        return Err(ctx.invalid(
            key,
            v,
            format!("{what} must be positive"),
            format!("a length > 0, e.g. \"{}\"", example(key)),
        ));
    }
    Ok(x)
}

fn example(key: &str) -> &'static str {
    if key.ends_with("mesh_size") {
        "20 nm"
    } else if key.ends_with("fiber_radius") {
        "1.5 nm"
    } else {
        "3 nm"
    }
}

/// The mesh model of material `i`, if it gives one.
pub(super) fn mesh_model(
    ctx: &Ctx<'_>,
    i: usize,
    m: &MaterialSpec,
) -> Result<Option<(Mesh, Range<usize>)>, ScenarioError> {
    let key = |k: &str| format!("material[{i}].{k}");
    let accepted = "either `mesh_size` (a length > 0, Amsden model) or `polymer_fraction` (0 < φ < 1, Ogston model), \
                    with `fiber_radius` (a length > 0)";
    let r_f = |near: Range<usize>| match &m.fiber_radius {
        Some(v) => {
            Ok((positive_length(ctx, &key("fiber_radius"), v, "a fibre radius")?, v.get_ref().trim().to_string()))
        }
        None => {
            Err(ctx.missing(key("fiber_radius"), near, "a mesh model needs the radius of the gel's fibres", accepted))
        }
    };
    match (&m.mesh_size, &m.polymer_fraction) {
        (Some(_), Some(phi)) => Err(ctx.invalid_span(
            key("polymer_fraction"),
            phi.span(),
            "both `mesh_size` and `polymer_fraction` given",
            accepted,
        )),
        (Some(xi_text), None) => {
            let xi = positive_length(ctx, &key("mesh_size"), xi_text, "a mesh size")?;
            let (r_f, rf_text) = r_f(xi_text.span())?;
            let text = format!("mesh size ξ = {}, fibre radius r_f = {rf_text}", xi_text.get_ref().trim());
            Ok(Some((Mesh::Amsden { xi, r_f, text }, xi_text.span())))
        }
        (None, Some(phi_v)) => {
            let phi = *phi_v.get_ref();
            if !(phi > 0.0 && phi < 1.0) {
                return Err(ctx.invalid_span(
                    key("polymer_fraction"),
                    phi_v.span(),
                    "a polymer volume fraction must lie between 0 and 1",
                    "a number 0 < φ < 1, e.g. 0.02 for 2 % polymer",
                ));
            }
            let (r_f, rf_text) = r_f(phi_v.span())?;
            let text = format!("polymer volume fraction φ = {phi}, fibre radius r_f = {rf_text}");
            Ok(Some((Mesh::Ogston { phi, r_f, text }, phi_v.span())))
        }
        (None, None) => match &m.fiber_radius {
            Some(v) => Err(ctx.invalid(key("fiber_radius"), v, "a fibre radius without a mesh model", accepted)),
            None => Ok(None),
        },
    }
}

/// D in water of a species, with the text the tissue values are derived from.
struct Water {
    quantity: Quantity,
    si: f64,
    /// Where it comes from, for sources.
    source: String,
    mark: Option<Mark>,
}

fn fill_one(
    ctx: &Ctx<'_>,
    i: usize,
    s: &SpeciesSpec,
    factor: Option<&Factor>,
    materials: &[MaterialSpec],
    meshes: &[Option<(Mesh, Range<usize>)>],
    loads: &BTreeMap<String, (Load, f64, String, Range<usize>)>,
) -> Result<(SpeciesSpec, Vec<ValueSource>), ScenarioError> {
    let key = |k: &str| format!("species[{i}].{k}");
    let mut s = s.clone();
    let mut sources = Vec::new();
    let at = s.factor.as_ref().map_or(s.name.span(), |f| f.span());
    let from_library = |f: &Factor, e: &library::Entry| match &e.context {
        Some(c) => format!("library factor `{}` ({c}): {}", f.name, e.source),
        None => format!("library factor `{}`: {}", f.name, e.source),
    };

    // Molecular weight.
    if s.molecular_weight.is_none() {
        if let Some((f, e, v)) =
            factor.and_then(|f| f.molecular_weight.as_ref().and_then(|e| Some((f, e, e.value.as_ref()?))))
        {
            s.molecular_weight = Some(Spanned::new(at.clone(), v.clone()));
            sources.push(ValueSource {
                key: "molecular_weight".into(),
                value: v.clone(),
                source: from_library(f, e),
                mark: e.mark,
            });
        }
    }

    // D in water: given, from the library, or from the hydrodynamic radius (Stokes–Einstein).
    let radius = match &s.hydrodynamic_radius {
        Some(v) => Some((positive_length(ctx, &key("hydrodynamic_radius"), v, "a hydrodynamic radius")?, v)),
        None => None,
    };
    let water = if let Some(v) = &s.diffusivity_water {
        let k = key("diffusivity_water");
        let q = units::parse_quantity(v.get_ref()).map_err(|e| ctx.unit_error(&k, v, e, units::DIFFUSIVITY_UNITS))?;
        let si = q.si_as(units::DIFFUSIVITY).map_err(|e| ctx.unit_error(&k, v, e, units::DIFFUSIVITY_UNITS))?;
        if !(si > 0.0) {
            return Err(ctx.invalid(k, v, "a diffusivity must be positive", "a diffusivity > 0, e.g. \"105 um^2/s\""));
        }
        Some(Water { quantity: q, si, source: format!("`diffusivity_water` = {}", v.get_ref().trim()), mark: None })
    } else if let Some((f, e, v)) =
        factor.and_then(|f| f.diffusivity_water.as_ref().and_then(|e| Some((f, e, e.value.as_ref()?))))
    {
        let q = units::parse_quantity(v).expect("library diffusivities parse (tests/library.rs)");
        let si = q.si();
        Some(Water { quantity: q, si, source: format!("D in water {v}, {}", from_library(f, e)), mark: Some(e.mark) })
    } else if let Some((r, v)) = &radius {
        let si = library::stokes_einstein_diffusivity(*r);
        let q = units::parse_quantity(&format!("{si:e} m^2/s")).expect("a formatted diffusivity parses");
        let source = format!(
            "D in water {si:e} m^2/s from `hydrodynamic_radius` = {} by Stokes–Einstein, k_B·T/(6π·η·r) at 310.15 K, \
             η = 0.691 mPa·s",
            v.get_ref().trim()
        );
        Some(Water { quantity: q, si, source, mark: Some(Mark::Estimate) })
    } else {
        None
    };

    // Diffusivity per material.
    for (m, mat) in materials.iter().enumerate() {
        let name = mat.name.get_ref().trim().to_string();
        if s.diffusivity.as_ref().is_some_and(|t| t.get_ref().contains_key(&name)) {
            continue;
        }
        let k = format!("{}.{name}", key("diffusivity"));
        let filled = if let Some((mesh, span)) = &meshes[m] {
            let Some(water) = &water else {
                return Err(ctx.missing(
                    k,
                    s.name.span(),
                    format!("material `{name}` has a mesh model, which needs the species' diffusivity in water"),
                    "`diffusivity_water`, a library `factor` that has one, or `hydrodynamic_radius`; or the diffusivity itself",
                ));
            };
            let (r_s, r_source) = solute_radius(ctx, i, &s, factor, &radius)?;
            let h = mesh.hindrance(r_s);
            let d = water.si * h;
            let text = format!("{d:e} m^2/s");
            let value = format!("{text} (D in water × {h:.4})");
            let source = format!(
                "mesh model of material `{name}`: {}, r_s = {:.3} nm ({r_source}); {}",
                mesh.describe(),
                r_s * 1e9,
                water.source
            );
            Some((text, span.clone(), value, source, Mark::Estimate))
        } else if let (RoleSpec::Tissue, Some(f), Some(water)) = (mat.role, factor, &water) {
            match f.tissue_hindrance.as_ref().and_then(|e| Some((e, e.value.as_ref()?.parse::<f64>().ok()?))) {
                Some((e, h)) => {
                    // The number times the hindrance, in D in water's own unit: the same text a
                    // person would write.
                    let text = format!("{} {}", water.quantity.value * h, water.quantity.unit_text);
                    let value = format!("{text} (D in water {} × {h})", water_text(water));
                    let source = format!("{}; {}", from_library(f, e), water.source);
                    let mark = worst(e.mark, water.mark);
                    Some((text, at.clone(), value, source, mark))
                }
                None => None,
            }
        } else {
            None
        };
        match filled {
            Some((text, span, value, source, mark)) => {
                insert(&mut s.diffusivity, &name, text, span);
                sources.push(ValueSource { key: format!("diffusivity.{name}"), value, source, mark });
            }
            None if factor.is_some() => {
                let f = factor.map_or("", |f| f.name.as_str());
                let (problem, accepted) = if mat.role == RoleSpec::Depot {
                    (
                        format!(
                            "no value for depot material `{name}`: the library (factor `{f}`) gives D in water and in tissue, not in a gel"
                        ),
                        format!(
                            "`diffusivity.{name}`, or a mesh model on material `{name}` (`mesh_size` or `polymer_fraction`, with `fiber_radius`)"
                        ),
                    )
                } else {
                    (
                        format!(
                            "no value for material `{name}`: the library has no D in water or no tissue hindrance for factor `{f}`"
                        ),
                        format!("`diffusivity.{name}` (or `diffusivity_water`, or `hydrodynamic_radius`)"),
                    )
                };
                return Err(ctx.missing(k, at.clone(), problem, accepted));
            }
            None => {}
        }
    }

    // Decay: the library's half-life where the species writes none.
    if let Some(f) = factor {
        for mat in materials {
            let name = mat.name.get_ref().trim().to_string();
            if s.decay.as_ref().is_some_and(|t| t.get_ref().contains_key(&name)) {
                continue;
            }
            let k = format!("{}.{name}", key("decay"));
            let accepted = format!("`decay.{name}`: a half-life > 0 (\"33.7 min\") or a rate ≥ 0 (\"0.0206 1/min\")");
            match &f.half_life {
                Some(e) if e.value.is_some() => {
                    let v = e.value.clone().unwrap_or_default();
                    insert(&mut s.decay, &name, v.clone(), at.clone());
                    sources.push(ValueSource {
                        key: format!("decay.{name}"),
                        value: format!("half-life {v}"),
                        source: from_library(f, e),
                        mark: e.mark,
                    });
                }
                Some(e) => {
                    return Err(ctx.missing(
                        k,
                        at.clone(),
                        format!(
                            "the library gives factor `{}` a range of half-lives ({}), not one value",
                            f.name,
                            e.text()
                        ),
                        accepted,
                    ));
                }
                None => {
                    return Err(ctx.missing(
                        k,
                        at.clone(),
                        format!("the library has no half-life for factor `{}`", f.name),
                        accepted,
                    ));
                }
            }
        }
    }

    // Initial concentrations from `[depot]`.
    for (material, (load, multiple, loading_text, span)) in loads {
        if s.initial.as_ref().is_some_and(|t| t.get_ref().contains_key(material)) {
            continue;
        }
        let q = units::parse_quantity(&load.concentration).expect("checked in depot_loads");
        let text = format!("{} {}", q.value * multiple, q.unit_text);
        insert(&mut s.initial, material, text.clone(), span.clone());
        sources.push(ValueSource {
            key: format!("initial.{material}"),
            value: format!("{text} ({} in CM × loading {loading_text})", load.concentration),
            source: load.source.clone(),
            mark: load.mark,
        });
    }
    Ok((s, sources))
}

fn water_text(w: &Water) -> String {
    format!("{} {}", w.quantity.value, w.quantity.unit_text)
}

/// The less trusted of two marks (a value derived from both is no better than either).
fn worst(a: Mark, b: Option<Mark>) -> Mark {
    let rank = |m: Mark| match m {
        Mark::Verified | Mark::Measured => 0,
        Mark::Unverified => 1,
        Mark::Estimate => 2,
    };
    match b {
        Some(b) if rank(b) > rank(a) => b,
        _ => a,
    }
}

fn insert(table: &mut Option<PerMaterial>, material: &str, text: String, span: Range<usize>) {
    let table = table.get_or_insert_with(|| Spanned::new(span.clone(), BTreeMap::new()));
    table.get_mut().insert(material.to_string(), Spanned::new(span, text));
}

/// The solute radius for a mesh model, m, and where it comes from: `hydrodynamic_radius`, or the
/// Stokes radius of a protein of the species' (or its factor's) molecular weight.
fn solute_radius(
    ctx: &Ctx<'_>,
    i: usize,
    s: &SpeciesSpec,
    factor: Option<&Factor>,
    radius: &Option<(f64, &Text)>,
) -> Result<(f64, String), ScenarioError> {
    if let Some((r, v)) = radius {
        return Ok((*r, format!("`hydrodynamic_radius` = {}", v.get_ref().trim())));
    }
    if factor.is_some_and(|f| f.kind == library::Kind::Vesicle) {
        return Err(ctx.missing(
            format!("species[{i}].hydrodynamic_radius"),
            s.name.span(),
            "a vesicle's size is needed for a mesh model (the library gives a range of diameters, 30 nm to 150 nm)",
            "`hydrodynamic_radius`, a length > 0 (half the diameter, e.g. \"50 nm\")",
        ));
    }
    if let Some(v) = &s.molecular_weight {
        let k = format!("species[{i}].molecular_weight");
        let mw = ctx.quantity(&k, v, units::molar_mass, units::MOLAR_MASS_UNITS)?;
        if mw > 0.0 {
            let r = library::stokes_radius_of_protein(mw);
            return Ok((
                r,
                format!(
                    "estimate: Stokes radius of a globular protein of {}, k_B·M^(1/3)/(6π·8.34e-15 m) from Young et al. 1980",
                    v.get_ref().trim()
                ),
            ));
        }
    }
    Err(ctx.missing(
        format!("species[{i}].hydrodynamic_radius"),
        s.name.span(),
        "a mesh model needs the solute's radius",
        "`hydrodynamic_radius` (a length > 0), or a `molecular_weight` to estimate it from",
    ))
}

/// `"10 %"` → 0.1 (CM in the gel, 0 < p ≤ 100) or `"10x"` → 10 (concentrated CM, > 0).
fn parse_loading(text: &str) -> Option<f64> {
    let t = text.trim();
    let (number, scale, most) = if let Some(n) = t.strip_suffix('%') {
        (n, 0.01, 100.0)
    } else if let Some(n) = t.strip_suffix('x').or_else(|| t.strip_suffix('×')).or_else(|| t.strip_suffix('X')) {
        (n, 1.0, f64::INFINITY)
    } else {
        return None;
    };
    let x: f64 = number.trim().parse().ok()?;
    (x.is_finite() && x > 0.0 && x <= most && (x * scale) <= F32_MAX).then_some(x * scale)
}

/// What `[depot]` loads into each species: per species, material → (load, multiple, loading as
/// written, span of the key it comes from).
#[allow(clippy::type_complexity)]
fn depot_loads(
    ctx: &Ctx<'_>,
    lib: &Library,
    spec: &ScenarioFile,
    depot: &DepotSpec,
    factors: &[Option<&Factor>],
) -> Result<Vec<BTreeMap<String, (Load, f64, String, Range<usize>)>>, ScenarioError> {
    let species = spec.species.get_ref();
    let accepted_one = "exactly one of `preset` (a library composition: `secretome factors --presets`) and \
                        `composition` (a CSV file: factor, concentration, unit)";
    let (key, origin) = match (&depot.preset, &depot.composition) {
        (Some(p), None) => ("depot.preset", p),
        (None, Some(c)) => ("depot.composition", c),
        (Some(_), Some(c)) => {
            return Err(ctx.invalid("depot.composition", c, "both `preset` and `composition` given", accepted_one));
        }
        (None, None) => {
            let near = depot.loading.as_ref().map_or(0..0, |l| l.span());
            return Err(ctx.missing("depot.preset", near, "`[depot]` names no composition", accepted_one));
        }
    };
    let loading_accepted =
        "a percentage of CM in the gel, \"10 %\" (0 < p ≤ 100), or a multiple of concentrated CM, \"10x\" (> 0)";
    let Some(loading_v) = &depot.loading else {
        return Err(ctx.missing(
            "depot.loading",
            origin.span(),
            "how much CM the gel holds is not given",
            loading_accepted,
        ));
    };
    let Some(multiple) = parse_loading(loading_v.get_ref()) else {
        return Err(ctx.invalid(
            "depot.loading",
            loading_v,
            "not a percentage of CM in the gel or a multiple of concentrated CM",
            loading_accepted,
        ));
    };
    let loading_text = loading_v.get_ref().trim().to_string();

    // Materials loaded.
    let all: Vec<(&str, RoleSpec)> =
        spec.material.get_ref().iter().map(|m| (m.name.get_ref().trim(), m.role)).collect();
    let names: Vec<String> = all.iter().map(|(n, _)| n.to_string()).collect();
    let loaded: Vec<String> = match &depot.materials {
        Some(list) => {
            let mut out = Vec::new();
            for (j, v) in list.get_ref().iter().enumerate() {
                let n = v.get_ref().trim();
                if !names.iter().any(|x| x == n) {
                    return Err(ctx.invalid(
                        format!("depot.materials[{j}]"),
                        v,
                        "no material of this name",
                        format!("one of {}", names_list(&names)),
                    ));
                }
                if out.iter().any(|x: &String| x == n) {
                    return Err(ctx.invalid(format!("depot.materials[{j}]"), v, "listed twice", "each material once"));
                }
                out.push(n.to_string());
            }
            if out.is_empty() {
                return Err(ctx.invalid_span("depot.materials", list.span(), "empty", "one or more material names"));
            }
            out
        }
        None => all.iter().filter(|(_, r)| *r == RoleSpec::Depot).map(|(n, _)| n.to_string()).collect(),
    };
    if loaded.is_empty() {
        return Err(ctx.invalid(
            key,
            origin,
            "there is no depot material to load",
            "a [[material]] with role = \"depot\", or `depot.materials`",
        ));
    }

    // The composition: (library factor or species name, concentration, source, mark, where).
    let entries: Vec<(Option<&Factor>, String, String, String, Mark)> = match (&depot.preset, &depot.composition) {
        (Some(p), _) => {
            let Some((preset, level)) = lib.preset(p.get_ref().trim()) else {
                return Err(ctx.invalid(
                    key,
                    p,
                    "no preset of this name",
                    format!(
                        "a library preset; closest: {} (all: {})",
                        backticked(&lib.closest_presets(p.get_ref().trim(), 3)),
                        backticked(&lib.preset_selections())
                    ),
                ));
            };
            let sel = p.get_ref().trim();
            lib.composition(preset, level)
                .into_iter()
                .map(|e| {
                    let source = format!("preset `{sel}` ({}): {}", e.factor, e.source);
                    (lib.factor(&e.factor), e.factor.clone(), e.concentration, source, e.mark)
                })
                .collect()
        }
        (None, Some(c)) => read_batch(ctx, lib, c, species)?,
        (None, None) => Vec::new(),
    };

    // Each entry to its species: by the species' `factor`, or by its name.
    let species_factor = |j: usize| {
        factors[j].map(|f| f.name.as_str()).or_else(|| lib.factor(species[j].name.get_ref()).map(|f| f.name.as_str()))
    };
    let mut out: Vec<BTreeMap<String, (Load, f64, String, Range<usize>)>> = vec![BTreeMap::new(); species.len()];
    let mut missing: Vec<String> = Vec::new();
    for (factor, label, concentration, source, mark) in entries {
        let target = match factor {
            Some(f) => (0..species.len()).filter(|&j| species_factor(j) == Some(f.name.as_str())).collect::<Vec<_>>(),
            None => (0..species.len()).filter(|&j| species[j].name.get_ref().trim() == label).collect(),
        };
        match target.as_slice() {
            [] => missing.push(label),
            [j] => {
                for m in &loaded {
                    let load = Load { concentration: concentration.clone(), source: source.clone(), mark };
                    out[*j].insert(m.clone(), (load, multiple, loading_text.clone(), origin.span()));
                }
            }
            several => {
                let names: Vec<String> =
                    several.iter().map(|&j| species[j].name.get_ref().trim().to_string()).collect();
                return Err(ctx.invalid(
                    key,
                    origin,
                    format!("factor `{label}` of the composition matches several species: {}", names_list(&names)),
                    "one species per factor (give the others a `factor` of their own, or none)",
                ));
            }
        }
    }
    if !missing.is_empty() {
        let have: Vec<String> = species.iter().map(|s| s.name.get_ref().trim().to_string()).collect();
        return Err(ctx.invalid(
            key,
            origin,
            format!("the composition lists factors the scenario has no species for: {}", backticked(&missing)),
            format!(
                "a [[species]] for each (with `factor = \"<name>\"`, or named after the factor); the scenario has {}; \
                 or a measured batch (`composition`) of only the factors modelled",
                names_list(&have)
            ),
        ));
    }
    Ok(out)
}

/// Reads a measured batch: a CSV file with a header naming the columns `factor`,
/// `concentration` and `unit` (in any order; other columns are ignored), one row per factor.
/// Commas separate fields (no quoting); blank lines and lines starting with `#` are skipped.
#[allow(clippy::type_complexity)]
fn read_batch<'l>(
    ctx: &Ctx<'_>,
    lib: &'l Library,
    v: &Text,
    species: &[SpeciesSpec],
) -> Result<Vec<(Option<&'l Factor>, String, String, String, Mark)>, ScenarioError> {
    let key = "depot.composition";
    let written = v.get_ref().trim();
    let path = Path::new(ctx.file).parent().unwrap_or(Path::new("")).join(written);
    let shown = path.display().to_string();
    let format = "a CSV file with a header `factor,concentration,unit` and one row per factor, e.g. \
                  `VEGF165,465.8,pg/mL` (a path relative to the scenario file)";
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ctx.invalid(key, v, format!("cannot read `{shown}`: {e}"), format))?;
    let fail = |line: usize, problem: String, accepted: &str| {
        ctx.invalid(key, v, format!("{shown}:{line}: {problem}"), accepted)
    };
    let mut rows =
        text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((header_line, header)) = rows.next() else {
        return Err(fail(1, "the file is empty".into(), format));
    };
    let columns: Vec<String> = header.split(',').map(|c| c.trim().to_lowercase()).collect();
    let column = |name: &str| columns.iter().position(|c| c == name);
    let (Some(cf), Some(cc), Some(cu)) = (column("factor"), column("concentration"), column("unit")) else {
        return Err(fail(
            header_line,
            format!("the header `{header}` does not name the columns factor, concentration and unit"),
            format,
        ));
    };
    let species_names: Vec<String> = species.iter().map(|s| s.name.get_ref().trim().to_string()).collect();
    let mut out: Vec<(Option<&Factor>, String, String, String, Mark)> = Vec::new();
    for (line, row) in rows {
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if cells.len() != columns.len() {
            return Err(fail(
                line,
                format!("{} fields where the header has {}", cells.len(), columns.len()),
                "one field per column on every row (no commas inside fields)",
            ));
        }
        let name = cells[cf];
        if name.is_empty() {
            return Err(fail(line, "the factor is empty".into(), "a library factor or a species of the scenario"));
        }
        let factor = lib.factor(name);
        if factor.is_none() && !species_names.iter().any(|s| s == name) {
            let mut closest: Vec<String> = lib.closest_factors(name, 3).into_iter().map(String::from).collect();
            closest.extend(species_names.iter().filter(|s| strsim::jaro_winkler(s, name) > 0.8).cloned());
            return Err(fail(
                line,
                format!("unknown factor `{name}`: neither a library factor nor a species of the scenario"),
                &format!("a library factor or a species name; closest: {}", backticked(&closest)),
            ));
        }
        let label = factor.map_or(name.to_string(), |f| f.name.clone());
        if out.iter().any(|(_, l, ..)| *l == label) {
            return Err(fail(line, format!("factor `{label}` is listed twice"), "each factor once"));
        }
        let unit = cells[cu];
        if unit.is_empty() {
            return Err(fail(
                line,
                format!("no unit for factor `{name}`"),
                &format!("a concentration unit in column `unit`: {}", units::CONCENTRATION_UNITS),
            ));
        }
        if let Err(e) = units::concentration_unit(unit) {
            return Err(fail(
                line,
                format!("unit `{unit}` of factor `{name}`: {e}"),
                &format!("a concentration unit: {}", units::CONCENTRATION_UNITS),
            ));
        }
        let number: f64 = match cells[cc].parse() {
            Ok(x) if f64::is_finite(x) => x,
            _ => {
                return Err(fail(
                    line,
                    format!("concentration `{}` of factor `{name}` is not a number", cells[cc]),
                    "a number ≥ 0 (the unit goes in column `unit`)",
                ));
            }
        };
        if number < 0.0 {
            return Err(fail(
                line,
                format!("negative concentration {number} of factor `{name}`"),
                "a concentration ≥ 0",
            ));
        }
        let concentration = format!("{} {unit}", cells[cc]);
        if units::parse_quantity(&concentration).is_err() {
            return Err(fail(line, format!("`{concentration}` is not a concentration"), units::CONCENTRATION_UNITS));
        }
        let source = format!("measured batch `{written}`, line {line}");
        out.push((factor, label, concentration, source, Mark::Measured));
    }
    Ok(out)
}

/// The CM the depot holds (`[depot] loading` over its materials), once `depot_loads` has checked
/// the table; `None` without a `[depot]`.
pub(super) fn cm_loading(spec: &ScenarioFile) -> Option<crate::metrics::CmLoading> {
    let depot = spec.depot.as_ref()?;
    let multiple = parse_loading(depot.loading.as_ref()?.get_ref())?;
    let all = spec.material.get_ref();
    let materials = match &depot.materials {
        Some(list) => list
            .get_ref()
            .iter()
            .filter_map(|v| all.iter().position(|m| m.name.get_ref().trim() == v.get_ref().trim()))
            .collect(),
        None => (0..all.len()).filter(|&m| all[m].role == RoleSpec::Depot).collect(),
    };
    Some(crate::metrics::CmLoading { multiple, materials })
}
