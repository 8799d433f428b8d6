//! One Douglas ADI step (θ, dt given) with Strang-split exact decay, in two fused passes.
//!
//! The reference (`src/solver/cpu/mod.rs`) runs `react_half_step`, `adi_predictor`, one
//! `adi_sweep` per axis and `react_half_step` again, each over the whole field. Here:
//!
//! - [`plane_pass`], one z-plane of one species per task: the reacted field `u = c·e^{−k·dt/2}`
//!   of the plane (and of the neighbouring planes' rows where the predictor needs them, computed
//!   again rather than stored, so `c` stays untouched for the neighbours' tasks), the predictor
//!   `v₀ = u + dt·A u`, the x stage (on a transposed copy of the plane, so that the Thomas
//!   recurrence runs over x with the plane's y-lines as vector lanes) and the y stage (recurrence
//!   over y, x-rows as lanes); writes `v_y` to `c_next`.
//! - [`column_pass`], a block of whole y-rows through every z-plane of one species per task: the
//!   z stage (recurrence over z, the block's cells as lanes, `u` recomputed from `c`), then the
//!   second reaction half step; writes the new field into `c` in place (each task owns its cells).
//!
//! Every stage solves for the increment `δ = v_a − u` as `adi_sweep` does and forms
//! `v_a = u + δ` before the next stage takes `v_a − u`, so each cell sees the reference's
//! operations in the reference's order.

use super::kernels::{
    Lane, Side, Tri, add_by_material, add_side, adi_end_outflow, conductances, face_coefficients, start_x_terms,
    thomas_back, thomas_forward, transpose_add, transpose_sub,
};
use super::{Layout, PlaneBooks, Scratch, SpeciesCoefs, SweepStep};
use crate::solver::FaceBc;
use crate::solver::cpu::diffuse_explicit::boundary_conductance;

