//! One ADI stage ([`crate::solver::Stage`]: a Douglas step, or an implicit-Euler LOD substep
//! of the start-up) in fused passes over the field:
//!
//! ```text
//!   r = A u;   v₀ = u + λ·dt·r / cap;
//!   (M − θ·dt·A_a) δ_a = M·δ_{a−1} + (θ − μ)·dt·A_a u;   u ← u + δ_N
//! ```
//!
//! with the first-order loss and, where the problem has flow, the upwind advection inside `A`
//! (an equal share of the loss per swept axis inside each `A_a`), and `M = diag(cap)` the cells'
//! capacities for a species that binds (else the identity).
//!
//! The reference (`src/solver/cpu/mod.rs`) runs `adi_predictor` and one `adi_sweep` per axis,
//! each over the whole field. Here:
//!
//! - [`plane_pass`], a block of whole x-rows of one z-plane of one species per task: the
//!   predictor (skipped where `λ·dt = 0` and no rate is recorded: then `v₀ = u`), the x stage
//!   (on a transposed copy of the block, so that the Thomas recurrence runs over x with the
//!   block's lines as vector lanes) and, where the block is the whole plane, the y stage
//!   (recurrence over y, x-rows as lanes); writes `v_x` or `v_y` to `c_next`.
//! - [`column_y_pass`] (problems of one z-plane only, where a plane is cut into blocks of rows): the
//!   y stage of a block of whole columns, gathered into contiguous scratch.
//! - [`column_pass`], a block of whole y-rows through every z-plane of one species per task: the
//!   z stage (recurrence over z, the block's cells as lanes); writes the new field into `c` in
//!   place (each task owns its cells).
//!
//! Every stage solves for the increment `δ = v_a − u` as `adi_sweep` does, with the same
//! coefficients in the same order, and forms `v_a = u + δ` before the next stage takes
//! `v_a − u`, so each cell sees the reference's operations in the reference's order. Each sweep
//! books `loss·(κ·u + θ·dt·δ)` per cell as decayed and `κ·g·(u − c_b) + θ·dt·g·δ` per end face
//! as outflow (less, with flow, `κ·up(w, u, c_b) − θ·dt·max(−w, 0)·δ`), as `adi_sweep` does
//! (`κ = (λ + θ − μ)·dt`), summed in f64 per task.

use super::kernels::{
    BoundaryForm, Lane, LineCoefficients, Side, Tri, add_by_material, add_explicit_row, add_side_with, adi_end_outflow,
    adi_end_outflow_flow, apply_cap, conductances, face_coefficients, start_x_terms, start_x_terms_flow, sweep_loss,
    thomas_back, thomas_forward, transpose, transpose_add, transpose_sub,
};
use super::{Layout, PlaneBooks, Scratch, SpeciesCoefs, StageCoefs};
use crate::solver::FaceBc;
use crate::solver::cpu::diffuse_explicit::boundary_conductance;

super::with_avx2! {
    /// Predictor and x stage of the rows `j0..` of plane `k` of one species (as many as `out`
    /// holds), and the y stage too where `y_stage` (the block must then be the whole plane):
    /// reads `c` (the species' whole field), writes `out`, and the rate `A u` of the rows to
    /// `rate` where given.
    #[allow(clippy::too_many_arguments)]
    pub fn plane_pass(
        lay: &Layout,
        sp: &SpeciesCoefs,
        c: &[f32],
        out: &mut [f32],
        k: usize,
        j0: usize,
        y_stage: bool,
        st: &StageCoefs,
        cap: Option<&[f32]>,
        rate: Option<&mut [f32]>,
        books: &mut PlaneBooks,
        scratch: &mut Scratch,
    ) => plane_pass_body
}

