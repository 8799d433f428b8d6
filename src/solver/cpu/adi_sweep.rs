//! One implicit stage of the Douglas ADI scheme along one axis. Twin of `shaders/adi_sweep.wgsl`
//! (entry points `adi_sweep_x`, `adi_sweep_y`, `adi_sweep_z`, i.e. `axis` = 0, 1, 2): same
//! bindings, same index arithmetic, same operation order.
//!
//! Stage `a` solves `(I − θ·dt·A_a) v_a = v_{a−1} − θ·dt·A_a uⁿ`. Written for the increment
//! `δ = v_a − uⁿ`, the boundary values drop out (A_a is affine, L_a its linear part):
//!
//! ```text
//!   (I − θ·dt·L_a) δ = v_{a−1} − uⁿ,     v_a = uⁿ + δ
//! ```
//!
//! On a line of `n` cells along `a`, with `w_j = D_{j−1/2}/h²`, `e_j = D_{j+1/2}/h²` (zero
//! outside the line) and `b_j = g/h` at the two end cells (zero elsewhere), row `j` is
//! `−θdt·w_j δ_{j−1} + (1 + θdt·(w_j + e_j + b_j)) δ_j − θdt·e_j δ_{j+1}`: strictly diagonally
//! dominant, so the Thomas algorithm needs no pivoting. The forward sweep keeps the modified
//! super-diagonal in `scratch` and the modified right-hand side in `v` (in place: the line
//! reads each `v_{a−1}` before it overwrites it), the back substitution writes `v_a`.
//!
//! Bookkeeping: the step is `uⁿ⁺¹ = uⁿ + dt·A uⁿ + θ·dt·Σ_a L_a (v_a − uⁿ)`. Interior faces
//! cancel between neighbours; at the end face of a line along `a` with conductance `g`, the
//! amount per face area the scheme removes is
//!
//! ```text
//!   out += dt·g·(uⁿ − c_b) + θ·dt·g·(v_a − uⁿ)
//! ```
//!
//! booked by the line that owns that face entry (one writer per entry).
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use super::diffuse_explicit::{boundary_conductance, face_diffusivity};
use crate::solver::{Coef, FaceBc, Params, compensated_add, face_offset};

/// Solves line `gid[0]` of species `gid[1]` along `axis`. Lines are numbered `p + n_p·q` with
/// `p < q` the other two axes, which is also the line's entry in both end faces' blocks.
pub fn adi_sweep(
    params: &Params,
    material: &[u32],
    coef: &[Coef],
    faces: &[FaceBc],
    u: &[f32],
    v: &mut [f32],
    scratch: &mut [f32],
    out: &mut [f32],
    out_comp: &mut [f32],
    axis: u32,
    gid: [u32; 3],
) {
    let nx = params.cells[0];
    let ny = params.cells[1];
    let n_cells = params.cells[3];
    let n_materials = params.counts[1];
    let a = axis as usize;
    let p = if axis == 0 { 1 } else { 0 };
    let q = if axis == 2 { 1 } else { 2 };
    let n = params.cells[a];
    let line = gid[0];
    let s = gid[1];
    if line >= n_cells / n || s >= params.counts[0] {
        return;
    }
    let mut pos = [0u32; 3];
    pos[p] = line % params.cells[p];
    pos[q] = line / params.cells[p];
    let first = pos[0] + nx * (pos[1] + ny * pos[2]);
    let stride = [1u32, nx, nx * ny][a];
    let base = s * n_cells;
    let dt = params.time[0];
    let theta_dt = params.time[1] * dt;
    let inv_h2 = params.inv_h2[a];
    let inv_h = params.inv_h[a];
    let bc_lo = faces[(s * 6 + 2 * axis) as usize];
    let bc_hi = faces[(s * 6 + 2 * axis + 1) as usize];

    // Forward sweep.
    let mut g_lo = 0.0f32;
    let mut g_hi = 0.0f32;
    let mut west = 0.0f32;
    let mut sup_prev = 0.0f32;
    let mut rhs_prev = 0.0f32;
    let mut d_here = coef[(s * n_materials + material[first as usize]) as usize].diffusivity;
    for j in 0..n {
        let cell = first + j * stride;
        let i = (base + cell) as usize;
        let mut east = 0.0f32;
        let mut d_next = 0.0f32;
        if j + 1 < n {
            d_next = coef[(s * n_materials + material[(cell + stride) as usize]) as usize].diffusivity;
            east = face_diffusivity(d_here, d_next) * inv_h2;
        }
        let mut out_coef = 0.0f32;
        if j == 0 {
            g_lo = boundary_conductance(bc_lo, d_here, params.half_h[a]);
            out_coef += g_lo * inv_h;
        }
        if j + 1 == n {
            g_hi = boundary_conductance(bc_hi, d_here, params.half_h[a]);
            out_coef += g_hi * inv_h;
        }
        let sub = -theta_dt * west;
        let sup = -theta_dt * east;
        let diag = 1.0 + theta_dt * (west + east + out_coef);
        let m = diag - sub * sup_prev;
        sup_prev = sup / m;
        rhs_prev = (v[i] - u[i] - sub * rhs_prev) / m;
        scratch[i] = sup_prev;
        v[i] = rhs_prev;
        west = east;
        d_here = d_next;
    }

    // Back substitution and the end faces' books.
    let entries = s * params.face_entries[0] + line;
    let mut delta = 0.0f32;
    for k in 0..n {
        let j = n - 1 - k;
        let i = (base + first + j * stride) as usize;
        delta = v[i] - scratch[i] * delta;
        let c = u[i];
        v[i] = c + delta;
        if j + 1 == n {
            let e = (entries + face_offset(params, 2 * axis + 1)) as usize;
            compensated_add(&mut out[e], &mut out_comp[e], dt * g_hi * (c - bc_hi.value) + theta_dt * g_hi * delta);
        }
        if j == 0 {
            let e = (entries + face_offset(params, 2 * axis)) as usize;
            compensated_add(&mut out[e], &mut out_comp[e], dt * g_lo * (c - bc_lo.value) + theta_dt * g_lo * delta);
        }
    }
}
