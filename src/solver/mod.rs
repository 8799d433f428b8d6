//! Engines that advance a [`Problem`] in time, and the data they share with the GPU.
//!
//! Every kernel exists twice with the same name: `shaders/NAME.wgsl` runs on the GPU through
//! wgpu, `src/solver/cpu/NAME.rs` is its plain-Rust twin with the same bindings, index arithmetic
//! and operation order. The CPU twins make up [`cpu::CpuReference`], the reference the GPU is
//! checked against and the fallback where no GPU exists.
//!
//! Bookkeeping: while stepping, each engine adds `c·dt` of every cell to an exposure accumulator
//! (a compensated f32 sum). The explicit scheme removes exactly `k·c·dt` by decay and
//! `g·(c − c_b)·dt` through a boundary face in each step, so at an output time the decayed
//! amount and the outflow per face follow from the accumulator exactly, without per-step
//! reductions. [`Engine::reduce_totals`] reduces per-workgroup partial sums on the engine, then
//! in f64 on the host, and clears the accumulator.

pub mod cpu;
pub mod gpu;

use crate::problem::{Boundary, Problem};
use bytemuck::{Pod, Zeroable};

/// Cells per workgroup of `diffuse_explicit` (x direction).
pub const STEP_WORKGROUP: u32 = 64;
/// Cells per workgroup of `reduce_totals`.
pub const REDUCE_WORKGROUP: u32 = 256;

/// Parameters of every kernel. Twin of `struct Params` in `shaders/*.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Params {
    /// nx, ny, nz, number of cells.
    pub cells: [u32; 4],
    /// number of species, number of materials, reduce workgroups per species, quantities per
    /// reduce partial ([`partial_len`]).
    pub counts: [u32; 4],
    /// 1/h² along x, y, z (1/m²); last unused.
    pub inv_h2: [f32; 4],
    /// 1/h along x, y, z (1/m); last unused.
    pub inv_h: [f32; 4],
    /// h/2 along x, y, z (m); last unused.
    pub half_h: [f32; 4],
    /// time step (s), time since the accumulator was last cleared (s), unused, unused.
    pub time: [f32; 4],
}

/// Diffusivity and decay of one species in one material. Twin of `struct Coef` in WGSL.
/// Indexed `species * n_materials + material`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Coef {
    /// m²/s
    pub diffusivity: f32,
    /// 1/s
    pub decay: f32,
}

/// Boundary condition of one species on one face. Twin of `struct FaceBc` in WGSL.
/// Indexed `species * 6 + face`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct FaceBc {
    /// 0 = no flux, 1 = fixed concentration, 2 = clearance.
    pub kind: u32,
    /// Surface resistance 1/rate (s/m); 0 for a fixed concentration.
    pub inv_rate: f32,
    /// Outside concentration, in the species' unit.
    pub value: f32,
    pub _pad: f32,
}

/// Quantities in one reduce partial: per material (sum c, max c, sum k·acc), then per face
/// sum g·(acc − value·T).
pub fn partial_len(n_materials: usize) -> usize {
    3 * n_materials + 6
}

/// Packs the kernel tables of a problem.
pub struct Tables {
    pub params: Params,
    pub coef: Vec<Coef>,
    pub faces: Vec<FaceBc>,
    pub material: Vec<u32>,
}

impl Tables {
    pub fn new(problem: &Problem) -> Self {
        let g = &problem.grid;
        let nm = problem.materials.len();
        let n_cells = g.n_cells();
        let reduce_groups = n_cells.div_ceil(REDUCE_WORKGROUP as usize);
        let axis = |f: fn(f64) -> f64| [f(g.spacing[0]) as f32, f(g.spacing[1]) as f32, f(g.spacing[2]) as f32, 0.0];
        let params = Params {
            cells: [g.cells[0] as u32, g.cells[1] as u32, g.cells[2] as u32, n_cells as u32],
            counts: [problem.species.len() as u32, nm as u32, reduce_groups as u32, partial_len(nm) as u32],
            inv_h2: axis(|h| 1.0 / (h * h)),
            inv_h: axis(|h| 1.0 / h),
            half_h: axis(|h| 0.5 * h),
            time: [0.0; 4],
        };
        let mut coef = Vec::with_capacity(problem.species.len() * nm);
        let mut faces = Vec::with_capacity(problem.species.len() * 6);
        for s in &problem.species {
            for m in 0..nm {
                coef.push(Coef { diffusivity: s.diffusivity[m] as f32, decay: s.decay_rate[m] as f32 });
            }
            for b in &s.boundaries {
                faces.push(match *b {
                    Boundary::NoFlux => FaceBc { kind: 0, inv_rate: 0.0, value: 0.0, _pad: 0.0 },
                    Boundary::Fixed { value } => FaceBc { kind: 1, inv_rate: 0.0, value: value as f32, _pad: 0.0 },
                    Boundary::Clearance { rate, value } => {
                        FaceBc { kind: 2, inv_rate: (1.0 / rate) as f32, value: value as f32, _pad: 0.0 }
                    }
                });
            }
        }
        Tables { params, coef, faces, material: problem.material_id.clone() }
    }
}

