//! The plain-data problem that every engine consumes.
//!
//! A scenario file is parsed, checked and converted to SI once (see [`crate::scenario`]) and
//! compiled into one [`Problem`]. Nothing here knows about files, text units or serde.
//!
//! The model, for each species `s` on a box of cell-centred finite volumes:
//!
//! ```text
//!   ∂c_s/∂t = ∇·(D_s(x) ∇c_s) − (k_decay + k_clear + k_uptake)_s(x) c_s + R_s(c, b; x)
//!   ∂b_s/∂t = R_b,s(c, b; x)                       (bound form: a field that does not diffuse)
//! ```
//!
//! `D_s` and the first-order rates are constant within a material; the face diffusivity between
//! two cells is the harmonic mean of the two cell values, so the flux is continuous across a
//! material interface. The local terms `R` are the [`Reaction`]s of the cell's material:
//! reversible binding to a named pool of immobile sites (several species may compete for one
//! pool), Michaelis–Menten uptake, and first-order conversion of one species (free or bound)
//! into another. Every species that binds somewhere has a bound field ([`Problem::bound_species`]).
//! How it is advanced in time is in [`crate::scheme`] and [`crate::solver`].
//!
//! Concentrations inside the engines are held as multiples of the species' own concentration unit
//! (its `unit`, e.g. pg/mL): the equation is linear, so this scaling changes nothing but keeps f32
//! values far from the subnormal range. Lengths, times, diffusivities and rates are SI.

pub use crate::scheme::{ADI_STEP_COST, DEFAULT_TOLERANCE, Scheme, TimeStep, boundary_conductance, harmonic_mean};

/// Names of the six faces of the box, in the order used by every table indexed by face.
pub const FACE_NAMES: [&str; 6] = ["xmin", "xmax", "ymin", "ymax", "zmin", "zmax"];

/// A uniform Cartesian grid of `cells[0] × cells[1] × cells[2]` cells (x fastest in memory).
///
/// 1D and 2D problems are 3D problems with one or two axes of a single cell; the thickness of
/// such an axis still gives cells their real volume, so amounts are real amounts.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// Number of cells along x, y, z.
    pub cells: [usize; 3],
    /// Cell size along x, y, z, in metres.
    pub spacing: [f64; 3],
}

impl Grid {
    /// Total number of cells.
    pub fn n_cells(&self) -> usize {
        self.cells[0] * self.cells[1] * self.cells[2]
    }

    /// Volume of one cell, in m³.
    pub fn cell_volume(&self) -> f64 {
        self.spacing[0] * self.spacing[1] * self.spacing[2]
    }

    /// Area of one cell face normal to `axis` (0 = x, 1 = y, 2 = z), in m².
    pub fn face_area(&self, axis: usize) -> f64 {
        self.cell_volume() / self.spacing[axis]
    }

    /// Extent of the domain along each axis, in metres.
    pub fn extent(&self) -> [f64; 3] {
        [0, 1, 2].map(|a| self.cells[a] as f64 * self.spacing[a])
    }

    /// Number of axes with more than one cell (1, 2 or 3; 0 for a single cell).
    pub fn dimension(&self) -> usize {
        self.cells.iter().filter(|&&n| n > 1).count()
    }

    /// Linear index of cell (i, j, k), x fastest.
    pub fn index(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.cells[0] * (j + self.cells[1] * k)
    }

    /// Centre of cell (i, j, k), in metres from the domain's minimum corner.
    pub fn centre(&self, i: usize, j: usize, k: usize) -> [f64; 3] {
        [(i as f64 + 0.5) * self.spacing[0], (j as f64 + 0.5) * self.spacing[1], (k as f64 + 0.5) * self.spacing[2]]
    }
}

/// What a material is for in the bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A depot (gel) material: its losses make up the release curve.
    Depot,
    /// Any other material (wound bed, dermis, …).
    Tissue,
}

/// A named region type painted onto the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Material {
    pub name: String,
    pub role: Role,
}

/// Boundary condition on one face for one species.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Boundary {
    /// Zero flux through the face.
    NoFlux,
    /// Fixed concentration at the face (Dirichlet), in the species' unit.
    Fixed { value: f64 },
    /// Clearance (Robin): outward flux density = `rate · (c_face − value)`; `rate` in m/s,
    /// `value` (the external concentration) in the species' unit, usually 0.
    Clearance { rate: f64, value: f64 },
}

