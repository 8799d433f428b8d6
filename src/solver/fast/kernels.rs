//! Row kernels shared by both schemes of the fast engine.
//!
//! Every loop here runs over whole rows of cells (or whole rows of grid lines) with the same
//! arithmetic per lane as the reference twins (`src/solver/cpu/`), in the same order, so each
//! lane's result is the reference's to the last bit; the compiler vectorises across lanes.
//! Coefficients are a [`Lane`]: one value for the whole row (a species whose diffusivity, or
//! decay, is the same in every material) or one per lane.

use crate::solver::FaceBc;
use crate::solver::cpu::diffuse_explicit::{boundary_conductance, face_diffusivity};

/// A coefficient along a row: the same for every lane (`f32`) or one per lane (`&[f32]`).
pub trait Lane: Copy {
    /// The value at lane `i`.
    fn at(self, i: usize) -> f32;
    /// The lanes `start..start + len` (a no-op for a single value); slicing up front lets the
    /// compiler drop the bounds checks inside the loops.
    fn window(self, start: usize, len: usize) -> Self;
}

impl Lane for f32 {
    #[inline(always)]
    fn at(self, _: usize) -> f32 {
        self
    }
    #[inline(always)]
    fn window(self, _: usize, _: usize) -> Self {
        self
    }
}

impl Lane for &[f32] {
    #[inline(always)]
    fn at(self, i: usize) -> f32 {
        self[i]
    }
    #[inline(always)]
    fn window(self, start: usize, len: usize) -> Self {
        &self[start..start + len]
    }
}

/// One y or z side of a row of cells in the divergence `A u` (see [`add_side`]).
#[derive(Clone, Copy)]
pub enum Side<'a, L: Lane> {
    /// Interior faces to the neighbouring row `nb`, with face coefficients `w = D_f/h²` (1/s).
    Interior { w: L, nb: &'a [f32] },
    /// Boundary faces with conductance `g` (m/s), outside value `value`, `1/h` (1/m).
    Boundary { g: L, value: f32, inv_h: f32 },
    /// No-flux boundary faces: nothing to add.
    Closed,
}

/// `div[i] += term of the side`, as `diffuse_explicit`/`adi_predictor` add it: interior
/// `w·(u_nb − u)`, boundary `−g·(u − c_b)·(1/h)`.
#[inline(always)]
pub fn add_side<L: Lane>(div: &mut [f32], u: &[f32], side: Side<'_, L>) {
    let n = div.len();
    let u = &u[..n];
    match side {
        Side::Interior { w, nb } => {
            let nb = &nb[..n];
            let w = w.window(0, n);
            for i in 0..n {
                div[i] += w.at(i) * (nb[i] - u[i]);
            }
        }
        Side::Boundary { g, value, inv_h } => {
            let g = g.window(0, n);
            for i in 0..n {
                div[i] -= g.at(i) * (u[i] - value) * inv_h;
            }
        }
        Side::Closed => {}
    }
}

/// Σ over a row of the amount per face area that leaves through boundary faces during an
/// explicit step, `g·(u − c_b)·dt` per cell (the reference's `flux · dt`), in f64.
#[inline(always)]
pub fn explicit_side_outflow<L: Lane>(u: &[f32], g: L, value: f32, dt: f32) -> f64 {
    let g = g.window(0, u.len());
    let mut acc = Acc::default();
    for (i, &c) in u.iter().enumerate() {
        acc.push(i, (g.at(i) * (c - value) * dt) as f64);
    }
    acc.total()
}

