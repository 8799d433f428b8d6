//! One implicit stage of an ADI step along one axis ([`crate::solver::Stage`]). Twin of
//! `shaders/adi_sweep.wgsl` (entry points `adi_sweep_x`, `adi_sweep_y`, `adi_sweep_z`, i.e.
//! `axis` = 0, 1, 2): same bindings, same index arithmetic, same operation order.
//!
//! Stage `a` solves, for the increment `δ_a = v_a − uⁿ` (the boundary values drop out of the
//! left side: A_a is affine, L_a its linear part),
//!
//! ```text
//!   (M − θ·dt·L_a) δ_a = M·δ_{a−1} + (θ − μ)·dt·A_a uⁿ,     v_a = uⁿ + δ_a
//! ```
//!
//! where `M = diag(cap)` is the capacity of each cell (1, or `1 + ∂b/∂c` where the species binds
//! fast: see [`super::react`]); the rows below have `cap_j` in place of 1 on the diagonal.
//!
//! On a line of `n` cells along `a`, with `w_j = D_{j−1/2}/h²`, `e_j = D_{j+1/2}/h²` (zero
//! outside the line), `b_j = g/h` at the two end cells (zero elsewhere) and `r_j = k_j/N` the
//! line's share of the first-order loss (N swept axes), and the upwind couplings of the flow,
//! `p_f = max(V_f, 0)/h` and `q_f = max(−V_f, 0)/h` of each face f (V_f the face velocity along
//! the axis; at an end face `q` of the inward velocity, zero at a no-flux wall, is added to
//! `b_j`), row `j` is
//! `−θdt·(w_j + p_{j−1/2}) δ_{j−1} + (1 + θdt·(w_j + e_j + b_j + r_j + q_{j−1/2} + p_{j+1/2})) δ_j
//! − θdt·(e_j + q_{j+1/2}) δ_{j+1}`. Without flow it is symmetric and strictly diagonally
//! dominant; with flow it is not symmetric, and rows may lose dominance where the flow
//! converges, but every column is strictly dominant (what leaves a cell through a face is what
//! its neighbour receives), so the Thomas algorithm still needs no pivoting. The term `(θ − μ)·dt·A_a uⁿ`
//! is computed only where `(θ − μ)·dt` is not zero (implicit-Euler LOD substeps; Douglas has
//! θ = μ). The forward sweep keeps the modified super-diagonal in `scratch` and the modified
//! right-hand side in `v` (in place: the line reads each `v_{a−1}` before it overwrites it), the
//! back substitution writes `v_a`.
//!
//! Bookkeeping: with `κ = (λ + θ − μ)·dt` (the `stage[2]` of the parameters), the loss share
//! of each cell and the end faces of the line are booked as
//!
//! ```text
//!   dec += r_j·(κ·uⁿ + θ·dt·δ_a)
//!   out += κ·(g·(uⁿ − c_b) − up(w, uⁿ, c_b)) + θ·dt·(g + max(−w, 0))·δ_a
//! ```
//!
//! with `w` the inward velocity at the face and `up` the upwind inflow of `diffuse_explicit`.
//!
//! which sum over the stages of a step to exactly what the step removed (see
//! [`crate::solver::Stage`]). Each cell belongs to one line per axis and each face entry to one
//! line, so every accumulator has one writer per dispatch.
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use super::diffuse_explicit::{boundary_conductance, face_diffusivity, face_velocity, inflow_velocity, upwind_inflow};
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
    cap: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
    out_comp: &mut [f32],
    dec: &mut [f32],
    dec_comp: &mut [f32],
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
    let explicit_dt = params.stage[1];
    let booked_dt = params.stage[2];
    let share = params.stage[3];
    let inv_h2 = params.inv_h2[a];
    let inv_h = params.inv_h[a];
    let bc_lo = faces[(s * 6 + 2 * axis) as usize];
    let bc_hi = faces[(s * 6 + 2 * axis + 1) as usize];

    // Forward sweep. Along the line, `west`/`east` are the diffusion couplings D_f/h² of the
    // cell's two faces, `*_fwd` = max(w, 0)/h and `*_back` = max(−w, 0)/h the upwind couplings
    // (w the face velocity along the axis): what the face carries towards +axis and −axis.
    let mut g_lo = 0.0f32;
    let mut g_hi = 0.0f32;
    let mut w_lo = 0.0f32;
    let mut w_hi = 0.0f32;
    let mut west = 0.0f32;
    let mut west_fwd = 0.0f32;
    let mut west_back = 0.0f32;
    let mut sup_prev = 0.0f32;
    let mut rhs_prev = 0.0f32;
    let mut here = coef[(s * n_materials + material[first as usize]) as usize];
    let mut u_west = 0.0f32;
    for j in 0..n {
        let cell = first + j * stride;
        let i = (base + cell) as usize;
        let c = u[i];
        let mut east = 0.0f32;
        let mut east_fwd = 0.0f32;
        let mut east_back = 0.0f32;
        let mut next = Coef { diffusivity: 0.0, decay: 0.0, velocity: [0.0; 3] };
        let mut u_east = 0.0f32;
        if j + 1 < n {
            next = coef[(s * n_materials + material[(cell + stride) as usize]) as usize];
            east = face_diffusivity(here.diffusivity, next.diffusivity) * inv_h2;
            let w = face_velocity(here.velocity[a], next.velocity[a]);
            east_fwd = w.max(0.0) * inv_h;
            east_back = (-w).max(0.0) * inv_h;
            u_east = u[i + stride as usize];
        }
        let loss = here.decay * share;
        let mut out_coef = 0.0f32;
        let mut boundary_flux = 0.0f32;
        if j == 0 {
            g_lo = boundary_conductance(bc_lo, here.diffusivity, params.half_h[a]);
            w_lo = inflow_velocity(bc_lo, here.velocity[a], 0);
            out_coef += g_lo * inv_h;
            boundary_flux += g_lo * inv_h * (c - bc_lo.value);
            // The flow through the face (none at a no-flux wall): out at c, in at the value.
            out_coef += (-w_lo).max(0.0) * inv_h;
            boundary_flux -= upwind_inflow(w_lo, c, bc_lo.value) * inv_h;
        }
        if j + 1 == n {
            g_hi = boundary_conductance(bc_hi, here.diffusivity, params.half_h[a]);
            w_hi = inflow_velocity(bc_hi, here.velocity[a], 1);
            out_coef += g_hi * inv_h;
            boundary_flux += g_hi * inv_h * (c - bc_hi.value);
            // The flow through the face (none at a no-flux wall): out at c, in at the value.
            out_coef += (-w_hi).max(0.0) * inv_h;
            boundary_flux -= upwind_inflow(w_hi, c, bc_hi.value) * inv_h;
        }
        let mut rhs = cap[i] * (v[i] - c);
        if explicit_dt != 0.0 {
            let advected = (west_fwd * u_west - west_back * c) + (east_back * u_east - east_fwd * c);
            let a_u = west * (u_west - c) + east * (u_east - c) + advected - boundary_flux - loss * c;
            rhs += explicit_dt * a_u;
        }
        let sub = -theta_dt * (west + west_fwd);
        let sup = -theta_dt * (east + east_back);
        let diag = cap[i] + theta_dt * (west + east + out_coef + loss + west_back + east_fwd);
        let m = diag - sub * sup_prev;
        sup_prev = sup / m;
        rhs_prev = (rhs - sub * rhs_prev) / m;
        scratch[i] = sup_prev;
        v[i] = rhs_prev;
        west = east;
        west_fwd = east_fwd;
        west_back = east_back;
        here = next;
        u_west = c;
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
        let loss = coef[(s * n_materials + material[(first + j * stride) as usize]) as usize].decay * share;
        if loss != 0.0 {
            compensated_add(&mut dec[i], &mut dec_comp[i], loss * (booked_dt * c + theta_dt * delta));
        }
        if j + 1 == n {
            let e = (entries + face_offset(params, 2 * axis + 1)) as usize;
            let advected = booked_dt * upwind_inflow(w_hi, c, bc_hi.value) - theta_dt * (-w_hi).max(0.0) * delta;
            compensated_add(
                &mut out[e],
                &mut out_comp[e],
                booked_dt * g_hi * (c - bc_hi.value) + theta_dt * g_hi * delta - advected,
            );
        }
        if j == 0 {
            let e = (entries + face_offset(params, 2 * axis)) as usize;
            let advected = booked_dt * upwind_inflow(w_lo, c, bc_lo.value) - theta_dt * (-w_lo).max(0.0) * delta;
            compensated_add(
                &mut out[e],
                &mut out_comp[e],
                booked_dt * g_lo * (c - bc_lo.value) + theta_dt * g_lo * delta - advected,
            );
        }
    }
}
