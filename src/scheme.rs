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
    /// non-negative: for every cell, `dt · (Σ_faces coefficient + k) ≤ 1`.
    ///
    /// This is the exact positivity (M-matrix) bound of the discrete operator, not the generic
    /// `h²/(2·d·D_max)` estimate, so it accounts for harmonic face means, boundary conductances
    /// and decay. Returns `f64::INFINITY` when nothing moves or decays.
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
                                sum += if at_edge {
                                    boundary_conductance(&species.boundaries[2 * axis + side], d, h) / h
                                } else {
                                    let mut p = pos;
                                    if side == 0 {
                                        p[axis] -= 1
                                    } else {
                                        p[axis] += 1
                                    }
                                    let other =
                                        species.diffusivity[self.material_id[g.index(p[0], p[1], p[2])] as usize];
                                    harmonic_mean(d, other) / (h * h)
                                };
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
