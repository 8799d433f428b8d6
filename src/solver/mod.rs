//! Engines that advance a [`Problem`] in time, and the data they share with the GPU.
//!
//! Every kernel exists twice with the same name: `shaders/NAME.wgsl` runs on the GPU through
//! wgpu, `src/solver/cpu/NAME.rs` is its plain-Rust twin with the same bindings, index arithmetic
//! and operation order. The CPU twins make up [`cpu::CpuReference`], the reference the GPU is
//! checked against and the fallback where no GPU exists.
//!
//! Bookkeeping: every kernel that removes material writes down exactly what it removed, in
//! compensated f32 (Kahan) accumulators that only it writes to, so the books balance to f32
//! round-off whatever the scheme:
//!
//! - `dec`, `dec_comp` (one per cell and species, laid out like the field): amount density
//!   removed by reactions (explicit: `k·c·dt`; ADI: the loss share of each implicit sweep, see
//!   [`Stage`]), in species unit;
//! - `out`, `out_comp` (one per boundary-face cell and species): amount per face area that left
//!   through that face (explicit: `g·(c − c_b)·dt`; ADI: see [`cpu::adi_sweep`]), in species
//!   unit × m. Per species there are [`face_entries`] of them, in six blocks in [`FACE_NAMES`]
//!   order (see [`face_offset`]); within the block of a face normal to axis `a`, the entry of the
//!   cell at `pos` is `pos[p] + n_p·pos[q]` with `p < q` the two other axes ([`plane_index`]).
//!
//! [`Engine::reduce_totals`] reduces per-workgroup partial sums on the engine, then in f64 on the
//! host, and clears the accumulators.
//!
//! [`FACE_NAMES`]: crate::problem::FACE_NAMES

pub mod build;
pub mod cpu;
pub mod fast;
pub mod gpu;

pub use build::{Backend, EngineFactory};

use crate::problem::{Boundary, Problem, Scheme};
use bytemuck::{Pod, Zeroable};

/// Cells per workgroup of `diffuse_explicit` and `adi_predictor` (x
/// direction), and grid lines per workgroup of `adi_sweep_{x,y,z}`.
pub const STEP_WORKGROUP: u32 = 64;
/// Cells (and boundary-face entries) per workgroup of `reduce_totals`.
pub const REDUCE_WORKGROUP: u32 = 256;

/// Steps after the start (and after anything that makes the data sharp again) that the ADI
/// scheme takes as [`START_UP_SUBSTEPS`] implicit-Euler LOD substeps ([`Stage::lod`]) instead of
/// one Douglas step.
///
/// The Douglas amplification factor `1 + Σa / ∏(1 − θa)` tends to 1 for modes that are stiff
/// along two or three axes at once (for θ = ½ and θ = 1 alike), so Douglas substeps cannot damp
/// the corner modes of a sharp depot. A product of one-dimensional backward-Euler solves,
/// `∏ 1/(1 − a_i)`, tends to 0 for every stiff mode.
pub const START_UP_STEPS: u32 = 1;

/// Substeps (of `dt / START_UP_SUBSTEPS` each) of every start-up step. Four quarter steps damp
/// a mode stiff along one axis with `dt·λ = z` by `(1 + z/4)⁻⁴` and one stiff along several axes
/// by the product of such factors, while keeping the first-order error of the start-up to a
/// quarter step's worth.
pub const START_UP_SUBSTEPS: u32 = 4;

/// One stage of the ADI family, in the delta form every engine implements:
///
/// ```text
///   r       = A uⁿ                                   (diffusion, boundaries and linear loss)
///   δ₀      = λ·dt·r
///   (I − θ·dt·A_a) δ_a = δ_{a−1} + (θ − μ)·dt·A_a uⁿ     for each swept axis a
///   uⁿ⁺¹    = uⁿ + δ_N
/// ```
///
/// `A = Σ_a A_a`: each `A_a` holds the diffusion and boundary fluxes along axis `a` and an
/// equal share `k/N` of the first-order loss `k` (N swept axes), so the loss sits inside the
/// implicit solves and no splitting error arises where it is stiff. Douglas is
/// (λ, θ, μ) = (1, ½, ½), second order; implicit-Euler LOD is (0, 1, 0), first order and
/// damping every stiff mode. Summing the stages gives the books:
/// `uⁿ⁺¹ − uⁿ = (λ + θ − μ)·dt·A uⁿ + θ·dt·Σ_a A_a δ_a`, so each sweep books for each cell
/// `k/N·((λ+θ−μ)·dt·u + θ·dt·δ_a)` as decayed and for each end face
/// `(λ+θ−μ)·dt·g·(u − c_b) + θ·dt·g·δ_a` as outflow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// Length of the stage, s.
    pub dt: f64,
    pub lambda: f64,
    pub theta: f64,
    pub mu: f64,
    /// Whether the predictor keeps `r = A uⁿ` for the error estimate (the first stage of a step).
    pub record_rate: bool,
}

impl Stage {
    /// One Douglas step (θ = ½): second order, the regular step.
    pub fn douglas(dt: f64) -> Self {
        Stage { dt, lambda: 1.0, theta: 0.5, mu: 0.5, record_rate: true }
    }

    /// One implicit-Euler LOD substep: first order, damps every stiff mode.
    pub fn lod(dt: f64, record_rate: bool) -> Self {
        Stage { dt, lambda: 0.0, theta: 1.0, mu: 0.0, record_rate }
    }

