// Largest |c - companion| and sum of (c - companion)^2 per workgroup of 256 cells, where
// companion = saved + e0 rate_new + e1 rate_old is the embedded companion of the last step
// (error_estimate in src/solver/mod.rs; e = params.error.xy). Twin of
// src/solver/cpu/local_error.rs.
//
// Workgroup (w, s) covers cells w*256 .. w*256+255 of species s (lanes past the last cell give 0)
// and writes its maximum to partials[2 * (s * groups + w)] and its sum of squares to the entry
// after it, groups = params.counts.z.
// Dispatch: (groups, n_species, 1).
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> c: array<f32>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<storage, read> rate_new: array<f32>;
@group(0) @binding(4) var<storage, read> rate_old: array<f32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

var<workgroup> lanes: array<f32, REDUCE_WORKGROUP>;

@compute @workgroup_size(REDUCE_WORKGROUP, 1, 1)
fn local_error(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let w = wid.x;
    let s = wid.y;
    let cell = w * REDUCE_WORKGROUP + lane;
    var value = 0.0;
    if (cell < params.cells.w) {
        let i = s * params.cells.w + cell;
        let companion = saved[i] + params.error.x * rate_new[i] + params.error.y * rate_old[i];
        value = abs(c[i] - companion);
    }
    let out = 2u * (s * params.counts.z + w);
    lanes[lane] = value;
    workgroupBarrier();
    for (var stride = REDUCE_WORKGROUP / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            lanes[lane] = max(lanes[lane], lanes[lane + stride]);
        }
        workgroupBarrier();
    }
    if (lane == 0u) {
        partials[out] = lanes[0];
    }
    workgroupBarrier();
    lanes[lane] = value * value;
    workgroupBarrier();
    for (var stride = REDUCE_WORKGROUP / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            lanes[lane] = lanes[lane] + lanes[lane + stride];
        }
        workgroupBarrier();
    }
    if (lane == 0u) {
        partials[out + 1u] = lanes[0];
    }
}
