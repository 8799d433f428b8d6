//! One explicit step of each engine on a 3D grid of 64³ cells with 10 species, reported as
//! cell·species updates per second (criterion's "elements").

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secretome::problem::Problem;
use secretome::solver::Engine;
use secretome::solver::cpu::CpuReference;
use secretome::solver::gpu::{GpuContext, GpuEngine, device};

const N: usize = 64;
const SPECIES: usize = 10;

fn step(c: &mut Criterion) {
    let problem = Problem::loaded_sphere_cube(N, SPECIES, 10e-6);
    let dt = 0.9 * problem.explicit_step_limit();
    let mut group = c.benchmark_group("explicit_step_64cube_10species");
    group.throughput(Throughput::Elements((problem.grid.n_cells() * SPECIES) as u64));
    group.sample_size(10);

    let mut cpu = CpuReference::new(&problem);
    group.bench_function("cpu_reference", |b| b.iter(|| cpu.step(1, dt).unwrap()));

    match device::open(true).and_then(GpuContext::new) {
        Ok(context) => {
            let name = format!("gpu ({})", context.gpu.adapter.name);
            let mut engine = GpuEngine::new(&context, &problem).expect("benchmark problem fits the adapter");
            // Ten steps per sample, finished by a small read so the GPU work is timed, not queued.
            group.throughput(Throughput::Elements((10 * problem.grid.n_cells() * SPECIES) as u64));
            group.bench_function(format!("{name}, 10 steps"), |b| {
                b.iter(|| {
                    engine.step(10, dt).unwrap();
                    engine.reduce_totals().unwrap()
                })
            });
        }
        Err(e) => eprintln!("GPU benchmark skipped: {e}"),
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