    /// The stages of one step of `dt`: [`START_UP_SUBSTEPS`] LOD substeps during the start-up,
    /// else one Douglas step. The rate is recorded at the start of the step only.
    pub fn of_step(start_up: bool, dt: f64) -> Vec<Stage> {
        if start_up {
            let sub = dt / START_UP_SUBSTEPS as f64;
            (0..START_UP_SUBSTEPS).map(|i| Stage::lod(sub, i == 0)).collect()
        } else {
            vec![Stage::douglas(dt)]
        }
    }

    /// `Params::time` of this stage (`track` gates the rate store; with `reactions` the
    /// predictor adds `A u` to the reaction rate the first react pass stored: 2.0, else 1.0).
    pub fn time(&self, track: bool, reactions: bool) -> [f32; 4] {
        let record = match (track && self.record_rate, reactions) {
            (false, _) => 0.0,
            (true, false) => RECORD_STORE,
            (true, true) => RECORD_ADD,
        };
        [self.dt as f32, self.theta as f32, 1.0, record]
    }

    /// `Params::stage` of this stage with `n_swept` swept axes.
    pub fn coefficients(&self, n_swept: usize) -> [f32; 4] {
        let dt = self.dt;
        [
            (self.lambda * dt) as f32,
            ((self.theta - self.mu) * dt) as f32,
            ((self.lambda + self.theta - self.mu) * dt) as f32,
            1.0 / n_swept.max(1) as f32,
        ]
    }
}

/// The embedded error estimate of a step of `dt` after one of `previous` s (`None` for the
/// first step, or the first after the history was reset).
///
/// The companion is the explicit Adams–Bashforth 2 step from the same rates,
/// `ũ = uⁿ + dt·((1 + ρ/2)·rⁿ − ρ/2·rⁿ⁻¹)` with `ρ = dt/previous`: it costs one stored rate per
/// step and one pass over the field, not the extra steps of step doubling. For the trapezoidal
/// (Douglas, θ = ½) step the local error is `−dt³·u‴/12`; AB2's is `5·dt³·u‴/12` at equal
/// steps, so the difference `D = |uⁿ⁺¹ − ũ|` is `dt³·u‴/2` and the trapezoidal error `D/6`
/// (Milne's device). With unequal steps the same argument gives `D·dt/(3·(dt + previous))`,
/// taken times [`ERROR_SAFETY`]: the estimate does not see the factorisation error of ADI at
/// material corners, which the safety factor covers (measured in `tests/sharp_depots.rs`). The
/// first step compares with forward Euler, whose difference from any second-order step is its
/// own local error; half of it is taken, at order 2.
pub fn error_estimate(dt: f64, previous: Option<f64>) -> ErrorEstimate {
    match previous {
        Some(prev) if prev > 0.0 => {
            let rho = dt / prev;
            ErrorEstimate {
                weights: [dt * (1.0 + 0.5 * rho), -dt * 0.5 * rho],
                factor: ERROR_SAFETY * dt / (3.0 * (dt + prev)),
                order: 3.0,
            }
        }
        _ => ErrorEstimate { weights: [dt, 0.0], factor: 0.5, order: 2.0 },
    }
}

/// `Params::time[3]` of a pass that stores its rate (and makes it the newest).
pub const RECORD_STORE: f32 = 1.0;
/// `Params::time[3]` of an ADI predictor that adds `A u` to the rate a react pass stored.
pub const RECORD_ADD: f32 = 2.0;

/// Safety factor on the Milne estimate of [`error_estimate`].
pub const ERROR_SAFETY: f64 = 4.0;

/// See [`error_estimate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorEstimate {
    /// Multipliers of the newest and the previous recorded rate (s).
    pub weights: [f64; 2],
    /// Turns the companion difference into the estimated local error.
    pub factor: f64,
    /// Order in `dt` of the estimated local error (for the step-size rule).
    pub order: f64,
}

/// Parameters of every kernel. Twin of `struct Params` in `shaders/common.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Params {
    /// nx, ny, nz, number of cells.
    pub cells: [u32; 4],
    /// number of species, number of materials, reduce workgroups per species, quantities per
    /// reduce partial ([`partial_len`]).
    pub counts: [u32; 4],
    /// boundary-face entries per species ([`face_entries`]); last three unused.
    pub face_entries: [u32; 4],
    /// 1/h² along x, y, z (1/m²); last unused.
    pub inv_h2: [f32; 4],
    /// 1/h along x, y, z (1/m); last unused.
    pub inv_h: [f32; 4],
    /// h/2 along x, y, z (m); last unused.
    pub half_h: [f32; 4],
    /// time step of the current stage `dt` (s), ADI implicitness θ (unused by the explicit
    /// scheme), 1.0 (a one the shader compiler cannot see through, which keeps compensated sums
    /// compensated; see `compensated_add`), 1.0 when the ADI predictor records the rate `A u`
    /// for the error estimate, else 0.
    pub time: [f32; 4],
    /// ADI stage coefficients ([`Stage::coefficients`]): λ·dt, (θ − μ)·dt, (λ + θ − μ)·dt (s),
    /// 1/(number of swept axes).
    pub stage: [f32; 4],
    /// Error-estimate weights of the newest and the previous rate (s) for `local_error`
    /// ([`ErrorEstimate::weights`]); last two unused.
    pub error: [f32; 4],
    /// Local reactions: number of bound fields, book slots per cell, reaction terms, and the
    /// phase of a react pass ([`cpu::react::PHASE_FIRST`], [`cpu::react::PHASE_LAST`] or 0).
    pub local: [u32; 4],
}

