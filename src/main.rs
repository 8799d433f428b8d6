//! The `secretome` command line: `run`, `validate`, `info`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use secretome::output::OutputDir;
use secretome::problem::Problem;
use secretome::run::{self, Progress, StepPlan};
use secretome::solver::cpu::CpuReference;
use secretome::solver::gpu::{GpuEngine, device};
use secretome::solver::{Engine, engine_memory_bytes};
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
    },
    /// Check a scenario and describe what would run, without running it.
    Validate {
        /// Scenario file (TOML).
        scenario: PathBuf,
    },
    /// List GPU adapters and say which engine `--backend auto` would use.
    Info,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// A hardware GPU if there is one, otherwise the CPU engine.
    Auto,
    /// The CPU engine.
    Cpu,
    /// The GPU engine on any adapter, software ones included.
    Gpu,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<()> {
    match Cli::parse().command {
        Command::Run { scenario, out, backend, quiet, overwrite } => {
            run_command(&scenario, out, backend, quiet, overwrite)
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
    }
}

fn load(path: &Path) -> Result<Problem> {
    Ok(secretome::scenario::load(path)?)
}

fn run_command(scenario: &Path, out: Option<PathBuf>, backend: Backend, quiet: bool, overwrite: bool) -> Result<()> {
    let problem = load(scenario)?;
    let plan = StepPlan::new(&problem)?;
    let out_path = out.unwrap_or_else(|| {
        Path::new("runs").join(scenario.file_stem().map(|s| s.to_os_string()).unwrap_or_else(|| "run".into()))
    });
    let mut engine = make_engine(backend, &problem)?;
    let out_dir = OutputDir::create(&out_path, overwrite)?;
    let info = engine.info();
    if !quiet {
        eprintln!(
            "{}: {} cells × {} species, {} steps of ≤ {} s on {} ({})",
            problem.name,
            problem.grid.n_cells(),
            problem.species.len(),
            plan.total_steps(),
            fmt_g(plan.dt_max),
            info.backend,
            info.device
        );
    }
    let mut bar = Bar::new(&problem, &plan, quiet);
    let summary = run::run(&problem, engine.as_mut(), &out_dir, &mut bar)
        .with_context(|| format!("run of {} failed", scenario.display()))?;
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
    Ok(())
}

fn make_engine(backend: Backend, problem: &Problem) -> Result<Box<dyn Engine>> {
    let gpu = match backend {
        Backend::Cpu => None,
        Backend::Gpu => Some(device::open(true)?),
        Backend::Auto => match device::auto_choice() {
            (Some(_), _) => Some(device::open(false)?),
            (None, _) => None,
        },
    };
    Ok(match gpu {
        Some(gpu) => Box::new(GpuEngine::new(&gpu, problem)?),
        None => Box::new(CpuReference::new(problem)),
    })
}

/// Progress on stderr: simulated time, wall time, ETA.
struct Bar {
    bar: ProgressBar,
    end_h: f64,
}

impl Bar {
    fn new(problem: &Problem, plan: &StepPlan, quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(
            Some(plan.total_steps()),
            if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() },
        );
        bar.set_style(
            ProgressStyle::with_template("{msg} [{wide_bar}] wall {elapsed_precise}, ETA {eta_precise}")
                .expect("static template")
                .progress_chars("=> "),
        );
        Bar { bar, end_h: problem.schedule.end / 3600.0 }
    }
}

impl Progress for Bar {
    fn advanced(&mut self, time: f64, steps_done: u64) {
        self.bar.set_position(steps_done);
        self.bar.set_message(format!("t = {:.3} h of {} h", time / 3600.0, fmt_g(self.end_h)));
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
    writeln!(s, "species  {}", problem.species.len())?;
    for sp in &problem.species {
        let d_max = sp.diffusivity.iter().cloned().fold(0.0, f64::max);
        let faces: Vec<String> = secretome::problem::FACE_NAMES
            .iter()
            .zip(&sp.boundaries)
            .map(|(f, b)| format!("{f}={}", b.kind_name()))
            .collect();
        writeln!(s, "  {:<10} [{}] D max {} µm²/s; {}", sp.name, sp.unit.text, fmt_g(d_max * 1e12), faces.join(" "))?;
    }
    writeln!(
        s,
        "time     scheme {}, end {} h, {} outputs, {} snapshots",
        problem.schedule.scheme.name(),
        fmt_g(problem.schedule.end / 3600.0),
        problem.schedule.output_times.len(),
        problem.schedule.snapshot_times.len() + 1
    )?;
    writeln!(
        s,
        "step     limit {} s, step ≤ {} s, {} steps ({} cell·species updates)",
        fmt_g(plan.limit),
        fmt_g(plan.dt_max),
        plan.total_steps(),
        fmt_g(plan.total_steps() as f64 * (g.n_cells() * problem.species.len()) as f64)
    )?;
    let bytes = engine_memory_bytes(problem);
    writeln!(s, "memory   {:.1} MiB for the engine", bytes as f64 / (1u64 << 20) as f64)?;
    Ok(s)
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
