//! The local reactions of every cell over one react pass ([`crate::solver::Pass::React`]). Twin
//! of `shaders/react.wgsl`: same bindings, same term loop, same operation order.
//!
//! The terms of the cell's material ([`crate::solver::Term`]) are applied one after the other,
//! each solved exactly over its substep, first in table order over `τ/2`, then in reverse order
//! over `τ/2` (a symmetric, second-order composition; a single term is exact for any `τ`, so
//! binding with `k_on·B_T·τ ≫ 1` or a half-life of seconds needs no short step):
//!
//! - binding: the pair `(c, b)` of the species with the sites `S` available to it (the pool's
//!   `B_T` less what the other species of the pool hold, fixed over the substep) obeys
//!   `x' = k_on·(T − x)(S − x) − k_off·x` for the bound molar concentration `x`, `T = c + b`;
//!   with `x∓` the roots of the right-hand side, `x(τ) = x₋ + a·e·Δ / (Δ − a·(1 − e))`,
//!   `a = x(0) − x₋`, `Δ = x₊ − x₋`, `e = exp(−k_on·Δ·τ)`, in variables scaled by `S + K_d`;
//! - uptake: `c' = −V·c/(K + c)` gives `K·ln(c/c₀) + c − c₀ = −V·τ`; with `c = c₀·e^d`,
//!   Newton on `w₀·(e^d − 1) + d + V·τ/K = 0` from `d = 0` converges monotonically (the left
//!   side is convex and increasing); the amount taken up is `−c₀·(e^d − 1)`;
//! - conversion: `J = x·(1 − exp(−k·τ))` leaves the source form and `yield·J` enters the target.
//!
//! Every amount moved into a book (uptake, conversion) is added to the cell's book slot in
//! compensated f32. When `time[3]` ≠ 0, the pass first stores the reaction rate of every species
//! at the cell (`rate`), to which the ADI predictor then adds `A u / cap`.
//!
//! Fast binding and the diffusion stages. Left to the splitting alone, a factor that binds fast
//! would diffuse a whole step with its free diffusivity before rebinding: a first-order error in
//! the step that only short steps control. So the first react pass of an ADI step
//! (`local[3]` = [`PHASE_FIRST`]) also leaves, for every binding species at the cell, its
//! capacity `cap = 1 + φ·∂b_eq/∂c` (`∂b_eq/∂c = S·K_d/(K_d + c)²` in molar terms, `S` the sites
//! available to it) and its free value (the anchor). The stages then solve
//! `cap·∂c/∂t = ∇·D∇c − k·c` (see `adi_sweep`): flux arriving at a cell is shared between free
//! and bound as equilibrium shares it. The last react pass ([`PHASE_LAST`]) first puts the
//! bound share `(cap − 1)·(c − anchor)` into the bound field, then reacts as usual. The weight
//! `φ = z²/(1 + z²)`, `z = (k_on·(S_free + c) + k_off)·Δt` the relaxation rate of the pair times
//! the step, is 1 where binding is fast against the step and vanishes as `z²` where it is slow,
//! so the slow-binding limit and second order in time are kept.
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use crate::solver::{Params, TERM_BINDING, TERM_CONVERT_BOUND, TERM_CONVERT_FREE, TERM_UPTAKE, Term, compensated_add};

/// `Params::local[3]` of the first react pass of an ADI step: leave capacities and anchors.
pub const PHASE_FIRST: u32 = 1;
/// `Params::local[3]` of the last react pass of an ADI step: move the bound share of the
/// diffusion stages' change into the bound field first.
pub const PHASE_LAST: u32 = 2;

/// Time scale (s) against which a binding pair counts as fast inside the diffusion stages: the
/// weight φ of its capacity is `z²/(1 + z²)` with `z` its relaxation rate times this. A constant
/// rather than the step, so that the equations the stages solve do not change with the step
/// (a capacity that moved with the step made the error estimate see the change and hold the step
/// down); pairs that relax in seconds are at equilibrium within the stages, pairs that take hours
/// are left to the react passes.
pub const EQUILIBRIUM_TIME: f32 = 60.0;

/// Newton iterations of the uptake solve, at most.
pub const UPTAKE_ITERATIONS: u32 = 40;