/// One local reaction term of one material, as `react` reads it. Twin of `struct Term` in
/// `shaders/common.wgsl`. The terms of material `m` are `term_range[m]..term_range[m + 1]`.
///
/// | kind | term | `field` | `other` | `slot` | `p` |
/// |---|---|---|---|---|---|
/// | [`TERM_BINDING`] | `c + site ⇌ b` | species | bound row | pool | k_on (m³/(mol·s)), k_off (1/s), B_T (mol/m³), mol/m³ per species unit |
/// | [`TERM_UPTAKE`] | `−V c/(K + c)` | species | – | book slot | V (unit/s), K (unit) |
/// | [`TERM_CONVERT_FREE`] | free `from` → free `to` | from | to | book slot | k (1/s), yield |
/// | [`TERM_CONVERT_BOUND`] | bound `from` → free `to` | bound row of from | to | book slot | k (1/s), yield |
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Term {
    pub kind: u32,
    pub field: u32,
    pub other: u32,
    pub slot: u32,
    pub p: [f32; 4],
}

pub const TERM_BINDING: u32 = 1;
pub const TERM_UPTAKE: u32 = 2;
pub const TERM_CONVERT_FREE: u32 = 3;
pub const TERM_CONVERT_BOUND: u32 = 4;

/// The reaction table of a problem: the terms grouped by material (in the order of
/// `problem.reactions`), `term_range` (`n_materials + 1` entries), and for every (material,
/// slot) the index in `problem.reactions` of the booked term that slot holds.
pub fn reaction_table(problem: &Problem) -> (Vec<Term>, Vec<u32>, Vec<Vec<usize>>) {
    use crate::problem::{Form, Reaction};
    let bound = problem.bound_species();
    let bound_row = |s: usize| bound.iter().position(|&b| b == s).expect("a binding species has a bound field") as u32;
    let mut terms = Vec::new();
    let mut range = vec![0u32];
    let mut slots = Vec::new();
    for m in 0..problem.materials.len() {
        let mut booked = Vec::new();
        for (r, reaction) in problem.reactions.iter().enumerate().filter(|(_, r)| r.material() == m) {
            let slot = booked.len() as u32;
            let term = match *reaction {
                Reaction::Binding { species, pool, k_on, k_off, .. } => Term {
                    kind: TERM_BINDING,
                    field: species as u32,
                    other: bound_row(species),
                    slot: pool as u32,
                    p: [
                        k_on as f32,
                        k_off as f32,
                        problem.pools[pool].density[m] as f32,
                        problem.species[species].molar_per_unit.unwrap_or(1.0) as f32,
                    ],
                },
                Reaction::Uptake { species, vmax, km, .. } => Term {
                    kind: TERM_UPTAKE,
                    field: species as u32,
                    other: 0,
                    slot,
                    p: [vmax as f32, km as f32, 0.0, 0.0],
                },
                Reaction::Conversion { from, form, to, rate, yield_, .. } => Term {
                    kind: if form == Form::Free { TERM_CONVERT_FREE } else { TERM_CONVERT_BOUND },
                    field: if form == Form::Free { from as u32 } else { bound_row(from) },
                    other: to as u32,
                    slot,
                    p: [rate as f32, yield_ as f32, 0.0, 0.0],
                },
            };
            if reaction.is_booked() {
                booked.push(r);
            }
            terms.push(term);
        }
        range.push(terms.len() as u32);
        slots.push(booked);
    }
    (terms, range, slots)
}

/// What an engine runs for one step, in order. The scheme is written here once; every engine
/// implements the passes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pass {
    /// The local reactions of every cell over `tau` s, solved exactly term by term
    /// ([`cpu::react`]); `record` stores their rate at the start for the error estimate;
    /// `phase` is [`cpu::react::PHASE_FIRST`] or [`cpu::react::PHASE_LAST`] around ADI stages
    /// (capacities of fast binding), else 0.
    React { tau: f64, record: bool, phase: u32 },
    /// One ADI stage.
    Adi(Stage),
    /// One explicit step of `dt` s.
    Explicit(f64),
}

/// The passes of one step of `dt`.
///
/// ADI: `React(dt/2) · stages · React(dt/2)` (Strang splitting of the local reactions around the
/// diffusion step, whose linear losses sit inside the implicit stages, and whose cells hold the
/// capacity of fast binding: see [`cpu::react`]); without reaction terms only the stages.
/// Explicit: the step, then `React(dt)` (its steps are short).
pub fn step_passes(scheme: Scheme, start_up: bool, dt: f64, reactions: bool, track: bool) -> Vec<Pass> {
    match scheme {
        Scheme::ExplicitFtcs => {
            let mut passes = vec![Pass::Explicit(dt)];
            if reactions {
                passes.push(Pass::React { tau: dt, record: false, phase: 0 });
            }
            passes
        }
        Scheme::AdiDouglas => {
            let mut passes = Vec::new();
            if reactions {
                passes.push(Pass::React { tau: 0.5 * dt, record: track, phase: cpu::react::PHASE_FIRST });
            }
            passes.extend(Stage::of_step(start_up, dt).into_iter().map(Pass::Adi));
            if reactions {
                passes.push(Pass::React { tau: 0.5 * dt, record: false, phase: cpu::react::PHASE_LAST });
            }
            passes
        }
    }
}

impl Pass {
    /// `Params::time` of a react pass of `tau` (`record`: store the rate).
    pub fn react_time(tau: f64, record: bool) -> [f32; 4] {
        [tau as f32, 0.0, 1.0, if record { 1.0 } else { 0.0 }]
    }
}

/// Diffusivity, first-order loss rate and flow velocity of one species in one material. Twin of
/// `struct Coef` in `shaders/common.wgsl`. Indexed `species * n_materials + material`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct Coef {
    /// m²/s
    pub diffusivity: f32,
    /// 1/s
    pub decay: f32,
    /// Interstitial flow velocity along x, y, z, m/s (the material's, the same for every free
    /// species; the face rule is [`cpu::diffuse_explicit::face_velocity`]).
    pub velocity: [f32; 3],
}

