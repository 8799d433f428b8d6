//! The `secretome` command line: `run`, `report`, `validate`, `info`, `factors`, `sweep`,
//! `optimize`, `collect`, `compare`, `bench`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use secretome::output::OutputDir;
use secretome::problem::Problem;
use secretome::run::{self, Progress, StepPlan, Stepping};
use secretome::solver::gpu::device;
use secretome::solver::{Backend, Engine, EngineFactory, engine_memory_bytes};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "secretome",
    version,
    about = "Release of MSC secretome factors from a hydrogel depot into wound tissue"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its output folder.
    Run {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Output folder (default: runs/<scenario file name>). Must be new or empty.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Which engine runs the problem.
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Replace the files of an earlier run in the output folder.
        #[arg(long)]
        overwrite: bool,
        /// Threads of the CPU engine (default 0: one per core); at most 8 per core and 1024.
        #[arg(long, default_value_t = 0, value_parser = parse_threads)]
        threads: usize,
        /// Continue the run in the output folder from its checkpoint (same scenario file).
        #[arg(long, conflicts_with = "overwrite")]
        resume: bool,
        /// Simulated time between checkpoints, e.g. "6 h" (default: a tenth of the run; "0 s"
        /// for none). SIGINT or SIGTERM always write one before the run stops.
        #[arg(long, value_name = "TIME")]
        checkpoint_every: Option<String>,
        /// Write no ParaView files (fields/*.vti, fields/series.pvd) with the snapshots.
        #[arg(long)]
        no_vtk: bool,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Draw the pictures and write report.html of a finished run's output folder again (from its
    /// scenario.toml, summary.json, timeseries.csv and fields/), without running it.
    Report {
        /// The run's output folder.
        dir: PathBuf,
        /// The scenario to read instead of DIR/scenario.toml (a scenario whose measured batch
        /// file is given relative to its own folder).
        #[arg(long)]
        scenario: Option<PathBuf>,
        #[command(flatten)]
        report: ReportArgs,
    },
    /// Check a scenario and describe what would run, without running it.
    Validate {
        /// Scenario file (TOML).
        scenario: PathBuf,
    },
    /// List GPU adapters and say which engine `--backend auto` would use.
    Info,
    /// List the built-in factor library, or show one factor with every value, its source and
    /// its confidence mark.
    Factors {
        /// A factor's name or alias (e.g. VEGF165); without it, the whole library.
        name: Option<String>,
        /// List the MSC-CM presets (compositions with their sources) instead.
        #[arg(long, conflicts_with = "name")]
        presets: bool,
    },
    /// Run every case of a sweep (variants of a base scenario), or this shard's share of them.
    Sweep {
        /// Sweep file (TOML): `[sweep] base = …` and `[[vary]]` entries (docs/sweeps.md).
        sweep: PathBuf,
        /// Output folder: one `case_NNNNN/` folder per case and `sweep.json`.
        #[arg(long)]
        out: PathBuf,
        /// Run only shard I of N (1 ≤ I ≤ N); by default from SLURM_ARRAY_TASK_ID/MIN/COUNT or
        /// JOB_COMPLETION_INDEX (with --shards), otherwise every case.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Number of shards for Kubernetes' JOB_COMPLETION_INDEX.
        #[arg(long)]
        shards: Option<usize>,
        /// Cases run at once, sharing the engine's thread pool or GPU.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Threads of the CPU engine (default: SLURM_CPUS_PER_TASK where set, else one per core).
        #[arg(long, value_parser = parse_threads)]
        threads: Option<usize>,
        /// Run up to K consecutive cases that differ only in their species' values as one
        /// problem (as extra species: one GPU dispatch per step for all K); 1 = each case alone
        /// (docs/sweeps.md, "Batching small cases").
        #[arg(long, value_name = "K", default_value_t = 1)]
        batch: usize,
        /// Only expand and check the cases; run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Where the snapshot fields go: `files` (a .npy per field in each case folder) or
        /// `zarr` (one Zarr store, DIR/fields.zarr, for every case; docs/sweeps.md).
        #[arg(long, default_value = "files", value_parser = secretome::sweep::run::FieldStore::parse)]
        store: secretome::sweep::run::FieldStore,
    },
    /// Search for the design (values of a base scenario's keys within bounds) that minimises or
    /// maximises a metric subject to bounds on others; every evaluation is a sweep case.
    Optimize {
        /// Optimisation file (TOML): `[optimize] base = …, minimize = …`, `[[constraint]]` and
        /// `[[vary]]` ranges (docs/optimize.md).
        file: PathBuf,
        /// Output folder: one `case_NNNNN/` folder per evaluation, `sweep.json` and
        /// `optimize.json`. Run the same command again to resume.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Threads of the CPU engine (default: SLURM_CPUS_PER_TASK where set, else one per core).
        #[arg(long, value_parser = parse_threads)]
        threads: Option<usize>,
    },
    /// Merge the case folders of a sweep (written by one or several shards) into results.csv,
    /// naming every missing or duplicate case.
    Collect {
        /// The sweep's output folder(s); results.csv goes into the first.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The metric whose most influential inputs are printed (`metric[:species][@region]`,
        /// e.g. coverage:VEGF@wound_bed; default: the coverage of the first target region with a
        /// threshold, else the first species' released percent). Every metric is in
        /// sensitivity.csv.
        #[arg(long)]
        metric: Option<String>,
    },
    /// Rank finished runs and sweep designs by an objective, with the 90 % band of designs drawn
    /// under uncertain parameters, the rank flips it allows and a Pareto front (docs/compare.md).
    Compare {
        /// Runs' output folders (summary.json) and sweeps' output folders (sweep.json and
        /// case_NNNNN/ folders).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// What to rank by: `metric[:species][@region]` (default: coverage of the first target
        /// region by the first species with a threshold, else released_percent of the first species).
        #[arg(long, value_name = "METRIC")]
        objective: Option<String>,
        /// The two metrics of the Pareto front, `A,B` (default: the objective and cm_used_ml,
        /// else the objective and loaded:SPECIES).
        #[arg(long, value_name = "METRIC_A,METRIC_B")]
        pareto: Option<String>,
        /// Folder for comparison.csv, comparison.md, comparison.html and plots/ (default: the
        /// first folder given).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Time a fixed suite of problems on every engine and print a table beside the peer's figures.
    Bench {
        /// Edge of the peer's cube (128 as the peer; smaller for a quick look).
        #[arg(long, default_value_t = 128)]
        cube: usize,
        /// Steps of the peer's cube on the fast CPU engine (100 as the peer).
        #[arg(long, default_value_t = 100)]
        steps: u64,
        /// Threads of the multi-threaded rows (default 0: one per core); at most 8 per core and 1024.
        #[arg(long, default_value_t = 0, value_parser = parse_threads)]
        threads: usize,
        /// Leave out the GPU rows.
        #[arg(long)]
        no_gpu: bool,
        /// Leave out the rows of shipped scenarios (the 14-day wound, the dosing schedules).
        #[arg(long)]
        no_wound: bool,
        /// Also write the rows as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Cases of the sweep rows (a Latin hypercube over the shipped 24-h wound, run as a sweep
        /// and one by one; about a minute per case on 2 cores); 0 leaves them out.
        #[arg(long, default_value_t = 64)]
        sweep_cases: usize,
        /// Only the sweep rows.
        #[arg(long)]
        only_sweep: bool,
    },
}

/// Most threads per core `--threads` accepts: more only adds switching, and a slip such as
/// `--threads 100000` would start that many threads.
const THREADS_PER_CORE: usize = 8;
/// Most threads `--threads` accepts on any machine.
const MAX_THREADS: usize = 1024;

/// Reads `--threads`: 0 (one per core) up to the lower of 8 × the cores and 1024.
fn parse_threads(text: &str) -> Result<usize, String> {
    let n: usize = text.trim().parse().map_err(|_| format!("`{text}` is not a whole number ≥ 0"))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = (THREADS_PER_CORE * cores).min(MAX_THREADS);
    if n > limit {
        return Err(format!(
            "{n} threads is more than the limit of {limit} on this machine ({cores} cores: at most \
             {THREADS_PER_CORE} per core and at most {MAX_THREADS}); accepted: 0 (one per core) to {limit}"
        ));
    }
    Ok(n)
}

/// Mesa's window-system probing (reached through wgpu's GL and Vulkan backends) prints
/// "error: XDG_RUNTIME_DIR is invalid or not set in the environment." on headless machines,
/// where it is no error for a compute program. Where the variable is unset, it points at the
/// temporary directory for this process.
fn quiet_window_system_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

/// Prints the inputs that move `metric` most, from `dir/sensitivity.csv`.
fn print_sensitivity(dir: &Path, metric: Option<&str>) -> Result<()> {
    let path = dir.join("sensitivity.csv");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let metrics: Vec<&str> = {
        let mut m: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
        m.dedup();
        m
    };
    let chosen = match metric {
        Some(m) => {
            if !metrics.contains(&m) {
                anyhow::bail!(
                    "--metric {m}: no case has this metric (or no input varies it){}; sensitivity.csv has: {}",
                    secretome::outcome::suggest(m, metrics.iter().copied()),
                    metrics.join(", ")
                );
            }
            m.to_string()
        }
        None => match metrics
            .iter()
            .find(|m| m.starts_with("coverage:"))
            .or_else(|| metrics.iter().find(|m| m.starts_with("released_percent:")))
        {
            Some(m) => m.to_string(),
            None => return Ok(()),
        },
    };
    println!("inputs that move {chosen} most (Spearman's ρ over the cases; every metric in {}):", path.display());
    for (key, rho, n) in secretome::sweep::run::sensitivity_of(&text, &chosen).iter().take(8) {
        println!("  {key:<40} ρ = {rho:+.3}  ({n} cases)");
    }
    Ok(())
}

fn main() -> ExitCode {
    quiet_window_system_probe();
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by `: `, leaving out a cause whose text an earlier message
/// already holds (an error that both quotes its source and offers it as `source()` would
/// otherwise print the operating system's reason twice).
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn real_main() -> Result<()> {
    match Cli::parse().command {
        Command::Run {
            scenario,
            out,
            backend,
            quiet,
            overwrite,
            threads,
            resume,
            checkpoint_every,
            no_vtk,
            report,
        } => {
            let every = match checkpoint_every {
                None => None,
                Some(text) => Some(secretome::units::time(&text).ok().filter(|t| t.is_finite() && *t >= 0.0).ok_or_else(
                    || anyhow::anyhow!("--checkpoint-every {text:?} is not a time ≥ 0; give one with a unit, e.g. \"6 h\" (\"0 s\" for none)"),
                )?),
            };
            run_command(&scenario, out, backend, quiet, overwrite, threads, resume, every, no_vtk, &report.options()?)
        }
        Command::Sweep { sweep, out, shard, shards, jobs, backend, threads, batch, dry_run, store } => {
            sweep_command(&sweep, &out, shard, shards, jobs, backend, threads, batch, dry_run, store)
        }
        Command::Optimize { file, out, backend, threads } => optimize_command(&file, &out, backend, threads),
        Command::Collect { dirs, metric } => {
            let dirs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
            if let Some(m) = &metric {
                secretome::outcome::Objective::parse(m).map_err(|e| anyhow::anyhow!("--metric: {e}"))?;
            }
            let found = secretome::sweep::run::collect(&dirs)?;
            println!("{} cases complete; results in {}", found.complete, dirs[0].join("results.csv").display());
            print_sensitivity(dirs[0], metric.as_deref())?;
            if !found.missing.is_empty() || !found.duplicate.is_empty() {
                anyhow::bail!(
                    "missing cases (no complete result): {:?}; duplicate cases (complete in more than one folder): {:?}",
                    found.missing,
                    found.duplicate
                );
            }
            Ok(())
        }
        Command::Compare { dirs, objective, pareto, out } => {
            compare_command(&dirs, objective.as_deref(), pareto.as_deref(), out)
        }
        Command::Report { dir, scenario, report } => report_command(&dir, scenario.as_deref(), &report.options()?),
        Command::Bench { cube, steps, threads, no_gpu, no_wound, json, sweep_cases, only_sweep } => {
            bench_command(cube, steps, threads, no_gpu, no_wound, json, sweep_cases, only_sweep)
        }
        Command::Validate { scenario } => {
            let problem = load(&scenario)?;
            print!("{}", describe(&scenario, &problem)?);
            Ok(())
        }
        Command::Info => {
            info();
            Ok(())
        }
        Command::Factors { name, presets } => factors_command(name.as_deref(), presets),
    }
}

/// `secretome compare DIR... [--objective METRIC] [--pareto A,B] [--out OUTDIR]`.
fn compare_command(
    dirs: &[PathBuf],
    objective: Option<&str>,
    pareto: Option<&str>,
    out: Option<PathBuf>,
) -> Result<()> {
    use secretome::compare;
    let found = compare::gather(dirs)?;
    let runs = found.runs();
    let mut notes = Vec::new();
    if !found.left_out.is_empty() {
        notes.push(format!(
            "{} incomplete runs left out: {}",
            found.left_out.len(),
            compare::describe_left_out(&found.left_out)
        ));
    }
    let objective = match objective {
        Some(text) => compare::metric(text, &runs).with_context(|| format!("--objective {text}"))?,
        None => {
            let (o, note) = compare::default_objective(&runs);
            notes.extend(note);
            o
        }
    };
    let pareto = match pareto {
        Some(text) => {
            let (a, b) = text.split_once(',').ok_or_else(|| {
                anyhow::anyhow!("--pareto {text}: give two metrics as A,B, e.g. coverage:VEGF@wound_bed,cm_used_ml")
            })?;
            (
                compare::metric(a, &runs).with_context(|| format!("--pareto {text}"))?,
                compare::metric(b, &runs).with_context(|| format!("--pareto {text}"))?,
            )
        }
        None => compare::default_pareto(&objective, &runs),
    };
    let comparison = compare::Comparison::new(found.designs, objective, pareto, notes);
    let out = out.unwrap_or_else(|| dirs[0].clone());
    let written = compare::write(&comparison, &out)?;
    print!("{}", compare::summary_text(&comparison));
    for why in &written.skipped {
        println!("note: {why}");
    }
    println!("wrote {} in {}", written.files.join(", "), out.display());
    Ok(())
}

/// `secretome factors [NAME] [--presets]`.
fn factors_command(name: Option<&str>, presets: bool) -> Result<()> {
    use secretome::library::{library, show};
    let lib = library();
    if presets {
        print!("{}", show::presets(lib));
        return Ok(());
    }
    match name {
        None => print!("{}", show::table(lib)),
        Some(name) => match lib.factor(name) {
            Some(f) => print!("{}", show::factor(f)),
            None => {
                let closest: Vec<String> = lib.closest_factors(name, 3).iter().map(|n| format!("`{n}`")).collect();
                anyhow::bail!(
                    "no factor {name:?} in the built-in library; closest: {} (`secretome factors` lists them all)",
                    closest.join(", ")
                );
            }
        },
    }
    Ok(())
}

fn load(path: &Path) -> Result<Problem> {
    Ok(secretome::scenario::load(path)?)
}

#[allow(clippy::too_many_arguments)]
fn run_command(
    scenario: &Path,
    out: Option<PathBuf>,
    backend: Backend,
    quiet: bool,
    overwrite: bool,
    threads: usize,
    resume: bool,
    checkpoint_every: Option<f64>,
    no_vtk: bool,
    report: &secretome::report::ReportOptions,
) -> Result<()> {
    let problem = load(scenario)?;
    let scenario_text =
        std::fs::read_to_string(scenario).with_context(|| format!("cannot read {}", scenario.display()))?;
    let plan = StepPlan::new(&problem)?;
    let out_path = out.unwrap_or_else(|| {
        Path::new("runs").join(scenario.file_stem().map(|s| s.to_os_string()).unwrap_or_else(|| "run".into()))
    });
    let mut engine = make_engine(backend, &problem, threads)?;
    let out_dir = if resume { OutputDir::open(&out_path)? } else { OutputDir::create(&out_path, overwrite)? };
    // The scenario as run, for `secretome report` to read the problem back.
    out_dir.write_atomic(secretome::report::SCENARIO_FILE, scenario_text.as_bytes())?;
    // SIGINT or SIGTERM: stop at the next output time with a checkpoint; a second one stops at once.
    static INTERRUPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let resume_hint = format!("secretome run {} --out {} --resume", scenario.display(), out_dir.path().display());
    ctrlc::set_handler(move || {
        if INTERRUPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
            eprintln!("\nstopped at once: the outputs are those of the last checkpoint; resume with\n  {resume_hint}");
            std::process::exit(130);
        }
        eprintln!("\nstopping at the next output time to write a checkpoint (interrupt again to stop at once)");
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;
    // Default: a checkpoint every tenth of the run.
    let checkpoint_every = match checkpoint_every {
        Some(t) if t == 0.0 => None,
        Some(t) => Some(t),
        None => Some(problem.schedule.end / 10.0),
    };
    let options = run::RunOptions { checkpoint_every, interrupt: Some(&INTERRUPT), resume, scenario_text, no_vtk };
    let info = engine.info();
    if !quiet {
        eprintln!(
            "{}: {} cells × {} species, {} {}, on {} ({})",
            problem.name,
            problem.grid.n_cells(),
            problem.species.len(),
            problem.schedule.scheme.name(),
            step_description(&plan),
            info.backend,
            info.device
        );
    }
    let mut bar = Bar::new(&problem, quiet);
    let summary = run::run_with(&problem, engine.as_mut(), &out_dir, &mut bar, &options);
    bar.bar.finish_and_clear();
    let summary = summary.with_context(|| format!("run of {} failed", scenario.display()))?;
    bar.bar.finish_and_clear();
    if !quiet {
        eprintln!("done in {:.1} s; output in {}", summary.wall_time_s, out_dir.path().display());
        for s in &summary.species {
            eprintln!(
                "  {:<10} released {:6.2} % of depot load; books balance to {:.1e}",
                s.name, s.released_percent, s.relative_balance_error
            );
        }
    }
    let files = secretome::report::write(&problem, out_dir.path(), report)
        .with_context(|| format!("writing the report of {}", out_dir.path().display()))?;
    if !quiet {
        eprintln!("report: {} ({} pictures)", out_dir.path().join(&files.report).display(), files.plots.len());
    }
    Ok(())
}

/// The pictures and the report, on `run` and `report`.
#[derive(clap::Args)]
struct ReportArgs {
    /// No pictures (plots/); report.html is still written, with the tables only.
    #[arg(long)]
    no_plots: bool,
    /// Log colour scales and log concentration axes.
    #[arg(long)]
    log_plots: bool,
    /// The plane of the 3D heatmaps, e.g. "z=1.5mm" (default: normal to y through the centre of
    /// the depot's cells).
    #[arg(long, value_name = "AXIS=LENGTH")]
    slice: Option<String>,
    /// The target region of the curves and depth profiles: a material or region name (default:
    /// the first tissue material named like wound_bed, else the first tissue material).
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
}

impl ReportArgs {
    fn options(&self) -> Result<secretome::report::ReportOptions> {
        Ok(secretome::report::ReportOptions {
            plots: !self.no_plots,
            log: self.log_plots,
            slice: self.slice.as_deref().map(secretome::report::Slice::parse).transpose()?,
            target: self.target.clone(),
        })
    }
}

/// `secretome report DIR`: the pictures and report.html again, from the folder's files.
fn report_command(dir: &Path, scenario: Option<&Path>, options: &secretome::report::ReportOptions) -> Result<()> {
    let path = scenario.map(Path::to_path_buf).unwrap_or_else(|| dir.join(secretome::report::SCENARIO_FILE));
    let problem = load(&path).with_context(|| {
        format!("the report needs the scenario the run was made with ({}; or give it with --scenario)", path.display())
    })?;
    let files = secretome::report::write(&problem, dir, options)
        .with_context(|| format!("writing the report of {}", dir.display()))?;
    println!("{} ({} pictures)", dir.join(&files.report).display(), files.plots.len());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sweep_command(
    path: &Path,
    out: &Path,
    shard: Option<String>,
    shards: Option<usize>,
    jobs: usize,
    backend: Backend,
    threads: Option<usize>,
    batch: usize,
    dry_run: bool,
    store: secretome::sweep::run::FieldStore,
) -> Result<()> {
    use secretome::sweep::{Sweep, run::Shard};
    let sweep = Sweep::load(path)?;
    let env = |name: &str| std::env::var(name).ok();
    let shard = match shard {
        Some(text) => Shard::parse(&text).map_err(anyhow::Error::msg)?,
        None => Shard::from_env(env, shards).map_err(anyhow::Error::msg)?.unwrap_or(Shard::ALL),
    };
    let threads = sweep_threads(threads)?;
    let mine = sweep.cases.iter().filter(|c| shard.owns(c.index)).count();
    eprintln!(
        "{}: {} cases, shard {}/{} runs {mine}, {jobs} at a time",
        path.display(),
        sweep.cases.len(),
        shard.index,
        shard.count
    );
    if dry_run {
        for case in sweep.cases.iter().filter(|c| shard.owns(c.index)) {
            println!("{} {}", case.folder(), case.describe());
        }
        return Ok(());
    }
    static INTERRUPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    ctrlc::set_handler(|| {
        if INTERRUPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping every running case at its next output time with a checkpoint (interrupt again to stop at once)"
        );
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;
    let factory = EngineFactory::new(backend, threads)?;
    let done = if batch > 1 {
        if store != secretome::sweep::run::FieldStore::Files {
            anyhow::bail!(
                "--batch {batch} with --store zarr: batched cases write their fields as files only; accepted: \
                 --batch 1 with --store zarr, or --batch K with --store files"
            );
        }
        secretome::sweep::batch::run_cases_batched(&sweep, out, shard, jobs, batch, &factory, Some(&INTERRUPT))
    } else {
        secretome::sweep::run::run_cases_into(&sweep, out, shard, jobs, &factory, Some(&INTERRUPT), store)
    }
    .with_context(|| format!("sweep {} stopped; run the same command again to continue", path.display()))?;
    let count = |o| done.iter().filter(|(_, x)| *x == o).count();
    use secretome::sweep::run::Outcome;
    eprintln!(
        "done: {} run, {} resumed, {} already complete; `secretome collect {}` gathers the results",
        count(Outcome::Ran),
        count(Outcome::Resumed),
        count(Outcome::Skipped),
        out.display()
    );
    Ok(())
}

/// `--threads` of `sweep` and `optimize`: as given, else SLURM_CPUS_PER_TASK, else one per core.
fn sweep_threads(threads: Option<usize>) -> Result<usize> {
    Ok(match threads {
        Some(n) => n,
        None => match std::env::var("SLURM_CPUS_PER_TASK").ok() {
            Some(v) => parse_threads(&v).map_err(|e| anyhow::anyhow!("SLURM_CPUS_PER_TASK: {e}"))?,
            None => 0,
        },
    })
}

/// `secretome optimize FILE --out DIR`.
fn optimize_command(path: &Path, out: &Path, backend: Backend, threads: Option<usize>) -> Result<()> {
    use secretome::optimize::{Optimization, RECORD_FILE, optimize};
    let opt = Optimization::load(path)?;
    let threads = sweep_threads(threads)?;
    eprintln!(
        "{}: {} {} over {} by {}, at most {} cases",
        path.display(),
        if opt.maximize { "maximise" } else { "minimise" },
        opt.objective.name(),
        opt.variations.iter().map(|v| v.key()).collect::<Vec<_>>().join(", "),
        opt.method.name(),
        opt.budget
    );
    static INTERRUPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    ctrlc::set_handler(|| {
        if INTERRUPT.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping the running case at its next output time with a checkpoint (interrupt again to stop at once)"
        );
    })
    .context("cannot install the SIGINT/SIGTERM handler")?;
    let factory = EngineFactory::new(backend, threads)?;
    let done = match optimize(&opt, out, &factory, Some(&INTERRUPT), &mut |line| eprintln!("{line}")) {
        Ok(done) => done,
        // The file is at fault (a metric the runs do not have): running again would not help.
        Err(e @ secretome::optimize::OptimizeError::Invalid { .. }) => return Err(e.into()),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("optimisation {} stopped; run the same command again to continue", path.display())));
        }
    };
    let found = &done.found;
    eprintln!(
        "{} after {} cases ({} read from earlier runs); every evaluation in {}",
        if found.status == secretome::optimize::search::Status::Converged { "converged" } else { "budget spent" },
        found.evaluations.len(),
        done.reused,
        out.join(RECORD_FILE).display()
    );
    match found.best {
        Some(b) => {
            let e = &found.evaluations[b];
            println!(
                "best: {}  {}  {} = {}",
                done.cases[b].folder(),
                done.cases[b].describe(),
                opt.objective.name(),
                e.measured.objective.map_or("no value".into(), |x| x.to_string())
            );
            for (c, v) in opt.constraints.iter().zip(&e.measured.constraints) {
                println!(
                    "  {} = {} ({} {})",
                    c.metric.name(),
                    v.map_or("no value".into(), |x| x.to_string()),
                    c.bound.kind(),
                    c.bound.value()
                );
            }
            Ok(())
        }
        None => {
            let least = found.lowest.map(|l| {
                format!("; the least infeasible was {} ({})", done.cases[l].folder(), done.cases[l].describe())
            });
            anyhow::bail!(
                "no design met every constraint in {} cases{}",
                found.evaluations.len(),
                least.unwrap_or_default()
            )
        }
    }
}

fn make_engine(backend: Backend, problem: &Problem, threads: usize) -> Result<Box<dyn Engine>> {
    Ok(EngineFactory::new(backend, threads)?.build(problem)?)
}

/// Step counts above this are shown as "more than 1e9" (a scenario's own `dt` is refused
/// beyond it; see `secretome::scenario::MAX_STEPS`).
const SHOWN_STEPS: u64 = 1_000_000_000;

/// Total fixed steps of a plan, saturating at `u64::MAX` instead of wrapping.
fn fixed_steps(plan: &StepPlan) -> Option<u64> {
    match &plan.stepping {
        Stepping::Fixed(intervals) => Some(intervals.iter().fold(0u64, |sum, &(n, _)| sum.saturating_add(n))),
        Stepping::Adaptive { .. } => None,
    }
}

/// A step count, or "more than 1e9" above [`SHOWN_STEPS`].
fn steps_text(n: u64) -> String {
    if n > SHOWN_STEPS { format!("more than {SHOWN_STEPS:e}") } else { n.to_string() }
}

/// "N steps of ≤ dt s" or "adaptive steps (tolerance …)".
fn step_description(plan: &StepPlan) -> String {
    match (&plan.stepping, fixed_steps(plan), plan.max_step()) {
        (Stepping::Adaptive { tolerance, .. }, _, _) => {
            format!("adaptive steps (embedded error estimate, tolerance {})", fmt_g(*tolerance))
        }
        (_, Some(n), Some(dt)) => format!("{} steps of ≤ {} s", steps_text(n), fmt_g(dt)),
        _ => "fixed steps".into(),
    }
}

/// Progress on stderr: simulated time, wall time, ETA. On a terminal a bar; otherwise (a batch
/// job's log) one line per 10 % of simulated time.
struct Bar {
    bar: ProgressBar,
    end: f64,
    quiet: bool,
    log_lines: bool,
    next_log: f64,
    start: std::time::Instant,
}

/// Resolution of the bar's position (simulated time as a fraction of the end).
const BAR_TICKS: u64 = 10_000;

impl Bar {
    fn new(problem: &Problem, quiet: bool) -> Self {
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(
            Some(BAR_TICKS),
            if quiet || !terminal { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
        );
        bar.set_style(
            ProgressStyle::with_template("{msg} [{wide_bar}] wall {elapsed_precise}, ETA {eta_precise}")
                .expect("static template")
                .progress_chars("=> "),
        );
        Bar {
            bar,
            end: problem.schedule.end,
            quiet,
            log_lines: !terminal,
            next_log: 0.1,
            start: std::time::Instant::now(),
        }
    }
}

impl Progress for Bar {
    fn advanced(&mut self, time: f64, steps_done: u64) {
        let fraction = (time / self.end).clamp(0.0, 1.0);
        self.bar.set_position((fraction * BAR_TICKS as f64) as u64);
        self.bar.set_message(format!("t = {:.3} h of {} h", time / 3600.0, fmt_g(self.end / 3600.0)));
        if self.log_lines && !self.quiet && fraction + 1e-12 >= self.next_log {
            let wall = self.start.elapsed().as_secs_f64();
            let eta = if fraction > 0.0 { wall * (1.0 - fraction) / fraction } else { f64::NAN };
            eprintln!(
                "t = {} h of {} h ({:.0} %), {steps_done} steps, wall {wall:.1} s, ETA {eta:.0} s",
                fmt_g(time / 3600.0),
                fmt_g(self.end / 3600.0),
                100.0 * fraction
            );
            while self.next_log <= fraction + 1e-12 {
                self.next_log += 0.1;
            }
        }
    }
}

fn fmt_g(x: f64) -> String {
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        format!("{x:.3e}")
    } else {
        format!("{}", (x * 1e4).round() / 1e4)
    }
}

fn describe(path: &Path, problem: &Problem) -> Result<String> {
    use std::fmt::Write;
    let plan = StepPlan::new(problem)?;
    let g = &problem.grid;
    let mut s = String::new();
    let um = |m: f64| fmt_g(m * 1e6);
    writeln!(s, "{}: scenario '{}' is valid", path.display(), problem.name)?;
    writeln!(
        s,
        "grid     {}D, {} × {} × {} = {} cells of {} × {} × {} µm (domain {} × {} × {} µm)",
        g.dimension(),
        g.cells[0],
        g.cells[1],
        g.cells[2],
        g.n_cells(),
        um(g.spacing[0]),
        um(g.spacing[1]),
        um(g.spacing[2]),
        um(g.extent()[0]),
        um(g.extent()[1]),
        um(g.extent()[2]),
    )?;
    let counts = problem.material_cell_counts();
    writeln!(s, "materials")?;
    for (m, mat) in problem.materials.iter().enumerate() {
        let role = match mat.role {
            secretome::problem::Role::Depot => "depot",
            secretome::problem::Role::Tissue => "tissue",
        };
        writeln!(s, "  {:<14} {:<6} {:>10} cells", mat.name, role, counts[m])?;
    }
    if !problem.regions.is_empty() {
        writeln!(s, "regions")?;
        for r in &problem.regions {
            writeln!(s, "  {:<21} {:>10} cells", r.name, r.cells.len())?;
        }
    }
    writeln!(s, "species  {}", problem.species.len())?;
    for sp in &problem.species {
        let d_max = sp.diffusivity.iter().cloned().fold(0.0, f64::max);
        let faces: Vec<String> = secretome::problem::FACE_NAMES
            .iter()
            .zip(&sp.boundaries)
            .map(|(f, b)| format!("{f}={}", b.kind_name()))
            .collect();
        let mut losses = String::new();
        if sp.clearance_rate.iter().any(|&k| k > 0.0) {
            losses.push_str("; clearance");
        }
        if sp.uptake_rate.iter().any(|&k| k > 0.0) {
            losses.push_str("; linear uptake");
        }
        writeln!(
            s,
            "  {:<10} [{}] D max {} µm²/s{losses}; {}",
            sp.name,
            sp.unit.text,
            fmt_g(d_max * 1e12),
            faces.join(" ")
        )?;
    }
    write!(s, "{}", describe_sources(problem))?;
    write!(s, "{}", describe_reactions(problem))?;
    write!(s, "{}", describe_timeline(problem))?;
    write!(s, "{}", describe_exposure(problem))?;
    writeln!(
        s,
        "time     scheme {}, end {} h, {} outputs, {} snapshots",
        problem.schedule.scheme.name(),
        fmt_g(problem.schedule.end / 3600.0),
        problem.schedule.output_times.len(),
        problem.schedule.snapshot_times.len() + 1
    )?;
    let work = match fixed_steps(&plan) {
        Some(n) if n > SHOWN_STEPS => String::new(),
        Some(n) => {
            format!(" ({} cell·species updates)", fmt_g(n as f64 * (g.n_cells() * problem.species.len()) as f64))
        }
        None => ", chosen during the run".into(),
    };
    writeln!(s, "step     explicit limit {} s; {}{work}", fmt_g(plan.limit), step_description(&plan))?;
    write!(s, "{}", describe_flow(problem, &plan))?;
    let bytes = engine_memory_bytes(problem);
    writeln!(s, "memory   {:.1} MiB for the engine", bytes as f64 / (1u64 << 20) as f64)?;
    Ok(s)
}

/// The exposure metrics' target regions, depth axis and thresholds (with their sources).
fn describe_exposure(problem: &Problem) -> String {
    let m = &problem.metrics;
    if m.targets.is_empty() {
        return "exposure none ([metrics] targets = [])\n".into();
    }
    let mut s = format!(
        "exposure in {} (depth along {}), taken after every step\n",
        m.targets.iter().map(|t| format!("{} ({} cells)", t.name, t.cells.len())).collect::<Vec<_>>().join(", "),
        ["x", "y", "z"][m.depth_axis]
    );
    for sp in &problem.species {
        let (source, mark) = secretome::scenario::threshold::threshold_source(sp);
        match sp.bioactive_threshold {
            Some(t) => s.push_str(&format!(
                "  {:<12} threshold {} {}{}{}: {source}\n",
                sp.name,
                fmt_g(t),
                sp.unit.text,
                sp.bioactive_ceiling.map(|c| format!(", ceiling {} {}", fmt_g(c), sp.unit.text)).unwrap_or_default(),
                mark.map(|m| format!(" [{}]", m.name())).unwrap_or_default()
            )),
            None => s.push_str(&format!(
                "  {:<12} no threshold (coverage, time above it and penetration need `bioactive_threshold`)\n",
                sp.name
            )),
        }
    }
    if let Some(ml) = secretome::run::cm_used_ml(problem) {
        s.push_str(&format!("cost     {} mL of 1x CM over {} fills\n", fmt_g(ml), 1 + problem.timeline.doses.len()));
    }
    s
}

/// The doses (grouped by region and mode) and the degrading materials.
fn describe_timeline(problem: &Problem) -> String {
    use secretome::problem::{DiffusivityChange, DoseMode};
    let t = &problem.timeline;
    let mut s = String::new();
    if !t.doses.is_empty() {
        s.push_str(&format!("doses    {}\n", t.doses.len()));
        let mut groups: Vec<(&str, DoseMode, Vec<f64>)> = Vec::new();
        for d in &t.doses {
            match groups.iter_mut().find(|g| g.0 == d.region && g.1 == d.mode) {
                Some(g) => g.2.push(d.time),
                None => groups.push((&d.region, d.mode, vec![d.time])),
            }
        }
        for (region, mode, times) in groups {
            let mode = if mode == DoseMode::Replace { "replace" } else { "add" };
            let shown: Vec<String> = times.iter().take(4).map(|t| format!("{} h", fmt_g(t / 3600.0))).collect();
            let more = if times.len() > 4 {
                format!(", … {} h", fmt_g(times[times.len() - 1] / 3600.0))
            } else {
                String::new()
            };
            s.push_str(&format!("  {region:<14} {mode:<8} {} × at {}{more}\n", times.len(), shown.join(", ")));
        }
    }
    for d in &t.degradation {
        let diffusivity = match &d.diffusivity {
            DiffusivityChange::None => "D unchanged".to_string(),
            DiffusivityChange::Exponential { rate, max_factor } => format!(
                "D × exp({} t/d){}",
                fmt_g(rate * 86400.0),
                if max_factor.is_finite() { format!(" up to × {}", fmt_g(*max_factor)) } else { String::new() }
            ),
            DiffusivityChange::Table(points) => format!("D × a table of {} points", points.len()),
            DiffusivityChange::Mesh { rate, law, .. } => match law {
                secretome::problem::MeshLaw::Amsden { .. } => {
                    format!("D from the Amsden mesh model, mesh size × exp({} t/d)", fmt_g(rate * 86400.0))
                }
                secretome::problem::MeshLaw::Ogston { .. } => {
                    format!("D from the Ogston mesh model, polymer fraction × exp(−{} t/d)", fmt_g(rate * 86400.0))
                }
            },
        };
        let sites = if d.site_loss_rate > 0.0 {
            format!("sites × exp(−{} t/d)", fmt_g(d.site_loss_rate * 86400.0))
        } else {
            "sites unchanged".to_string()
        };
        s.push_str(&format!(
            "degrades {:<14} {diffusivity}; {sites}; coefficients updated every {} h\n",
            problem.materials[d.material].name,
            fmt_g(d.interval / 3600.0)
        ));
    }
    s
}

/// The values taken from the factor library, a CM composition or a mesh model, with their marks.
fn describe_sources(problem: &Problem) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if problem.species.iter().all(|sp| sp.sources.is_empty()) {
        return s;
    }
    s.push_str("sources  values not written in the scenario [mark]\n");
    for sp in problem.species.iter().filter(|sp| !sp.sources.is_empty()) {
        for v in &sp.sources {
            let _ = writeln!(s, "  {:<10} {:<20} {} [{}]", sp.name, v.key, v.value, v.mark);
            let _ = writeln!(s, "  {:<10} {:<20}   from {}", "", "", v.source);
        }
    }
    s
}

