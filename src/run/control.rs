//! The step plan of a run and the step controller of the adaptive ADI step.

use super::{Progress, RunError, first_non_finite};
use crate::problem::{DEFAULT_TOLERANCE, Problem, Scheme, TimeStep};
use crate::solver::{Engine, error_estimate};
use serde::{Deserialize, Serialize};

/// How the steps of a run are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Stepping {
    /// For each stretch between stops ([`StepPlan::stops`]): (number of steps, step length in s).
    Fixed(Vec<(u64, f64)>),
    /// Step doubling with a relative local-error `tolerance`, starting from `initial_dt` (s).
    Adaptive { tolerance: f64, initial_dt: f64 },
}

/// The step plan of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct StepPlan {
    /// Explicit stability limit, s (reported for the ADI scheme too, which does not need it).
    pub limit: f64,
    pub stepping: Stepping,
    /// Every time the stepping lands on exactly, ascending: the output times and the times of
    /// the problem's events (doses, coefficient updates of degrading gels).
    pub stops: Vec<Stop>,
}

/// A time the stepping lands on exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stop {
    /// s.
    pub time: f64,
    /// Outputs are written here (events at an output time are applied after its outputs).
    pub output: bool,
}

/// The output times and event times of a problem, merged ([`StepPlan::stops`]).
pub fn stops(problem: &Problem) -> Vec<Stop> {
    let mut stops: Vec<Stop> = problem.schedule.output_times.iter().map(|&time| Stop { time, output: true }).collect();
    for time in problem.timeline.event_times(problem.schedule.end) {
        if time > 0.0 && !stops.iter().any(|s| s.time == time) {
            stops.push(Stop { time, output: false });
        }
    }
    stops.sort_by(|a, b| a.time.total_cmp(&b.time));
    stops
}

impl StepPlan {
    pub fn new(problem: &Problem) -> Result<Self, RunError> {
        let limit = problem.explicit_step_limit();
        let stops = stops(problem);
        let fixed = |dt: f64| {
            let mut intervals = Vec::with_capacity(stops.len());
            let mut t = 0.0;
            for &Stop { time: t_out, .. } in &stops {
                let span = t_out - t;
                // A relative slack keeps a step that divides the span exactly from adding one more.
                let n = if dt.is_finite() { ((span / dt) * (1.0 - 1e-12)).ceil().max(1.0) as u64 } else { 1 };
                intervals.push((n, span / n as f64));
                t = t_out;
            }
            Stepping::Fixed(intervals)
        };
        // The first step's error is estimated like any other, but nothing is known before it:
        // start far below the explicit limit (or the first output interval where nothing limits
        // it), so that the burst from sharp initial data is resolved whatever the tolerance;
        // the controller grows the step ×4 per accepted step, so this costs a few cheap steps.
        let first = problem.schedule.output_times.first().copied().unwrap_or(problem.schedule.end);
        let initial_dt = 1e-3 * limit.min(first / 16.0);
        let stepping = match (problem.schedule.scheme, problem.schedule.time_step) {
            (Scheme::ExplicitFtcs, TimeStep::Auto { safety }) => fixed(safety * limit),
            (Scheme::ExplicitFtcs, TimeStep::Fixed { dt }) if dt > limit => {
                return Err(RunError::UnstableStep { dt, limit });
            }
            (Scheme::ExplicitFtcs, TimeStep::Adaptive { .. }) => return Err(RunError::AdaptiveExplicit),
            (_, TimeStep::Fixed { dt }) => fixed(dt),
            (Scheme::AdiDouglas, TimeStep::Auto { .. }) => {
                Stepping::Adaptive { tolerance: DEFAULT_TOLERANCE, initial_dt }
            }
            (Scheme::AdiDouglas, TimeStep::Adaptive { tolerance }) => Stepping::Adaptive { tolerance, initial_dt },
        };
        Ok(StepPlan { limit, stepping, stops })
    }

    /// Total number of steps, when known before the run.
    pub fn total_steps(&self) -> Option<u64> {
        match &self.stepping {
            Stepping::Fixed(intervals) => Some(intervals.iter().map(|(n, _)| n).sum()),
            Stepping::Adaptive { .. } => None,
        }
    }

    /// Longest fixed step, when steps are fixed.
    pub fn max_step(&self) -> Option<f64> {
        match &self.stepping {
            Stepping::Fixed(intervals) => Some(intervals.iter().map(|&(_, dt)| dt).fold(0.0, f64::max)),
            Stepping::Adaptive { .. } => None,
        }
    }
}

