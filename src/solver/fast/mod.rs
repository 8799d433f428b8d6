//! The fast CPU engine: the reference's discrete equations (`src/solver/cpu/`), multi-threaded
//! with rayon and reorganised so that the field crosses memory as few times as possible.
//!
//! Both schemes of [`crate::problem`] are solved, per species on cell-centred finite volumes:
//!
//! ```text
//!   explicit_ftcs:  c' = c + dt·(A c − k c)
//!   adi_douglas:    c ← c·e^{−k dt/2};  v₀ = c + dt·A c;
//!                   (I − θ dt A_a) v_a = v_{a−1} − θ dt A_a c   for a = x, y, z;
//!                   c ← v_z·e^{−k dt/2}
//! ```
//!
//! with the same face rule (harmonic-mean face diffusivity, boundary conductance
//! `g = 1/(1/rate + h/2D)`), the same Rannacher start-up (the first
//! [`START_UP_STEPS`] steps as [`START_UP_SUBSTEPS`] substeps with θ = 1) and the same axes swept
//! ([`adi_sweep_axes`]).
//!
//! # Design
//!
//! - **Same arithmetic per cell.** Each cell's value goes through the reference's f32
//!   operations in the reference's order (the same face terms in the same order, `sup/m` and
//!   `rhs/m` as divisions, no fused multiply-adds), so the fields equal the reference's bit for
//!   bit (measured on every test problem); the tests still allow a small mixed tolerance, as
//!   nothing promises that a vectorised `exp` or a future reordering keeps the last bit. Only the
//!   books, sums over many cells, are added in another order (f64 here, compensated f32 there).
//! - **Explicit** ([`explicit_ftcs`]): one task per (species, z-plane), writing its plane of
//!   `c_next`; inner loops run over whole x-rows.
//! - **ADI** ([`adi_douglas`]): two passes instead of the reference's six. Pass 1, one task per
//!   (species, z-plane): first reaction half step, predictor, x stage and y stage of that plane,
//!   in a per-thread plane-sized scratch (the x stage on a transposed copy so that its
//!   recurrence, like the y stage's, runs with whole rows of lines as vector lanes); writes `v_y`
//!   to `c_next`. Pass 2, one task per (species, block of about 512 cells of whole y-rows): the z
//!   stage with the block's cells as lanes through all planes, fused with the second reaction
//!   half step, into `c` in place. Both passes run for a group of species at a time, as many as
//!   fit half the last-level cache ([`CACHE_BUDGET`]), so that pass 2 reads what pass 1 wrote
//!   from the cache rather than from memory.
//! - **Vector code.** Every inner loop runs over a row of cells or of grid lines, without bounds
//!   checks, so the compiler vectorises it; the passes are compiled twice, for AVX2 (chosen at
//!   run time where the CPU has it) and for the baseline target.
//! - **Coefficients without per-cell arrays.** Diffusivity and decay are looked up by material
//!   id. A species whose diffusivity (or decay) is the same in every material present gets its
//!   face coefficients, conductances and Thomas coefficients (`sub`, `m`, `sup'`, one value per
//!   position along each axis, recomputed per step) as single numbers; other species get them per
//!   lane, formed in the per-thread scratch as the reference forms them.
//! - **Books in f64 per task.** Decay per material and outflow per face are summed in f64 per
//!   plane (pass 1, explicit) or per block (pass 2) and added to per-species f64 totals in task
//!   order after each step: no per-cell accumulators. Tasks are cut by the grid alone, so fields
//!   and totals are bit-identical for any thread count (and any species grouping).
//!   [`Engine::reduce_totals`] sums the present amount and the maximum per material in a
//!   parallel pass over the field.
//!
//! Memory: two f32 fields (8 bytes per cell·species), the material ids (4 bytes per cell, held
//! twice: in the engine's copy of the problem and in its layout), and per thread a few planes of
//! scratch (more for species with per-cell diffusivity). On 128³ cells × 10 species this is 9.5
//! bytes per cell·species of peak resident memory, the problem included.
//!
//! Limits: a problem of one z-plane (2D in x–y) runs its single plane of each species as one
//! pass-1 task, so that pass is parallel over species only.

/// Defines `fn $name($args)` that runs `$body($args)` (an `#[inline(always)]` function)
/// compiled for AVX2 where the CPU has it, else compiled for the baseline target. Vector width
/// changes nothing in the results: the kernels do lane-wise f32 arithmetic, and Rust never fuses
/// a multiply and an add on its own.
macro_rules! with_avx2 {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:ident) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use with_avx2;

