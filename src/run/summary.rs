//! The contents of `summary.json`.

use super::BALANCE_BOUND;
use super::books::{Books, time_to_fraction};
use super::control::{StepPlan, StepStats, Stepping};
use crate::problem::{FACE_NAMES, Problem, Role};
use crate::solver::{Channel, EngineInfo};
use serde::Serialize;

/// Contents of `summary.json`.
#[derive(Serialize)]
pub struct Summary {
    pub complete: bool,
    /// Why the run is not complete, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The largest relative balance error a run accepts ([`BALANCE_BOUND`]).
    pub balance_bound: f64,
    pub scenario: ScenarioEcho,
    pub engine: EngineEcho,
    pub grid: GridEcho,
    pub time: TimeEcho,
    pub wall_time_s: f64,
    pub species: Vec<SpeciesBooks>,
    pub materials_file: String,
    pub snapshots: Vec<SnapshotEntry>,
    /// The ParaView files (`.vti` per snapshot time, `.pvd` collection); absent with `--no-vtk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vtk: Option<super::vtk::VtkEcho>,
    /// Exposure of the target regions (docs/metrics.md); absent without target regions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposure: Option<super::exposure::ExposureSummary>,
    /// What the design uses: conditioned medium and the amount of each species put in.
    pub cost: CostEcho,
}

/// The cost side of a design.
#[derive(Serialize)]
pub struct CostEcho {
    /// Conditioned medium over every fill (t = 0 and each dose), mL of 1x CM: the filled volume
    /// times the CM multiple it holds (`[depot] loading`; a dose with its own `load` counts at the
    /// multiple its loading bears to the depot's). `null` when the depot is not loaded as CM.
    pub cm_used_ml: Option<f64>,
    /// Fills counted (t = 0 and each dose).
    pub fills: usize,
    /// Per species: the amount put in at t = 0 and by every dose, in its amount unit.
    pub loaded: Vec<LoadedEcho>,
}

#[derive(Serialize)]
pub struct LoadedEcho {
    pub species: String,
    pub amount: f64,
    pub amount_unit: String,
}

/// mL of 1x CM over every fill, if the depot is loaded as CM.
pub fn cm_used_ml(problem: &Problem) -> Option<f64> {
    let cm = problem.metrics.cm.as_ref()?;
    let counts = problem.material_cell_counts();
    let volume = problem.grid.cell_volume();
    let first: f64 = cm.materials.iter().map(|&m| counts[m] as f64).sum::<f64>() * volume * cm.multiple;
    let m0 = *cm.materials.first()?;
    let doses: f64 = problem
        .timeline
        .doses
        .iter()
        .map(|d| {
            let ratio = problem
                .species
                .iter()
                .enumerate()
                .filter(|(_, sp)| sp.initial[m0] > 0.0)
                .map(|(s, sp)| d.load[s][m0] / sp.initial[m0])
                .fold(0.0f64, f64::max);
            d.cells.len() as f64 * volume * cm.multiple * ratio
        })
        .sum();
    Some((first + doses) * 1e6)
}

#[derive(Serialize)]
pub struct ScenarioEcho {
    pub name: String,
    pub materials: Vec<MaterialEcho>,
    /// Named regions (the scenario's `[[region]]` shapes) and their cell counts.
    pub regions: Vec<RegionEcho>,
    pub species: Vec<SpeciesEcho>,
    /// Site pools: total site density per material, mol/m³.
    pub pools: Vec<PoolEcho>,
    /// Local reaction terms, in SI (k_on m³/(mol·s), rates 1/s, V_max and K_m in the species'
    /// unit per s and unit).
    pub reactions: Vec<serde_json::Value>,
    /// Doses after t = 0: time, region, mode and loading per species (species unit).
    pub doses: Vec<serde_json::Value>,
    /// Degrading materials: how the diffusivity and the sites change, and the update interval.
    pub degradation: Vec<serde_json::Value>,
}

#[derive(Serialize)]
pub struct PoolEcho {
    pub name: String,
    pub density_mol_per_m3: std::collections::BTreeMap<String, f64>,
}

