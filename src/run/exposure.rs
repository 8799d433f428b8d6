//! Exposure of the target regions, taken from the engine's field after every accepted step (not
//! reconstructed from the output times): per target region and species, the mean and peak free
//! and bound concentration, the area under the mean (trapezoid rule over the steps, the scheme's
//! own order), the coverage (fraction of the region's cells at or above the bioactive threshold)
//! and its time average, the time the mean spends above the threshold and inside the window
//! `[threshold, ceiling]`, the time the coverage spends above 10/25/50/75/90 %, and per cell the
//! time integral of the free concentration, whose average over each layer along the depth axis
//! gives the penetration depth. Within a step, values are taken linear in time, so a crossing is
//! placed inside the step. Doses change the field between steps: it is observed again after
//! them without integrating across the jump.
//!
//! The amount in the depot (free and bound) is recorded after every step as well, so that the
//! times to 50 % and 90 % released are placed within the step ([`release_time`]).
//!
//! Formulas: docs/metrics.md.

use crate::outcome::COVERAGE_LEVELS;
use crate::problem::{Problem, Role};
use crate::solver::{Engine, SolverError};
use serde::{Deserialize, Serialize};

/// Where each target's values sit in the gathered values; derived from the problem, never saved.
#[derive(Clone, Debug)]
pub struct ExposurePlan {
    /// Indices into the engine's field ([`Engine::read_field`] layout) to gather after a step.
    indices: Vec<u32>,
    targets: Vec<PlanTarget>,
    /// Per species: the gathered range of its free values in the depot cells, and of its bound
    /// values there.
    depot: Vec<(std::ops::Range<usize>, Option<std::ops::Range<usize>>)>,
    thresholds: Vec<Option<f64>>,
    ceilings: Vec<Option<f64>>,
    cell_volume: f64,
}

#[derive(Clone, Debug)]
struct PlanTarget {
    /// Gathered range of each species' free values over the target's cells.
    free: Vec<std::ops::Range<usize>>,
    bound: Vec<Option<std::ops::Range<usize>>>,
    /// Depth layer of each cell (0 = the layer nearest the depot).
    layer: Vec<u32>,
    layers: usize,
    /// Cells in each layer.
    layer_cells: Vec<u32>,
}

impl ExposurePlan {
    pub fn new(problem: &Problem) -> ExposurePlan {
        let n = problem.grid.n_cells() as u32;
        let ns = problem.species.len();
        let bound = problem.bound_species();
        let bound_of = |s: usize| bound.iter().position(|&b| b == s).map(|b| (ns + b) as u32 * n);
        let mut indices: Vec<u32> = Vec::new();
        let push = |cells: &[u32], base: u32, indices: &mut Vec<u32>| {
            let start = indices.len();
            indices.extend(cells.iter().map(|&c| base + c));
            start..indices.len()
        };
        let depot_cells: Vec<u32> = (0..n)
            .filter(|&c| problem.materials[problem.material_id[c as usize] as usize].role == Role::Depot)
            .collect();
        let depot = (0..ns)
            .map(|s| {
                let free = push(&depot_cells, s as u32 * n, &mut indices);
                (free, bound_of(s).map(|b| push(&depot_cells, b, &mut indices)))
            })
            .collect();
        let axis = problem.metrics.depth_axis;
        let stride = [1, problem.grid.cells[0], problem.grid.cells[0] * problem.grid.cells[1]][axis];
        let coord = |c: u32| (c as usize / stride) % problem.grid.cells[axis];
        let depot_mean = (!depot_cells.is_empty())
            .then(|| depot_cells.iter().map(|&c| coord(c) as f64).sum::<f64>() / depot_cells.len() as f64);
        let targets = problem
            .metrics
            .targets
            .iter()
            .map(|t| {
                let free = (0..ns).map(|s| push(&t.cells, s as u32 * n, &mut indices)).collect();
                let bound = (0..ns).map(|s| bound_of(s).map(|b| push(&t.cells, b, &mut indices))).collect();
                let lo = t.cells.iter().map(|&c| coord(c)).min().unwrap_or(0);
                let hi = t.cells.iter().map(|&c| coord(c)).max().unwrap_or(0);
                let mean = t.cells.iter().map(|&c| coord(c) as f64).sum::<f64>() / t.cells.len().max(1) as f64;
                // Depth runs away from the depot; without a depot, down from the top of the axis.
                let from_high = depot_mean.is_none_or(|d| d >= mean);
                let layer =
                    t.cells.iter().map(|&c| if from_high { hi - coord(c) } else { coord(c) - lo } as u32).collect();
                let layer: Vec<u32> = layer;
                let mut layer_cells = vec![0u32; hi - lo + 1];
                for &l in &layer {
                    layer_cells[l as usize] += 1;
                }
                PlanTarget { free, bound, layer, layers: hi - lo + 1, layer_cells }
            })
            .collect();
        ExposurePlan {
            indices,
            targets,
            depot,
            thresholds: problem.species.iter().map(|s| s.bioactive_threshold).collect(),
            ceilings: problem.species.iter().map(|s| s.bioactive_ceiling).collect(),
            cell_volume: problem.grid.cell_volume(),
        }
    }

