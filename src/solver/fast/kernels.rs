//! Row kernels shared by both schemes of the fast engine.
//!
//! Every loop here runs over whole rows of cells (or whole rows of grid lines) with the same
//! arithmetic per lane as the reference twins (`src/solver/cpu/`), in the same order, so each
//! lane's result is the reference's to the last bit; the compiler vectorises across lanes.
//! Coefficients are a [`Lane`]: one value for the whole row (a species whose diffusivity, or
//! decay, is the same in every material) or one per lane.

use crate::solver::FaceBc;
use crate::solver::cpu::diffuse_explicit::{
    boundary_conductance, face_diffusivity, face_velocity, inflow_velocity, upwind_inflow,
};

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

/// How the divergence counts a boundary face with flow: as `adi_predictor` (`−g·(u − c_b)/h`,
/// then `+up(w, u, c_b)/h`) or as `diffuse_explicit` (`−(g·(u − c_b) − up(w, u, c_b))/h`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BoundaryForm {
    Predictor,
    Explicit,
}

/// One boundary face's term with flow (`w` the inward velocity), as `form` counts it.
#[inline(always)]
fn boundary_term(div: f32, g: f32, w: f32, u: f32, value: f32, inv_h: f32, form: BoundaryForm) -> f32 {
    match form {
        BoundaryForm::Predictor => {
            let d = div - g * (u - value) * inv_h;
            d + upwind_inflow(w, u, value) * inv_h
        }
        BoundaryForm::Explicit => div - (g * (u - value) - upwind_inflow(w, u, value)) * inv_h,
    }
}

/// [`start_x_terms`] with flow: each face's upwind term `up(w_in, u, u_nb)/h` right after its
/// diffusive term; `vx[i]` the velocity of the face between cells `i` and `i + 1`, `w_end` the
/// inward velocities at the row's end faces.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn start_x_terms_flow<L: Lane, V: Lane>(
    div: &mut [f32],
    u: &[f32],
    wx: L,
    vx: V,
    (g, w_end): ([f32; 2], [f32; 2]),
    bc: [FaceBc; 2],
    inv_h: f32,
    form: BoundaryForm,
) {
    let n = div.len();
    let u = &u[..n];
    div.fill(0.0);
    if bc[0].kind != 0 {
        div[0] = boundary_term(div[0], g[0], w_end[0], u[0], bc[0].value, inv_h, form);
    }
    if n > 1 {
        let (wx, vx) = (wx.window(0, n - 1), vx.window(0, n - 1));
        for i in 1..n {
            div[i] += wx.at(i - 1) * (u[i - 1] - u[i]);
            div[i] += upwind_inflow(vx.at(i - 1), u[i], u[i - 1]) * inv_h;
        }
        for i in 0..n - 1 {
            div[i] += wx.at(i) * (u[i + 1] - u[i]);
            div[i] += upwind_inflow(-vx.at(i), u[i], u[i + 1]) * inv_h;
        }
    }
    if bc[1].kind != 0 {
        div[n - 1] = boundary_term(div[n - 1], g[1], w_end[1], u[n - 1], bc[1].value, inv_h, form);
    }
}

/// [`add_side`] with flow: `w_in` the velocity into the row's cells through the side's faces
/// (interior: ± the face velocity; boundary: the inward velocity, zero at a no-flux wall).
#[inline(always)]
pub fn add_side_flow<L: Lane, W: Lane>(
    div: &mut [f32],
    u: &[f32],
    side: Side<'_, L>,
    w_in: W,
    inv_h: f32,
    form: BoundaryForm,
) {
    let n = div.len();
    let u = &u[..n];
    let w_in = w_in.window(0, n);
    match side {
        Side::Interior { w, nb } => {
            let nb = &nb[..n];
            let w = w.window(0, n);
            for i in 0..n {
                div[i] += w.at(i) * (nb[i] - u[i]);
                div[i] += upwind_inflow(w_in.at(i), u[i], nb[i]) * inv_h;
            }
        }
        Side::Boundary { g, value, inv_h: ih } => {
            let g = g.window(0, n);
            for i in 0..n {
                div[i] = boundary_term(div[i], g.at(i), w_in.at(i), u[i], value, ih, form);
            }
        }
        Side::Closed => {}
    }
}