/// Boundary condition of one species on one face. Twin of `struct FaceBc` in `shaders/common.wgsl`.
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

/// Quantities in one reduce partial: per material (Σ c, max c, Σ dec), then per face Σ out.
pub fn partial_len(n_materials: usize) -> usize {
    3 * n_materials + 6
}

/// Boundary-face accumulator entries per species: `2·(ny·nz + nx·nz + nx·ny)`.
pub fn face_entries(cells: [usize; 3]) -> usize {
    let [nx, ny, nz] = cells;
    2 * (ny * nz + nx * nz + nx * ny)
}

/// Reduce workgroups per species: enough lanes for every cell and for every boundary-face entry.
pub fn reduce_groups(cells: [usize; 3]) -> usize {
    let n_cells = cells[0] * cells[1] * cells[2];
    n_cells.max(face_entries(cells)).div_ceil(REDUCE_WORKGROUP as usize)
}

/// First entry of face `face` (0..=6; 6 gives the total) within a species' block of
/// boundary-face entries. Twin of `face_offset` in the shaders.
pub fn face_offset(params: &Params, face: u32) -> u32 {
    let [nx, ny, nz, _] = params.cells;
    let sizes = [ny * nz, nx * nz, nx * ny];
    let mut offset = 0;
    for f in 0..face {
        offset += sizes[(f / 2) as usize];
    }
    offset
}

/// Index of the cell at `pos` within the block of a face normal to `axis`: `pos[p] + n_p·pos[q]`
/// with `p < q` the other two axes. Twin of `plane_index` in the shaders.
pub fn plane_index(params: &Params, pos: [u32; 3], axis: u32) -> u32 {
    let p = if axis == 0 { 1 } else { 0 };
    let q = if axis == 2 { 1 } else { 2 };
    pos[p] + params.cells[p] * pos[q]
}

/// Adds `x` to the compensated pair (`sum`, `comp`): Kahan summation, as in the shaders'
/// `add_decayed`/`add_outflow`. The shaders multiply the new sum by an opaque 1.0 from the
/// uniform so that a reassociating shader compiler cannot fold the compensation to zero; Rust
/// does not reassociate and x·1 = x exactly, so the values are the same without the factor.
pub fn compensated_add(sum: &mut f32, comp: &mut f32, x: f32) {
    let add = x - *comp;
    let next = *sum + add;
    *comp = (next - *sum) - add;
    *sum = next;
}

/// Axes the ADI scheme sweeps: every axis with more than one cell, and a single-cell axis only
/// where some species has a boundary other than no-flux on one of its faces (elsewhere its
/// diffusion operator is zero). At least one axis is swept, since the sweeps also solve the
/// loss terms: a grid of one closed cell sweeps x.
pub fn adi_sweep_axes(problem: &Problem) -> Vec<u32> {
    let axes: Vec<u32> = (0..3)
        .filter(|&a| {
            problem.grid.cells[a] > 1
                || problem
                    .species
                    .iter()
                    .any(|s| s.boundaries[2 * a] != Boundary::NoFlux || s.boundaries[2 * a + 1] != Boundary::NoFlux)
        })
        .map(|a| a as u32)
        .collect();
    if axes.is_empty() { vec![0] } else { axes }
}

/// Checks that `new` differs from `old` at most in what an engine's `set_coefficients` can change
/// between steps: diffusivities, loss rates, flow velocities, reaction rates, site densities and boundary conditions (and what no engine reads
/// after it starts: the name, initial values, schedule times). Anything else is
/// [`SolverError::Usage`] naming what differs.
pub fn check_coefficient_update(old: &Problem, new: &Problem) -> Result<(), SolverError> {
    let same_species = old.species.len() == new.species.len()
        && old.species.iter().zip(&new.species).all(|(a, b)| a.name == b.name && a.unit == b.unit);
    let differs = [
        (old.grid != new.grid, "grid"),
        (old.materials != new.materials, "materials"),
        (old.material_id != new.material_id, "material ids"),
        (old.schedule.scheme != new.schedule.scheme, "scheme"),
        (!same_species, "species (number, names or units)"),
        (
            old.bound_species() != new.bound_species()
                || old.book_slots() != new.book_slots()
                || reaction_table(old).2 != reaction_table(new).2
                || old.pools.len() != new.pools.len(),
            "set of reaction terms (only their rates and site densities can change)",
        ),
    ];
    match differs.iter().find(|(differ, _)| *differ) {
        Some((_, what)) => Err(SolverError::Usage(format!(
            "new coefficients for problem {:?} come with a different {what}; only diffusivities, decay \
             rates, flow velocities and boundary conditions can change between steps (build a new engine for \
             anything else)",
            old.name
        ))),
        None => Ok(()),
    }
}

/// Packs the kernel tables of a problem.
pub struct Tables {
    pub params: Params,
    pub coef: Vec<Coef>,
    pub faces: Vec<FaceBc>,
    pub material: Vec<u32>,
    /// Local reaction terms grouped by material, and each material's range of them
    /// ([`reaction_table`]).
    pub terms: Vec<Term>,
    pub term_range: Vec<u32>,
}

