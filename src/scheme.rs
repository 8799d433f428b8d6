//! The numerics that sit on top of the model: the time-stepping schemes and how the step is
//! chosen, the explicit scheme's stability limit, and the face rules (harmonic-mean faces,
//! boundary conductances) in f64. The stages every engine executes are in
//! [`crate::solver::Stage`]; the step control is in [`crate::run::control`].

//!
//! Space: cell-centred finite volumes, `A c` the discrete diffusion operator (interior faces
//! `D_f/h²·(c_nb − c)`, boundary faces `−g/h·(c − c_b)` with the conductance of
//! [`boundary_conductance`]); second order in h. Time, per [`Scheme`]:
//!
//! - [`Scheme::ExplicitFtcs`]: `c' = c + dt·(A c − k c)`; first order in time, stable (and
//!   non-negative) for `dt ≤` [`Problem::explicit_step_limit`].
//! - [`Scheme::AdiDouglas`]: the Douglas(–Gunn) ADI scheme on the whole linear operator
//!   `A c − k c`, split by axis with an equal share of the loss in each axis
//!   ([`crate::solver::Stage`]): no reaction splitting, second order in time and space,
//!   unconditionally stable. The first [`crate::solver::START_UP_STEPS`] steps are taken as
//!   implicit-Euler LOD substeps, which damp the modes of sharp data that Douglas leaves
//!   ringing (those stiff along two or three axes at once among them). Axes of a single cell
//!   are not swept where all their faces are no-flux ([`crate::solver::adi_sweep_axes`]).

use crate::problem::{Boundary, Problem};

/// The time-stepping scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Forward-Euler in time, central differences in space (explicit finite volumes).
    ExplicitFtcs,
    /// Douglas(–Gunn) alternating-direction implicit scheme, θ = 1/2, with the first-order loss
    /// inside the implicit stages and an implicit-Euler LOD start-up (see the module docs):
    /// second order in time, unconditionally stable.
    AdiDouglas,
}

impl Scheme {
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::ExplicitFtcs => "explicit_ftcs",
            Scheme::AdiDouglas => "adi_douglas",
        }
    }
}

/// How the time step is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeStep {
    /// Explicit scheme: the largest stable step times `safety` (0 < safety ≤ 1). (For the ADI
    /// scheme this means [`TimeStep::Adaptive`] with [`DEFAULT_TOLERANCE`].)
    Auto { safety: f64 },
    /// A step given by the user, in seconds (the explicit scheme checks it against the stability
    /// limit; the ADI scheme has none).
    Fixed { dt: f64 },
    /// ADI scheme: the step adapts so that the local error of each step, estimated by the
    /// embedded companion of [`crate::solver::error_estimate`], stays below `tolerance` × the species' concentration scale (its largest initial
    /// or boundary concentration).
    Adaptive { tolerance: f64 },
}

/// Relative local-error tolerance of the adaptive ADI step when none is given.
pub const DEFAULT_TOLERANCE: f64 = 1e-3;

/// Cost of one ADI step in explicit steps (the fast CPU engine on the peer problem); the
/// automatic scheme choice weighs the two schemes with it.
pub const ADI_STEP_COST: f64 = 2.5;

/// Face diffusivity between two cells: the harmonic mean, zero if either side does not diffuse.
pub fn harmonic_mean(a: f64, b: f64) -> f64 {
    if a + b > 0.0 { 2.0 * a * b / (a + b) } else { 0.0 }
}

/// Velocity (m/s, along the axis) at the face between two cells whose velocities along it are
/// `a` and `b`: the mean. Both cells see the same number, so the upwind flux that leaves one
/// enters the other. (The kernels' f32 twin is `solver::cpu::diffuse_explicit::face_velocity`.)
pub fn face_velocity(a: f64, b: f64) -> f64 {
    0.5 * (a + b)
}

/// Conductance (m/s) between a boundary cell's centre and the outside, such that the outward
/// flux density is `g · (c_cell − value)`.
///
/// A fixed concentration sits half a cell from the centre (`g = 2D/h`); clearance puts the
/// surface resistance `1/rate` in series with that half cell, which keeps the scheme second order.
pub fn boundary_conductance(boundary: &Boundary, d: f64, h: f64) -> f64 {
    if d <= 0.0 {
        return 0.0;
    }
    match *boundary {
        Boundary::NoFlux => 0.0,
        Boundary::Fixed { .. } => 1.0 / (0.5 * h / d),
        Boundary::Clearance { rate, .. } => 1.0 / (1.0 / rate + 0.5 * h / d),
    }
}

