//! Per-workgroup partial sums of the local rows: every bound field, then every book slot of the
//! local reactions. Twin of `shaders/reduce_rows.wgsl`.
//!
//! Workgroup `w` of row `r` has 256 lanes; lane `l` stands for cell `w·256 + l` (`groups` =
//! `params.counts[2]` workgroups per row, as for `reduce_totals`). Partial `q` of `(r, w)` is at
//! `(r·groups + w)·2M + q`: per material `m`, `[2m]` Σ and `[2m+1]` max of the row over the
//! cells of that material, folded with the same halving tree as the shader.

use crate::solver::{Params, REDUCE_WORKGROUP};

/// Lowest f32, the identity of `max`.
const LOWEST: f32 = -3.4028235e38;

/// Writes the partials of workgroup `w` of row `r` (`workgroup_id = (w, r)` in the shader).
pub fn reduce_rows(params: &Params, material: &[u32], local: &[f32], partials: &mut [f32], workgroup_id: [u32; 2]) {
    let [w, r] = workgroup_id;
    let groups = params.counts[2];
    let n_materials = params.counts[1];
    let n_cells = params.cells[3];
    let mut lanes = [0.0f32; REDUCE_WORKGROUP as usize];
    for q in 0..2 * n_materials {
        let is_max = q % 2 == 1;
        for (lane, v) in lanes.iter_mut().enumerate() {
            let cell = w * REDUCE_WORKGROUP + lane as u32;
            *v = if cell < n_cells && material[cell as usize] == q / 2 {
                local[(r * n_cells + cell) as usize]
            } else if is_max {
                LOWEST
            } else {
                0.0
            };
        }
        let mut stride = REDUCE_WORKGROUP / 2;
        while stride > 0 {
            for lane in 0..stride as usize {
                let other = lanes[lane + stride as usize];
                lanes[lane] = if is_max { lanes[lane].max(other) } else { lanes[lane] + other };
            }
            stride /= 2;
        }
        partials[((r * groups + w) * 2 * n_materials + q) as usize] = lanes[0];
    }
}
