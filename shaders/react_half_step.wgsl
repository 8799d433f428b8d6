// Half a reaction step of the ADI scheme, exact for first-order decay.
// Twin of src/solver/cpu/react_half_step.rs: same bindings, index arithmetic and operation order.
//
//   c'   = c * exp(-k * dt/2)
//   dec += c - c'            (compensated; dec_comp carries the lost low bits)
//
// In place. Dispatch: (ceil(nx / STEP_WORKGROUP), ny, nz * n_species);
// gid = (x, y, z + nz * species).
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> coef: array<Coef>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> dec: array<f32>;
@group(0) @binding(5) var<storage, read_write> dec_comp: array<f32>;

// Books `x` into the compensated pair (dec[i], dec_comp[i]); `params.time.z` is the opaque 1.0.
fn add_decayed(i: u32, x: f32) {
    let next = compensated_add(Compensated(dec[i], dec_comp[i]), x, params.time.z);
    dec[i] = next.sum;
    dec_comp[i] = next.comp;
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
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