pub mod adi_douglas;
pub mod explicit_ftcs;
pub mod kernels;

use std::sync::Mutex;

use rayon::prelude::*;

use super::cpu::diffuse_explicit::face_diffusivity;
use super::{
    Difference, Engine, EngineInfo, FaceBc, SAVE_SLOTS, START_UP_STEPS, START_UP_SUBSTEPS, SolverError, SpeciesTotals,
    Tables, adi_sweep_axes, slot_error,
};
use crate::problem::{Problem, Scheme};
use kernels::{LineCoefficients, SweepConstants, sum_f64};

/// Default bytes of `c` and `c_next` that one ADI group of species may span (half the 32 MiB L3
/// of the machine this was tuned on): pass 2 then finds what pass 1 wrote in the cache.
pub const CACHE_BUDGET: usize = 16 << 20;

/// Grid shape and the per-cell material ids, shared read-only by every task.
pub struct Layout {
    /// nx, ny, nz.
    pub cells: [usize; 3],
    /// 1/h² (1/m²), 1/h (1/m), h/2 (m) per axis, as f32 (the reference's values).
    pub inv_h2: [f32; 3],
    pub inv_h: [f32; 3],
    pub half_h: [f32; 3],
    /// Material id of every cell, x fastest.
    pub material: Vec<u32>,
    /// Per x-row (`k·ny + j`): the material of the whole row if it has one, else `None`.
    pub row_material: Vec<Option<u32>>,
    /// Whether the ADI scheme sweeps each axis ([`adi_sweep_axes`]).
    pub sweep: [bool; 3],
}

/// Coefficients of one species.
pub struct SpeciesCoefs {
    /// Diffusivity (m²/s) and decay rate (1/s) per material.
    pub d: Vec<f32>,
    pub k: Vec<f32>,
    /// Reaction factor `e^{−k·dt/2}` per material for the current ADI (sub)step.
    pub e: Vec<f32>,
    /// Boundary condition per face.
    pub faces: [FaceBc; 6],
    /// The diffusivity and decay rate if they are the same in every material present.
    pub uniform_d: Option<f32>,
    pub uniform_k: Option<f32>,
    /// The reaction factor if `uniform_k` is `Some`.
    pub uniform_e: Option<f32>,
    /// Interior face coefficient `D_f/h²` per axis (1/s) if `uniform_d` is `Some`.
    pub uniform_w: [f32; 3],
    /// Thomas coefficients per axis, one lane, if `uniform_d` is `Some` (current (sub)step).
    pub lines: [LineCoefficients; 3],
}

impl SpeciesCoefs {
    /// Diffusivities of cells with the given materials (into a slice of the same length).
    pub fn fill_d(&self, out: &mut [f32], materials: &[u32]) {
        for (x, &m) in out.iter_mut().zip(materials) {
            *x = self.d[m as usize];
        }
    }

    /// Decay rates of cells with the given materials (into a slice of the same length).
    pub fn fill_k(&self, out: &mut [f32], materials: &[u32]) {
        for (x, &m) in out.iter_mut().zip(materials) {
            *x = self.k[m as usize];
        }
    }

    /// Reaction factors of cells with the given materials (into a slice of the same length).
    pub fn fill_e(&self, out: &mut [f32], materials: &[u32]) {
        for (x, &m) in out.iter_mut().zip(materials) {
            *x = self.e[m as usize];
        }
    }

    /// Constants of the sweep along `axis`.
    pub fn sweep_constants(&self, lay: &Layout, axis: usize, theta_dt: f32) -> SweepConstants {
        SweepConstants {
            theta_dt,
            inv_h2: lay.inv_h2[axis],
            inv_h: lay.inv_h[axis],
            half_h: lay.half_h[axis],
            bc: [self.faces[2 * axis], self.faces[2 * axis + 1]],
        }
    }
}

/// `dt` (s) and `θ·dt` (s) of one ADI (sub)step, as f32.
pub struct SweepStep {
    pub dt: f32,
    pub theta_dt: f32,
}

/// What one task removed: decay per material and outflow per face (amount density in species
/// unit, and amount per face area in species unit × m, as the reference's accumulators).
#[derive(Clone, Debug, Default)]
pub struct PlaneBooks {
    pub decayed: Vec<f64>,
    pub outflow: [f64; 6],
}

