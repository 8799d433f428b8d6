//! `[[dose]]` and `[[degradation]]`: what happens in time, checked and converted to SI.
//!
//! A dose schedule gives its times by interval (`every`, from `start`, up to `until` or for
//! `count` applications), explicitly (`times`), or both; every time must lie strictly inside the
//! run (the loading at t = 0 is the depot's initial one). A degrading material's diffusivity
//! rises exponentially or follows a table of factors, and its site pools lose sites at a first
//! order rate; the engines take new coefficients every `update_interval`.

use super::library::{self, Mesh};
use super::spec::{DegradationSpec, DoseModeSpec, DoseSpec, ScenarioFile, Text};
use super::{Ctx, ScenarioError, concentration, names_list, sci};
use crate::problem::{Degradation, DiffusivityChange, Dose, DoseMode, MeshLaw, Problem, Role, Timeline};
use crate::units::{self, SpeciesUnit};

/// The most applications one `[[dose]]` may make (a schedule beyond it is a typing error).
pub const MAX_DOSES: u64 = 100_000;

/// The most coefficient updates a degrading gel may ask for over a run.
pub const MAX_UPDATES: f64 = 100_000.0;

/// Compiles the doses and the degrading materials into `problem.timeline`.
pub(super) fn compile(
    ctx: &Ctx<'_>,
    spec: &ScenarioFile,
    units_of: &[(SpeciesUnit, Option<f64>)],
    problem: &mut Problem,
) -> Result<(), ScenarioError> {
    let mut timeline = Timeline::default();
    for (i, d) in spec.dose.iter().enumerate() {
        compile_dose(ctx, i, d, units_of, problem, &mut timeline.doses)?;
    }
    timeline.doses.sort_by(|a, b| a.time.total_cmp(&b.time));
    for (i, d) in spec.degradation.iter().enumerate() {
        let degradation = compile_degradation(ctx, i, d, spec, units_of, problem)?;
        if let Some(j) = timeline.degradation.iter().position(|o| o.material == degradation.material) {
            return Err(ctx.invalid(
                format!("degradation[{i}].material"),
                &d.material,
                format!("`degradation[{j}]` already degrades this material"),
                "one [[degradation]] per material",
            ));
        }
        timeline.degradation.push(degradation);
    }
    problem.timeline = timeline;
    problem.metrics.cm = library::cm_loading(spec);
    compile_targets(ctx, spec, problem)?;
    if let Some(m) = &spec.metrics {
        if let Some(v) = &m.burst {
            let t = time_of(ctx, "metrics.burst", v)?;
            if !(t > 0.0 && t <= problem.schedule.end) {
                return Err(ctx.invalid(
                    "metrics.burst",
                    v,
                    "the burst window must lie within the run",
                    format!("a time > 0 and at most `time.end` ({})", hours(problem.schedule.end)),
                ));
            }
            problem.metrics.burst = t;
        }
        if let Some(f) = &m.fit_up_to {
            let x = *f.get_ref();
            if !(x > 0.0 && x <= 1.0) {
                return Err(ctx.invalid_span(
                    "metrics.fit_up_to",
                    f.span(),
                    "not a fraction released",
                    "a number 0 < f ≤ 1 (0.6: the Korsmeyer–Peppas convention)",
                ));
            }
            problem.metrics.fit_up_to = x;
        }
    } else {
        problem.metrics.burst = problem.metrics.burst.min(problem.schedule.end);
    }
    Ok(())
}

