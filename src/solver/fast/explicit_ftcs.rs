//! One explicit (forward-Euler, finite-volume) step of every species, one z-plane of one species
//! per task:
//!
//! ```text
//!   c' = c + dt·(A c − k c)
//! ```
//!
//! with `A` the operator of `diffuse_explicit` (same terms, same order: each face's upwind
//! term right after its diffusive one where the problem has flow), decay `k·c·dt` and boundary
//! outflow `(g·(c − c_b) − up(w, c, c_b))·dt` booked per plane in f64.

use super::kernels::{
    BoundaryForm, Side, add_by_material, add_side_with, conductances, explicit_side_outflow,
    explicit_side_outflow_flow, face_coefficients, start_x_terms, start_x_terms_flow,
};
use super::{Layout, PlaneBooks, Scratch, SpeciesCoefs};
use crate::solver::cpu::diffuse_explicit::boundary_conductance;

super::with_avx2! {
    /// Advances plane `k` of species `sp`: reads `c` (the species' whole field), writes `out` (its
    /// plane `k`), books into `books`.
    #[allow(clippy::too_many_arguments)]
    pub fn explicit_plane(
        lay: &Layout,
        sp: &SpeciesCoefs,
        c: &[f32],
        out: &mut [f32],
        k: usize,
        dt: f32,
        books: &mut PlaneBooks,
        scratch: &mut Scratch,
    ) => explicit_plane_body
}