/// The x terms of the divergence of one row: `div = 0 + (x-low term) + (x-high term)`, with
/// `wx[i]` the coefficient of the face between cells `i` and `i + 1` (`nx − 1` faces) and the
/// conductances `g[side]` (0 for no flux) of the row's two end faces. This starts `div`.
#[inline(always)]
pub fn start_x_terms<L: Lane>(div: &mut [f32], u: &[f32], wx: L, g: [f32; 2], bc: [FaceBc; 2], inv_h: f32) {
    let n = div.len();
    let u = &u[..n];
    div.fill(0.0);
    if bc[0].kind != 0 {
        div[0] -= g[0] * (u[0] - bc[0].value) * inv_h;
    }
    if n > 1 {
        let wx = wx.window(0, n - 1);
        for i in 1..n {
            div[i] += wx.at(i - 1) * (u[i - 1] - u[i]);
        }
        for i in 0..n - 1 {
            div[i] += wx.at(i) * (u[i + 1] - u[i]);
        }
    }
    if bc[1].kind != 0 {
        div[n - 1] -= g[1] * (u[n - 1] - bc[1].value) * inv_h;
    }
}

/// Face coefficients `D_f/h²` between the cells of row `a` and those of row `b` (lane by lane).
#[inline(always)]
pub fn face_coefficients(out: &mut [f32], a: &[f32], b: &[f32], inv_h2: f32) {
    for ((w, &da), &db) in out.iter_mut().zip(a).zip(b) {
        *w = face_diffusivity(da, db) * inv_h2;
    }
}

/// Boundary conductances of the cells with diffusivities `d`.
#[inline(always)]
pub fn conductances(out: &mut [f32], d: &[f32], bc: FaceBc, half_h: f32) {
    for (g, &d) in out.iter_mut().zip(d) {
        *g = boundary_conductance(bc, d, half_h);
    }
}

/// Coefficients of the tridiagonal systems of `lanes` grid lines of `n` cells along one axis,
/// exactly as `adi_sweep` forms them (row `j` of line `l` at `j·lanes + l`):
/// `sub = −θdt·w_j`, `m_j = diag_j − sub_j·sup'_{j−1}`, `sup'_j = −θdt·e_j / m_j`, with the
/// line's loss share `k_j/N` inside `diag_j`. Also keeps, per row, the east face coefficient
/// `e_j` and the loss share (the explicit term of the implicit-Euler stages and the books need
/// them), and the end faces' conductances per lane.
pub struct LineCoefficients {
    pub lanes: usize,
    pub sub: Vec<f32>,
    pub m: Vec<f32>,
    pub sup: Vec<f32>,
    /// `D_{j+1/2}/h²` (1/s), 0 on the last row.
    pub east: Vec<f32>,
    /// `k_j/N` (1/s).
    pub loss: Vec<f32>,
    pub g_lo: Vec<f32>,
    pub g_hi: Vec<f32>,
    /// Work rows: diffusivity of the next row, decay of the row, west and east face coefficients.
    d_next: Vec<f32>,
    k_row: Vec<f32>,
    west: Vec<f32>,
    east_row: Vec<f32>,
}

/// The numbers that fix a sweep's coefficients besides the diffusivities and decay rates.
#[derive(Clone, Copy)]
pub struct SweepConstants {
    /// θ·dt (s).
    pub theta_dt: f32,
    /// 1/(number of swept axes): each axis' share of the first-order loss.
    pub share: f32,
    /// 1/h², 1/h (1/m², 1/m) and h/2 (m) along the axis.
    pub inv_h2: f32,
    pub inv_h: f32,
    pub half_h: f32,
    /// Boundary conditions of the low and high end faces.
    pub bc: [FaceBc; 2],
}

impl LineCoefficients {
    pub fn new() -> Self {
        LineCoefficients {
            lanes: 0,
            sub: Vec::new(),
            m: Vec::new(),
            sup: Vec::new(),
            east: Vec::new(),
            loss: Vec::new(),
            g_lo: Vec::new(),
            g_hi: Vec::new(),
            d_next: Vec::new(),
            k_row: Vec::new(),
            west: Vec::new(),
            east_row: Vec::new(),
        }
    }

