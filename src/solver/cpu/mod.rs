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
//!   [`adi_sweep_axes`] (c, c_next, scratch, books), swap.
//!
//! For the error estimate the engine keeps two rates, `rate[newest]` and `rate[1 − newest]`; a
//! recording predictor writes the older one and `newest` flips. `save`/`restore` keep `newest`
//! only: after a restore, the rate written by the rejected step is the one the retry overwrites.

pub mod adi_predictor;
pub mod adi_sweep;
pub mod diffuse_explicit;
pub mod local_error;
pub mod reduce_totals;

use super::{
    CpuStateParts, Difference, Engine, EngineInfo, EngineState, SAVE_SLOTS, START_UP_STEPS, SolverError, SpeciesTotals,
    Stage, Tables, adi_sweep_axes, check_coefficient_update, finish_difference, finish_totals, slot_error,
};
use crate::problem::{Problem, Scheme};

/// Runs the kernel twins one invocation at a time.
pub struct CpuReference {
    problem: Problem,
    tables: Tables,
    c: Vec<f32>,
    c_next: Vec<f32>,
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
    dec: Vec<f32>,
    dec_comp: Vec<f32>,
    out: Vec<f32>,
    out_comp: Vec<f32>,
    start_up_left: u32,
    newest: usize,
}

impl CpuReference {
    pub fn new(problem: &Problem) -> Self {
        let c = problem.initial_field();
        let n = c.len();
        let tables = Tables::new(problem);
        let n_out = (tables.params.face_entries[0] * tables.params.counts[0]) as usize;
        let adi = problem.schedule.scheme == Scheme::AdiDouglas;
        CpuReference {
            problem: problem.clone(),
            tables,
            c_next: vec![0.0; n],
            c,
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
        if recording {
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
}

impl CpuReference {
    /// What an [`EngineState`] holds, borrowed from this engine.
    fn state_parts(&mut self) -> CpuStateParts<'_> {
        CpuStateParts {
            c: &mut self.c,
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
        self.tables = Tables::new(problem);
        self.sweep_axes = adi_sweep_axes(problem);
        self.problem = problem.clone();
        Ok(())
    }

    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "reference".into(),
            device: "CPU reference engine (kernel twins, single thread)".into(),
            precision: "f32 fields; compensated f32 decay and outflow accumulators; f64 totals".into(),
        }
    }

    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError> {
        let mode = super::flush_subnormals();
        for _ in 0..steps {
            match self.problem.schedule.scheme {
                Scheme::ExplicitFtcs => {
                    self.tables.params.time = [dt as f32, 0.0, 1.0, 0.0];
                    self.explicit_step();
                }
                Scheme::AdiDouglas => {
                    let start_up = self.start_up_left > 0;
                    let n_swept = self.sweep_axes.len();
                    for stage in Stage::of_step(start_up, dt) {
                        self.tables.params.time = stage.time(self.track_rates);
                        self.tables.params.stage = stage.coefficients(n_swept);
                        self.adi_stage();
                    }
                    self.start_up_left = self.start_up_left.saturating_sub(1);
                }
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
        for acc in [&mut self.dec, &mut self.dec_comp, &mut self.out, &mut self.out_comp] {
            acc.fill(0.0);
        }
        Ok(finish_totals(&self.problem, &partials))
    }

    fn export_state(&mut self) -> Result<EngineState, SolverError> {
        Ok(self.state_parts().export())
    }

    fn import_state(&mut self, state: &EngineState) -> Result<(), SolverError> {
        state.check(self.c.len())?;
        self.track_rates(!state.rates.is_empty());
        self.state_parts().import(state)?;
        for acc in [&mut self.dec, &mut self.dec_comp, &mut self.out, &mut self.out_comp] {
            acc.fill(0.0);
        }
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
        Ok(self.c.clone())
    }

    fn save(&mut self, slot: usize) -> Result<(), SolverError> {
        let saved = self.saved.get_mut(slot).ok_or_else(|| slot_error(slot, "does not exist"))?;
        *saved = Some(Saved {
            c: self.c.clone(),
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
