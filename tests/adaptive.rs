//! The error-controlled ADI step (the embedded estimate in `src/run/control.rs`): on every engine it meets
//! its tolerance against an exact solution, lands exactly on output times, grows the step after
//! the initial burst, and keeps its books; save and restore return to a state exactly.

mod common;

use common::engines::{Gpu, engines};
use common::*;
use secretome::output::OutputDir;
use secretome::problem::{Boundary, Problem, Scheme, TimeStep};
use secretome::run::{self, Silent, Summary};
use secretome::solver::Engine;

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

    for name in engines(&slab(1e-3), Gpu::Include).iter().map(|e| e.name) {
        let mut results = Vec::new();
        for tolerance in [1e-2, 1e-3, 1e-4] {
            let p = slab(tolerance);
            let mut engine = engines(&p, Gpu::Include).into_iter().find(|e| e.name == name).unwrap();
            let (summary, curve) = run_slab(&p, engine.engine.as_mut());
            let times: Vec<f64> = curve.iter().map(|c| c.0).collect();
            let expected: Vec<f64> = std::iter::once(0.0).chain(p.schedule.output_times.iter().copied()).collect();
            assert_eq!(times, expected, "{name}: rows must sit exactly on the output times");
            let time_error = curve.iter().zip(&reference).map(|(a, b)| (a.1 - b.1).abs()).fold(0.0, f64::max);
            let stats = &summary.time.stats;
            eprintln!(
                "{name}, tolerance {tolerance:e}: time error of the release {time_error:.2e}, {} steps ({} computed, \
                 {} rejected), dt {:.3}..{:.1} s",
                stats.steps, stats.steps_computed, stats.rejected_steps, stats.smallest_step_s, stats.largest_step_s
            );
            assert!(summary.species[0].relative_balance_error < 1e-5, "{name}");
            // The embedded estimate computes no extra steps: only rejected ones are redone.
            assert_eq!(stats.steps_computed, stats.steps + stats.rejected_steps, "{name}");
            // The burst needs small steps, the tail takes large ones.
            assert!(stats.largest_step_s > 20.0 * stats.smallest_step_s, "{name}: {stats:?}");
            // Local error per step ≤ tolerance × scale; the released fraction's global error
            // stays within the tolerance.
            assert!(time_error < tolerance, "{name}, tolerance {tolerance}: time error {time_error}");
            results.push((tolerance, time_error, stats.steps));
        }
        for w in results.windows(2) {
            assert!(w[1].1 < 0.5 * w[0].1, "{name}: a tighter tolerance must cut the time error: {results:?}");
            assert!(w[1].2 > w[0].2, "{name}: a tighter tolerance takes more steps: {results:?}");
        }
        // Far fewer steps than the explicit scheme needs for the same hour.
        let explicit_steps = 3600.0 / (0.9 * slab(1e-3).explicit_step_limit());
        assert!((results[1].2 as f64) < explicit_steps / 20.0, "{name}: {results:?} vs explicit {explicit_steps}");
    }
}

#[test]
fn restore_returns_to_the_saved_state_exactly() {
    let mut p = slab(1e-3);
    p.species[0].decay_rate = vec![2e-4];
    for (mut e, mut twin) in engines(&p, Gpu::Include).into_iter().zip(engines(&p, Gpu::Include)) {
        let name = e.name;
        let engine = e.engine.as_mut();
        engine.track_rates(true);
        twin.engine.track_rates(true);
        engine.step(3, 5.0).unwrap();
        engine.save(0).unwrap();
        let before = engine.read_field().unwrap();
        // A rejected step, as the step controller takes one.
        engine.step(1, 7.0).unwrap();
        assert_ne!(engine.read_field().unwrap(), before, "{name}");
        engine.restore(0).unwrap();
        assert_eq!(engine.read_field().unwrap(), before, "{name}");
        // The books and the rate history restored too: stepping on from the restored state
        // equals stepping once, error estimate included.
        twin.engine.step(3, 5.0).unwrap();
        twin.engine.save(0).unwrap();
        twin.engine.step(1, 9.0).unwrap();
        engine.step(1, 9.0).unwrap();
        assert_eq!(engine.read_field().unwrap(), twin.engine.read_field().unwrap(), "{name}");
        let weights = secretome::solver::error_estimate(9.0, Some(5.0)).weights;
        assert_eq!(engine.local_error(weights).unwrap(), twin.engine.local_error(weights).unwrap(), "{name}");
        assert_eq!(engine.reduce_totals().unwrap(), twin.engine.reduce_totals().unwrap(), "{name}");
        assert!(engine.restore(5).is_err(), "{name}");
    }
}

