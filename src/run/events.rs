//! Events of a run, applied to the engine's state between steps: doses (a new gel in place of
//! the old one, or a top-up), and the coefficient updates of degrading gels (diffusivity up,
//! binding sites down, what the lost sites held set free).
//!
//! Every event goes through [`Engine::edit_state`], so it is written once for all engines. The
//! books take what a dose adds and removes, summed from the very values written into and read
//! out of the engine's field, so the balance closes across doses to round-off.

use super::RunError;
use super::books::Books;
use crate::problem::{DoseMode, Problem, Reaction};
use crate::solver::{Engine, START_UP_STEPS};
use serde::{Deserialize, Serialize};

/// How far through the problem's events a run is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsDone {
    /// Doses applied.
    pub doses: usize,
    /// Coefficient updates applied.
    pub updates: usize,
    /// Time (s) whose site densities the engine holds (0 until the first update).
    pub sites_at: f64,
}

/// What [`apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Applied {
    /// A dose went in: the data are sharp again.
    pub dosed: bool,
    /// The field was edited in another way (sites set bound factor free).
    pub edited: bool,
}

/// Times (s) at which the coefficients of degrading gels are updated, ascending, from 0.
pub fn update_times(problem: &Problem) -> Vec<f64> {
    let mut times: Vec<f64> =
        problem.timeline.degradation.iter().flat_map(|d| d.update_times(problem.schedule.end)).collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    times
}

/// Whether an event is due at `t` that has not been applied.
pub fn due(problem: &Problem, done: &EventsDone, t: f64) -> bool {
    problem.timeline.doses.get(done.doses).is_some_and(|d| d.time <= t)
        || update_times(problem).get(done.updates).is_some_and(|&u| u <= t)
}

/// Applies every event due at `t` (s): first the coefficient updates (with `next_stop` the time
/// of the next stop, whose midpoint with `t` sets the diffusivities held until then), then the
/// doses in their order. The engine's books must have been reduced into `books` just before.
pub fn apply(
    problem: &Problem,
    done: &mut EventsDone,
    t: f64,
    next_stop: f64,
    engine: &mut dyn Engine,
    books: &mut Books,
) -> Result<Applied, RunError> {
    let mut applied = Applied::default();
    let updates = update_times(problem);
    let mut updated = false;
    while updates.get(done.updates).is_some_and(|&u| u <= t) {
        done.updates += 1;
        updated = true;
    }
    if updated {
        // Diffusivities: their value at the middle of the stretch to the next stop (second
        // order in the stretch). Sites: their value now, the bound share of the lost sites freed.
        engine.set_coefficients(&coefficients_in_force(problem, t, next_stop))?;
        if release_lost_sites(problem, done.sites_at, t, engine)? {
            applied.edited = true;
        }
        done.sites_at = t;
    }
    while problem.timeline.doses.get(done.doses).is_some_and(|d| d.time <= t) {
        let current = problem.coefficients_at(t, done.sites_at);
        apply_dose(&current, done.doses, t, engine, books)?;
        done.doses += 1;
        applied.dosed = true;
    }
    Ok(applied)
}

/// The coefficients an engine holds from an update at `t` until the next stop at `next_stop` (s).
pub fn coefficients_in_force(problem: &Problem, t: f64, next_stop: f64) -> Problem {
    problem.coefficients_at(0.5 * (t + next_stop), t)
}

/// Gives a resumed engine (built with the problem's coefficients at t = 0) the coefficients in
/// force at the checkpoint: those of the last update applied, over the stretch to the stop
/// that followed it.
pub fn restore_coefficients(
    problem: &Problem,
    done: &EventsDone,
    stops: &[f64],
    engine: &mut dyn Engine,
) -> Result<(), RunError> {
    if done.updates == 0 {
        return Ok(());
    }
    let t = update_times(problem)[done.updates - 1];
    let next = stops.iter().copied().find(|&s| s > t).unwrap_or(problem.schedule.end);
    engine.set_coefficients(&coefficients_in_force(problem, t, next))?;
    Ok(())
}

