// Per-workgroup partial sums for the bookkeeping. Twin of src/solver/cpu/reduce_totals.rs.
//
// Workgroup (w, s) has 256 lanes; lane l stands for cell w*256 + l of species s in the cell
// quantities and for boundary-face entry w*256 + l (of the species' block) in the face
// quantities; groups covers the larger range. Partial q of (s, w) is at (s * groups + w) * Q + q:
// per material m: [3m] sum c, [3m+1] max c, [3m+2] sum dec; then per face f: [3M+f] sum out over
// the entries of that face.
// Dispatch: (groups, n_species, 1).

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

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read> dec: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

const LOWEST: f32 = -3.4028235e38;

var<workgroup> lanes: array<f32, 256>;

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

fn lane_value(s: u32, lane_index: u32, q: u32) -> f32 {
    let n_materials = params.counts.y;
    let is_max = q < 3u * n_materials && q % 3u == 1u;
    if (q < 3u * n_materials) {
        let cell = lane_index;
        if (cell >= params.cells.w) {
            return select(0.0, LOWEST, is_max);
        }
        let i = s * params.cells.w + cell;
        if (q / 3u != material[cell]) {
            return select(0.0, LOWEST, is_max);
        }
        switch (q % 3u) {
            case 0u: { return c[i]; }
            case 1u: { return c[i]; }
            default: { return dec[i]; }
        }
    }
    let face = q - 3u * n_materials;
    let entry = lane_index;
    if (entry < face_offset(face) || entry >= face_offset(face + 1u)) {
        return 0.0;
    }
    return out[s * params.face_entries.x + entry];
}

@compute @workgroup_size(256, 1, 1)
fn reduce_totals(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let w = wid.x;
    let s = wid.y;
    let groups = params.counts.z;
    let q_len = params.counts.w;
    let n_materials = params.counts.y;
    for (var q = 0u; q < q_len; q++) {
        let is_max = q < 3u * n_materials && q % 3u == 1u;
        lanes[lane] = lane_value(s, w * 256u + lane, q);
        workgroupBarrier();
        for (var stride = 128u; stride > 0u; stride /= 2u) {
            if (lane < stride) {
                let other = lanes[lane + stride];
                if (is_max) {
                    lanes[lane] = max(lanes[lane], other);
                } else {
                    lanes[lane] = lanes[lane] + other;
                }
            }
            workgroupBarrier();
        }
        if (lane == 0u) {
            partials[(s * groups + w) * q_len + q] = lanes[0];
        }
        workgroupBarrier();
    }
}
