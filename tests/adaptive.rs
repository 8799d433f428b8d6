//! The error-controlled ADI step (step doubling in `run.rs`): it meets its tolerance against an
//! exact solution, lands exactly on output times, grows the step after the initial burst, and
//! runs the same on the GPU as on the CPU.

mod common;

use common::*;
use secretome::output::OutputDir;
use secretome::problem::{Boundary, Problem, Scheme, TimeStep};
use secretome::run::{self, Silent, Summary};
use secretome::solver::Engine;
use secretome::solver::cpu::CpuReference;

const D: f64 = 1e-10;

/// Crank's slab released into perfect sinks on both faces (1 mm, 100 cells), adaptive ADI.
fn slab(tolerance: f64) -> Problem {
    let sink = Boundary::Fixed { value: 0.0 };
    let s = species("slab", &[D], &[0.0], &[100.0], faces(sink, sink));
    let mut p = line(100, 1e-3, &["gel"], |_| 0, vec![s], 3600.0);
    p.schedule.scheme = Scheme::AdiDouglas;
    p.schedule.time_step = TimeStep::Adaptive { tolerance };
    p.schedule.output_times = vec![1200.0, 2400.0, 3600.0];
    p.schedule.snapshot_times = vec![3600.0];
    p
}

fn crank(t: f64) -> f64 {
    let l = 1e-3;
    1.0 - (0..200)
        .map(|n| {
            let m = (2 * n + 1) as f64;
            let pi2 = std::f64::consts::PI.powi(2);
            8.0 / (m * m * pi2) * (-(m * m) * pi2 * D * t / (l * l)).exp()
        })
        .sum::<f64>()
}

/// Runs `p` on `engine` into a temporary folder; returns the summary and the release curve
/// (time s, released fraction) read back from timeseries.csv.
fn run_slab(p: &Problem, engine: &mut dyn Engine) -> (Summary, Vec<(f64, f64)>) {
    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::create(&dir.path().join("run"), false).unwrap();
    let summary = run::run(p, engine, &out, &mut Silent).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("run/timeseries.csv")).unwrap();
    let curve = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[8].parse::<f64>().unwrap() / 100.0)
        })
        .collect();
    (summary, curve)
}

/// Release curve of the finite-volume line (uniform D, fixed 0 half a cell beyond each end),
/// integrated in f64 with classical RK4 at 0.02 s — the same space discretisation without time
/// error, at the output times and t = 0.
fn semi_discrete_release(p: &Problem) -> Vec<(f64, f64)> {
    let n = p.grid.cells[0];
    let h = p.grid.spacing[0];
    let (a, g) = (D / (h * h), 2.0 * D / (h * h));
    let rhs = |c: &[f64], out: &mut [f64]| {
        for i in 0..n {
            let left = if i == 0 { -g * c[0] } else { a * (c[i - 1] - c[i]) };
            let right = if i + 1 == n { -g * c[i] } else { a * (c[i + 1] - c[i]) };
            out[i] = left + right;
        }
    };
    let mut c = vec![1.0; n];
    let mut k = [vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]];
    let mut tmp = vec![0.0; n];
    let dt = 0.02;
    let mut t = 0.0;
    let mut curve = vec![(0.0, 0.0)];
    for &t_out in &p.schedule.output_times {
        let steps = ((t_out - t) / dt).round() as usize;
        for _ in 0..steps {
            rhs(&c, &mut k[0]);
            for (j, stage) in [0.5, 0.5, 1.0].iter().enumerate() {
                for i in 0..n {
                    tmp[i] = c[i] + stage * dt * k[j][i];
                }
                let (done, rest) = k.split_at_mut(j + 1);
                let _ = done;
                rhs(&tmp, &mut rest[0]);
            }
            for i in 0..n {
                c[i] += dt / 6.0 * (k[0][i] + 2.0 * k[1][i] + 2.0 * k[2][i] + k[3][i]);
            }
        }
        t = t_out;
        curve.push((t, 1.0 - c.iter().sum::<f64>() / n as f64));
    }
    curve
}