    /// The indices of the engine's field ([`Engine::read_field`] layout) an observation takes.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Whether there is anything to take after each step.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// One target region and species, as the run goes. Serialises with the run's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub target: usize,
    pub species: usize,
    /// The mean free concentration of each depth layer at the last observation.
    last_layers: Vec<f64>,
    /// ∫ (layer mean) dt of each depth layer (species unit × s).
    pub layer_integral: Vec<f64>,
    pub last_mean_free: f64,
    pub last_mean_bound: f64,
    pub last_peak_free: f64,
    pub last_peak_bound: f64,
    pub last_coverage: f64,
    /// ∫ mean dt (species unit × s).
    pub auc_free: f64,
    pub auc_bound: f64,
    /// ∫ coverage dt (s).
    pub coverage_integral: f64,
    pub peak_free: f64,
    pub peak_free_time: f64,
    pub peak_bound: f64,
    /// Time the mean free concentration is at or above the threshold (s).
    pub above: f64,
    /// Time it is inside `[threshold, ceiling]` (s).
    pub in_window: f64,
    /// Time the coverage is at or above each of [`COVERAGE_LEVELS`] (s).
    pub covered: Vec<f64>,
}

/// The values of every target at one output time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub t: f64,
    pub item: usize,
    pub mean_free: f64,
    pub peak_free: f64,
    pub mean_bound: Option<f64>,
    pub peak_bound: Option<f64>,
    pub coverage: Option<f64>,
}

/// The exposure taken so far; part of the run's resumable state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// Time of the last observation, s.
    pub t: f64,
    pub items: Vec<Item>,
    /// (t s, amount of each species in the depot, free + bound), after every step and after
    /// every event.
    pub depot: Vec<(f64, Vec<f64>)>,
    pub rows: Vec<Row>,
}

/// The length of time inside `[lo, hi]` of a value going linearly from `f0` to `f1` over `dt`.
pub fn time_in(f0: f64, f1: f64, lo: f64, hi: f64, dt: f64) -> f64 {
    if f1 == f0 {
        return if lo <= f0 && f0 <= hi { dt } else { 0.0 };
    }
    let (a, b) = ((lo - f0) / (f1 - f0), (hi - f0) / (f1 - f0));
    let (s0, s1) = (a.min(b).max(0.0), a.max(b).min(1.0));
    (s1 - s0).max(0.0) * dt
}

impl Exposure {
    /// The exposure at t = 0 (or after `t`), from the engine's current field.
    pub fn start(plan: &ExposurePlan, engine: &mut dyn Engine, t: f64) -> Result<Self, SolverError> {
        let mut exposure = Self::empty(plan, t);
        exposure.observe(plan, engine, t, false)?;
        Ok(exposure)
    }