impl PlaneBooks {
    fn new(n_materials: usize) -> Self {
        PlaneBooks { decayed: vec![0.0; n_materials], outflow: [0.0; 6] }
    }

    fn clear(&mut self) {
        self.decayed.fill(0.0);
        self.outflow = [0.0; 6];
    }
}

/// Per-thread work space, reused from task to task.
#[derive(Default)]
pub struct Scratch {
    /// Per-cell diffusivity of planes k−1, k, k+1 (species with per-cell diffusivity).
    pub d3: [Vec<f32>; 3],
    /// Per-cell reaction factors of planes k−1, k, k+1, or of a pass-2 block (in `[0]`).
    pub e3: [Vec<f32>; 3],
    /// Per-cell decay rate of plane k (explicit scheme).
    pub k0: Vec<f32>,
    /// Reacted plane `u`, the current stage's `v`, and the Thomas right-hand sides.
    pub u: Vec<f32>,
    pub v: Vec<f32>,
    pub rhs: Vec<f32>,
    /// Row-sized work: divergence, face coefficients, conductances, reacted neighbour rows.
    pub div: Vec<f32>,
    pub w: Vec<f32>,
    pub g: Vec<f32>,
    pub nb: [Vec<f32>; 2],
    /// Per-lane Thomas coefficients (species with per-cell diffusivity).
    pub lines: LineCoefficients,
}

/// The fast CPU engine (see the module docs).
pub struct CpuFast {
    problem: Problem,
    pool: rayon::ThreadPool,
    threads: usize,
    lay: Layout,
    species: Vec<SpeciesCoefs>,
    /// Current field and the second field, `[species][z][y][x]`.
    c: Vec<f32>,
    c_next: Vec<f32>,
    scratch: Vec<Mutex<Scratch>>,
    /// Books of the tasks of the last pass: `[species][plane]` and `[species][block]`.
    plane_books: Vec<PlaneBooks>,
    block_books: Vec<PlaneBooks>,
    /// y-rows per pass-2 block.
    block_rows: usize,
    /// Since the last `reduce_totals`: decay per species and material, outflow per species and
    /// face (in the units of [`PlaneBooks`]).
    decayed: Vec<Vec<f64>>,
    outflow: Vec<[f64; 6]>,
    /// Steps still to be taken as Rannacher start-up (ADI only).
    start_up_left: u32,
    /// Bytes of both fields one ADI species group may span.
    cache_budget: usize,
    /// States saved for step-size control.
    saved: [Option<Saved>; SAVE_SLOTS],
}

/// Everything [`Engine::save`] keeps: the field, the books since the last reduce, the start-up
/// count.
struct Saved {
    c: Vec<f32>,
    decayed: Vec<Vec<f64>>,
    outflow: Vec<[f64; 6]>,
    start_up_left: u32,
}

