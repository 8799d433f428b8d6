//! The fast CPU engine: the reference's discrete equations (`src/solver/cpu/`), multi-threaded
//! with rayon and reorganised so that the field crosses memory as few times as possible.
//!
//! Both schemes of [`crate::problem`] are solved, per species on cell-centred finite volumes:
//!
//! ```text
//!   explicit_ftcs:  c' = c + dt·(A c − k c)
//!   adi_douglas:    per stage (λ, θ, μ, dt) of [`Stage::of_step`]:
//!                   r = A u;  δ₀ = λ·dt·r / cap;
//!                   (M − θ dt A_a) δ_a = M δ_{a−1} + (θ − μ)·dt·A_a u;   u ← u + δ_N
//! ```
//!
//! (`M = diag(cap)`, the capacities the first react pass of the step leaves for species that
//! bind, 1 for the others) with the same face rule (harmonic-mean face diffusivity, boundary
//! conductance `g = 1/(1/rate + h/2D)`, first-order upwind advection with the mean face velocity
//! where the problem has flow), the loss `k` inside `A` and an equal share of it inside each `A_a`,
//! the same start-up (the first [`START_UP_STEPS`] steps as implicit-Euler LOD substeps), the
//! same axes swept ([`adi_sweep_axes`]) and the same rate store for the error estimate
//! ([`Engine::track_rates`], [`Engine::local_error`]).
//!
//! # Design
//!
//! - **Same arithmetic per cell.** Each cell's value goes through the reference's f32
//!   operations in the reference's order (the same face terms in the same order, `sup/m` and
//!   `rhs/m` as divisions, no fused multiply-adds), so the fields equal the reference's bit for
//!   bit (measured on every test problem); the tests still allow a small mixed tolerance, as
//!   nothing promises that a future reordering keeps the last bit. Only the books, sums over
//!   many cells, are added in another order (f64 here, compensated f32 there).
//! - **Explicit** ([`explicit_ftcs`]): one task per (species, z-plane), writing its plane of
//!   `c_next`; inner loops run over whole x-rows.
//! - **ADI** ([`adi_douglas`]), per stage: pass 1, one task per (species, z-plane): predictor,
//!   x stage and y stage of that plane, in a per-thread plane-sized scratch (the x stage on a
//!   transposed copy so that its recurrence, like the y stage's, runs with whole rows of lines
//!   as vector lanes); writes `v_y` to `c_next`. Pass 2, one task per (species, block of about
//!   512 cells of whole y-rows): the z stage with the block's cells as lanes through all planes,
//!   into `c` in place (without a z stage the buffers swap). Both passes run for a group of
//!   species at a time, as many as fit half the last-level cache ([`CACHE_BUDGET`]), so that
//!   pass 2 reads what pass 1 wrote from the cache rather than from memory.
//! - **Problems of one z-plane** cut pass 1 into blocks of [`ROWS_2D`] x-rows (predictor and x
//!   stage) and add a pass over blocks of [`COLUMNS_2D`] columns (the y stage), so that a 2D
//!   problem is parallel over blocks of lines, not over species only.
//! - **Small problems** (fewer than [`SERIAL_WORK`] cell·species) and one-thread engines run
//!   the same tasks in order on the calling thread: no thread-pool dispatch, whose cost
//!   (tens of µs per pass) would dominate a step of a few thousand cells.
//! - **Vector code.** Every inner loop runs over a row of cells or of grid lines, without bounds
//!   checks, so the compiler vectorises it; the passes are compiled twice, for AVX2 (chosen at
//!   run time where the CPU has it) and for the baseline target.
//! - **Coefficients without per-cell arrays.** Diffusivity, decay and flow velocity are looked
//!   up by material id. A species whose diffusivity, decay and velocity are each the same in
//!   every material present, and which does not bind, gets its face coefficients, conductances
//!   and Thomas coefficients (`sub`, `m`, `sup'`, one value per position along each axis,
//!   recomputed per stage) as single numbers; other species get them per lane, formed in the
//!   per-thread scratch as the reference forms them. A species that binds gets them per lane
//!   from the cells' capacities (which also scale the right-hand side `cap·(v − u)` and divide
//!   the predictor's increment): where its coefficients are otherwise uniform, from its one-lane
//!   line and the capacities alone ([`kernels::LineCoefficients::compute_with_caps`]).
//! - **Flow.** The upwind terms sit in the same row loops as the diffusive ones, each face's
//!   right after its diffusive term as in the reference; the line solves are then not symmetric
//!   (`sub` and `sup'` carry the upwind couplings of each face, the diagonal the outgoing ones),
//!   and the end faces' books carry what the flow moves through them.
//! - **Books in f64 per task.** Decay per material and outflow per face are summed in f64 per
//!   task and added to per-species f64 totals in task order after each pass: no per-cell
//!   accumulators. Tasks are cut by the grid alone, so fields and totals are bit-identical for
//!   any thread count (and any species grouping), serial path included.
//!   [`Engine::reduce_totals`] sums the present amount and the maximum per material in a
//!   parallel pass over the field.
//!
//! Memory: two f32 fields (8 bytes per cell·species; with binding, the capacities 4 more), the
//! material ids (4 bytes per cell, held twice: in the engine's copy of the problem and in its
//! layout), and per thread a few planes of scratch (more for species with per-cell coefficients); with rate tracking (adaptive runs)
//! two rate fields and the saved field (12 bytes per cell·species more).

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
pub mod react;

