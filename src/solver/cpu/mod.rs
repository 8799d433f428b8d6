//! The CPU reference engine: the twins of the WGSL kernels, run in plain loops.
//!
//! It is the reference the GPU engine is tested against and the fallback on machines without a
//! GPU. It uses the same f32 arithmetic, in the same order, as the shaders (`exp` aside, whose
//! last bit may differ on a GPU).
//!
//! One step of each scheme, as the GPU engine dispatches it:
//!
//! - explicit: `diffuse_explicit` (c → c_next), swap;
//! - ADI, per [`Stage`] of the step ([`Stage::of_step`]: one Douglas stage, or
//!   [`crate::solver::START_UP_SUBSTEPS`] implicit-Euler LOD stages while the start-up lasts):
//!   `adi_predictor` (c → c_next, and the rate when recording), `adi_sweep` along each axis of
//!   [`adi_sweep_axes`] (c, c_next, scratch, books), swap;
//! - with local reactions, `react` (c and the local rows in place) around them, as
//!   [`step_passes`] says.
//!
//! For the error estimate the engine keeps two rates, `rate[newest]` and `rate[1 − newest]`; a
//! recording predictor writes the older one and `newest` flips. `save`/`restore` keep `newest`
//! only: after a restore, the rate written by the rejected step is the one the retry overwrites.

pub mod adi_predictor;
pub mod adi_sweep;
pub mod diffuse_explicit;
pub mod local_error;
pub mod react;
pub mod reduce_rows;
pub mod reduce_totals;

use super::{
    CpuStateParts, Difference, Engine, EngineInfo, EngineState, Pass, RECORD_STORE, SAVE_SLOTS, START_UP_STEPS,
    SolverError, SpeciesTotals, Tables, adi_sweep_axes, check_coefficient_update, finish_difference, finish_totals,
    merge_pending, slot_error, step_passes,
};
use crate::problem::{Problem, Scheme};

/// Runs the kernel twins one invocation at a time.
pub struct CpuReference {
    problem: Problem,
    tables: Tables,
    c: Vec<f32>,
    c_next: Vec<f32>,
    /// The local rows, `[row][cell]`: every bound field, then every book slot of the local
    /// reactions; and the book slots' compensation.
    local: Vec<f32>,
    local_comp: Vec<f32>,
    /// Capacity of every cell for every species (1 but where a species binds fast; see
    /// [`react`]), `[species][cell]`.
    cap: Vec<f32>,
    /// Totals reduced before a coefficient change, added to the next reduce.
    pending: Option<Vec<SpeciesTotals>>,
    /// Decay accumulator and its compensation, laid out like the field.
    dec: Vec<f32>,
    dec_comp: Vec<f32>,
    /// Boundary-face outflow accumulator and its compensation, `face_entries` per species.
    out: Vec<f32>,
    out_comp: Vec<f32>,
    /// Thomas coefficients of the ADI sweeps (empty for the explicit scheme).
    scratch: Vec<f32>,
    /// Axes the ADI scheme sweeps.
    sweep_axes: Vec<u32>,
    /// Steps still to be taken as start-up (ADI only).
    start_up_left: u32,
    /// The two recorded rates `A u` (ADI with rate tracking; else empty), and which is newest.
    rate: [Vec<f32>; 2],
    newest: usize,
    track_rates: bool,
    /// States saved for step-size control.
    saved: [Option<Saved>; SAVE_SLOTS],
}

/// Calls `invocation` with every `global_invocation_id` of a per-cell dispatch
/// (`(nx, ny, nz · n_species)`, one invocation per cell and species), in order.
fn for_each_cell_invocation(params: &super::Params, mut invocation: impl FnMut([u32; 3])) {
    let [nx, ny, nz, _] = params.cells;
    for gz in 0..nz * params.counts[0] {
        for y in 0..ny {
            for x in 0..nx {
                invocation([x, y, gz]);
            }
        }
    }
}

/// Everything [`Engine::save`] keeps.
#[derive(Clone)]
struct Saved {
    c: Vec<f32>,
    local: Vec<f32>,
    local_comp: Vec<f32>,
    dec: Vec<f32>,
    dec_comp: Vec<f32>,
    out: Vec<f32>,
    out_comp: Vec<f32>,
    start_up_left: u32,
    newest: usize,
}

/// The initial free fields, the local rows (bound fields at equilibrium, then empty book slots,
/// then one anchor row per bound field: see [`react`]) and the book slots' compensation, as
/// every engine starts.
pub fn initial_rows(problem: &Problem, tables: &Tables) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut c = problem.initial_field();
    let n_cells = problem.grid.n_cells();
    let free = problem.species.len() * n_cells;
    let [bound, slots, _, _] = tables.params.local;
    let mut local = c.split_off(free);
    local.resize(local.len() + (slots + bound) as usize * n_cells, 0.0);
    (c, local, vec![0.0; slots as usize * n_cells])
}

