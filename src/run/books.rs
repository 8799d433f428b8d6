//! The running bookkeeping of a run, in f64 and each species' amount unit.

use crate::problem::{Problem, Role};
use crate::solver::{Channel, SpeciesTotals};
use serde::{Deserialize, Serialize};

/// Running bookkeeping of every species, in its amount unit (concentration unit × volume unit).
///
/// The balance of species `s`: `initial = present + bound + Σ_channel sign·channel + outflow`
/// ([`Books::balance_error`]), where the channels ([`Channel`]) are cumulative amounts removed
/// (decayed, cleared, taken up, converted out) or added (converted in) inside the domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Books {
    /// Amount unit per concentration-unit·m³, per species (1 / volume_si).
    pub to_amount: Vec<f64>,
    /// Free + bound amount at the start, per species and material.
    pub initial: Vec<Vec<f64>>,
    /// Free amount present, per species and material.
    pub present: Vec<Vec<f64>>,
    /// Bound amount present, per species and material.
    pub bound: Vec<Vec<f64>>,
    pub max: Vec<Vec<Option<f64>>>,
    pub bound_max: Vec<Vec<Option<f64>>>,
    /// Cumulative amount of each channel, `channels[species][channel][material]`.
    pub channels: Vec<[Vec<f64>; 5]>,
    pub outflow: Vec<[f64; 6]>,
    /// (time s, cumulative released from depot materials) per species.
    pub release_curve: Vec<Vec<(f64, f64)>>,
    /// Amount brought by doses after t = 0, per species and material.
    #[serde(default)]
    pub added: Vec<Vec<f64>>,
    /// Amount removed with the old dressing when a dose replaced it, per species and material.
    #[serde(default)]
    pub removed: Vec<Vec<f64>>,
    /// Times (s) of the doses applied so far.
    #[serde(default)]
    pub dose_times: Vec<f64>,
}

impl Books {
    /// Number of species booked.
    pub fn species(&self) -> usize {
        self.initial.len()
    }

    pub fn new(problem: &Problem, at_start: &[SpeciesTotals]) -> Self {
        let to_amount: Vec<f64> = problem.species.iter().map(|s| 1.0 / s.unit.volume_si).collect();
        let scale = |s: usize, v: &[f64]| v.iter().map(|x| x * to_amount[s]).collect::<Vec<_>>();
        let present: Vec<Vec<f64>> = at_start.iter().enumerate().map(|(s, t)| scale(s, &t.present)).collect();
        let bound: Vec<Vec<f64>> = at_start.iter().enumerate().map(|(s, t)| scale(s, &t.bound)).collect();
        let initial = present.iter().zip(&bound).map(|(p, b)| p.iter().zip(b).map(|(x, y)| x + y).collect()).collect();
        let nm = problem.materials.len();
        Books {
            present,
            bound,
            max: at_start.iter().map(|t| t.max.clone()).collect(),
            bound_max: at_start.iter().map(|t| t.bound_max.clone()).collect(),
            channels: vec![std::array::from_fn(|_| vec![0.0; nm]); at_start.len()],
            outflow: vec![[0.0; 6]; at_start.len()],
            release_curve: vec![Vec::new(); at_start.len()],
            added: vec![vec![0.0; nm]; at_start.len()],
            removed: vec![vec![0.0; nm]; at_start.len()],
            dose_times: Vec::new(),
            initial,
            to_amount,
        }
    }

    pub fn add(&mut self, totals: &[SpeciesTotals]) {
        for (s, t) in totals.iter().enumerate() {
            let k = self.to_amount[s];
            for m in 0..t.present.len() {
                self.present[s][m] = t.present[m] * k;
                self.bound[s][m] = t.bound[m] * k;
                for c in Channel::ALL {
                    self.channels[s][c as usize][m] += t.channel(c)[m] * k;
                }
            }
            self.max[s] = t.max.clone();
            self.bound_max[s] = t.bound_max.clone();
            for f in 0..6 {
                self.outflow[s][f] += t.outflow[f] * k;
            }
        }
    }

    /// Net amount of species `s` removed inside material `m` by every channel (removals less
    /// additions).
    pub fn removed_in(&self, s: usize, m: usize) -> f64 {
        Channel::ALL.iter().map(|&c| c.sign() * self.channels[s][c as usize][m]).sum()
    }

    /// Cumulative total of one channel of species `s` over every material.
    pub fn channel_total(&self, s: usize, c: Channel) -> f64 {
        self.channels[s][c as usize].iter().sum()
    }