use std::sync::Mutex;

use rayon::prelude::*;

use super::cpu::diffuse_explicit::{face_diffusivity, face_velocity, inflow_velocity};
use super::{
    CellSums, CpuStateParts, Difference, Engine, EngineInfo, EngineState, FaceBc, Pass, SAVE_SLOTS, START_UP_STEPS,
    SolverError, SpeciesTotals, Stage, Tables, add_local_rows, adi_sweep_axes, check_coefficient_update, merge_pending,
    slot_error, step_passes, totals_from_sums,
};
use crate::problem::{Problem, Scheme};
use kernels::{LineCoefficients, SweepConstants, Tri, sum_f64};
use std::sync::Arc;

/// Default bytes of `c` and `c_next` that one ADI group of species may span (half the 32 MiB L3
/// of the machine this was tuned on): pass 2 then finds what pass 1 wrote in the cache.
pub const CACHE_BUDGET: usize = 16 << 20;

/// Problems with fewer cell·species than this run every pass on the calling thread. A pass
/// handed to the pool costs some 10–30 µs of dispatch and wake-up on the machine this was tuned
/// on, while the ADI scheme updates a cell·species in about 8 ns on one core: below some 30 000
/// cell·species the second thread saves less than the dispatch costs.
pub const SERIAL_WORK: usize = 1 << 15;

/// x-rows per pass-1 task of a problem of one z-plane (the lanes of its x stage).
pub const ROWS_2D: usize = 64;

/// Columns per y-stage task of a problem of one z-plane (the lanes of its y stage).
pub const COLUMNS_2D: usize = 256;

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
    /// Boundary condition per face.
    pub faces: [FaceBc; 6],
    /// The diffusivity and decay rate if they are the same in every material present.
    pub uniform_d: Option<f32>,
    pub uniform_k: Option<f32>,
    /// Whether any material has a decay rate (else the sweeps book no decay).
    pub has_decay: bool,
    /// Interior face coefficient `D_f/h²` per axis (1/s) if `uniform_d` is `Some`.
    pub uniform_w: [f32; 3],
    /// Thomas coefficients per axis, one lane, if [`Self::uniform_lines`] (current stage; for a
    /// species that binds, without its capacities).
    pub lines: [LineCoefficients; 3],
    /// Flow velocity per material along x, y, z (m/s), whether the problem has flow, and the
    /// velocity if it is the same in every material present.
    pub v: Vec<[f32; 3]>,
    pub flow: bool,
    pub uniform_v: Option<[f32; 3]>,
    /// Whether the species binds: its stages solve with the cells' capacities.
    pub binds: bool,
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

    /// Face velocities along `axis` between cells of materials `a` and those of materials `b`
    /// (lane by lane), as the reference forms them.
    pub fn face_velocities(&self, out: &mut [f32], a: &[u32], b: &[u32], axis: usize) {
        for ((w, &ma), &mb) in out.iter_mut().zip(a).zip(b) {
            *w = face_velocity(self.v[ma as usize][axis], self.v[mb as usize][axis]);
        }
    }

    /// Velocities into cells of materials `a` through their boundary face on `side` of `axis`
    /// (zero at a no-flux wall).
    pub fn inflow_velocities(&self, out: &mut [f32], a: &[u32], axis: usize, side: usize) {
        let bc = self.faces[2 * axis + side];
        for (w, &m) in out.iter_mut().zip(a) {
            *w = inflow_velocity(bc, self.v[m as usize][axis], side as u32);
        }
    }

    /// Whether diffusivity, decay and velocity are each the same in every material present:
    /// then the species' own lines ([`Self::lines`]) hold its Thomas coefficients, or, where it
    /// binds, all but those its capacities change.
    pub fn uniform_lines(&self) -> bool {
        self.uniform_d.is_some() && self.uniform_k.is_some() && (!self.flow || self.uniform_v.is_some())
    }

    /// Whether the sweeps need Thomas coefficients per lane (diffusivity, decay or velocity
    /// differ between materials present, or the species binds: capacities differ per cell).
    pub fn per_lane(&self) -> bool {
        !self.uniform_lines() || self.binds
    }

    /// The Thomas coefficients of the sweep along `axis` over `n` rows of `lanes` lanes: computed
    /// per lane into `lines` where [`Self::per_lane`] (`materials(j)` gives row `j`'s materials,
    /// `caps(j)` its capacities where the species binds), else the species' own line for the
    /// stage.
    #[allow(clippy::too_many_arguments)]
    pub fn tri<'a, 'm>(
        &'a self,
        lay: &Layout,
        axis: usize,
        st: &StageCoefs,
        lines: &'a mut LineCoefficients,
        (n, lanes): (usize, usize),
        materials: impl Fn(usize) -> &'m [u32],
        caps: impl Fn(usize) -> &'m [f32],
    ) -> Tri<'a> {
        if self.binds && self.uniform_lines() {
            lines.compute_with_caps(&self.lines[axis], lanes, |j, row| row.copy_from_slice(&caps(j)[..row.len()]));
            Tri { c: lines, per_lane: true }
        } else if self.per_lane() {
            let k3 = self.sweep_constants(lay, axis, st);
            lines.compute(n, lanes, &k3, |j, row| {
                let mats = materials(j);
                self.fill_d(row.d, mats);
                self.fill_k(row.k, mats);
                if k3.flow {
                    for (v, &m) in row.v.iter_mut().zip(mats) {
                        *v = self.v[m as usize][axis];
                    }
                }
                if k3.capacity {
                    row.cap.copy_from_slice(&caps(j)[..row.cap.len()]);
                }
            });
            Tri { c: lines, per_lane: true }
        } else {
            Tri { c: &self.lines[axis], per_lane: false }
        }
    }

    /// Constants of the sweep along `axis` in stage `st`.
    pub fn sweep_constants(&self, lay: &Layout, axis: usize, st: &StageCoefs) -> SweepConstants {
        SweepConstants {
            theta_dt: st.theta_dt,
            share: st.share,
            inv_h2: lay.inv_h2[axis],
            inv_h: lay.inv_h[axis],
            half_h: lay.half_h[axis],
            bc: [self.faces[2 * axis], self.faces[2 * axis + 1]],
            flow: self.flow,
            capacity: self.binds,
        }
    }
}