impl CpuFast {
    /// An engine for `problem` on its own pool of `threads` threads (0: rayon's default, the
    /// number of logical CPUs unless `RAYON_NUM_THREADS` says otherwise).
    pub fn new(problem: &Problem, threads: usize) -> Result<Self, SolverError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("secretome-fast-{i}"))
            // Worker threads belong to this engine alone: they flush subnormals for good.
            .start_handler(|_| {
                super::flush_subnormals();
            })
            .build()
            .map_err(|e| SolverError::TooLarge(format!("cannot start {threads} worker threads: {e}")))?;
        let threads = pool.current_num_threads();
        let tables = Tables::new(problem);
        let p = &tables.params;
        let g = &problem.grid;
        let [nx, ny, nz] = g.cells;
        let axes = adi_sweep_axes(problem);
        let material = problem.material_id.clone();
        let row_material = material.chunks(nx).map(|row| row.iter().all(|&m| m == row[0]).then_some(row[0])).collect();
        let lay = Layout {
            cells: g.cells,
            inv_h2: [p.inv_h2[0], p.inv_h2[1], p.inv_h2[2]],
            inv_h: [p.inv_h[0], p.inv_h[1], p.inv_h[2]],
            half_h: [p.half_h[0], p.half_h[1], p.half_h[2]],
            material,
            row_material,
            sweep: [0, 1, 2].map(|a| axes.contains(&a)),
        };
        let nm = problem.materials.len();
        let counts = problem.material_cell_counts();
        let species = (0..problem.species.len())
            .map(|s| {
                let coef = &tables.coef[s * nm..(s + 1) * nm];
                let d: Vec<f32> = coef.iter().map(|c| c.diffusivity).collect();
                let k: Vec<f32> = coef.iter().map(|c| c.decay).collect();
                let present = |v: &[f32]| {
                    let mut it = (0..nm).filter(|&m| counts[m] > 0).map(|m| v[m]);
                    let first = it.next()?;
                    it.all(|x| x.to_bits() == first.to_bits()).then_some(first)
                };
                let uniform_d = present(&d);
                let uniform_k = present(&k);
                let du = uniform_d.unwrap_or(0.0);
                let mut faces = [FaceBc::default(); 6];
                faces.copy_from_slice(&tables.faces[s * 6..(s + 1) * 6]);
                SpeciesCoefs {
                    e: vec![1.0; nm],
                    d,
                    k,
                    faces,
                    uniform_d,
                    uniform_k,
                    uniform_e: None,
                    uniform_w: [0, 1, 2].map(|a| face_diffusivity(du, du) * lay.inv_h2[a]),
                    lines: Default::default(),
                }
            })
            .collect::<Vec<_>>();
        let ns = species.len();
        let c = problem.initial_field();
        // Pass-2 blocks of about 512 cells per plane (whole y-rows): wide enough to stream, small
        // enough that a block's slab of both fields stays in L2; at least 16 tasks where the grid
        // allows. Not chosen by the thread count, which thus cannot change the order of the sums.
        let mut block_rows = (512 / nx).clamp(1, ny);
        while block_rows > 1 && ns * ny.div_ceil(block_rows) < 16 {
            block_rows /= 2;
        }
        let blocks = ny.div_ceil(block_rows);
        Ok(CpuFast {
            problem: problem.clone(),
            pool,
            threads,
            species,
            c_next: vec![0.0; c.len()],
            c,
            scratch: (0..threads).map(|_| Mutex::new(Scratch::default())).collect(),
            plane_books: vec![PlaneBooks::new(nm); ns * nz],
            block_books: vec![PlaneBooks::new(nm); ns * blocks],
            block_rows,
            decayed: vec![vec![0.0; nm]; ns],
            outflow: vec![[0.0; 6]; ns],
            start_up_left: START_UP_STEPS,
            cache_budget: CACHE_BUDGET,
            saved: [None],
            lay,
        })
    }

    /// Sets how many of the next ADI steps are taken as Rannacher start-up ([`START_UP_SUBSTEPS`] substeps with
    /// θ = 1 each). A new engine starts with [`START_UP_STEPS`]; 0 turns the start-up off. As
    /// [`crate::solver::cpu::CpuReference::set_start_up_steps`].
    pub fn set_start_up_steps(&mut self, steps: u32) {
        self.start_up_left = steps;
    }

    /// Sets how many bytes of `c` and `c_next` the ADI scheme processes at a time (whole species;
    /// at least one): default [`CACHE_BUDGET`]. The results do not depend on it.
    pub fn set_cache_budget(&mut self, bytes: usize) {
        self.cache_budget = bytes;
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Adds the books of the last pass's tasks, in task order.
    fn collect_books(&mut self, plane: bool) {
        let books = if plane { &mut self.plane_books } else { &mut self.block_books };
        let per_species = books.len() / self.species.len().max(1);
        for (i, b) in books.iter_mut().enumerate() {
            let s = i / per_species;
            for (acc, x) in self.decayed[s].iter_mut().zip(&b.decayed) {
                *acc += x;
            }
            for (acc, x) in self.outflow[s].iter_mut().zip(&b.outflow) {
                *acc += x;
            }
            b.clear();
        }
    }

    fn explicit_step(&mut self, dt: f32) {
        let [nx, ny, nz] = self.lay.cells;
        let n_cells = nx * ny * nz;
        let (lay, species, c, scratch) = (&self.lay, &self.species, &self.c, &self.scratch);
        let (c_next, books) = (&mut self.c_next, &mut self.plane_books);
        self.pool.install(|| {
            c_next.par_chunks_mut(nx * ny).zip(books.par_iter_mut()).enumerate().for_each(|(p, (out, books))| {
                let (s, k) = (p / nz, p % nz);
                let mut scr = scratch[rayon::current_thread_index().unwrap_or(0)].lock().unwrap();
                let field = &c[s * n_cells..(s + 1) * n_cells];
                explicit_ftcs::explicit_plane(lay, &species[s], field, out, k, dt, books, &mut scr);
            })
        });
        std::mem::swap(&mut self.c, &mut self.c_next);
        self.collect_books(true);
    }

    /// One Douglas ADI step of `dt` (s) with implicitness `theta`.
    fn adi_step(&mut self, dt: f32, theta: f32) {
        let [nx, ny, nz] = self.lay.cells;
        let n_cells = nx * ny * nz;
        let plane = nx * ny;
        let step = SweepStep { dt, theta_dt: theta * dt };
        for sp in &mut self.species {
            for (e, &k) in sp.e.iter_mut().zip(&sp.k) {
                *e = (-k * (0.5 * dt)).exp();
            }
            sp.uniform_e = sp.uniform_k.map(|k| (-k * (0.5 * dt)).exp());
            if let Some(d) = sp.uniform_d {
                for a in 0..3 {
                    let k3 = sp.sweep_constants(&self.lay, a, step.theta_dt);
                    sp.lines[a].compute(self.lay.cells[a], 1, &k3, |_, row| row[0] = d);
                }
            }
        }
        // Both passes for a group of species at a time, so that the group's `c` and `c_next`
        // written by pass 1 are still in the last-level cache when pass 2 reads them.
        let ns = self.species.len();
        let group = (self.cache_budget / (8 * n_cells).max(1)).clamp(1, ns.max(1));
        let (lay, species, scratch, pool) = (&self.lay, &self.species, &self.scratch, &self.pool);
        let block = self.block_rows * nx;
        let blocks = ny.div_ceil(self.block_rows);
        let block_rows = self.block_rows;
        for s0 in (0..ns).step_by(group) {
            let s1 = (s0 + group).min(ns);
            // Pass 1: reaction, predictor, x and y stages, plane by plane.
            let (c, c_next) = (&self.c, &mut self.c_next[s0 * n_cells..s1 * n_cells]);
            let books = &mut self.plane_books[s0 * nz..s1 * nz];
            pool.install(|| {
                c_next.par_chunks_mut(plane).zip(books.par_iter_mut()).enumerate().for_each(|(p, (out, books))| {
                    let (s, k) = (s0 + p / nz, p % nz);
                    let mut scr = scratch[rayon::current_thread_index().unwrap_or(0)].lock().unwrap();
                    let field = &c[s * n_cells..(s + 1) * n_cells];
                    adi_douglas::plane_pass(lay, &species[s], field, out, k, &step, books, &mut scr);
                })
            });
            // Pass 2: z stage and the second reaction, block by block, into `c` in place.
            let mut slabs: Vec<Vec<&mut [f32]>> = (0..(s1 - s0) * blocks).map(|_| Vec::with_capacity(nz)).collect();
            for (p, plane_slice) in self.c[s0 * n_cells..s1 * n_cells].chunks_mut(plane).enumerate() {
                for (b, part) in plane_slice.chunks_mut(block).enumerate() {
                    slabs[(p / nz) * blocks + b].push(part);
                }
            }
            let (c_next, books) = (&self.c_next, &mut self.block_books[s0 * blocks..s1 * blocks]);
            pool.install(|| {
                slabs.into_par_iter().zip(books.par_iter_mut()).enumerate().for_each(|(t, (mut slab, books))| {
                    let (s, b) = (s0 + t / blocks, t % blocks);
                    let mut scr = scratch[rayon::current_thread_index().unwrap_or(0)].lock().unwrap();
                    let field = &c_next[s * n_cells..(s + 1) * n_cells];
                    adi_douglas::column_pass(
                        lay,
                        &species[s],
                        &mut slab,
                        field,
                        b * block_rows,
                        &step,
                        books,
                        &mut scr,
                    );
                })
            });
        }
        self.collect_books(true);
        self.collect_books(false);
    }
}