    /// The exposure before any observation.
    pub fn empty(plan: &ExposurePlan, t: f64) -> Self {
        let mut items = Vec::new();
        for (target, pt) in plan.targets.iter().enumerate() {
            for species in 0..pt.free.len() {
                items.push(Item {
                    target,
                    species,
                    last_layers: vec![0.0; pt.layers],
                    layer_integral: vec![0.0; pt.layers],
                    covered: vec![0.0; COVERAGE_LEVELS.len()],
                    ..Default::default()
                });
            }
        }
        Exposure { t, items, depot: Vec::new(), rows: Vec::new() }
    }

    /// Takes the field at `t`: integrates from the last observation when `integrate` (an accepted
    /// step), or starts again from it (after an event changed the field).
    pub fn observe(
        &mut self,
        plan: &ExposurePlan,
        engine: &mut dyn Engine,
        t: f64,
        integrate: bool,
    ) -> Result<(), SolverError> {
        if plan.is_empty() {
            self.t = t;
            return Ok(());
        }
        let values = engine.gather(&plan.indices)?;
        self.observe_values(plan, &values, t, integrate);
        Ok(())
    }

    /// [`Exposure::observe`] of the values at [`ExposurePlan::indices`], gathered by the caller.
    pub fn observe_values(&mut self, plan: &ExposurePlan, values: &[f32], t: f64, integrate: bool) {
        let dt = if integrate { t - self.t } else { 0.0 };
        let sum = |r: &std::ops::Range<usize>| values[r.clone()].iter().map(|&v| v as f64).sum::<f64>();
        self.depot.push((
            t,
            plan.depot.iter().map(|(f, b)| (sum(f) + b.as_ref().map_or(0.0, sum)) * plan.cell_volume).collect(),
        ));
        self.items.iter_mut().for_each(|item| {
            let pt = &plan.targets[item.target];
            let free = &values[pt.free[item.species].clone()];
            let threshold = plan.thresholds[item.species];
            let th = threshold.unwrap_or(f64::INFINITY) as f32;
            // One pass: sum, peak, cells at or above the threshold, sums per depth layer.
            let (mut sum, mut peak, mut above) = (0.0f64, f32::NEG_INFINITY, 0usize);
            let mut layers = vec![0.0f64; pt.layers];
            for (&v, &l) in free.iter().zip(&pt.layer) {
                sum += v as f64;
                peak = peak.max(v);
                above += (v >= th) as usize;
                layers[l as usize] += v as f64;
            }
            for (x, &n) in layers.iter_mut().zip(&pt.layer_cells) {
                *x /= n.max(1) as f64;
            }
            let n = free.len().max(1) as f64;
            let (mean_free, peak_free) = (sum / n, peak as f64);
            let (mean_bound, peak_bound) = match &pt.bound[item.species] {
                Some(r) => {
                    let b = &values[r.clone()];
                    (
                        b.iter().map(|&v| v as f64).sum::<f64>() / n,
                        b.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64,
                    )
                }
                None => (0.0, 0.0),
            };
            let coverage = if threshold.is_some() { above as f64 / n } else { 0.0 };
            if dt > 0.0 {
                item.auc_free += 0.5 * dt * (item.last_mean_free + mean_free);
                item.auc_bound += 0.5 * dt * (item.last_mean_bound + mean_bound);
                item.coverage_integral += 0.5 * dt * (item.last_coverage + coverage);
                for ((acc, &old), &new) in item.layer_integral.iter_mut().zip(&item.last_layers).zip(&layers) {
                    *acc += 0.5 * dt * (old + new);
                }
                if let Some(th) = threshold {
                    let ceiling = plan.ceilings[item.species].unwrap_or(f64::INFINITY);
                    item.above += time_in(item.last_mean_free, mean_free, th, f64::INFINITY, dt);
                    item.in_window += time_in(item.last_mean_free, mean_free, th, ceiling, dt);
                    for (acc, level) in item.covered.iter_mut().zip(COVERAGE_LEVELS) {
                        *acc += time_in(item.last_coverage, coverage, level as f64 / 100.0, f64::INFINITY, dt);
                    }
                }
            }
            if peak_free > item.peak_free {
                item.peak_free = peak_free;
                item.peak_free_time = t;
            }
            item.peak_bound = item.peak_bound.max(peak_bound);
            item.last_layers = layers;
            item.last_mean_free = mean_free;
            item.last_mean_bound = mean_bound;
            item.last_peak_free = peak_free;
            item.last_peak_bound = peak_bound;
            item.last_coverage = coverage;
        });
        self.t = t;
    }

