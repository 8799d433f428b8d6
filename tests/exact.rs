//! The explicit finite-volume scheme against exact solutions on every engine, with asserted
//! error bounds and measured spatial convergence orders (the step is tied to h², so the time
//! error is O(h²) too).

mod common;

use common::engines::{ENGINE_NAMES, Gpu, engine_count, nth_engine};
use common::*;
use secretome::problem::Boundary;

const D: f64 = 1e-10; // 100 µm²/s

/// Runs a 1D problem on engine `e` (of [`nth_engine`]) to `t` and returns the field of species 0.
fn run_line(problem: &secretome::problem::Problem, e: usize, t: f64) -> Vec<f32> {
    let mut engine = nth_engine(problem, Gpu::Include, e);
    advance_to(engine.engine.as_mut(), t, 0.9 * problem.explicit_step_limit());
    engine.engine.read_field().unwrap()[..problem.grid.n_cells()].to_vec()
}

/// Name of engine `e`.
fn engine_name(e: usize) -> &'static str {
    ENGINE_NAMES[e]
}

/// A step (1 on the left half, 0 on the right) between no-flux walls: the exact solution is the
/// erf profile plus its mirror images in the walls.
#[test]
fn step_spreads_as_erf_with_second_order_convergence() {
    for e in 0..engine_count(Gpu::Include) {
        let name = engine_name(e);
        let length = 1e-3;
        let t = 300.0;
        let exact = |x: f64| {
            (-4..=4)
                .map(|n| {
                    let shift = 2.0 * length * n as f64;
                    box_spread(x, shift - 0.5 * length, shift + 0.5 * length, D * t)
                })
                .sum::<f64>()
        };
        let errors: Vec<f64> = [40, 80, 160]
            .iter()
            .map(|&n| {
                let h = length / n as f64;
                let s = species("step", &[D, D], &[0.0, 0.0], &[1.0, 0.0], faces(Boundary::NoFlux, Boundary::NoFlux));
                let p = line(n, length, &["left", "right"], |x| u32::from(x > 0.5 * length), vec![s], t);
                let field = run_line(&p, e, t);
                rms_error(&field, |i| exact((i as f64 + 0.5) * h))
            })
            .collect();
        let orders = [order(errors[0], errors[1], 2.0), order(errors[1], errors[2], 2.0)];
        eprintln!("{name}: erf step: rms errors {errors:?}, orders {orders:?}");
        assert!(errors[2] < 2e-5, "{name}: rms error at 160 cells {} (bound 2e-5)", errors[2]);
        for o in orders {
            assert!((1.8..2.3).contains(&o), "{name}: convergence order {o}, expected ≈ 2 (errors {errors:?})");
        }
    }
}

/// Release from a slab of thickness L into a perfect sink at both faces (Crank 1975, eq. 4.18):
/// M_t/M_∞ = 1 − Σ 8/((2n+1)²π²) exp(−(2n+1)²π² D t / L²). The released amount is taken from
/// the engine's own bookkeeping (outflow through the faces), not from the field.
#[test]
fn slab_release_follows_crank_series() {
    for e in 0..engine_count(Gpu::Include) {
        let name = engine_name(e);
        let length = 1e-3;
        let crank = |t: f64| {
            1.0 - (0..200)
                .map(|n| {
                    let m = (2 * n + 1) as f64;
                    8.0 / (m * m * std::f64::consts::PI.powi(2))
                        * (-(m * m) * std::f64::consts::PI.powi(2) * D * t / (length * length)).exp()
                })
                .sum::<f64>()
        };
        let sink = Boundary::Fixed { value: 0.0 };
        let times = [60.0, 300.0, 900.0, 2400.0];
        let worst_for = |n: usize| {
            let s = species("slab", &[D], &[0.0], &[50.0], faces(sink, sink));
            let p = line(n, length, &["gel"], |_| 0, vec![s], times[3]);
            let mut engine = nth_engine(&p, Gpu::Include, e);
            let engine = engine.engine.as_mut();
            let initial: f64 = engine.reduce_totals().unwrap()[0].present.iter().sum();
            let mut released = 0.0;
            let mut t_prev = 0.0;
            let mut worst: f64 = 0.0;
            for &t in &times {
                advance_to(engine, t - t_prev, 0.9 * p.explicit_step_limit());
                t_prev = t;
                let totals = &engine.reduce_totals().unwrap()[0];
                released += totals.outflow.iter().sum::<f64>();
                let fraction = released / initial;
                eprintln!("{name}: slab n={n} t={t} s: released {fraction:.6}, Crank {:.6}", crank(t));
                worst = worst.max((fraction - crank(t)).abs());
            }
            worst
        };
        let (coarse, fine) = (worst_for(50), worst_for(100));
        eprintln!("{name}: slab release: max |error| {coarse:.2e} (50 cells), {fine:.2e} (100 cells)");
        assert!(fine < 1.5e-4, "{name}: released fraction off Crank's series by {fine} (bound 1.5e-4)");
        let o = order(coarse, fine, 2.0);
        assert!(o > 1.8, "{name}: release error converges at order {o}, expected ≈ 2");
    }
}

