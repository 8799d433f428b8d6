// One explicit (forward-Euler, finite-volume) step of every species.
// Twin of src/solver/cpu/diffuse_explicit.rs: same bindings, index arithmetic and operation order.
//
//   div  = sum_interior D_f/h^2 (c_nb - c)  -  sum_boundary g/h (c - c_b)
//   c'   = c + dt (div - k c)
//   dec += k c dt            (compensated; dec_comp carries the lost low bits)
//   out += g (c - c_b) dt    (the entry of each boundary face of the cell; compensated)
//
// Dispatch: (ceil(nx / 64), ny, nz * n_species); gid = (x, y, z + nz * species).

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

// Twin of `FaceBc` in src/solver/mod.rs; indexed species * 6 + face.
struct FaceBc {
    kind: u32,          // 0 no flux, 1 fixed, 2 clearance
    inv_rate: f32,      // s/m; 0 for fixed
    value: f32,         // outside concentration, species unit
    _pad: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> coef: array<Coef>;
@group(0) @binding(3) var<storage, read> faces: array<FaceBc>;
@group(0) @binding(4) var<storage, read> c_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> c_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> dec: array<f32>;
@group(0) @binding(7) var<storage, read_write> dec_comp: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read_write> out_comp: array<f32>;

fn face_diffusivity(a: f32, b: f32) -> f32 {
    let s = a + b;
    if (s > 0.0) {
        return 2.0 * a * b / s;
    }
    return 0.0;
}

fn boundary_conductance(bc: FaceBc, d: f32, half_h: f32) -> f32 {
    if (bc.kind == 0u || d <= 0.0) {
        return 0.0;
    }
    return 1.0 / (bc.inv_rate + half_h / d);
}

// First entry of face `face` (0..=6) in a species' block of boundary-face entries.
// Twin of `face_offset` in src/solver/mod.rs.
fn face_offset(face: u32) -> u32 {
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
fn plane_index(pos: vec3<u32>, axis: u32) -> u32 {
    let p = select(0u, 1u, axis == 0u);
    let q = select(2u, 1u, axis == 2u);
    return pos[p] + params.cells[p] * pos[q];
}

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

// Kahan summation into (out, out_comp); twin of `compensated_add` in src/solver/mod.rs.
// `params.time.z` is an opaque 1.0 that keeps the compiler from folding the compensation away.
fn add_outflow(e: u32, x: f32) {
    let add = x - out_comp[e];
    let sum = (out[e] + add) * params.time.z;
    out_comp[e] = (sum - out[e]) - add;
    out[e] = sum;
}

@compute @workgroup_size(64, 1, 1)
fn diffuse_explicit(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nx = params.cells.x;
    let ny = params.cells.y;
    let nz = params.cells.z;
    let n_cells = params.cells.w;
    let n_materials = params.counts.y;
    let x = gid.x;
    let y = gid.y;
    let z = gid.z % nz;
    let s = gid.z / nz;
    if (x >= nx || y >= ny || s >= params.counts.x) {
        return;
    }
    let cell = x + nx * (y + ny * z);
    let base = s * n_cells;
    let i = base + cell;
    let m = material[cell];
    let here = coef[s * n_materials + m];
    let d = here.diffusivity;
    let c = c_in[i];
    let dt = params.time.x;

    let pos = vec3<u32>(x, y, z);
    let stride = vec3<u32>(1u, nx, nx * ny);
    var div = 0.0;
    for (var axis = 0u; axis < 3u; axis++) {
        for (var side = 0u; side < 2u; side++) {
            var at_edge: bool;
            if (side == 0u) {
                at_edge = pos[axis] == 0u;
            } else {
                at_edge = pos[axis] + 1u == params.cells[axis];
            }
            if (at_edge) {
                let face = 2u * axis + side;
                let bc = faces[s * 6u + face];
                let g = boundary_conductance(bc, d, params.half_h[axis]);
                let flux = g * (c - bc.value);
                div -= flux * params.inv_h[axis];
                let e = s * params.face_entries.x + face_offset(face) + plane_index(pos, axis);
                add_outflow(e, flux * dt);
            } else {
                var nb: u32;
                if (side == 0u) {
                    nb = cell - stride[axis];
                } else {
                    nb = cell + stride[axis];
                }
                let d_nb = coef[s * n_materials + material[nb]].diffusivity;
                div += face_diffusivity(d, d_nb) * params.inv_h2[axis] * (c_in[base + nb] - c);
            }
        }
    }
    let decay = here.decay * c;
    c_out[i] = c + dt * (div - decay);
    add_decayed(i, decay * dt);
}