/// `exp(x) − 1` without cancellation near 0. Twin of `expm1_f32` in `shaders/common.wgsl`.
pub fn expm1_f32(x: f32) -> f32 {
    if x.abs() < 1e-2 {
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0))));
    }
    x.exp() - 1.0
}

/// The values of one cell that a react pass reads and writes: the engines differ only in
/// where these live. The reference reads the global arrays ([`ArrayCell`]); the fast engine
/// reads them through pointers, one cell per thread.
pub trait CellValues {
    fn free(&self, species: u32) -> f32;
    fn set_free(&mut self, species: u32, v: f32);
    fn bound(&self, row: u32) -> f32;
    fn set_bound(&mut self, row: u32, v: f32);
    /// Adds `amount` to book slot `slot`, compensated.
    fn book(&mut self, slot: u32, amount: f32);
    fn rate(&self, species: u32) -> f32;
    fn set_rate(&mut self, species: u32, v: f32);
    fn cap(&self, species: u32) -> f32;
    fn set_cap(&mut self, species: u32, v: f32);
    /// The free value of bound row `row`'s species after the first react pass of the step.
    fn anchor(&self, row: u32) -> f32;
    fn set_anchor(&mut self, row: u32, v: f32);
}

/// One cell of the global arrays: `c` `[species][cell]`, `local` `[bound rows, book slots,
/// anchors (one per bound row)][cell]`, `local_comp` `[book slot][cell]`, `rate` and `cap`
/// `[species][cell]`.
pub struct ArrayCell<'a> {
    pub c: &'a mut [f32],
    pub local: &'a mut [f32],
    pub local_comp: &'a mut [f32],
    pub rate: &'a mut [f32],
    pub cap: &'a mut [f32],
    pub cell: u32,
    pub n_cells: u32,
    pub n_bound: u32,
    pub n_slots: u32,
}

impl CellValues for ArrayCell<'_> {
    fn free(&self, s: u32) -> f32 {
        self.c[(s * self.n_cells + self.cell) as usize]
    }
    fn set_free(&mut self, s: u32, v: f32) {
        self.c[(s * self.n_cells + self.cell) as usize] = v;
    }
    fn bound(&self, row: u32) -> f32 {
        self.local[(row * self.n_cells + self.cell) as usize]
    }
    fn set_bound(&mut self, row: u32, v: f32) {
        self.local[(row * self.n_cells + self.cell) as usize] = v;
    }
    fn book(&mut self, slot: u32, amount: f32) {
        let i = ((self.n_bound + slot) * self.n_cells + self.cell) as usize;
        let j = (slot * self.n_cells + self.cell) as usize;
        compensated_add(&mut self.local[i], &mut self.local_comp[j], amount);
    }
    fn rate(&self, s: u32) -> f32 {
        self.rate[(s * self.n_cells + self.cell) as usize]
    }
    fn set_rate(&mut self, s: u32, v: f32) {
        self.rate[(s * self.n_cells + self.cell) as usize] = v;
    }
    fn cap(&self, s: u32) -> f32 {
        self.cap[(s * self.n_cells + self.cell) as usize]
    }
    fn set_cap(&mut self, s: u32, v: f32) {
        self.cap[(s * self.n_cells + self.cell) as usize] = v;
    }
    fn anchor(&self, row: u32) -> f32 {
        self.local[((self.n_bound + self.n_slots + row) * self.n_cells + self.cell) as usize]
    }
    fn set_anchor(&mut self, row: u32, v: f32) {
        self.local[((self.n_bound + self.n_slots + row) * self.n_cells + self.cell) as usize] = v;
    }
}

/// Sites of `term`'s pool available to its species at this cell (mol/m³): `B_T` less what the
/// other species binding the same pool in this material hold.
fn available_sites(terms: &[Term], start: u32, end: u32, t: u32, v: &impl CellValues) -> f32 {
    let term = terms[t as usize];
    let mut others = 0.0f32;
    for u in start..end {
        let other = terms[u as usize];
        if u != t && other.kind == TERM_BINDING && other.slot == term.slot {
            others += other.p[3] * v.bound(other.other);
        }
    }
    (term.p[2] - others).max(0.0)
}