    /// Forms the coefficients; `dk(j, d, k)` writes the diffusivities and decay rates of row `j`
    /// into `d` and `k`.
    pub fn compute(
        &mut self,
        n: usize,
        lanes: usize,
        c: &SweepConstants,
        mut dk: impl FnMut(usize, &mut [f32], &mut [f32]),
    ) {
        self.lanes = lanes;
        for v in [&mut self.sub, &mut self.m, &mut self.sup, &mut self.east, &mut self.loss] {
            v.clear();
            v.resize(n * lanes, 0.0);
        }
        for v in [&mut self.g_lo, &mut self.g_hi, &mut self.d_next, &mut self.k_row, &mut self.west, &mut self.east_row]
        {
            v.clear();
            v.resize(lanes, 0.0);
        }
        let mut d_here = vec![0.0f32; lanes];
        let mut k_next = vec![0.0f32; lanes];
        dk(0, &mut d_here, &mut self.k_row);
        conductances(&mut self.g_lo, &d_here, c.bc[0], c.half_h);
        for j in 0..n {
            if j + 1 < n {
                dk(j + 1, &mut self.d_next, &mut k_next);
                face_coefficients(&mut self.east_row, &d_here, &self.d_next, c.inv_h2);
            } else {
                self.east_row.fill(0.0);
                conductances(&mut self.g_hi, &d_here, c.bc[1], c.half_h);
            }
            let (before, rest) = self.sup.split_at_mut(j * lanes);
            let sup_prev = if j > 0 { &before[(j - 1) * lanes..] } else { &[][..] };
            let row = j * lanes..(j + 1) * lanes;
            let (sub, m, sup) = (&mut self.sub[row.clone()], &mut self.m[row.clone()], &mut rest[..lanes]);
            let (east_out, loss_out) = (&mut self.east[row.clone()], &mut self.loss[row]);
            for l in 0..lanes {
                let mut out_coef = 0.0f32;
                if j == 0 {
                    out_coef += self.g_lo[l] * c.inv_h;
                }
                if j + 1 == n {
                    out_coef += self.g_hi[l] * c.inv_h;
                }
                let (west, east) = (self.west[l], self.east_row[l]);
                let loss = self.k_row[l] * c.share;
                let s = -c.theta_dt * west;
                let p = -c.theta_dt * east;
                let diag = 1.0 + c.theta_dt * (west + east + out_coef + loss);
                let mm = diag - s * if j > 0 { sup_prev[l] } else { 0.0 };
                sub[l] = s;
                m[l] = mm;
                sup[l] = p / mm;
                east_out[l] = east;
                loss_out[l] = loss;
            }
            std::mem::swap(&mut self.west, &mut self.east_row);
            std::mem::swap(&mut d_here, &mut self.d_next);
            std::mem::swap(&mut self.k_row, &mut k_next);
        }
    }
}

impl LineCoefficients {
    /// Row `j` of `sub`, `m`, `sup'` (one value per lane).
    #[inline(always)]
    pub fn sub_row(&self, j: usize) -> &[f32] {
        &self.sub[j * self.lanes..(j + 1) * self.lanes]
    }
    #[inline(always)]
    pub fn m_row(&self, j: usize) -> &[f32] {
        &self.m[j * self.lanes..(j + 1) * self.lanes]
    }
    #[inline(always)]
    pub fn sup_row(&self, j: usize) -> &[f32] {
        &self.sup[j * self.lanes..(j + 1) * self.lanes]
    }
    #[inline(always)]
    pub fn loss_row(&self, j: usize) -> &[f32] {
        &self.loss[j * self.lanes..(j + 1) * self.lanes]
    }
}

impl Default for LineCoefficients {
    fn default() -> Self {
        Self::new()
    }
}

/// The coefficients of a sweep for the lanes of one call: the same for every line (a species
/// with one diffusivity: row `j` of a one-lane [`LineCoefficients`]) or per lane.
#[derive(Clone, Copy)]
pub struct Tri<'a> {
    pub c: &'a LineCoefficients,
    pub per_lane: bool,
}

