//! Batching small cases: several cases on the same grid run as one problem, as extra species.
//!
//! Cases of a sweep that differ only in their species' own values (diffusivities, rates,
//! loadings, boundary values, binding constants, site densities) can share one run: the merged
//! problem holds every case's species side by side (case `k` of a group of `n`, with `m`
//! species each, owns species `k·m .. (k+1)·m`, named `VEGF#k`), every case's site pools (so
//! no case's species compete for another's sites) and every case's reactions with their
//! species and pool indices shifted. On the GPU the whole group is then one dispatch per step.
//!
//! Every engine advances each species by its own scheme, so with a **fixed step** (explicit or
//! ADI with `dt`) each case's species evolve exactly as in the case's own run: the fields and
//! books are the same numbers. With the explicit scheme's **automatic step** the group takes the
//! smallest stable step of its cases, and with an **adaptive step** (ADI with a tolerance) the
//! step that the most demanding case needs: every case's local error stays within the tolerance,
//! but its numbers are not those of its own run.
//!
//! After the run each case's folder is written as its own run would write it ([`split_books`],
//! [`split_exposure`], [`split_field`] take a case's part of the merged books, exposure and
//! field, and `summary.json` is built from the case's own problem), except that the engine and
//! step statistics are the group's and `summary.json` says `"batched_with"`: the indices of the
//! group's cases. A batched group writes no checkpoint: an interrupted group is run again from
//! the start. Each case's `summary.json` is written last and atomically, so a case folder
//! without it (or with `"complete": false`) is never taken for a finished case.

use super::run::{Outcome, Shard, is_complete, run_case, write_index};
use super::{Case, Sweep, SweepError};
use crate::output::{OutputDir, encode_npy};
use crate::problem::{DiffusivityChange, Problem, Reaction};
use crate::run::exposure::{Exposure, ExposurePlan};
use crate::run::sinks::{TimeseriesSink, field_shape, file_stems, format_seconds};
use crate::run::{self, BALANCE_BOUND, Books, CHECKPOINT_FILE, Driver, RunError, SnapshotEntry, Summary, vtk};
use crate::solver::{EngineFactory, EngineInfo};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether problems `a` and `b` can share one run: `Ok` when everything but the species' own
/// values is the same, otherwise what differs.
pub fn batchable(a: &Problem, b: &Problem) -> Result<(), String> {
    let differ = |what: &str| Err(format!("{what} differ"));
    if a.grid != b.grid {
        return differ("the grids");
    }
    if a.material_id != b.material_id {
        return differ("the material maps");
    }
    if a.materials != b.materials {
        return differ("the materials");
    }
    if a.regions != b.regions {
        return differ("the regions");
    }
    let (s, t) = (&a.schedule, &b.schedule);
    if s.end != t.end {
        return differ("the end times");
    }
    if s.output_times != t.output_times || s.snapshot_times != t.snapshot_times {
        return differ("the output or snapshot times");
    }
    if s.scheme != t.scheme {
        return differ("the schemes");
    }
    if s.time_step != t.time_step {
        return differ("the time steps (dt, safety or tolerance)");
    }
    if a.velocity != b.velocity {
        return differ("the flow velocities");
    }
    if a.species.len() != b.species.len() {
        return differ("the numbers of species");
    }
    let (da, db) = (&a.timeline.doses, &b.timeline.doses);
    if da.len() != db.len()
        || da
            .iter()
            .zip(db)
            .any(|(x, y)| x.time != y.time || x.mode != y.mode || x.region != y.region || x.cells != y.cells)
    {
        return differ("the doses (times, regions or modes)");
    }
    let without_radius = |p: &Problem| {
        let mut d = p.timeline.degradation.clone();
        for x in &mut d {
            if let DiffusivityChange::Mesh { radius, .. } = &mut x.diffusivity {
                radius.clear();
            }
        }
        d
    };
    if without_radius(a) != without_radius(b) {
        return differ("the degrading gels");
    }
    if a.metrics.targets != b.metrics.targets || a.metrics.depth_axis != b.metrics.depth_axis {
        return differ("the metric target regions or depth axes");
    }
    if a.pools.len() != b.pools.len() || a.pools.iter().zip(&b.pools).any(|(x, y)| x.name != y.name) {
        return differ("the binding-site pools");
    }
    let shape = |r: &Reaction| match *r {
        Reaction::Binding { material, species, pool, .. } => (0, material, species, pool, 0),
        Reaction::Uptake { material, species, .. } => (1, material, species, 0, 0),
        Reaction::Conversion { material, from, form, to, .. } => (2 + form as usize, material, from, to, 0),
    };
    if a.reactions.len() != b.reactions.len() || a.reactions.iter().zip(&b.reactions).any(|(x, y)| shape(x) != shape(y))
    {
        return differ("the reactions (kinds, materials, species or pools)");
    }
    Ok(())
}