impl Tables {
    pub fn new(problem: &Problem) -> Self {
        let g = &problem.grid;
        let nm = problem.materials.len();
        let n_cells = g.n_cells();
        let reduce_groups = reduce_groups(g.cells);
        let axis = |f: fn(f64) -> f64| [f(g.spacing[0]) as f32, f(g.spacing[1]) as f32, f(g.spacing[2]) as f32, 0.0];
        let params = Params {
            cells: [g.cells[0] as u32, g.cells[1] as u32, g.cells[2] as u32, n_cells as u32],
            counts: [problem.species.len() as u32, nm as u32, reduce_groups as u32, partial_len(nm) as u32],
            face_entries: [face_entries(g.cells) as u32, 0, 0, 0],
            inv_h2: axis(|h| 1.0 / (h * h)),
            inv_h: axis(|h| 1.0 / h),
            half_h: axis(|h| 0.5 * h),
            time: [0.0, 0.0, 1.0, 0.0],
            stage: [0.0, 0.0, 0.0, 1.0],
            error: [0.0; 4],
            local: [
                problem.bound_species().len() as u32,
                problem.book_slots() as u32,
                problem.reactions.len() as u32,
                0,
            ],
        };
        let mut coef = Vec::with_capacity(problem.species.len() * nm);
        let mut faces = Vec::with_capacity(problem.species.len() * 6);
        for s in &problem.species {
            for (m, (d, k)) in s.diffusivity.iter().zip(s.linear_loss()).enumerate() {
                let velocity = problem.velocity.get(m).map_or([0.0; 3], |v| v.map(|x| x as f32));
                coef.push(Coef { diffusivity: *d as f32, decay: k as f32, velocity });
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
        let (terms, term_range, _) = reaction_table(problem);
        Tables { params, coef, faces, material: problem.material_id.clone(), terms, term_range }
    }
}

/// A book of amounts removed from (or, for [`Channel::ConvertedIn`], added to) a species'
/// free and bound fields inside the domain. Outflow through the faces is booked per face apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// First-order decay (proteolysis).
    Decayed,
    /// First-order clearance by vessels.
    Cleared,
    /// Uptake by cells (linear and Michaelis–Menten).
    TakenUp,
    /// Converted into another species.
    ConvertedOut,
    /// Converted from another species (an addition).
    ConvertedIn,
}

impl Channel {
    pub const ALL: [Channel; 5] =
        [Channel::Decayed, Channel::Cleared, Channel::TakenUp, Channel::ConvertedOut, Channel::ConvertedIn];

    /// The channel's name in summary.json and timeseries.csv.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Decayed => "decayed",
            Channel::Cleared => "cleared",
            Channel::TakenUp => "taken_up",
            Channel::ConvertedOut => "converted_out",
            Channel::ConvertedIn => "converted_in",
        }
    }

    /// +1 for a channel that removes, −1 for one that adds (in the balance, removals count
    /// against what is present).
    pub fn sign(self) -> f64 {
        if self == Channel::ConvertedIn { -1.0 } else { 1.0 }
    }
}

/// Bookkeeping of one species over one reduce interval, in concentration-unit × m³.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpeciesTotals {
    /// Free amount present in each material at the end of the interval.
    pub present: Vec<f64>,
    /// Highest free concentration in each material (species unit); `None` for a material with
    /// no cells.
    pub max: Vec<Option<f64>>,
    /// Bound amount present in each material at the end of the interval (0 for a species that
    /// binds nowhere).
    pub bound: Vec<f64>,
    /// Highest bound concentration in each material; `None` where there is no cell or no bound
    /// field.
    pub bound_max: Vec<Option<f64>>,
    /// Amount moved by each [`Channel`] in each material during the interval
    /// (`channels[channel as usize][material]`).
    pub channels: [Vec<f64>; 5],
    /// Amount that left through each face during the interval (negative: entered).
    pub outflow: [f64; 6],
}

impl SpeciesTotals {
    /// The amounts of `channel` per material.
    pub fn channel(&self, channel: Channel) -> &[f64] {
        &self.channels[channel as usize]
    }

    /// The amounts decayed per material.
    pub fn decayed(&self) -> &[f64] {
        self.channel(Channel::Decayed)
    }

    fn empty(nm: usize) -> Self {
        SpeciesTotals {
            present: vec![0.0; nm],
            max: vec![None; nm],
            bound: vec![0.0; nm],
            bound_max: vec![None; nm],
            channels: std::array::from_fn(|_| vec![0.0; nm]),
            outflow: [0.0; 6],
        }
    }

    /// Adds the flows of `earlier` (an interval just before this one) to these; what is present
    /// stays this interval's.
    pub fn add_earlier(&mut self, earlier: &SpeciesTotals) {
        for (mine, theirs) in self.channels.iter_mut().zip(&earlier.channels) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        for f in 0..6 {
            self.outflow[f] += earlier.outflow[f];
        }
    }
}

/// Adds the flows of totals reduced before a coefficient change (`pending`) to `totals`.
pub fn merge_pending(pending: &mut Option<Vec<SpeciesTotals>>, totals: &mut [SpeciesTotals]) {
    if let Some(earlier) = pending.take() {
        for (t, e) in totals.iter_mut().zip(&earlier) {
            t.add_earlier(e);
        }
    }
}

/// Turns reduce partials into f64 totals: `partials` from `reduce_totals`
/// (`[species][workgroup][partial_len]`, f32), `rows` from `reduce_rows` (`[row][workgroup][2 ·
/// n_materials]`, [`reduce_groups`] workgroups per row: Σ and max per material of each bound
/// field, then of each book slot; empty without local reactions).
pub fn finish_totals(problem: &Problem, partials: &[f32], rows: &[f32]) -> Vec<SpeciesTotals> {
    let g = &problem.grid;
    let nm = problem.materials.len();
    let q = partial_len(nm);
    let groups = reduce_groups(g.cells);
    let sums: Vec<CellSums> = (0..problem.species.len())
        .map(|s| {
            let mut sums = CellSums {
                present: vec![0.0; nm],
                max: vec![f64::NEG_INFINITY; nm],
                lost: vec![0.0; nm],
                outflow: [0.0; 6],
            };
            for w in 0..groups {
                let p = &partials[(s * groups + w) * q..(s * groups + w + 1) * q];
                for m in 0..nm {
                    sums.present[m] += p[3 * m] as f64;
                    sums.max[m] = sums.max[m].max(p[3 * m + 1] as f64);
                    sums.lost[m] += p[3 * m + 2] as f64;
                }
                for f in 0..6 {
                    sums.outflow[f] += p[3 * nm + f] as f64;
                }
            }
            sums
        })
        .collect();
    let mut totals = totals_from_sums(problem, &sums);
    add_local_rows(problem, &mut totals, rows);
    totals
}