/// [`add_side`] without flow (`w_in` none), else [`add_side_flow`].
#[inline(always)]
pub fn add_side_with<L: Lane>(
    div: &mut [f32],
    u: &[f32],
    side: Side<'_, L>,
    w_in: Option<&[f32]>,
    inv_h: f32,
    form: BoundaryForm,
) {
    match w_in {
        None => add_side(div, u, side),
        Some(w_in) => add_side_flow(div, u, side, w_in, inv_h, form),
    }
}

/// Σ over a row of [`explicit_side_outflow`] with flow: `(g·(u − c_b) − up(w, u, c_b))·dt`.
#[inline(always)]
pub fn explicit_side_outflow_flow<L: Lane, W: Lane>(u: &[f32], g: L, w: W, value: f32, dt: f32) -> f64 {
    let (g, w) = (g.window(0, u.len()), w.window(0, u.len()));
    let mut acc = Acc::default();
    for (i, &c) in u.iter().enumerate() {
        acc.push(i, ((g.at(i) * (c - value) - upwind_inflow(w.at(i), c, value)) * dt) as f64);
    }
    acc.total()
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
/// `sub = −θdt·(w_j + p_{j−1/2})`, `m_j = diag_j − sub_j·sup'_{j−1}`,
/// `sup'_j = −θdt·(e_j + q_{j+1/2}) / m_j`, with the cell's capacity, the line's loss share
/// `k_j/N` and the upwind couplings `p = max(V, 0)/h`, `q = max(−V, 0)/h` of the flow inside
/// `diag_j`. Also keeps, per row, the east face coefficient `e_j`, the loss share and (with flow)
/// the east face's `p` and `q`, and (with binding) the capacity: the explicit term of the
/// implicit-Euler stages, the right-hand side and the books need them; and per lane the end
/// faces' conductances (and, with flow, inward velocities).
pub struct LineCoefficients {
    pub lanes: usize,
    pub sub: Vec<f32>,
    pub m: Vec<f32>,
    pub sup: Vec<f32>,
    /// `D_{j+1/2}/h²` (1/s), 0 on the last row.
    pub east: Vec<f32>,
    /// `k_j/N` (1/s).
    pub loss: Vec<f32>,
    /// Of a one-lane line (else empty): `diag_j − cap_j` and `−θdt·(e_j + q_{j+1/2})`, from which
    /// [`Self::compute_with_caps`] forms the lines of cells of other capacities.
    rest: Vec<f32>,
    raw_sup: Vec<f32>,
    /// With flow (else empty): `max(V_{j+1/2}, 0)/h` and `max(−V_{j+1/2}, 0)/h` (1/s), 0 on the
    /// last row.
    pub fwd: Vec<f32>,
    pub back: Vec<f32>,
    /// With binding (else empty): the capacity of each cell (1).
    pub cap: Vec<f32>,
    pub g_lo: Vec<f32>,
    pub g_hi: Vec<f32>,
    /// With flow (else empty): the velocity into the line through its low and high end faces
    /// (m/s; zero at a no-flux wall).
    pub w_lo: Vec<f32>,
    pub w_hi: Vec<f32>,
    /// Work rows: diffusivity, velocity along the axis and capacity of the next row, decay of the
    /// row, west and east face coefficients and upwind couplings.
    d_next: Vec<f32>,
    v_next: Vec<f32>,
    cap_next: Vec<f32>,
    k_row: Vec<f32>,
    west: Vec<f32>,
    east_row: Vec<f32>,
    west_fwd: Vec<f32>,
    west_back: Vec<f32>,
    east_fwd: Vec<f32>,
    east_back: Vec<f32>,
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
    /// Whether the problem has flow (the cells' velocities enter) and whether the species binds
    /// (the cells' capacities enter).
    pub flow: bool,
    pub capacity: bool,
}

/// One row of the inputs of [`LineCoefficients::compute`], one value per lane: diffusivity
/// (m²/s), decay rate (1/s), velocity along the axis (m/s; read only with flow) and capacity
/// (read only with binding).
pub struct RowInputs<'a> {
    pub d: &'a mut [f32],
    pub k: &'a mut [f32],
    pub v: &'a mut [f32],
    pub cap: &'a mut [f32],
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
            rest: Vec::new(),
            raw_sup: Vec::new(),
            fwd: Vec::new(),
            back: Vec::new(),
            cap: Vec::new(),
            g_lo: Vec::new(),
            g_hi: Vec::new(),
            w_lo: Vec::new(),
            w_hi: Vec::new(),
            d_next: Vec::new(),
            v_next: Vec::new(),
            cap_next: Vec::new(),
            k_row: Vec::new(),
            west: Vec::new(),
            east_row: Vec::new(),
            west_fwd: Vec::new(),
            west_back: Vec::new(),
            east_fwd: Vec::new(),
            east_back: Vec::new(),
        }
    }

    /// Whether the lines carry flow terms.
    #[inline(always)]
    pub fn flow(&self) -> bool {
        !self.fwd.is_empty()
    }

    /// Forms the coefficients; `inputs(j, row)` writes the diffusivities, decay rates and (where
    /// `c` says they enter) velocities and capacities of row `j` into `row`.
    pub fn compute(
        &mut self,
        n: usize,
        lanes: usize,
        c: &SweepConstants,
        mut inputs: impl FnMut(usize, RowInputs<'_>),
    ) {
        self.lanes = lanes;
        for v in [&mut self.sub, &mut self.m, &mut self.sup, &mut self.east, &mut self.loss] {
            v.clear();
            v.resize(n * lanes, 0.0);
        }
        for v in [&mut self.rest, &mut self.raw_sup] {
            v.clear();
            if lanes == 1 {
                v.resize(n, 0.0);
            }
        }
        for (v, on) in [(&mut self.fwd, c.flow), (&mut self.back, c.flow), (&mut self.cap, c.capacity)] {
            v.clear();
            if on {
                v.resize(n * lanes, 0.0);
            }
        }
        for v in [
            &mut self.g_lo,
            &mut self.g_hi,
            &mut self.w_lo,
            &mut self.w_hi,
            &mut self.d_next,
            &mut self.v_next,
            &mut self.cap_next,
            &mut self.k_row,
            &mut self.west,
            &mut self.east_row,
            &mut self.west_fwd,
            &mut self.west_back,
            &mut self.east_fwd,
            &mut self.east_back,
        ] {
            v.clear();
            v.resize(lanes, 0.0);
        }
        let mut d_here = vec![0.0f32; lanes];
        let mut v_here = vec![0.0f32; lanes];
        let mut cap_here = vec![1.0f32; lanes];
        let mut k_next = vec![0.0f32; lanes];
        inputs(0, RowInputs { d: &mut d_here, k: &mut self.k_row, v: &mut v_here, cap: &mut cap_here });
        conductances(&mut self.g_lo, &d_here, c.bc[0], c.half_h);
        if c.flow {
            for (w, &v) in self.w_lo.iter_mut().zip(&v_here) {
                *w = inflow_velocity(c.bc[0], v, 0);
            }
        }
        for j in 0..n {
            if j + 1 < n {
                self.cap_next.fill(1.0);
                let row =
                    RowInputs { d: &mut self.d_next, k: &mut k_next, v: &mut self.v_next, cap: &mut self.cap_next };
                inputs(j + 1, row);
                face_coefficients(&mut self.east_row, &d_here, &self.d_next, c.inv_h2);
                if c.flow {
                    let faces = v_here.iter().zip(&self.v_next).map(|(&a, &b)| face_velocity(a, b));
                    for ((fwd, back), w) in self.east_fwd.iter_mut().zip(&mut self.east_back).zip(faces) {
                        *fwd = w.max(0.0) * c.inv_h;
                        *back = (-w).max(0.0) * c.inv_h;
                    }
                }
            } else {
                self.east_row.fill(0.0);
                self.east_fwd.fill(0.0);
                self.east_back.fill(0.0);
                conductances(&mut self.g_hi, &d_here, c.bc[1], c.half_h);
                if c.flow {
                    for (w, &v) in self.w_hi.iter_mut().zip(&v_here) {
                        *w = inflow_velocity(c.bc[1], v, 1);
                    }
                }
            }
            let (before, rest) = self.sup.split_at_mut(j * lanes);
            let sup_prev = if j > 0 { &before[(j - 1) * lanes..] } else { &[][..] };
            let row = j * lanes..(j + 1) * lanes;
            let (sub, m, sup) = (&mut self.sub[row.clone()], &mut self.m[row.clone()], &mut rest[..lanes]);
            let (east_out, loss_out) = (&mut self.east[row.clone()], &mut self.loss[row.clone()]);
            for l in 0..lanes {
                let mut out_coef = 0.0f32;
                if j == 0 {
                    out_coef += self.g_lo[l] * c.inv_h;
                    if c.flow {
                        out_coef += (-self.w_lo[l]).max(0.0) * c.inv_h;
                    }
                }
                if j + 1 == n {
                    out_coef += self.g_hi[l] * c.inv_h;
                    if c.flow {
                        out_coef += (-self.w_hi[l]).max(0.0) * c.inv_h;
                    }
                }
                let (west, east) = (self.west[l], self.east_row[l]);
                let loss = self.k_row[l] * c.share;
                let cap = if c.capacity { cap_here[l] } else { 1.0 };
                let (s, p, rest);
                if c.flow {
                    s = -c.theta_dt * (west + self.west_fwd[l]);
                    p = -c.theta_dt * (east + self.east_back[l]);
                    rest = c.theta_dt * (west + east + out_coef + loss + self.west_back[l] + self.east_fwd[l]);
                } else {
                    s = -c.theta_dt * west;
                    p = -c.theta_dt * east;
                    rest = c.theta_dt * (west + east + out_coef + loss);
                }
                if lanes == 1 {
                    self.rest[j] = rest;
                    self.raw_sup[j] = p;
                }
                let diag = cap + rest;
                let mm = diag - s * if j > 0 { sup_prev[l] } else { 0.0 };
                sub[l] = s;
                m[l] = mm;
                sup[l] = p / mm;
                east_out[l] = east;
                loss_out[l] = loss;
            }
            if c.flow {
                self.fwd[row.clone()].copy_from_slice(&self.east_fwd);
                self.back[row.clone()].copy_from_slice(&self.east_back);
            }
            if c.capacity {
                self.cap[row].copy_from_slice(&cap_here);
            }
            std::mem::swap(&mut self.west, &mut self.east_row);
            std::mem::swap(&mut self.west_fwd, &mut self.east_fwd);
            std::mem::swap(&mut self.west_back, &mut self.east_back);
            std::mem::swap(&mut d_here, &mut self.d_next);
            std::mem::swap(&mut v_here, &mut self.v_next);
            std::mem::swap(&mut cap_here, &mut self.cap_next);
            std::mem::swap(&mut self.k_row, &mut k_next);
        }
    }
}