/// The body of [`plane_pass`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn plane_pass_body(
    lay: &Layout,
    sp: &SpeciesCoefs,
    c: &[f32],
    out: &mut [f32],
    k: usize,
    j0: usize,
    y_stage: bool,
    st: &StageCoefs,
    cap: Option<&[f32]>,
    rate: Option<&mut [f32]>,
    books: &mut PlaneBooks,
    scratch: &mut Scratch,
) {
    let [nx, ny, nz] = lay.cells;
    let plane = nx * ny;
    let rows = out.len() / nx;
    let cells = rows * nx;
    let j1 = j0 + rows;
    let base = k * plane + j0 * nx;
    let u = &c[base..base + cells];
    let mats = &lay.material[base..base + cells];
    let per_cell_d = sp.uniform_d.is_none();
    let per_cell_k = sp.uniform_k.is_none();
    let predict = st.lambda_dt != 0.0 || rate.is_some();
    // Per-cell diffusivities of the rows the predictor reads (planes k − 1, k, k + 1, laid out
    // like a plane) and decay rates of the block.
    if per_cell_d {
        for (dz, buf) in scratch.d3.iter_mut().enumerate() {
            buf.resize(plane, 0.0);
            if let Some(kk) = (k + dz).checked_sub(1).filter(|&kk| kk < nz) {
                let (lo, hi) = if dz == 1 { (j0.saturating_sub(1), (j1 + 1).min(ny)) } else { (j0, j1) };
                let range = lo * nx..hi * nx;
                sp.fill_d(&mut buf[range.clone()], &lay.material[kk * plane + range.start..kk * plane + range.end]);
            }
        }
    }
    let Scratch { d3, k0, u: t, v, rhs, div, w, g, fv, lines, .. } = scratch;
    // The species' and the block's capacities where the species binds (else none: 1).
    let cap_field = cap.filter(|_| sp.binds).unwrap_or(&[]);
    let cap = (!cap_field.is_empty()).then(|| &cap_field[base..base + cells]);
    fv.resize(nx, 0.0);
    if per_cell_k {
        k0.resize(cells, 0.0);
        sp.fill_k(k0, mats);
    }
    v.resize(cells, 0.0);
    div.resize(nx, 0.0);
    w.resize(nx, 0.0);
    g.resize(nx, 0.0);

    if predict {
        let mut rate = rate;
        for j in j0..j1 {
            let row = (j - j0) * nx..(j - j0 + 1) * nx;
            let at = |kk: usize, jj: usize| &c[kk * plane + jj * nx..kk * plane + (jj + 1) * nx];
            let k_row: &[f32] = if per_cell_k { &k0[row.clone()] } else { &[] };
            let rate_row = rate.as_deref_mut().map(|r| &mut r[row.clone()]);
            let cap_row = cap.map(|c| &c[row.clone()]);
            if let (Some(d), Some(decay), true) =
                (sp.uniform_d, sp.uniform_k, !sp.flow && j > 0 && j + 1 < ny && k > 0 && k + 1 < nz)
            {
                // A row with neighbours on all four y and z sides, one diffusivity and decay: all
                // six terms in one loop.
                let gx = [0, 1].map(|s| boundary_conductance(sp.faces[s], d, lay.half_h[0]));
                let rows = InteriorRow {
                    u: &u[row.clone()],
                    ym: at(k, j - 1),
                    yp: at(k, j + 1),
                    zm: at(k - 1, j),
                    zp: at(k + 1, j),
                };
                let bc = [sp.faces[0], sp.faces[1]];
                let v = &mut v[row];
                let (w, inv_h, ldt) = (sp.uniform_w, lay.inv_h[0], st.lambda_dt);
                match cap_row {
                    None => predict_interior_row(v, &rows, decay, w, gx, bc, inv_h, ldt, rate_row, 1.0f32),
                    Some(cr) => predict_interior_row(v, &rows, decay, w, gx, bc, inv_h, ldt, rate_row, cr),
                }
                continue;
            }
            let ur = &u[row.clone()];
            let div = &mut div[..nx];
            let d_row: &[f32] = if per_cell_d { &d3[1][j * nx..(j + 1) * nx] } else { &[] };
            let d_uniform = sp.uniform_d.unwrap_or(0.0);
            let d_end = |i: usize| if per_cell_d { d_row[i] } else { d_uniform };
            let bcs = &sp.faces;
            let gx =
                [0, 1].map(|s| boundary_conductance(bcs[s], d_end(if s == 0 { 0 } else { nx - 1 }), lay.half_h[0]));
            let m_row = &mats[row.clone()];
            let form = BoundaryForm::Predictor;
            if per_cell_d {
                face_coefficients(&mut w[..nx - 1], &d_row[..nx - 1], &d_row[1..], lay.inv_h2[0]);
            }
            match (sp.flow, per_cell_d) {
                (false, true) => start_x_terms(div, ur, &w[..nx - 1], gx, [bcs[0], bcs[1]], lay.inv_h[0]),
                (false, false) => start_x_terms(div, ur, sp.uniform_w[0], gx, [bcs[0], bcs[1]], lay.inv_h[0]),
                (true, _) => {
                    sp.face_velocities(&mut fv[..nx - 1], &m_row[..nx - 1], &m_row[1..], 0);
                    let mut ends = [0.0f32; 2];
                    sp.inflow_velocities(&mut ends[..1], &m_row[..1], 0, 0);
                    sp.inflow_velocities(&mut ends[1..], &m_row[nx - 1..], 0, 1);
                    let (bc, ih) = ([bcs[0], bcs[1]], lay.inv_h[0]);
                    if per_cell_d {
                        start_x_terms_flow(div, ur, &w[..nx - 1], &fv[..nx - 1], (gx, ends), bc, ih, form);
                    } else {
                        start_x_terms_flow(div, ur, sp.uniform_w[0], &fv[..nx - 1], (gx, ends), bc, ih, form);
                    }
                }
            }
            let sides = [
                (1, j.checked_sub(1).map(|jj| (at(k, jj), 1, jj * nx))),
                (1, (j + 1 < ny).then(|| (at(k, j + 1), 1, (j + 1) * nx))),
                (2, k.checked_sub(1).map(|kk| (at(kk, j), 0, j * nx))),
                (2, (k + 1 < nz).then(|| (at(k + 1, j), 2, j * nx))),
            ];
            for (n, &(axis, neighbour)) in sides.iter().enumerate() {
                let bc = bcs[2 * axis + n % 2];
                let inv_h = lay.inv_h[axis];
                // With flow, the velocities into the row's cells through this side's faces.
                if sp.flow {
                    match neighbour {
                        Some((_, dz, d_start)) => {
                            let kk = k + dz - 1;
                            let nb_mats = &lay.material[kk * plane + d_start..kk * plane + d_start + nx];
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
                    Some((nbr, dz, d_start)) if per_cell_d => {
                        face_coefficients(&mut w[..nx], d_row, &d3[dz][d_start..d_start + nx], lay.inv_h2[axis]);
                        add_side_with(div, ur, Side::Interior { w: &w[..nx], nb: nbr }, w_in, inv_h, form);
                    }
                    Some((nbr, ..)) => {
                        add_side_with(div, ur, Side::Interior { w: sp.uniform_w[axis], nb: nbr }, w_in, inv_h, form)
                    }
                    None if bc.kind != 0 && per_cell_d => {
                        conductances(&mut g[..nx], d_row, bc, lay.half_h[axis]);
                        let side = Side::Boundary { g: &g[..nx], value: bc.value, inv_h };
                        add_side_with(div, ur, side, w_in, inv_h, form);
                    }
                    None if bc.kind != 0 => {
                        let g = boundary_conductance(bc, d_uniform, lay.half_h[axis]);
                        add_side_with(div, ur, Side::Boundary { g, value: bc.value, inv_h }, w_in, inv_h, form);
                    }
                    None => {}
                }
            }
            let v = &mut v[row];
            let ldt = st.lambda_dt;
            match (sp.uniform_k, cap_row) {
                (Some(decay), None) => finish_prediction(v, rate_row, ur, div, decay, ldt, 1.0f32),
                (None, None) => finish_prediction(v, rate_row, ur, div, k_row, ldt, 1.0f32),
                (Some(decay), Some(cr)) => finish_prediction(v, rate_row, ur, div, decay, ldt, cr),
                (None, Some(cr)) => finish_prediction(v, rate_row, ur, div, k_row, ldt, cr),
            }
        }
    } else {
        v.copy_from_slice(u);
    }

    // x stage on the transposed block: its y-lines are the lanes of a recurrence over x.
    if lay.sweep[0] {
        let k3 = sp.sweep_constants(lay, 0, st);
        let tri = if sp.binds && sp.uniform_lines() {
            let cap = cap.unwrap_or(&[]);
            lines.compute_with_caps(&sp.lines[0], rows, |i, row| {
                for (l, x) in row.iter_mut().enumerate() {
                    *x = cap[l * nx + i];
                }
            });
            Tri { c: lines, per_lane: true }
        } else if sp.per_lane() {
            lines.compute(nx, rows, &k3, |i, row| {
                for (l, (d, kk)) in row.d.iter_mut().zip(row.k.iter_mut()).enumerate() {
                    let m = mats[l * nx + i] as usize;
                    *d = sp.d[m];
                    *kk = sp.k[m];
                }
                if k3.flow {
                    for (l, v) in row.v.iter_mut().enumerate() {
                        *v = sp.v[mats[l * nx + i] as usize][0];
                    }
                }
                if let (true, Some(cap)) = (k3.capacity, cap) {
                    for (l, x) in row.cap.iter_mut().enumerate() {
                        *x = cap[l * nx + i];
                    }
                }
            });
            Tri { c: lines, per_lane: true }
        } else {
            Tri { c: &sp.lines[0], per_lane: false }
        };
        rhs.resize(cells, 0.0);
        transpose_sub(v, u, rhs, rows, nx);
        apply_cap(rhs, tri);
        if st.explicit_dt != 0.0 {
            t.resize(cells, 0.0);
            transpose(u, t, rows, nx);
            for i in 0..nx {
                let (lo, hi) = (
                    i.checked_sub(1).map(|ii| &t[ii * rows..(ii + 1) * rows]),
                    (i + 1 < nx).then(|| &t[(i + 1) * rows..(i + 2) * rows]),
                );
                add_explicit_row(
                    &mut rhs[i * rows..(i + 1) * rows],
                    &t[i * rows..(i + 1) * rows],
                    lo,
                    hi,
                    tri,
                    i,
                    nx,
                    &k3,
                    st.explicit_dt,
                );
            }
        }
        thomas_forward(rhs, None, nx, rows, tri);
        thomas_back(rhs, None, nx, rows, tri);
        // Books of the x faces: entries of the end cells of every y-line.
        for (s, i) in [(0usize, 0usize), (1, nx - 1)] {
            let bc = sp.faces[s];
            if bc.kind == 0 {
                continue;
            }
            let us = (0..rows).map(|j| u[j * nx + i]);
            let delta = &rhs[i * rows..(i + 1) * rows];
            books.outflow[s] += end_outflow(tri, s, us, delta, bc, st);
        }
        // v_x = u + δ, back in plane order.
        transpose_add(rhs, u, v, rows, nx);
        // The x stage's loss share, booked here unless the y stage books it with its own.
        if sp.has_decay && !(y_stage && lay.sweep[1]) {
            for r in 0..rows {
                let row = r * nx..(r + 1) * nx;
                let (ur, vr, dr) = (&u[row.clone()], &v[row.clone()], &mut g[..nx]);
                for ((x, &a), &b) in dr.iter_mut().zip(vr).zip(ur) {
                    *x = a - b;
                }
                let dr = &g[..nx];
                let lost = &mut div[..nx];
                match sp.uniform_k {
                    Some(decay) => sweep_loss(lost, decay * k3.share, ur, dr, None, st.kappa, st.theta_dt),
                    None => {
                        for (x, &kk) in w[..nx].iter_mut().zip(&k0[row.clone()]) {
                            *x = kk * k3.share;
                        }
                        sweep_loss(lost, &w[..nx], ur, dr, None, st.kappa, st.theta_dt)
                    }
                }
                add_by_material(&mut books.decayed, lost, lay.row_material[k * ny + j0 + r], &mats[row]);
            }
        }
    }

    if y_stage && lay.sweep[1] {
        let (mut bufs, row) = ((&mut *rhs, &mut *lines), &mut div[..nx]);
        sweep_y(lay, sp, u, v, out, k, 0, st, lay.sweep[0], books, &mut bufs, row, cap_field);
    } else {
        out.copy_from_slice(v);
    }
}

/// Outflow through end face `side` (0 low, 1 high) of the lines of a sweep.
#[inline(always)]
fn end_outflow(
    tri: Tri<'_>,
    side: usize,
    us: impl Iterator<Item = f32>,
    delta: &[f32],
    bc: FaceBc,
    st: &StageCoefs,
) -> f64 {
    let c = tri.c;
    if c.flow() {
        let (gl, wl) = if side == 0 { (&c.g_lo[..], &c.w_lo[..]) } else { (&c.g_hi[..], &c.w_hi[..]) };
        return if tri.per_lane {
            adi_end_outflow_flow(us, delta, gl, wl, bc.value, st.kappa, st.theta_dt)
        } else {
            adi_end_outflow_flow(us, delta, gl[0], wl[0], bc.value, st.kappa, st.theta_dt)
        };
    }
    if tri.per_lane {
        let gl = if side == 0 { &tri.c.g_lo[..] } else { &tri.c.g_hi[..] };
        adi_end_outflow(us, delta, gl, bc.value, st.kappa, st.theta_dt)
    } else {
        let gl = if side == 0 { tri.c.g_lo[0] } else { tri.c.g_hi[0] };
        adi_end_outflow(us, delta, gl, bc.value, st.kappa, st.theta_dt)
    }
}

/// `r = div − k·u`, `rate = r` where kept, `v = u + λdt·r / cap`: the predictor's last lines.
#[inline(always)]
fn finish_prediction<L: Lane, C: Lane>(
    v: &mut [f32],
    rate: Option<&mut [f32]>,
    u: &[f32],
    div: &[f32],
    decay: L,
    lambda_dt: f32,
    cap: C,
) {
    let n = v.len();
    let (u, div, decay, cap) = (&u[..n], &div[..n], decay.window(0, n), cap.window(0, n));
    match rate {
        Some(rate) => {
            let rate = &mut rate[..n];
            for i in 0..n {
                let r = div[i] - decay.at(i) * u[i];
                rate[i] = r;
                v[i] = u[i] + lambda_dt * r / cap.at(i);
            }
        }
        None => {
            for i in 0..n {
                let r = div[i] - decay.at(i) * u[i];
                v[i] = u[i] + lambda_dt * r / cap.at(i);
            }
        }
    }
}

/// The y stage of `lanes = u.len() / ny` columns `x0..` of plane `k`: `u`, `v` (input) and
/// `out` (`v_y`) are `ny` rows of the block's lanes, contiguous. With `x_books`, `v` is the x
/// stage's `v_x` and the x stage's loss share is booked here too, with `δ_x` taken as
/// `v_x − u` (which differs from the solved `δ_x` by the rounding of `v_x`: a relative 3e-8 of
/// the booked decay at most, and it saves a pass and a transpose).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn sweep_y(
    lay: &Layout,
    sp: &SpeciesCoefs,
    u: &[f32],
    v: &[f32],
    out: &mut [f32],
    k: usize,
    x0: usize,
    st: &StageCoefs,
    x_books: bool,
    books: &mut PlaneBooks,
    (rhs, lines): &mut (&mut Vec<f32>, &mut LineCoefficients),
    lost: &mut [f32],
    cap: &[f32],
) {
    let [nx, ny, _] = lay.cells;
    let plane = nx * ny;
    let lanes = u.len() / ny;
    let at = |j: usize| k * plane + j * nx + x0..k * plane + j * nx + x0 + lanes;
    let mats = |j: usize| &lay.material[at(j)];
    let k3 = sp.sweep_constants(lay, 1, st);
    let tri = sp.tri(lay, 1, st, lines, (ny, lanes), mats, |j| if cap.is_empty() { cap } else { &cap[at(j)] });
    rhs.resize(ny * lanes, 0.0);
    if st.explicit_dt != 0.0 {
        for (x, (&a, &b)) in rhs.iter_mut().zip(v.iter().zip(u)) {
            *x = a - b;
        }
        apply_cap(rhs, tri);
        for j in 0..ny {
            let lo = j.checked_sub(1).map(|jj| &u[jj * lanes..(jj + 1) * lanes]);
            let hi = (j + 1 < ny).then(|| &u[(j + 1) * lanes..(j + 2) * lanes]);
            let r = &mut rhs[j * lanes..(j + 1) * lanes];
            add_explicit_row(r, &u[j * lanes..(j + 1) * lanes], lo, hi, tri, j, ny, &k3, st.explicit_dt);
        }
        thomas_forward(rhs, None, ny, lanes, tri);
    } else {
        thomas_forward(rhs, Some((v, u)), ny, lanes, tri);
    }
    thomas_back(rhs, Some((u, out)), ny, lanes, tri);
    for (s, j) in [(0usize, 0usize), (1, ny - 1)] {
        let bc = sp.faces[2 + s];
        if bc.kind == 0 {
            continue;
        }
        let us = u[j * lanes..(j + 1) * lanes].iter().copied();
        books.outflow[2 + s] += end_outflow(tri, s, us, &rhs[j * lanes..(j + 1) * lanes], bc, st);
    }
    if sp.has_decay {
        let lost = &mut lost[..lanes];
        for j in 0..ny {
            let (ur, dr) = (&u[j * lanes..(j + 1) * lanes], &rhs[j * lanes..(j + 1) * lanes]);
            let vx = x_books.then(|| &v[j * lanes..(j + 1) * lanes]);
            if tri.per_lane {
                sweep_loss(lost, tri.c.loss_row(j), ur, dr, vx, st.kappa, st.theta_dt);
            } else {
                sweep_loss(lost, tri.c.loss[j], ur, dr, vx, st.kappa, st.theta_dt);
            }
            add_by_material(&mut books.decayed, lost, lay.row_material[k * ny + j], mats(j));
        }
    }
}

super::with_avx2! {
    /// The y stage of the columns `x0..` of the single plane of one species: `parts[j]` is the
    /// block's part of row `j` of `c_next` (`v_x` in, `v_y` out), `c` the species' field.
    #[allow(clippy::too_many_arguments)]
    pub fn column_y_pass(
        lay: &Layout,
        sp: &SpeciesCoefs,
        c: &[f32],
        parts: &mut [&mut [f32]],
        x0: usize,
        st: &StageCoefs,
        cap: Option<&[f32]>,
        books: &mut PlaneBooks,
        scratch: &mut Scratch,
    ) => column_y_pass_body
}

/// The body of [`column_y_pass`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn column_y_pass_body(
    lay: &Layout,
    sp: &SpeciesCoefs,
    c: &[f32],
    parts: &mut [&mut [f32]],
    x0: usize,
    st: &StageCoefs,
    cap: Option<&[f32]>,
    books: &mut PlaneBooks,
    scratch: &mut Scratch,
) {
    let [nx, ny, _] = lay.cells;
    let lanes = parts[0].len();
    let Scratch { u, v, rhs, div, lines, k0: out, .. } = scratch;
    for buf in [&mut *u, &mut *v, &mut *out] {
        buf.resize(ny * lanes, 0.0);
    }
    div.resize(lanes, 0.0);
    for (j, part) in parts.iter().enumerate() {
        u[j * lanes..(j + 1) * lanes].copy_from_slice(&c[j * nx + x0..j * nx + x0 + lanes]);
        v[j * lanes..(j + 1) * lanes].copy_from_slice(part);
    }
    let mut bufs = (&mut *rhs, &mut *lines);
    let cap = cap.filter(|_| sp.binds).unwrap_or(&[]);
    sweep_y(lay, sp, u, v, out, 0, x0, st, false, books, &mut bufs, div, cap);
    for (j, part) in parts.iter_mut().enumerate() {
        part.copy_from_slice(&out[j * lanes..(j + 1) * lanes]);
    }
}