/// What an engine summed over the cells of one species: per material Σc, max c and Σ linear
/// loss (amount densities), per face Σ outflow (amount per face area).
pub struct CellSums {
    pub present: Vec<f64>,
    pub max: Vec<f64>,
    pub lost: Vec<f64>,
    pub outflow: [f64; 6],
}

/// Totals from per-species [`CellSums`]: amounts from densities, and the linear loss the sweeps
/// booked split into decay, clearance and uptake in proportion to the problem's rates in each
/// material.
pub fn totals_from_sums(problem: &Problem, sums: &[CellSums]) -> Vec<SpeciesTotals> {
    let g = &problem.grid;
    let nm = problem.materials.len();
    let volume = g.cell_volume();
    let counts = problem.material_cell_counts();
    problem
        .species
        .iter()
        .zip(sums)
        .map(|(species, sums)| {
            let mut t = SpeciesTotals::empty(nm);
            #[allow(clippy::needless_range_loop)] // m indexes six tables of the same length
            for m in 0..nm {
                t.present[m] = sums.present[m] * volume;
                t.max[m] = (counts[m] > 0).then_some(sums.max[m]);
                let lost = sums.lost[m] * volume;
                let rates = [species.decay_rate[m], species.clearance_rate[m], species.uptake_rate[m]];
                let total: f64 = rates.iter().sum();
                if total > 0.0 {
                    for (channel, rate) in [Channel::Decayed, Channel::Cleared, Channel::TakenUp].into_iter().zip(rates)
                    {
                        // A single channel takes the whole loss exactly.
                        t.channels[channel as usize][m] += if rate == total { lost } else { lost * (rate / total) };
                    }
                } else {
                    t.channels[Channel::Decayed as usize][m] += lost;
                }
            }
            for f in 0..6 {
                t.outflow[f] = sums.outflow[f] * g.face_area(f / 2);
            }
            t
        })
        .collect()
}

/// Adds the bound amounts and the local reactions' books from the `reduce_rows` partials.
pub fn add_local_rows(problem: &Problem, totals: &mut [SpeciesTotals], rows: &[f32]) {
    use crate::problem::Reaction;
    let g = &problem.grid;
    let nm = problem.materials.len();
    let groups = reduce_groups(g.cells);
    let volume = g.cell_volume();
    let counts = problem.material_cell_counts();
    if rows.is_empty() {
        return;
    }
    // Σ and max of row `r` in material `m`.
    let row_total = |r: usize, m: usize| -> (f64, f64) {
        let mut sum = 0.0;
        let mut max = f64::NEG_INFINITY;
        for w in 0..groups {
            let p = &rows[(r * groups + w) * 2 * nm..][..2 * nm];
            sum += p[2 * m] as f64;
            max = max.max(p[2 * m + 1] as f64);
        }
        (sum * volume, max)
    };
    let bound = problem.bound_species();
    for (b, &s) in bound.iter().enumerate() {
        for (m, &count) in counts.iter().enumerate() {
            let (sum, max) = row_total(b, m);
            totals[s].bound[m] = sum;
            totals[s].bound_max[m] = (count > 0).then_some(max);
        }
    }
    let (_, _, slots) = reaction_table(problem);
    for (m, booked) in slots.iter().enumerate() {
        for (slot, &r) in booked.iter().enumerate() {
            let (amount, _) = row_total(bound.len() + slot, m);
            match problem.reactions[r] {
                Reaction::Uptake { species, .. } => totals[species].channels[Channel::TakenUp as usize][m] += amount,
                Reaction::Conversion { from, to, yield_, .. } => {
                    totals[from].channels[Channel::ConvertedOut as usize][m] += amount;
                    totals[to].channels[Channel::ConvertedIn as usize][m] += amount * yield_;
                }
                Reaction::Binding { .. } => unreachable!("binding terms hold no book slot"),
            }
        }
    }
}

/// What an engine is and how it computes, for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineInfo {
    /// `reference`, `cpu` or `gpu` (the `--backend` that selects the engine).
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
    /// An engine call out of order or out of range (a save slot that does not exist or is empty).
    #[error("engine call refused: {0}")]
    Usage(String),
}

/// The error for a save slot that does not exist or holds nothing.
pub fn slot_error(slot: usize, what: &str) -> SolverError {
    SolverError::Usage(format!("save slot {slot} {what} (slots 0..{SAVE_SLOTS} exist; restore needs a save first)"))
}

