//! The search core, generic over what an evaluation is: it minimises a penalised score over the
//! unit box u ∈ [0, 1]^d,
//!
//! ```text
//! score(u) = ±f(u) / |f₀|                         if every constraint is met (− to maximise)
//!          = PENALTY_BASE + Σᵢ vᵢ(u)              otherwise
//! vᵢ = max(0, bᵢ − gᵢ) / |bᵢ|  (at_least bᵢ),    max(0, gᵢ − bᵢ) / |bᵢ|  (at_most bᵢ)
//! ```
//!
//! where f is the objective, f₀ its value at the first design that has one (so that scores are
//! of order one whatever the objective's unit), gᵢ the constraint metrics (|bᵢ| taken as 1 where
//! bᵢ = 0). A metric with no value counts as a violation of 1. Any feasible design therefore
//! beats any infeasible one, and among infeasible ones the score still falls toward
//! feasibility. A point the optimiser asks for outside the box is evaluated clamped onto it, and
//! costs the optimiser its score plus its distance (1-norm) from the box; a point asked for again
//! is not evaluated again.
//!
//! Methods: argmin's Nelder–Mead (a simplex from `start` with sides of 0.25 along each axis;
//! stops when every vertex lies within `tolerance` of the best in each coordinate, or the
//! scores of the vertices agree to 1e-12) and Brent's minimiser (one key; stops when the
//! minimum is bracketed to within `tolerance`). Both stop when the next evaluation would exceed
//! the budget.

use argmin::core::{CostFunction, IterState, Problem, Solver, State};
use argmin::solver::brent::BrentOpt;
use argmin::solver::neldermead::NelderMead;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Added to the score of a design that breaks a constraint (feasible scores are of order one).
pub const PENALTY_BASE: f64 = 1e6;

/// Side of the first Nelder–Mead simplex along each axis, in normalised coordinates.
pub const SIMPLEX_STEP: f64 = 0.25;

/// The derivative-free method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    NelderMead,
    /// Brent's minimiser on one key.
    Brent,
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::NelderMead => "nelder-mead",
            Method::Brent => "brent",
        }
    }
}

/// A constraint's bound on its metric (in the metric's unit).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

impl Bound {
    /// How far `value` breaks the bound, relative to the bound (0 when met, 1 for no value).
    pub fn violation(&self, value: Option<f64>) -> f64 {
        let Some(v) = value else { return 1.0 };
        let (b, short) = match *self {
            Bound::AtLeast(b) => (b, b - v),
            Bound::AtMost(b) => (b, v - b),
        };
        let scale = if b == 0.0 { 1.0 } else { b.abs() };
        (short / scale).max(0.0)
    }

    pub fn value(&self) -> f64 {
        match *self {
            Bound::AtLeast(b) | Bound::AtMost(b) => b,
        }
    }

    /// `at_least` or `at_most`.
    pub fn kind(&self) -> &'static str {
        match self {
            Bound::AtLeast(_) => "at_least",
            Bound::AtMost(_) => "at_most",
        }
    }
}

/// How to search.
#[derive(Clone, Debug)]
pub struct Settings {
    pub method: Method,
    /// Most evaluations (distinct designs run).
    pub budget: usize,
    /// Stopping tolerance in normalised coordinates (see the module).
    pub tolerance: f64,
    /// First point of Nelder–Mead, in [0, 1]^d (Brent starts where it starts).
    pub start: Vec<f64>,
    /// Whether more of the objective is better.
    pub maximize: bool,
    /// One bound per constraint, in the order of [`Measured::constraints`].
    pub bounds: Vec<Bound>,
}

/// What one evaluation measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The objective (`None`: the run has no value of it).
    pub objective: Option<f64>,
    /// Each constraint's metric.
    pub constraints: Vec<Option<f64>>,
}

/// One evaluated design.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// The design in normalised coordinates (inside the box).
    pub u: Vec<f64>,
    pub measured: Measured,
    /// Relative violation of each constraint (0 when met).
    pub violations: Vec<f64>,
    /// Every constraint met and the objective has a value.
    pub feasible: bool,
    /// The penalised score minimised.
    pub score: f64,
}

/// Why the search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Converged,
    /// The next evaluation would have exceeded the budget.
    Budget,
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Converged => "converged",
            Status::Budget => "budget",
        }
    }
}

/// Every evaluation in order, the best feasible one and why the search stopped.
#[derive(Clone, Debug)]
pub struct Found {
    pub evaluations: Vec<Evaluation>,
    /// Index into `evaluations` of the feasible design of lowest score (the earliest on a tie).
    pub best: Option<usize>,
    /// Index of the design of lowest score overall (the least infeasible when none is feasible).
    pub lowest: Option<usize>,
    pub status: Status,
}