/// Bookkeeping of one species over one reduce interval, in concentration-unit × m³.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpeciesTotals {
    /// Amount present in each material at the end of the interval.
    pub present: Vec<f64>,
    /// Highest concentration in each material (species unit); `None` for a material with no cells.
    pub max: Vec<Option<f64>>,
    /// Amount removed by decay in each material during the interval.
    pub decayed: Vec<f64>,
    /// Amount that left through each face during the interval (negative: entered).
    pub outflow: [f64; 6],
}

/// Turns reduce partials (`[species][workgroup][partial_len]`, f32) into f64 totals.
pub fn finish_totals(problem: &Problem, partials: &[f32]) -> Vec<SpeciesTotals> {
    let g = &problem.grid;
    let nm = problem.materials.len();
    let q = partial_len(nm);
    let groups = g.n_cells().div_ceil(REDUCE_WORKGROUP as usize);
    let volume = g.cell_volume();
    let counts = problem.material_cell_counts();
    (0..problem.species.len())
        .map(|s| {
            let mut t = SpeciesTotals {
                present: vec![0.0; nm],
                max: vec![None; nm],
                decayed: vec![0.0; nm],
                outflow: [0.0; 6],
            };
            let mut max = vec![f64::NEG_INFINITY; nm];
            for w in 0..groups {
                let p = &partials[(s * groups + w) * q..(s * groups + w + 1) * q];
                for m in 0..nm {
                    t.present[m] += p[3 * m] as f64;
                    max[m] = max[m].max(p[3 * m + 1] as f64);
                    t.decayed[m] += p[3 * m + 2] as f64;
                }
                for f in 0..6 {
                    t.outflow[f] += p[3 * nm + f] as f64;
                }
            }
            for m in 0..nm {
                t.present[m] *= volume;
                t.decayed[m] *= volume;
                t.max[m] = (counts[m] > 0).then_some(max[m]);
            }
            for f in 0..6 {
                t.outflow[f] *= g.face_area(f / 2);
            }
            t
        })
        .collect()
}

/// What an engine is and how it computes, for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineInfo {
    /// `cpu-reference` or `gpu`.
    pub backend: String,
    /// The adapter name for the GPU engine, the CPU description otherwise.
    pub device: String,
    /// Arithmetic precision of fields and accumulators.
    pub precision: String,
}

/// Errors raised while running an engine.
#[derive(Debug, thiserror::Error)]
pub enum SolverError {
    /// The problem does not fit the device (a binding or buffer larger than the adapter allows).
    #[error("{0}")]
    TooLarge(String),
    /// No usable GPU adapter.
    #[error("{0}")]
    NoAdapter(String),
    /// The GPU reported an error (validation, out of memory, lost device, mapping failure).
    #[error("GPU error: {0}")]
    Gpu(String),
}

/// An engine that advances the fields of one problem.
pub trait Engine {
    /// What this engine is.
    fn info(&self) -> EngineInfo;
    /// Advances `steps` explicit steps of `dt` seconds each.
    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError>;
    /// Totals since the previous call (or the start), then clears the accumulators.
    fn reduce_totals(&mut self) -> Result<Vec<SpeciesTotals>, SolverError>;
    /// The current field of every species, `[species][z][y][x]`, in each species' unit.
    fn read_field(&mut self) -> Result<Vec<f32>, SolverError>;
}

/// Bytes an engine holds for a problem: material ids, then four f32 fields per species
/// (current, next, exposure accumulator and its compensation), plus the small tables.
pub fn engine_memory_bytes(n_cells: usize, n_species: usize, n_materials: usize) -> u64 {
    let cells = n_cells as u64;
    let groups = cells.div_ceil(REDUCE_WORKGROUP as u64);
    cells * 4 + 4 * 4 * cells * n_species as u64 + 4 * groups * n_species as u64 * partial_len(n_materials) as u64
}