#[derive(Serialize)]
pub struct RegionEcho {
    pub name: String,
    pub cells: usize,
}

#[derive(Serialize)]
pub struct MaterialEcho {
    pub id: usize,
    pub name: String,
    pub role: &'static str,
    pub cells: usize,
}

#[derive(Serialize)]
pub struct SpeciesEcho {
    pub name: String,
    pub concentration_unit: String,
    pub concentration_unit_si: f64,
    pub amount_unit: String,
    pub diffusivity_m2_per_s: std::collections::BTreeMap<String, f64>,
    pub decay_rate_per_s: std::collections::BTreeMap<String, f64>,
    pub clearance_rate_per_s: std::collections::BTreeMap<String, f64>,
    pub uptake_rate_per_s: std::collections::BTreeMap<String, f64>,
    pub initial_concentration: std::collections::BTreeMap<String, f64>,
    /// `total` (free + bound, split at equilibrium) or `free`.
    pub initial_form: &'static str,
    pub boundaries: std::collections::BTreeMap<String, BoundaryEcho>,
    /// Values the scenario took from the factor library, a CM composition or a mesh model, each
    /// with its source and confidence mark; empty when the scenario wrote every value.
    pub sources: Vec<SourceEcho>,
}

/// One value's provenance ([`crate::problem::ValueSource`]).
#[derive(Serialize)]
pub struct SourceEcho {
    /// The species' key it fills (`decay.gel`).
    pub key: String,
    pub value: String,
    pub source: String,
    /// `verified`, `unverified`, `estimate` or `measured`.
    pub mark: &'static str,
}

#[derive(Serialize)]
pub struct BoundaryEcho {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_m_per_s: Option<f64>,
}

#[derive(Serialize)]
pub struct EngineEcho {
    pub backend: String,
    pub device: String,
    pub precision: String,
}

#[derive(Serialize)]
pub struct GridEcho {
    pub dimension: usize,
    pub cells: [usize; 3],
    pub spacing_m: [f64; 3],
    pub extent_m: [f64; 3],
    pub total_cells: usize,
    /// Layout of every `.npy` field.
    pub array_layout: &'static str,
}

#[derive(Serialize)]
pub struct TimeEcho {
    pub scheme: &'static str,
    /// `fixed` or `adaptive`.
    pub step_control: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    pub end_s: f64,
    pub stability_limit_s: f64,
    #[serde(flatten)]
    pub stats: StepStats,
    pub output_times_s: Vec<f64>,
}

#[derive(Serialize)]
pub struct SpeciesBooks {
    pub name: String,
    pub amount_unit: String,
    pub initial: f64,
    pub initial_per_material: std::collections::BTreeMap<String, f64>,
    /// Free amount present at the end.
    pub present: f64,
    pub present_per_material: std::collections::BTreeMap<String, f64>,
    /// Bound amount present at the end.
    pub bound: f64,
    pub bound_per_material: std::collections::BTreeMap<String, f64>,
    /// Cumulative amount of every book channel (decayed, cleared, taken_up, converted_out,
    /// converted_in), in total and per material.
    pub channels: std::collections::BTreeMap<&'static str, ChannelBooks>,
    pub outflow: f64,
    pub outflow_per_face: std::collections::BTreeMap<String, f64>,
    /// Amount brought by the doses after t = 0.
    pub added: f64,
    pub added_per_material: std::collections::BTreeMap<String, f64>,
    /// Amount taken away with old dressings when a dose replaced them.
    pub removed_with_dressing: f64,
    pub removed_with_dressing_per_material: std::collections::BTreeMap<String, f64>,
    /// |initial + added − present − bound − decayed − cleared − taken_up − converted_out +
    /// converted_in − outflow − removed_with_dressing| / (initial + added).
    pub relative_balance_error: f64,
    pub released_from_depot: f64,
    pub released_percent: f64,
    pub time_to_50_percent_release_h: Option<f64>,
    pub time_to_90_percent_release_h: Option<f64>,
    /// Burst fraction and the Korsmeyer–Peppas and Higuchi fits of the release curve
    /// (docs/metrics.md).
    pub release_metrics: crate::metrics::ReleaseMetrics,
}

