//! Per-workgroup partial sums for the bookkeeping. Twin of `shaders/reduce_totals.wgsl`.
//!
//! Workgroup `w` of species `s` covers cells `w·256 … w·256+255`. Each lane computes its cell's
//! contributions, then the workgroup folds them with the same halving tree as the shader, so
//! both engines add in the same order. Partial `q` of `(s, w)` is at `(s·groups + w)·Q + q`:
//! per material `m`: `[3m]` Σc, `[3m+1]` max c, `[3m+2]` Σ k·acc; then per face `f`:
//! `[3M+f]` Σ g·(acc − value·T) over the cells on that face.
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use super::diffuse_explicit::boundary_conductance;
use crate::solver::{Coef, FaceBc, Params, REDUCE_WORKGROUP};

/// Lowest f32, the identity of `max`.
const LOWEST: f32 = -3.4028235e38;

/// Contribution of lane `cell` to partial quantity `q` (the shader's `lane_value`).
pub fn lane_value(
    params: &Params,
    material: &[u32],
    coef: &[Coef],
    faces: &[FaceBc],
    c: &[f32],
    acc: &[f32],
    s: u32,
    cell: u32,
    q: u32,
) -> f32 {
    let n_materials = params.counts[1];
    let is_max = q < 3 * n_materials && q % 3 == 1;
    if cell >= params.cells[3] {
        return if is_max { LOWEST } else { 0.0 };
    }
    let i = (s * params.cells[3] + cell) as usize;
    let m = material[cell as usize];
    if q < 3 * n_materials {
        if q / 3 != m {
            return if is_max { LOWEST } else { 0.0 };
        }
        return match q % 3 {
            0 => c[i],
            1 => c[i],
            _ => coef[(s * n_materials + m) as usize].decay * acc[i],
        };
    }
    let face = q - 3 * n_materials;
    let axis = (face / 2) as usize;
    let nx = params.cells[0];
    let ny = params.cells[1];
    let pos = [cell % nx, (cell / nx) % ny, cell / (nx * ny)];
    let on_face = if face % 2 == 0 { pos[axis] == 0 } else { pos[axis] + 1 == params.cells[axis] };
    if !on_face {
        return 0.0;
    }
    let bc = faces[(s * 6 + face) as usize];
    let d = coef[(s * n_materials + m) as usize].diffusivity;
    let g = boundary_conductance(bc, d, params.half_h[axis]);
    g * (acc[i] - bc.value * params.time[1])
}

/// Writes the partials of workgroup `w` of species `s` (`workgroup_id = (w, s)` in the shader).
pub fn reduce_totals(
    params: &Params,
    material: &[u32],
    coef: &[Coef],
    faces: &[FaceBc],
    c: &[f32],
    acc: &[f32],
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
            let cell = w * REDUCE_WORKGROUP + lane as u32;
            *v = lane_value(params, material, coef, faces, c, acc, s, cell, q);
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
