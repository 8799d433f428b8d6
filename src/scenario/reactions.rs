//! `[[pool]]`, `[[binding]]`, `[[uptake]]` and `[[conversion]]`: site pools and the local
//! reaction terms of each material, checked and converted to SI.
//!
//! Binding is written in molar terms (k_on in m³/(mol·s), site densities in mol/m³), so a
//! species that binds must have a molar meaning ([`Species::molar_per_unit`]); uptake is in the
//! species' own unit; a conversion conserves molecules, so its yield is the ratio of the two
//! species' molar values.

use super::spec::{BindingSpec, ConversionSpec, FormSpec, ScenarioFile, Text, UptakeSpec};
use super::{Ctx, F32_MAX, ScenarioError, check_name, first_order_rate, names_list, per_material, rate_fits_f32, sci};
use crate::problem::{Form, Reaction, SitePool, Species};
use crate::units::{self, SpeciesUnit};
use toml::Spanned;

/// What the species and materials already compiled tell the reaction tables.
pub(super) struct Known<'a> {
    pub materials: &'a [String],
    pub units_of: &'a [(SpeciesUnit, Option<f64>)],
    pub n_cells: usize,
    /// `time.end`, s.
    pub end: f64,
}

/// Compiles the pools and every reaction term; linear uptake (`[[uptake]]` with `linear =
/// true`) is added to the species' `uptake_rate` instead.
pub(super) fn compile(
    ctx: &Ctx<'_>,
    spec: &ScenarioFile,
    known: &Known<'_>,
    species: &mut [Species],
) -> Result<(Vec<SitePool>, Vec<Reaction>), ScenarioError> {
    let pools = compile_pools(ctx, spec, known, species)?;
    let mut reactions = Vec::new();
    // binds_by[s][m]: the `[[binding]]` entry through which species s binds in material m.
    let mut binds_by = vec![vec![None; known.materials.len()]; species.len()];
    for (i, b) in spec.binding.iter().enumerate() {
        compile_binding(ctx, i, b, known, species, &pools, &mut binds_by, &mut reactions)?;
    }
    for (i, u) in spec.uptake.iter().enumerate() {
        compile_uptake(ctx, i, u, known, species, &mut reactions)?;
    }
    let mut converted_by = Vec::new();
    for (i, c) in spec.conversion.iter().enumerate() {
        compile_conversion(ctx, i, c, known, species, &binds_by, &mut converted_by, &mut reactions)?;
    }
    Ok((pools, reactions))
}

fn compile_pools(
    ctx: &Ctx<'_>,
    spec: &ScenarioFile,
    known: &Known<'_>,
    species: &[Species],
) -> Result<Vec<SitePool>, ScenarioError> {
    let mut pools: Vec<SitePool> = Vec::with_capacity(spec.pool.len());
    for (i, p) in spec.pool.iter().enumerate() {
        let key = |k: &str| format!("pool[{i}].{k}");
        check_name(ctx, key("name"), &p.name)?;
        let name = p.name.get_ref().trim();
        if let Some(j) = pools.iter().position(|x| x.name == name) {
            return Err(ctx.invalid(
                key("name"),
                &p.name,
                format!("duplicate: `pool[{j}]` has the same name"),
                "each pool name once",
            ));
        }
        if species.iter().any(|s| s.name == name) || known.materials.iter().any(|m| m == name) {
            return Err(ctx.invalid(
                key("name"),
                &p.name,
                "is already the name of a species or a material",
                "a name of its own (e.g. `heparin`, `hs`)",
            ));
        }
        let density = per_material(ctx, &key("density"), &p.density, known.materials, false, |k, v| {
            let d = ctx.quantity(k, v, units::molar_concentration, units::MOLAR_UNITS)?;
            if d < 0.0 {
                return Err(ctx.invalid(
                    k,
                    v,
                    "a site density cannot be negative",
                    "a molar concentration ≥ 0, e.g. \"10 uM\" (\"0 uM\": no sites)",
                ));
            }
            ctx.fits_f32(k, v, d, "mol/m³", "", true)
        })?;
        pools.push(SitePool { name: name.to_string(), density });
    }
    Ok(pools)
}

