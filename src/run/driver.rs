//! The run as a state machine: from one output time to the next, everything that is not the
//! engine's own state. [`DriverState`] serialises; with the engine's
//! [`crate::solver::EngineState`] it is all a checkpoint needs, and a run resumed from both
//! continues bit for bit on the CPU engines.

use super::books::Books;
use super::control::{Controller, StepPlan, StepStats, Stepping};
use super::events::{self, EventsDone};
use super::exposure::{Exposure, ExposurePlan};
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
    /// Index of the next stop ([`StepPlan::stops`]) to step to.
    #[serde(default)]
    pub next_stop: usize,
    /// Events applied so far (doses, and coefficient updates of degrading gels).
    #[serde(default)]
    pub events: EventsDone,
    /// The exposure of the target regions and the depot content, taken after every step.
    #[serde(default)]
    pub exposure: Exposure,
}

/// Advances an engine over a problem's schedule, one output interval per [`Driver::advance`].
pub struct Driver<'a> {
    problem: &'a Problem,
    plan: StepPlan,
    state: DriverState,
    exposure: ExposurePlan,
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
        let exposure_plan = ExposurePlan::new(problem);
        let mut exposure = Exposure::start(&exposure_plan, engine, 0.0)?;
        exposure.record_output(&exposure_plan, problem, 0.0);
        let state = DriverState {
            t: 0.0,
            next_output: 0,
            stats: StepStats::default(),
            controller,
            books,
            next_stop: 0,
            events: EventsDone::default(),
            exposure,
        };
        Ok(Driver { problem, plan, state, exposure: exposure_plan })
    }

    /// Continues a run from `state`; the engine must hold, or be given right after this call,
    /// the matching engine state (`Engine::import_state`; this call switches rate tracking on
    /// first, as the state needs). Refused if the state does not belong to this problem's
    /// schedule.
    pub fn resume(problem: &'a Problem, state: DriverState, engine: &mut dyn Engine) -> Result<Self, RunError> {
        let plan = StepPlan::new(problem)?;
        let outputs = &problem.schedule.output_times;
        let at_stop = state.next_stop == 0 && state.t == 0.0
            || plan.stops.get(state.next_stop.wrapping_sub(1)).is_some_and(|s| s.time == state.t);
        let at_output = at_stop
            && (state.next_output == 0 && state.t == 0.0
                || state.next_output <= outputs.len()
                    && state.next_output > 0
                    && outputs[state.next_output - 1] == state.t);
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
        let stops: Vec<f64> = plan.stops.iter().map(|s| s.time).collect();
        events::restore_coefficients(problem, &state.events, &stops, engine)?;
        let exposure = ExposurePlan::new(problem);
        if state.exposure.items.len() != problem.metrics.targets.len() * problem.species.len() {
            return Err(RunError::Resume(format!(
                "the saved run state holds the exposure of {} target regions × species, this scenario has {}",
                state.exposure.items.len(),
                problem.metrics.targets.len() * problem.species.len()
            )));
        }
        Ok(Driver { problem, plan, state, exposure })
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

    /// The exposure taken so far, and where its values come from.
    pub fn exposure(&self) -> (&Exposure, &ExposurePlan) {
        (&self.state.exposure, &self.exposure)
    }

    pub fn stats(&self) -> &StepStats {
        &self.state.stats
    }

    /// Steps to the next output time exactly, through every stop before it (applying the
    /// events there), reduces the engine's books into the run's and checks that every value is
    /// still finite. Events at the time reached before (an output time, or 0) are applied first:
    /// outputs at a dose time show the field just before the dose. Returns the output time
    /// reached.
    pub fn advance(&mut self, engine: &mut dyn Engine, progress: &mut dyn Progress) -> Result<f64, RunError> {
        let Some(&t_out) = self.problem.schedule.output_times.get(self.state.next_output) else {
            return Ok(self.state.t);
        };
        self.apply_events(engine)?;
        while let Some(stop) = self.plan.stops.get(self.state.next_stop).copied() {
            self.step_to(engine, progress, stop.time)?;
            self.state.next_stop += 1;
            if stop.output {
                break;
            }
            self.apply_events(engine)?;
        }
        debug_assert_eq!(self.state.t, t_out);
        let totals = engine.reduce_totals()?;
        check_finite(self.problem, engine, &totals, t_out)?;
        self.state.books.add(&totals);
        self.state.exposure.record_output(&self.exposure, self.problem, t_out);
        self.state.next_output += 1;
        Ok(t_out)
    }

    /// Applies the events due at the current time, if any: the books are brought up to date
    /// first, since a dose books what it adds and removes against them.
    fn apply_events(&mut self, engine: &mut dyn Engine) -> Result<(), RunError> {
        let t = self.state.t;
        if !events::due(self.problem, &self.state.events, t) {
            return Ok(());
        }
        let totals = engine.reduce_totals()?;
        check_finite(self.problem, engine, &totals, t)?;
        self.state.books.add(&totals);
        let next_stop = self.plan.stops.get(self.state.next_stop).map_or(self.problem.schedule.end, |s| s.time);
        let applied = events::apply(self.problem, &mut self.state.events, t, next_stop, engine, &mut self.state.books)?;
        if applied.dosed || applied.edited {
            self.state.exposure.observe(&self.exposure, engine, t, false)?;
        }
        if let Some(controller) = self.state.controller.as_mut() {
            if applied.dosed {
                let Stepping::Adaptive { initial_dt, .. } = self.plan.stepping else { unreachable!() };
                controller.restart(initial_dt);
            } else if applied.edited {
                controller.forget_rates();
            }
        }
        Ok(())
    }

    /// Steps from the current time to exactly `t1`.
    fn step_to(&mut self, engine: &mut dyn Engine, progress: &mut dyn Progress, t1: f64) -> Result<(), RunError> {
        let t = self.state.t;
        let stats = &mut self.state.stats;
        let (exposure, plan) = (&mut self.state.exposure, &self.exposure);
        let mut accepted =
            |engine: &mut dyn Engine, t: f64| exposure.observe(plan, engine, t, true).map_err(RunError::from);
        match (&self.plan.stepping, self.state.controller.as_mut()) {
            (Stepping::Fixed(intervals), _) => {
                let (n, dt) = intervals[self.state.next_stop];
                // Chunks of about 1 % of the run keep the progress bar alive without slowing the
                // GPU; with exposure to take, one step at a time.
                let chunk = if plan.is_empty() { (self.plan.total_steps().unwrap_or(n) / 100).max(1) } else { 1 };
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk);
                    engine.step(k, dt)?;
                    left -= k;
                    stats.record(k, dt);
                    let now = if left == 0 { t1 } else { t + (n - left) as f64 * dt };
                    accepted(engine, now)?;
                    progress.advanced(now, stats.steps);
                }
            }
            (Stepping::Adaptive { .. }, Some(controller)) => {
                controller.advance(self.problem, engine, t, t1, stats, progress, &mut accepted)?;
            }
            (Stepping::Adaptive { .. }, None) => {
                return Err(RunError::Resume("an adaptive run state without its step controller".into()));
            }
        }
        self.state.t = t1;
        Ok(())
    }
}