/// The f32 numbers of one ADI stage, as the reference's `Params` carries them
/// ([`Stage::time`], [`Stage::coefficients`]).
#[derive(Clone, Copy, Debug)]
pub struct StageCoefs {
    /// θ·dt (s), formed as the reference forms it (`time[1]·time[0]`).
    pub theta_dt: f32,
    /// λ·dt, (θ − μ)·dt and κ = (λ + θ − μ)·dt (s).
    pub lambda_dt: f32,
    pub explicit_dt: f32,
    pub kappa: f32,
    /// 1/(number of swept axes).
    pub share: f32,
    /// Whether the predictor records the rate.
    pub record: bool,
}

impl StageCoefs {
    pub fn new(stage: &Stage, n_swept: usize, track_rates: bool) -> Self {
        let time = stage.time(track_rates, false);
        let [lambda_dt, explicit_dt, kappa, share] = stage.coefficients(n_swept);
        StageCoefs { theta_dt: time[1] * time[0], lambda_dt, explicit_dt, kappa, share, record: time[3] != 0.0 }
    }
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
    /// Per-cell decay rate of plane k or of a pass-1 block; the y stage's output in a column
    /// block.
    pub k0: Vec<f32>,
    /// Plane-sized work (a transposed `u` or `δ`, or a column block's `u`), the current stage's
    /// `v`, and the Thomas right-hand sides.
    pub u: Vec<f32>,
    pub v: Vec<f32>,
    pub rhs: Vec<f32>,
    /// Row-sized work: divergence, face coefficients, conductances, end rows of a z block.
    pub div: Vec<f32>,
    pub w: Vec<f32>,
    pub g: Vec<f32>,
    pub nb: [Vec<f32>; 2],
    /// Row-sized: velocities into a row's cells through one side's faces (problems with flow).
    pub fv: Vec<f32>,
    /// Per-lane Thomas coefficients (species with per-cell diffusivity).
    pub lines: LineCoefficients,
}

/// The fast CPU engine (see the module docs).
pub struct CpuFast {
    problem: Problem,
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
    lay: Layout,
    species: Vec<SpeciesCoefs>,
    /// Current field and the second field, `[species][z][y][x]`.
    c: Vec<f32>,
    c_next: Vec<f32>,
    /// The kernel tables (the react pass reads the reaction terms).
    tables: Tables,
    /// The local rows (bound fields, then book slots) and the book slots' compensation, as the
    /// reference holds them.
    local: Vec<f32>,
    local_comp: Vec<f32>,
    /// The reaction rate a recording react pass stored, while the stage's predictor records `A u`.
    react_rate: Vec<f32>,
    /// Capacity of every cell for every species where the problem has binding (else empty), as
    /// the react pass of phase FIRST leaves it: the ADI stages of species that bind solve with it.
    cap: Vec<f32>,
    /// Totals reduced before a coefficient change, added to the next reduce.
    pending: Option<Vec<SpeciesTotals>>,
    scratch: Vec<Mutex<Scratch>>,
    /// Books of the tasks of the current pass, `[species][task]`.
    books: Vec<PlaneBooks>,
    /// y-rows per pass-2 block.
    block_rows: usize,
    /// Whether passes run on the calling thread ([`SERIAL_WORK`]).
    serial: bool,
    /// Since the last `reduce_totals`: decay per species and material, outflow per species and
    /// face (in the units of [`PlaneBooks`]).
    decayed: Vec<Vec<f64>>,
    outflow: Vec<[f64; 6]>,
    /// Steps still to be taken as start-up (ADI only).
    start_up_left: u32,
    /// Number of swept axes.
    n_swept: usize,
    /// The two recorded rates `A u` (ADI with rate tracking; else empty), and which is newest.
    rate: [Vec<f32>; 2],
    newest: usize,
    track_rates: bool,
    /// Bytes of both fields one ADI species group may span.
    cache_budget: usize,
    /// States saved for step-size control.
    saved: [Option<Saved>; SAVE_SLOTS],
}