/// The body of [`explicit_plane`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn explicit_plane_body(
    lay: &Layout,
    sp: &SpeciesCoefs,
    c: &[f32],
    out: &mut [f32],
    k: usize,
    dt: f32,
    books: &mut PlaneBooks,
    scratch: &mut Scratch,
) {
    let [nx, ny, nz] = lay.cells;
    let plane = nx * ny;
    let bcs = &sp.faces;
    let per_cell_d = sp.uniform_d.is_none();
    if per_cell_d {
        for (dz, buf) in scratch.d3.iter_mut().enumerate() {
            if let Some(kk) = (k + dz).checked_sub(1).filter(|&kk| kk < nz) {
                buf.resize(plane, 0.0);
                sp.fill_d(buf, &lay.material[kk * plane..(kk + 1) * plane]);
            }
        }
    }
    if sp.uniform_k.is_none() {
        scratch.k0.resize(plane, 0.0);
        sp.fill_k(&mut scratch.k0, &lay.material[k * plane..(k + 1) * plane]);
    }
    let Scratch { d3, k0, div, w, g, fv, .. } = scratch;
    fv.resize(nx, 0.0);
    div.resize(nx, 0.0);
    w.resize(nx, 0.0);
    g.resize(nx, 0.0);
    let d_uniform = sp.uniform_d.unwrap_or(0.0);
    let ck = &c[k * plane..(k + 1) * plane];
    for j in 0..ny {
        let row = j * nx..(j + 1) * nx;
        let u = &ck[row.clone()];
        let m_row = &lay.material[k * plane + row.start..][..nx];
        let form = BoundaryForm::Explicit;
        let div = &mut div[..nx];
        let d_row: &[f32] = if per_cell_d { &d3[1][row.clone()] } else { &[] };
        let d_end = |i: usize| if per_cell_d { d_row[i] } else { d_uniform };
        // x terms, and what leaves through the row's end faces.
        let gx = [0, 1].map(|s| boundary_conductance(bcs[s], d_end(if s == 0 { 0 } else { nx - 1 }), lay.half_h[0]));
        let mut ends = [0.0f32; 2];
        if per_cell_d {
            face_coefficients(&mut w[..nx - 1], &d_row[..nx - 1], &d_row[1..], lay.inv_h2[0]);
        }
        let (bc, ih) = ([bcs[0], bcs[1]], lay.inv_h[0]);
        match (sp.flow, per_cell_d) {
            (false, true) => start_x_terms(div, u, &w[..nx - 1], gx, bc, ih),
            (false, false) => start_x_terms(div, u, sp.uniform_w[0], gx, bc, ih),
            (true, _) => {
                sp.face_velocities(&mut fv[..nx - 1], &m_row[..nx - 1], &m_row[1..], 0);
                sp.inflow_velocities(&mut ends[..1], &m_row[..1], 0, 0);
                sp.inflow_velocities(&mut ends[1..], &m_row[nx - 1..], 0, 1);
                if per_cell_d {
                    start_x_terms_flow(div, u, &w[..nx - 1], &fv[..nx - 1], (gx, ends), bc, ih, form);
                } else {
                    start_x_terms_flow(div, u, sp.uniform_w[0], &fv[..nx - 1], (gx, ends), bc, ih, form);
                }
            }
        }
        for s in 0..2 {
            if bcs[s].kind != 0 {
                let i = if s == 0 { 0 } else { nx - 1 };
                let (c, value) = (u[i], bcs[s].value);
                let flux = if sp.flow {
                    gx[s] * (c - value) - crate::solver::cpu::diffuse_explicit::upwind_inflow(ends[s], c, value)
                } else {
                    gx[s] * (c - value)
                };
                books.outflow[s] += (flux * dt) as f64;
            }
        }
        // y and z terms, in the reference's order: y low, y high, z low, z high.
        let sides = [
            (1, j.checked_sub(1).map(|jj| (k * plane + jj * nx, 1, jj * nx))),
            (1, (j + 1 < ny).then(|| (k * plane + (j + 1) * nx, 1, (j + 1) * nx))),
            (2, k.checked_sub(1).map(|kk| (kk * plane + j * nx, 0, j * nx))),
            (2, (k + 1 < nz).then(|| ((k + 1) * plane + j * nx, 2, j * nx))),
        ];
        for (n, &(axis, neighbour)) in sides.iter().enumerate() {
            let face = 2 * axis + n % 2;
            let bc = bcs[face];
            let inv_h = lay.inv_h[axis];
            // With flow, the velocities into the row's cells through this side's faces.
            if sp.flow {
                match neighbour {
                    Some((start, ..)) => {
                        let nb_mats = &lay.material[start..start + nx];
                        sp.face_velocities(&mut fv[..nx], m_row, nb_mats, axis);
                        if n % 2 == 1 {
                            for x in &mut fv[..nx] {
                                *x = -*x;
                            }
                        }
                    }
                    None => sp.inflow_velocities(&mut fv[..nx], m_row, axis, n % 2),
                }
            }
            let w_in = sp.flow.then(|| &fv[..nx]);
            match neighbour {
                Some((start, dz, d_start)) => {
                    let nb = &c[start..start + nx];
                    if per_cell_d {
                        face_coefficients(&mut w[..nx], d_row, &d3[dz][d_start..d_start + nx], lay.inv_h2[axis]);
                        add_side_with(div, u, Side::Interior { w: &w[..nx], nb }, w_in, inv_h, form);
                    } else {
                        add_side_with(div, u, Side::Interior { w: sp.uniform_w[axis], nb }, w_in, inv_h, form);
                    }
                }
                None if bc.kind != 0 => {
                    let value = bc.value;
                    if per_cell_d {
                        conductances(&mut g[..nx], d_row, bc, lay.half_h[axis]);
                        add_side_with(div, u, Side::Boundary { g: &g[..nx], value, inv_h }, w_in, inv_h, form);
                        books.outflow[face] += match w_in {
                            None => explicit_side_outflow(u, &g[..nx], value, dt),
                            Some(w_in) => explicit_side_outflow_flow(u, &g[..nx], w_in, value, dt),
                        };
                    } else {
                        let g = boundary_conductance(bc, d_uniform, lay.half_h[axis]);
                        add_side_with(div, u, Side::Boundary { g, value, inv_h }, w_in, inv_h, form);
                        books.outflow[face] += match w_in {
                            None => explicit_side_outflow(u, g, value, dt),
                            Some(w_in) => explicit_side_outflow_flow(u, g, w_in, value, dt),
                        };
                    }
                }
                None => {}
            }
        }
        // c' = c + dt·(div − k·c); `div` then holds the decay k·c·dt of each cell.
        let o = &mut out[row.clone()];
        match sp.uniform_k {
            Some(kk) => update(o, u, div, kk, dt),
            None => update(o, u, div, &k0[row.clone()], dt),
        }
        add_by_material(&mut books.decayed, div, lay.row_material[k * ny + j], m_row);
    }
}

#[inline(always)]
fn update<L: super::kernels::Lane>(out: &mut [f32], u: &[f32], div: &mut [f32], k: L, dt: f32) {
    let n = out.len();
    let (u, div, k) = (&u[..n], &mut div[..n], k.window(0, n));
    for i in 0..n {
        let decay = k.at(i) * u[i];
        out[i] = u[i] + dt * (div[i] - decay);
        div[i] = decay * dt;
    }
}
