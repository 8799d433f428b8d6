//! Largest |c − ũ| and sum of (c − ũ)² per workgroup of 256 cells, where
//! `ũ = saved + e₀·rate_new + e₁·rate_old` is the embedded companion of the last step
//! ([`crate::solver::error_estimate`]; `e` = `params.error`). Twin of `shaders/local_error.wgsl`.

use crate::solver::{Params, REDUCE_WORKGROUP};

/// Writes the maximum of workgroup `w` of species `s` (`workgroup_id = (w, s)` in the shader) to
/// `partials[2·(s·groups + w)]` and its sum of squares to the entry after it.
pub fn local_error(
    params: &Params,
    c: &[f32],
    saved: &[f32],
    rate_new: &[f32],
    rate_old: &[f32],
    partials: &mut [f32],
    workgroup_id: [u32; 2],
) {
    let [w, s] = workgroup_id;
    let mut values = [0.0f32; REDUCE_WORKGROUP as usize];
    for (lane, v) in values.iter_mut().enumerate() {
        let cell = w * REDUCE_WORKGROUP + lane as u32;
        if cell < params.cells[3] {
            let i = (s * params.cells[3] + cell) as usize;
            let companion = saved[i] + params.error[0] * rate_new[i] + params.error[1] * rate_old[i];
            *v = (c[i] - companion).abs();
        }
    }
    let out = (2 * (s * params.counts[2] + w)) as usize;
    let mut lanes = values;
    fold(&mut lanes, f32::max);
    partials[out] = lanes[0];
    let mut lanes = values.map(|v| v * v);
    fold(&mut lanes, |a, b| a + b);
    partials[out + 1] = lanes[0];
}

/// The shader's halving tree over 256 lanes.
fn fold(lanes: &mut [f32; REDUCE_WORKGROUP as usize], op: impl Fn(f32, f32) -> f32) {
    let mut stride = REDUCE_WORKGROUP as usize / 2;
    while stride > 0 {
        for lane in 0..stride {
            lanes[lane] = op(lanes[lane], lanes[lane + stride]);
        }
        stride /= 2;
    }
}
