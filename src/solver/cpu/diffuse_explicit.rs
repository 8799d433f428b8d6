//! One explicit (forward-Euler, finite-volume) step of every species. Twin of
//! `shaders/diffuse_explicit.wgsl`: same bindings, same index arithmetic, same operation order.
//!
//! For cell `i` with value `c`:
//!
//! ```text
//!   div   = Σ_interior faces  D_f/h² (c_nb − c)  −  Σ_boundary faces  g/h (c − c_b)
//!   c'    = c + dt (div − k c)
//!   dec  += k c dt                    (compensated: `dec_comp` carries the lost low bits)
//!   out  += g (c − c_b) dt            (the entry of each boundary face of the cell, compensated)
//! ```
//!
//! `D_f` is the harmonic mean of the two cell diffusivities, `g` the boundary conductance
//! (`1/(1/rate + h/(2D))`, with `1/rate = 0` for a fixed concentration). A boundary-face entry
//! belongs to one cell only, so no two invocations write the same accumulator.
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
                let flux = g * (c - bc.value);
                div -= flux * params.inv_h[axis];
                let e = (s * params.face_entries[0] + face_offset(params, face) + plane_index(params, pos, axis as u32))
                    as usize;
                compensated_add(&mut out[e], &mut out_comp[e], flux * dt);
            } else {
                let nb = if side == 0 { cell - stride[axis] } else { cell + stride[axis] };
                let d_nb = coef[(s * n_materials + material[nb as usize]) as usize].diffusivity;
                div += face_diffusivity(d, d_nb) * params.inv_h2[axis] * (c_in[(base + nb) as usize] - c);
            }
        }
    }
    let decay = here.decay * c;
    c_out[i] = c + dt * (div - decay);
    compensated_add(&mut dec[i], &mut dec_comp[i], decay * dt);
}