impl Boundary {
    /// Short name used in reports.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Boundary::NoFlux => "no_flux",
            Boundary::Fixed { .. } => "fixed",
            Boundary::Clearance { .. } => "clearance",
        }
    }
}

/// How a species' concentration unit relates to amounts.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcentrationUnit {
    /// The unit as the scenario wrote it, e.g. `pg/mL`, `nM`, `particles/mL`.
    pub text: String,
    /// Name of the matching amount unit, e.g. `pg`, `nmol`, `particles`.
    pub amount_text: String,
    /// SI value of one unit of concentration (kg/m³, mol/m³ or 1/m³).
    pub si: f64,
    /// Volume, in m³, of the unit's denominator (1e-6 for mL, 1e-3 for L), so that
    /// amount [amount unit] = concentration [unit] × volume [m³] / `volume_si`.
    pub volume_si: f64,
}

/// One diffusing factor.
#[derive(Clone, Debug, PartialEq)]
pub struct Species {
    pub name: String,
    /// Unit of every concentration of this species inside the engines and in the outputs.
    pub unit: ConcentrationUnit,
    /// Diffusivity per material, m²/s (indexed by material id).
    pub diffusivity: Vec<f64>,
    /// First-order decay rate (proteolysis) per material, 1/s.
    pub decay_rate: Vec<f64>,
    /// First-order clearance rate (by vessels) per material, 1/s; booked apart from decay.
    pub clearance_rate: Vec<f64>,
    /// First-order uptake rate by cells per material, 1/s: the linear limit `V_max/K_m` of
    /// receptor-mediated uptake, booked as taken up. (Saturable uptake is a [`Reaction::Uptake`].)
    pub uptake_rate: Vec<f64>,
    /// Initial concentration per material, in `unit`: the free concentration, or the total
    /// (free + bound) when `initial_is_total`. The bound part starts at equilibrium
    /// ([`Problem::initial_fields`]).
    pub initial: Vec<f64>,
    pub initial_is_total: bool,
    /// Molar concentration (mol/m³) of one `unit`, where the unit has a molar meaning (a molar
    /// unit, a mass unit with a molecular weight, or particles); binding needs it.
    pub molar_per_unit: Option<f64>,
    /// Boundary condition per face, in [`FACE_NAMES`] order.
    pub boundaries: [Boundary; 6],
    /// Where the values the scenario did not write came from (the factor library, a preset, a
    /// mesh model), one entry per value; empty when the scenario wrote them all.
    pub sources: Vec<ValueSource>,
    /// Concentration above which the factor is taken to act, in `unit` (the scenario's
    /// `bioactive_threshold`, or the lowest bioactive concentration of its library factor, with
    /// a [`ValueSource`] keyed `bioactive_threshold`): the exposure metrics' coverage and time
    /// in window, the report's contour. `None` when neither gives one.
    pub bioactive_threshold: Option<f64>,
    /// Concentration above which the factor is taken to do harm or to saturate, in `unit` (the
    /// scenario's `bioactive_ceiling`): the top of the exposure window. `None` when not given.
    pub bioactive_ceiling: Option<f64>,
}

/// The provenance of one value of a species that the scenario took from the factor library or a
/// CM composition rather than writing it itself.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueSource {
    /// The scenario key the value fills, relative to the species: `molecular_weight`,
    /// `diffusivity.dermis`, `decay.gel`, `initial.gel`.
    pub key: String,
    /// The value as used, with its unit, and how it was derived where it was.
    pub value: String,
    /// Where the number comes from: the library's source text, the study, the model.
    pub source: String,
    pub mark: crate::library::Mark,
}

impl Species {
    /// Total first-order loss rate per material (decay + clearance + linear uptake), 1/s: what
    /// the engines solve inside the implicit stages.
    pub fn linear_loss(&self) -> Vec<f64> {
        (0..self.decay_rate.len()).map(|m| self.decay_rate[m] + self.clearance_rate[m] + self.uptake_rate[m]).collect()
    }
}

