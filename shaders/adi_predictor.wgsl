// The explicit predictor of an ADI stage (Stage in src/solver/mod.rs).
// Twin of src/solver/cpu/adi_predictor.rs: same bindings, index arithmetic and operation order.
//
//   r    = A u = sum_interior (D_f/h^2 (u_nb - u) + up(w, u, u_nb)/h)
//              - sum_boundary (g (u - c_b) - up(w, u, c_b))/h - k u
//   rate = r                 (when params.time.w == 1: the error estimate needs it;
//                             params.time.w == 2: rate += r / cap, after react stored its rate)
//   v0   = u + lambda dt r / cap   (lambda dt = params.stage.x; cap: the cell's capacity, see
//                                   adi_sweep.wgsl)
//
// The face rule of diffuse_explicit (upwind advection included), without bookkeeping: what the stage removes is booked by the
// sweeps (adi_sweep.wgsl).
// Dispatch: (ceil(nx / STEP_WORKGROUP), ny, nz * n_species); gid = (x, y, z + nz * species).
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> material: array<u32>;
@group(0) @binding(2) var<storage, read> coef: array<Coef>;
@group(0) @binding(3) var<storage, read> faces: array<FaceBc>;
@group(0) @binding(4) var<storage, read> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<storage, read> cap: array<f32>;
@group(0) @binding(7) var<storage, read_write> rate: array<f32>;

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
fn adi_predictor(@builtin(global_invocation_id) gid: vec3<u32>) {
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
    let own = s * n_materials + material[cell];
    let here = coef[own];
    let d = here.diffusivity;
    let c = u[i];

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
                let bc = faces[s * 6u + 2u * axis + side];
                let g = boundary_conductance(bc, d, params.half_h[axis]);
                let w = inflow_velocity(bc, coef[own].velocity[axis], side);
                div -= g * (c - bc.value) * params.inv_h[axis];
                div += upwind_inflow(w, c, bc.value) * params.inv_h[axis];
            } else {
                var nb: u32;
                if (side == 0u) {
                    nb = cell - stride[axis];
                } else {
                    nb = cell + stride[axis];
                }
                let there = s * n_materials + material[nb];
                let u_nb = u[base + nb];
                div += face_diffusivity(d, coef[there].diffusivity) * params.inv_h2[axis] * (u_nb - c);
                let w = face_velocity(coef[own].velocity[axis], coef[there].velocity[axis]);
                let w_in = select(-w, w, side == 0u);
                div += upwind_inflow(w_in, c, u_nb) * params.inv_h[axis];
            }
        }
    }
    let r = div - here.decay * c;
    if (params.time.w == 2.0) {
        rate[i] = rate[i] + r / cap[i];
    } else if (params.time.w != 0.0) {
        rate[i] = r;
    }
    v[i] = c + params.stage.x * r / cap[i];
}
