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
//! at the cell (`rate`), to which the ADI predictor then adds `A u`.
#![allow(clippy::too_many_arguments)] // keeps the signature comparable to the shader's bindings

use crate::solver::{
    Params, TERM_BINDING, TERM_CONVERT_BOUND, TERM_CONVERT_FREE, TERM_UPTAKE, Term, compensated_add,
};

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
}

/// One cell of the global arrays: `c` `[species][cell]`, `local` `[bound rows, then book
/// slots][cell]`, `local_comp` `[book slot][cell]`, `rate` `[species][cell]`.
pub struct ArrayCell<'a> {
    pub c: &'a mut [f32],
    pub local: &'a mut [f32],
    pub local_comp: &'a mut [f32],
    pub rate: &'a mut [f32],
    pub cell: u32,
    pub n_cells: u32,
    pub n_bound: u32,
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

/// The react pass at one cell of material `m`: the per-cell body every engine runs.
pub fn react_cell(params: &Params, terms: &[Term], term_range: &[u32], m: u32, v: &mut impl CellValues) {
    let start = term_range[m as usize];
    let end = term_range[m as usize + 1];
    if params.time[3] != 0.0 {
        record_rate(params, terms, start, end, v);
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
    gid: [u32; 3],
) {
    let [nx, ny, nz, n_cells] = params.cells;
    let [x, y, z] = gid;
    if x >= nx || y >= ny || z >= nz {
        return;
    }
    let cell = x + nx * (y + ny * z);
    let mut v = ArrayCell { c, local, local_comp, rate, cell, n_cells, n_bound: params.local[0] };
    react_cell(params, terms, term_range, material[cell as usize], &mut v);
}