#[derive(Serialize)]
pub struct ChannelBooks {
    pub total: f64,
    pub per_material: std::collections::BTreeMap<String, f64>,
}

#[derive(Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct SnapshotEntry {
    pub time_s: f64,
    pub time_h: f64,
    pub species: String,
    /// `free` or `bound`.
    pub form: String,
    pub unit: String,
    pub file: String,
}

impl Summary {
    pub fn new(
        problem: &Problem,
        plan: &StepPlan,
        stats: &StepStats,
        info: &EngineInfo,
        books: &Books,
        exposure: Option<(&super::exposure::Exposure, &super::exposure::ExposurePlan)>,
        snapshots: Vec<SnapshotEntry>,
        wall: f64,
    ) -> Self {
        let dose_times: Vec<f64> = problem.timeline.doses.iter().map(|d| d.time).collect();
        let counts = problem.material_cell_counts();
        let names: Vec<&str> = problem.materials.iter().map(|m| m.name.as_str()).collect();
        let per_material = |v: &[f64]| names.iter().zip(v).map(|(n, x)| (n.to_string(), *x)).collect();
        let species = problem
            .species
            .iter()
            .enumerate()
            .map(|(s, sp)| {
                let initial: f64 = books.initial[s].iter().sum();
                let present: f64 = books.present[s].iter().sum();
                let bound: f64 = books.bound[s].iter().sum();
                let outflow: f64 = books.outflow[s].iter().sum();
                let channels = Channel::ALL
                    .iter()
                    .map(|&c| {
                        let per = &books.channels[s][c as usize];
                        (c.name(), ChannelBooks { total: per.iter().sum(), per_material: per_material(per) })
                    })
                    .collect();
                let (released, depot_initial) = books.released(problem, s);
                let curve = &books.release_curve[s];
                // Placed within the step from the depot content after every step, where taken.
                let hours = |f| {
                    match exposure {
                        Some((e, _)) if !e.depot.is_empty() => {
                            super::exposure::release_time(curve, &e.depot_series(s), depot_initial, f, &dose_times)
                        }
                        _ => time_to_fraction(curve, depot_initial, f),
                    }
                    .map(|t| t / 3600.0)
                };
                SpeciesBooks {
                    name: sp.name.clone(),
                    amount_unit: sp.unit.amount_text.clone(),
                    initial,
                    initial_per_material: per_material(&books.initial[s]),
                    present,
                    present_per_material: per_material(&books.present[s]),
                    bound,
                    bound_per_material: per_material(&books.bound[s]),
                    channels,
                    outflow,
                    outflow_per_face: FACE_NAMES
                        .iter()
                        .zip(books.outflow[s])
                        .map(|(f, x)| (f.to_string(), x))
                        .collect(),
                    added: books.dosed(s).0,
                    added_per_material: per_material(&books.added[s]),
                    removed_with_dressing: books.dosed(s).1,
                    removed_with_dressing_per_material: per_material(&books.removed[s]),
                    relative_balance_error: books.balance_error(s),
                    released_from_depot: released,
                    released_percent: if depot_initial > 0.0 { 100.0 * released / depot_initial } else { 0.0 },
                    time_to_50_percent_release_h: hours(0.5),
                    time_to_90_percent_release_h: hours(0.9),
                    release_metrics: crate::metrics::release_metrics(
                        curve,
                        problem
                            .materials
                            .iter()
                            .enumerate()
                            .filter(|(_, m)| m.role == Role::Depot)
                            .map(|(m, _)| books.initial[s][m])
                            .sum(),
                        &problem.metrics,
                        problem.timeline.doses.first().map(|d| d.time),
                    ),
                }
            })
            .collect();
        let scenario = ScenarioEcho {
            name: problem.name.clone(),
            materials: problem
                .materials
                .iter()
                .enumerate()
                .map(|(id, m)| MaterialEcho {
                    id,
                    name: m.name.clone(),
                    role: match m.role {
                        Role::Depot => "depot",
                        Role::Tissue => "tissue",
                    },
                    cells: counts[id],
                })
                .collect(),
            regions: problem
                .regions
                .iter()
                .map(|r| RegionEcho { name: r.name.clone(), cells: r.cells.len() })
                .collect(),
            pools: problem
                .pools
                .iter()
                .map(|p| PoolEcho { name: p.name.clone(), density_mol_per_m3: per_material(&p.density) })
                .collect(),
            reactions: problem.reactions.iter().map(|r| reaction_echo(problem, r)).collect(),
            doses: problem.timeline.doses.iter().map(|d| dose_echo(problem, d)).collect(),
            degradation: problem.timeline.degradation.iter().map(|d| degradation_echo(problem, d)).collect(),
            species: problem
                .species
                .iter()
                .map(|sp| SpeciesEcho {
                    name: sp.name.clone(),
                    concentration_unit: sp.unit.text.clone(),
                    concentration_unit_si: sp.unit.si,
                    amount_unit: sp.unit.amount_text.clone(),
                    diffusivity_m2_per_s: per_material(&sp.diffusivity),
                    decay_rate_per_s: per_material(&sp.decay_rate),
                    clearance_rate_per_s: per_material(&sp.clearance_rate),
                    uptake_rate_per_s: per_material(&sp.uptake_rate),
                    initial_concentration: per_material(&sp.initial),
                    initial_form: if sp.initial_is_total { "total" } else { "free" },
                    boundaries: FACE_NAMES
                        .iter()
                        .zip(&sp.boundaries)
                        .map(|(f, b)| {
                            use crate::problem::Boundary::*;
                            let (value, rate_m_per_s) = match *b {
                                NoFlux => (None, None),
                                Fixed { value } => (Some(value), None),
                                Clearance { rate, value } => (Some(value), Some(rate)),
                            };
                            (f.to_string(), BoundaryEcho { kind: b.kind_name(), value, rate_m_per_s })
                        })
                        .collect(),
                    sources: sp
                        .sources
                        .iter()
                        .map(|v| SourceEcho {
                            key: v.key.clone(),
                            value: v.value.clone(),
                            source: v.source.clone(),
                            mark: v.mark.name(),
                        })
                        .collect(),
                })
                .collect(),
        };
        Summary {
            complete: true,
            error: None,
            balance_bound: BALANCE_BOUND,
            scenario,
            engine: EngineEcho {
                backend: info.backend.clone(),
                device: info.device.clone(),
                precision: info.precision.clone(),
            },
            grid: GridEcho {
                dimension: problem.grid.dimension(),
                cells: problem.grid.cells,
                spacing_m: problem.grid.spacing,
                extent_m: problem.grid.extent(),
                total_cells: problem.grid.n_cells(),
                array_layout: "float32 (materials: uint32), C order, shape [nz, ny, nx], x fastest",
            },
            time: TimeEcho {
                scheme: problem.schedule.scheme.name(),
                step_control: match plan.stepping {
                    Stepping::Fixed(_) => "fixed",
                    Stepping::Adaptive { .. } => "adaptive",
                },
                tolerance: match plan.stepping {
                    Stepping::Fixed(_) => None,
                    Stepping::Adaptive { tolerance, .. } => Some(tolerance),
                },
                end_s: problem.schedule.end,
                stability_limit_s: plan.limit,
                stats: stats.clone(),
                output_times_s: problem.schedule.output_times.clone(),
            },
            wall_time_s: wall,
            species,
            materials_file: "fields/materials.npy".into(),
            snapshots,
            vtk: None,
            exposure: exposure.filter(|(e, _)| !e.items.is_empty()).map(|(e, plan)| e.summary(plan, problem)),
            cost: CostEcho {
                cm_used_ml: cm_used_ml(problem),
                fills: 1 + problem.timeline.doses.len(),
                loaded: problem
                    .species
                    .iter()
                    .enumerate()
                    .map(|(s, sp)| LoadedEcho {
                        species: sp.name.clone(),
                        amount: books.initial[s].iter().sum::<f64>() + books.dosed(s).0,
                        amount_unit: sp.unit.amount_text.clone(),
                    })
                    .collect(),
            },
        }
    }
}