/// Searches with `settings`, calling `evaluate` once for each distinct design (in [0, 1]^d) and
/// `observe` with every evaluation so far after each one. An error of `evaluate` stops the
/// search and is returned.
pub fn search<E>(
    settings: &Settings,
    evaluate: impl FnMut(&[f64]) -> Result<Measured, E>,
    observe: impl FnMut(&[Evaluation]),
) -> Result<Found, E> {
    let ev = Evaluator {
        settings,
        evaluate: RefCell::new(evaluate),
        observe: RefCell::new(observe),
        evaluations: RefCell::new(Vec::new()),
        seen: RefCell::new(HashMap::new()),
        scale: Cell::new(None),
        stop: RefCell::new(None),
    };
    let converged = match settings.method {
        Method::NelderMead => nelder_mead(&ev),
        Method::Brent => brent(&ev),
    };
    let status = match (converged, ev.stop.into_inner()) {
        (true, _) => Status::Converged,
        (false, Some(Stop::Error(e))) => return Err(e),
        (false, Some(Stop::Budget) | None) => Status::Budget,
    };
    let evaluations = ev.evaluations.into_inner();
    let lowest_of = |feasible_only: bool| {
        evaluations
            .iter()
            .enumerate()
            .filter(|(_, e)| e.feasible || !feasible_only)
            .min_by(|a, b| a.1.score.total_cmp(&b.1.score).then(a.0.cmp(&b.0)))
            .map(|(i, _)| i)
    };
    let (best, lowest) = (lowest_of(true), lowest_of(false));
    Ok(Found { evaluations, best, lowest, status })
}

/// Why the score of a point could not be had.
enum Stop<E> {
    Budget,
    Error(E),
}

struct Evaluator<'s, E, F, O> {
    settings: &'s Settings,
    evaluate: RefCell<F>,
    observe: RefCell<O>,
    evaluations: RefCell<Vec<Evaluation>>,
    /// Score of every point evaluated, by the bits of its coordinates.
    seen: RefCell<HashMap<Vec<u64>, f64>>,
    /// |objective| of the first design that has one.
    scale: Cell<Option<f64>>,
    stop: RefCell<Option<Stop<E>>>,
}

impl<E, F: FnMut(&[f64]) -> Result<Measured, E>, O: FnMut(&[Evaluation])> Evaluator<'_, E, F, O> {
    /// The cost of `u` to the optimiser: the score of `u` clamped onto the box plus how far `u`
    /// lies outside it, so that a point outside is worse than the point of the box it stands for
    /// (clamping alone would leave flat ground outside, where a simplex wanders).
    fn cost(&self, u: &[f64]) -> Option<f64> {
        let outside: f64 = u.iter().map(|x| (x - x.clamp(0.0, 1.0)).abs()).filter(|d| d.is_finite()).sum();
        self.score(u).map(|s| s + outside)
    }

    /// The score of `u` clamped onto the box, evaluating it unless it was before. `None` once
    /// the search must stop (see `stop`).
    fn score(&self, u: &[f64]) -> Option<f64> {
        if self.stop.borrow().is_some() {
            return None;
        }
        let u: Vec<f64> = u.iter().map(|x| if x.is_nan() { 0.5 } else { x.clamp(0.0, 1.0) }).collect();
        let key: Vec<u64> = u.iter().map(|x| (x + 0.0).to_bits()).collect();
        if let Some(&s) = self.seen.borrow().get(&key) {
            return Some(s);
        }
        if self.evaluations.borrow().len() >= self.settings.budget {
            *self.stop.borrow_mut() = Some(Stop::Budget);
            return None;
        }
        let measured = match (self.evaluate.borrow_mut())(&u) {
            Ok(m) => m,
            Err(e) => {
                *self.stop.borrow_mut() = Some(Stop::Error(e));
                return None;
            }
        };
        let violations: Vec<f64> =
            self.settings.bounds.iter().zip(&measured.constraints).map(|(b, &v)| b.violation(v)).collect();
        let objective = measured.objective.filter(|x| x.is_finite());
        if self.scale.get().is_none()
            && let Some(f) = objective
        {
            self.scale.set(Some(if f == 0.0 { 1.0 } else { f.abs() }));
        }
        let feasible = objective.is_some() && violations.iter().all(|&v| v == 0.0);
        let score = match objective {
            Some(f) if feasible => {
                let f = f / self.scale.get().unwrap_or(1.0);
                if self.settings.maximize { -f } else { f }
            }
            _ => PENALTY_BASE + violations.iter().sum::<f64>() + if objective.is_none() { 1.0 } else { 0.0 },
        };
        self.seen.borrow_mut().insert(key, score);
        let mut all = self.evaluations.borrow_mut();
        all.push(Evaluation { u, measured, violations, feasible, score });
        (self.observe.borrow_mut())(&all);
        Some(score)
    }
}