/// Forward elimination in place over `rhs` (`n` rows of `lanes`): row `j` becomes
/// `(r_j − sub_j·rhs'_{j−1}) / m_j`, as in `adi_sweep`, with `r_j` the row itself or, given
/// `diff = (a, b)` (planes laid out like `rhs`), `a_j − b_j`.
#[inline(always)]
pub fn thomas_forward(rhs: &mut [f32], diff: Option<(&[f32], &[f32])>, n: usize, lanes: usize, tri: Tri<'_>) {
    let c = tri.c;
    if tri.per_lane {
        forward_rows(rhs, diff, n, lanes, |j| (c.sub_row(j), c.m_row(j)));
    } else {
        forward_rows(rhs, diff, n, lanes, |j| (c.sub[j], c.m[j]));
    }
}

#[inline(always)]
fn forward_rows<L: Lane>(
    rhs: &mut [f32],
    diff: Option<(&[f32], &[f32])>,
    n: usize,
    lanes: usize,
    coef: impl Fn(usize) -> (L, L),
) {
    let (sub, m) = coef(0);
    let first = &mut rhs[..lanes];
    match diff {
        None => {
            let (sub, m) = (sub.window(0, lanes), m.window(0, lanes));
            for (l, x) in first.iter_mut().enumerate() {
                *x = (*x - sub.at(l) * 0.0) / m.at(l);
            }
        }
        Some((a, b)) => forward_row_diff(first, None, &a[..lanes], &b[..lanes], sub, m),
    }
    for j in 1..n {
        let (prev, here) = rhs[(j - 1) * lanes..(j + 1) * lanes].split_at_mut(lanes);
        let (sub, m) = coef(j);
        match diff {
            None => forward_row(here, prev, sub, m),
            Some((a, b)) => forward_row_diff(
                here,
                Some(prev),
                &a[j * lanes..(j + 1) * lanes],
                &b[j * lanes..(j + 1) * lanes],
                sub,
                m,
            ),
        }
    }
}

// The rows of a recurrence are separate slices of one buffer; passing them to functions of
// their own tells the compiler they do not overlap (else it may guard the whole recurrence
// with one overlap check, which fails, and run it scalar).

/// `here = (here − sub·prev) / m`.
#[inline(always)]
fn forward_row<L: Lane>(here: &mut [f32], prev: &[f32], sub: L, m: L) {
    let n = here.len();
    let (prev, sub, m) = (&prev[..n], sub.window(0, n), m.window(0, n));
    for l in 0..n {
        here[l] = (here[l] - sub.at(l) * prev[l]) / m.at(l);
    }
}

/// `here = (a − b − sub·prev) / m` (prev 0 on the first row).
#[inline(always)]
fn forward_row_diff<L: Lane>(here: &mut [f32], prev: Option<&[f32]>, a: &[f32], b: &[f32], sub: L, m: L) {
    let n = here.len();
    let (a, b, sub, m) = (&a[..n], &b[..n], sub.window(0, n), m.window(0, n));
    match prev {
        Some(prev) => {
            let prev = &prev[..n];
            for l in 0..n {
                here[l] = (a[l] - b[l] - sub.at(l) * prev[l]) / m.at(l);
            }
        }
        None => {
            for l in 0..n {
                here[l] = (a[l] - b[l] - sub.at(l) * 0.0) / m.at(l);
            }
        }
    }
}

/// Back substitution in place: row `j` becomes `δ_j = rhs'_j − sup'_j·δ_{j+1}`; given
/// `add = (u, out)`, also `out_j = u_j + δ_j` (planes laid out like `rhs`).
#[inline(always)]
pub fn thomas_back(rhs: &mut [f32], add: Option<(&[f32], &mut [f32])>, n: usize, lanes: usize, tri: Tri<'_>) {
    let c = tri.c;
    if tri.per_lane {
        back_rows(rhs, add, n, lanes, |j| c.sup_row(j));
    } else {
        back_rows(rhs, add, n, lanes, |j| c.sup[j]);
    }
}