/// Everything [`Engine::save`] keeps: the field, the books since the last reduce, the start-up
/// count, which rate is newest.
struct Saved {
    c: Vec<f32>,
    local: Vec<f32>,
    local_comp: Vec<f32>,
    decayed: Vec<Vec<f64>>,
    outflow: Vec<[f64; 6]>,
    start_up_left: u32,
    newest: usize,
}

/// Runs `task(index, item, scratch)` for every item: in order on the calling thread where
/// `serial`, else on the pool with the worker's scratch.
fn run_tasks<I: Send>(
    pool: &rayon::ThreadPool,
    scratch: &[Mutex<Scratch>],
    serial: bool,
    items: Vec<I>,
    task: impl Fn(usize, I, &mut Scratch) + Sync + Send,
) {
    if serial {
        let mut scr = scratch[0].lock().unwrap();
        for (i, item) in items.into_iter().enumerate() {
            task(i, item, &mut scr);
        }
    } else {
        pool.install(|| {
            items.into_par_iter().enumerate().for_each(|(i, item)| {
                let mut scr = scratch[rayon::current_thread_index().unwrap_or(0)].lock().unwrap();
                task(i, item, &mut scr);
            })
        });
    }
}

/// A pool of `threads` worker threads for fast engines (0: rayon's default, the number of
/// logical CPUs unless `RAYON_NUM_THREADS` says otherwise). Its workers flush subnormal numbers
/// for good ([`super::flush_subnormals`]): they run engine work only.
pub fn thread_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>, SolverError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("secretome-fast-{i}"))
        .start_handler(|_| {
            super::flush_subnormals();
        })
        .build()
        .map(Arc::new)
        .map_err(|e| SolverError::TooLarge(format!("cannot start {threads} worker threads: {e}")))
}

impl CpuFast {
    /// An engine for `problem` on its own pool of `threads` threads (0: rayon's default, the
    /// number of logical CPUs unless `RAYON_NUM_THREADS` says otherwise).
    pub fn new(problem: &Problem, threads: usize) -> Result<Self, SolverError> {
        Ok(Self::with_pool(problem, thread_pool(threads)?))
    }