/// One reaction term as summary.json shows it.
fn reaction_echo(problem: &Problem, r: &crate::problem::Reaction) -> serde_json::Value {
    use crate::problem::{Form, Reaction};
    let species = |s: usize| problem.species[s].name.clone();
    let material = |m: usize| problem.materials[m].name.clone();
    match *r {
        Reaction::Binding { material: m, species: s, pool, k_on, k_off } => serde_json::json!({
            "kind": "binding", "material": material(m), "species": species(s),
            "pool": problem.pools[pool].name, "k_on_m3_per_mol_s": k_on, "k_off_per_s": k_off,
            "k_d_mol_per_m3": k_off / k_on,
        }),
        Reaction::Uptake { material: m, species: s, vmax, km } => serde_json::json!({
            "kind": "uptake", "material": material(m), "species": species(s),
            "v_max_unit_per_s": vmax, "k_m_unit": km,
        }),
        Reaction::Conversion { material: m, from, form, to, rate, yield_ } => serde_json::json!({
            "kind": "conversion", "material": material(m), "from": species(from),
            "form": if form == Form::Free { "free" } else { "bound" }, "to": species(to),
            "rate_per_s": rate, "yield": yield_,
        }),
    }
}

fn dose_echo(problem: &Problem, d: &crate::problem::Dose) -> serde_json::Value {
    let load: serde_json::Map<String, serde_json::Value> = problem
        .species
        .iter()
        .zip(&d.load)
        .map(|(sp, per)| {
            let per: serde_json::Map<String, serde_json::Value> =
                problem.materials.iter().zip(per).map(|(m, v)| (m.name.clone(), serde_json::json!(v))).collect();
            (sp.name.clone(), serde_json::Value::Object(per))
        })
        .collect();
    serde_json::json!({
        "time_s": d.time,
        "time_h": d.time / 3600.0,
        "region": d.region,
        "cells": d.cells.len(),
        "mode": match d.mode { crate::problem::DoseMode::Replace => "replace", crate::problem::DoseMode::Add => "add" },
        "load_per_material": load,
    })
}