#[inline(always)]
fn back_rows<L: Lane>(
    rhs: &mut [f32],
    mut add: Option<(&[f32], &mut [f32])>,
    n: usize,
    lanes: usize,
    sup: impl Fn(usize) -> L,
) {
    for j in (0..n).rev() {
        let (head, tail) = rhs.split_at_mut((j + 1) * lanes);
        let here = &mut head[j * lanes..];
        if j + 1 < n {
            back_row(here, &tail[..lanes], sup(j));
        } else {
            let s = sup(j).window(0, lanes);
            for (l, x) in here[..lanes].iter_mut().enumerate() {
                *x -= s.at(l) * 0.0;
            }
        }
        if let Some((u, out)) = add.as_mut() {
            add_row(&mut out[j * lanes..(j + 1) * lanes], &u[j * lanes..(j + 1) * lanes], here);
        }
    }
}

/// `here −= sup·next`.
#[inline(always)]
fn back_row<L: Lane>(here: &mut [f32], next: &[f32], sup: L) {
    let n = here.len();
    let (next, sup) = (&next[..n], sup.window(0, n));
    for l in 0..n {
        here[l] -= sup.at(l) * next[l];
    }
}

/// `out = u + delta`.
#[inline(always)]
fn add_row(out: &mut [f32], u: &[f32], delta: &[f32]) {
    let n = out.len();
    let (u, delta) = (&u[..n], &delta[..n]);
    for l in 0..n {
        out[l] = u[l] + delta[l];
    }
}

/// Amount per face area that an ADI stage moves through the end faces of a row of lines:
/// `Σ κ·g·(u − c_b) + θ·dt·g·δ` with `κ = (λ + θ − μ)·dt` (the reference's per-entry value),
/// in f64.
#[inline(always)]
pub fn adi_end_outflow<L: Lane>(
    u: impl Iterator<Item = f32>,
    delta: &[f32],
    g: L,
    value: f32,
    kappa: f32,
    theta_dt: f32,
) -> f64 {
    let g = g.window(0, delta.len());
    let mut acc = Acc::default();
    for (i, (c, &d)) in u.zip(delta).enumerate() {
        acc.push(i, (kappa * g.at(i) * (c - value) + theta_dt * g.at(i) * d) as f64);
    }
    acc.total()
}

/// Row `j` (of `n`) of a recurrence over rows: `rhs += edt·A_a u` with `A_a u` formed as
/// `adi_sweep` forms it, `w·(u_{j−1} − u) + e·(u_{j+1} − u) − (boundary fluxes) − loss·u`
/// (missing neighbours and their coefficients are 0). `lo` and `hi` are rows `j − 1` and
/// `j + 1` of `u`. Only the implicit-Euler stages have `edt ≠ 0`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn add_explicit_row(
    rhs: &mut [f32],
    u: &[f32],
    lo: Option<&[f32]>,
    hi: Option<&[f32]>,
    tri: Tri<'_>,
    j: usize,
    n: usize,
    k: &SweepConstants,
    edt: f32,
) {
    let lanes = rhs.len();
    let c = tri.c;
    let lane = |v: &[f32], row: usize, l: usize| if tri.per_lane { v[row * lanes + l] } else { v[row] };
    let g = |v: &[f32], l: usize| if tri.per_lane { v[l] } else { v[0] };
    for l in 0..lanes {
        let x = u[l];
        let (west, u_west) = match lo {
            Some(lo) => (lane(&c.east, j - 1, l), lo[l]),
            None => (0.0, 0.0),
        };
        let (east, u_east) = match hi {
            Some(hi) => (lane(&c.east, j, l), hi[l]),
            None => (0.0, 0.0),
        };
        let mut boundary_flux = 0.0f32;
        if j == 0 {
            boundary_flux += g(&c.g_lo, l) * k.inv_h * (x - k.bc[0].value);
        }
        if j + 1 == n {
            boundary_flux += g(&c.g_hi, l) * k.inv_h * (x - k.bc[1].value);
        }
        let a_u = west * (u_west - x) + east * (u_east - x) - boundary_flux - lane(&c.loss, j, l) * x;
        rhs[l] += edt * a_u;
    }
}