impl LineCoefficients {
    /// The lines of `lanes` lines of cells that differ from those of `one` (a one-lane line
    /// formed by [`Self::compute`] without capacities) only in their capacities, `caps(j, row)`
    /// writing row `j`'s: `diag_j = cap_j + (diag_j − 1)` and the recurrence per lane, the rest
    /// copied from `one`. The same numbers as `compute` with these capacities, without forming
    /// each lane's face coefficients again.
    pub fn compute_with_caps(&mut self, one: &LineCoefficients, lanes: usize, mut caps: impl FnMut(usize, &mut [f32])) {
        let n = one.sub.len();
        debug_assert!(one.lanes == 1 && one.rest.len() == n);
        self.lanes = lanes;
        let flow = one.flow();
        for (v, on) in [
            (&mut self.sub, true),
            (&mut self.m, true),
            (&mut self.sup, true),
            (&mut self.east, true),
            (&mut self.loss, true),
            (&mut self.cap, true),
            (&mut self.fwd, flow),
            (&mut self.back, flow),
        ] {
            v.clear();
            if on {
                v.resize(n * lanes, 0.0);
            }
        }
        self.rest.clear();
        self.raw_sup.clear();
        for (v, x, on) in [
            (&mut self.g_lo, &one.g_lo, true),
            (&mut self.g_hi, &one.g_hi, true),
            (&mut self.w_lo, &one.w_lo, flow),
            (&mut self.w_hi, &one.w_hi, flow),
        ] {
            v.clear();
            if on {
                v.resize(lanes, x[0]);
            }
        }
        for j in 0..n {
            let row = j * lanes..(j + 1) * lanes;
            self.sub[row.clone()].fill(one.sub[j]);
            self.east[row.clone()].fill(one.east[j]);
            self.loss[row.clone()].fill(one.loss[j]);
            if flow {
                self.fwd[row.clone()].fill(one.fwd[j]);
                self.back[row.clone()].fill(one.back[j]);
            }
            caps(j, &mut self.cap[row.clone()]);
            let (s, p, rest) = (one.sub[j], one.raw_sup[j], one.rest[j]);
            let (before, here) = self.sup.split_at_mut(j * lanes);
            let (m, sup, cap) = (&mut self.m[row.clone()], &mut here[..lanes], &self.cap[row]);
            if j > 0 {
                let sup_prev = &before[(j - 1) * lanes..];
                for l in 0..lanes {
                    let mm = (cap[l] + rest) - s * sup_prev[l];
                    m[l] = mm;
                    sup[l] = p / mm;
                }
            } else {
                for l in 0..lanes {
                    let mm = (cap[l] + rest) - s * 0.0;
                    m[l] = mm;
                    sup[l] = p / mm;
                }
            }
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
    #[inline(always)]
    pub fn cap_row(&self, j: usize) -> &[f32] {
        &self.cap[j * self.lanes..(j + 1) * self.lanes]
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
/// `diff = (a, b)` (planes laid out like `rhs`), `cap_j·(a_j − b_j)` (`cap` 1 unless the lines
/// carry capacities; a row given as itself must already hold them: see [`apply_cap`]).
#[inline(always)]
pub fn thomas_forward(rhs: &mut [f32], diff: Option<(&[f32], &[f32])>, n: usize, lanes: usize, tri: Tri<'_>) {
    let c = tri.c;
    match (tri.per_lane, c.cap.is_empty()) {
        (true, false) => forward_rows(rhs, diff, n, lanes, |j| (c.sub_row(j), c.m_row(j), c.cap_row(j))),
        (true, true) => forward_rows(rhs, diff, n, lanes, |j| (c.sub_row(j), c.m_row(j), 1.0f32)),
        (false, _) => forward_rows(rhs, diff, n, lanes, |j| (c.sub[j], c.m[j], 1.0f32)),
    }
}

/// `rhs_j = cap_j·rhs_j` where the lines carry capacities (the first term of `adi_sweep`'s
/// right-hand side, `cap·(v − u)`, before the explicit term is added).
#[inline(always)]
pub fn apply_cap(rhs: &mut [f32], tri: Tri<'_>) {
    for (x, &cap) in rhs.iter_mut().zip(&tri.c.cap) {
        *x *= cap;
    }
}

#[inline(always)]
fn forward_rows<L: Lane, C: Lane>(
    rhs: &mut [f32],
    diff: Option<(&[f32], &[f32])>,
    n: usize,
    lanes: usize,
    coef: impl Fn(usize) -> (L, L, C),
) {
    let (sub, m, cap) = coef(0);
    let first = &mut rhs[..lanes];
    match diff {
        None => {
            let (sub, m) = (sub.window(0, lanes), m.window(0, lanes));
            for (l, x) in first.iter_mut().enumerate() {
                *x = (*x - sub.at(l) * 0.0) / m.at(l);
            }
        }
        Some((a, b)) => forward_row_diff(first, None, &a[..lanes], &b[..lanes], sub, m, cap),
    }
    for j in 1..n {
        let (prev, here) = rhs[(j - 1) * lanes..(j + 1) * lanes].split_at_mut(lanes);
        let (sub, m, cap) = coef(j);
        match diff {
            None => forward_row(here, prev, sub, m),
            Some((a, b)) => forward_row_diff(
                here,
                Some(prev),
                &a[j * lanes..(j + 1) * lanes],
                &b[j * lanes..(j + 1) * lanes],
                sub,
                m,
                cap,
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

/// `here = (cap·(a − b) − sub·prev) / m` (prev 0 on the first row).
#[inline(always)]
fn forward_row_diff<L: Lane, C: Lane>(
    here: &mut [f32],
    prev: Option<&[f32]>,
    a: &[f32],
    b: &[f32],
    sub: L,
    m: L,
    cap: C,
) {
    let n = here.len();
    let (a, b, sub, m, cap) = (&a[..n], &b[..n], sub.window(0, n), m.window(0, n), cap.window(0, n));
    match prev {
        Some(prev) => {
            let prev = &prev[..n];
            for l in 0..n {
                here[l] = (cap.at(l) * (a[l] - b[l]) - sub.at(l) * prev[l]) / m.at(l);
            }
        }
        None => {
            for l in 0..n {
                here[l] = (cap.at(l) * (a[l] - b[l]) - sub.at(l) * 0.0) / m.at(l);
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

/// [`adi_end_outflow`] with flow through the faces: each entry less what the flow carries in,
/// `κ·up(w, u, c_b) − θ·dt·max(−w, 0)·δ` (`w` the inward velocity), as `adi_sweep` books it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn adi_end_outflow_flow<L: Lane>(
    u: impl Iterator<Item = f32>,
    delta: &[f32],
    g: L,
    w: L,
    value: f32,
    kappa: f32,
    theta_dt: f32,
) -> f64 {
    let (g, w) = (g.window(0, delta.len()), w.window(0, delta.len()));
    let mut acc = Acc::default();
    for (i, (c, &d)) in u.zip(delta).enumerate() {
        let (g, w) = (g.at(i), w.at(i));
        let advected = kappa * upwind_inflow(w, c, value) - theta_dt * (-w).max(0.0) * d;
        acc.push(i, (kappa * g * (c - value) + theta_dt * g * d - advected) as f64);
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
    if c.flow() {
        // As `adi_sweep`: the upwind terms of both faces after the diffusive ones, the end
        // faces' flow inside the boundary flux.
        for l in 0..lanes {
            let x = u[l];
            let (west, west_fwd, west_back, u_west) = match lo {
                Some(lo) => (lane(&c.east, j - 1, l), lane(&c.fwd, j - 1, l), lane(&c.back, j - 1, l), lo[l]),
                None => (0.0, 0.0, 0.0, 0.0),
            };
            let (east, east_fwd, east_back, u_east) = match hi {
                Some(hi) => (lane(&c.east, j, l), lane(&c.fwd, j, l), lane(&c.back, j, l), hi[l]),
                None => (0.0, 0.0, 0.0, 0.0),
            };
            let mut boundary_flux = 0.0f32;
            if j == 0 {
                boundary_flux += g(&c.g_lo, l) * k.inv_h * (x - k.bc[0].value);
                boundary_flux -= upwind_inflow(g(&c.w_lo, l), x, k.bc[0].value) * k.inv_h;
            }
            if j + 1 == n {
                boundary_flux += g(&c.g_hi, l) * k.inv_h * (x - k.bc[1].value);
                boundary_flux -= upwind_inflow(g(&c.w_hi, l), x, k.bc[1].value) * k.inv_h;
            }
            let advected = (west_fwd * u_west - west_back * x) + (east_back * u_east - east_fwd * x);
            let a_u = west * (u_west - x) + east * (u_east - x) + advected - boundary_flux - lane(&c.loss, j, l) * x;
            rhs[l] += edt * a_u;
        }
        return;
    }
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