/// The species of each problem of `problems` in their merge ([`merge`]): consecutive ranges.
pub fn species_ranges(problems: &[Problem]) -> Vec<Range<usize>> {
    let mut start = 0;
    problems
        .iter()
        .map(|p| {
            let r = start..start + p.species.len();
            start = r.end;
            r
        })
        .collect()
}

/// One problem holding every problem of `problems` (pairwise [`batchable`]; not empty): their
/// species one after the other (problem `k`'s species named `NAME#k`), their site pools one
/// after the other, their reactions with species and pool indices shifted to match, each dose's
/// loads and each mesh model's solute radii concatenated. Grid, materials, schedule, regions,
/// flow and metric targets are the first problem's.
pub fn merge(problems: &[Problem]) -> Problem {
    let first = problems.first().expect("a group has a problem");
    let mut merged = first.clone();
    merged.name = format!("{} (batch of {})", first.name, problems.len());
    merged.species.clear();
    merged.pools.clear();
    merged.reactions.clear();
    for d in &mut merged.timeline.doses {
        d.load.clear();
    }
    for d in &mut merged.timeline.degradation {
        if let DiffusivityChange::Mesh { radius, .. } = &mut d.diffusivity {
            radius.clear();
        }
    }
    for (k, p) in problems.iter().enumerate() {
        let (s0, p0) = (merged.species.len(), merged.pools.len());
        merged.species.extend(p.species.iter().map(|s| {
            let mut s = s.clone();
            s.name = format!("{}#{k}", s.name);
            s
        }));
        merged.pools.extend(p.pools.iter().cloned());
        merged.reactions.extend(p.reactions.iter().map(|r| match *r {
            Reaction::Binding { material, species, pool, k_on, k_off } => {
                Reaction::Binding { material, species: species + s0, pool: pool + p0, k_on, k_off }
            }
            Reaction::Uptake { material, species, vmax, km } => {
                Reaction::Uptake { material, species: species + s0, vmax, km }
            }
            Reaction::Conversion { material, from, form, to, rate, yield_ } => {
                Reaction::Conversion { material, from: from + s0, form, to: to + s0, rate, yield_ }
            }
        }));
        for (d, own) in merged.timeline.doses.iter_mut().zip(&p.timeline.doses) {
            d.load.extend(own.load.iter().cloned());
        }
        for (d, own) in merged.timeline.degradation.iter_mut().zip(&p.timeline.degradation) {
            if let (DiffusivityChange::Mesh { radius, .. }, DiffusivityChange::Mesh { radius: r, .. }) =
                (&mut d.diffusivity, &own.diffusivity)
            {
                radius.extend(r);
            }
        }
    }
    merged
}

/// The books of the species `species` of merged books, as a run of their own problem keeps them.
pub fn split_books(books: &Books, species: Range<usize>) -> Books {
    fn part<T: Clone>(v: &[T], r: &Range<usize>) -> Vec<T> {
        v.get(r.clone()).map(<[T]>::to_vec).unwrap_or_default()
    }
    Books {
        to_amount: part(&books.to_amount, &species),
        initial: part(&books.initial, &species),
        present: part(&books.present, &species),
        bound: part(&books.bound, &species),
        max: part(&books.max, &species),
        bound_max: part(&books.bound_max, &species),
        channels: part(&books.channels, &species),
        outflow: part(&books.outflow, &species),
        release_curve: part(&books.release_curve, &species),
        added: part(&books.added, &species),
        removed: part(&books.removed, &species),
        dose_times: books.dose_times.clone(),
    }
}