/// `lost = loss·(κ·u + θdt·δ)`: what a sweep books as decayed per cell; given `v` (an earlier
/// sweep's `u + δ'` of the same stage), plus that sweep's `loss·(κ·u + θdt·(v − u))`.
#[inline(always)]
pub fn sweep_loss<L: Lane>(
    lost: &mut [f32],
    loss: L,
    u: &[f32],
    delta: &[f32],
    v: Option<&[f32]>,
    kappa: f32,
    theta_dt: f32,
) {
    let n = lost.len();
    let (u, delta, loss) = (&u[..n], &delta[..n], loss.window(0, n));
    match v {
        Some(v) => {
            let v = &v[..n];
            for l in 0..n {
                let k = loss.at(l);
                lost[l] = k * (kappa * u[l] + theta_dt * delta[l]) + k * (kappa * u[l] + theta_dt * (v[l] - u[l]));
            }
        }
        None => {
            for l in 0..n {
                lost[l] = loss.at(l) * (kappa * u[l] + theta_dt * delta[l]);
            }
        }
    }
}

/// An f64 sum in eight interleaved partial sums (so that long rows vectorise), added in a fixed
/// order: the result depends on the values and their positions only.
#[derive(Default)]
pub struct Acc([f64; 8]);

impl Acc {
    #[inline(always)]
    pub fn push(&mut self, i: usize, x: f64) {
        self.0[i % 8] += x;
    }
    pub fn total(&self) -> f64 {
        let a = &self.0;
        ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
    }
}

/// Σ of a row in f64, in sixteen interleaved partial sums (four vector accumulators, so the adds
/// do not wait on each other) added in a fixed order.
#[inline(always)]
pub fn sum_f64(row: &[f32]) -> f64 {
    let mut acc = [0.0f64; 16];
    let chunks = row.chunks_exact(16);
    let rest = chunks.remainder();
    for ch in chunks {
        for l in 0..16 {
            acc[l] += ch[l] as f64;
        }
    }
    for (l, &x) in rest.iter().enumerate() {
        acc[l] += x as f64;
    }
    let mut total = 0.0;
    for q in 0..4 {
        total += (acc[q] + acc[q + 8]) + (acc[q + 4] + acc[q + 12]);
    }
    total
}

/// Adds a row of per-cell values to per-material sums: a row of one material (`row_material` is
/// `Some`) in one vectorised sum, a mixed row in one such sum per run of a material.
#[inline(always)]
pub fn add_by_material(sums: &mut [f64], values: &[f32], row_material: Option<u32>, materials: &[u32]) {
    match row_material {
        Some(m) => sums[m as usize] += sum_f64(values),
        None => {
            let materials = &materials[..values.len()];
            let mut start = 0;
            while start < values.len() {
                let m = materials[start];
                let run = materials[start..].iter().take_while(|&&x| x == m).count();
                sums[m as usize] += sum_f64(&values[start..start + run]);
                start += run;
            }
        }
    }
}

/// `dst[i·rows + j] = a[j·cols + i] − b[j·cols + i]`: the difference of two `rows × cols`
/// planes, transposed.
pub fn transpose_sub(a: &[f32], b: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    transpose_op(a, Some(b), None, dst, rows, cols);
}

