//! Largest |c − saved| per workgroup of 256 cells, for step-size control by step doubling.
//! Twin of `shaders/field_difference.wgsl`.

use crate::solver::{Params, REDUCE_WORKGROUP};

/// Writes the maximum of workgroup `w` of species `s` (`workgroup_id = (w, s)` in the shader) to
/// `partials[s·groups + w]`.
pub fn field_difference(params: &Params, c: &[f32], saved: &[f32], partials: &mut [f32], workgroup_id: [u32; 2]) {
    let [w, s] = workgroup_id;
    let mut lanes = [0.0f32; REDUCE_WORKGROUP as usize];
    for (lane, v) in lanes.iter_mut().enumerate() {
        let cell = w * REDUCE_WORKGROUP + lane as u32;
        if cell < params.cells[3] {
            let i = (s * params.cells[3] + cell) as usize;
            *v = (c[i] - saved[i]).abs();
        }
    }
    let mut stride = REDUCE_WORKGROUP as usize / 2;
    while stride > 0 {
        for lane in 0..stride {
            lanes[lane] = lanes[lane].max(lanes[lane + stride]);
        }
        stride /= 2;
    }
    partials[(s * params.counts[2] + w) as usize] = lanes[0];
}