/// An engine that advances the fields of one problem.
pub trait Engine {
    /// What this engine is.
    fn info(&self) -> EngineInfo;
    /// Advances `steps` steps of `dt` seconds each of the problem's scheme (for the ADI scheme,
    /// the [`Stage::of_step`] stages of each step).
    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError>;
    /// Sets how many of the next ADI steps are taken as start-up ([`START_UP_SUBSTEPS`]
    /// implicit-Euler LOD substeps each). A new engine starts with [`START_UP_STEPS`]; after
    /// anything that makes the data sharp again (a new dose), set it back to that. 0 turns the
    /// start-up off. No effect on the explicit scheme.
    fn set_start_up_steps(&mut self, steps: u32);
    /// Replaces the diffusivities, loss rates, flow velocities and boundary conditions by those
    /// of `problem` from the next step on; the field, books, saved state and start-up count stay. `problem` must
    /// be this engine's problem in everything else ([`check_coefficient_update`]).
    fn set_coefficients(&mut self, problem: &Problem) -> Result<(), SolverError>;
    /// The engine's whole state for a checkpoint: the field, the start-up count and the rate
    /// history of the error estimate. Take it right after [`Engine::reduce_totals`], when the
    /// engine holds no unreduced books; the run keeps the books.
    fn export_state(&mut self) -> Result<EngineState, SolverError>;
    /// Puts back a state from [`Engine::export_state`] of an engine of the same problem; the
    /// books start empty. Refused ([`SolverError::Usage`]) if the sizes do not fit.
    fn import_state(&mut self, state: &EngineState) -> Result<(), SolverError>;
    /// Edits the whole state in place: an event between steps (a dose, the sites a degrading
    /// gel loses). Take it right after [`Engine::reduce_totals`], as [`Engine::export_state`];
    /// the books of what the edit adds and removes are the caller's. The default goes through
    /// [`Engine::export_state`] and [`Engine::import_state`], which every engine has: events
    /// come hours apart, so a round trip of the field costs nothing that matters.
    fn edit_state(&mut self, edit: &mut dyn FnMut(&mut EngineState)) -> Result<(), SolverError> {
        let mut state = self.export_state()?;
        edit(&mut state);
        self.import_state(&state)
    }
    /// Whether ADI steps keep the rates `A uⁿ` that [`Engine::local_error`] needs (off by
    /// default: a fixed-step run does not pay for the store). No effect on the explicit scheme.
    fn track_rates(&mut self, on: bool);
    /// Totals since the previous call (or the start), then clears the accumulators.
    fn reduce_totals(&mut self) -> Result<Vec<SpeciesTotals>, SolverError>;
    /// The current field of every species, `[species][z][y][x]`, then every bound field
    /// ([`Problem::bound_species`] order), in each species' unit.
    fn read_field(&mut self) -> Result<Vec<f32>, SolverError>;
    /// The values at `indices` of the [`Engine::read_field`] layout, in order: what the
    /// exposure metrics take after every step. The default reads the whole field; the CPU
    /// engines read the values in place.
    fn gather(&mut self, indices: &[u32]) -> Result<Vec<f32>, SolverError> {
        let field = self.read_field()?;
        Ok(indices.iter().map(|&i| field[i as usize]).collect())
    }
    /// Copies the whole state (field, accumulators, start-up counter, which rate is newest) into save slot
    /// `slot` (< [`SAVE_SLOTS`]). Used by the step-size control; the first call allocates the slot.
    fn save(&mut self, slot: usize) -> Result<(), SolverError>;
    /// Returns to the state last saved in `slot`. The rate history of the error estimate comes
    /// back with it when one step was taken since the save (a rejected step, as the step
    /// control takes them): the save keeps only which rate is newest, and that step overwrote
    /// only the older one.
    fn restore(&mut self, slot: usize) -> Result<(), SolverError>;
    /// Per species, how far the current field is from the embedded companion of the last step,
    /// `saved + weights[0]·r_newest + weights[1]·r_previous` (species unit), where `saved` is
    /// the field in slot 0 (the start of the step) and the rates are the last two recorded
    /// ([`Engine::track_rates`]); see [`error_estimate`].
    fn local_error(&mut self, weights: [f64; 2]) -> Result<Vec<Difference>, SolverError>;
}

/// What [`Engine::export_state`] returns: enough to continue a run bit for bit.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EngineState {
    /// Every species' field, `[species][z][y][x]`, then every bound field, in each species' unit.
    pub field: Vec<f32>,
    /// ADI steps still to be taken as start-up.
    pub start_up_left: u32,
    /// The newest and the previous recorded rate, one field each, concatenated; empty when the
    /// engine does not track rates.
    pub rates: Vec<f32>,
}

impl EngineState {
    /// Checks that the state fits a problem of `n_field` field values (cells × (species + bound
    /// fields)) and `n_free` free values (cells × species, the size of one rate).
    pub fn check(&self, n_field: usize, n_free: usize) -> Result<(), SolverError> {
        if self.field.len() != n_field || !(self.rates.is_empty() || self.rates.len() == 2 * n_free) {
            return Err(SolverError::Usage(format!(
                "a state of {} field values and {} rate values does not fit a problem of {n_field} field values \
                 ({n_free} free)",
                self.field.len(),
                self.rates.len()
            )));
        }
        Ok(())
    }
}

/// The fields of a CPU engine that an [`EngineState`] holds, borrowed: the CPU engines export
/// and import through it.
pub struct CpuStateParts<'a> {
    pub c: &'a mut [f32],
    /// The bound fields.
    pub bound: &'a mut [f32],
    /// The two rate buffers (empty while rates are not tracked) and which is newest.
    pub rate: &'a mut [Vec<f32>; 2],
    pub newest: &'a mut usize,
    pub start_up_left: &'a mut u32,
}

