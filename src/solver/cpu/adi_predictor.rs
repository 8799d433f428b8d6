//! The explicit predictor of an ADI stage ([`crate::solver::Stage`]). Twin of
//! `shaders/adi_predictor.wgsl`: same bindings, same index arithmetic, same operation order.
//!
//! ```text
//!   r  = A u = Σ_interior faces (D_f/h² (u_nb − u) + up(w, u, u_nb)/h)
//!              − Σ_boundary faces (g (u − c_b) − up(w, u, c_b))/h − k u
//!   rate = r                     (when `time[3]` = 1: the error estimate needs it;
//!                                 `time[3]` = 2: rate += r / cap, after a react pass stored its
//!                                 rate: with fast binding the free field moves at A u / cap)
//!   v0 = u + λ·dt · r / cap      (cap: the cell's capacity, see `adi_sweep`)
//! ```
//!
//! The face rule (harmonic-mean diffusivity, upwind advection with the mean face velocity) is
//! that of `diffuse_explicit`. No bookkeeping: what the stage removes is booked
//! by the sweeps ([`super::adi_sweep`]).
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use super::diffuse_explicit::{boundary_conductance, face_diffusivity, face_velocity, inflow_velocity, upwind_inflow};
use crate::solver::{Coef, FaceBc, Params, RECORD_ADD};

/// Predicts one cell of one species: `gid = (x, y, z + nz * species)`, as in the shader.
pub fn adi_predictor(
    params: &Params,
    material: &[u32],
    coef: &[Coef],
    faces: &[FaceBc],
    u: &[f32],
    v: &mut [f32],
    cap: &[f32],
    rate: &mut [f32],
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
    let here = coef[(s * n_materials + material[cell as usize]) as usize];
    let d = here.diffusivity;
    let c = u[i];

    let pos = [x, y, z];
    let stride = [1u32, nx, nx * ny];
    let mut div = 0.0f32;
    for axis in 0..3 {
        for side in 0..2u32 {
            let at_edge = if side == 0 { pos[axis] == 0 } else { pos[axis] + 1 == params.cells[axis] };
            if at_edge {
                let bc = faces[(s * 6 + 2 * axis as u32 + side) as usize];
                let g = boundary_conductance(bc, d, params.half_h[axis]);
                let w = inflow_velocity(bc, here.velocity[axis], side);
                div -= g * (c - bc.value) * params.inv_h[axis];
                div += upwind_inflow(w, c, bc.value) * params.inv_h[axis];
            } else {
                let nb = if side == 0 { cell - stride[axis] } else { cell + stride[axis] };
                let there = coef[(s * n_materials + material[nb as usize]) as usize];
                let u_nb = u[(base + nb) as usize];
                div += face_diffusivity(d, there.diffusivity) * params.inv_h2[axis] * (u_nb - c);
                let w = face_velocity(here.velocity[axis], there.velocity[axis]);
                let w_in = if side == 0 { w } else { -w };
                div += upwind_inflow(w_in, c, u_nb) * params.inv_h[axis];
            }
        }
    }
    let r = div - here.decay * c;
    if params.time[3] == RECORD_ADD {
        rate[i] += r / cap[i];
    } else if params.time[3] != 0.0 {
        rate[i] = r;
    }
    v[i] = c + params.stage[0] * r / cap[i];
}
