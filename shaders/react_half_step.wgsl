// Half a reaction step of the ADI scheme, exact for first-order decay.
// Twin of src/solver/cpu/react_half_step.rs: same bindings, index arithmetic and operation order.
//
//   c'   = c * exp(-k * dt/2)
//   dec += c - c'            (compensated; dec_comp carries the lost low bits)
//
// In place. Dispatch: (ceil(nx / 64), ny, nz * n_species); gid = (x, y, z + nz * species).

// Twin of `Params` in src/solver/mod.rs.
struct Params {
    cells: vec4<u32>,         // nx, ny, nz, n_cells
    counts: vec4<u32>,        // n_species, n_materials, reduce groups per species, partial length
    face_entries: vec4<u32>,  // boundary-face entries per species, -, -, -
    inv_h2: vec4<f32>,        // 1/h^2 per axis (1/m^2)
    inv_h: vec4<f32>,         // 1/h per axis (1/m)
    half_h: vec4<f32>,        // h/2 per axis (m)
    time: vec4<f32>,          // dt of this (sub)step (s), ADI theta, opaque 1.0, -
}

// Twin of `Coef` in src/solver/mod.rs; indexed species * n_materials + material.
struct Coef {
    diffusivity: f32,   // m^2/s
    decay: f32,         // 1/s
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> coef: array<Coef>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> dec: array<f32>;
@group(0) @binding(5) var<storage, read_write> dec_comp: array<f32>;

// Kahan summation into (dec, dec_comp); twin of `compensated_add` in src/solver/mod.rs.
// `params.time.z` is 1.0, read from the uniform so that the compiler cannot know it: without the
// opaque factor, shader compilers that reassociate floating point (lavapipe's does) fold
// `(sum - dec) - add` to zero and the compensation silently disappears.
fn add_decayed(i: u32, x: f32) {
    let add = x - dec_comp[i];
    let sum = (dec[i] + add) * params.time.z;
    dec_comp[i] = (sum - dec[i]) - add;
    dec[i] = sum;
}

@compute @workgroup_size(64, 1, 1)
fn react_half_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nx = params.cells.x;
    let ny = params.cells.y;
    let nz = params.cells.z;
    let n_materials = params.counts.y;
    let x = gid.x;
    let y = gid.y;
    let z = gid.z % nz;
    let s = gid.z / nz;
    if (x >= nx || y >= ny || s >= params.counts.x) {
        return;
    }
    let cell = x + nx * (y + ny * z);
    let i = s * params.cells.w + cell;
    let k = coef[s * n_materials + material[cell]].decay;
    let before = c[i];
    let after = before * exp(-k * (0.5 * params.time.x));
    c[i] = after;
    add_decayed(i, before - after);
}