/// The exposure of the species `species` of a merged run, as a run of their own problem takes
/// it: their items (target-major, species order) and rows, and their depot series.
pub fn split_exposure(exposure: &Exposure, species: Range<usize>) -> Exposure {
    let mut new_index = vec![None; exposure.items.len()];
    let mut items = Vec::new();
    for (i, item) in exposure.items.iter().enumerate() {
        if species.contains(&item.species) {
            new_index[i] = Some(items.len());
            let mut item = item.clone();
            item.species -= species.start;
            items.push(item);
        }
    }
    let rows = exposure
        .rows
        .iter()
        .filter_map(|r| new_index[r.item].map(|item| crate::run::exposure::Row { item, ..r.clone() }))
        .collect();
    let depot = exposure.depot.iter().map(|(t, a)| (*t, a.get(species.clone()).unwrap_or_default().to_vec())).collect();
    Exposure { t: exposure.t, items, depot, rows }
}

/// The engine field (free species, then bound fields, each `[z][y][x]`) of case `case` of the
/// merged problem's `field`: its free species, then its bound fields in its own order.
pub fn split_field(merged: &Problem, field: &[f32], species: Range<usize>) -> Vec<f32> {
    let n = merged.grid.n_cells();
    let ns = merged.species.len();
    let mut out = Vec::with_capacity(2 * species.len() * n);
    for s in species.clone() {
        out.extend_from_slice(&field[s * n..(s + 1) * n]);
    }
    for (b, s) in merged.bound_species().into_iter().enumerate() {
        if species.contains(&s) {
            out.extend_from_slice(&field[(ns + b) * n..(ns + b + 1) * n]);
        }
    }
    out
}

/// One case's output folder while its group runs.
struct CaseOut<'a> {
    problem: &'a Problem,
    species: Range<usize>,
    dir: OutputDir,
    stems: Vec<String>,
    series: TimeseriesSink,
    snapshots: Vec<SnapshotEntry>,
}

impl CaseOut<'_> {
    fn rows(&self, books: &Books, t: f64) -> String {
        let mut rows = String::new();
        split_books(books, self.species.clone()).write_rows(self.problem, t, &mut rows);
        rows
    }

    /// The `.npy` of every species at `t` (named as its own run names them) and the `.vti`.
    fn snapshot(&mut self, merged: &Problem, field: &[f32], t: f64) -> Result<(), RunError> {
        let field = split_field(merged, field, self.species.clone());
        let p = self.problem;
        let n = p.grid.n_cells();
        let rows = (0..p.species.len())
            .map(|s| (s, "", "free"))
            .chain(p.bound_species().into_iter().map(|s| (s, "_bound", "bound")));
        for (row, (s, suffix, form)) in rows.enumerate() {
            let file = format!("fields/{}{suffix}_t{}s.npy", self.stems[s], format_seconds(t));
            self.dir.write_atomic(&file, &encode_npy(&field[row * n..(row + 1) * n], &field_shape(p)))?;
            self.snapshots.push(SnapshotEntry {
                time_s: t,
                time_h: t / 3600.0,
                species: p.species[s].name.clone(),
                form: form.to_string(),
                unit: p.species[s].unit.text.clone(),
                file,
            });
        }
        vtk::write_snapshot(p, &self.dir, &field, t, &self.snapshots)
    }
}

/// What became of one case of a batched group.
pub type CaseResult = Result<Summary, RunError>;