/// The rows around an x-row with neighbours on all four y and z sides.
struct InteriorRow<'a> {
    u: &'a [f32],
    ym: &'a [f32],
    yp: &'a [f32],
    zm: &'a [f32],
    zp: &'a [f32],
}

/// `r = A u`, `v = u + λdt·r` on such a row, for a species with one diffusivity (face
/// coefficients `w` per axis, x end conductances `g`) and one decay rate: the terms in
/// `adi_predictor`'s order (x low, x high, y low, y high, z low, z high, decay).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn predict_interior_row(
    v: &mut [f32],
    r: &InteriorRow<'_>,
    decay: f32,
    w: [f32; 3],
    g: [f32; 2],
    bc: [FaceBc; 2],
    inv_h: f32,
    lambda_dt: f32,
    mut rate: Option<&mut [f32]>,
    cap: impl Lane,
) {
    let n = v.len();
    let cap = cap.window(0, n);
    let (u, ym, yp, zm, zp) = (&r.u[..n], &r.ym[..n], &r.yp[..n], &r.zm[..n], &r.zp[..n]);
    let [wx, wy, wz] = w;
    // The end cells, with their x boundary faces.
    for i in [0, n - 1] {
        let c = u[i];
        let mut d = 0.0f32;
        if i == 0 {
            if bc[0].kind != 0 {
                d -= g[0] * (c - bc[0].value) * inv_h;
            }
        } else {
            d += wx * (u[i - 1] - c);
        }
        if i + 1 == n {
            if bc[1].kind != 0 {
                d -= g[1] * (c - bc[1].value) * inv_h;
            }
        } else {
            d += wx * (u[i + 1] - c);
        }
        d += wy * (ym[i] - c);
        d += wy * (yp[i] - c);
        d += wz * (zm[i] - c);
        d += wz * (zp[i] - c);
        let rr = d - decay * c;
        if let Some(rate) = rate.as_deref_mut() {
            rate[i] = rr;
        }
        v[i] = c + lambda_dt * rr / cap.at(i);
    }
    if n > 2 {
        let inner = &mut v[1..n - 1];
        let (left, mid, right) = (&u[..n - 2], &u[1..n - 1], &u[2..]);
        let (ym, yp, zm, zp) = (&ym[1..n - 1], &yp[1..n - 1], &zm[1..n - 1], &zp[1..n - 1]);
        let rate = rate.map(|r| &mut r[1..n - 1]);
        // The loop is written out twice (with and without the rate) so that each vectorises.
        match rate {
            Some(rate) => {
                let rate = &mut rate[..n - 2];
                for i in 0..n - 2 {
                    let c = mid[i];
                    let rr = interior_rate(c, [left[i], right[i], ym[i], yp[i], zm[i], zp[i]], [wx, wy, wz], decay);
                    rate[i] = rr;
                    inner[i] = c + lambda_dt * rr / cap.at(i + 1);
                }
            }
            None => {
                for i in 0..n - 2 {
                    let c = mid[i];
                    let rr = interior_rate(c, [left[i], right[i], ym[i], yp[i], zm[i], zp[i]], [wx, wy, wz], decay);
                    inner[i] = c + lambda_dt * rr / cap.at(i + 1);
                }
            }
        }
    }
}