/// A named pool of immobile binding sites (heparin in a gel, heparan sulfate in the dermis).
#[derive(Clone, Debug, PartialEq)]
pub struct SitePool {
    pub name: String,
    /// Total site density per material, mol/m³ (0 where the pool is absent).
    pub density: Vec<f64>,
}

/// The form of a species a conversion acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Free,
    Bound,
}

/// A local (per-cell) reaction term in one material. Each is solved exactly over a substep by
/// the engines (`solver::react`); see docs/numerics.md.
#[derive(Clone, Debug, PartialEq)]
pub enum Reaction {
    /// `c + site ⇌ b` with `∂b/∂t = k_on·c·(B_T − Σ bound in the pool) − k_off·b`, in molar
    /// terms; `k_on` in m³/(mol·s), `k_off` in 1/s. At most one per species and material.
    Binding { material: usize, species: usize, pool: usize, k_on: f64, k_off: f64 },
    /// Michaelis–Menten uptake by cells, `∂c/∂t = −V_max·c/(K_m + c)`; `vmax` in species unit/s,
    /// `km` in species unit.
    Uptake { material: usize, species: usize, vmax: f64, km: f64 },
    /// First order conversion of `from` (free or bound form of a species) into the free form of
    /// species `to` at `rate` 1/s. Molecules are conserved: one unit of `from` becomes `yield_`
    /// units of `to` (the ratio of their molar values; 1 for the same unit and molecule size).
    Conversion { material: usize, from: usize, form: Form, to: usize, rate: f64, yield_: f64 },
}

impl Reaction {
    pub fn material(&self) -> usize {
        match *self {
            Reaction::Binding { material, .. }
            | Reaction::Uptake { material, .. }
            | Reaction::Conversion { material, .. } => material,
        }
    }

    /// Whether the term moves amounts into a book (uptake, conversion); binding only moves
    /// amounts between a species' free and bound fields.
    pub fn is_booked(&self) -> bool {
        !matches!(self, Reaction::Binding { .. })
    }
}

/// When the run ends and what it writes on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Simulated time at the end, seconds.
    pub end: f64,
    /// Times at which totals are recorded, seconds, strictly increasing, the last equal to `end`.
    pub output_times: Vec<f64>,
    /// Times at which whole fields are written, seconds (a subset of `output_times`).
    pub snapshot_times: Vec<f64>,
    pub scheme: Scheme,
    pub time_step: TimeStep,
}

/// Everything an engine needs to run, in SI (concentrations in each species' unit).
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub name: String,
    pub grid: Grid,
    pub materials: Vec<Material>,
    /// Material id of every cell (index into `materials`), x fastest.
    pub material_id: Vec<u32>,
    pub species: Vec<Species>,
    pub schedule: Schedule,
    /// Named regions of the grid: the scenario's `[[region]]` shapes, each with the cells whose
    /// centre it contains (whatever material later regions paint over them). Metrics and doses
    /// refer to regions by name; every material is also a region of its own
    /// ([`Problem::region_cells`]).
    pub regions: Vec<Region>,
    /// Pools of binding sites ([`Reaction::Binding`] refers to them by index).
    pub pools: Vec<SitePool>,
    /// The local reaction terms of every material.
    pub reactions: Vec<Reaction>,
    /// What happens at given times: doses and degrading gels.
    pub timeline: Timeline,
    /// What the release metrics are taken over (the burst window, the fits' window).
    pub metrics: crate::metrics::MetricSettings,
    /// Interstitial flow: the velocity of each material, m/s along x, y, z (indexed by material
    /// id), which carries every free species (`∂c/∂t ⊃ −∇·(v c)`); empty for no flow. See
    /// [`crate::scheme::face_velocity`] for the face rule.
    pub velocity: Vec<[f64; 3]>,
}

/// Events of a run in time: doses applied at given times and gels whose diffusivity and binding
/// sites change as they degrade. Empty for a depot loaded once into a gel that does not change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// Every application after t = 0 (the initial loading is the one at t = 0), by time.
    pub doses: Vec<Dose>,
    /// Materials that degrade.
    pub degradation: Vec<Degradation>,
}

/// What a dose does to the cells of its region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DoseMode {
    /// A new gel: what the cells hold (free and bound) is removed with the old dressing and the
    /// fresh loading put in its place, its bound part at equilibrium as at t = 0.
    Replace,
    /// A top-up or an injection: the loading is added to the free form of what is there.
    Add,
}