impl CpuStateParts<'_> {
    /// The state of these parts.
    pub fn export(&self) -> EngineState {
        let rates = if self.rate[0].is_empty() {
            Vec::new()
        } else {
            [&self.rate[*self.newest][..], &self.rate[1 - *self.newest][..]].concat()
        };
        EngineState { field: [&self.c[..], &self.bound[..]].concat(), start_up_left: *self.start_up_left, rates }
    }

    /// Puts `state` into these parts; the rate buffers must already be allocated (or not) as
    /// the state needs. Nothing changes if the state is refused.
    pub fn import(&mut self, state: &EngineState) -> Result<(), SolverError> {
        let n = self.c.len();
        state.check(n + self.bound.len(), n)?;
        if !state.rates.is_empty() && self.rate[0].len() != n {
            return Err(SolverError::Usage("the state has rates but this engine cannot track them".into()));
        }
        if !state.rates.is_empty() {
            *self.newest = 0;
            self.rate[0].copy_from_slice(&state.rates[..n]);
            self.rate[1].copy_from_slice(&state.rates[n..]);
        }
        self.c.copy_from_slice(&state.field[..n]);
        self.bound.copy_from_slice(&state.field[n..]);
        *self.start_up_left = state.start_up_left;
        Ok(())
    }
}

/// Save slots an engine offers for step-size control (the embedded estimate needs one).
pub const SAVE_SLOTS: usize = 1;

/// The difference between two fields of one species, in its unit.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Difference {
    /// Largest |a − b| over the cells.
    pub max: f64,
    /// Root mean square of a − b over the cells.
    pub rms: f64,
}

/// Per species, the [`Difference`] from the `local_error` partials
/// (`[species][groups][max, sum of squares]`) of a field of `n_cells` cells.
pub fn finish_difference(n_species: usize, n_cells: usize, partials: &[f32]) -> Vec<Difference> {
    let groups = partials.len() / (2 * n_species.max(1));
    (0..n_species)
        .map(|s| {
            let mine = &partials[2 * s * groups..2 * (s + 1) * groups];
            let max = mine.iter().step_by(2).fold(0.0f64, |m, &v| m.max(v as f64));
            let squares: f64 = mine.iter().skip(1).step_by(2).map(|&v| v as f64).sum();
            Difference { max, rms: (squares / n_cells.max(1) as f64).sqrt() }
        })
        .collect()
}

/// Bytes an engine holds for a problem: material ids; per species four f32 fields (current,
/// next, decay accumulator and its compensation), for the ADI scheme a fifth (the Thomas
/// coefficients), two rates and the save slot of the adaptive step (field, decay accumulator and
/// its compensation: five more; an upper bound, since a fixed-step run allocates none); two f32 per
/// boundary-face entry (outflow and its compensation, twice more per save slot); the reduce
/// partials. The small tables are left out.
///
/// With local reactions add the local rows (bound fields, book slots and their compensation,
/// anchors; twice, with the save slot) and the capacities.
pub fn engine_memory_bytes(problem: &Problem) -> u64 {
    let n_cells = problem.grid.n_cells() as u64;
    let bound = problem.bound_species().len() as u64;
    let slots = problem.book_slots() as u64;
    let capacity = if bound > 0 { problem.species.len() as u64 } else { 0 };
    let local = (1 + SAVE_SLOTS as u64) * (2 * bound + 2 * slots) + capacity;
    engine_memory_bytes_for(problem.grid.cells, problem.species.len(), problem.materials.len(), problem.schedule.scheme)
        + 4 * local * n_cells
}

/// [`engine_memory_bytes`] from the sizes alone, before a problem is built (without local
/// reactions).
pub fn engine_memory_bytes_for(cells: [usize; 3], n_species: usize, n_materials: usize, scheme: Scheme) -> u64 {
    let n_cells = cells.iter().map(|&n| n as u64).product::<u64>();
    let species = n_species as u64;
    let (fields, face_fields) = match scheme {
        Scheme::ExplicitFtcs => (4, 2),
        Scheme::AdiDouglas => (5 + 2 + 3 * SAVE_SLOTS as u64, 2 + 2 * SAVE_SLOTS as u64),
    };
    let partials = reduce_groups(cells) as u64 * partial_len(n_materials) as u64;
    n_cells * 4 + 4 * species * (fields * n_cells + face_fields * face_entries(cells) as u64 + partials)
}

/// Sets the calling thread to flush subnormal floating-point numbers to zero, as inputs and as
/// results (x86-64: MXCSR FTZ and DAZ; aarch64: FPCR FZ), and returns the previous setting for
/// [`restore_float_mode`].
///
/// Factors decay by many orders of magnitude over a multi-day run; once values drop below
/// ~1e-38 of their unit, f32 arithmetic on subnormals costs tens to hundreds of cycles per
/// operation on CPUs and would make a run crawl. Values that small are zero for every purpose
/// here. GPUs flush subnormals as a rule; the CPU engines do it while they step.
pub fn flush_subnormals() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut old: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr only read and write the SSE control register of this thread.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut old, options(nostack));
            let new = old | 0x8040; // FTZ (bit 15) | DAZ (bit 6)
            std::arch::asm!("ldmxcsr [{}]", in(reg) &new, options(nostack, readonly));
        }
        old as u64
    }
    #[cfg(target_arch = "aarch64")]
    {
        let old: u64;
        // SAFETY: reads and writes the floating-point control register of this thread only.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) old, options(nomem, nostack));
            std::arch::asm!("msr fpcr, {}", in(reg) old | (1 << 24), options(nomem, nostack));
        }
        old
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        0
    }
}

/// Puts back the floating-point mode returned by [`flush_subnormals`].
pub fn restore_float_mode(old: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        let old = old as u32;
        // SAFETY: as in `flush_subnormals`.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &old, options(nostack, readonly)) };
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: as in `flush_subnormals`.
        unsafe { std::arch::asm!("msr fpcr, {}", in(reg) old, options(nomem, nostack)) };
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = old;
}
