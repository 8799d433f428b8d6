// One explicit (forward-Euler, finite-volume) step of every species.
// Twin of src/solver/cpu/diffuse_explicit.rs: same bindings, index arithmetic and operation order.
//
//   div  = sum_interior D_f/h^2 (c_nb - c) + up(w, c, c_nb)/h
//        - sum_boundary (g (c - c_b) - up(w, c, c_b))/h
//   c'   = c + dt (div - k c)
//   dec += k c dt            (compensated; dec_comp carries the lost low bits)
//   out += (g (c - c_b) - up(w, c, c_b)) dt   (each boundary face of the cell; compensated)
//
// Advection is first-order upwind: w is the velocity into the cell through the face
// (face_velocity between cells, inflow_velocity at the box, zero at a no-flux wall) and
// up(w, c, c_nb) = max(w, 0) c_nb - max(-w, 0) c (upwind_inflow, common.wgsl).
//
// Dispatch: (ceil(nx / STEP_WORKGROUP), ny, nz * n_species); gid = (x, y, z + nz * species).
//
// The structs, workgroup sizes and helpers it uses without declaring are in common.wgsl, which
// src/solver/gpu/kernels.rs places in front of this file.

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

// Books `x` into the compensated pair (dec[i], dec_comp[i]); `params.time.z` is the opaque 1.0.
fn add_decayed(i: u32, x: f32) {
    let next = compensated_add(Compensated(dec[i], dec_comp[i]), x, params.time.z);
    dec[i] = next.sum;
    dec_comp[i] = next.comp;
}

// Books `x` into the compensated pair (out[e], out_comp[e]); `params.time.z` is the opaque 1.0.
fn add_outflow(e: u32, x: f32) {
    let next = compensated_add(Compensated(out[e], out_comp[e]), x, params.time.z);
    out[e] = next.sum;
    out_comp[e] = next.comp;
}

@compute @workgroup_size(STEP_WORKGROUP, 1, 1)
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
                let w = inflow_velocity(bc, coef[s * n_materials + m].velocity[axis], side);
                let flux = g * (c - bc.value) - upwind_inflow(w, c, bc.value);
                div -= flux * params.inv_h[axis];
                let e = s * params.face_entries.x + face_offset(params, face) + plane_index(params, pos, axis);
                add_outflow(e, flux * dt);
            } else {
                var nb: u32;
                if (side == 0u) {
                    nb = cell - stride[axis];
                } else {
                    nb = cell + stride[axis];
                }
                let there = s * n_materials + material[nb];
                let c_nb = c_in[base + nb];
                div += face_diffusivity(d, coef[there].diffusivity) * params.inv_h2[axis] * (c_nb - c);
                let w = face_velocity(coef[s * n_materials + m].velocity[axis], coef[there].velocity[axis]);
                let w_in = select(-w, w, side == 0u);
                div += upwind_inflow(w_in, c, c_nb) * params.inv_h[axis];
            }
        }
    }
    let decay = here.decay * c;
    c_out[i] = c + dt * (div - decay);
    add_decayed(i, decay * dt);
}