/// Runs `problems` (pairwise [`batchable`]) as one merged problem on `engine` (built for
/// [`merge`]`(problems)`) and writes case `k`'s output into `folders[k]` (none for a case whose
/// folder is already complete), its `summary.json` last with `"batched_with": labels`. Stops at
/// the next output time when `interrupt` is set, writing no summary ([`RunError::Interrupted`]).
/// Returns each written case's summary, or why its books do not balance.
pub fn run_group(
    problems: &[Problem],
    folders: Vec<Option<OutputDir>>,
    labels: &[usize],
    engine: &mut dyn crate::solver::Engine,
    interrupt: Option<&AtomicBool>,
) -> Result<Vec<Option<CaseResult>>, RunError> {
    let start = std::time::Instant::now();
    let merged = merge(problems);
    let ranges = species_ranges(problems);
    let info: EngineInfo = engine.info();
    let mut driver = Driver::new(&merged, engine)?;
    let mut outs: Vec<Option<CaseOut<'_>>> = Vec::new();
    for ((p, r), dir) in problems.iter().zip(&ranges).zip(folders) {
        outs.push(match dir {
            None => None,
            Some(dir) => {
                let series = TimeseriesSink::create(&dir)?;
                Some(CaseOut {
                    problem: p,
                    species: r.clone(),
                    stems: file_stems(p),
                    dir,
                    series,
                    snapshots: Vec::new(),
                })
            }
        });
    }
    let mut scratch = String::new();
    // The merged books keep the release curve as a run's do.
    driver.books_mut().write_rows(&merged, 0.0, &mut scratch);
    let field = engine.read_field()?;
    for out in outs.iter_mut().flatten() {
        let rows = out.rows(driver.books(), 0.0);
        out.series.append(&rows)?;
        out.dir
            .write_atomic("fields/materials.npy", &encode_npy(&out.problem.material_id, &field_shape(out.problem)))?;
        out.snapshot(&merged, &field, 0.0)?;
    }
    while !driver.done() {
        let t = driver.advance(engine, &mut run::Silent)?;
        scratch.clear();
        driver.books_mut().write_rows(&merged, t, &mut scratch);
        let snapshot = merged.schedule.snapshot_times.iter().any(|&s| (s - t).abs() <= 1e-9 * t.max(1.0));
        let field = if snapshot { Some(engine.read_field()?) } else { None };
        for out in outs.iter_mut().flatten() {
            let rows = out.rows(driver.books(), t);
            out.series.append(&rows)?;
            if let Some(field) = &field {
                out.snapshot(&merged, field, t)?;
            }
        }
        if interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) && !driver.done() {
            return Err(RunError::Interrupted {
                t_h: t / 3600.0,
                end_h: merged.schedule.end / 3600.0,
                dir: format!(
                    "the batched cases {labels:?} (a batch keeps no checkpoint: it runs again from the start)"
                ),
            });
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let (exposure, _) = driver.exposure();
    let mut results = Vec::new();
    for out in outs {
        let Some(out) = out else {
            results.push(None);
            continue;
        };
        let p = out.problem;
        let books = split_books(driver.books(), out.species.clone());
        let exposure = split_exposure(exposure, out.species.clone());
        let plan = ExposurePlan::new(p);
        if !exposure.items.is_empty() {
            out.dir.write_atomic("exposure.csv", exposure.csv(p).as_bytes())?;
        }
        let mut summary = Summary::new(
            p,
            driver.plan(),
            driver.stats(),
            &info,
            &books,
            Some((&exposure, &plan)),
            out.snapshots,
            wall,
        );
        summary.vtk = vtk::echo(&out.dir, &summary.snapshots);
        let unbalanced = summary
            .species
            .iter()
            .find(|s| s.relative_balance_error.is_nan() || s.relative_balance_error > BALANCE_BOUND)
            .map(|s| RunError::Balance {
                species: s.name.clone(),
                error: s.relative_balance_error,
                bound: BALANCE_BOUND,
            });
        if let Some(e) = &unbalanced {
            summary.complete = false;
            summary.error = Some(e.to_string());
        }
        let mut json = serde_json::to_value(&summary).expect("summary is plain data");
        json["batched_with"] = serde_json::json!(labels);
        let text = serde_json::to_string_pretty(&json).expect("plain data");
        out.dir.write_atomic("summary.json", text.as_bytes())?;
        // A checkpoint of an earlier single run of the case is of no more use.
        let _ = std::fs::remove_file(out.dir.path().join(CHECKPOINT_FILE));
        results.push(Some(match unbalanced {
            Some(e) => Err(e),
            None => Ok(summary),
        }));
    }
    Ok(results)
}

/// Groups `problems` (a shard's cases in order, `labels` their case indices) into runs of up to
/// `size` consecutive problems batchable with the group's first. Returns the groups (positions
/// into `problems`) and, for each pair that could not share a run, why.
pub fn plan_groups(problems: &[Problem], labels: &[usize], size: usize) -> (Vec<Vec<usize>>, Vec<String>) {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut reasons = Vec::new();
    for i in 0..problems.len() {
        if let Some(g) = groups.last_mut().filter(|g| g.len() < size.max(1)) {
            match batchable(&problems[g[0]], &problems[i]) {
                Ok(()) => {
                    g.push(i);
                    continue;
                }
                Err(why) => reasons.push(format!(
                    "case {} is not batched with case {}: {why}; it runs apart",
                    labels[i], labels[g[0]]
                )),
            }
        }
        groups.push(vec![i]);
    }
    (groups, reasons)
}

/// [`super::run::run_cases`] with this shard's cases batched `batch` at a time ([`plan_groups`];
/// 1 = every case alone): each group of two or more runs as one merged problem on one engine of
/// `factory` and writes every incomplete case of the group; a single case runs as
/// [`super::run::run_cases`] runs it (with its checkpoints). Why cases could not be batched is
/// printed once per reason.
pub fn run_cases_batched(
    sweep: &Sweep,
    out: &Path,
    shard: Shard,
    jobs: usize,
    batch: usize,
    factory: &EngineFactory,
    interrupt: Option<&AtomicBool>,
) -> Result<Vec<(usize, Outcome)>, SweepError> {
    let root = OutputDir::create(out, true)?;
    write_index(&root, sweep, &format!("{:?}", sweep.design), &sweep.cases)?;
    let mine: Vec<&Case> = sweep.cases.iter().filter(|c| shard.owns(c.index)).collect();
    let problems = mine.iter().map(|c| sweep.problem(c)).collect::<Result<Vec<_>, _>>()?;
    let labels: Vec<usize> = mine.iter().map(|c| c.index).collect();
    let (groups, reasons) = plan_groups(&problems, &labels, batch);
    let mut said = std::collections::BTreeSet::new();
    for r in reasons {
        let why = r.split_once(": ").map_or(r.as_str(), |x| x.1).to_string();
        if said.insert(why) {
            eprintln!("{r}");
        }
    }
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    let first_error = std::sync::Mutex::new(None);
    let failed = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(groups.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if first_error.lock().unwrap().is_some() {
                        return;
                    }
                    let Some(group) = groups.get(next.fetch_add(1, Ordering::SeqCst)) else { return };
                    let outcome = if group.len() == 1 {
                        run_case(sweep, mine[group[0]], out, factory, interrupt).map(|o| vec![(group[0], Ok(o))])
                    } else {
                        batched(sweep, &mine, &problems, group, out, factory, interrupt)
                    };
                    match outcome {
                        Ok(done) => {
                            for (i, r) in done {
                                match r {
                                    Ok(o) => results.lock().unwrap().push((labels[i], o)),
                                    Err(e) => failed.lock().unwrap().push(format!("case {}: {e}", labels[i])),
                                }
                            }
                        }
                        Err(e @ (SweepError::Run(RunError::Interrupted { .. }) | SweepError::Output(_))) => {
                            first_error.lock().unwrap().get_or_insert(e);
                            return;
                        }
                        Err(e) => {
                            failed.lock().unwrap().extend(group.iter().map(|&i| format!("case {}: {e}", labels[i])))
                        }
                    }
                }
            });
        }
    });
    super::run::finish(sweep, results, first_error, failed)
}

