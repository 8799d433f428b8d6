//! One step of the fast CPU engine on BioFVM's benchmark problem: 128³ cells of 10 µm, 10
//! species, D = 100 µm²/s, decay 1e-3 1/s, no-flux faces; the ADI scheme at dt = 0.6 s (3.6× the
//! explicit limit) and the explicit scheme at 0.9× its limit, with 1 and 2 threads. Reported as
//! cell·species updates per second (criterion's "elements"). Before timing, prints the peak
//! resident memory of building the ADI engine and taking a few steps, per cell·species.
//!
//! Also one ADI step of the 100-cell slab line of `secretome bench` (a small problem: the serial
//! path, no thread-pool dispatch).
//!
//! `SECRETOME_BENCH_N` changes the edge (default 128).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secretome::problem::{Problem, Scheme};
use secretome::solver::Engine;
use secretome::solver::fast::CpuFast;
use std::time::Duration;

const SPECIES: usize = 10;
/// The ADI step of the comparison, in seconds.
const ADI_DT: f64 = 0.6;

fn edge() -> usize {
    std::env::var("SECRETOME_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(128)
}

fn problem(scheme: Scheme) -> Problem {
    let mut p = Problem::uniform_sphere_cube(edge(), SPECIES, 10e-6, 1e-10, 1e-3);
    p.schedule.scheme = scheme;
    p
}

/// A line of /proc/self/status in bytes (`VmHWM`, `VmRSS`), where there is one.
fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn memory(_: &mut Criterion) {
    let p = problem(Scheme::AdiDouglas);
    let elements = (p.grid.n_cells() * SPECIES) as f64;
    let before = status_bytes("VmHWM:").unwrap_or(0);
    let mut engine = CpuFast::new(&p, 2).unwrap();
    engine.step(3, ADI_DT).unwrap();
    engine.reduce_totals().unwrap();
    if let Some(peak) = status_bytes("VmHWM:") {
        eprintln!(
            "peak resident memory with the {} problem and a 2-thread ADI engine: {:.1} MiB, {:.2} bytes per \
             cell·species ({:.2} before the engine: the problem itself)",
            p.name,
            peak as f64 / 1048576.0,
            peak as f64 / elements,
            before as f64 / elements
        );
    }
}

fn step(c: &mut Criterion) {
    for scheme in [Scheme::AdiDouglas, Scheme::ExplicitFtcs] {
        let p = problem(scheme);
        let dt = match scheme {
            Scheme::AdiDouglas => ADI_DT,
            Scheme::ExplicitFtcs => 0.9 * p.explicit_step_limit(),
        };
        let mut group = c.benchmark_group(format!("{}_step_{}cube_{SPECIES}species", scheme.name(), edge()));
        group.throughput(Throughput::Elements((p.grid.n_cells() * SPECIES) as u64));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(5));
        for threads in [1, 2] {
            let mut engine = CpuFast::new(&p, threads).unwrap();
            // Time steady Douglas steps, not the start-up's implicit-Euler substeps.
            engine.set_start_up_steps(0);
            group.bench_function(format!("cpu_fast_{threads}_threads"), |b| b.iter(|| engine.step(1, dt).unwrap()));
        }
        group.finish();
    }
}

fn small_step(c: &mut Criterion) {
    let p = secretome::bench::slab_line(Scheme::AdiDouglas);
    let mut group = c.benchmark_group("adi_douglas_step_slab_line_100");
    group.throughput(Throughput::Elements(p.grid.n_cells() as u64));
    for threads in [1, 2] {
        let mut engine = CpuFast::new(&p, threads).unwrap();
        engine.set_start_up_steps(0);
        group.bench_function(format!("cpu_fast_{threads}_threads"), |b| b.iter(|| engine.step(1, 1.0).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, memory, step, small_step);
criterion_main!(benches);