    /// An engine for `problem` on a shared pool (from [`thread_pool`]): many engines, one set of
    /// threads (a sweep runs its cases on one pool).
    pub fn with_pool(problem: &Problem, pool: Arc<rayon::ThreadPool>) -> Self {
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
        let species = species_coefs(problem, &tables, &lay);
        let nm = problem.materials.len();
        let ns = species.len();
        let (c, local, local_comp) = crate::solver::cpu::initial_rows(problem, &tables);
        // Pass-2 blocks of about 512 cells per plane (whole y-rows): wide enough to stream, small
        // enough that a block's slab of both fields stays in L2; at least 16 tasks where the grid
        // allows. Not chosen by the thread count, which thus cannot change the order of the sums.
        let mut block_rows = (512 / nx).clamp(1, ny);
        while block_rows > 1 && ns * ny.div_ceil(block_rows) < 16 {
            block_rows /= 2;
        }
        let blocks = ny.div_ceil(block_rows);
        let tasks_per_species =
            [nz, blocks, ny.div_ceil(ROWS_2D), nx.div_ceil(COLUMNS_2D)].into_iter().max().unwrap_or(1);
        CpuFast {
            problem: problem.clone(),
            pool,
            threads,
            species,
            c_next: vec![0.0; c.len()],
            c,
            tables,
            local,
            local_comp,
            react_rate: Vec::new(),
            cap: if problem.bound_species().is_empty() { Vec::new() } else { vec![1.0; ns * nx * ny * nz] },
            pending: None,
            scratch: (0..threads).map(|_| Mutex::new(Scratch::default())).collect(),
            books: vec![PlaneBooks::new(nm); ns * tasks_per_species],
            block_rows,
            serial: threads == 1 || ns * nx * ny * nz < SERIAL_WORK,
            decayed: vec![vec![0.0; nm]; ns],
            outflow: vec![[0.0; 6]; ns],
            start_up_left: START_UP_STEPS,
            n_swept: axes.len(),
            rate: [Vec::new(), Vec::new()],
            newest: 0,
            track_rates: false,
            cache_budget: CACHE_BUDGET,
            saved: [None],
            lay,
        }
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

    /// Whether this engine runs its passes on the calling thread ([`SERIAL_WORK`]).
    pub fn is_serial(&self) -> bool {
        self.serial
    }

    /// Runs every pass on the calling thread (`true`) or on the pool (`false`), whatever the
    /// problem size. The results do not depend on it.
    pub fn set_serial(&mut self, serial: bool) {
        self.serial = serial;
    }

    /// Adds the books of the last pass's first `tasks` tasks (`per_species` per species, from
    /// species `s0` on), in task order.
    fn collect_books(&mut self, s0: usize, tasks: usize, per_species: usize) {
        for (i, b) in self.books[..tasks].iter_mut().enumerate() {
            let s = s0 + i / per_species;
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
        let ns = self.species.len();
        let (lay, species, c) = (&self.lay, &self.species, &self.c);
        let items: Vec<_> = self.c_next.chunks_mut(nx * ny).zip(self.books.iter_mut()).collect();
        run_tasks(&self.pool, &self.scratch, self.serial, items, |p, (out, books), scr| {
            let (s, k) = (p / nz, p % nz);
            let field = &c[s * n_cells..(s + 1) * n_cells];
            explicit_ftcs::explicit_plane(lay, &species[s], field, out, k, dt, books, scr);
        });
        std::mem::swap(&mut self.c, &mut self.c_next);
        self.collect_books(0, ns * nz, nz);
    }

    /// One ADI stage of every species in the fast loops (see [`adi_douglas`]).
    fn adi_stage(&mut self, stage: &Stage) {
        let st = StageCoefs::new(stage, self.n_swept, self.track_rates);
        let [nx, ny, nz] = self.lay.cells;
        let n_cells = nx * ny * nz;
        let plane = nx * ny;
        for sp in &mut self.species {
            if !sp.uniform_lines() {
                continue;
            }
            // Without the capacities of a species that binds: `compute_with_caps` adds them.
            let k3s = [0, 1, 2].map(|a| SweepConstants { capacity: false, ..sp.sweep_constants(&self.lay, a, &st) });
            if let (Some(d), Some(k)) = (sp.uniform_d, sp.uniform_k) {
                let v = sp.uniform_v.unwrap_or([0.0; 3]);
                for (a, &va) in v.iter().enumerate() {
                    let k3 = k3s[a];
                    sp.lines[a].compute(self.lay.cells[a], 1, &k3, |_, row| {
                        row.d[0] = d;
                        row.k[0] = k;
                        row.v[0] = va;
                    });
                }
            }
        }
        let record = st.record && !self.rate[0].is_empty();
        if record {
            self.newest = 1 - self.newest;
        }
        // A problem of one plane is cut into blocks of rows; a 3D one into whole planes.
        let rows = if nz == 1 { ROWS_2D.min(ny) } else { ny };
        let row_blocks = ny.div_ceil(rows);
        let y_in_plane = rows == ny;
        // Both passes for a group of species at a time, so that the group's `c` and `c_next`
        // written by pass 1 are still in the last-level cache when pass 2 reads them.
        let ns = self.species.len();
        let group = (self.cache_budget / (8 * n_cells).max(1)).clamp(1, ns.max(1));
        let block = self.block_rows * nx;
        let blocks = ny.div_ceil(self.block_rows);
        let block_rows = self.block_rows;
        let serial = self.serial;
        for s0 in (0..ns).step_by(group) {
            let s1 = (s0 + group).min(ns);
            let (lay, species, pool, scratch) = (&self.lay, &self.species, &self.pool, &self.scratch);
            // Pass 1: predictor, x stage (and y stage in 3D), block of rows by block of rows.
            let c = &self.c;
            let cap = &self.cap;
            let outs = self.c_next[s0 * n_cells..s1 * n_cells].chunks_mut(plane).flat_map(|p| p.chunks_mut(rows * nx));
            let mut rates: Vec<Option<&mut [f32]>> = Vec::new();
            if record {
                let r = &mut self.rate[self.newest][s0 * n_cells..s1 * n_cells];
                rates.extend(r.chunks_mut(plane).flat_map(|p| p.chunks_mut(rows * nx)).map(Some));
            }
            let per_species = nz * row_blocks;
            let tasks = (s1 - s0) * per_species;
            rates.resize_with(tasks, || None);
            let items: Vec<_> = outs.zip(rates).zip(self.books.iter_mut()).collect();
            run_tasks(pool, scratch, serial, items, |t, ((out, rate), books), scr| {
                let (s, k, b) = (s0 + t / per_species, (t % per_species) / row_blocks, t % row_blocks);
                let field = &c[s * n_cells..(s + 1) * n_cells];
                let cap = species_cap(cap, s, n_cells);
                adi_douglas::plane_pass(
                    lay,
                    &species[s],
                    field,
                    out,
                    k,
                    b * rows,
                    y_in_plane,
                    &st,
                    cap,
                    rate,
                    books,
                    scr,
                );
            });
            self.collect_books(s0, tasks, per_species);
            // One plane: the y stage, block of columns by block of columns, in `c_next`.
            if !y_in_plane && self.lay.sweep[1] {
                let (lay, species, pool, scratch, c) = (&self.lay, &self.species, &self.pool, &self.scratch, &self.c);
                let cap = &self.cap;
                let col_blocks = nx.div_ceil(COLUMNS_2D);
                let mut parts: Vec<Vec<&mut [f32]>> =
                    (0..(s1 - s0) * col_blocks).map(|_| Vec::with_capacity(ny)).collect();
                for (r, row) in self.c_next[s0 * n_cells..s1 * n_cells].chunks_mut(nx).enumerate() {
                    for (b, part) in row.chunks_mut(COLUMNS_2D).enumerate() {
                        parts[(r / ny) * col_blocks + b].push(part);
                    }
                }
                let tasks = parts.len();
                let items: Vec<_> = parts.into_iter().zip(self.books.iter_mut()).collect();
                run_tasks(pool, scratch, serial, items, |t, (mut parts, books), scr| {
                    let (s, b) = (s0 + t / col_blocks, t % col_blocks);
                    let field = &c[s * n_cells..(s + 1) * n_cells];
                    let cap = species_cap(cap, s, n_cells);
                    adi_douglas::column_y_pass(
                        lay,
                        &species[s],
                        field,
                        &mut parts,
                        b * COLUMNS_2D,
                        &st,
                        cap,
                        books,
                        scr,
                    );
                });
                self.collect_books(s0, tasks, col_blocks);
            }
            // Pass 2: z stage, block by block, into `c` in place.
            if self.lay.sweep[2] {
                let (lay, species, pool, scratch, cap) =
                    (&self.lay, &self.species, &self.pool, &self.scratch, &self.cap);
                let mut slabs: Vec<Vec<&mut [f32]>> = (0..(s1 - s0) * blocks).map(|_| Vec::with_capacity(nz)).collect();
                for (p, plane_slice) in self.c[s0 * n_cells..s1 * n_cells].chunks_mut(plane).enumerate() {
                    for (b, part) in plane_slice.chunks_mut(block).enumerate() {
                        slabs[(p / nz) * blocks + b].push(part);
                    }
                }
                let c_next = &self.c_next;
                let tasks = slabs.len();
                let items: Vec<_> = slabs.into_iter().zip(self.books.iter_mut()).collect();
                run_tasks(pool, scratch, serial, items, |t, (mut slab, books), scr| {
                    let (s, b) = (s0 + t / blocks, t % blocks);
                    let field = &c_next[s * n_cells..(s + 1) * n_cells];
                    let cap = species_cap(cap, s, n_cells);
                    adi_douglas::column_pass(lay, &species[s], &mut slab, field, b * block_rows, &st, cap, books, scr);
                });
                self.collect_books(s0, tasks, blocks);
            }
        }
        if !self.lay.sweep[2] {
            std::mem::swap(&mut self.c, &mut self.c_next);
        }
    }
}

/// Species `s`'s capacities in `cap` (`n_cells` per species), if the problem has binding.
fn species_cap(cap: &[f32], s: usize, n_cells: usize) -> Option<&[f32]> {
    (!cap.is_empty()).then(|| &cap[s * n_cells..(s + 1) * n_cells])
}

/// The per-species coefficients of `problem` (from its kernel tables) on layout `lay`.
fn species_coefs(problem: &Problem, tables: &Tables, lay: &Layout) -> Vec<SpeciesCoefs> {
    let nm = problem.materials.len();
    let counts = problem.material_cell_counts();
    let (flow, bound) = (problem.has_flow(), problem.bound_species());
    (0..problem.species.len())
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
            let v: Vec<[f32; 3]> = coef.iter().map(|c| c.velocity).collect();
            let uniform_v = (0..nm)
                .filter(|&m| counts[m] > 0)
                .map(|m| v[m])
                .try_fold(None::<[f32; 3]>, |first, x| match first {
                    None => Some(Some(x)),
                    Some(f) => (f.map(f32::to_bits) == x.map(f32::to_bits)).then_some(Some(f)),
                })
                .flatten();
            let du = uniform_d.unwrap_or(0.0);
            let mut faces = [FaceBc::default(); 6];
            faces.copy_from_slice(&tables.faces[s * 6..(s + 1) * 6]);
            SpeciesCoefs {
                has_decay: k.iter().any(|&x| x != 0.0),
                d,
                k,
                faces,
                uniform_d,
                uniform_k,
                uniform_w: [0, 1, 2].map(|a| face_diffusivity(du, du) * lay.inv_h2[a]),
                lines: Default::default(),
                v,
                flow,
                uniform_v,
                binds: bound.contains(&s),
            }
        })
        .collect()
}

