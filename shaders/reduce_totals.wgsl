// Per-workgroup partial sums for the bookkeeping. Twin of src/solver/cpu/reduce_totals.rs.
//
// Workgroup (w, s) has 256 lanes; lane l stands for cell w*256 + l of species s in the cell
// quantities and for boundary-face entry w*256 + l (of the species' block) in the face
// quantities; groups covers the larger range. Partial q of (s, w) is at (s * groups + w) * Q + q:
// per material m: [3m] sum c, [3m+1] max c, [3m+2] sum dec; then per face f: [3M+f] sum out over
// the entries of that face.
// Dispatch: (groups, n_species, 1).
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> c: array<f32>;
@group(0) @binding(3) var<storage, read> dec: array<f32>;
@group(0) @binding(4) var<storage, read> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

const LOWEST: f32 = -3.4028235e38;

var<workgroup> lanes: array<f32, REDUCE_WORKGROUP>;

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
    if (entry < face_offset(params, face) || entry >= face_offset(params, face + 1u)) {
        return 0.0;
    }
    return out[s * params.face_entries.x + entry];
}

@compute @workgroup_size(REDUCE_WORKGROUP, 1, 1)
fn reduce_totals(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let w = wid.x;
    let s = wid.y;
    let groups = params.counts.z;
    let q_len = params.counts.w;
    let n_materials = params.counts.y;
    for (var q = 0u; q < q_len; q++) {
        let is_max = q < 3u * n_materials && q % 3u == 1u;
        lanes[lane] = lane_value(s, w * REDUCE_WORKGROUP + lane, q);
        workgroupBarrier();
        for (var stride = REDUCE_WORKGROUP / 2u; stride > 0u; stride /= 2u) {
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