/// One application of a dose.
#[derive(Clone, Debug, PartialEq)]
pub struct Dose {
    /// When, s (> 0 and before the end of the run).
    pub time: f64,
    pub mode: DoseMode,
    /// Name of the region (or material) the dose goes into.
    pub region: String,
    /// The region's cells, ascending.
    pub cells: Vec<u32>,
    /// Loading per species and material, in the species' unit: free, or free + bound for a
    /// species whose initial loading is a total (`Species::initial_is_total`).
    pub load: Vec<Vec<f64>>,
}

/// How a degrading gel's diffusivity changes with time.
#[derive(Clone, Debug, PartialEq)]
pub enum DiffusivityChange {
    /// Unchanged.
    None,
    /// `D(t) = D(0)·min(exp(rate·t), max_factor)`; `rate` in 1/s.
    Exponential { rate: f64, max_factor: f64 },
    /// `D(t) = D(0)·f(t)`, `f` linear between the (time s, factor) points, held after the last
    /// one; two points at one time make a step.
    Table(Vec<(f64, f64)>),
    /// The gel's mesh model loosening at `rate` (1/s): the mesh size grows as `ξ(t) = ξ₀·exp(rate·t)`
    /// (Amsden) or the polymer fraction falls as `φ(t) = φ₀·exp(−rate·t)` (Ogston), and each
    /// species' D follows the model's hindrance for its solute radius: `D(t) = D(0)·H(t)/H(0)`.
    Mesh { rate: f64, law: MeshLaw, radius: Vec<f64> },
}

/// A gel mesh model (lengths in m), as `crate::library` gives the hindrance `D_gel/D_water`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MeshLaw {
    /// Amsden 1998: `exp(−π((r_s + r_f)/(ξ + 2r_f))²)`, mesh size `xi0` at t = 0.
    Amsden { xi0: f64, r_f: f64 },
    /// Ogston: `exp(−√φ·(r_s + r_f)/r_f)`, polymer volume fraction `phi0` at t = 0.
    Ogston { phi0: f64, r_f: f64 },
}

impl MeshLaw {
    /// The hindrance `D_gel/D_water` of a solute of radius `r_s` (m) after the mesh has loosened
    /// by `exp(loosening)` (0 at t = 0).
    pub fn hindrance(&self, r_s: f64, loosening: f64) -> f64 {
        match *self {
            MeshLaw::Amsden { xi0, r_f } => crate::library::amsden_hindrance(xi0 * loosening.exp(), r_s, r_f),
            MeshLaw::Ogston { phi0, r_f } => crate::library::ogston_hindrance(phi0 * (-loosening).exp(), r_s, r_f),
        }
    }
}

/// A material whose gel degrades: its diffusivity rises and its binding sites fall.
#[derive(Clone, Debug, PartialEq)]
pub struct Degradation {
    pub material: usize,
    pub diffusivity: DiffusivityChange,
    /// Every site pool's density in this material falls as `exp(−rate·t)`, 1/s; what was bound
    /// to the lost sites goes free.
    pub site_loss_rate: f64,
    /// The coefficients are updated every `interval` s (and at each table point).
    pub interval: f64,
}

impl Degradation {
    /// Factor on the diffusivity of species `s` in the material at time `t` (s).
    pub fn diffusivity_factor(&self, t: f64, s: usize) -> f64 {
        match &self.diffusivity {
            DiffusivityChange::None => 1.0,
            DiffusivityChange::Exponential { rate, max_factor } => (rate * t).exp().min(*max_factor),
            DiffusivityChange::Table(points) => table_factor(points, t),
            DiffusivityChange::Mesh { rate, law, radius } => {
                law.hindrance(radius[s], rate * t) / law.hindrance(radius[s], 0.0)
            }
        }
    }

    /// Factor on the material's site densities at time `t` (s).
    pub fn site_factor(&self, t: f64) -> f64 {
        (-self.site_loss_rate * t).exp()
    }