    /// Amount brought in by doses and removed with old dressings, over every material.
    pub fn dosed(&self, s: usize) -> (f64, f64) {
        let sum = |v: &[Vec<f64>]| v.get(s).map_or(0.0, |x| x.iter().sum());
        (sum(&self.added), sum(&self.removed))
    }

    /// |initial + added − present − bound − Σ channels − outflow − removed with dressings|
    /// relative to the amount ever put in (initial + added; absolute when that is 0).
    pub fn balance_error(&self, s: usize) -> f64 {
        let initial: f64 = self.initial[s].iter().sum();
        let (added, dressing) = self.dosed(s);
        let held: f64 = self.present[s].iter().chain(&self.bound[s]).sum();
        let removed: f64 = (0..self.initial[s].len()).map(|m| self.removed_in(s, m)).sum();
        let outflow: f64 = self.outflow[s].iter().sum();
        let error = initial + added - held - removed - outflow - dressing;
        let put_in = initial + added;
        if put_in > 0.0 { error.abs() / put_in } else { error.abs() }
    }

    /// Amount that has left the depot materials (not counting what the channels removed inside
    /// them or the dressings took away), and the amount put into them (initial + doses).
    pub fn released(&self, problem: &Problem, s: usize) -> (f64, f64) {
        let mut put_in = 0.0;
        let mut left = 0.0;
        let of = |v: &[Vec<f64>], m: usize| v.get(s).map_or(0.0, |x| x[m]);
        for (m, mat) in problem.materials.iter().enumerate() {
            if mat.role == Role::Depot {
                let (added, dressing) = (of(&self.added, m), of(&self.removed, m));
                put_in += self.initial[s][m] + added;
                left += self.initial[s][m] + added
                    - dressing
                    - self.present[s][m]
                    - self.bound[s][m]
                    - self.removed_in(s, m);
            }
        }
        (left, put_in)
    }

    pub fn write_rows(&mut self, problem: &Problem, t: f64, rows: &mut String) {
        let counts = problem.material_cell_counts();
        let volume = problem.grid.cell_volume();
        for (s, species) in problem.species.iter().enumerate() {
            let (released, depot_initial) = self.released(problem, s);
            self.release_curve[s].push((t, released));
            let percent = if depot_initial > 0.0 { 100.0 * released / depot_initial } else { 0.0 };
            for (m, mat) in problem.materials.iter().enumerate() {
                let (free, bound) = (self.present[s][m], self.bound[s][m]);
                let amount = free + bound;
                let mean_of = |x: f64| {
                    if counts[m] > 0 { x / (self.to_amount[s] * counts[m] as f64 * volume) } else { 0.0 }
                };
                let max = self.max[s][m].map(|v| format!("{v:e}")).unwrap_or_default();
                let bound_max = self.bound_max[s][m].map(|v| format!("{v:e}")).unwrap_or_default();
                let channels: Vec<String> =
                    Channel::ALL.iter().map(|&c| format!("{:e}", self.channels[s][c as usize][m])).collect();
                let (added, dressing) =
                    (self.added.get(s).map_or(0.0, |v| v[m]), self.removed.get(s).map_or(0.0, |v| v[m]));
                rows.push_str(&format!(
                    "{},{},{},{},{:e},{:e},{},{:e},{},{},{},{:e},{:e},{:e},{:e},{},{},{:e},{:e}\n",
                    t,
                    t / 3600.0,
                    csv_field(&species.name),
                    csv_field(&mat.name),
                    amount,
                    mean_of(amount),
                    max,
                    released,
                    percent,
                    csv_field(&species.unit.text),
                    csv_field(&species.unit.amount_text),
                    free,
                    bound,
                    mean_of(free),
                    mean_of(bound),
                    bound_max,
                    channels.join(","),
                    added,
                    dressing,
                ));
            }
        }
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// First time (s) at which the release curve reaches `fraction` of `initial`, linearly
/// interpolated between output times; `None` if it never does within the run.
pub fn time_to_fraction(curve: &[(f64, f64)], initial: f64, fraction: f64) -> Option<f64> {
    if initial <= 0.0 {
        return None;
    }
    let target = fraction * initial;
    curve.windows(2).find_map(|w| {
        let ((t0, r0), (t1, r1)) = (w[0], w[1]);
        (r1 >= target && r0 < target).then(|| t0 + (t1 - t0) * (target - r0) / (r1 - r0))
    })
}