/// Pure first-order decay in a uniform field: c = c0·exp(−k t). Forward Euler is first order
/// in time; the error bound and the measured order say so.
#[test]
fn uniform_decay_matches_exponential_at_first_order_in_time() {
    for e in 0..engine_count(Gpu::Include) {
        let name = engine_name(e);
        let k = 1e-3;
        let t = 1000.0;
        let error_for = |dt: f64| {
            let s = species("decaying", &[D], &[k], &[1.0], faces(Boundary::NoFlux, Boundary::NoFlux));
            let p = box_problem([5, 4, 3], [1e-4, 1e-4, 1e-4], &["tissue"], |_| 0, vec![s], t);
            let mut engine = nth_engine(&p, Gpu::Include, e);
            let engine = engine.engine.as_mut();
            engine.step((t / dt).round() as u64, dt).unwrap();
            let field = engine.read_field().unwrap();
            field.iter().map(|&v| (v as f64 - (-k * t).exp()).abs()).fold(0.0, f64::max)
        };
        let errors = [error_for(20.0), error_for(10.0), error_for(5.0)];
        // Leading error of (1 − k dt)^n against e^{−kt}: e^{−kt}·k² t dt / 2.
        let predicted = (-k * t).exp() * k * k * t * 5.0 / 2.0;
        eprintln!("{name}: decay: max errors {errors:?}, predicted {predicted:.3e} at dt = 5 s");
        assert!(
            (errors[2] - predicted).abs() < 0.05 * predicted,
            "{name}: error {} vs predicted {predicted}",
            errors[2]
        );
        for o in [order(errors[0], errors[1], 2.0), order(errors[1], errors[2], 2.0)] {
            assert!((0.95..1.05).contains(&o), "{name}: time order {o}, expected 1 for forward Euler");
        }
    }
}

/// Steady state of diffusion with decay fed by a fixed concentration at x = 0 and closed at
/// x = L: c = c0·cosh((L − x)/ℓ)/cosh(L/ℓ), ℓ = √(D/k).
#[test]
fn steady_decay_profile_from_fixed_boundary_converges_at_second_order() {
    for e in 0..engine_count(Gpu::Include) {
        let name = engine_name(e);
        let k = 1e-3;
        let ell = (D / k).sqrt();
        let length = 6.0 * ell;
        let c0 = 10.0;
        let exact = |x: f64| c0 * ((length - x) / ell).cosh() / (length / ell).cosh();
        // Slowest mode decays at rate k + D(π/2L)²; 25/k leaves e^-25 of the transient.
        let t = 25.0 / k;
        let errors: Vec<f64> = [25, 50, 100]
            .iter()
            .map(|&n| {
                let h = length / n as f64;
                let s = species("fed", &[D], &[k], &[0.0], faces(Boundary::Fixed { value: c0 }, Boundary::NoFlux));
                let p = line(n, length, &["tissue"], |_| 0, vec![s], t);
                let field = run_line(&p, e, t);
                rms_error(&field, |i| exact((i as f64 + 0.5) * h)) / c0
            })
            .collect();
        let orders = [order(errors[0], errors[1], 2.0), order(errors[1], errors[2], 2.0)];
        eprintln!("{name}: steady decay: relative rms errors {errors:?}, orders {orders:?}");
        assert!(errors[2] < 1.5e-4, "{name}: relative rms error {} (bound 1.5e-4)", errors[2]);
        for o in orders {
            assert!((1.8..2.3).contains(&o), "{name}: order {o}, expected ≈ 2");
        }
    }
}

/// Two media with diffusivities D1 (x < 0) and D2 (x > 0), the first loaded with c0: exact
/// (Crank 1975, §2.5) c1 = c0 − A·erfc(−x/2√(D1 t)), c2 = B·erfc(x/2√(D2 t)) with
/// A = c0√D2/(√D1+√D2), B = c0√D1/(√D1+√D2). Checks the harmonic-mean interface flux.
#[test]
fn two_material_interface_matches_exact_solution_at_second_order() {
    for e in 0..engine_count(Gpu::Include) {
        let name = engine_name(e);
        let (d1, d2): (f64, f64) = (1e-10, 1e-11);
        let length = 2e-3;
        let c0: f64 = 1.0;
        let t = 100.0;
        let (a, b) = (c0 * d2.sqrt() / (d1.sqrt() + d2.sqrt()), c0 * d1.sqrt() / (d1.sqrt() + d2.sqrt()));
        let exact = |x: f64| {
            let x = x - 0.5 * length;
            if x < 0.0 {
                c0 - a * libm::erfc(-x / (2.0 * (d1 * t).sqrt()))
            } else {
                b * libm::erfc(x / (2.0 * (d2 * t).sqrt()))
            }
        };
        let errors: Vec<f64> = [200, 400, 800]
            .iter()
            .map(|&n| {
                let h = length / n as f64;
                let s = species("pair", &[d1, d2], &[0.0, 0.0], &[c0, 0.0], faces(Boundary::NoFlux, Boundary::NoFlux));
                let p = line(n, length, &["gel", "tissue"], |x| u32::from(x > 0.5 * length), vec![s], t);
                let field = run_line(&p, e, t);
                rms_error(&field, |i| exact((i as f64 + 0.5) * h))
            })
            .collect();
        let orders = [order(errors[0], errors[1], 2.0), order(errors[1], errors[2], 2.0)];
        eprintln!("{name}: interface: rms errors {errors:?}, orders {orders:?}");
        assert!(errors[2] < 2.5e-5, "{name}: rms error {} (bound 2.5e-5)", errors[2]);
        for o in orders {
            assert!((1.8..2.3).contains(&o), "{name}: order {o}, expected ≈ 2");
        }
    }
}
