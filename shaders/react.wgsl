// The local reactions of every cell over one react pass (Pass::React in src/solver/mod.rs).
// Twin of src/solver/cpu/react.rs: same bindings, same term loop, same operation order.
//
// The terms of the cell's material, terms[term_range[m] .. term_range[m + 1]] (struct Term), are
// applied one after the other, each solved exactly over its substep: first in table order over
// tau/2, then in reverse order over tau/2 (tau = params.time.x):
//
//   binding     c + site <-> b, exact solution of x' = k_on (T - x)(S - x) - k_off x for the
//               bound molar concentration x, T = c + b, S the pool's sites less what the other
//               species of the pool hold (bind_exact);
//   uptake      c' = -V c / (K + c), c = c0 e^d with d from Newton (uptake_exponent); the amount
//               taken up goes to the term's book slot;
//   conversion  J = x (1 - exp(-k tau)) leaves the free or bound source, yield J enters the free
//               target; J goes to the term's book slot.
//
// Book slots are compensated (Kahan) sums with the opaque 1.0 of params.time.z. When
// params.time.w != 0 the pass first stores the reaction rate of every species at the cell in
// `rate` (the ADI predictor then adds A u to it).
//
// Fast binding inside the ADI stages (params.local.w, the phase): the first react pass of an ADI
// step (PHASE_FIRST) ends by leaving, for every binding species at the cell, its capacity
// cap = 1 + phi db_eq/dc (leave_capacity), which the stages solve with, and its free value (the
// anchor); the last (PHASE_LAST) first moves the bound share (cap - 1)(c - anchor) of what the
// stages changed into the bound field (settle_bound_share).
//
// Layouts: c [species][cell]; local [bound rows, book slots, anchors (one per bound row)][cell]
// (params.local.x bound rows, params.local.y book slots); local_comp [book slot][cell]; rate and
// cap [species][cell].
// Dispatch: (ceil(nx / STEP_WORKGROUP), ny, nz); gid = (x, y, z), one invocation per cell.
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> terms: array<Term>;
@group(0) @binding(3) var<storage, read> term_range: array<u32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read_write> local: array<f32>;
@group(0) @binding(6) var<storage, read_write> local_comp: array<f32>;
@group(0) @binding(7) var<storage, read_write> rate: array<f32>;
@group(0) @binding(8) var<storage, read_write> cap: array<f32>;

// Twins of TERM_* in src/solver/mod.rs.
const TERM_BINDING: u32 = 1u;
const TERM_UPTAKE: u32 = 2u;
const TERM_CONVERT_FREE: u32 = 3u;
const TERM_CONVERT_BOUND: u32 = 4u;

// Twins of PHASE_FIRST and PHASE_LAST in src/solver/cpu/react.rs: params.local.w of the first
// and the last react pass of an ADI step.
const PHASE_FIRST: u32 = 1u;
const PHASE_LAST: u32 = 2u;

// Twin of UPTAKE_ITERATIONS in src/solver/cpu/react.rs: Newton iterations of the uptake solve,
// at most.
const UPTAKE_ITERATIONS: u32 = 40u;

// The values of one cell (the CellValues of the twin, on the global arrays).
fn free(s: u32, cell: u32) -> f32 {
    return c[s * params.cells.w + cell];
}

fn set_free(s: u32, cell: u32, v: f32) {
    c[s * params.cells.w + cell] = v;
}

fn bound(row: u32, cell: u32) -> f32 {
    return local[row * params.cells.w + cell];
}

fn set_bound(row: u32, cell: u32, v: f32) {
    local[row * params.cells.w + cell] = v;
}

// Adds `amount` to book slot `slot` of the cell, compensated; `params.time.z` is the opaque 1.0.
fn book(slot: u32, cell: u32, amount: f32) {
    let i = (params.local.x + slot) * params.cells.w + cell;
    let j = slot * params.cells.w + cell;
    let next = compensated_add(Compensated(local[i], local_comp[j]), amount, params.time.z);
    local[i] = next.sum;
    local_comp[j] = next.comp;
}

fn rate_of(s: u32, cell: u32) -> f32 {
    return rate[s * params.cells.w + cell];
}

fn set_rate(s: u32, cell: u32, v: f32) {
    rate[s * params.cells.w + cell] = v;
}

fn cap_of(s: u32, cell: u32) -> f32 {
    return cap[s * params.cells.w + cell];
}

