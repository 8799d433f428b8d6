//! The react pass of the fast engine: the per-cell body of the reference
//! ([`crate::solver::cpu::react::react_cell`]) over blocks of cells in parallel.

use crate::solver::cpu::react::{CellValues, react_cell};
use crate::solver::{Tables, compensated_add};
use rayon::prelude::*;

/// Cells per task.
const CELLS_PER_TASK: usize = 4096;

/// One cell's values, reached through pointers into the engine's arrays (`[row][cell]`
/// layouts as in [`crate::solver::cpu::react::ArrayCell`]).
struct PtrCell {
    arrays: Arrays,
    cell: usize,
}

/// The arrays a react pass writes.
#[derive(Clone, Copy)]
struct Arrays {
    c: *mut f32,
    local: *mut f32,
    local_comp: *mut f32,
    rate: *mut f32,
    cap: *mut f32,
    n_cells: usize,
    n_bound: usize,
    n_slots: usize,
}

// SAFETY: tasks touch disjoint sets of cells; every access through `Arrays` is at
// `row · n_cells + cell` for a cell of the task's own block.
unsafe impl Send for Arrays {}
unsafe impl Sync for Arrays {}

impl PtrCell {
    /// SAFETY (for every accessor): `cell < n_cells` and the row is within the array, checked by
    /// [`react_pass`] from the table sizes; no other task reaches this cell.
    fn at(&self, base: *mut f32, row: u32) -> *mut f32 {
        unsafe { base.add(row as usize * self.arrays.n_cells + self.cell) }
    }
}

impl CellValues for PtrCell {
    fn free(&self, s: u32) -> f32 {
        unsafe { *self.at(self.arrays.c, s) }
    }
    fn set_free(&mut self, s: u32, v: f32) {
        unsafe { *self.at(self.arrays.c, s) = v }
    }
    fn bound(&self, row: u32) -> f32 {
        unsafe { *self.at(self.arrays.local, row) }
    }
    fn set_bound(&mut self, row: u32, v: f32) {
        unsafe { *self.at(self.arrays.local, row) = v }
    }
    fn book(&mut self, slot: u32, amount: f32) {
        let sum = self.at(self.arrays.local, self.arrays.n_bound as u32 + slot);
        let comp = self.at(self.arrays.local_comp, slot);
        unsafe { compensated_add(&mut *sum, &mut *comp, amount) }
    }
    fn rate(&self, s: u32) -> f32 {
        unsafe { *self.at(self.arrays.rate, s) }
    }
    fn set_rate(&mut self, s: u32, v: f32) {
        unsafe { *self.at(self.arrays.rate, s) = v }
    }
    fn cap(&self, s: u32) -> f32 {
        unsafe { *self.at(self.arrays.cap, s) }
    }
    fn set_cap(&mut self, s: u32, v: f32) {
        unsafe { *self.at(self.arrays.cap, s) = v }
    }
    fn anchor(&self, row: u32) -> f32 {
        let a = &self.arrays;
        unsafe { *self.at(a.local, (a.n_bound + a.n_slots) as u32 + row) }
    }
    fn set_anchor(&mut self, row: u32, v: f32) {
        let a = &self.arrays;
        unsafe { *self.at(a.local, (a.n_bound + a.n_slots) as u32 + row) = v }
    }
}

/// The react pass over every cell with `tables.params` already set (`time[3]` ≠ 0: store the
/// rate into `rate`, which must then hold every species' field; `cap` holds every species'
/// field where the problem has binding terms).
#[allow(clippy::too_many_arguments)]
pub fn react_pass(
    pool: &rayon::ThreadPool,
    serial: bool,
    tables: &Tables,
    c: &mut [f32],
    local: &mut [f32],
    local_comp: &mut [f32],
    rate: &mut [f32],
    cap: &mut [f32],
) {
    let p = &tables.params;
    let n_cells = p.cells[3] as usize;
    let [n_bound, n_slots, _, _] = p.local.map(|x| x as usize);
    let ns = p.counts[0] as usize;
    assert!(c.len() >= ns * n_cells && local.len() >= (2 * n_bound + n_slots) * n_cells);
    assert!(n_bound == 0 || cap.len() >= ns * n_cells);
    assert!(local_comp.len() >= n_slots * n_cells);
    let recording = p.time[3] != 0.0;
    assert!(!recording || rate.len() >= ns * n_cells);
    // Every row a term names is below these bounds (the tables are built from one problem).
    let arrays = Arrays {
        c: c.as_mut_ptr(),
        local: local.as_mut_ptr(),
        local_comp: local_comp.as_mut_ptr(),
        rate: if recording { rate.as_mut_ptr() } else { std::ptr::null_mut() },
        cap: if n_bound > 0 { cap.as_mut_ptr() } else { std::ptr::null_mut() },
        n_cells,
        n_bound,
        n_slots,
    };
    let block = |b: usize| {
        for cell in b * CELLS_PER_TASK..((b + 1) * CELLS_PER_TASK).min(n_cells) {
            let m = tables.material[cell];
            if tables.term_range[m as usize] == tables.term_range[m as usize + 1] && !recording {
                continue;
            }
            react_cell(p, &tables.terms, &tables.term_range, m, &mut PtrCell { arrays, cell });
        }
    };
    let blocks = n_cells.div_ceil(CELLS_PER_TASK);
    if serial {
        (0..blocks).for_each(block);
    } else {
        pool.install(|| (0..blocks).into_par_iter().for_each(block));
    }
}