impl CpuFast {
    /// What an [`EngineState`] holds, borrowed from this engine.
    fn state_parts(&mut self) -> CpuStateParts<'_> {
        let bound = self.tables.params.local[0] as usize * self.problem.grid.n_cells();
        CpuStateParts {
            c: &mut self.c,
            bound: &mut self.local[..bound],
            rate: &mut self.rate,
            newest: &mut self.newest,
            start_up_left: &mut self.start_up_left,
        }
    }
}

impl Engine for CpuFast {
    fn set_start_up_steps(&mut self, steps: u32) {
        self.start_up_left = steps;
    }

    fn set_coefficients(&mut self, problem: &Problem) -> Result<(), SolverError> {
        check_coefficient_update(&self.problem, problem)?;
        let mut earlier = self.reduce_totals()?;
        merge_pending(&mut self.pending, &mut earlier);
        self.pending = Some(earlier);
        self.tables = Tables::new(problem);
        let axes = adi_sweep_axes(problem);
        self.lay.sweep = [0, 1, 2].map(|a| axes.contains(&a));
        self.n_swept = axes.len();
        self.species = species_coefs(problem, &self.tables, &self.lay);
        self.problem = problem.clone();
        Ok(())
    }

    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "cpu".into(),
            device: format!("CPU fast engine ({} threads)", self.threads),
            precision: "f32 fields; f64 accumulation of decay and outflow per task, compensated f32 reaction books; \
                        f64 totals"
                .into(),
        }
    }

    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError> {
        // The pool's workers flush subnormals for good; the serial path runs here.
        let mode = super::flush_subnormals();
        let reactions = !self.tables.terms.is_empty();
        let tracking = !self.rate[0].is_empty();
        for _ in 0..steps {
            let start_up = self.start_up_left > 0;
            for pass in step_passes(self.problem.schedule.scheme, start_up, dt, reactions, self.track_rates) {
                match pass {
                    Pass::Explicit(dt) => self.explicit_step(dt as f32),
                    Pass::Adi(stage) if reactions && tracking && stage.record_rate => {
                        // The predictor stores `A u` into the newest rate; the react pass's rate
                        // is added after, as the reference's predictor adds it.
                        std::mem::swap(&mut self.react_rate, &mut self.rate[self.newest]);
                        self.rate[self.newest].resize(self.react_rate.len(), 0.0);
                        self.newest = 1 - self.newest;
                        self.adi_stage(&stage);
                        // rate = R + A u / cap, as the reference's predictor forms it.
                        let rate = &mut self.rate[self.newest];
                        if self.cap.is_empty() {
                            for (r, &x) in rate.iter_mut().zip(&self.react_rate) {
                                *r += x;
                            }
                        } else {
                            for ((r, &x), &cap) in rate.iter_mut().zip(&self.react_rate).zip(&self.cap) {
                                *r = *r / cap + x;
                            }
                        }
                    }
                    Pass::Adi(stage) => self.adi_stage(&stage),
                    Pass::React { tau, record, phase } => {
                        let record = record && tracking;
                        if record {
                            self.newest = 1 - self.newest;
                        }
                        self.tables.params.time = Pass::react_time(tau, record);
                        self.tables.params.local[3] = phase;
                        let rate = if record { &mut self.rate[self.newest][..] } else { &mut [][..] };
                        react::react_pass(
                            &self.pool,
                            self.serial,
                            &self.tables,
                            &mut self.c,
                            &mut self.local,
                            &mut self.local_comp,
                            rate,
                            &mut self.cap,
                        );
                    }
                }
            }
            if self.problem.schedule.scheme == Scheme::AdiDouglas {
                self.start_up_left = self.start_up_left.saturating_sub(1);
            }
        }
        super::restore_float_mode(mode);
        Ok(())
    }

    fn reduce_totals(&mut self) -> Result<Vec<SpeciesTotals>, SolverError> {
        let [nx, ny, nz] = self.lay.cells;
        let plane = nx * ny;
        let nm = self.problem.materials.len();
        let (lay, c) = (&self.lay, &self.c);
        // Per (species, plane): Σc and max c per material.
        let plane_sums = |(p, field): (usize, &[f32])| {
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
        };
        let partials: Vec<(Vec<f64>, Vec<f32>)> = if self.serial {
            c.chunks(plane).enumerate().map(plane_sums).collect()
        } else {
            self.pool.install(|| c.par_chunks(plane).enumerate().map(plane_sums).collect())
        };
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
                CellSums { present, max, lost: self.decayed[s].clone(), outflow: self.outflow[s] }
            })
            .collect::<Vec<_>>();
        let mut totals = totals_from_sums(&self.problem, &totals);
        let t = &self.tables;
        let n_rows = t.params.local[0] + t.params.local[1];
        let mut rows = vec![0.0f32; (n_rows * t.params.counts[2] * 2 * t.params.counts[1]) as usize];
        for r in 0..n_rows {
            for w in 0..t.params.counts[2] {
                crate::solver::cpu::reduce_rows::reduce_rows(&t.params, &t.material, &self.local, &mut rows, [w, r]);
            }
        }
        add_local_rows(&self.problem, &mut totals, &rows);
        for d in &mut self.decayed {
            d.fill(0.0);
        }
        self.outflow.fill([0.0; 6]);
        let bound = t.params.local[0] as usize * t.params.cells[3] as usize;
        self.local[bound..].fill(0.0);
        self.local_comp.fill(0.0);
        merge_pending(&mut self.pending, &mut totals);
        Ok(totals)
    }

    fn read_field(&mut self) -> Result<Vec<f32>, SolverError> {
        let bound = self.tables.params.local[0] as usize * self.problem.grid.n_cells();
        Ok([&self.c[..], &self.local[..bound]].concat())
    }

    fn gather(&mut self, indices: &[u32]) -> Result<Vec<f32>, SolverError> {
        let n = self.c.len();
        Ok(indices
            .iter()
            .map(|&i| if (i as usize) < n { self.c[i as usize] } else { self.local[i as usize - n] })
            .collect())
    }

    fn save(&mut self, slot: usize) -> Result<(), SolverError> {
        let saved = self.saved.get_mut(slot).ok_or_else(|| slot_error(slot, "does not exist"))?;
        match saved {
            Some(s) => {
                s.c.copy_from_slice(&self.c);
                s.local.copy_from_slice(&self.local);
                s.local_comp.copy_from_slice(&self.local_comp);
                s.decayed.clone_from(&self.decayed);
                s.outflow.clone_from(&self.outflow);
                s.start_up_left = self.start_up_left;
                s.newest = self.newest;
            }
            None => {
                *saved = Some(Saved {
                    c: self.c.clone(),
                    local: self.local.clone(),
                    local_comp: self.local_comp.clone(),
                    decayed: self.decayed.clone(),
                    outflow: self.outflow.clone(),
                    start_up_left: self.start_up_left,
                    newest: self.newest,
                })
            }
        }
        Ok(())
    }

    fn restore(&mut self, slot: usize) -> Result<(), SolverError> {
        let saved = self.saved.get(slot).and_then(|s| s.as_ref()).ok_or_else(|| slot_error(slot, "is empty"))?;
        self.c.copy_from_slice(&saved.c);
        self.local.copy_from_slice(&saved.local);
        self.local_comp.copy_from_slice(&saved.local_comp);
        self.decayed.clone_from(&saved.decayed);
        self.outflow.clone_from(&saved.outflow);
        self.start_up_left = saved.start_up_left;
        self.newest = saved.newest;
        Ok(())
    }

    fn export_state(&mut self) -> Result<EngineState, SolverError> {
        Ok(self.state_parts().export())
    }

    fn import_state(&mut self, state: &EngineState) -> Result<(), SolverError> {
        let bound = self.tables.params.local[0] as usize * self.problem.grid.n_cells();
        state.check(self.c.len() + bound, self.c.len())?;
        self.track_rates(!state.rates.is_empty());
        self.state_parts().import(state)?;
        for d in &mut self.decayed {
            d.fill(0.0);
        }
        self.outflow.fill([0.0; 6]);
        self.local[bound..].fill(0.0);
        self.local_comp.fill(0.0);
        self.pending = None;
        Ok(())
    }

    fn track_rates(&mut self, on: bool) {
        self.track_rates = on;
        let n = if on && self.problem.schedule.scheme == Scheme::AdiDouglas { self.c.len() } else { 0 };
        for r in &mut self.rate {
            if n == 0 {
                *r = Vec::new();
            } else {
                r.resize(n, 0.0);
            }
        }
    }

    fn local_error(&mut self, weights: [f64; 2]) -> Result<Vec<Difference>, SolverError> {
        let saved = self.saved[0].as_ref().ok_or_else(|| slot_error(0, "is empty"))?;
        if self.rate[0].is_empty() {
            return Err(SolverError::Usage(
                "local_error needs rate tracking (track_rates(true)) and the ADI scheme".into(),
            ));
        }
        let [nx, ny, nz] = self.lay.cells;
        let (plane, n_cells) = (nx * ny, nx * ny * nz);
        let e = [weights[0] as f32, weights[1] as f32];
        let (c, new, old) = (&self.c, &self.rate[self.newest], &self.rate[1 - self.newest]);
        // Per (species, plane): the largest |c − ũ| and Σ (c − ũ)², ũ formed as `local_error` forms it.
        let plane_error = |p: usize| {
            let r = p * plane..(p + 1) * plane;
            let (c, saved, new, old) = (&c[r.clone()], &saved.c[r.clone()], &new[r.clone()], &old[r]);
            let mut max = 0.0f32;
            let mut acc = kernels::Acc::default();
            for i in 0..plane {
                let companion = saved[i] + e[0] * new[i] + e[1] * old[i];
                let d = (c[i] - companion).abs();
                max = max.max(d);
                acc.push(i, (d * d) as f64);
            }
            (max, acc.total())
        };
        let partials: Vec<(f32, f64)> = if self.serial {
            (0..c.len() / plane).map(plane_error).collect()
        } else {
            self.pool.install(|| (0..c.len() / plane).into_par_iter().map(plane_error).collect())
        };
        Ok(partials
            .chunks(nz)
            .map(|planes| {
                let max = planes.iter().fold(0.0f64, |m, p| m.max(p.0 as f64));
                let squares: f64 = planes.iter().map(|p| p.1).sum();
                Difference { max, rms: (squares / n_cells.max(1) as f64).sqrt() }
            })
            .collect())
    }
}