/// Asks for the cache lines of `x` ahead of their use (a hint; nothing on other targets).
#[inline(always)]
fn prefetch(x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in x.chunks(16) {
        // SAFETY: a prefetch of an address inside a live slice; it has no effect on memory.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

super::with_avx2! {
    /// z stage of a block of y-rows `j0..` of one species through all planes: `c[k]` is the
    /// block's part of plane `k` of the field (updated in place), `cn` the species' whole `v_y`
    /// field from the earlier passes.
    #[allow(clippy::too_many_arguments)]
    pub fn column_pass(
        lay: &Layout,
        sp: &SpeciesCoefs,
        c: &mut [&mut [f32]],
        cn: &[f32],
        j0: usize,
        st: &StageCoefs,
        cap: Option<&[f32]>,
        books: &mut PlaneBooks,
        scratch: &mut Scratch,
    ) => column_pass_body
}

/// The body of [`column_pass`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn column_pass_body(
    lay: &Layout,
    sp: &SpeciesCoefs,
    c: &mut [&mut [f32]],
    cn: &[f32],
    j0: usize,
    st: &StageCoefs,
    cap: Option<&[f32]>,
    books: &mut PlaneBooks,
    scratch: &mut Scratch,
) {
    let [nx, ny, nz] = lay.cells;
    let plane = nx * ny;
    let lanes = c[0].len();
    let offset = j0 * nx;
    let mats = |kk: usize| &lay.material[kk * plane + offset..kk * plane + offset + lanes];
    let Scratch { rhs, div, nb, lines, .. } = scratch;
    rhs.resize(nz * lanes, 0.0);
    div.resize(lanes, 0.0);
    let cn_row = |k: usize| &cn[k * plane + offset..k * plane + offset + lanes];
    let k3 = sp.sweep_constants(lay, 2, st);
    let cap = cap.filter(|_| sp.binds).unwrap_or(&[]);
    let caps = |kk: usize| if cap.is_empty() { cap } else { &cap[kk * plane + offset..kk * plane + offset + lanes] };
    let tri = sp.tri(lay, 2, st, lines, (nz, lanes), mats, caps);
    // Forward elimination with r = v_y − u. The block's rows are a plane apart, too far for the
    // hardware prefetcher: fetch two planes ahead.
    for k in 0..nz {
        if k + 2 < nz {
            prefetch(c[k + 2]);
            prefetch(cn_row(k + 2));
        }
        let (before, rest) = rhs.split_at_mut(k * lanes);
        let here = &mut rest[..lanes];
        let prev = if k > 0 { Some(&before[(k - 1) * lanes..]) } else { None };
        let (ck, vk) = (&*c[k], cn_row(k));
        if st.explicit_dt != 0.0 {
            for ((x, &a), &b) in here.iter_mut().zip(vk).zip(ck) {
                *x = a - b;
            }
            if !cap.is_empty() {
                for (x, &cp) in here.iter_mut().zip(caps(k)) {
                    *x *= cp;
                }
            }
            let lo = k.checked_sub(1).map(|kk| &*c[kk]);
            let hi = (k + 1 < nz).then(|| &*c[k + 1]);
            add_explicit_row(here, ck, lo, hi, tri, k, nz, &k3, st.explicit_dt);
            match tri.per_lane {
                false => z_forward(here, prev, None, tri.c.sub[k], tri.c.m[k], 1.0f32),
                true => z_forward(here, prev, None, tri.c.sub_row(k), tri.c.m_row(k), 1.0f32),
            }
        } else {
            let diff = Some((vk, ck));
            match (tri.per_lane, cap.is_empty()) {
                (false, _) => z_forward(here, prev, diff, tri.c.sub[k], tri.c.m[k], 1.0f32),
                (true, true) => z_forward(here, prev, diff, tri.c.sub_row(k), tri.c.m_row(k), 1.0f32),
                (true, false) => z_forward(here, prev, diff, tri.c.sub_row(k), tri.c.m_row(k), caps(k)),
            }
        }
    }
    // u of the end planes, for the books, before `c` is overwritten.
    for (side, k) in [(0usize, 0usize), (1, nz - 1)] {
        if sp.faces[4 + side].kind != 0 {
            nb[side].resize(lanes, 0.0);
            nb[side].copy_from_slice(c[k]);
        }
    }
    // Back substitution, v_z = u + δ into `c`, and the loss share.
    for k in (0..nz).rev() {
        let (head, tail) = rhs.split_at_mut((k + 1) * lanes);
        let here = &mut head[k * lanes..];
        let next = if k + 1 < nz { Some(&tail[..lanes]) } else { None };
        let ck = &mut *c[k];
        let lost = &mut div[..lanes];
        let (kappa, theta_dt) = (st.kappa, st.theta_dt);
        match tri.per_lane {
            false => z_back(here, next, ck, lost, tri.c.loss[k], tri.c.sup[k], kappa, theta_dt),
            true => z_back(here, next, ck, lost, tri.c.loss_row(k), tri.c.sup_row(k), kappa, theta_dt),
        }
        if sp.has_decay {
            for (r, (row, m)) in lost.chunks(nx).zip(mats(k).chunks(nx)).enumerate() {
                add_by_material(&mut books.decayed, row, lay.row_material[k * ny + j0 + r], m);
            }
        }
    }
    for (side, k) in [(0usize, 0usize), (1, nz - 1)] {
        let bc = sp.faces[4 + side];
        if bc.kind == 0 {
            continue;
        }
        let delta = &rhs[k * lanes..(k + 1) * lanes];
        books.outflow[4 + side] += end_outflow(tri, side, nb[side].iter().copied(), delta, bc, st);
    }
}

/// One row of the z stage's forward elimination: `rhs = (r − sub·prev) / m` with
/// `r = cap·(v − c)` given `diff = (v, c)`, else the row itself.
#[inline(always)]
fn z_forward<L: Lane, C: Lane>(
    rhs: &mut [f32],
    prev: Option<&[f32]>,
    diff: Option<(&[f32], &[f32])>,
    sub: L,
    m: L,
    cap: C,
) {
    let n = rhs.len();
    let (sub, m, cap) = (sub.window(0, n), m.window(0, n), cap.window(0, n));
    let prev = prev.map(|p| &p[..n]);
    match (diff, prev) {
        (Some((v, c)), Some(prev)) => {
            let (v, c) = (&v[..n], &c[..n]);
            for l in 0..n {
                rhs[l] = (cap.at(l) * (v[l] - c[l]) - sub.at(l) * prev[l]) / m.at(l);
            }
        }
        (Some((v, c)), None) => {
            let (v, c) = (&v[..n], &c[..n]);
            for l in 0..n {
                rhs[l] = (cap.at(l) * (v[l] - c[l]) - sub.at(l) * 0.0) / m.at(l);
            }
        }
        (None, Some(prev)) => {
            for l in 0..n {
                rhs[l] = (rhs[l] - sub.at(l) * prev[l]) / m.at(l);
            }
        }
        (None, None) => {
            for (l, x) in rhs.iter_mut().enumerate() {
                *x = (*x - sub.at(l) * 0.0) / m.at(l);
            }
        }
    }
}

/// One row of the z stage's back substitution, fused with `v = u + δ` and the loss share:
/// `δ = rhs − sup·next` (kept in `rhs`), `lost = loss·(κ·c + θdt·δ)`, `c ← c + δ`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn z_back<L: Lane>(
    rhs: &mut [f32],
    next: Option<&[f32]>,
    c: &mut [f32],
    lost: &mut [f32],
    loss: L,
    sup: L,
    kappa: f32,
    theta_dt: f32,
) {
    let n = rhs.len();
    let (c, lost, loss, sup) = (&mut c[..n], &mut lost[..n], loss.window(0, n), sup.window(0, n));
    let step = |l: usize, d: f32, rhs: &mut [f32], c: &mut [f32], lost: &mut [f32]| {
        rhs[l] = d;
        lost[l] = loss.at(l) * (kappa * c[l] + theta_dt * d);
        c[l] += d;
    };
    match next {
        Some(next) => {
            let next = &next[..n];
            for l in 0..n {
                step(l, rhs[l] - sup.at(l) * next[l], rhs, c, lost);
            }
        }
        None => {
            for l in 0..n {
                step(l, rhs[l] - sup.at(l) * 0.0, rhs, c, lost);
            }
        }
    }
}

/// `A u` of an interior cell of value `c` whose six neighbours are `nb` (x−, x+, y−, y+, z−,
/// z+) with uniform face coefficients `w` per axis, in the reference's operation order.
#[inline(always)]
fn interior_rate(c: f32, nb: [f32; 6], w: [f32; 3], decay: f32) -> f32 {
    let mut d = 0.0f32;
    for (j, &x) in nb.iter().enumerate() {
        d += w[j / 2] * (x - c);
    }
    d - decay * c
}