impl CpuReference {
    pub fn new(problem: &Problem) -> Self {
        let tables = Tables::new(problem);
        let (c, local, local_comp) = initial_rows(problem, &tables);
        let n = c.len();
        let n_out = (tables.params.face_entries[0] * tables.params.counts[0]) as usize;
        let adi = problem.schedule.scheme == Scheme::AdiDouglas;
        CpuReference {
            problem: problem.clone(),
            tables,
            c_next: vec![0.0; n],
            c,
            local,
            local_comp,
            cap: vec![1.0; n],
            pending: None,
            dec: vec![0.0; n],
            dec_comp: vec![0.0; n],
            out: vec![0.0; n_out],
            out_comp: vec![0.0; n_out],
            scratch: if adi { vec![0.0; n] } else { Vec::new() },
            sweep_axes: adi_sweep_axes(problem),
            start_up_left: START_UP_STEPS,
            rate: [Vec::new(), Vec::new()],
            newest: 0,
            track_rates: false,
            saved: [None],
        }
    }

    fn explicit_step(&mut self) {
        let t = &self.tables;
        for_each_cell_invocation(&t.params, |gid| {
            diffuse_explicit::diffuse_explicit(
                &t.params,
                &t.material,
                &t.coef,
                &t.faces,
                &self.c,
                &mut self.c_next,
                &mut self.dec,
                &mut self.dec_comp,
                &mut self.out,
                &mut self.out_comp,
                gid,
            )
        });
        std::mem::swap(&mut self.c, &mut self.c_next);
    }

    /// One ADI stage with the parameters already set.
    fn adi_stage(&mut self) {
        let n_cells = self.tables.params.cells[3];
        let ns = self.tables.params.counts[0];
        let recording = self.tables.params.time[3] != 0.0;
        if self.tables.params.time[3] == RECORD_STORE {
            self.newest = 1 - self.newest;
        }
        let t = &self.tables;
        let rate = &mut self.rate[self.newest];
        let mut unused = Vec::new();
        let rate = if recording { rate } else { &mut unused };
        for_each_cell_invocation(&t.params, |gid| {
            adi_predictor::adi_predictor(
                &t.params,
                &t.material,
                &t.coef,
                &t.faces,
                &self.c,
                &mut self.c_next,
                &self.cap,
                rate,
                gid,
            )
        });
        for &axis in &self.sweep_axes {
            let lines = n_cells / t.params.cells[axis as usize];
            for s in 0..ns {
                for line in 0..lines {
                    adi_sweep::adi_sweep(
                        &t.params,
                        &t.material,
                        &t.coef,
                        &t.faces,
                        &self.c,
                        &mut self.c_next,
                        &self.cap,
                        &mut self.scratch,
                        &mut self.out,
                        &mut self.out_comp,
                        &mut self.dec,
                        &mut self.dec_comp,
                        axis,
                        [line, s, 0],
                    );
                }
            }
        }
        std::mem::swap(&mut self.c, &mut self.c_next);
    }

    /// One react pass with the parameters already set.
    fn react_pass(&mut self) {
        if self.tables.params.time[3] == RECORD_STORE {
            self.newest = 1 - self.newest;
        }
        let t = &self.tables;
        let mut unused = Vec::new();
        let rate = if t.params.time[3] != 0.0 { &mut self.rate[self.newest] } else { &mut unused };
        let [nx, ny, nz, _] = t.params.cells;
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    react::react(
                        &t.params,
                        &t.material,
                        &t.terms,
                        &t.term_range,
                        &mut self.c,
                        &mut self.local,
                        &mut self.local_comp,
                        rate,
                        &mut self.cap,
                        [x, y, z],
                    );
                }
            }
        }
    }
}

impl CpuReference {
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

impl Engine for CpuReference {
    fn set_start_up_steps(&mut self, steps: u32) {
        self.start_up_left = steps;
    }