/// The interstitial flow and what it means on this grid: the velocities, the cell Péclet and
/// Courant figures, and a warning for each stated limit the scenario passes
/// (`secretome::scheme::FlowFigures`).
fn describe_flow(problem: &Problem, plan: &StepPlan) -> String {
    use secretome::problem::Scheme;
    use secretome::scheme::PECLET_WARNING;
    let Some(f) = problem.flow_figures() else { return String::new() };
    let counts = problem.material_cell_counts();
    let mut s = String::from("flow\n");
    for (m, mat) in problem.materials.iter().enumerate().filter(|&(m, _)| counts[m] > 0) {
        let v = problem.velocity_of(m).map(|x| fmt_g(x * 1e6));
        s.push_str(&format!("  {:<14} ({}, {}, {}) µm/s\n", mat.name, v[0], v[1], v[2]));
    }
    s.push_str(&format!(
        "  upwind: cell Péclet |v|·h/D up to {} ({} in {}; numerical diffusion |v|·h/2 = {}% of D); \
         the flow crosses a cell in {} s; the explicit limit includes it\n",
        fmt_g(f.max_cell_peclet),
        f.peclet_species,
        f.peclet_material,
        fmt_g(50.0 * f.max_cell_peclet),
        fmt_g(f.courant_step)
    ));
    if f.max_cell_peclet > PECLET_WARNING {
        s.push_str(&format!(
            "  warning: cell Péclet {} > {PECLET_WARNING}: the upwind scheme's numerical diffusion exceeds the \
             physical diffusivity of {} in {}; refine the grid along the flow by a factor of {} or more{}\n",
            fmt_g(f.max_cell_peclet),
            f.peclet_species,
            f.peclet_material,
            fmt_g(f.max_cell_peclet / PECLET_WARNING),
            if problem.grid.dimension() == 3 {
                " (in 3D, advection-dominated modes can also grow under Douglas steps much longer than the \
                 flow's crossing time: docs/numerics.md)"
            } else {
                ""
            }
        ));
    }
    // The longest step the fixed plan takes (the adaptive step bounds its own error).
    let fixed_step = match plan.stepping {
        Stepping::Fixed(_) => plan.max_step(),
        _ => None,
    };
    if let (Scheme::AdiDouglas, Some(dt)) = (problem.schedule.scheme, fixed_step) {
        if dt > f.courant_step {
            s.push_str(&format!(
                "  warning: the fixed ADI step of {} s moves the flow {} cells per step (Courant number > 1): \
                 fronts are smeared over several cells; take dt ≤ {} s or the adaptive step\n",
                fmt_g(dt),
                fmt_g(dt / f.courant_step),
                fmt_g(f.courant_step)
            ));
        }
    }
    s
}

