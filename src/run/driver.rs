//! The run as a state machine: from one output time to the next, everything that is not the
//! engine's own state. [`DriverState`] serialises; with the engine's
//! [`crate::solver::EngineState`] it is all a checkpoint needs, and a run resumed from both
//! continues bit for bit on the CPU engines.

use super::books::Books;
use super::control::{Controller, StepPlan, StepStats, Stepping};
use super::{Progress, RunError, check_finite};
use crate::problem::Problem;
use crate::solver::Engine;
use serde::{Deserialize, Serialize};

/// Everything of a run between output times that is not in the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriverState {
    /// Simulated time reached, s (an output time, or 0).
    pub t: f64,
    /// Index of the next output time in the schedule.
    pub next_output: usize,
    pub stats: StepStats,
    /// The adaptive step's controller (`None` for fixed steps).
    pub controller: Option<Controller>,
    pub books: Books,
}

/// Advances an engine over a problem's schedule, one output interval per [`Driver::advance`].
pub struct Driver<'a> {
    problem: &'a Problem,
    plan: StepPlan,
    state: DriverState,
}

impl<'a> Driver<'a> {
    /// A run from t = 0: the books open with the engine's totals, and the engine tracks rates
    /// if the step adapts.
    pub fn new(problem: &'a Problem, engine: &mut dyn Engine) -> Result<Self, RunError> {
        let plan = StepPlan::new(problem)?;
        let controller = match plan.stepping {
            Stepping::Adaptive { tolerance, initial_dt } => {
                engine.track_rates(true);
                Some(Controller::new(tolerance, problem.concentration_scales(), initial_dt))
            }
            Stepping::Fixed(_) => None,
        };
        let books = Books::new(problem, &engine.reduce_totals()?);
        let state = DriverState { t: 0.0, next_output: 0, stats: StepStats::default(), controller, books };
        Ok(Driver { problem, plan, state })
    }

    /// Continues a run from `state`; the engine must hold the matching engine state (imported
    /// by the caller). Refused if the state does not belong to this problem's schedule.
    pub fn resume(problem: &'a Problem, state: DriverState, engine: &mut dyn Engine) -> Result<Self, RunError> {
        let plan = StepPlan::new(problem)?;
        let outputs = &problem.schedule.output_times;
        let at_output = state.next_output == 0 && state.t == 0.0
            || state.next_output <= outputs.len() && state.next_output > 0 && outputs[state.next_output - 1] == state.t;
        let adaptive = matches!(plan.stepping, Stepping::Adaptive { .. });
        if !at_output || adaptive != state.controller.is_some() || state.books.species() != problem.species.len() {
            return Err(RunError::Resume(format!(
                "the saved run state (t = {} s, output {}, {} species) does not belong to this scenario's schedule",
                state.t,
                state.next_output,
                state.books.species()
            )));
        }
        engine.track_rates(adaptive);
        Ok(Driver { problem, plan, state })
    }

    /// The state to save with a checkpoint.
    pub fn state(&self) -> &DriverState {
        &self.state
    }

    pub fn plan(&self) -> &StepPlan {
        &self.plan
    }

    /// Whether every output time has been reached.
    pub fn done(&self) -> bool {
        self.state.next_output >= self.problem.schedule.output_times.len()
    }

    /// Simulated time reached, s.
    pub fn time(&self) -> f64 {
        self.state.t
    }

    pub fn books(&self) -> &Books {
        &self.state.books
    }

    pub fn books_mut(&mut self) -> &mut Books {
        &mut self.state.books
    }

    pub fn stats(&self) -> &StepStats {
        &self.state.stats
    }

    /// Steps to the next output time exactly, reduces the engine's books into the run's and
    /// checks that every value is still finite. Returns the output time reached.
    pub fn advance(&mut self, engine: &mut dyn Engine, progress: &mut dyn Progress) -> Result<f64, RunError> {
        let i = self.state.next_output;
        let Some(&t_out) = self.problem.schedule.output_times.get(i) else {
            return Ok(self.state.t);
        };
        let t = self.state.t;
        let stats = &mut self.state.stats;
        match (&self.plan.stepping, self.state.controller.as_mut()) {
            (Stepping::Fixed(intervals), _) => {
                let (n, dt) = intervals[i];
                // Chunks of about 1 % of the run keep the progress bar alive without slowing the GPU.
                let chunk = (self.plan.total_steps().unwrap_or(n) / 100).max(1);
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk);
                    engine.step(k, dt)?;
                    left -= k;
                    stats.record(k, dt);
                    progress.advanced(t + (n - left) as f64 * dt, stats.steps);
                }
            }
            (Stepping::Adaptive { .. }, Some(controller)) => {
                controller.advance(self.problem, engine, t, t_out, stats, progress)?;
            }
            (Stepping::Adaptive { .. }, None) => {
                return Err(RunError::Resume("an adaptive run state without its step controller".into()));
            }
        }
        let totals = engine.reduce_totals()?;
        check_finite(self.problem, engine, &totals, t_out)?;
        self.state.books.add(&totals);
        self.state.t = t_out;
        self.state.next_output = i + 1;
        Ok(t_out)
    }
}
