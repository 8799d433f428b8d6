//! One explicit (forward-Euler, finite-volume) step of every species. Twin of
//! `shaders/diffuse_explicit.wgsl`: same bindings, same index arithmetic, same operation order.
//!
//! For cell `i` with value `c`:
//!
//! ```text
//!   div   = Σ_interior faces  D_f/h² (c_nb − c) + up(w, c, c_nb)/h
//!         − Σ_boundary faces  (g (c − c_b) − up(w, c, c_b))/h
//!   c'    = c + dt (div − k c)
//!   dec  += k c dt                    (compensated: `dec_comp` carries the lost low bits)
//!   out  += (g (c − c_b) − up(w, c, c_b)) dt   (each boundary face of the cell, compensated)
//! ```
//!
//! `D_f` is the harmonic mean of the two cell diffusivities, `g` the boundary conductance
//! (`1/(1/rate + h/(2D))`, with `1/rate = 0` for a fixed concentration). Advection is
//! first-order upwind: `w` is the velocity into the cell through the face ([`face_velocity`]
//! between cells, [`inflow_velocity`] at the box: zero at a no-flux wall), and
//! `up(w, c, c_nb) = max(w, 0)·c_nb − max(−w, 0)·c` ([`upwind_inflow`]): what flows in carries
//! the upwind value. A boundary-face entry belongs to one cell only, so no two invocations write
//! the same accumulator.
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use crate::solver::{Coef, FaceBc, Params, compensated_add, face_offset, plane_index};

/// Face diffusivity: harmonic mean, zero when neither side diffuses.
pub fn face_diffusivity(a: f32, b: f32) -> f32 {
    let s = a + b;
    if s > 0.0 { 2.0 * a * b / s } else { 0.0 }
}

/// Conductance (m/s) between a boundary cell's centre and the outside.
pub fn boundary_conductance(bc: FaceBc, d: f32, half_h: f32) -> f32 {
    if bc.kind == 0 || d <= 0.0 {
        return 0.0;
    }
    1.0 / (bc.inv_rate + half_h / d)
}

/// Velocity (m/s, along the axis) at the face between two cells whose velocities along it are
/// `a` and `b`: the mean. Both cells see the same number, so the face flux that leaves one
/// enters the other (conservative).
pub fn face_velocity(a: f32, b: f32) -> f32 {
    0.5 * (a + b)
}

/// Velocity (m/s) into a boundary cell through its face on `side` (0 low, 1 high) of the box:
/// zero at a no-flux wall (no normal flow through a wall), else the cell's own velocity `v`
/// along the axis, counted inward.
pub fn inflow_velocity(bc: FaceBc, v: f32, side: u32) -> f32 {
    if bc.kind == 0 {
        return 0.0;
    }
    if side == 0 { v } else { -v }
}

/// Upwind advective flux density (species unit × m/s) into a cell of value `c` through a face
/// with inward velocity `w` from a neighbour (or the outside) of value `c_nb`.
pub fn upwind_inflow(w: f32, c: f32, c_nb: f32) -> f32 {
    w.max(0.0) * c_nb - (-w).max(0.0) * c
}

/// Updates one cell of one species: `gid = (x, y, z + nz * species)`, as in the shader.
pub fn diffuse_explicit(
    params: &Params,
    material: &[u32],
    coef: &[Coef],
    faces: &[FaceBc],
    c_in: &[f32],
    c_out: &mut [f32],
    dec: &mut [f32],
    dec_comp: &mut [f32],
    out: &mut [f32],
    out_comp: &mut [f32],
    gid: [u32; 3],
) {
    let nx = params.cells[0];
    let ny = params.cells[1];
    let nz = params.cells[2];
    let n_cells = params.cells[3];
    let n_materials = params.counts[1];
    let x = gid[0];
    let y = gid[1];
    let z = gid[2] % nz;
    let s = gid[2] / nz;
    if x >= nx || y >= ny || s >= params.counts[0] {
        return;
    }
    let cell = x + nx * (y + ny * z);
    let base = s * n_cells;
    let i = (base + cell) as usize;
    let m = material[cell as usize];
    let here = coef[(s * n_materials + m) as usize];
    let d = here.diffusivity;
    let c = c_in[i];
    let dt = params.time[0];

    let pos = [x, y, z];
    let stride = [1u32, nx, nx * ny];
    let mut div = 0.0f32;
    for axis in 0..3 {
        for side in 0..2u32 {
            let at_edge = if side == 0 { pos[axis] == 0 } else { pos[axis] + 1 == params.cells[axis] };
            if at_edge {
                let face = 2 * axis as u32 + side;
                let bc = faces[(s * 6 + face) as usize];
                let g = boundary_conductance(bc, d, params.half_h[axis]);
                let w = inflow_velocity(bc, here.velocity[axis], side);
                let flux = g * (c - bc.value) - upwind_inflow(w, c, bc.value);
                div -= flux * params.inv_h[axis];
                let e = (s * params.face_entries[0] + face_offset(params, face) + plane_index(params, pos, axis as u32))
                    as usize;
                compensated_add(&mut out[e], &mut out_comp[e], flux * dt);
            } else {
                let nb = if side == 0 { cell - stride[axis] } else { cell + stride[axis] };
                let there = coef[(s * n_materials + material[nb as usize]) as usize];
                let c_nb = c_in[(base + nb) as usize];
                div += face_diffusivity(d, there.diffusivity) * params.inv_h2[axis] * (c_nb - c);
                let w = face_velocity(here.velocity[axis], there.velocity[axis]);
                let w_in = if side == 0 { w } else { -w };
                div += upwind_inflow(w_in, c, c_nb) * params.inv_h[axis];
            }
        }
    }
    let decay = here.decay * c;
    c_out[i] = c + dt * (div - decay);
    compensated_add(&mut dec[i], &mut dec_comp[i], decay * dt);
}