    /// Records the values of the last observation as the output at `t`.
    pub fn record_output(&mut self, plan: &ExposurePlan, problem: &Problem, t: f64) {
        let bound = problem.bound_species();
        for (i, item) in self.items.iter().enumerate() {
            let binds = bound.contains(&item.species);
            self.rows.push(Row {
                t,
                item: i,
                mean_free: item.last_mean_free,
                peak_free: item.last_peak_free,
                mean_bound: binds.then_some(item.last_mean_bound),
                peak_bound: binds.then_some(item.last_peak_bound),
                coverage: plan.thresholds[item.species].map(|_| item.last_coverage),
            });
        }
    }

    /// The depot content of species `s` over time: (t s, amount).
    pub fn depot_series(&self, s: usize) -> Vec<(f64, f64)> {
        self.depot.iter().map(|(t, a)| (*t, a[s])).collect()
    }
}

/// The penetration depth (m) of a time-averaged depth profile `average` (per depth layer, 0
/// nearest the depot, the region's mean; layers with no cells of the region left out by
/// `cells`): the depth where it falls below `threshold`, linear between layer centres
/// (`(k + ½)·h`). `(0, false)` when the first layer is already below; `(region depth, true)` when
/// no layer is.
pub fn penetration(average: &[f64], cells: &[u32], h: f64, threshold: f64) -> (f64, bool) {
    let layers = average.len();
    let profile: Vec<(f64, f64)> =
        (0..layers).filter(|&k| cells[k] > 0).map(|k| ((k as f64 + 0.5) * h, average[k])).collect();
    let Some(&(_, first)) = profile.first() else { return (0.0, false) };
    if first < threshold {
        return (0.0, false);
    }
    for w in profile.windows(2) {
        let ((d0, p0), (d1, p1)) = (w[0], w[1]);
        if p1 < threshold {
            return (d0 + (d1 - d0) * (p0 - threshold) / (p0 - p1), false);
        }
    }
    (layers as f64 * h, true)
}

/// The time (s) the release curve reaches `fraction` of `put_in`, placed within the step: inside
/// the output interval where the books' curve `outputs` (t, released) crosses, the released
/// amount follows the depot content after every step, `R(tₖ) + D(tₖ) − D(t)`, plus the part of
/// the interval's release the depot content does not show (losses inside the depot, removed
/// dressings) spread linearly over the interval; linear between the output times where the
/// interval holds a dose or the depot series has no points. `None` if the curve never reaches it.
pub fn release_time(
    outputs: &[(f64, f64)],
    depot: &[(f64, f64)],
    put_in: f64,
    fraction: f64,
    dose_times: &[f64],
) -> Option<f64> {
    if put_in <= 0.0 {
        return None;
    }
    let target = fraction * put_in;
    let k = outputs.windows(2).position(|w| w[0].1 < target && w[1].1 >= target)?;
    let ((t0, r0), (t1, r1)) = (outputs[k], outputs[k + 1]);
    let linear = t0 + (t1 - t0) * (target - r0) / (r1 - r0);
    if dose_times.iter().any(|&d| d > t0 && d <= t1) {
        return Some(linear);
    }
    // The depot after any event at t0, up to t1.
    let first = depot.iter().rposition(|p| p.0 == t0);
    let last = depot.iter().position(|p| p.0 == t1);
    let (Some(a), Some(b)) = (first, last) else { return Some(linear) };
    if b <= a {
        return Some(linear);
    }
    let points = &depot[a..=b];
    let (d0, d1) = (points[0].1, points[points.len() - 1].1);
    let unseen = (r1 - r0) - (d0 - d1);
    let released = |(t, d): (f64, f64)| r0 + (d0 - d) + unseen * (t - t0) / (t1 - t0);
    for w in points.windows(2) {
        let (ta, ra) = (w[0].0, released(w[0]));
        let (tb, rb) = (w[1].0, released(w[1]));
        if ra < target && rb >= target {
            return Some(ta + (tb - ta) * (target - ra) / (rb - ra));
        }
    }
    Some(linear)
}

