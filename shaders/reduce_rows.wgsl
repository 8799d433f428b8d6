// Per-workgroup partial sums of the local rows: every bound field, then every book slot of the
// local reactions. Twin of src/solver/cpu/reduce_rows.rs.
//
// Workgroup (w, r) has 256 lanes; lane l stands for cell w*256 + l of row r (groups =
// params.counts.z workgroups per row, as for reduce_totals). Partial q of (r, w) is at
// (r * groups + w) * 2M + q: per material m, [2m] sum and [2m+1] max of the row over the cells of
// that material, folded with the same halving tree as the twin.
// Dispatch: (groups, n_bound + n_slots, 1).
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> local: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

const LOWEST: f32 = -3.4028235e38;

var<workgroup> lanes: array<f32, REDUCE_WORKGROUP>;

@compute @workgroup_size(REDUCE_WORKGROUP, 1, 1)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let w = wid.x;
    let r = wid.y;
    let groups = params.counts.z;
    let n_materials = params.counts.y;
    let n_cells = params.cells.w;
    let cell = w * REDUCE_WORKGROUP + lane;
    for (var q = 0u; q < 2u * n_materials; q++) {
        let is_max = q % 2u == 1u;
        var value = select(0.0, LOWEST, is_max);
        if (cell < n_cells) {
            if (material[cell] == q / 2u) {
                value = local[r * n_cells + cell];
            }
        }
        lanes[lane] = value;
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
            partials[(r * groups + w) * 2u * n_materials + q] = lanes[0];
        }
        workgroupBarrier();
    }
}