/// `dst[j·cols + i] = b[j·cols + i] + src[i·rows + j]`: a `cols × rows` plane transposed back
/// and added to `b`, a `rows × cols` plane.
pub fn transpose_add(src: &[f32], b: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    transpose_op(src, None, Some(b), dst, cols, rows);
}

/// `dst[i·rows + j] = a[j·cols + i]`: a `rows × cols` plane, transposed.
pub fn transpose(a: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    transpose_op(a, None, None, dst, rows, cols);
}

/// `dst[i·rows + j] = post[i·rows + j] + (src[j·cols + i] − pre[j·cols + i])` with the missing
/// operands left out: transposes a `rows × cols` plane in 4 × 4 tiles (SSE shuffles on x86-64),
/// tiles visited in 32 × 32 blocks so that both sides stay in L1.
fn transpose_op(src: &[f32], pre: Option<&[f32]>, post: Option<&[f32]>, dst: &mut [f32], rows: usize, cols: usize) {
    let n = rows * cols;
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let pre = pre.map(|p| &p[..n]);
    let post = post.map(|p| &p[..n]);
    let scalar = |dst: &mut [f32], j: usize, i: usize| {
        let mut x = src[j * cols + i];
        if let Some(p) = pre {
            x -= p[j * cols + i];
        }
        if let Some(p) = post {
            x += p[i * rows + j];
        }
        dst[i * rows + j] = x;
    };
    let (rows4, cols4) = if cfg!(target_arch = "x86_64") { (rows & !3, cols & !3) } else { (0, 0) };
    const B: usize = 32;
    for jb in (0..rows4).step_by(B) {
        for ib in (0..cols4).step_by(B) {
            for j0 in (jb..(jb + B).min(rows4)).step_by(4) {
                for i0 in (ib..(ib + B).min(cols4)).step_by(4) {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: j0 + 3 < rows and i0 + 3 < cols, so every 4-float load reads
                    // `src`/`pre` within `j·cols + i0 .. j·cols + i0 + 4 ≤ n` and every store
                    // and `post` load touches `i·rows + j0 .. i·rows + j0 + 4 ≤ n`; the slices
                    // are all `n` long (checked above). SSE is part of x86-64.
                    unsafe {
                        tile4(src, pre, post, dst, rows, cols, j0, i0)
                    }
                }
            }
        }
    }
    for j in 0..rows {
        let start = if j < rows4 { cols4 } else { 0 };
        for i in start..cols {
            scalar(dst, j, i);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tile4(
    src: &[f32],
    pre: Option<&[f32]>,
    post: Option<&[f32]>,
    dst: &mut [f32],
    rows: usize,
    cols: usize,
    j0: usize,
    i0: usize,
) {
    use std::arch::x86_64::*;
    // SAFETY: see the caller.
    unsafe {
        let load = |j: usize| {
            let x = _mm_loadu_ps(src.as_ptr().add((j0 + j) * cols + i0));
            match pre {
                Some(p) => _mm_sub_ps(x, _mm_loadu_ps(p.as_ptr().add((j0 + j) * cols + i0))),
                None => x,
            }
        };
        let (r0, r1, r2, r3) = (load(0), load(1), load(2), load(3));
        let t0 = _mm_unpacklo_ps(r0, r1);
        let t1 = _mm_unpacklo_ps(r2, r3);
        let t2 = _mm_unpackhi_ps(r0, r1);
        let t3 = _mm_unpackhi_ps(r2, r3);
        let cols_out = [_mm_movelh_ps(t0, t1), _mm_movehl_ps(t1, t0), _mm_movelh_ps(t2, t3), _mm_movehl_ps(t3, t2)];
        for (i, &x) in cols_out.iter().enumerate() {
            let at = (i0 + i) * rows + j0;
            let x = match post {
                Some(p) => _mm_add_ps(_mm_loadu_ps(p.as_ptr().add(at)), x),
                None => x,
            };
            _mm_storeu_ps(dst.as_mut_ptr().add(at), x);
        }
    }
}