impl Engine for CpuFast {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "cpu".into(),
            device: format!("CPU fast engine ({} threads)", self.threads),
            precision: "f32 fields; f64 accumulation of decay and outflow per plane; f64 totals".into(),
        }
    }

    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError> {
        for _ in 0..steps {
            match self.problem.schedule.scheme {
                Scheme::ExplicitFtcs => self.explicit_step(dt as f32),
                Scheme::AdiDouglas if self.start_up_left > 0 => {
                    let sub = (dt / START_UP_SUBSTEPS as f64) as f32;
                    for _ in 0..START_UP_SUBSTEPS {
                        self.adi_step(sub, 1.0);
                    }
                    self.start_up_left -= 1;
                }
                Scheme::AdiDouglas => self.adi_step(dt as f32, 0.5),
            }
        }
        Ok(())
    }

    fn reduce_totals(&mut self) -> Result<Vec<SpeciesTotals>, SolverError> {
        let [nx, ny, nz] = self.lay.cells;
        let plane = nx * ny;
        let nm = self.problem.materials.len();
        let (lay, c) = (&self.lay, &self.c);
        // Per (species, plane): Σc and max c per material.
        let partials: Vec<(Vec<f64>, Vec<f32>)> = self.pool.install(|| {
            c.par_chunks(plane)
                .enumerate()
                .map(|(p, field)| {
                    let k = p % nz;
                    let mut sum = vec![0.0f64; nm];
                    let mut max = vec![f32::NEG_INFINITY; nm];
                    for j in 0..ny {
                        let row = &field[j * nx..(j + 1) * nx];
                        let mats = &lay.material[k * plane + j * nx..][..nx];
                        match lay.row_material[k * ny + j] {
                            Some(m) => {
                                sum[m as usize] += sum_f64(row);
                                let hi = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                                max[m as usize] = max[m as usize].max(hi);
                            }
                            None => {
                                for (&x, &m) in row.iter().zip(mats) {
                                    sum[m as usize] += x as f64;
                                    max[m as usize] = max[m as usize].max(x);
                                }
                            }
                        }
                    }
                    (sum, max)
                })
                .collect()
        });
        let g = &self.problem.grid;
        let volume = g.cell_volume();
        let counts = self.problem.material_cell_counts();
        let totals = (0..self.species.len())
            .map(|s| {
                let mut present = vec![0.0; nm];
                let mut max = vec![f64::NEG_INFINITY; nm];
                for (sum, hi) in &partials[s * nz..(s + 1) * nz] {
                    for m in 0..nm {
                        present[m] += sum[m];
                        max[m] = max[m].max(hi[m] as f64);
                    }
                }
                SpeciesTotals {
                    present: present.iter().map(|x| x * volume).collect(),
                    max: (0..nm).map(|m| (counts[m] > 0).then_some(max[m])).collect(),
                    decayed: self.decayed[s].iter().map(|x| x * volume).collect(),
                    outflow: std::array::from_fn(|f| self.outflow[s][f] * g.face_area(f / 2)),
                }
            })
            .collect();
        for d in &mut self.decayed {
            d.fill(0.0);
        }
        self.outflow.fill([0.0; 6]);
        Ok(totals)
    }

    fn read_field(&mut self) -> Result<Vec<f32>, SolverError> {
        Ok(self.c.clone())
    }

    fn save(&mut self, slot: usize) -> Result<(), SolverError> {
        let saved = self.saved.get_mut(slot).ok_or_else(|| slot_error(slot, "does not exist"))?;
        match saved {
            Some(s) => {
                s.c.copy_from_slice(&self.c);
                s.decayed.clone_from(&self.decayed);
                s.outflow.clone_from(&self.outflow);
                s.start_up_left = self.start_up_left;
            }
            None => {
                *saved = Some(Saved {
                    c: self.c.clone(),
                    decayed: self.decayed.clone(),
                    outflow: self.outflow.clone(),
                    start_up_left: self.start_up_left,
                })
            }
        }
        Ok(())
    }

    fn restore(&mut self, slot: usize) -> Result<(), SolverError> {
        let saved = self.saved.get(slot).and_then(|s| s.as_ref()).ok_or_else(|| slot_error(slot, "is empty"))?;
        self.c.copy_from_slice(&saved.c);
        self.decayed.clone_from(&saved.decayed);
        self.outflow.clone_from(&saved.outflow);
        self.start_up_left = saved.start_up_left;
        Ok(())
    }

    fn track_rates(&mut self, _on: bool) {}

    fn local_error(&mut self, _weights: [f64; 2]) -> Result<Vec<Difference>, SolverError> {
        Err(SolverError::Usage("local_error is not ported to this engine yet".into()))
    }
}
