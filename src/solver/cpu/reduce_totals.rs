//! Per-workgroup partial sums for the bookkeeping. Twin of `shaders/reduce_totals.wgsl`.
//!
//! Workgroup `w` of species `s` has 256 lanes; lane `l` stands for cell `w·256 + l` in the cell
//! quantities and for boundary-face entry `w·256 + l` (of the species' block) in the face
//! quantities, so `groups` covers the larger of the two ranges. Each lane computes its
//! contribution, then the workgroup folds them with the same halving tree as the shader, so both
//! engines add in the same order. Partial `q` of `(s, w)` is at `(s·groups + w)·Q + q`:
//! per material `m`: `[3m]` Σc, `[3m+1]` max c, `[3m+2]` Σ dec; then per face `f`: `[3M+f]`
//! Σ out over the entries of that face.
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use crate::solver::{Params, REDUCE_WORKGROUP, face_offset};

/// Lowest f32, the identity of `max`.
const LOWEST: f32 = -3.4028235e38;

/// Contribution of lane `lane_index` (`w·256 + l`) to partial quantity `q` (the shader's
/// `lane_value`).
pub fn lane_value(
    params: &Params,
    material: &[u32],
    c: &[f32],
    dec: &[f32],
    out: &[f32],
    s: u32,
    lane_index: u32,
    q: u32,
) -> f32 {
    let n_materials = params.counts[1];
    let is_max = q < 3 * n_materials && q % 3 == 1;
    if q < 3 * n_materials {
        let cell = lane_index;
        if cell >= params.cells[3] {
            return if is_max { LOWEST } else { 0.0 };
        }
        let i = (s * params.cells[3] + cell) as usize;
        if q / 3 != material[cell as usize] {
            return if is_max { LOWEST } else { 0.0 };
        }
        return match q % 3 {
            0 => c[i],
            1 => c[i],
            _ => dec[i],
        };
    }
    let face = q - 3 * n_materials;
    let entry = lane_index;
    if entry < face_offset(params, face) || entry >= face_offset(params, face + 1) {
        return 0.0;
    }
    out[(s * params.face_entries[0] + entry) as usize]
}

/// Writes the partials of workgroup `w` of species `s` (`workgroup_id = (w, s)` in the shader).
pub fn reduce_totals(
    params: &Params,
    material: &[u32],
    c: &[f32],
    dec: &[f32],
    out: &[f32],
    partials: &mut [f32],
    workgroup_id: [u32; 2],
) {
    let [w, s] = workgroup_id;
    let groups = params.counts[2];
    let q_len = params.counts[3];
    let n_materials = params.counts[1];
    let mut lanes = [0.0f32; REDUCE_WORKGROUP as usize];
    for q in 0..q_len {
        let is_max = q < 3 * n_materials && q % 3 == 1;
        for (lane, v) in lanes.iter_mut().enumerate() {
            *v = lane_value(params, material, c, dec, out, s, w * REDUCE_WORKGROUP + lane as u32, q);
        }
        let mut stride = REDUCE_WORKGROUP / 2;
        while stride > 0 {
            for lane in 0..stride as usize {
                let other = lanes[lane + stride as usize];
                lanes[lane] = if is_max { lanes[lane].max(other) } else { lanes[lane] + other };
            }
            stride /= 2;
        }
        partials[((s * groups + w) * q_len + q) as usize] = lanes[0];
    }
}
