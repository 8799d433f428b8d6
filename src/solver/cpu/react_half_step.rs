//! Half a reaction step of the ADI scheme, exact for first-order decay. Twin of
//! `shaders/react_half_step.wgsl`: same bindings, same index arithmetic, same operation order.
//!
//! ```text
//!   c'   = c · exp(−k · dt/2)
//!   dec += c − c'                     (compensated: `dec_comp` carries the lost low bits)
//! ```
//!
//! In place: each invocation reads and writes its own cell only.
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use crate::solver::{Coef, Params, compensated_add};

/// Decays one cell of one species: `gid = (x, y, z + nz * species)`, as in the shader.
pub fn react_half_step(
    params: &Params,
    material: &[u32],
    coef: &[Coef],
    c: &mut [f32],
    dec: &mut [f32],
    dec_comp: &mut [f32],
    gid: [u32; 3],
) {
    let nx = params.cells[0];
    let ny = params.cells[1];
    let nz = params.cells[2];
    let n_materials = params.counts[1];
    let x = gid[0];
    let y = gid[1];
    let z = gid[2] % nz;
    let s = gid[2] / nz;
    if x >= nx || y >= ny || s >= params.counts[0] {
        return;
    }
    let cell = x + nx * (y + ny * z);
    let i = (s * params.cells[3] + cell) as usize;
    let k = coef[(s * n_materials + material[cell as usize]) as usize].decay;
    let before = c[i];
    let after = before * (-k * (0.5 * params.time[0])).exp();
    c[i] = after;
    compensated_add(&mut dec[i], &mut dec_comp[i], before - after);
}