/// argmin's view of the score: a point of the box.
struct Space<'e, E, F, O>(&'e Evaluator<'e, E, F, O>);
/// argmin's view of the score on a line (one key).
struct Line<'e, E, F, O>(&'e Evaluator<'e, E, F, O>);

/// Carries a stop through argmin; the reason is kept in [`Evaluator::stop`].
#[derive(Debug, thiserror::Error)]
#[error("the search stopped")]
struct Stopped;

impl<E, F: FnMut(&[f64]) -> Result<Measured, E>, O: FnMut(&[Evaluation])> CostFunction for Space<'_, E, F, O> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, u: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        self.0.cost(u).ok_or_else(|| Stopped.into())
    }
}

impl<E, F: FnMut(&[f64]) -> Result<Measured, E>, O: FnMut(&[Evaluation])> CostFunction for Line<'_, E, F, O> {
    type Param = f64;
    type Output = f64;
    fn cost(&self, u: &f64) -> Result<f64, argmin::core::Error> {
        self.0.cost(&[*u]).ok_or_else(|| Stopped.into())
    }
}

/// Nelder–Mead; whether it converged (otherwise `ev.stop` says why not).
fn nelder_mead<E, F: FnMut(&[f64]) -> Result<Measured, E>, O: FnMut(&[Evaluation])>(
    ev: &Evaluator<'_, E, F, O>,
) -> bool {
    let start = &ev.settings.start;
    let mut vertices = vec![start.clone()];
    for axis in 0..start.len() {
        let mut v = start.clone();
        // Toward the middle, so that the step stays inside the box.
        v[axis] += if v[axis] <= 0.5 { SIMPLEX_STEP } else { -SIMPLEX_STEP };
        vertices.push(v);
    }
    // argmin's `init` cannot pass an error on: the first simplex is evaluated here, and `init`
    // finds every score already known.
    for v in &vertices {
        if ev.score(v).is_none() {
            return false;
        }
    }
    let mut solver: NelderMead<Vec<f64>, f64> =
        NelderMead::new(vertices).with_sd_tolerance(1e-12).expect("a tolerance ≥ 0");
    let mut problem = Problem::new(Space(ev));
    let Ok((mut state, _)) = solver.init(&mut problem, IterState::new()) else { return false };
    loop {
        if simplex_size(&solver) < ev.settings.tolerance
            || <NelderMead<Vec<f64>, f64> as Solver<Space<'_, E, F, O>, _>>::terminate(&mut solver, &state).terminated()
        {
            return true;
        }
        match solver.next_iter(&mut problem, state) {
            Ok((next, _)) => state = next,
            Err(_) => return false,
        }
    }
}

/// The largest distance, in any coordinate, of a vertex of the simplex from the best one.
/// argmin keeps the simplex private; its serde form (checkpoints) is the public view of it.
fn simplex_size(solver: &NelderMead<Vec<f64>, f64>) -> f64 {
    let form = serde_json::to_value(solver).expect("the simplex serialises");
    let points: Vec<Vec<f64>> = form["params"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| serde_json::from_value(p[0].clone()).ok()).collect())
        .unwrap_or_default();
    let Some(best) = points.first() else { return f64::INFINITY };
    points.iter().flat_map(|p| p.iter().zip(best).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max)
}

/// Brent's minimiser on [0, 1]; whether it converged.
fn brent<E, F: FnMut(&[f64]) -> Result<Measured, E>, O: FnMut(&[Evaluation])>(ev: &Evaluator<'_, E, F, O>) -> bool {
    // It stops when x is within 2·t + ε|x| of the bracket's midpoint, i.e. the bracket is about
    // 4·t wide.
    let mut solver = BrentOpt::new(0.0, 1.0).set_tolerance(f64::EPSILON.sqrt(), ev.settings.tolerance / 4.0);
    let mut problem = Problem::new(Line(ev));
    let Ok((mut state, _)) = solver.init(&mut problem, IterState::new()) else { return false };
    loop {
        match solver.next_iter(&mut problem, state) {
            Ok((next, _)) if next.terminated() => return true,
            Ok((next, _)) => state = next,
            Err(_) => return false,
        }
    }
}