impl Problem {
    /// Largest step (s) for which the explicit scheme is stable and keeps concentrations
    /// non-negative: for every cell, `dt · (Σ_faces coefficient + k) ≤ 1`, where a face's
    /// coefficient is its diffusion coupling plus, with flow, the upwind coupling
    /// `max(v_out, 0)/h` of the velocity out of the cell through it (the advective Courant
    /// condition, combined with diffusion's).
    ///
    /// This is the exact positivity (M-matrix) bound of the discrete operator, not the generic
    /// `h²/(2·d·D_max)` estimate, so it accounts for harmonic face means, boundary conductances,
    /// flow and decay. Returns `f64::INFINITY` when nothing moves or decays.
    pub fn explicit_step_limit(&self) -> f64 {
        let g = &self.grid;
        let [nx, ny, nz] = g.cells;
        let mut worst: f64 = 0.0;
        for species in &self.species {
            for k in 0..nz {
                for j in 0..ny {
                    for i in 0..nx {
                        let cell = g.index(i, j, k);
                        let d = species.diffusivity[self.material_id[cell] as usize];
                        let m = self.material_id[cell] as usize;
                        let mut sum = species.decay_rate[m] + species.clearance_rate[m] + species.uptake_rate[m];
                        let pos = [i, j, k];
                        for axis in 0..3 {
                            for side in 0..2 {
                                let at_edge = if side == 0 { pos[axis] == 0 } else { pos[axis] + 1 == g.cells[axis] };
                                let h = g.spacing[axis];
                                let v = self.velocity_of(m)[axis];
                                // Velocity out of the cell through this face (upwind: what
                                // leaves carries this cell's value).
                                let (coupling, v_face) = if at_edge {
                                    let b = &species.boundaries[2 * axis + side];
                                    let open = *b != Boundary::NoFlux;
                                    (boundary_conductance(b, d, h) / h, if open { v } else { 0.0 })
                                } else {
                                    let mut p = pos;
                                    if side == 0 {
                                        p[axis] -= 1
                                    } else {
                                        p[axis] += 1
                                    }
                                    let other = self.material_id[g.index(p[0], p[1], p[2])] as usize;
                                    let coupling = harmonic_mean(d, species.diffusivity[other]) / (h * h);
                                    (coupling, face_velocity(v, self.velocity_of(other)[axis]))
                                };
                                let outward = if side == 0 { -v_face } else { v_face };
                                sum += coupling + outward.max(0.0) / h;
                            }
                        }
                        worst = worst.max(sum);
                    }
                }
            }
        }
        if worst > 0.0 { 1.0 / worst } else { f64::INFINITY }
    }
}

impl Problem {
    /// The flow velocity of material `m`, m/s (zero without flow).
    pub fn velocity_of(&self, m: usize) -> [f64; 3] {
        self.velocity.get(m).copied().unwrap_or([0.0; 3])
    }

    /// Whether any material holding cells has a non-zero velocity.
    pub fn has_flow(&self) -> bool {
        let counts = self.material_cell_counts();
        (0..self.materials.len()).any(|m| counts[m] > 0 && self.velocity_of(m).iter().any(|&v| v != 0.0))
    }

    /// What the flow means for the numerics on this grid ([`FlowFigures`]); `None` without flow.
    pub fn flow_figures(&self) -> Option<FlowFigures> {
        if !self.has_flow() {
            return None;
        }
        let counts = self.material_cell_counts();
        let mut f = FlowFigures {
            max_speed: 0.0,
            max_cell_peclet: 0.0,
            peclet_species: String::new(),
            peclet_material: String::new(),
            courant_step: f64::INFINITY,
        };
        for m in (0..self.materials.len()).filter(|&m| counts[m] > 0) {
            let v = self.velocity_of(m);
            for (a, component) in v.iter().enumerate() {
                let speed = component.abs();
                if speed == 0.0 {
                    continue;
                }
                let h = self.grid.spacing[a];
                f.max_speed = f.max_speed.max(speed);
                f.courant_step = f.courant_step.min(h / speed);
                for s in &self.species {
                    let d = s.diffusivity[m];
                    let pe = if d > 0.0 { speed * h / d } else { f64::INFINITY };
                    if pe > f.max_cell_peclet || f.peclet_species.is_empty() {
                        f.max_cell_peclet = pe;
                        f.peclet_species = s.name.clone();
                        f.peclet_material = self.materials[m].name.clone();
                    }
                }
            }
        }
        Some(f)
    }
}

/// Cell Péclet number above which the upwind scheme's numerical diffusion `|v|·h/2` exceeds the
/// physical diffusivity: results are then dominated by the grid, and `validate` warns (refine
/// the grid).
pub const PECLET_WARNING: f64 = 2.0;

/// What interstitial flow means for the numerics on a grid ([`Problem::flow_figures`]).
///
/// Advection is first-order upwind in every scheme (non-negative and conservative). Its
/// numerical diffusion along an axis is `|v|·h/2`, i.e. `Pe/2` of the physical D with the cell
/// Péclet number `Pe = |v|·h/D`. The explicit scheme's step limit includes the flow
/// ([`Problem::explicit_step_limit`]). The ADI stages solve the flow implicitly: in 1D and 2D
/// the Douglas step is unconditionally stable for any step (each axis operator has its
/// eigenvalues in the left half-plane), the implicit-Euler start-up stages keep values
/// non-negative for any step (each line matrix is an M-matrix), and the adaptive step bounds the
/// time error; a fixed ADI step longer than [`FlowFigures::courant_step`] (Courant number
/// `|v|·dt/h > 1`) moves a front by more than a cell per step and smears it, which `validate`
/// reports.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowFigures {
    /// Largest velocity component over materials with cells, m/s.
    pub max_speed: f64,
    /// Largest cell Péclet number `|v_a|·h_a/D` over axes, materials and species (∞ where a
    /// species does not diffuse in a material with flow), and where it occurs.
    pub max_cell_peclet: f64,
    pub peclet_species: String,
    pub peclet_material: String,
    /// Smallest `h_a/|v_a|`, s: the step at which the flow crosses one cell (Courant number 1).
    pub courant_step: f64,
}