fn degradation_echo(problem: &Problem, d: &crate::problem::Degradation) -> serde_json::Value {
    use crate::problem::DiffusivityChange;
    let diffusivity = match &d.diffusivity {
        DiffusivityChange::None => serde_json::json!({ "kind": "none" }),
        DiffusivityChange::Exponential { rate, max_factor } => {
            serde_json::json!({ "kind": "exponential", "rate_per_s": rate, "max_factor": max_factor })
        }
        DiffusivityChange::Table(points) => {
            serde_json::json!({ "kind": "table", "points_s_factor": points })
        }
        DiffusivityChange::Mesh { rate, law, radius } => {
            let (model, parameters) = match law {
                crate::problem::MeshLaw::Amsden { xi0, r_f } => {
                    ("amsden", serde_json::json!({ "mesh_size_m": xi0, "fiber_radius_m": r_f }))
                }
                crate::problem::MeshLaw::Ogston { phi0, r_f } => {
                    ("ogston", serde_json::json!({ "polymer_fraction": phi0, "fiber_radius_m": r_f }))
                }
            };
            let radius: serde_json::Map<String, serde_json::Value> =
                problem.species.iter().zip(radius).map(|(s, r)| (s.name.clone(), serde_json::json!(r))).collect();
            serde_json::json!({ "kind": "mesh", "model": model, "at_start": parameters, "loosening_rate_per_s": rate,
                                "solute_radius_m": radius, "solute_radius_mark": "estimate" })
        }
    };
    serde_json::json!({
        "material": problem.materials[d.material].name,
        "diffusivity": diffusivity,
        "site_loss_rate_per_s": d.site_loss_rate,
        "update_interval_s": d.interval,
    })
}