/// What `summary.json` says of one target region and species.
#[derive(Clone, Debug, Serialize)]
pub struct TargetSummary {
    pub region: String,
    pub cells: usize,
    pub species: String,
    pub unit: String,
    /// The threshold (species unit) and where it comes from; `null` when the species has none.
    pub threshold: Option<ThresholdEcho>,
    pub ceiling: Option<f64>,
    pub mean_free_time_avg: f64,
    pub peak_free: f64,
    pub peak_free_time_h: f64,
    pub auc_free: f64,
    pub mean_bound_time_avg: Option<f64>,
    pub peak_bound: Option<f64>,
    pub auc_bound: Option<f64>,
    /// `unit × h`.
    pub auc_unit: String,
    pub coverage_time_avg: Option<f64>,
    pub coverage_final: Option<f64>,
    pub time_above_threshold_h: Option<f64>,
    pub time_in_window_h: Option<f64>,
    /// Time at least L % of the region is above the threshold, h, for each L of
    /// [`COVERAGE_LEVELS`].
    pub time_covered_h: Option<std::collections::BTreeMap<String, f64>>,
    pub penetration_depth_mm: Option<f64>,
    /// The time-averaged concentration stays above the threshold through the whole region: the
    /// depth given is the region's.
    pub penetration_beyond_region: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ThresholdEcho {
    pub value: f64,
    pub source: String,
    /// `verified`, `unverified` or `estimate` for a library value; absent for the scenario's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mark: Option<&'static str>,
}

/// The `exposure` block of `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ExposureSummary {
    /// `x`, `y` or `z`.
    pub depth_axis: &'static str,
    /// Time the averages are taken over, h.
    pub duration_h: f64,
    pub targets: Vec<TargetSummary>,
}

impl Exposure {
    /// The summary of the exposure from t = 0 to the last observation.
    pub fn summary(&self, plan: &ExposurePlan, problem: &Problem) -> ExposureSummary {
        let duration = self.t;
        let per_time = |x: f64| if duration > 0.0 { x / duration } else { 0.0 };
        let bound = problem.bound_species();
        let axis = problem.metrics.depth_axis;
        let h = problem.grid.spacing[axis];
        let targets = self
            .items
            .iter()
            .map(|item| {
                let species = &problem.species[item.species];
                let target = &problem.metrics.targets[item.target];
                let pt = &plan.targets[item.target];
                let threshold = species.bioactive_threshold;
                let binds = bound.contains(&item.species);
                let averages: Vec<f64> = item.layer_integral.iter().map(|&x| per_time(x)).collect();
                let depth = threshold.map(|th| penetration(&averages, &pt.layer_cells, h, th));
                let (source, mark) = crate::scenario::threshold::threshold_source(species);
                TargetSummary {
                    region: target.name.clone(),
                    cells: target.cells.len(),
                    species: species.name.clone(),
                    unit: species.unit.text.clone(),
                    threshold: threshold.map(|value| ThresholdEcho {
                        value,
                        source: source.clone(),
                        mark: mark.map(|m| m.name()),
                    }),
                    ceiling: species.bioactive_ceiling,
                    mean_free_time_avg: per_time(item.auc_free),
                    peak_free: item.peak_free,
                    peak_free_time_h: item.peak_free_time / 3600.0,
                    auc_free: item.auc_free / 3600.0,
                    mean_bound_time_avg: binds.then(|| per_time(item.auc_bound)),
                    peak_bound: binds.then_some(item.peak_bound),
                    auc_bound: binds.then(|| item.auc_bound / 3600.0),
                    auc_unit: format!("{} h", species.unit.text),
                    coverage_time_avg: threshold.map(|_| per_time(item.coverage_integral)),
                    coverage_final: threshold.map(|_| item.last_coverage),
                    time_above_threshold_h: threshold.map(|_| item.above / 3600.0),
                    time_in_window_h: threshold.map(|_| item.in_window / 3600.0),
                    time_covered_h: threshold.map(|_| {
                        COVERAGE_LEVELS.iter().zip(&item.covered).map(|(l, x)| (l.to_string(), x / 3600.0)).collect()
                    }),
                    penetration_depth_mm: depth.map(|d| d.0 * 1e3),
                    penetration_beyond_region: depth.map(|d| d.1),
                }
            })
            .collect();
        ExposureSummary { depth_axis: ["x", "y", "z"][axis], duration_h: duration / 3600.0, targets }
    }