/// The pools and reaction terms, one line per term and the materials it acts in.
fn describe_reactions(problem: &Problem) -> String {
    use secretome::problem::{Form, Reaction};
    let mut s = String::new();
    if !problem.pools.is_empty() {
        s.push_str("pools\n");
        for pool in &problem.pools {
            let sites: Vec<String> = (0..problem.materials.len())
                .filter(|&m| pool.density[m] > 0.0)
                .map(|m| format!("{} {} µM", problem.materials[m].name, fmt_g(pool.density[m] * 1e3)))
                .collect();
            let sites = if sites.is_empty() { "no sites".to_string() } else { sites.join(", ") };
            s.push_str(&format!("  {:<14} {sites}\n", pool.name));
        }
    }
    // Terms equal but for their material are listed once, with every material.
    let mut lines: Vec<((String, String), Vec<&str>)> = Vec::new();
    for r in &problem.reactions {
        let name = |i: usize| problem.species[i].name.as_str();
        let text = match *r {
            Reaction::Binding { species, pool, k_on, k_off, .. } => (
                format!("binding: {} ⇌ {}", name(species), problem.pools[pool].name),
                format!(
                    "(k_on {:.3e} 1/(M·s), k_off {} 1/s, K_d {} nM)",
                    k_on * 1e3,
                    fmt_g(k_off),
                    fmt_g(k_off / k_on * 1e6)
                ),
            ),
            Reaction::Uptake { species, vmax, km, .. } => {
                let unit = &problem.species[species].unit.text;
                (
                    format!("uptake: {}", name(species)),
                    format!("(V_max {} {unit}/h, K_m {} {unit})", fmt_g(vmax * 3600.0), fmt_g(km)),
                )
            }
            Reaction::Conversion { from, form, to, rate, yield_, .. } => (
                format!(
                    "conversion: {}{} → {}",
                    name(from),
                    if form == Form::Bound { " (bound)" } else { "" },
                    name(to)
                ),
                format!("(rate {} 1/h, yield {})", fmt_g(rate * 3600.0), fmt_g(yield_)),
            ),
        };
        let material = problem.materials[r.material()].name.as_str();
        match lines.iter_mut().find(|(t, _)| *t == text) {
            Some((_, materials)) => materials.push(material),
            None => lines.push((text, vec![material])),
        }
    }
    if !lines.is_empty() {
        s.push_str("reactions\n");
        for ((head, tail), materials) in lines {
            s.push_str(&format!("  {head} in {} {tail}\n", materials.join(", ")));
        }
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn bench_command(
    cube: usize,
    steps: u64,
    threads: usize,
    no_gpu: bool,
    no_wound: bool,
    json: Option<PathBuf>,
    sweep_cases: usize,
    only_sweep: bool,
) -> Result<()> {
    use secretome::bench;
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let wound = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/wound_gel_2d.toml");
    let options = bench::Options {
        cube,
        cube_steps: steps,
        threads,
        gpu: !no_gpu,
        wound: (!no_wound).then_some(wound.clone()),
        scenarios: if no_wound {
            Vec::new()
        } else {
            ["ulcer_twice_daily_14d.toml", "adscm_every_3_days_8wk.toml"]
                .iter()
                .map(|f| Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(f))
                .collect()
        },
        sweep: (sweep_cases > 0).then(|| (wound.clone(), sweep_cases)),
        only_sweep,
    };
    println!("{}", bench::table_header());
    let rows = bench::run_suite(&options, &mut |row| println!("{}", bench::table_line(row)))?;
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&rows).context("rows are plain data")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn info() {
    let adapters = device::list_adapters();
    if adapters.is_empty() {
        println!("GPU adapters: none found");
    } else {
        println!("GPU adapters:");
        for a in &adapters {
            println!(
                "  {} ({}, {}{}), max storage binding {} MiB, f64 {}, timestamps {}",
                a.name,
                a.backend,
                a.device_type,
                if a.software { ", software" } else { "" },
                a.max_storage_binding >> 20,
                if a.shader_f64 { "yes" } else { "no" },
                if a.timestamps { "yes" } else { "no" },
            );
        }
    }
    let (choice, reason) = device::auto_choice();
    match choice {
        Some(a) => println!("--backend auto uses the GPU engine on {}: {reason}", a.name),
        None => println!("--backend auto uses the CPU engine: {reason}"),
    }
}