#[test]
fn adaptive_release_meets_tolerance_and_lands_on_output_times() {
    // The same grid integrated in f64 by RK4 with tiny steps: the difference from it is the
    // adaptive run's time error alone (plus f32 round-off).
    let reference = semi_discrete_release(&slab(1e-3));
    let space_error = reference.iter().skip(1).map(|&(t, f)| (f - crank(t)).abs()).fold(0.0, f64::max);
    eprintln!("semi-discrete f64 reference: worst |released − Crank| {space_error:.2e} (the grid's own error)");
    assert!(space_error < 1.5e-4);

    let mut results = Vec::new();
    for tolerance in [1e-2, 1e-3, 1e-4] {
        let p = slab(tolerance);
        let (summary, curve) = run_slab(&p, &mut CpuReference::new(&p));
        let times: Vec<f64> = curve.iter().map(|c| c.0).collect();
        let expected: Vec<f64> = std::iter::once(0.0).chain(p.schedule.output_times.iter().copied()).collect();
        assert_eq!(times, expected, "rows must sit exactly on the output times");
        let time_error = curve.iter().zip(&reference).map(|(a, b)| (a.1 - b.1).abs()).fold(0.0, f64::max);
        let stats = &summary.time.stats;
        eprintln!(
            "tolerance {tolerance:e}: time error of the release {time_error:.2e}, {} steps ({} computed, {} pairs rejected), dt {:.3}..{:.1} s",
            stats.steps, stats.steps_computed, stats.rejected_steps, stats.smallest_step_s, stats.largest_step_s
        );
        assert!(summary.species[0].relative_balance_error < 1e-5);
        // The burst needs small steps, the tail takes large ones.
        assert!(stats.largest_step_s > 20.0 * stats.smallest_step_s, "{stats:?}");
        // Local error per step ≤ tolerance × scale; the released fraction's global error stays
        // within a small multiple of the tolerance.
        assert!(time_error < 2.0 * tolerance, "tolerance {tolerance}: time error {time_error}");
        results.push((tolerance, time_error, stats.steps));
    }
    for w in results.windows(2) {
        assert!(w[1].1 < 0.5 * w[0].1, "a tighter tolerance must cut the time error: {results:?}");
        assert!(w[1].2 > w[0].2, "a tighter tolerance takes more steps: {results:?}");
    }
    // Far fewer steps than the explicit scheme needs for the same hour.
    let explicit_steps = 3600.0 / (0.9 * slab(1e-3).explicit_step_limit());
    assert!((results[1].2 as f64) < explicit_steps / 20.0, "{results:?} vs explicit {explicit_steps}");
}

#[test]
fn gpu_adaptive_run_takes_the_same_steps_as_the_cpu() {
    let Some(gpu) = secretome::solver::gpu::context_for_tests("gpu_adaptive_run_takes_the_same_steps_as_the_cpu")
    else {
        return;
    };
    // No decay: the ADI kernels of both engines are bit-identical on the same adapter without
    // `exp`, so the controller makes the same decisions; with decay they may differ by a step.
    let p = slab(1e-3);
    let (cpu, cpu_curve) = run_slab(&p, &mut CpuReference::new(&p));
    let mut engine = secretome::solver::gpu::GpuEngine::new(&gpu, &p).unwrap();
    let (gpu_summary, gpu_curve) = run_slab(&p, &mut engine);
    assert_eq!(cpu.time.stats.steps, gpu_summary.time.stats.steps);
    assert_eq!(cpu.time.stats.rejected_steps, gpu_summary.time.stats.rejected_steps);
    for (a, b) in cpu_curve.iter().zip(&gpu_curve) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() < 1e-6, "released at {} s: cpu {} gpu {}", a.0, a.1, b.1);
    }
}

#[test]
fn restore_returns_to_the_saved_state_exactly() {
    let p = slab(1e-3);
    let mut engine = CpuReference::new(&p);
    engine.step(3, 5.0).unwrap();
    engine.save(0).unwrap();
    let before = engine.read_field().unwrap();
    engine.step(4, 7.0).unwrap();
    assert_ne!(engine.read_field().unwrap(), before);
    engine.restore(0).unwrap();
    assert_eq!(engine.read_field().unwrap(), before);
    // The books restored too: stepping on from the restored state equals stepping once.
    let mut twin = CpuReference::new(&p);
    twin.step(3, 5.0).unwrap();
    twin.step(2, 9.0).unwrap();
    engine.step(2, 9.0).unwrap();
    assert_eq!(engine.read_field().unwrap(), twin.read_field().unwrap());
    assert_eq!(engine.reduce_totals().unwrap(), twin.reduce_totals().unwrap());
    assert!(engine.restore(5).is_err());
}

#[test]
fn fast_engine_adaptive_run_matches_the_reference() {
    // The fast engine's fields are bit-identical to the reference's, so step doubling makes the
    // same decisions on both; only the books are summed differently (f64 per plane).
    let mut p = slab(1e-3);
    for s in &mut p.species {
        s.decay_rate = vec![2e-4];
    }
    let (reference, ref_curve) = run_slab(&p, &mut CpuReference::new(&p));
    for threads in [1, 2] {
        let mut fast = secretome::solver::fast::CpuFast::new(&p, threads).unwrap();
        let (summary, curve) = run_slab(&p, &mut fast);
        assert_eq!(reference.time.stats.steps, summary.time.stats.steps);
        assert_eq!(reference.time.stats.rejected_steps, summary.time.stats.rejected_steps);
        for (a, b) in ref_curve.iter().zip(&curve) {
            assert!((a.1 - b.1).abs() < 1e-6, "released at {} s: reference {} fast {}", a.0, a.1, b.1);
        }
        assert!(summary.species[0].relative_balance_error < 1e-5);
    }
}