/// Bound concentration (species unit) after `tau` s of the binding pair with total `total`
/// (species unit), bound `b`, `sites` available (mol/m³).
pub fn bind_exact(term: &Term, total: f32, b: f32, sites: f32, tau: f32) -> f32 {
    let k_on = term.p[0];
    let kd = term.p[1] / k_on;
    let f = term.p[3];
    let scale = sites + kd;
    let t = f * total / scale;
    let s = sites / scale;
    let k = kd / scale;
    let x0 = f * b / scale;
    let delta = ((t - s + k) * (t - s + k) + 4.0 * k * s).sqrt();
    let low = 2.0 * t * s / (t + s + k + delta);
    let a = x0 - low;
    let z = k_on * scale * delta * tau;
    let e = (-z).exp();
    let den = delta + a * expm1_f32(-z);
    let mut x = low;
    if den > 0.0 {
        x = low + a * e * delta / den;
    }
    x = x.clamp(0.0, t.min(s));
    (x * scale / f).min(total)
}

/// `d` with `w0·(e^d − 1) + d + q = 0` (uptake over a substep: `c = c₀·e^d`).
pub fn uptake_exponent(w0: f32, q: f32) -> f32 {
    let mut d = 0.0f32;
    for _ in 0..UPTAKE_ITERATIONS {
        let h = w0 * expm1_f32(d) + d + q;
        let step = h / (w0 * d.exp() + 1.0);
        d -= step;
        if step.abs() <= 1e-6 * (1.0 + d.abs()) {
            break;
        }
    }
    d.min(0.0)
}

/// Applies term `t` over `tau` s.
fn apply(term: &Term, t: u32, terms: &[Term], start: u32, end: u32, tau: f32, v: &mut impl CellValues) {
    match term.kind {
        TERM_BINDING => {
            let c = v.free(term.field);
            let b = v.bound(term.other);
            let total = c + b;
            if total <= 0.0 {
                return;
            }
            let sites = available_sites(terms, start, end, t, v);
            let b_new = bind_exact(term, total, b, sites, tau);
            v.set_bound(term.other, b_new);
            v.set_free(term.field, total - b_new);
        }
        TERM_UPTAKE => {
            let c = v.free(term.field);
            if c <= 0.0 || term.p[0] <= 0.0 {
                return;
            }
            let d = uptake_exponent(c / term.p[1], term.p[0] * tau / term.p[1]);
            let taken = -c * expm1_f32(d);
            v.set_free(term.field, c - taken);
            v.book(term.slot, taken);
        }
        TERM_CONVERT_FREE | TERM_CONVERT_BOUND => {
            let bound = term.kind == TERM_CONVERT_BOUND;
            let x = if bound { v.bound(term.field) } else { v.free(term.field) };
            if x <= 0.0 {
                return;
            }
            let moved = -x * expm1_f32(-term.p[0] * tau);
            if bound {
                v.set_bound(term.field, x - moved);
            } else {
                v.set_free(term.field, x - moved);
            }
            let to = v.free(term.other);
            v.set_free(term.other, to + term.p[1] * moved);
            v.book(term.slot, moved);
        }
        _ => {}
    }
}

/// Stores the reaction rate of every species at the cell (species unit/s) into `rate`.
fn record_rate(params: &Params, terms: &[Term], start: u32, end: u32, v: &mut impl CellValues) {
    for s in 0..params.counts[0] {
        v.set_rate(s, 0.0);
    }
    for t in start..end {
        let term = terms[t as usize];
        match term.kind {
            TERM_BINDING => {
                let c = v.free(term.field);
                let b = v.bound(term.other);
                let sites = available_sites(terms, start, end, t, v);
                let free_sites = sites - term.p[3] * b;
                let flux = term.p[0] * c * free_sites - term.p[1] * b;
                let r = v.rate(term.field);
                v.set_rate(term.field, r - flux);
            }
            TERM_UPTAKE => {
                let c = v.free(term.field).max(0.0);
                let r = v.rate(term.field);
                v.set_rate(term.field, r - term.p[0] * c / (term.p[1] + c));
            }
            TERM_CONVERT_FREE | TERM_CONVERT_BOUND => {
                let x = if term.kind == TERM_CONVERT_BOUND { v.bound(term.field) } else { v.free(term.field) };
                let flux = term.p[0] * x;
                if term.kind == TERM_CONVERT_FREE {
                    let r = v.rate(term.field);
                    v.set_rate(term.field, r - flux);
                }
                let r = v.rate(term.other);
                v.set_rate(term.other, r + term.p[1] * flux);
            }
            _ => {}
        }
    }
}