    fn set_coefficients(&mut self, problem: &Problem) -> Result<(), SolverError> {
        check_coefficient_update(&self.problem, problem)?;
        let mut earlier = self.reduce_totals()?;
        merge_pending(&mut self.pending, &mut earlier);
        self.pending = Some(earlier);
        self.tables = Tables::new(problem);
        self.sweep_axes = adi_sweep_axes(problem);
        self.problem = problem.clone();
        Ok(())
    }

    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "reference".into(),
            device: "CPU reference engine (kernel twins, single thread)".into(),
            precision: "f32 fields; compensated f32 accumulators of every book; f64 totals".into(),
        }
    }

    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError> {
        let mode = super::flush_subnormals();
        let reactions = !self.tables.terms.is_empty();
        let n_swept = self.sweep_axes.len();
        for _ in 0..steps {
            let start_up = self.start_up_left > 0;
            for pass in step_passes(self.problem.schedule.scheme, start_up, dt, reactions, self.track_rates) {
                match pass {
                    Pass::Explicit(dt) => {
                        self.tables.params.time = [dt as f32, 0.0, 1.0, 0.0];
                        self.explicit_step();
                    }
                    Pass::Adi(stage) => {
                        self.tables.params.time = stage.time(self.track_rates, reactions);
                        self.tables.params.stage = stage.coefficients(n_swept);
                        self.adi_stage();
                    }
                    Pass::React { tau, record, phase } => {
                        self.tables.params.time = Pass::react_time(tau, record && !self.rate[0].is_empty());
                        self.tables.params.local[3] = phase;
                        self.react_pass();
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
        let t = &self.tables;
        let groups = t.params.counts[2];
        let ns = t.params.counts[0];
        let mut partials = vec![0.0f32; (ns * groups * t.params.counts[3]) as usize];
        for s in 0..ns {
            for w in 0..groups {
                reduce_totals::reduce_totals(
                    &t.params,
                    &t.material,
                    &self.c,
                    &self.dec,
                    &self.out,
                    &mut partials,
                    [w, s],
                );
            }
        }
        let n_rows = t.params.local[0] + t.params.local[1];
        let mut rows = vec![0.0f32; (n_rows * groups * 2 * t.params.counts[1]) as usize];
        for r in 0..n_rows {
            for w in 0..groups {
                reduce_rows::reduce_rows(&t.params, &t.material, &self.local, &mut rows, [w, r]);
            }
        }
        for acc in [&mut self.dec, &mut self.dec_comp, &mut self.out, &mut self.out_comp] {
            acc.fill(0.0);
        }
        let bound = t.params.local[0] as usize * t.params.cells[3] as usize;
        self.local[bound..].fill(0.0);
        self.local_comp.fill(0.0);
        let mut totals = finish_totals(&self.problem, &partials, &rows);
        merge_pending(&mut self.pending, &mut totals);
        Ok(totals)
    }

    fn export_state(&mut self) -> Result<EngineState, SolverError> {
        Ok(self.state_parts().export())
    }

    fn import_state(&mut self, state: &EngineState) -> Result<(), SolverError> {
        let bound = self.tables.params.local[0] as usize * self.problem.grid.n_cells();
        state.check(self.c.len() + bound, self.c.len())?;
        self.track_rates(!state.rates.is_empty());
        self.state_parts().import(state)?;
        for acc in [&mut self.dec, &mut self.dec_comp, &mut self.out, &mut self.out_comp] {
            acc.fill(0.0);
        }
        self.local[bound..].fill(0.0);
        self.local_comp.fill(0.0);
        self.pending = None;
        Ok(())
    }

    fn track_rates(&mut self, on: bool) {
        self.track_rates = on;
        let n = if on && self.problem.schedule.scheme == Scheme::AdiDouglas { self.c.len() } else { 0 };
        for r in &mut self.rate {
            r.resize(n, 0.0);
        }
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
        *saved = Some(Saved {
            c: self.c.clone(),
            local: self.local.clone(),
            local_comp: self.local_comp.clone(),
            dec: self.dec.clone(),
            dec_comp: self.dec_comp.clone(),
            out: self.out.clone(),
            out_comp: self.out_comp.clone(),
            start_up_left: self.start_up_left,
            newest: self.newest,
        });
        Ok(())
    }

    fn restore(&mut self, slot: usize) -> Result<(), SolverError> {
        let saved = self.saved.get(slot).and_then(|s| s.as_ref()).ok_or_else(|| slot_error(slot, "is empty"))?;
        self.c.copy_from_slice(&saved.c);
        self.local.copy_from_slice(&saved.local);
        self.local_comp.copy_from_slice(&saved.local_comp);
        self.dec.copy_from_slice(&saved.dec);
        self.dec_comp.copy_from_slice(&saved.dec_comp);
        self.out.copy_from_slice(&saved.out);
        self.out_comp.copy_from_slice(&saved.out_comp);
        self.start_up_left = saved.start_up_left;
        self.newest = saved.newest;
        Ok(())
    }

    fn local_error(&mut self, weights: [f64; 2]) -> Result<Vec<Difference>, SolverError> {
        let saved = self.saved[0].as_ref().ok_or_else(|| slot_error(0, "is empty"))?;
        if self.rate[0].is_empty() {
            return Err(SolverError::Usage(
                "local_error needs rate tracking (track_rates(true)) and the ADI scheme".into(),
            ));
        }
        let mut params = self.tables.params;
        params.error = [weights[0] as f32, weights[1] as f32, 0.0, 0.0];
        let (ns, groups) = (params.counts[0], params.counts[2]);
        let mut partials = vec![0.0f32; (2 * ns * groups) as usize];
        let (new, old) = (&self.rate[self.newest], &self.rate[1 - self.newest]);
        for s in 0..ns {
            for w in 0..groups {
                local_error::local_error(&params, &self.c, &saved.c, new, old, &mut partials, [w, s]);
            }
        }
        Ok(finish_difference(ns as usize, params.cells[3] as usize, &partials))
    }
}
