//! `bioactive_threshold` of a species: the concentration above which the factor is taken to act,
//! drawn as a contour on the heatmaps and as a line on the target-region curves of the report
//! (`crate::report`). It changes nothing in the run.

use super::spec::SpeciesSpec;
use super::{Ctx, ScenarioError};
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
    let key = format!("species[{i}].bioactive_threshold");
    let c = units::concentration_in(v.get_ref(), unit, molar_mass)
        .map_err(|e| ctx.unit_error(&key, v, e, units::CONCENTRATION_UNITS))?;
    if !(c > 0.0 && c.is_finite()) {
        return Err(ctx.invalid(
            key,
            v,
            "a bioactive threshold must be a positive, finite concentration",
            "a concentration > 0 with a unit, e.g. \"10 ng/mL\"",
        ));
    }
    Ok(Some(c))
}