/// Moves the bound share of what the diffusion stages changed into the bound field of every
/// binding species at the cell ([`PHASE_LAST`]); a bound value that would fall below 0 stays
/// 0 and the free value takes the rest, so nothing is lost.
fn settle_bound_share(terms: &[Term], start: u32, end: u32, v: &mut impl CellValues) {
    for t in start..end {
        let term = terms[t as usize];
        if term.kind != TERM_BINDING {
            continue;
        }
        let c = v.free(term.field);
        let share = (v.cap(term.field) - 1.0) * (c - v.anchor(term.other));
        let b = v.bound(term.other) + share;
        if b >= 0.0 {
            v.set_bound(term.other, b);
        } else {
            v.set_bound(term.other, 0.0);
            v.set_free(term.field, c + b);
        }
    }
}

/// Leaves the capacity and the anchor of every binding species at the cell ([`PHASE_FIRST`]),
/// weighing the equilibrium share by how far the pair relaxes in `dt` s.
fn leave_capacity(terms: &[Term], start: u32, end: u32, dt: f32, v: &mut impl CellValues) {
    for t in start..end {
        let term = terms[t as usize];
        if term.kind != TERM_BINDING {
            continue;
        }
        let (k_on, k_off, f) = (term.p[0], term.p[1], term.p[3]);
        let c = v.free(term.field);
        let sites = available_sites(terms, start, end, t, v);
        let kd = k_off / k_on;
        let cm = f * c.max(0.0);
        let slope = sites * kd / ((kd + cm) * (kd + cm));
        let free_sites = (sites - f * v.bound(term.other)).max(0.0);
        let z = (k_on * (free_sites + cm) + k_off) * dt;
        let phi = z * z / (1.0 + z * z);
        v.set_cap(term.field, 1.0 + phi * slope);
        v.set_anchor(term.other, c);
    }
}

/// The react pass at one cell of material `m`: the per-cell body every engine runs.
pub fn react_cell(params: &Params, terms: &[Term], term_range: &[u32], m: u32, v: &mut impl CellValues) {
    let start = term_range[m as usize];
    let end = term_range[m as usize + 1];
    if params.time[3] != 0.0 {
        record_rate(params, terms, start, end, v);
    }
    if params.local[3] == PHASE_LAST {
        settle_bound_share(terms, start, end, v);
    }
    let half = 0.5 * params.time[0];
    for t in start..end {
        let term = terms[t as usize];
        apply(&term, t, terms, start, end, half, v);
    }
    for t in (start..end).rev() {
        let term = terms[t as usize];
        apply(&term, t, terms, start, end, half, v);
    }
    if params.local[3] == PHASE_FIRST {
        leave_capacity(terms, start, end, EQUILIBRIUM_TIME, v);
    }
}

/// One invocation: `gid = (x, y, z)`, as in the shader.
pub fn react(
    params: &Params,
    material: &[u32],
    terms: &[Term],
    term_range: &[u32],
    c: &mut [f32],
    local: &mut [f32],
    local_comp: &mut [f32],
    rate: &mut [f32],
    cap: &mut [f32],
    gid: [u32; 3],
) {
    let [nx, ny, nz, n_cells] = params.cells;
    let [x, y, z] = gid;
    if x >= nx || y >= ny || z >= nz {
        return;
    }
    let cell = x + nx * (y + ny * z);
    let mut v = ArrayCell {
        c,
        local,
        local_comp,
        rate,
        cap,
        cell,
        n_cells,
        n_bound: params.local[0],
        n_slots: params.local[1],
    };
    react_cell(params, terms, term_range, material[cell as usize], &mut v);
}