/// Row of each species' bound field in the engine's field (after the free rows), if it binds.
fn bound_rows(problem: &Problem) -> Vec<Option<usize>> {
    let mut rows = vec![None; problem.species.len()];
    for (i, s) in problem.bound_species().into_iter().enumerate() {
        rows[s] = Some(problem.species.len() + i);
    }
    rows
}

/// Applies dose `index` of `problem` (whose site densities are those in force) at time `t` (s)
/// and books what it added and removed, in amount units, per species and material.
pub fn apply_dose(
    problem: &Problem,
    index: usize,
    t: f64,
    engine: &mut dyn Engine,
    books: &mut Books,
) -> Result<(), RunError> {
    let dose = &problem.timeline.doses[index];
    let n = problem.grid.n_cells();
    let ns = problem.species.len();
    let nm = problem.materials.len();
    let rows = bound_rows(problem);
    // A fresh gel's free and bound parts, per species and material.
    let fresh = (dose.mode == DoseMode::Replace).then(|| problem.loaded_state(&dose.load));
    let mut added = vec![vec![0.0f64; nm]; ns];
    let mut removed = vec![vec![0.0f64; nm]; ns];
    engine.edit_state(&mut |state| {
        for &cell in &dose.cells {
            let cell = cell as usize;
            let m = problem.material_id[cell] as usize;
            for s in 0..ns {
                let free_at = s * n + cell;
                let bound_at = rows[s].map(|r| r * n + cell);
                match &fresh {
                    Some((free, bound)) => {
                        let old = state.field[free_at] as f64 + bound_at.map_or(0.0, |b| state.field[b] as f64);
                        state.field[free_at] = free[s][m] as f32;
                        let mut new = state.field[free_at] as f64;
                        if let Some(b) = bound_at {
                            state.field[b] = bound[s][m] as f32;
                            new += state.field[b] as f64;
                        }
                        removed[s][m] += old;
                        added[s][m] += new;
                    }
                    None => {
                        let old = state.field[free_at];
                        state.field[free_at] = old + dose.load[s][m] as f32;
                        added[s][m] += state.field[free_at] as f64 - old as f64;
                    }
                }
            }
        }
        state.start_up_left = START_UP_STEPS;
    })?;
    let volume = problem.grid.cell_volume();
    for s in 0..ns {
        for m in 0..nm {
            let k = volume * books.to_amount[s];
            books.added[s][m] += added[s][m] * k;
            books.removed[s][m] += removed[s][m] * k;
        }
    }
    books.dose_times.push(t);
    Ok(())
}

/// Frees what the sites lost between `from` and `to` (s) held, in every degrading material:
/// the bound field there is scaled by the ratio of the site densities and the difference goes
/// to the free field (molecules are conserved). Returns whether anything was edited.
fn release_lost_sites(problem: &Problem, from: f64, to: f64, engine: &mut dyn Engine) -> Result<bool, RunError> {
    let nm = problem.materials.len();
    let mut ratio = vec![1.0f64; nm];
    for d in &problem.timeline.degradation {
        if d.site_loss_rate > 0.0 {
            ratio[d.material] = d.site_factor(to) / d.site_factor(from);
        }
    }
    let rows = bound_rows(problem);
    let edits: Vec<(usize, usize, usize)> = problem
        .reactions
        .iter()
        .filter_map(|r| match *r {
            Reaction::Binding { material, species, .. } if ratio[material] < 1.0 => {
                Some((material, species, rows[species]?))
            }
            _ => None,
        })
        .collect();
    if edits.is_empty() {
        return Ok(false);
    }
    let n = problem.grid.n_cells();
    engine.edit_state(&mut |state| {
        for &(m, s, row) in &edits {
            let r = ratio[m] as f32;
            for cell in (0..n).filter(|&c| problem.material_id[c] as usize == m) {
                let b = state.field[row * n + cell];
                let kept = b * r;
                state.field[row * n + cell] = kept;
                state.field[s * n + cell] += b - kept;
            }
        }
    })?;
    Ok(true)
}