/// The embedded estimate against the true local error of a Douglas step on smooth data (a
/// cosine mode with decay): from the same state, one step of `dt` is compared with 100 steps of
/// `dt/100` (whose own error is 10 000× smaller; steps long enough that f32 round-off stays
/// well below the error measured). The estimate, safety factor included, must
/// neither miss the error nor overstate it by more than the safety factor's margin.
#[test]
fn embedded_estimate_tracks_the_true_local_error() {
    use secretome::solver::error_estimate;
    let (n, length) = (64, 1e-3);
    let p = painted_box(
        [n, 1, 1],
        [length, 1e-3, 1e-3],
        D,
        |_| 5e-4,
        |x| 1.0 + (std::f64::consts::PI * x[0] / length).cos(),
        [Boundary::NoFlux; 6],
        1000.0,
    );
    let p = with_scheme(p, Scheme::AdiDouglas);
    for mut e in engines(&p, Gpu::Include) {
        let engine = e.engine.as_mut();
        engine.track_rates(true);
        for dt in [160.0, 80.0, 40.0] {
            engine.step(3, dt).unwrap();
            engine.save(0).unwrap();
            engine.step(1, dt).unwrap();
            let estimate = error_estimate(dt, Some(dt));
            let local = engine.local_error(estimate.weights).unwrap()[0].max * estimate.factor;
            let coarse = engine.read_field().unwrap();
            engine.restore(0).unwrap();
            engine.step(100, dt / 100.0).unwrap();
            let fine = engine.read_field().unwrap();
            let actual = coarse.iter().zip(&fine).map(|(a, b)| (a - b).abs() as f64).fold(0.0, f64::max);
            let ratio = local / actual;
            eprintln!(
                "{}, dt {dt} s: estimated local error {local:.3e}, actual {actual:.3e}, ratio {ratio:.2}",
                e.name
            );
            assert!((1.0..=8.0).contains(&ratio), "{}, dt {dt} s: estimate {local:e} vs actual {actual:e}", e.name);
        }
    }
}

/// A state exported after a reduction and imported into a fresh engine of the same problem
/// continues the run bit for bit (fields, books and error estimate), on every engine; a state of
/// another size is refused.
#[test]
fn exported_state_continues_the_run_bit_for_bit() {
    let mut p = slab(1e-3);
    p.species[0].decay_rate = vec![2e-4];
    for (mut e, mut fresh) in engines(&p, Gpu::Include).into_iter().zip(engines(&p, Gpu::Include)) {
        let name = e.name;
        let (engine, fresh) = (e.engine.as_mut(), fresh.engine.as_mut());
        engine.track_rates(true);
        engine.step(3, 5.0).unwrap();
        engine.reduce_totals().unwrap();
        let state = engine.export_state().unwrap();
        assert_eq!(state.rates.len(), 2 * state.field.len(), "{name}");
        fresh.import_state(&state).unwrap();
        assert_eq!(fresh.export_state().unwrap(), state, "{name}: a state must round-trip");
        for engine in [&mut *engine, &mut *fresh] {
            engine.save(0).unwrap();
            engine.step(1, 8.0).unwrap();
        }
        let weights = secretome::solver::error_estimate(8.0, Some(5.0)).weights;
        assert_eq!(engine.read_field().unwrap(), fresh.read_field().unwrap(), "{name}");
        assert_eq!(engine.local_error(weights).unwrap(), fresh.local_error(weights).unwrap(), "{name}");
        assert_eq!(engine.reduce_totals().unwrap(), fresh.reduce_totals().unwrap(), "{name}");
        let mut wrong = state.clone();
        wrong.field.pop();
        assert!(fresh.import_state(&wrong).is_err(), "{name}: a state of another size must be refused");
    }
}

/// A run interrupted at an output time and resumed from its saved states (the driver's,
/// through JSON, and the engine's) ends bit for bit where the uninterrupted run ends: fields,
/// books and step statistics, on every engine.
#[test]
fn a_run_resumed_from_saved_states_matches_the_uninterrupted_run() {
    use secretome::run::{Driver, DriverState};
    let mut p = slab(1e-3);
    p.species[0].decay_rate = vec![2e-4];
    for (mut whole, (mut first, mut second)) in
        engines(&p, Gpu::Include).into_iter().zip(engines(&p, Gpu::Include).into_iter().zip(engines(&p, Gpu::Include)))
    {
        let name = whole.name;
        let mut driver = Driver::new(&p, whole.engine.as_mut()).unwrap();
        while !driver.done() {
            driver.advance(whole.engine.as_mut(), &mut run::Silent).unwrap();
        }
        let (end_state, end_field) = (driver.state().clone(), whole.engine.read_field().unwrap());

        let mut interrupted = Driver::new(&p, first.engine.as_mut()).unwrap();
        interrupted.advance(first.engine.as_mut(), &mut run::Silent).unwrap();
        let saved = serde_json::to_string(interrupted.state()).unwrap();
        let engine_state = first.engine.export_state().unwrap();
        drop(interrupted);

        second.engine.import_state(&engine_state).unwrap();
        let state: DriverState = serde_json::from_str(&saved).unwrap();
        let mut resumed = Driver::resume(&p, state, second.engine.as_mut()).unwrap();
        while !resumed.done() {
            resumed.advance(second.engine.as_mut(), &mut run::Silent).unwrap();
        }
        assert_eq!(second.engine.read_field().unwrap(), end_field, "{name}: fields");
        assert_eq!(resumed.state(), &end_state, "{name}: books, controller and statistics");
        // A state from another schedule is refused.
        let mut other = p.clone();
        other.schedule.output_times = vec![1000.0, 3600.0];
        let state: DriverState = serde_json::from_str(&saved).unwrap();
        assert!(Driver::resume(&other, state, second.engine.as_mut()).is_err(), "{name}");
    }
}