fn set_cap(s: u32, cell: u32, v: f32) {
    cap[s * params.cells.w + cell] = v;
}

// The free value of bound row `row`'s species after the first react pass of the step.
fn anchor(row: u32, cell: u32) -> f32 {
    return local[(params.local.x + params.local.y + row) * params.cells.w + cell];
}

fn set_anchor(row: u32, cell: u32, v: f32) {
    local[(params.local.x + params.local.y + row) * params.cells.w + cell] = v;
}

// Sites of term t's pool available to its species at this cell (mol/m^3): B_T less what the
// other species binding the same pool in this material hold.
fn available_sites(start: u32, end: u32, t: u32, cell: u32) -> f32 {
    let term = terms[t];
    var others = 0.0;
    for (var u = start; u < end; u++) {
        let other = terms[u];
        if (u != t && other.kind == TERM_BINDING && other.slot == term.slot) {
            others += other.p.w * bound(other.other, cell);
        }
    }
    return max(term.p.z - others, 0.0);
}

// Bound concentration (species unit) after `tau` s of the binding pair with total `total`
// (species unit), bound `b`, `sites` available (mol/m^3).
fn bind_exact(term: Term, total: f32, b: f32, sites: f32, tau: f32) -> f32 {
    let k_on = term.p.x;
    let kd = term.p.y / k_on;
    let f = term.p.w;
    let scale = sites + kd;
    let t = f * total / scale;
    let s = sites / scale;
    let k = kd / scale;
    let x0 = f * b / scale;
    let delta = sqrt((t - s + k) * (t - s + k) + 4.0 * k * s);
    let low = 2.0 * t * s / (t + s + k + delta);
    let a = x0 - low;
    let z = k_on * scale * delta * tau;
    let e = exp(-z);
    let den = delta + a * expm1_f32(-z);
    var x = low;
    if (den > 0.0) {
        x = low + a * e * delta / den;
    }
    x = clamp(x, 0.0, min(t, s));
    return min(x * scale / f, total);
}

// d with w0 (e^d - 1) + d + q = 0 (uptake over a substep: c = c0 e^d).
fn uptake_exponent(w0: f32, q: f32) -> f32 {
    var d = 0.0;
    for (var i = 0u; i < UPTAKE_ITERATIONS; i++) {
        let h = w0 * expm1_f32(d) + d + q;
        let step = h / (w0 * exp(d) + 1.0);
        d -= step;
        if (abs(step) <= 1e-6 * (1.0 + abs(d))) {
            break;
        }
    }
    return min(d, 0.0);
}

// Applies term t over `tau` s.
fn apply(t: u32, start: u32, end: u32, tau: f32, cell: u32) {
    let term = terms[t];
    switch (term.kind) {
        case TERM_BINDING: {
            let cf = free(term.field, cell);
            let b = bound(term.other, cell);
            let total = cf + b;
            if (total <= 0.0) {
                return;
            }
            let sites = available_sites(start, end, t, cell);
            let b_new = bind_exact(term, total, b, sites, tau);
            set_bound(term.other, cell, b_new);
            set_free(term.field, cell, total - b_new);
        }
        case TERM_UPTAKE: {
            let cf = free(term.field, cell);
            if (cf <= 0.0 || term.p.x <= 0.0) {
                return;
            }
            let d = uptake_exponent(cf / term.p.y, term.p.x * tau / term.p.y);
            let taken = -cf * expm1_f32(d);
            set_free(term.field, cell, cf - taken);
            book(term.slot, cell, taken);
        }
        case TERM_CONVERT_FREE, TERM_CONVERT_BOUND: {
            let is_bound = term.kind == TERM_CONVERT_BOUND;
            var x: f32;
            if (is_bound) {
                x = bound(term.field, cell);
            } else {
                x = free(term.field, cell);
            }
            if (x <= 0.0) {
                return;
            }
            let moved = -x * expm1_f32(-term.p.x * tau);
            if (is_bound) {
                set_bound(term.field, cell, x - moved);
            } else {
                set_free(term.field, cell, x - moved);
            }
            let to = free(term.other, cell);
            set_free(term.other, cell, to + term.p.y * moved);
            book(term.slot, cell, moved);
        }
        default: {}
    }
}

