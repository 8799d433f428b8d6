// Per-workgroup partial sums for the bookkeeping. Twin of src/solver/cpu/reduce_totals.rs.
//
// Workgroup (w, s) covers cells w*256 .. w*256+255 of species s. Partial q of (s, w) is at
// (s * groups + w) * Q + q: per material m: [3m] sum c, [3m+1] max c, [3m+2] sum k*acc;
// then per face f: [3M+f] sum g*(acc - value*T) over the cells on that face.
// Dispatch: (groups, n_species, 1).

// Twin of `Params` in src/solver/mod.rs.
struct Params {
    cells: vec4<u32>,   // nx, ny, nz, n_cells
    counts: vec4<u32>,  // n_species, n_materials, reduce groups per species, partial length
    inv_h2: vec4<f32>,  // 1/h^2 per axis (1/m^2)
    inv_h: vec4<f32>,   // 1/h per axis (1/m)
    half_h: vec4<f32>,  // h/2 per axis (m)
    time: vec4<f32>,    // dt (s), time since accumulator clear (s), opaque 1.0, -
}

// Twin of `Coef` in src/solver/mod.rs.
struct Coef {
    diffusivity: f32,
    decay: f32,
}

// Twin of `FaceBc` in src/solver/mod.rs.
struct FaceBc {
    kind: u32,
    inv_rate: f32,
    value: f32,
    _pad: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> coef: array<Coef>;
@group(0) @binding(3) var<storage, read> faces: array<FaceBc>;
@group(0) @binding(4) var<storage, read> c: array<f32>;
@group(0) @binding(5) var<storage, read> acc: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

const LOWEST: f32 = -3.4028235e38;

var<workgroup> lanes: array<f32, 256>;

fn boundary_conductance(bc: FaceBc, d: f32, half_h: f32) -> f32 {
    if (bc.kind == 0u || d <= 0.0) {
        return 0.0;
    }
    return 1.0 / (bc.inv_rate + half_h / d);
}

fn lane_value(s: u32, cell: u32, q: u32) -> f32 {
    let n_materials = params.counts.y;
    let is_max = q < 3u * n_materials && q % 3u == 1u;
    if (cell >= params.cells.w) {
        return select(0.0, LOWEST, is_max);
    }
    let i = s * params.cells.w + cell;
    let m = material[cell];
    if (q < 3u * n_materials) {
        if (q / 3u != m) {
            return select(0.0, LOWEST, is_max);
        }
        switch (q % 3u) {
            case 0u: { return c[i]; }
            case 1u: { return c[i]; }
            default: { return coef[s * n_materials + m].decay * acc[i]; }
        }
    }
    let face = q - 3u * n_materials;
    let axis = face / 2u;
    let nx = params.cells.x;
    let ny = params.cells.y;
    let pos = vec3<u32>(cell % nx, (cell / nx) % ny, cell / (nx * ny));
    var on_face: bool;
    if (face % 2u == 0u) {
        on_face = pos[axis] == 0u;
    } else {
        on_face = pos[axis] + 1u == params.cells[axis];
    }
    if (!on_face) {
        return 0.0;
    }
    let bc = faces[s * 6u + face];
    let d = coef[s * n_materials + m].diffusivity;
    let g = boundary_conductance(bc, d, params.half_h[axis]);
    return g * (acc[i] - bc.value * params.time.y);
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