super::with_avx2! {
    /// Reaction, predictor, x and y stages of plane `k` of one species (see the module docs).
    #[allow(clippy::too_many_arguments)]
    pub fn plane_pass(
        lay: &Layout,
        sp: &SpeciesCoefs,
        c: &[f32],
        out: &mut [f32],
        k: usize,
        step: &SweepStep,
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
    step: &SweepStep,
    books: &mut PlaneBooks,
    scratch: &mut Scratch,
) {
    let [nx, ny, nz] = lay.cells;
    let plane = nx * ny;
    let (dt, theta_dt) = (step.dt, step.theta_dt);
    let bcs = &sp.faces;
    let per_cell_d = sp.uniform_d.is_none();
    let per_cell_e = sp.uniform_e.is_none();
    let mats = |kk: usize| &lay.material[kk * plane..(kk + 1) * plane];
    if per_cell_d {
        for (dz, buf) in scratch.d3.iter_mut().enumerate() {
            if let Some(kk) = (k + dz).checked_sub(1).filter(|&kk| kk < nz) {
                buf.resize(plane, 0.0);
                sp.fill_d(buf, mats(kk));
            }
        }
    }
    if per_cell_e {
        for (dz, buf) in scratch.e3.iter_mut().enumerate() {
            if let Some(kk) = (k + dz).checked_sub(1).filter(|&kk| kk < nz) {
                buf.resize(plane, 0.0);
                sp.fill_e(buf, mats(kk));
            }
        }
    }
    let Scratch { d3, e3, u, v, rhs, div, w, g, nb, lines, .. } = scratch;
    for buf in [&mut *u, &mut *v, &mut *rhs] {
        buf.resize(plane, 0.0);
    }
    div.resize(nx, 0.0);
    w.resize(nx, 0.0);
    g.resize(nx.max(ny), 0.0);
    for b in nb.iter_mut() {
        b.resize(nx, 0.0);
    }

    // First reaction half step of the plane: u = c·e, booking c − u.
    let ck = &c[k * plane..(k + 1) * plane];
    for j in 0..ny {
        let row = j * nx..(j + 1) * nx;
        let ur = &mut u[row.clone()];
        match sp.uniform_e {
            Some(e) => react(ur, &ck[row.clone()], e),
            None => react(ur, &ck[row.clone()], &e3[1][row.clone()]),
        }
        let lost = &mut div[..nx];
        for ((x, &b), &a) in lost.iter_mut().zip(&ck[row.clone()]).zip(&*ur) {
            *x = b - a;
        }
        add_by_material(&mut books.decayed, lost, lay.row_material[k * ny + j], &mats(k)[row]);
    }

    // Predictor v₀ = u + dt·A u, row by row.
    let d_uniform = sp.uniform_d.unwrap_or(0.0);
    for j in 0..ny {
        let row = j * nx..(j + 1) * nx;
        if let (Some(d), Some(e), true) = (sp.uniform_d, sp.uniform_e, j > 0 && j + 1 < ny && k > 0 && k + 1 < nz) {
            // A row with neighbours on all four y and z sides, one diffusivity and decay: all
            // six terms in one loop.
            let g = [0, 1].map(|s| boundary_conductance(bcs[s], d, lay.half_h[0]));
            let rows = InteriorRow {
                u: &u[row.clone()],
                ym: &u[row.start - nx..row.end - nx],
                yp: &u[row.start + nx..row.end + nx],
                zm: &c[(k - 1) * plane + row.start..(k - 1) * plane + row.end],
                zp: &c[(k + 1) * plane + row.start..(k + 1) * plane + row.end],
            };
            predict_interior_row(&mut v[row], &rows, e, sp.uniform_w, g, [bcs[0], bcs[1]], lay.inv_h[0], dt);
            continue;
        }
        let ur = &u[row.clone()];
        let div = &mut div[..nx];
        let d_row: &[f32] = if per_cell_d { &d3[1][row.clone()] } else { &[] };
        let d_end = |i: usize| if per_cell_d { d_row[i] } else { d_uniform };
        let gx = [0, 1].map(|s| boundary_conductance(bcs[s], d_end(if s == 0 { 0 } else { nx - 1 }), lay.half_h[0]));
        if per_cell_d {
            face_coefficients(&mut w[..nx - 1], &d_row[..nx - 1], &d_row[1..], lay.inv_h2[0]);
            start_x_terms(div, ur, &w[..nx - 1], gx, [bcs[0], bcs[1]], lay.inv_h[0]);
        } else {
            start_x_terms(div, ur, sp.uniform_w[0], gx, [bcs[0], bcs[1]], lay.inv_h[0]);
        }
        // The z neighbours' rows, reacted.
        for (side, kk) in [(0, k.checked_sub(1)), (1, Some(k + 1).filter(|&kk| kk < nz))] {
            if let Some(kk) = kk {
                let src = &c[kk * plane + row.start..kk * plane + row.end];
                let dz = if side == 0 { 0 } else { 2 };
                match sp.uniform_e {
                    Some(e) => react(&mut nb[side], src, e),
                    None => react(&mut nb[side], src, &e3[dz][row.clone()]),
                }
            }
        }
        let sides = [
            (1, j.checked_sub(1).map(|jj| (&u[jj * nx..(jj + 1) * nx], 1, jj * nx))),
            (1, (j + 1 < ny).then(|| (&u[(j + 1) * nx..(j + 2) * nx], 1, (j + 1) * nx))),
            (2, k.checked_sub(1).map(|_| (&nb[0][..], 0, j * nx))),
            (2, (k + 1 < nz).then(|| (&nb[1][..], 2, j * nx))),
        ];
        for (n, &(axis, neighbour)) in sides.iter().enumerate() {
            let face = 2 * axis + n % 2;
            let bc = bcs[face];
            match neighbour {
                Some((nbr, dz, d_start)) => {
                    if per_cell_d {
                        face_coefficients(&mut w[..nx], d_row, &d3[dz][d_start..d_start + nx], lay.inv_h2[axis]);
                        add_side(div, ur, Side::Interior { w: &w[..nx], nb: nbr });
                    } else {
                        add_side(div, ur, Side::Interior { w: sp.uniform_w[axis], nb: nbr });
                    }
                }
                None if bc.kind != 0 => {
                    let (value, inv_h) = (bc.value, lay.inv_h[axis]);
                    if per_cell_d {
                        conductances(&mut g[..nx], d_row, bc, lay.half_h[axis]);
                        add_side(div, ur, Side::Boundary { g: &g[..nx], value, inv_h });
                    } else {
                        let g = boundary_conductance(bc, d_uniform, lay.half_h[axis]);
                        add_side(div, ur, Side::Boundary { g, value, inv_h });
                    }
                }
                None => {}
            }
        }
        for ((x, &a), &d) in v[row].iter_mut().zip(ur).zip(&*div) {
            *x = a + dt * d;
        }
    }

    // x stage: transpose v − u so that the plane's y-lines are the lanes of a recurrence over x.
    if lay.sweep[0] {
        transpose_sub(v, u, rhs, ny, nx);
        let tri = if per_cell_d {
            let k3 = sp.sweep_constants(lay, 0, theta_dt);
            let dp = &d3[1];
            lines.compute(nx, ny, &k3, |i, row| {
                for (j, x) in row.iter_mut().enumerate() {
                    *x = dp[j * nx + i];
                }
            });
            Tri { c: lines, per_lane: true }
        } else {
            Tri { c: &sp.lines[0], per_lane: false }
        };
        thomas_forward(rhs, None, nx, ny, tri);
        thomas_back(rhs, None, nx, ny, tri);
        // Books of the x faces: entries of the end cells of every y-line.
        for (s, i) in [(0usize, 0usize), (1, nx - 1)] {
            let bc = bcs[s];
            if bc.kind == 0 {
                continue;
            }
            let us = (0..ny).map(|j| u[j * nx + i]);
            let delta = &rhs[i * ny..(i + 1) * ny];
            books.outflow[s] += if tri.per_lane {
                let gl = if s == 0 { &tri.c.g_lo[..] } else { &tri.c.g_hi[..] };
                adi_end_outflow(us, delta, gl, bc.value, dt, theta_dt)
            } else {
                let gl = if s == 0 { tri.c.g_lo[0] } else { tri.c.g_hi[0] };
                adi_end_outflow(us, delta, gl, bc.value, dt, theta_dt)
            };
        }
        // v_x = u + δ, back in plane order.
        transpose_add(rhs, u, v, ny, nx);
    }

    // y stage: recurrence over y, the plane's x-rows as lanes.
    if lay.sweep[1] {
        let tri = if per_cell_d {
            let k3 = sp.sweep_constants(lay, 1, theta_dt);
            let dp = &d3[1];
            lines.compute(ny, nx, &k3, |j, row| row.copy_from_slice(&dp[j * nx..(j + 1) * nx]));
            Tri { c: lines, per_lane: true }
        } else {
            Tri { c: &sp.lines[1], per_lane: false }
        };
        thomas_forward(rhs, Some((v, u)), ny, nx, tri);
        thomas_back(rhs, Some((u, out)), ny, nx, tri);
        for (s, j) in [(0usize, 0usize), (1, ny - 1)] {
            let bc = bcs[2 + s];
            if bc.kind == 0 {
                continue;
            }
            let us = u[j * nx..(j + 1) * nx].iter().copied();
            let delta = &rhs[j * nx..(j + 1) * nx];
            books.outflow[2 + s] += if tri.per_lane {
                let gl = if s == 0 { &tri.c.g_lo[..] } else { &tri.c.g_hi[..] };
                adi_end_outflow(us, delta, gl, bc.value, dt, theta_dt)
            } else {
                let gl = if s == 0 { tri.c.g_lo[0] } else { tri.c.g_hi[0] };
                adi_end_outflow(us, delta, gl, bc.value, dt, theta_dt)
            };
        }
    } else {
        out.copy_from_slice(&v[..plane]);
    }
}

/// The rows around an x-row with neighbours on all four y and z sides: reacted `u` of the row
/// and of its y neighbours, unreacted `c` of its z neighbours.
struct InteriorRow<'a> {
    u: &'a [f32],
    ym: &'a [f32],
    yp: &'a [f32],
    zm: &'a [f32],
    zp: &'a [f32],
}

