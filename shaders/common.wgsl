// Definitions shared by every kernel: the structs that cross the Rust/WGSL border, the workgroup
// sizes, and the helpers whose CPU twins live in src/solver/mod.rs and
// src/solver/cpu/diffuse_explicit.rs.
//
// src/solver/gpu/kernels.rs places this file in front of each kernel's own file; the kernel never
// names it. It declares no bindings and reads no global: each kernel declares its bindings in the
// order of its CPU twin's arguments, and the helpers take what they need as arguments.

// Twin of `STEP_WORKGROUP` in src/solver/mod.rs: cells per workgroup of the per-cell kernels (x
// direction), grid lines per workgroup of the ADI sweeps.
const STEP_WORKGROUP: u32 = 64u;
// Twin of `REDUCE_WORKGROUP` in src/solver/mod.rs: lanes of the reduction kernels.
const REDUCE_WORKGROUP: u32 = 256u;

// Twin of `Params` in src/solver/mod.rs.
struct Params {
    cells: vec4<u32>,         // nx, ny, nz, n_cells
    counts: vec4<u32>,        // n_species, n_materials, reduce groups per species, partial length
    face_entries: vec4<u32>,  // boundary-face entries per species, -, -, -
    inv_h2: vec4<f32>,        // 1/h^2 per axis (1/m^2)
    inv_h: vec4<f32>,         // 1/h per axis (1/m)
    half_h: vec4<f32>,        // h/2 per axis (m)
    time: vec4<f32>,          // dt of this stage (s), ADI theta, opaque 1.0, 1.0 when the ADI
                              // predictor records the rate A u for the error estimate (else 0)
    stage: vec4<f32>,         // ADI stage coefficients: lambda dt, (theta - mu) dt,
                              // (lambda + theta - mu) dt (s), 1 / number of swept axes
    error: vec4<f32>,         // local_error weights of the newest and the previous rate (s), -, -
    local: vec4<u32>,         // bound fields, book slots per cell, reaction terms, react phase
                              // (1 first pass of an ADI step, 2 last, else 0)
}

// Twin of `Term` in src/solver/mod.rs: one local reaction term of one material.
struct Term {
    kind: u32,          // 1 binding, 2 uptake, 3 free conversion, 4 bound conversion
    field: u32,         // species (binding, uptake, free conversion) or bound row (bound conversion)
    other: u32,         // bound row (binding) or target species (conversions)
    slot: u32,          // pool (binding) or book slot
    p: vec4<f32>,       // see src/solver/mod.rs
}

// exp(x) - 1 without cancellation near 0. Twin of `expm1_f32` in src/solver/cpu/react.rs.
fn expm1_f32(x: f32) -> f32 {
    if (abs(x) < 1e-2) {
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0))));
    }
    return exp(x) - 1.0;
}

// Twin of `Coef` in src/solver/mod.rs; indexed species * n_materials + material.
struct Coef {
    diffusivity: f32,        // m^2/s
    decay: f32,              // 1/s
    velocity: array<f32, 3>, // flow velocity along x, y, z (m/s), the material's
}

// Twin of `FaceBc` in src/solver/mod.rs; indexed species * 6 + face.
struct FaceBc {
    kind: u32,          // 0 no flux, 1 fixed, 2 clearance
    inv_rate: f32,      // s/m; 0 for fixed
    value: f32,         // outside concentration, species unit
    _pad: f32,
}

// Face diffusivity: harmonic mean, zero when neither side diffuses.
// Twin of `face_diffusivity` in src/solver/cpu/diffuse_explicit.rs.
fn face_diffusivity(a: f32, b: f32) -> f32 {
    let s = a + b;
    if (s > 0.0) {
        return 2.0 * a * b / s;
    }
    return 0.0;
}

// Conductance (m/s) between a boundary cell's centre and the outside.
// Twin of `boundary_conductance` in src/solver/cpu/diffuse_explicit.rs.
fn boundary_conductance(bc: FaceBc, d: f32, half_h: f32) -> f32 {
    if (bc.kind == 0u || d <= 0.0) {
        return 0.0;
    }
    return 1.0 / (bc.inv_rate + half_h / d);
}

// Velocity (m/s, along the axis) at the face between two cells of velocities `a` and `b` along
// it: the mean, the same number seen from either side, so the face flux leaving one cell is the
// flux entering the other. Twin of `face_velocity` in src/solver/cpu/diffuse_explicit.rs.
fn face_velocity(a: f32, b: f32) -> f32 {
    return 0.5 * (a + b);
}

// Velocity (m/s) into a boundary cell through its face on `side` (0 low, 1 high) of the box:
// zero at a no-flux wall, else the cell's own velocity along the axis, pointing in.
// Twin of `inflow_velocity` in src/solver/cpu/diffuse_explicit.rs.
fn inflow_velocity(bc: FaceBc, v: f32, side: u32) -> f32 {
    if (bc.kind == 0u) {
        return 0.0;
    }
    return select(-v, v, side == 0u);
}

// Upwind advective flux density into a cell of value `c` through a face with inward velocity
// `w` from a neighbour (or the outside) of value `c_nb`: w c_nb when it flows in, w c when out.
// Twin of `upwind_inflow` in src/solver/cpu/diffuse_explicit.rs.
fn upwind_inflow(w: f32, c: f32, c_nb: f32) -> f32 {
    return max(w, 0.0) * c_nb - max(-w, 0.0) * c;
}

// First entry of face `face` (0..=6) in a species' block of boundary-face entries.
// Twin of `face_offset` in src/solver/mod.rs.
fn face_offset(params: Params, face: u32) -> u32 {
    let nx = params.cells.x;
    let ny = params.cells.y;
    let nz = params.cells.z;
    var sizes = array<u32, 3>(ny * nz, nx * nz, nx * ny);
    var offset = 0u;
    for (var f = 0u; f < face; f++) {
        offset += sizes[f / 2u];
    }
    return offset;
}

// Index of the cell at `pos` within the block of a face normal to `axis`: pos[p] + n_p * pos[q],
// p < q the other two axes. Twin of `plane_index` in src/solver/mod.rs.
fn plane_index(params: Params, pos: vec3<u32>, axis: u32) -> u32 {
    let p = select(0u, 1u, axis == 0u);
    let q = select(2u, 1u, axis == 2u);
    return pos[p] + params.cells[p] * pos[q];
}

// A compensated (Kahan) sum: `sum` and the low bits `comp` it lost.
struct Compensated {
    sum: f32,
    comp: f32,
}

// Adds `x` to a compensated sum. Twin of `compensated_add` in src/solver/mod.rs.
// `one` must be 1.0 read from a uniform (`params.time.z`), so that the compiler cannot know it:
// without the opaque factor, shader compilers that reassociate floating point (lavapipe's does)
// fold `(next - sum) - add` to zero and the compensation silently disappears.
fn compensated_add(acc: Compensated, x: f32, one: f32) -> Compensated {
    let add = x - acc.comp;
    let next = (acc.sum + add) * one;
    return Compensated(next, (next - acc.sum) - add);
}