/// The index of the species named by `v`, or a refusal listing the species.
fn species_named(ctx: &Ctx<'_>, key: String, v: &Text, species: &[Species]) -> Result<usize, ScenarioError> {
    let name = v.get_ref().trim();
    species.iter().position(|s| s.name == name).ok_or_else(|| {
        let names: Vec<String> = species.iter().map(|s| s.name.clone()).collect();
        ctx.invalid(key, v, "no species of this name", format!("one of {}", names_list(&names)))
    })
}

/// A non-empty list of distinct material names, as material ids.
fn material_list(
    ctx: &Ctx<'_>,
    key: &str,
    list: &Spanned<Vec<Text>>,
    materials: &[String],
) -> Result<Vec<usize>, ScenarioError> {
    if list.get_ref().is_empty() {
        return Err(ctx.invalid_span(
            key,
            list.span(),
            "empty",
            format!("one or more material names: {}", names_list(materials)),
        ));
    }
    let mut ids: Vec<usize> = Vec::with_capacity(list.get_ref().len());
    for (j, v) in list.get_ref().iter().enumerate() {
        let name = v.get_ref().trim();
        let k = format!("{key}[{j}]");
        let m = materials.iter().position(|x| x == name).ok_or_else(|| {
            ctx.invalid(&k, v, "no material of this name", format!("one of {}", names_list(materials)))
        })?;
        if ids.contains(&m) {
            return Err(ctx.invalid(k, v, format!("`{name}` is listed twice"), "each material once"));
        }
        ids.push(m);
    }
    Ok(ids)
}

/// Where a list entry names material `m`, for messages: its key and text, else the fallback.
fn entry_for<'a>(
    list: Option<&'a Spanned<Vec<Text>>>,
    key: &str,
    ids: &[usize],
    m: usize,
    fallback: (String, &'a Text),
) -> (String, &'a Text) {
    match (list, ids.iter().position(|&x| x == m)) {
        (Some(list), Some(j)) => (format!("{key}[{j}]"), &list.get_ref()[j]),
        _ => fallback,
    }
}

