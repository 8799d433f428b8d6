//! `bioactive_threshold` of a species: the concentration above which the factor is taken to act,
//! drawn as a contour on the heatmaps and as a line on the target-region curves of the report
//! (`crate::report`). It changes nothing in the run.

use super::spec::SpeciesSpec;
use super::{Ctx, ScenarioError};
use crate::problem::ValueSource;
use crate::units::{self, SpeciesUnit};

/// The species' `bioactive_threshold` in its own concentration unit, if it gives one. A
/// concentration with a unit (`"10 ng/mL"`, `"1 nM"`; a molar value needs the species'
/// molecular weight when its unit is a mass unit), positive and finite.
pub(super) fn compile(
    ctx: &Ctx<'_>,
    i: usize,
    s: &SpeciesSpec,
    unit: &SpeciesUnit,
    molar_mass: Option<f64>,
) -> Result<Option<f64>, ScenarioError> {
    let Some(v) = &s.bioactive_threshold else { return Ok(None) };
    positive(ctx, &format!("species[{i}].bioactive_threshold"), v, unit, molar_mass, "a bioactive threshold", "")
        .map(Some)
}

/// The species' `bioactive_ceiling` (the top of the exposure window) in its own unit, if given;
/// a positive, finite concentration.
pub(super) fn ceiling(
    ctx: &Ctx<'_>,
    i: usize,
    s: &SpeciesSpec,
    unit: &SpeciesUnit,
    molar_mass: Option<f64>,
) -> Result<Option<f64>, ScenarioError> {
    let Some(v) = &s.bioactive_ceiling else { return Ok(None) };
    positive(
        ctx,
        &format!("species[{i}].bioactive_ceiling"),
        v,
        unit,
        molar_mass,
        "a bioactive ceiling",
        ", above the threshold",
    )
    .map(Some)
}

/// A positive, finite concentration with a unit, in the species' unit.
fn positive(
    ctx: &Ctx<'_>,
    key: &str,
    v: &super::spec::Text,
    unit: &SpeciesUnit,
    molar_mass: Option<f64>,
    what: &str,
    also: &str,
) -> Result<f64, ScenarioError> {
    let c = units::concentration_in(v.get_ref(), unit, molar_mass)
        .map_err(|e| ctx.unit_error(key, v, e, units::CONCENTRATION_UNITS))?;
    if !(c > 0.0 && c.is_finite()) {
        return Err(ctx.invalid(
            key,
            v,
            format!("{what} must be a positive, finite concentration"),
            format!("a concentration > 0 with a unit{also}, e.g. \"10 ng/mL\""),
        ));
    }
    Ok(c)
}

/// The lowest bioactive concentration the library gives for `factor` (the low end of a range, or
/// a single value) that converts into the species' unit, with its provenance; `None` when the
/// library has none. The scenario's own `bioactive_threshold` always comes first.
pub(super) fn from_library(
    factor: &crate::library::Factor,
    unit: &SpeciesUnit,
    molar_mass: Option<f64>,
) -> Option<(f64, ValueSource)> {
    factor
        .bioactive_concentration
        .iter()
        .filter_map(|e| {
            let text = e.value.as_ref().or(e.low.as_ref())?;
            let c = units::concentration_in(text, unit, molar_mass).ok().filter(|c| *c > 0.0 && c.is_finite())?;
            Some((c, text, e))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(c, text, e)| {
            let context = e.context.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            (
                c,
                ValueSource {
                    key: "bioactive_threshold".into(),
                    value: format!(
                        "{text}: the lowest bioactive concentration the library gives for {} ({}){context}",
                        factor.name,
                        e.text()
                    ),
                    source: e.source.clone(),
                    mark: e.mark,
                },
            )
        })
}

/// Where a species' threshold comes from: the library's entry (its source and mark) or the
/// scenario.
pub fn threshold_source(species: &crate::problem::Species) -> (String, Option<crate::library::Mark>) {
    match species.sources.iter().find(|s| s.key == "bioactive_threshold") {
        Some(s) => (format!("factor library: {}; {}", s.value, s.source), Some(s.mark)),
        None => ("scenario (bioactive_threshold)".into(), None),
    }
}