    /// Times in `[0, end)` at which the coefficients change: every interval, and the table's
    /// points.
    pub fn update_times(&self, end: f64) -> Vec<f64> {
        let mut times: Vec<f64> = (0..).map(|k| k as f64 * self.interval).take_while(|&t| t < end).collect();
        if let DiffusivityChange::Table(points) = &self.diffusivity {
            times.extend(points.iter().map(|p| p.0).filter(|&t| t > 0.0 && t < end));
        }
        times.sort_by(f64::total_cmp);
        times.dedup();
        times
    }
}

/// The value at `t` of a table of (time, factor) points: linear between points, held before the
/// first and after the last; at a time given twice, the later point's value.
fn table_factor(points: &[(f64, f64)], t: f64) -> f64 {
    let Some(first) = points.first() else { return 1.0 };
    if t < first.0 {
        return first.1;
    }
    let after = points.iter().position(|p| p.0 > t);
    match after {
        None => points[points.len() - 1].1,
        Some(i) => {
            let (t0, f0) = points[i - 1];
            let (t1, f1) = points[i];
            f0 + (f1 - f0) * (t - t0) / (t1 - t0)
        }
    }
}

impl Timeline {
    /// Every time in `(0, end)` at which something happens (doses) or the coefficients change
    /// (degradation; t = 0 included), ascending, without repeats.
    pub fn event_times(&self, end: f64) -> Vec<f64> {
        let mut times: Vec<f64> = self.doses.iter().map(|d| d.time).collect();
        for d in &self.degradation {
            times.extend(d.update_times(end));
        }
        times.sort_by(f64::total_cmp);
        times.dedup();
        times
    }
}

/// A named set of cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub name: String,
    /// Cell indices (x fastest), ascending.
    pub cells: Vec<u32>,
}

impl Problem {
    /// This problem's coefficients over a stretch of time around `t` (s): the diffusivities of
    /// degrading materials at `t`, and their site densities at `sites_at`. The same problem
    /// without degradation.
    pub fn coefficients_at(&self, t: f64, sites_at: f64) -> Problem {
        let mut problem = self.clone();
        for d in &self.timeline.degradation {
            let m = d.material;
            for (s, species) in problem.species.iter_mut().enumerate() {
                species.diffusivity[m] = self.species[s].diffusivity[m] * d.diffusivity_factor(t, s);
            }
            for pool in &mut problem.pools {
                pool.density[m] *= d.site_factor(sites_at);
            }
        }
        problem
    }

    /// The cells of the region or material called `name` (regions first), ascending; `None` if
    /// neither exists.
    pub fn region_cells(&self, name: &str) -> Option<Vec<u32>> {
        if let Some(r) = self.regions.iter().find(|r| r.name == name) {
            return Some(r.cells.clone());
        }
        let m = self.materials.iter().position(|m| m.name == name)? as u32;
        Some((0..self.material_id.len() as u32).filter(|&i| self.material_id[i as usize] == m).collect())
    }