/// What the stepping did, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// Steps that make up the solution.
    pub steps: u64,
    /// Steps computed, counting the ones the error control rejected.
    pub steps_computed: u64,
    /// Steps rejected by the error control.
    pub rejected_steps: u64,
    pub smallest_step_s: f64,
    pub largest_step_s: f64,
}

impl StepStats {
    pub fn record(&mut self, n: u64, dt: f64) {
        if self.steps == 0 {
            self.smallest_step_s = dt;
        }
        self.steps += n;
        self.steps_computed += n;
        self.smallest_step_s = self.smallest_step_s.min(dt);
        self.largest_step_s = self.largest_step_s.max(dt);
    }
}

/// The adaptive step bounds the root-mean-square local error by `tolerance` × scale and the
/// largest local error in any cell by `PEAK_FACTOR` times that.
pub const PEAK_FACTOR: f64 = 10.0;

/// The embedded-estimate controller of [`Stepping::Adaptive`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Controller {
    tolerance: f64,
    scales: Vec<f64>,
    dt: f64,
    /// Length of the last accepted step, whose rate the engine holds (`None` at the start).
    previous: Option<f64>,
    /// The last step was rejected: the next accepted one may not grow the step (Hairer &
    /// Wanner's rule; it stops the step from oscillating around the rejection threshold).
    just_rejected: bool,
}

impl Controller {
    /// A controller for `tolerance` × the species' `scales`, starting at `initial_dt` s.
    pub fn new(tolerance: f64, scales: Vec<f64>, initial_dt: f64) -> Self {
        Controller { tolerance, scales, dt: initial_dt, previous: None, just_rejected: false }
    }

    /// Starts again from a small step `dt` (s) with no rate history, as after a dose: the data
    /// are sharp again and the rates before it describe another field.
    pub fn restart(&mut self, dt: f64) {
        self.dt = dt.min(self.dt);
        self.previous = None;
        self.just_rejected = false;
    }

    /// Forgets the rate history (the field was edited between steps), keeping the step.
    pub fn forget_rates(&mut self) {
        self.previous = None;
    }

    /// Advances from `t0` to exactly `t1` in accepted steps of equal length, calling `accepted`
    /// with the time reached after each.
    pub fn advance(
        &mut self,
        problem: &Problem,
        engine: &mut dyn Engine,
        t0: f64,
        t1: f64,
        stats: &mut StepStats,
        progress: &mut dyn Progress,
        accepted: &mut dyn FnMut(&mut dyn Engine, f64) -> Result<(), RunError>,
    ) -> Result<(), RunError> {
        let mut t = t0;
        while t1 - t > 1e-12 * t1.max(1.0) {
            let remaining = t1 - t;
            let steps = (remaining / self.dt * (1.0 - 1e-12)).ceil().max(1.0);
            let dt = remaining / steps;
            engine.save(0)?;
            engine.step(1, dt)?;
            let estimate = error_estimate(dt, self.previous);
            let local = engine.local_error(estimate.weights)?;
            let err = local
                .iter()
                .zip(&self.scales)
                .map(|(d, scale)| {
                    let bound = self.tolerance * scale;
                    (estimate.factor * d.rms / bound).max(estimate.factor * d.max / (PEAK_FACTOR * bound))
                })
                .fold(0.0f64, f64::max);
            if !err.is_finite() {
                if let Some(e) = first_non_finite(problem, &engine.read_field()?, t + dt) {
                    return Err(e);
                }
            }
            let factor = if err > 0.0 { (0.9 * err.powf(-1.0 / estimate.order)).clamp(0.2, 4.0) } else { 4.0 };
            if err <= 1.0 {
                t = if steps <= 1.0 { t1 } else { t + dt };
                stats.record(1, dt);
                self.previous = Some(dt);
                self.dt = dt * if self.just_rejected { factor.min(1.0) } else { factor };
                self.just_rejected = false;
                accepted(engine, t)?;
                progress.advanced(t, stats.steps);
            } else {
                engine.restore(0)?;
                stats.rejected_steps += 1;
                stats.steps_computed += 1;
                self.dt = dt * factor.min(0.5);
                self.just_rejected = true;
                if self.dt < 1e-12 * t1.max(1.0) {
                    return Err(RunError::StepControl { dt: self.dt, t, tolerance: self.tolerance });
                }
            }
        }
        Ok(())
    }
}
