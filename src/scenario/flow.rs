//! `[flow] velocity` and `[[material]] velocity`: interstitial flow, a constant velocity per
//! material that carries every free species (`∂c/∂t ⊃ −∇·(v c)`), checked and converted to m/s.
//!
//! `[flow] velocity` gives every material the same velocity; a material's own `velocity`
//! replaces it for that material. Each is three velocities, along x, y and z, every one with a
//! unit (`"0.6 um/s"`). How the engines advect (upwind, the mean velocity at a face between two
//! materials, no normal flow through a no-flux wall) is in docs/numerics.md.

use super::spec::{ScenarioFile, Text};
use super::{Ctx, ScenarioError, rate_fits_f32};
use crate::problem::Grid;
use crate::units;
use toml::Spanned;

/// The velocity of every material, m/s (empty when no material moves); `end` is `time.end`, s.
pub(super) fn compile(
    ctx: &Ctx<'_>,
    spec: &ScenarioFile,
    materials: &[String],
    grid: &Grid,
    end: f64,
) -> Result<Vec<[f64; 3]>, ScenarioError> {
    let uniform = match &spec.flow {
        Some(flow) => vector(ctx, "flow.velocity", &flow.velocity, grid, end)?,
        None => [0.0; 3],
    };
    let mut velocity = vec![uniform; materials.len()];
    for (i, m) in spec.material.get_ref().iter().enumerate() {
        if let Some(v) = &m.velocity {
            velocity[i] = vector(ctx, &format!("material[{i}].velocity"), v, grid, end)?;
        }
    }
    if velocity.iter().all(|v| v.iter().all(|&x| x == 0.0)) {
        return Ok(Vec::new());
    }
    Ok(velocity)
}

/// Three velocities (x, y, z) in m/s, each 0 or an f32 normal number, whose rate `|v|/h` along
/// its axis (the upwind coupling the engines form, 1/s) and that rate × `time.end` fit f32.
fn vector(ctx: &Ctx<'_>, key: &str, v: &Spanned<Vec<Text>>, grid: &Grid, end: f64) -> Result<[f64; 3], ScenarioError> {
    let entries = v.get_ref();
    if entries.len() != 3 {
        return Err(ctx.invalid_span(
            key,
            v.span(),
            format!("{} entries given", entries.len()),
            "3 velocities with units, along x, y, z, e.g. [\"0.6 um/s\", \"0 um/s\", \"0 um/s\"]",
        ));
    }
    let mut out = [0.0; 3];
    for (a, text) in entries.iter().enumerate() {
        let k = format!("{key}[{a}]");
        let x = ctx.quantity(&k, text, units::velocity, units::VELOCITY_UNITS)?;
        if !x.is_finite() {
            return Err(ctx.invalid(
                &k,
                text,
                "not a finite velocity",
                format!("a finite velocity in {}", units::VELOCITY_UNITS),
            ));
        }
        out[a] = ctx.fits_f32(&k, text, x, "m/s", "", true)?;
        rate_fits_f32(ctx, &k, text, x.abs() / grid.spacing[a], "|v|/h", end)?;
    }
    Ok(out)
}