#[allow(clippy::too_many_arguments)]
fn compile_binding(
    ctx: &Ctx<'_>,
    i: usize,
    b: &BindingSpec,
    known: &Known<'_>,
    species: &[Species],
    pools: &[SitePool],
    binds_by: &mut [Vec<Option<usize>>],
    reactions: &mut Vec<Reaction>,
) -> Result<(), ScenarioError> {
    let key = |k: &str| format!("binding[{i}].{k}");
    let s = species_named(ctx, key("species"), &b.species, species)?;
    let sp = &species[s];
    let pool_name = b.pool.get_ref().trim();
    let p = pools.iter().position(|x| x.name == pool_name).ok_or_else(|| {
        let accepted = if pools.is_empty() {
            "the name of a pool defined in a [[pool]] table (none is defined)".to_string()
        } else {
            let names: Vec<String> = pools.iter().map(|x| x.name.clone()).collect();
            format!("a pool defined in a [[pool]] table: {}", names_list(&names))
        };
        ctx.invalid(key("pool"), &b.pool, "a site pool named but never defined", accepted)
    })?;
    let Some(molar) = sp.molar_per_unit else {
        return Err(ctx.invalid(
            key("species"),
            &b.species,
            format!(
                "species `{}` is in `{}`, a mass unit, and has no `molecular_weight`, so its molar \
                 concentration, which binding to sites needs, is unknown",
                sp.name, sp.unit.text
            ),
            format!("give species `{}` a `molecular_weight` (or a molar unit such as nM)", sp.name),
        ));
    };

    let k_on = ctx.quantity(&key("k_on"), &b.k_on, units::association_rate, units::ASSOCIATION_RATE_UNITS)?;
    if k_on <= 0.0 {
        return Err(ctx.invalid(
            key("k_on"),
            &b.k_on,
            "an association rate constant must be positive",
            "k_on > 0 in 1/(molar concentration·time), e.g. \"4.2e5 1/(M*s)\"",
        ));
    }
    ctx.fits_f32(&key("k_on"), &b.k_on, k_on, "m³/(mol·s)", "", false)?;
    ctx.fits_f32(
        &key("k_on"),
        &b.k_on,
        k_on * molar,
        &format!("1/({}·s)", sp.unit.text),
        "k_on in the species' unit",
        false,
    )?;
    let one_of = "exactly one of `k_off` (a dissociation rate > 0, e.g. \"1e-2 1/s\") or `K_d` (a molar \
                  concentration > 0, e.g. \"24 nM\"; then k_off = K_d·k_on)";
    let reversible = "binding must be reversible";
    let k_off = match (&b.k_off, &b.k_d) {
        (Some(_), Some(kd)) => {
            return Err(ctx.invalid(key("K_d"), kd, "both `k_off` and `K_d` given", one_of));
        }
        (None, None) => {
            return Err(ctx.missing(key("k_off"), b.k_on.span(), "neither `k_off` nor `K_d` given", one_of));
        }
        (Some(v), None) => {
            let k = key("k_off");
            let k_off = ctx.quantity(&k, v, units::rate, units::RATE_UNITS)?;
            if k_off <= 0.0 {
                return Err(ctx.invalid(&k, v, format!("{reversible}: k_off must be positive"), one_of));
            }
            ctx.fits_f32(&k, v, k_off, "1/s", "", false)?;
            rate_fits_f32(ctx, &k, v, k_off, "k_off", known.end)?;
            ctx.fits_f32(&k, v, k_off / k_on, "mol/m³", "K_d = k_off/k_on", false)?;
            k_off
        }
        (None, Some(v)) => {
            let k = key("K_d");
            let kd = ctx.quantity(&k, v, units::molar_concentration, units::MOLAR_UNITS)?;
            if kd <= 0.0 {
                return Err(ctx.invalid(&k, v, format!("{reversible}: K_d must be positive"), one_of));
            }
            ctx.fits_f32(&k, v, kd, "mol/m³", "", false)?;
            let k_off = kd * k_on;
            ctx.fits_f32(&k, v, k_off, "1/s", "k_off = K_d·k_on", false)?;
            rate_fits_f32(ctx, &k, v, k_off, "k_off = K_d·k_on", known.end)?;
            k_off
        }
    };

    let pool = &pools[p];
    let with_sites: Vec<usize> = (0..known.materials.len()).filter(|&m| pool.density[m] > 0.0).collect();
    let ids = match &b.materials {
        None => with_sites.clone(),
        Some(list) => {
            let ids = material_list(ctx, &key("materials"), list, known.materials)?;
            for (j, &m) in ids.iter().enumerate() {
                if !with_sites.contains(&m) {
                    let there: Vec<String> = with_sites.iter().map(|&m| known.materials[m].clone()).collect();
                    let accepted = if there.is_empty() {
                        format!("give pool `{}` a density in `{}` first", pool.name, known.materials[m])
                    } else {
                        format!(
                            "materials where pool `{}` has sites: {} (or give it a density in `{}`)",
                            pool.name,
                            names_list(&there),
                            known.materials[m]
                        )
                    };
                    return Err(ctx.invalid(
                        format!("{}[{j}]", key("materials")),
                        &list.get_ref()[j],
                        format!(
                            "a binding species with no site pool in that material: pool `{}` has no sites \
                             (density 0) in `{}`",
                            pool.name, known.materials[m]
                        ),
                        accepted,
                    ));
                }
            }
            ids
        }
    };
    let largest = F32_MAX / known.n_cells as f64;
    for &m in &ids {
        let (entry_key, entry) =
            entry_for(b.materials.as_ref(), &key("materials"), &ids, m, (key("species"), &b.species));
        if let Some(prev) = binds_by[s][m] {
            return Err(ctx.invalid(
                entry_key,
                entry,
                format!("species `{}` already binds in `{}` (`binding[{prev}]`)", sp.name, known.materials[m]),
                "one binding per species and material: only one pool per species per material",
            ));
        }
        binds_by[s][m] = Some(i);
        let sites = pool.density[m];
        rate_fits_f32(
            ctx,
            &key("k_on"),
            &b.k_on,
            k_on * sites,
            &format!("k_on × the sites in `{}`", known.materials[m]),
            known.end,
        )?;
        // The bound field holds up to all the sites, in the species' unit.
        let in_unit = sites / molar;
        if in_unit > largest {
            return Err(ctx.invalid(
                entry_key,
                entry,
                format!(
                    "pool `{}`'s {} mol/m³ of sites in `{}` are {} {} of `{}`; a bound field of that over \
                     the {} cells sums beyond the single-precision range (f32, at most {F32_MAX:.3e})",
                    pool.name,
                    sci(sites),
                    known.materials[m],
                    sci(in_unit),
                    sp.unit.text,
                    sp.name,
                    known.n_cells,
                ),
                format!("a site density of at most {} mol/m³, or a larger species unit", sci(largest * molar)),
            ));
        }
        reactions.push(Reaction::Binding { material: m, species: s, pool: p, k_on, k_off });
    }
    Ok(())
}