    /// `exposure.csv`: one row per output time, target region and species.
    pub fn csv(&self, problem: &Problem) -> String {
        let mut out = String::from(EXPOSURE_HEADER);
        let opt = |x: Option<f64>| x.map(|v| format!("{v:e}")).unwrap_or_default();
        for row in &self.rows {
            let item = &self.items[row.item];
            let species = &problem.species[item.species];
            out.push_str(&format!(
                "{},{},{},{},{},{:e},{:e},{},{},{},{}\n",
                row.t,
                row.t / 3600.0,
                problem.metrics.targets[item.target].name,
                species.name,
                species.unit.text,
                row.mean_free,
                row.peak_free,
                opt(row.mean_bound),
                opt(row.peak_bound),
                opt(row.coverage),
                opt(species.bioactive_threshold),
            ));
        }
        out
    }
}

/// The columns of `exposure.csv` (README).
pub const EXPOSURE_HEADER: &str =
    "time_s,time_h,region,species,unit,mean_free,peak_free,mean_bound,peak_bound,coverage,threshold\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_inside_a_window_of_a_linear_value() {
        assert_eq!(time_in(0.0, 10.0, 5.0, f64::INFINITY, 2.0), 1.0);
        assert_eq!(time_in(10.0, 0.0, 5.0, f64::INFINITY, 2.0), 1.0);
        assert_eq!(time_in(0.0, 10.0, 2.0, 4.0, 10.0), 2.0);
        assert_eq!(time_in(3.0, 3.0, 2.0, 4.0, 10.0), 10.0);
        assert_eq!(time_in(5.0, 5.0, 6.0, 7.0, 10.0), 0.0);
    }

    #[test]
    fn penetration_of_a_linear_profile_is_exact() {
        // Layers of 1 m, profile 12 − 2·d at the centres (11, 9, …, 1): falls below 4 at d = 4.
        let avg: Vec<f64> = (0..6).map(|k| 12.0 - 2.0 * (k as f64 + 0.5)).collect();
        let cells = [2u32; 6];
        let (d, beyond) = penetration(&avg, &cells, 1.0, 4.0);
        assert!((d - 4.0).abs() < 1e-12 && !beyond, "{d}");
        assert_eq!(penetration(&avg, &cells, 1.0, 0.5), (6.0, true));
        assert_eq!(penetration(&avg, &cells, 1.0, 20.0), (0.0, false));
    }

    #[test]
    fn release_time_follows_the_depot_inside_the_interval() {
        // Released by the books 0 at t = 0 and 10 at t = 10; the depot (put in 20) empties at a
        // rate that puts half of it out by t = 2: the crossing of 5 released is at t = 1.
        let outputs = [(0.0, 0.0), (10.0, 10.0)];
        let depot: Vec<(f64, f64)> = (0..=10)
            .map(|i| (i as f64, 20.0 - if i <= 2 { 2.5 * i as f64 } else { 5.0 + (i - 2) as f64 * 0.625 }))
            .collect();
        let t = release_time(&outputs, &depot, 20.0, 0.25, &[]).unwrap();
        assert!((t - 2.0).abs() < 1e-12, "{t}");
        // With a dose inside the interval: linear between the outputs.
        assert_eq!(release_time(&outputs, &depot, 20.0, 0.25, &[5.0]), Some(5.0));
    }
}