    /// Concentration scale of each species (its unit): the largest initial, dose or boundary
    /// concentration, or 1 if all are zero. Error tolerances are relative to it.
    pub fn concentration_scales(&self) -> Vec<f64> {
        self.species
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let doses = self.timeline.doses.iter().flat_map(|d| d.load[i].iter().map(|v| v.abs()));
                let boundary = s.boundaries.iter().map(|b| match *b {
                    Boundary::NoFlux => 0.0,
                    Boundary::Fixed { value } | Boundary::Clearance { value, .. } => value.abs(),
                });
                let scale = s.initial.iter().map(|v| v.abs()).chain(boundary).chain(doses).fold(0.0, f64::max);
                if scale > 0.0 { scale } else { 1.0 }
            })
            .collect()
    }

    /// Number of cells of each material.
    pub fn material_cell_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.materials.len()];
        for &m in &self.material_id {
            counts[m as usize] += 1;
        }
        counts
    }

    /// The species that bind somewhere, in species order: bound field `i` is that of species
    /// `bound_species()[i]`.
    pub fn bound_species(&self) -> Vec<usize> {
        (0..self.species.len())
            .filter(|&s| self.reactions.iter().any(|r| matches!(r, Reaction::Binding { species, .. } if *species == s)))
            .collect()
    }

    /// Number of book slots per cell of the local reactions: the most booked terms
    /// ([`Reaction::is_booked`]) any one material has.
    pub fn book_slots(&self) -> usize {
        (0..self.materials.len())
            .map(|m| self.reactions.iter().filter(|r| r.material() == m && r.is_booked()).count())
            .max()
            .unwrap_or(0)
    }

    /// Free and bound concentration of every species in every material at t = 0, in each
    /// species' unit: `(free[species][material], bound[species][material])`. Where a species
    /// binds, the bound part is at equilibrium with the free part, all binding species of a pool
    /// competing for its sites: from the free concentration, `b_i = B_T·(c_i/K_i)/(1 + Σ_j
    /// c_j/K_j)`; from a total, by solving each species' pair in turn (Gauss–Seidel) until no
    /// value moves by more than 1e-13 of its total.
    pub fn initial_state(&self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        self.loaded_state(&self.species.iter().map(|s| s.initial.clone()).collect::<Vec<_>>())
    }

    /// [`Problem::initial_state`] of another loading, `load[species][material]` in each
    /// species' unit (free, or total where the species' initial loading is a total), with the
    /// site densities of this problem: how a fresh gel starts.
    pub fn loaded_state(&self, load: &[Vec<f64>]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let ns = self.species.len();
        let nm = self.materials.len();
        let mut free: Vec<Vec<f64>> = load.to_vec();
        let mut bound = vec![vec![0.0; nm]; ns];
        for m in 0..nm {
            let terms: Vec<(usize, usize, f64)> = self
                .reactions
                .iter()
                .filter_map(|r| match *r {
                    Reaction::Binding { material, species, pool, k_on, k_off } if material == m => {
                        Some((species, pool, k_off / k_on))
                    }
                    _ => None,
                })
                .collect();
            for pool in 0..self.pools.len() {
                let members: Vec<(usize, f64)> =
                    terms.iter().filter(|t| t.1 == pool).map(|&(s, _, kd)| (s, kd)).collect();
                let sites = self.pools[pool].density[m];
                if members.is_empty() || sites <= 0.0 {
                    continue;
                }
                let molar = |s: usize| self.species[s].molar_per_unit.unwrap_or(1.0);
                // Species given as free concentrations: closed form (their free values are fixed).
                let occupancy: f64 = members
                    .iter()
                    .filter(|&&(s, _)| !self.species[s].initial_is_total)
                    .map(|&(s, kd)| free[s][m] * molar(s) / kd)
                    .sum();
                let total_given = members.iter().any(|&(s, _)| self.species[s].initial_is_total);
                if !total_given {
                    for &(s, kd) in &members {
                        bound[s][m] = sites * (free[s][m] * molar(s) / kd) / (1.0 + occupancy) / molar(s);
                    }
                    continue;
                }
                // Gauss–Seidel over the members, each pair solved exactly with the others fixed.
                let totals: Vec<f64> = members.iter().map(|&(s, _)| free[s][m]).collect();
                for _ in 0..10_000 {
                    let mut moved = 0.0f64;
                    for (i, &(s, kd)) in members.iter().enumerate() {
                        let f = molar(s);
                        let others: f64 =
                            members.iter().filter(|&&(o, _)| o != s).map(|&(o, _)| bound[o][m] * molar(o)).sum();
                        let available = (sites - others).max(0.0);
                        let new = if self.species[s].initial_is_total {
                            let t = totals[i] * f;
                            equilibrium_bound(t, available, kd) / f
                        } else {
                            available * (free[s][m] * f / kd) / (1.0 + free[s][m] * f / kd) / f
                        };
                        let scale = totals[i].abs().max(f64::MIN_POSITIVE);
                        moved = moved.max((new - bound[s][m]).abs() / scale);
                        bound[s][m] = new;
                    }
                    if moved <= 1e-13 {
                        break;
                    }
                }
                for (i, &(s, _)) in members.iter().enumerate() {
                    if self.species[s].initial_is_total {
                        free[s][m] = (totals[i] - bound[s][m]).max(0.0);
                    }
                }
            }
        }
        (free, bound)
    }

    /// The initial field of every species, `[species][z][y][x]`, then every bound field
    /// ([`Problem::bound_species`] order), in each species' unit.
    pub fn initial_field(&self) -> Vec<f32> {
        let (free, bound) = self.initial_state();
        let bound_species = self.bound_species();
        let rows = free.iter().chain(bound_species.iter().map(|&s| &bound[s]));
        let mut field = Vec::with_capacity((self.species.len() + bound_species.len()) * self.material_id.len());
        for values in rows {
            field.extend(self.material_id.iter().map(|&m| values[m as usize] as f32));
        }
        field
    }
}

