// One implicit stage of an ADI step along one axis (Stage in src/solver/mod.rs), one invocation
// per grid line. Twin of src/solver/cpu/adi_sweep.rs (entry points adi_sweep_x, adi_sweep_y,
// adi_sweep_z are its axis = 0, 1, 2): same bindings, index arithmetic and operation order.
//
//   (M - theta dt L_a) delta = M (v_{a-1} - u) + (theta - mu) dt A_a u,   v_a = u + delta
//
// per line by the Thomas algorithm, with M = diag(cap) the capacity of each cell (1, or
// 1 + db/dc where the species binds fast: see react.wgsl); L_a holds the diffusion and boundary
// conductances along the axis, the upwind couplings of the flow (max(V, 0)/h and max(-V, 0)/h of
// each face, V the face velocity; not symmetric, but every column strictly dominant, so Thomas
// needs no pivoting) and the line's share k/N of the first-order loss (N swept axes,
// 1/N = params.stage.w).
// The term (theta - mu) dt A_a u (params.stage.y) is computed only where it is not zero.
// With kappa = (lambda + theta - mu) dt (params.stage.z), the books:
//
//   dec += k/N (kappa u + theta dt delta)                (each cell with loss; compensated)
//   out += kappa (g (u - c_b) - up(w, u, c_b)) + theta dt (g + max(-w, 0)) delta
//                                                        (at each end face of the line; w the
//                                                        inward velocity, up: upwind_inflow)
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
@group(0) @binding(6) var<storage, read> cap: array<f32>;
@group(0) @binding(7) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(8) var<storage, read_write> out: array<f32>;
@group(0) @binding(9) var<storage, read_write> out_comp: array<f32>;
@group(0) @binding(10) var<storage, read_write> dec: array<f32>;
@group(0) @binding(11) var<storage, read_write> dec_comp: array<f32>;

// Books `x` into the compensated pair (out[e], out_comp[e]); `params.time.z` is the opaque 1.0.
fn add_outflow(e: u32, x: f32) {
    let next = compensated_add(Compensated(out[e], out_comp[e]), x, params.time.z);
    out[e] = next.sum;
    out_comp[e] = next.comp;
}

// Books `x` into the compensated pair (dec[i], dec_comp[i]); `params.time.z` is the opaque 1.0.
fn add_decayed(i: u32, x: f32) {
    let next = compensated_add(Compensated(dec[i], dec_comp[i]), x, params.time.z);
    dec[i] = next.sum;
    dec_comp[i] = next.comp;
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
    let explicit_dt = params.stage.y;
    let booked_dt = params.stage.z;
    let share = params.stage.w;
    let inv_h2 = params.inv_h2[a];
    let inv_h = params.inv_h[a];
    let bc_lo = faces[s * 6u + 2u * axis];
    let bc_hi = faces[s * 6u + 2u * axis + 1u];

    // Forward sweep. Along the line, `west`/`east` are the diffusion couplings D_f/h^2 of the
    // cell's two faces, `*_fwd` = max(w, 0)/h and `*_back` = max(-w, 0)/h the upwind couplings
    // (w the face velocity along the axis): what the face carries towards +axis and -axis.
    var g_lo = 0.0;
    var g_hi = 0.0;
    var w_lo = 0.0;
    var w_hi = 0.0;
    var west = 0.0;
    var west_fwd = 0.0;
    var west_back = 0.0;
    var sup_prev = 0.0;
    var rhs_prev = 0.0;
    var here = coef[s * n_materials + material[first]];
    var u_west = 0.0;
    for (var j = 0u; j < n; j++) {
        let cell = first + j * stride;
        let i = base + cell;
        let c = u[i];
        var east = 0.0;
        var east_fwd = 0.0;
        var east_back = 0.0;
        var next = Coef(0.0, 0.0, array<f32, 3>(0.0, 0.0, 0.0));
        var u_east = 0.0;
        if (j + 1u < n) {
            next = coef[s * n_materials + material[cell + stride]];
            east = face_diffusivity(here.diffusivity, next.diffusivity) * inv_h2;
            let w = face_velocity(here.velocity[a], next.velocity[a]);
            east_fwd = max(w, 0.0) * inv_h;
            east_back = max(-w, 0.0) * inv_h;
            u_east = u[i + stride];
        }
        let loss = here.decay * share;
        var out_coef = 0.0;
        var boundary_flux = 0.0;
        if (j == 0u) {
            g_lo = boundary_conductance(bc_lo, here.diffusivity, params.half_h[a]);
            w_lo = inflow_velocity(bc_lo, here.velocity[a], 0u);
            out_coef += g_lo * inv_h;
            boundary_flux += g_lo * inv_h * (c - bc_lo.value);
            // The flow through the face (none at a no-flux wall): out at c, in at the value.
            out_coef += max(-w_lo, 0.0) * inv_h;
            boundary_flux -= upwind_inflow(w_lo, c, bc_lo.value) * inv_h;
        }
        if (j + 1u == n) {
            g_hi = boundary_conductance(bc_hi, here.diffusivity, params.half_h[a]);
            w_hi = inflow_velocity(bc_hi, here.velocity[a], 1u);
            out_coef += g_hi * inv_h;
            boundary_flux += g_hi * inv_h * (c - bc_hi.value);
            // The flow through the face (none at a no-flux wall): out at c, in at the value.
            out_coef += max(-w_hi, 0.0) * inv_h;
            boundary_flux -= upwind_inflow(w_hi, c, bc_hi.value) * inv_h;
        }
        var rhs = cap[i] * (v[i] - c);
        if (explicit_dt != 0.0) {
            let advected = (west_fwd * u_west - west_back * c) + (east_back * u_east - east_fwd * c);
            let a_u = west * (u_west - c) + east * (u_east - c) + advected - boundary_flux - loss * c;
            rhs += explicit_dt * a_u;
        }
        let sub = -theta_dt * (west + west_fwd);
        let sup = -theta_dt * (east + east_back);
        let diag = cap[i] + theta_dt * (west + east + out_coef + loss + west_back + east_fwd);
        let m = diag - sub * sup_prev;
        sup_prev = sup / m;
        rhs_prev = (rhs - sub * rhs_prev) / m;
        scratch[i] = sup_prev;
        v[i] = rhs_prev;
        west = east;
        west_fwd = east_fwd;
        west_back = east_back;
        here = next;
        u_west = c;
    }

    // Back substitution and the books of the line's cells and end faces.
    let entries = s * params.face_entries.x + line;
    var delta = 0.0;
    for (var k = 0u; k < n; k++) {
        let j = n - 1u - k;
        let i = base + first + j * stride;
        delta = v[i] - scratch[i] * delta;
        let c = u[i];
        v[i] = c + delta;
        let loss = coef[s * n_materials + material[first + j * stride]].decay * share;
        if (loss != 0.0) {
            add_decayed(i, loss * (booked_dt * c + theta_dt * delta));
        }
        if (j + 1u == n) {
            let advected = booked_dt * upwind_inflow(w_hi, c, bc_hi.value) - theta_dt * max(-w_hi, 0.0) * delta;
            add_outflow(
                entries + face_offset(params, 2u * axis + 1u),
                booked_dt * g_hi * (c - bc_hi.value) + theta_dt * g_hi * delta - advected,
            );
        }
        if (j == 0u) {
            let advected = booked_dt * upwind_inflow(w_lo, c, bc_lo.value) - theta_dt * max(-w_lo, 0.0) * delta;
            add_outflow(
                entries + face_offset(params, 2u * axis),
                booked_dt * g_lo * (c - bc_lo.value) + theta_dt * g_lo * delta - advected,
            );
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