/// `[metrics] targets` and `depth_axis`: the regions exposure is taken in (default every tissue
/// material) and the axis depth runs along (default the last with more than one cell).
fn compile_targets(ctx: &Ctx<'_>, spec: &ScenarioFile, problem: &mut Problem) -> Result<(), ScenarioError> {
    let m = spec.metrics.as_ref();
    let names: Vec<String> = match m.and_then(|m| m.targets.as_ref()) {
        None => problem.materials.iter().filter(|m| m.role == Role::Tissue).map(|m| m.name.clone()).collect(),
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for (j, v) in list.get_ref().iter().enumerate() {
                let name = v.get_ref().trim().to_string();
                let key = format!("metrics.targets[{j}]");
                if out.contains(&name) {
                    return Err(ctx.invalid(key, v, "listed twice", "each region once"));
                }
                if problem.region_cells(&name).is_none() {
                    let mut known: Vec<String> = problem.regions.iter().map(|r| r.name.clone()).collect();
                    known.extend(problem.materials.iter().map(|m| m.name.clone()));
                    return Err(ctx.invalid(
                        key,
                        v,
                        "no region or material of this name",
                        format!("one of {}", names_list(&known)),
                    ));
                }
                out.push(name);
            }
            out
        }
    };
    let mut targets = Vec::with_capacity(names.len());
    for (j, name) in names.into_iter().enumerate() {
        let cells = problem.region_cells(&name).unwrap_or_default();
        if cells.is_empty() {
            if let Some(v) = m.and_then(|m| m.targets.as_ref()).and_then(|l| l.get_ref().get(j)) {
                return Err(ctx.invalid(
                    format!("metrics.targets[{j}]"),
                    v,
                    "this region has no cells on the grid",
                    "a region or material that covers at least one cell centre",
                ));
            }
            continue;
        }
        targets.push(crate::metrics::Target { name, cells });
    }
    problem.metrics.targets = targets;
    let cells = problem.grid.cells;
    problem.metrics.depth_axis = match m.and_then(|m| m.depth_axis.as_ref()) {
        None => (0..3).rev().find(|&a| cells[a] > 1).unwrap_or(0),
        Some(v) => {
            let axis = match v.get_ref().trim() {
                "x" => 0,
                "y" => 1,
                "z" => 2,
                _ => usize::MAX,
            };
            if axis > 2 || cells[axis] < 2 {
                return Err(ctx.invalid(
                    "metrics.depth_axis",
                    v,
                    "not an axis of the grid with more than one cell",
                    format!(
                        "one of {}",
                        ["x", "y", "z"]
                            .iter()
                            .zip(cells)
                            .filter(|(_, n)| *n > 1)
                            .map(|(a, _)| format!("\"{a}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            axis
        }
    };
    Ok(())
}

/// A time in s from `v`.
fn time_of(ctx: &Ctx<'_>, key: &str, v: &Text) -> Result<f64, ScenarioError> {
    let t = ctx.quantity(key, v, units::time, units::TIME_UNITS)?;
    if !t.is_finite() {
        return Err(ctx.invalid(key, v, "not a finite time", "a time such as \"12 h\""));
    }
    Ok(t)
}

fn hours(t: f64) -> String {
    let h = t / 3600.0;
    if h != 0.0 && (h.abs() < 1e-3 || h.abs() >= 1e9) {
        format!("{} h", sci(h))
    } else {
        format!("{} h", (h * 1e6).round() / 1e6)
    }
}

fn compile_dose(
    ctx: &Ctx<'_>,
    i: usize,
    d: &DoseSpec,
    units_of: &[(SpeciesUnit, Option<f64>)],
    problem: &Problem,
    doses: &mut Vec<Dose>,
) -> Result<(), ScenarioError> {
    let key = |k: &str| format!("dose[{i}].{k}");
    let end = problem.schedule.end;
    let region = d.region.get_ref().trim().to_string();
    let Some(cells) = problem.region_cells(&region) else {
        let mut names: Vec<String> = problem.regions.iter().map(|r| r.name.clone()).collect();
        names.extend(problem.materials.iter().map(|m| m.name.clone()));
        return Err(ctx.invalid(
            key("region"),
            &d.region,
            "no region or material of this name",
            format!("one of {}", names_list(&names)),
        ));
    };
    if cells.is_empty() {
        return Err(ctx.invalid(
            key("region"),
            &d.region,
            "has no cells on this grid",
            "a region or material with cells",
        ));
    }
    let inside = |k: String, v: &Text, t: f64| -> Result<f64, ScenarioError> {
        if t <= 0.0 {
            return Err(ctx.invalid(
                k,
                v,
                "a dose at or before t = 0 (the depot's initial loading is the application at t = 0)",
                format!("a time after 0 and before the end of the run ({})", hours(end)),
            ));
        }
        if t >= end {
            return Err(ctx.invalid(
                k,
                v,
                format!("{} is at or past the end of the run ({})", hours(t), hours(end)),
                format!("a time after 0 and before the end of the run ({})", hours(end)),
            ));
        }
        Ok(t)
    };
    let mut times = Vec::new();
    if let Some(list) = &d.times {
        for (j, v) in list.get_ref().iter().enumerate() {
            let k = key(&format!("times[{j}]"));
            let t = time_of(ctx, &k, v)?;
            times.push(inside(k, v, t)?);
        }
    }
    match (&d.every, &d.until, &d.count) {
        (Some(every), until, count) => {
            let step = time_of(ctx, &key("every"), every)?;
            if step <= 0.0 {
                return Err(ctx.invalid(
                    key("every"),
                    every,
                    "an interval must be positive",
                    "a time > 0, e.g. \"12 h\"",
                ));
            }
            let start = match &d.start {
                Some(v) => {
                    let t = time_of(ctx, &key("start"), v)?;
                    inside(key("start"), v, t)?
                }
                None => inside(key("every"), every, step)?,
            };
            let n = match (until, count) {
                (Some(_), Some(c)) => {
                    return Err(ctx.invalid_span(
                        key("count"),
                        c.span(),
                        "both `until` and `count` given",
                        "one of them: `until` (the last application at or before it) or `count`",
                    ));
                }
                (Some(u), None) => {
                    let last = time_of(ctx, &key("until"), u)?;
                    inside(key("until"), u, last)?;
                    if last < start {
                        return Err(ctx.invalid(
                            key("until"),
                            u,
                            format!("before the first application ({})", hours(start)),
                            "a time at or after `start`",
                        ));
                    }
                    // A relative slack keeps an `until` that is a multiple of `every` inclusive.
                    ((last - start) / step * (1.0 + 1e-12)).floor() + 1.0
                }
                (None, Some(c)) => {
                    if *c.get_ref() < 1 {
                        return Err(ctx.invalid_span(
                            key("count"),
                            c.span(),
                            "fewer than one application",
                            "a whole number ≥ 1",
                        ));
                    }
                    *c.get_ref() as f64
                }
                (None, None) => {
                    return Err(ctx.missing(
                        key("until"),
                        every.span(),
                        "`every` without `until` or `count`",
                        "`until = \"14 d\"` (the last application at or before it) or `count = 28`",
                    ));
                }
            };
            if n > MAX_DOSES as f64 {
                return Err(ctx.invalid(
                    key("every"),
                    every,
                    format!("the schedule makes {} applications", sci(n)),
                    format!("at most {MAX_DOSES} applications per [[dose]] (check the units of `every`)"),
                ));
            }
            for k in 0..n as u64 {
                let t = start + k as f64 * step;
                if t >= end {
                    let v = until.as_ref().unwrap_or(every);
                    let k_name = if until.is_some() { key("until") } else { key("count") };
                    return Err(ctx.invalid(
                        k_name,
                        v,
                        format!(
                            "application {} falls at {}, at or past the end of the run ({})",
                            k + 1,
                            hours(t),
                            hours(end)
                        ),
                        "a schedule whose every application lies before the end of the run",
                    ));
                }
                times.push(t);
            }
        }
        (None, Some(u), _) => {
            return Err(ctx.invalid(
                key("until"),
                u,
                "`until` without `every`",
                "`every = \"12 h\"` with it, or explicit `times`",
            ));
        }
        (None, None, Some(c)) => {
            return Err(ctx.invalid_span(
                key("count"),
                c.span(),
                "`count` without `every`",
                "`every = \"12 h\"` with it",
            ));
        }
        (None, None, None) => {
            if let Some(v) = &d.start {
                return Err(ctx.invalid(key("start"), v, "`start` without `every`", "`every = \"12 h\"` with it"));
            }
        }
    }
    if times.is_empty() {
        return Err(ctx.missing(
            key("times"),
            d.region.span(),
            "no application times",
            "`every` with `until` or `count`, or `times = [\"12 h\", \"36 h\"]`",
        ));
    }
    let ns = problem.species.len();
    let nm = problem.materials.len();
    let load: Vec<Vec<f64>> = match &d.load {
        None => problem.species.iter().map(|s| s.initial.clone()).collect(),
        Some(table) => {
            let names: Vec<String> = problem.species.iter().map(|s| s.name.clone()).collect();
            let mut load = vec![vec![0.0; nm]; ns];
            for (name, v) in table.get_ref() {
                let Some(s) = names.iter().position(|n| n == name.trim()) else {
                    return Err(ctx.invalid(
                        key(&format!("load.{name}")),
                        v,
                        format!("no species named `{name}`"),
                        format!("keys naming species: {}", names_list(&names)),
                    ));
                };
                let (unit, molar_mass) = &units_of[s];
                let c =
                    concentration(ctx, &key(&format!("load.{name}")), v, unit, *molar_mass, problem.grid.n_cells())?;
                load[s] = vec![c; nm];
            }
            load
        }
    };
    if load.iter().flatten().all(|&c| c == 0.0) && d.mode.get_ref() == &DoseModeSpec::Add {
        return Err(ctx.invalid_span(
            key("load"),
            d.load.as_ref().map_or(d.region.span(), |l| l.span()),
            "the dose adds nothing (every loading is 0)",
            "a `load` table with a concentration > 0 for at least one species",
        ));
    }
    let mode = match d.mode.get_ref() {
        DoseModeSpec::Replace => DoseMode::Replace,
        DoseModeSpec::Add => DoseMode::Add,
    };
    for t in times {
        doses.push(Dose { time: t, mode, region: region.clone(), cells: cells.clone(), load: load.clone() });
    }
    Ok(())
}

fn compile_degradation(
    ctx: &Ctx<'_>,
    i: usize,
    d: &DegradationSpec,
    spec: &ScenarioFile,
    units_of: &[(SpeciesUnit, Option<f64>)],
    problem: &Problem,
) -> Result<Degradation, ScenarioError> {
    let key = |k: &str| format!("degradation[{i}].{k}");
    let end = problem.schedule.end;
    let names: Vec<String> = problem.materials.iter().map(|m| m.name.clone()).collect();
    let Some(material) = names.iter().position(|n| n == d.material.get_ref().trim()) else {
        return Err(ctx.invalid(
            key("material"),
            &d.material,
            "no material of this name",
            format!("one of {}", names_list(&names)),
        ));
    };
    let rate_of = |k: String, v: &Text, what: &str| -> Result<f64, ScenarioError> {
        let r = ctx.quantity(&k, v, units::rate, units::RATE_UNITS)?;
        if !r.is_finite() || r < 0.0 {
            return Err(ctx.invalid(
                k,
                v,
                format!("a {what} must be a finite rate ≥ 0"),
                "a rate ≥ 0 such as \"0.2 1/d\"",
            ));
        }
        if r * end > 700.0 {
            return Err(ctx.invalid(
                k,
                v,
                format!("rate × `time.end` = {} makes exp(rate·t) overflow", sci(r * end)),
                format!("a rate ≤ {} 1/s for this run", sci(700.0 / end)),
            ));
        }
        Ok(r)
    };
    // The largest relative change per unit time, for the default interval.
    let mut fastest = 0.0f64;
    let diffusivity = match (&d.diffusivity_rate, &d.diffusivity_factor) {
        (Some(_), Some(table)) => {
            return Err(ctx.invalid_span(
                key("diffusivity_factor"),
                table.span(),
                "both `diffusivity_rate` and `diffusivity_factor` given",
                "one of them: an exponential rise or a table of factors",
            ));
        }
        (Some(v), None) => {
            let rate = rate_of(key("diffusivity_rate"), v, "diffusivity rise rate")?;
            let max_factor = match &d.diffusivity_max_factor {
                Some(f) if !(f.get_ref().is_finite() && *f.get_ref() >= 1.0) => {
                    return Err(ctx.invalid_span(
                        key("diffusivity_max_factor"),
                        f.span(),
                        "a cap below 1 would lower the diffusivity of a degrading gel",
                        "a number ≥ 1 (the largest factor on the gel's initial D)",
                    ));
                }
                Some(f) => *f.get_ref(),
                None => f64::INFINITY,
            };
            fastest = fastest.max(rate);
            DiffusivityChange::Exponential { rate, max_factor }
        }
        (None, Some(table)) => {
            if let Some(f) = &d.diffusivity_max_factor {
                return Err(ctx.invalid_span(
                    key("diffusivity_max_factor"),
                    f.span(),
                    "a cap with a table of factors",
                    "a cap only with `diffusivity_rate` (a table gives every factor itself)",
                ));
            }
            let mut points: Vec<(f64, f64)> = Vec::new();
            for (j, (tv, f)) in table.get_ref().iter().enumerate() {
                let k = key(&format!("diffusivity_factor[{j}]"));
                let t = time_of(ctx, &k, tv)?;
                if t < 0.0 || points.last().is_some_and(|p| t < p.0) {
                    return Err(ctx.invalid(
                        k,
                        tv,
                        "times must start at 0 or later and not decrease",
                        "(time, factor) points in time order",
                    ));
                }
                let factor = *f.get_ref();
                if !(factor.is_finite() && factor > 0.0) {
                    return Err(ctx.invalid_span(
                        k,
                        f.span(),
                        "a factor ≤ 0 would make the diffusivity zero or negative",
                        "a factor > 0 on the gel's initial D",
                    ));
                }
                if let Some(&(t0, f0)) = points.last() {
                    if t > t0 {
                        fastest = fastest.max((factor - f0).abs() / (t - t0) / f0.min(factor));
                    }
                }
                points.push((t, factor));
            }
            if points.is_empty() {
                return Err(ctx.invalid_span(
                    key("diffusivity_factor"),
                    table.span(),
                    "an empty table",
                    "[[\"0 d\", 1.0], [\"7 d\", 3.0]]",
                ));
            }
            DiffusivityChange::Table(points)
        }
        (None, None) => {
            if let Some(f) = &d.diffusivity_max_factor {
                return Err(ctx.invalid_span(
                    key("diffusivity_max_factor"),
                    f.span(),
                    "a cap without `diffusivity_rate`",
                    "`diffusivity_rate` with it",
                ));
            }
            DiffusivityChange::None
        }
    };
    let diffusivity = match (&d.mesh_rate, diffusivity) {
        (None, diffusivity) => diffusivity,
        (Some(v), DiffusivityChange::None) => {
            let rate = rate_of(key("mesh_rate"), v, "mesh loosening rate")?;
            let Some((mesh, _)) = library::mesh_model(ctx, material, &spec.material.get_ref()[material])? else {
                return Err(ctx.invalid(
                    key("mesh_rate"),
                    v,
                    format!("material `{}` has no mesh model", names[material]),
                    "`mesh_size` or `polymer_fraction`, with `fiber_radius`, on the material; or `diffusivity_rate` /                      `diffusivity_factor` here",
                ));
            };
            let law = match mesh {
                Mesh::Amsden { xi, r_f, .. } => MeshLaw::Amsden { xi0: xi, r_f },
                Mesh::Ogston { phi, r_f, .. } => MeshLaw::Ogston { phi0: phi, r_f },
            };
            let mut radius = Vec::with_capacity(problem.species.len());
            for (s, sp) in spec.species.get_ref().iter().enumerate() {
                let r = match (&sp.hydrodynamic_radius, units_of[s].1) {
                    (Some(r), _) => library::positive_length(
                        ctx,
                        &format!("species[{s}].hydrodynamic_radius"),
                        r,
                        "a hydrodynamic radius",
                    )?,
                    (None, Some(mw)) if mw > 0.0 => crate::library::stokes_radius_of_protein(mw),
                    _ => {
                        return Err(ctx.invalid(
                            key("mesh_rate"),
                            v,
                            format!("species `{}` has no solute radius for the mesh model", problem.species[s].name),
                            "a `hydrodynamic_radius` or a `molecular_weight` (or a library `factor`) for every species",
                        ));
                    }
                };
                radius.push(r);
            }
            fastest = fastest.max(rate * mesh_sensitivity(law, &radius));
            DiffusivityChange::Mesh { rate, law, radius }
        }
        (Some(v), _) => {
            return Err(ctx.invalid(
                key("mesh_rate"),
                v,
                "`mesh_rate` with `diffusivity_rate` or `diffusivity_factor`",
                "one way for D to change: a rate, a table, or the mesh model",
            ));
        }
    };
    let site_loss_rate = match &d.site_loss {
        Some(v) => {
            let k = key("site_loss");
            match ctx.quantity(&k, v, units::decay, units::DECAY_UNITS)? {
                units::Decay::HalfLife(t) if t <= 0.0 => {
                    return Err(ctx.invalid(
                        k,
                        v,
                        "a half-life must be positive",
                        "a half-life > 0 (\"3 d\") or a rate ≥ 0 (\"0.2 1/d\")",
                    ));
                }
                units::Decay::Rate(r) if r < 0.0 => {
                    return Err(ctx.invalid(
                        k,
                        v,
                        "a negative loss rate would make the sites rise",
                        "a rate ≥ 0 or a half-life > 0",
                    ));
                }
                dec if dec.rate() * end > 700.0 => {
                    return Err(ctx.invalid(
                        k,
                        v,
                        format!("rate × `time.end` = {} makes exp(−rate·t) underflow", sci(dec.rate() * end)),
                        format!("a rate ≤ {} 1/s for this run", sci(700.0 / end)),
                    ));
                }
                dec => dec.rate(),
            }
        }
        None => 0.0,
    };
    fastest = fastest.max(site_loss_rate);
    if matches!(diffusivity, DiffusivityChange::None) && site_loss_rate == 0.0 {
        return Err(ctx.invalid(
            key("material"),
            &d.material,
            "nothing degrades: no `diffusivity_rate`, `diffusivity_factor`, `mesh_rate` or `site_loss`",
            "at least one of them",
        ));
    }
    let interval = match &d.update_interval {
        Some(v) => {
            let t = time_of(ctx, &key("update_interval"), v)?;
            if t <= 0.0 {
                return Err(ctx.invalid(
                    key("update_interval"),
                    v,
                    "an interval must be positive",
                    "a time > 0, e.g. \"1 h\"",
                ));
            }
            if end / t > MAX_UPDATES {
                return Err(ctx.invalid(
                    key("update_interval"),
                    v,
                    format!("{} updates over the run", sci(end / t)),
                    format!("an interval ≥ {} s (at most {MAX_UPDATES} updates)", sci(end / MAX_UPDATES)),
                ));
            }
            t
        }
        // Each update moves the coefficients by at most 1 %.
        None if fastest > 0.0 => (0.01 / fastest).max(end / MAX_UPDATES).min(end),
        None => end,
    };
    Ok(Degradation { material, diffusivity, site_loss_rate, interval })
}

/// How fast ln D moves per unit of mesh loosening at t = 0, at its largest over the species:
/// `|d ln H / d loosening|`, so that rate × this is the relative change of D per second.
fn mesh_sensitivity(law: MeshLaw, radius: &[f64]) -> f64 {
    let eps = 1e-6;
    radius.iter().map(|&r| ((law.hindrance(r, eps).ln() - law.hindrance(r, 0.0).ln()) / eps).abs()).fold(0.0, f64::max)
}