/// `v = u + dt·A u` on such a row, for a species with one diffusivity (face coefficients `w`
/// per axis, x end conductances `g`) and one reaction factor `e`: the terms in
/// `adi_predictor`'s order (x low, x high, y low, y high, z low, z high), z neighbours reacted on
/// the way.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn predict_interior_row(
    v: &mut [f32],
    r: &InteriorRow<'_>,
    e: f32,
    w: [f32; 3],
    g: [f32; 2],
    bc: [FaceBc; 2],
    inv_h: f32,
    dt: f32,
) {
    let n = v.len();
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
        d += wz * (zm[i] * e - c);
        d += wz * (zp[i] * e - c);
        v[i] = c + dt * d;
    }
    if n > 2 {
        let inner = &mut v[1..n - 1];
        let (left, mid, right) = (&u[..n - 2], &u[1..n - 1], &u[2..]);
        let (ym, yp, zm, zp) = (&ym[1..n - 1], &yp[1..n - 1], &zm[1..n - 1], &zp[1..n - 1]);
        for i in 0..n - 2 {
            let c = mid[i];
            let mut d = 0.0f32;
            d += wx * (left[i] - c);
            d += wx * (right[i] - c);
            d += wy * (ym[i] - c);
            d += wy * (yp[i] - c);
            d += wz * (zm[i] * e - c);
            d += wz * (zp[i] * e - c);
            inner[i] = c + dt * d;
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

/// `u = c·e` lane by lane.
#[inline(always)]
fn react<L: Lane>(u: &mut [f32], c: &[f32], e: L) {
    let n = u.len();
    let (c, e) = (&c[..n], e.window(0, n));
    for i in 0..n {
        u[i] = c[i] * e.at(i);
    }
}

super::with_avx2! {
    /// z stage and second reaction half step of a block of y-rows `j0..` of one species through all
    /// planes: `c[k]` is the block's part of plane `k` of the field (updated in place), `cn` the
    /// species' whole `v_y` field from [`plane_pass`].
    #[allow(clippy::too_many_arguments)]
    pub fn column_pass(
        lay: &Layout,
        sp: &SpeciesCoefs,
        c: &mut [&mut [f32]],
        cn: &[f32],
        j0: usize,
        step: &SweepStep,
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
    step: &SweepStep,
    books: &mut PlaneBooks,
    scratch: &mut Scratch,
) {
    let [nx, ny, nz] = lay.cells;
    let plane = nx * ny;
    let lanes = c[0].len();
    let offset = j0 * nx;
    let (dt, theta_dt) = (step.dt, step.theta_dt);
    let bcs = &sp.faces;
    let mats = |kk: usize| &lay.material[kk * plane + offset..kk * plane + offset + lanes];
    let Scratch { e3, rhs, div, nb, lines, .. } = scratch;
    // Per-cell reaction factors of the whole block, if the species needs them.
    let [e_block, ..] = e3;
    if sp.uniform_e.is_none() {
        e_block.resize(nz * lanes, 0.0);
        for k in 0..nz {
            sp.fill_e(&mut e_block[k * lanes..(k + 1) * lanes], mats(k));
        }
    }
    let e_block: &[f32] = e_block;
    let e_row = |k: usize| &e_block[k * lanes..(k + 1) * lanes];
    rhs.resize(nz * lanes, 0.0);
    div.resize(lanes, 0.0);
    let cn_row = |k: usize| &cn[k * plane + offset..k * plane + offset + lanes];

    if lay.sweep[2] {
        let tri = if sp.uniform_d.is_none() {
            let k3 = sp.sweep_constants(lay, 2, theta_dt);
            lines.compute(nz, lanes, &k3, |k, row| sp.fill_d(row, mats(k)));
            Tri { c: lines, per_lane: true }
        } else {
            Tri { c: &sp.lines[2], per_lane: false }
        };
        // Forward elimination with r = v_y − u, u = c·e formed on the way. The block's rows are
        // a plane apart, too far for the hardware prefetcher: fetch two planes ahead.
        for k in 0..nz {
            if k + 2 < nz {
                prefetch(c[k + 2]);
                prefetch(cn_row(k + 2));
            }
            let (before, rest) = rhs.split_at_mut(k * lanes);
            let here = &mut rest[..lanes];
            let prev = if k > 0 { Some(&before[(k - 1) * lanes..]) } else { None };
            let (ck, vk) = (&*c[k], cn_row(k));
            match (sp.uniform_e, tri.per_lane) {
                (Some(e), false) => z_forward(here, prev, vk, ck, e, tri.c.sub[k], tri.c.m[k]),
                (Some(e), true) => z_forward(here, prev, vk, ck, e, tri.c.sub_row(k), tri.c.m_row(k)),
                (None, false) => z_forward(here, prev, vk, ck, e_row(k), tri.c.sub[k], tri.c.m[k]),
                (None, true) => z_forward(here, prev, vk, ck, e_row(k), tri.c.sub_row(k), tri.c.m_row(k)),
            }
        }
        // u of the end planes, for the books, before `c` is overwritten.
        for (side, k) in [(0usize, 0usize), (1, nz - 1)] {
            nb[side].resize(lanes, 0.0);
            if bcs[4 + side].kind != 0 {
                match sp.uniform_e {
                    Some(e) => react(&mut nb[side], c[k], e),
                    None => react(&mut nb[side], c[k], e_row(k)),
                }
            }
        }
        // Back substitution, v_z = u + δ, then the second reaction half step into `c`.
        for k in (0..nz).rev() {
            let (head, tail) = rhs.split_at_mut((k + 1) * lanes);
            let here = &mut head[k * lanes..];
            let next = if k + 1 < nz { Some(&tail[..lanes]) } else { None };
            let ck = &mut *c[k];
            let lost = &mut div[..lanes];
            match (sp.uniform_e, tri.per_lane) {
                (Some(e), false) => z_back(here, next, ck, lost, e, tri.c.sup[k]),
                (Some(e), true) => z_back(here, next, ck, lost, e, tri.c.sup_row(k)),
                (None, false) => z_back(here, next, ck, lost, e_row(k), tri.c.sup[k]),
                (None, true) => z_back(here, next, ck, lost, e_row(k), tri.c.sup_row(k)),
            }
            book_decay(lay, books, lost, mats(k), k, j0);
        }
        for (side, k) in [(0usize, 0usize), (1, nz - 1)] {
            let bc = bcs[4 + side];
            if bc.kind == 0 {
                continue;
            }
            let delta = &rhs[k * lanes..(k + 1) * lanes];
            let us = nb[side].iter().copied();
            books.outflow[4 + side] += if tri.per_lane {
                let gl = if side == 0 { &tri.c.g_lo[..] } else { &tri.c.g_hi[..] };
                adi_end_outflow(us, delta, gl, bc.value, dt, theta_dt)
            } else {
                let gl = if side == 0 { tri.c.g_lo[0] } else { tri.c.g_hi[0] };
                adi_end_outflow(us, delta, gl, bc.value, dt, theta_dt)
            };
        }
    } else {
        // No z stage: v_z = v_y; the second reaction half step into `c`.
        for (k, ck) in c.iter_mut().enumerate() {
            let (ck, vk) = (&mut **ck, cn_row(k));
            let lost = &mut div[..lanes];
            match sp.uniform_e {
                Some(e) => react_lost(ck, vk, lost, e),
                None => react_lost(ck, vk, lost, e_row(k)),
            }
            book_decay(lay, books, lost, mats(k), k, j0);
        }
    }
}

/// Adds the decay `lost` of the block's part of plane `k` (whole x-rows from row `j0`) to the
/// books by material.
#[inline(always)]
fn book_decay(lay: &Layout, books: &mut PlaneBooks, lost: &[f32], mats: &[u32], k: usize, j0: usize) {
    let [nx, ny, _] = lay.cells;
    for (r, (row, m)) in lost.chunks(nx).zip(mats.chunks(nx)).enumerate() {
        add_by_material(&mut books.decayed, row, lay.row_material[k * ny + j0 + r], m);
    }
}

/// One row of the z stage's forward elimination: `rhs = ((v − c·e) − sub·prev) / m`.
#[inline(always)]
fn z_forward<E: Lane, L: Lane>(rhs: &mut [f32], prev: Option<&[f32]>, v: &[f32], c: &[f32], e: E, sub: L, m: L) {
    let n = rhs.len();
    let (v, c, e, sub, m) = (&v[..n], &c[..n], e.window(0, n), sub.window(0, n), m.window(0, n));
    match prev {
        Some(prev) => {
            let prev = &prev[..n];
            for l in 0..n {
                rhs[l] = (v[l] - c[l] * e.at(l) - sub.at(l) * prev[l]) / m.at(l);
            }
        }
        None => {
            for l in 0..n {
                rhs[l] = (v[l] - c[l] * e.at(l) - sub.at(l) * 0.0) / m.at(l);
            }
        }
    }
}

/// One row of the z stage's back substitution, fused with `v = u + δ` and the second reaction
/// half step: `δ = rhs − sup·next` (kept in `rhs`), `c ← (c·e + δ)·e`, `lost = v − c`.
#[inline(always)]
fn z_back<E: Lane, L: Lane>(rhs: &mut [f32], next: Option<&[f32]>, c: &mut [f32], lost: &mut [f32], e: E, sup: L) {
    let n = rhs.len();
    let (c, lost, e, sup) = (&mut c[..n], &mut lost[..n], e.window(0, n), sup.window(0, n));
    let step = |l: usize, d: f32, rhs: &mut [f32], c: &mut [f32], lost: &mut [f32]| {
        rhs[l] = d;
        let v = c[l] * e.at(l) + d;
        let after = v * e.at(l);
        lost[l] = v - after;
        c[l] = after;
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

/// The second reaction half step without a z stage: `c = v·e`, `lost = v − c`.
#[inline(always)]
fn react_lost<E: Lane>(c: &mut [f32], v: &[f32], lost: &mut [f32], e: E) {
    let n = c.len();
    let (v, lost, e) = (&v[..n], &mut lost[..n], e.window(0, n));
    for l in 0..n {
        let after = v[l] * e.at(l);
        lost[l] = v[l] - after;
        c[l] = after;
    }
}
