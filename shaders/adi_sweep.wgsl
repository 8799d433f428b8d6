// One implicit stage of the Douglas ADI scheme along one axis, one invocation per grid line.
// Twin of src/solver/cpu/adi_sweep.rs (entry points adi_sweep_x, adi_sweep_y, adi_sweep_z are its
// axis = 0, 1, 2): same bindings, index arithmetic and operation order.
//
//   (I - theta dt L_a) delta = v_{a-1} - u,   v_a = u + delta       (Thomas algorithm per line)
//   out += dt g (u - c_b) + theta dt g delta                         (at each end face of the line)
//
// The forward sweep keeps the modified super-diagonal in `scratch` and the modified right-hand
// side in `v` (in place), the back substitution writes v_a.
// Dispatch: (ceil(n_cells / n_axis / STEP_WORKGROUP), n_species, 1); gid = (line, species, 0),
// line = p + n_p q with p < q the two other axes (also the line's entry in its end faces' blocks).
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> coef: array<Coef>;
@group(0) @binding(3) var<storage, read> faces: array<FaceBc>;
@group(0) @binding(4) var<storage, read> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> out_comp: array<f32>;

// Books `x` into the compensated pair (out[e], out_comp[e]); `params.time.z` is the opaque 1.0.
fn add_outflow(e: u32, x: f32) {
    let next = compensated_add(Compensated(out[e], out_comp[e]), x, params.time.z);
    out[e] = next.sum;
    out_comp[e] = next.comp;
}

fn adi_sweep(axis: u32, gid: vec3<u32>) {
    let nx = params.cells.x;
    let ny = params.cells.y;
    let n_cells = params.cells.w;
    let n_materials = params.counts.y;
    let a = axis;
    let p = select(0u, 1u, axis == 0u);
    let q = select(2u, 1u, axis == 2u);
    let n = params.cells[a];
    let line = gid.x;
    let s = gid.y;
    if (line >= n_cells / n || s >= params.counts.x) {
        return;
    }
    var pos = vec3<u32>(0u, 0u, 0u);
    pos[p] = line % params.cells[p];
    pos[q] = line / params.cells[p];
    let first = pos.x + nx * (pos.y + ny * pos.z);
    let stride = vec3<u32>(1u, nx, nx * ny)[a];
    let base = s * n_cells;
    let dt = params.time.x;
    let theta_dt = params.time.y * dt;
    let inv_h2 = params.inv_h2[a];
    let inv_h = params.inv_h[a];
    let bc_lo = faces[s * 6u + 2u * axis];
    let bc_hi = faces[s * 6u + 2u * axis + 1u];

    // Forward sweep.
    var g_lo = 0.0;
    var g_hi = 0.0;
    var west = 0.0;
    var sup_prev = 0.0;
    var rhs_prev = 0.0;
    var d_here = coef[s * n_materials + material[first]].diffusivity;
    for (var j = 0u; j < n; j++) {
        let cell = first + j * stride;
        let i = base + cell;
        var east = 0.0;
        var d_next = 0.0;
        if (j + 1u < n) {
            d_next = coef[s * n_materials + material[cell + stride]].diffusivity;
            east = face_diffusivity(d_here, d_next) * inv_h2;
        }
        var out_coef = 0.0;
        if (j == 0u) {
            g_lo = boundary_conductance(bc_lo, d_here, params.half_h[a]);
            out_coef += g_lo * inv_h;
        }
        if (j + 1u == n) {
            g_hi = boundary_conductance(bc_hi, d_here, params.half_h[a]);
            out_coef += g_hi * inv_h;
        }
        let sub = -theta_dt * west;
        let sup = -theta_dt * east;
        let diag = 1.0 + theta_dt * (west + east + out_coef);
        let m = diag - sub * sup_prev;
        sup_prev = sup / m;
        rhs_prev = (v[i] - u[i] - sub * rhs_prev) / m;
        scratch[i] = sup_prev;
        v[i] = rhs_prev;
        west = east;
        d_here = d_next;
    }

    // Back substitution and the end faces' books.
    let entries = s * params.face_entries.x + line;
    var delta = 0.0;
    for (var k = 0u; k < n; k++) {
        let j = n - 1u - k;
        let i = base + first + j * stride;
        delta = v[i] - scratch[i] * delta;
        let c = u[i];
        v[i] = c + delta;
        if (j + 1u == n) {
            add_outflow(entries + face_offset(params, 2u * axis + 1u), dt * g_hi * (c - bc_hi.value) + theta_dt * g_hi * delta);
        }
        if (j == 0u) {
            add_outflow(entries + face_offset(params, 2u * axis), dt * g_lo * (c - bc_lo.value) + theta_dt * g_lo * delta);
        }
    }
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn adi_sweep_x(@builtin(global_invocation_id) gid: vec3<u32>) {
    adi_sweep(0u, gid);
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn adi_sweep_y(@builtin(global_invocation_id) gid: vec3<u32>) {
    adi_sweep(1u, gid);
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn adi_sweep_z(@builtin(global_invocation_id) gid: vec3<u32>) {
    adi_sweep(2u, gid);
}