/// Bound concentration at equilibrium of a total `t` with `sites` free sites (both mol/m³) and
/// dissociation constant `kd`: the smaller root of `x² − (t + sites + kd)·x + t·sites = 0`,
/// written without cancellation.
pub fn equilibrium_bound(t: f64, sites: f64, kd: f64) -> f64 {
    if t <= 0.0 || sites <= 0.0 {
        return 0.0;
    }
    let disc = ((t - sites + kd).powi(2) + 4.0 * kd * sites).sqrt();
    2.0 * t * sites / (t + sites + kd + disc)
}

impl Problem {
    /// A closed cube of `n³` cells of `spacing` metres with a gel sphere (a quarter of the edge in
    /// radius) loaded with 100 units of each of `n_species` species, in tissue. Species `s` has
    /// D = 100 µm²/s / (1 + s) in tissue and a tenth of that in the gel, decay 1e-3 1/s, no-flux
    /// faces. Used by the benchmarks.
    pub fn loaded_sphere_cube(n: usize, n_species: usize, spacing: f64) -> Problem {
        let grid = Grid { cells: [n; 3], spacing: [spacing; 3] };
        let centre = 0.5 * n as f64 * spacing;
        let radius = 0.25 * n as f64 * spacing;
        let mut material_id = Vec::with_capacity(grid.n_cells());
        for k in 0..n {
            for j in 0..n {
                for i in 0..n {
                    let p = grid.centre(i, j, k);
                    let r2: f64 = p.iter().map(|x| (x - centre).powi(2)).sum();
                    material_id.push(u32::from(r2 > radius * radius));
                }
            }
        }
        let species = (0..n_species)
            .map(|s| {
                let d = 1e-10 / (1 + s) as f64;
                Species {
                    name: format!("factor{s}"),
                    unit: ConcentrationUnit {
                        text: "pg/mL".into(),
                        amount_text: "pg".into(),
                        si: 1e-9,
                        volume_si: 1e-6,
                    },
                    diffusivity: vec![0.1 * d, d],
                    decay_rate: vec![1e-3, 1e-3],
                    clearance_rate: vec![0.0, 0.0],
                    uptake_rate: vec![0.0, 0.0],
                    initial: vec![100.0, 0.0],
                    initial_is_total: false,
                    molar_per_unit: None,
                    boundaries: [Boundary::NoFlux; 6],
                    sources: Vec::new(),
                    bioactive_threshold: None,
                    bioactive_ceiling: None,
                }
            })
            .collect();
        Problem {
            name: format!("loaded_sphere_cube_{n}"),
            grid,
            materials: vec![
                Material { name: "gel".into(), role: Role::Depot },
                Material { name: "tissue".into(), role: Role::Tissue },
            ],
            material_id,
            species,
            regions: Vec::new(),
            pools: Vec::new(),
            reactions: Vec::new(),
            timeline: Timeline::default(),
            metrics: Default::default(),
            velocity: Vec::new(),
            schedule: Schedule {
                end: 1.0,
                output_times: vec![1.0],
                snapshot_times: vec![1.0],
                scheme: Scheme::ExplicitFtcs,
                time_step: TimeStep::Auto { safety: 0.9 },
            },
        }
    }
}

impl Problem {
    /// [`Problem::loaded_sphere_cube`] with one diffusivity `d` (m²/s) and one decay rate `k`
    /// (1/s) for every species in both materials. With `n` = 128, 10 species, 10 µm cells,
    /// `d` = 1e-10 and `k` = 1e-3 it is the problem of BioFVM's published performance figures.
    /// Used by the benchmarks.
    pub fn uniform_sphere_cube(n: usize, n_species: usize, spacing: f64, d: f64, k: f64) -> Problem {
        let mut problem = Problem::loaded_sphere_cube(n, n_species, spacing);
        problem.name = format!("uniform_sphere_cube_{n}");
        for species in &mut problem.species {
            species.diffusivity = vec![d, d];
            species.decay_rate = vec![k, k];
        }
        problem
    }
}