fn compile_uptake(
    ctx: &Ctx<'_>,
    i: usize,
    u: &UptakeSpec,
    known: &Known<'_>,
    species: &mut [Species],
    reactions: &mut Vec<Reaction>,
) -> Result<(), ScenarioError> {
    let key = |k: &str| format!("uptake[{i}].{k}");
    let s = species_named(ctx, key("species"), &u.species, species)?;
    let ids = material_list(ctx, &key("materials"), &u.materials, known.materials)?;
    let (unit, molar_mass) = &known.units_of[s];
    let text = &unit.unit.text;

    let k = key("v_max");
    let vmax = units::concentration_rate_in(u.v_max.get_ref(), unit, *molar_mass)
        .map_err(|e| ctx.unit_error(&k, &u.v_max, e, units::CONCENTRATION_RATE_UNITS))?;
    if vmax < 0.0 {
        return Err(ctx.invalid(
            &k,
            &u.v_max,
            "a maximum uptake rate cannot be negative",
            "a concentration per time ≥ 0, e.g. \"0.5 pg/mL/h\"",
        ));
    }
    ctx.fits_f32(&k, &u.v_max, vmax, &format!("{text}/s"), "", true)?;

    let k = key("k_m");
    let km = units::concentration_in(u.k_m.get_ref(), unit, *molar_mass)
        .map_err(|e| ctx.unit_error(&k, &u.k_m, e, units::CONCENTRATION_UNITS))?;
    if km <= 0.0 {
        return Err(ctx.invalid(
            &k,
            &u.k_m,
            "a Michaelis constant must be positive",
            "a concentration > 0, e.g. \"10 ng/mL\"",
        ));
    }
    ctx.fits_f32(&k, &u.k_m, km, text, "", false)?;

    // The first-order rate at low concentration; the engines form it either way.
    let rate = vmax / km;
    let what = "v_max/k_m, the rate at low concentration,";
    ctx.fits_f32(&key("v_max"), &u.v_max, rate, "1/s", what, true)?;
    rate_fits_f32(ctx, &key("v_max"), &u.v_max, rate, "v_max/k_m", known.end)?;

    let linear = u.linear.as_ref().is_some_and(|l| *l.get_ref());
    let sp = &mut species[s];
    for &m in &ids {
        if linear {
            sp.uptake_rate[m] += rate;
            let loss = sp.decay_rate[m] + sp.clearance_rate[m] + sp.uptake_rate[m];
            let what = format!("the loss rate in `{}` (decay + clearance + uptake)", known.materials[m]);
            ctx.fits_f32(&key("v_max"), &u.v_max, loss, "1/s", &what, true)?;
            rate_fits_f32(ctx, &key("v_max"), &u.v_max, loss, &what, known.end)?;
        } else if vmax > 0.0 {
            reactions.push(Reaction::Uptake { material: m, species: s, vmax, km });
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn compile_conversion(
    ctx: &Ctx<'_>,
    i: usize,
    c: &ConversionSpec,
    known: &Known<'_>,
    species: &[Species],
    binds_by: &[Vec<Option<usize>>],
    converted_by: &mut Vec<(usize, Form, usize, usize)>,
    reactions: &mut Vec<Reaction>,
) -> Result<(), ScenarioError> {
    let key = |k: &str| format!("conversion[{i}].{k}");
    let from = species_named(ctx, key("from"), &c.from, species)?;
    let to = species_named(ctx, key("to"), &c.to, species)?;
    if from == to {
        return Err(ctx.invalid(
            key("to"),
            &c.to,
            "the same species as `from`",
            "another species (a species converted into itself is unchanged)",
        ));
    }
    let (f, t) = (&species[from], &species[to]);
    let form = match c.form.as_ref().map(|x| *x.get_ref()) {
        None | Some(FormSpec::Free) => Form::Free,
        Some(FormSpec::Bound) => Form::Bound,
    };
    let form_name = if form == Form::Free { "free" } else { "bound" };
    let ids = material_list(ctx, &key("materials"), &c.materials, known.materials)?;
    let rate = first_order_rate(ctx, &key("rate"), &c.rate, "conversion", known.end)?;

    // Molecules are conserved: one unit of `from` is (its molar value / that of `to`) units of `to`.
    let yield_ = match (f.molar_per_unit, t.molar_per_unit) {
        (Some(a), Some(b)) => a / b,
        (None, None) if f.unit.text == t.unit.text => 1.0,
        (a, _) => {
            let (k, v, lacking) = if a.is_none() { (key("from"), &c.from, f) } else { (key("to"), &c.to, t) };
            let other = if a.is_none() { t } else { f };
            return Err(ctx.invalid(
                k,
                v,
                format!(
                    "species `{}` (in `{}`) has no `molecular_weight`, so how much `{}` (in `{}`) a unit of \
                     `{}` becomes is unknown (a conversion conserves molecules)",
                    lacking.name, lacking.unit.text, t.name, t.unit.text, f.name
                ),
                format!(
                    "give `{}` a `molecular_weight` (or give both species the same unit and no molecular \
                     weights: one unit becomes one unit){}",
                    lacking.name,
                    if other.molar_per_unit.is_none() { format!(", and `{}` too", other.name) } else { String::new() }
                ),
            ));
        }
    };
    ctx.fits_f32(&key("to"), &c.to, yield_, &format!("{}/{}", t.unit.text, f.unit.text), "the yield", false)?;
    rate_fits_f32(ctx, &key("rate"), &c.rate, rate * yield_, "rate × yield", known.end)?;

    for (j, &m) in ids.iter().enumerate() {
        let entry_key = format!("{}[{j}]", key("materials"));
        let entry = &c.materials.get_ref()[j];
        if form == Form::Bound && binds_by[from][m].is_none() {
            let binds: Vec<String> = (0..known.materials.len())
                .filter(|&x| binds_by[from][x].is_some())
                .map(|x| known.materials[x].clone())
                .collect();
            let where_ = if binds.is_empty() {
                format!("`{}` binds nowhere", f.name)
            } else {
                format!("materials where `{}` binds: {}", f.name, names_list(&binds))
            };
            return Err(ctx.invalid(
                entry_key,
                entry,
                format!("`{}` does not bind in `{}`, so it has no bound form there", f.name, known.materials[m]),
                format!("{where_}; or form = \"free\""),
            ));
        }
        if let Some(&(.., prev)) = converted_by.iter().find(|&&(s, fo, mm, _)| (s, fo, mm) == (from, form, m)) {
            return Err(ctx.invalid(
                entry_key,
                entry,
                format!(
                    "the {form_name} form of `{}` already converts in `{}` (`conversion[{prev}]`)",
                    f.name, known.materials[m]
                ),
                "one conversion per species, form (free or bound) and material",
            ));
        }
        converted_by.push((from, form, m, i));
        if rate > 0.0 {
            reactions.push(Reaction::Conversion { material: m, from, form, to, rate, yield_ });
        }
    }
    Ok(())
}