type GroupDone = Vec<(usize, Result<Outcome, RunError>)>;

/// Runs one group of two or more cases (positions into `mine`) as one problem, unless every
/// case is already complete.
fn batched(
    sweep: &Sweep,
    mine: &[&Case],
    problems: &[Problem],
    group: &[usize],
    out: &Path,
    factory: &EngineFactory,
    interrupt: Option<&AtomicBool>,
) -> Result<GroupDone, SweepError> {
    let dirs: Vec<_> = group.iter().map(|&i| out.join(mine[i].folder())).collect();
    let complete: Vec<bool> = dirs.iter().map(|d| is_complete(d)).collect();
    if complete.iter().all(|&c| c) {
        return Ok(group.iter().map(|&i| (i, Ok(Outcome::Skipped))).collect());
    }
    let mut folders = Vec::new();
    for ((&i, dir), &done) in group.iter().zip(&dirs).zip(&complete) {
        if done {
            folders.push(None);
            continue;
        }
        let folder = OutputDir::create(dir, true)?;
        // An earlier summary (of an interrupted run) must not outlive the files it described.
        let _ = std::fs::remove_file(dir.join("summary.json"));
        folder.write_atomic("scenario.toml", sweep.scenario_text(mine[i]).as_bytes())?;
        folder.write_atomic("case.json", serde_json::to_string_pretty(mine[i]).expect("plain data").as_bytes())?;
        folders.push(Some(folder));
    }
    let own: Vec<Problem> = group.iter().map(|&i| problems[i].clone()).collect();
    let labels: Vec<usize> = group.iter().map(|&i| mine[i].index).collect();
    let mut engine = factory.build(&merge(&own))?;
    let results = run_group(&own, folders, &labels, engine.as_mut(), interrupt)?;
    Ok(group
        .iter()
        .zip(results)
        .map(|(&i, r)| {
            (
                i,
                match r {
                    None => Ok(Outcome::Skipped),
                    Some(Ok(_)) => Ok(Outcome::Ran),
                    Some(Err(e)) => Err(e),
                },
            )
        })
        .collect())
}