// Stores the reaction rate of every species at the cell (species unit/s) into `rate`.
fn record_rate(start: u32, end: u32, cell: u32) {
    for (var s = 0u; s < params.counts.x; s++) {
        set_rate(s, cell, 0.0);
    }
    for (var t = start; t < end; t++) {
        let term = terms[t];
        switch (term.kind) {
            case TERM_BINDING: {
                let cf = free(term.field, cell);
                let b = bound(term.other, cell);
                let sites = available_sites(start, end, t, cell);
                let free_sites = sites - term.p.w * b;
                let flux = term.p.x * cf * free_sites - term.p.y * b;
                let r = rate_of(term.field, cell);
                set_rate(term.field, cell, r - flux);
            }
            case TERM_UPTAKE: {
                let cf = max(free(term.field, cell), 0.0);
                let r = rate_of(term.field, cell);
                set_rate(term.field, cell, r - term.p.x * cf / (term.p.y + cf));
            }
            case TERM_CONVERT_FREE, TERM_CONVERT_BOUND: {
                var x: f32;
                if (term.kind == TERM_CONVERT_BOUND) {
                    x = bound(term.field, cell);
                } else {
                    x = free(term.field, cell);
                }
                let flux = term.p.x * x;
                if (term.kind == TERM_CONVERT_FREE) {
                    let r = rate_of(term.field, cell);
                    set_rate(term.field, cell, r - flux);
                }
                let r = rate_of(term.other, cell);
                set_rate(term.other, cell, r + term.p.y * flux);
            }
            default: {}
        }
    }
}

// Moves the bound share of what the diffusion stages changed into the bound field of every
// binding species at the cell (PHASE_LAST); a bound value that would fall below 0 stays 0 and the
// free value takes the rest, so nothing is lost.
fn settle_bound_share(start: u32, end: u32, cell: u32) {
    for (var t = start; t < end; t++) {
        let term = terms[t];
        if (term.kind != TERM_BINDING) {
            continue;
        }
        let cf = free(term.field, cell);
        let share = (cap_of(term.field, cell) - 1.0) * (cf - anchor(term.other, cell));
        let b = bound(term.other, cell) + share;
        if (b >= 0.0) {
            set_bound(term.other, cell, b);
        } else {
            set_bound(term.other, cell, 0.0);
            set_free(term.field, cell, cf + b);
        }
    }
}

// Leaves the capacity and the anchor of every binding species at the cell for a step of `dt` s
// (PHASE_FIRST).
// Twin of `EQUILIBRIUM_TIME` in src/solver/cpu/react.rs (s).
const EQUILIBRIUM_TIME: f32 = 60.0;

fn leave_capacity(start: u32, end: u32, dt: f32, cell: u32) {
    for (var t = start; t < end; t++) {
        let term = terms[t];
        if (term.kind != TERM_BINDING) {
            continue;
        }
        let k_on = term.p.x;
        let k_off = term.p.y;
        let f = term.p.w;
        let cf = free(term.field, cell);
        let sites = available_sites(start, end, t, cell);
        let kd = k_off / k_on;
        let cm = f * max(cf, 0.0);
        let slope = sites * kd / ((kd + cm) * (kd + cm));
        let free_sites = max(sites - f * bound(term.other, cell), 0.0);
        let z = (k_on * (free_sites + cm) + k_off) * dt;
        let phi = z * z / (1.0 + z * z);
        set_cap(term.field, cell, 1.0 + phi * slope);
        set_anchor(term.other, cell, cf);
    }
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn react(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nx = params.cells.x;
    let ny = params.cells.y;
    let nz = params.cells.z;
    let x = gid.x;
    let y = gid.y;
    let z = gid.z;
    if (x >= nx || y >= ny || z >= nz) {
        return;
    }
    let cell = x + nx * (y + ny * z);
    let m = material[cell];
    let start = term_range[m];
    let end = term_range[m + 1u];
    if (params.time.w != 0.0) {
        record_rate(start, end, cell);
    }
    if (params.local.w == PHASE_LAST) {
        settle_bound_share(start, end, cell);
    }
    let half = 0.5 * params.time.x;
    for (var t = start; t < end; t++) {
        apply(t, start, end, half, cell);
    }
    for (var t = end; t > start; t--) {
        apply(t - 1u, start, end, half, cell);
    }
    if (params.local.w == PHASE_FIRST) {
        leave_capacity(start, end, EQUILIBRIUM_TIME, cell);
    }
}
