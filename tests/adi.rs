//! The Douglas ADI scheme (θ = 1/2, the loss inside the implicit stages, implicit-Euler LOD
//! start-up) on the reference engine: convergence orders in time and space against exact solutions, large-step accuracy at a
//! material interface, stability on sharp data at 100× the explicit limit, conservation and
//! bookkeeping; and naga validation of every shader with the size of its parameter structs.

mod common;

use common::*;
use secretome::problem::{Boundary, Problem, Scheme};
use secretome::solver::cpu::CpuReference;
use secretome::solver::{Coef, Engine, FaceBc, Params};
use std::f64::consts::PI;

const D: f64 = 1e-10; // 100 µm²/s

/// Every shader, composed with `shaders/common.wgsl` as the GPU engine compiles it, parses and
/// validates, and its parameter structs have the Rust twins' sizes; `Params` carries the ADI
/// stage coefficients and the error weights. The ADI kernels are the predictor, the sweeps and
/// `local_error` (the loss is solved inside the sweeps: no separate reaction kernel).
#[test]
fn shaders_validate_and_structs_match_their_rust_twins() {
    let shaders = secretome::solver::gpu::kernels::KERNELS.map(|k| (k.name, k.source));
    let names: Vec<&str> = shaders.iter().map(|(name, _)| *name).collect();
    for kernel in ["adi_predictor", "adi_sweep", "local_error"] {
        assert!(names.contains(&kernel), "no kernel {kernel} in {names:?}");
    }
    let sizes = [
        ("Params", std::mem::size_of::<Params>()),
        ("Coef", std::mem::size_of::<Coef>()),
        ("FaceBc", std::mem::size_of::<FaceBc>()),
    ];
    let params_fields =
        ["cells", "counts", "face_entries", "inv_h2", "inv_h", "half_h", "time", "stage", "error", "local"];
    for (name, source) in shaders {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(source)));
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let mut seen = 0;
        for (handle, ty) in module.types.iter() {
            if let Some((_, size)) = sizes.iter().find(|(n, _)| ty.name.as_deref() == Some(n)) {
                assert_eq!(layouter[handle].size as usize, *size, "{name}.wgsl: struct {:?}", ty.name);
                seen += 1;
            }
            if let (Some("Params"), naga::TypeInner::Struct { members, .. }) = (ty.name.as_deref(), &ty.inner) {
                let fields: Vec<_> = members.iter().map(|m| m.name.as_deref().unwrap_or("")).collect();
                assert_eq!(fields, params_fields, "{name}.wgsl: fields of Params");
            }
        }
        assert!(seen >= 1, "{name}.wgsl declares none of the shared structs");
        assert!(module.entry_points.iter().any(|e| e.name.starts_with(name)), "{name}.wgsl: entry point");
    }
}

/// Numbers in scientific notation with 3 decimals, for messages.
fn sci(values: &[f64]) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("{v:.3e}")).collect();
    format!("[{}]", parts.join(", "))
}

/// Runs `problem` with the ADI scheme to `t` in steps of `dt` and returns species 0's field.
fn adi_field(problem: &Problem, t: f64, dt: f64) -> Vec<f32> {
    adi_field_with_start_up(problem, t, dt, secretome::solver::START_UP_STEPS)
}

/// [`adi_field`] with `start_up` start-up steps (0: Douglas from the first step).
fn adi_field_with_start_up(problem: &Problem, t: f64, dt: f64, start_up: u32) -> Vec<f32> {
    let mut engine = CpuReference::new(&with_scheme(problem.clone(), Scheme::AdiDouglas));
    engine.set_start_up_steps(start_up);
    let n = (t / dt).round() as u64;
    assert!((n as f64 * dt - t).abs() < 1e-9 * t, "{dt} s does not divide {t} s");
    engine.step(n, dt).unwrap();
    engine.read_field().unwrap()[..problem.grid.n_cells()].to_vec()
}

/// Decay rate of `cos(π x/L)` under the cell-centred finite-volume operator with no-flux walls,
/// whose eigenvector it is: `4D/h² sin²(π h / 2L)` (1/s).
fn discrete_rate(d: f64, h: f64, length: f64) -> f64 {
    4.0 * d / (h * h) * (PI * h / (2.0 * length)).sin().powi(2)
}

/// A cosine mode between no-flux walls, with uniform decay: the semi-discrete solution is known
/// exactly, `e^{−kt}(1 + cos(πx/L)·e^{−λ_h t})`, so what is left is the error of the time
/// stepping alone. Halving dt three times from 400 s (82× the explicit limit) must cut it by 4
/// each time. The data are smooth, so the order is measured without the start-up
/// (whose first-order quarter steps blur the ratios); with it
/// the error must stay as small.
#[test]
fn cosine_mode_1d_converges_at_second_order_in_time() {
    let (n, length, k, t) = (32, 1e-3, 5e-4, 2000.0);
    let h = length / n as f64;
    let p = painted_box(
        [n, 1, 1],
        [length, 1e-3, 1e-3],
        D,
        |_| k,
        |x| 1.0 + (PI * x[0] / length).cos(),
        [Boundary::NoFlux; 6],
        t,
    );
    let lambda = discrete_rate(D, h, length);
    let exact = |i: usize| (-k * t).exp() * (1.0 + (PI * (i as f64 + 0.5) * h / length).cos() * (-lambda * t).exp());
    let steps = [400.0, 200.0, 100.0, 50.0];
    let errors: Vec<f64> = steps.iter().map(|&dt| rms_error(&adi_field_with_start_up(&p, t, dt, 0), exact)).collect();
    let orders: Vec<f64> = errors.windows(2).map(|e| order(e[0], e[1], 2.0)).collect();
    let with_start_up: Vec<f64> = steps.iter().map(|&dt| rms_error(&adi_field(&p, t, dt), exact)).collect();
    eprintln!(
        "1D cosine mode, dt {steps:?} s (limit {:.2} s): rms errors {}, orders {orders:.3?}; with start-up {}",
        p.explicit_step_limit(),
        sci(&errors),
        sci(&with_start_up)
    );
    // The decay sits inside the implicit stages, so the mean's e^{−kt} carries the trapezoidal
    // rule's error t·k³·dt²/12 = 5.2e-5 at dt = 50 s (the cosine part's is smaller).
    let predicted = t * k.powi(3) * 50.0f64.powi(2) / 12.0;
    assert!(errors[3] < 1.2 * predicted, "rms error at dt = 50 s: {:e} (bound {:e})", errors[3], 1.2 * predicted);
    for o in orders {
        assert!((1.9..2.1).contains(&o), "time order {o}, expected 2 (errors {errors:?})");
    }
    for (a, b) in with_start_up.iter().zip(&errors) {
        assert!(*a <= 1.5 * b, "start-up raised the error from {b:e} to {a:e}");
    }
}

/// A 2D product of cosines with a decay rate that varies in x and y (so reaction and diffusion
/// do not commute), against the same scheme at a step 64× smaller.
#[test]
fn cosine_mode_2d_with_varying_decay_converges_at_second_order_in_time() {
    let (extent, t) = ([1e-3, 8e-4, 1e-4], 2000.0);
    let p = painted_box(
        [16, 16, 1],
        extent,
        D,
        |x| 5e-4 * (1.0 + x[0] / extent[0] + 0.5 * x[1] / extent[1]),
        |x| 1.0 + (PI * x[0] / extent[0]).cos() * (PI * x[1] / extent[1]).cos(),
        [Boundary::NoFlux; 6],
        t,
    );
    let reference = adi_field_with_start_up(&p, t, 400.0 / 64.0, 0);
    let steps = [400.0, 200.0, 100.0, 50.0];
    let errors: Vec<f64> =
        steps.iter().map(|&dt| rms_error(&adi_field_with_start_up(&p, t, dt, 0), |i| reference[i] as f64)).collect();
    let orders: Vec<f64> = errors.windows(2).map(|e| order(e[0], e[1], 2.0)).collect();
    eprintln!(
        "2D cosine mode, varying decay, dt {steps:?} s (limit {:.2} s): rms errors {}, orders {orders:.3?}",
        p.explicit_step_limit(),
        sci(&errors)
    );
    assert!(errors[3] < 2e-4, "rms error at dt = 50 s: {:e} (bound 2e-4)", errors[3]);
    for o in orders {
        assert!((1.85..2.15).contains(&o), "time order {o}, expected 2 (errors {errors:?})");
    }
}

/// The continuous solution of a 2D cosine mode with decay, with the step tied to h (dt = 50 s
/// at 16 cells, 8× the explicit limit there): time and space errors both shrink as h².
#[test]
fn cosine_mode_2d_converges_at_second_order_in_space_with_dt_proportional_to_h() {
    let (length, k, t) = (1e-3, 2e-4, 1600.0);
    let rate = 2.0 * D * (PI / length).powi(2) + k;
    let errors: Vec<f64> = [16, 32, 64]
        .iter()
        .map(|&n| {
            let h = length / n as f64;
            let mode = |x: f64| (PI * x / length).cos();
            let p = painted_box(
                [n, n, 1],
                [length, length, 1e-4],
                D,
                |_| k,
                |x| 1.0 + mode(x[0]) * mode(x[1]),
                [Boundary::NoFlux; 6],
                t,
            );
            let field = adi_field(&p, t, 50.0 * 16.0 / n as f64);
            rms_error(&field, |i| {
                let (x, y) = (((i % n) as f64 + 0.5) * h, ((i / n) as f64 + 0.5) * h);
                (-k * t).exp() + mode(x) * mode(y) * (-rate * t).exp()
            })
        })
        .collect();
    let orders = [order(errors[0], errors[1], 2.0), order(errors[1], errors[2], 2.0)];
    eprintln!("2D cosine mode, dt ∝ h: rms errors {}, orders {orders:.3?}", sci(&errors));
    assert!(errors[2] < 3e-5, "rms error at 64² cells {:e} (bound 3e-5)", errors[2]);
    for o in orders {
        assert!((1.85..2.15).contains(&o), "order {o}, expected 2 (errors {errors:?})");
    }
}

/// Release from a slab into perfect sinks at both faces (Crank 1975, eq. 4.18), read from the
/// engine's outflow books, with dt ∝ h (20 s at 50 cells: 15× the explicit limit there, 60× at
/// 200 cells). The time error dominates (the explicit scheme, with its tiny steps, is within
/// 1.5e-4 at 100 cells).
#[test]
fn slab_release_from_adi_books_follows_crank_series() {
    let length = 1e-3;
    let crank = |t: f64| {
        1.0 - (0..200)
            .map(|n| {
                let m = (2 * n + 1) as f64;
                8.0 / (m * m * PI * PI) * (-(m * m) * PI * PI * D * t / (length * length)).exp()
            })
            .sum::<f64>()
    };
    let sink = Boundary::Fixed { value: 0.0 };
    let times = [60.0, 300.0, 900.0, 2400.0];
    let worst_for = |n: usize| {
        let s = species("slab", &[D], &[0.0], &[50.0], faces(sink, sink));
        let p = with_scheme(line(n, length, &["gel"], |_| 0, vec![s], times[3]), Scheme::AdiDouglas);
        let dt = 20.0 * 50.0 / n as f64;
        let mut engine = CpuReference::new(&p);
        let initial: f64 = engine.reduce_totals().unwrap()[0].present.iter().sum();
        let (mut released, mut t_prev, mut worst) = (0.0, 0.0, 0.0f64);
        for &t in &times {
            engine.step(((t - t_prev) / dt).round() as u64, dt).unwrap();
            t_prev = t;
            let totals = &engine.reduce_totals().unwrap()[0];
            released += totals.outflow.iter().sum::<f64>();
            let balance = (initial - released - totals.present.iter().sum::<f64>()).abs() / initial;
            assert!(balance < 1e-6, "n = {n}, t = {t} s: books off by {balance:e}");
            worst = worst.max((released / initial - crank(t)).abs());
        }
        eprintln!("slab n={n}, dt {dt} s (limit {:.2} s): max |error| {worst:.3e}", p.explicit_step_limit());
        worst
    };
    let errors = [worst_for(50), worst_for(100), worst_for(200)];
    let orders = [order(errors[0], errors[1], 2.0), order(errors[1], errors[2], 2.0)];
    eprintln!("slab release: max errors {}, orders {orders:.3?}", sci(&errors));
    assert!(errors[2] < 2.5e-4, "released fraction off Crank's series by {:e} (bound 2.5e-4)", errors[2]);
    for o in orders {
        assert!(o > 1.8, "release error converges at order {o}, expected ≈ 2");
    }
}

/// Two media (D1 = 10·D2, the first loaded) against Crank's exact solution (as in
/// tests/exact.rs), at 100× the explicit limit: 8 steps instead of ~900 explicit ones.
#[test]
fn two_material_interface_at_100x_the_explicit_step() {
    let (d1, d2): (f64, f64) = (1e-10, 1e-11);
    let (length, c0, t, n) = (2e-3, 1.0, 100.0, 400);
    let (a, b) = (c0 * d2.sqrt() / (d1.sqrt() + d2.sqrt()), c0 * d1.sqrt() / (d1.sqrt() + d2.sqrt()));
    let exact = |x: f64| {
        let x = x - 0.5 * length;
        if x < 0.0 {
            c0 - a * libm::erfc(-x / (2.0 * (d1 * t).sqrt()))
        } else {
            b * libm::erfc(x / (2.0 * (d2 * t).sqrt()))
        }
    };
    let h = length / n as f64;
    let s = species("pair", &[d1, d2], &[0.0, 0.0], &[c0, 0.0], faces(Boundary::NoFlux, Boundary::NoFlux));
    let p = line(n, length, &["gel", "tissue"], |x| u32::from(x > 0.5 * length), vec![s], t);
    let dt = 100.0 * p.explicit_step_limit();
    let field = adi_field(&p, t, t / (t / dt).round());
    let error = rms_error(&field, |i| exact((i as f64 + 0.5) * h));
    let worst =
        field.iter().enumerate().map(|(i, &v)| (v as f64 - exact((i as f64 + 0.5) * h)).abs()).fold(0.0, f64::max);
    eprintln!("interface, {} steps of {dt:.3} s: rms error {error:.3e}, max error {worst:.3e}", (t / dt).round());
    assert!(error < 4e-4, "rms error {error:e} (bound 4e-4)");
}

/// A loaded square depot (sharp edges, D 5× lower in the gel) in tissue with clearance at the
/// walls, 20 steps of 100× the explicit limit. Returns (lowest min, highest max) over the steps,
/// both relative to the initial maximum.
fn square_depot_extremes(start_up_steps: u32) -> (f64, f64) {
    let extent = [1e-3, 1e-3, 1e-4];
    let inside = |p: [f64; 3]| (0..2).all(|a| (p[a] - 0.5 * extent[a]).abs() < 0.125 * extent[a]);
    let clear = Boundary::Clearance { rate: 1e-6, value: 0.0 };
    let s = species(
        "loaded",
        &[2e-11, 1e-10],
        &[0.0, 1e-4],
        &[100.0, 0.0],
        [clear, clear, clear, clear, Boundary::NoFlux, Boundary::NoFlux],
    );
    let p = with_scheme(
        box_problem([64, 64, 1], extent, &["gel", "tissue"], |x| u32::from(!inside(x)), vec![s], 1.0),
        Scheme::AdiDouglas,
    );
    let dt = 100.0 * p.explicit_step_limit();
    let mut engine = CpuReference::new(&p);
    engine.set_start_up_steps(start_up_steps);
    let (mut lowest, mut highest) = (f64::INFINITY, f64::NEG_INFINITY);
    for _ in 0..20 {
        engine.step(1, dt).unwrap();
        let (lo, hi) = min_max(&engine.read_field().unwrap());
        lowest = lowest.min(lo / 100.0);
        highest = highest.max(hi / 100.0);
    }
    eprintln!(
        "square depot, 20 steps of {dt:.2} s, start-up {start_up_steps}: min {lowest:.3e}, max {highest:.6} (× initial max)"
    );
    (lowest, highest)
}

#[test]
fn square_depot_at_100x_the_explicit_step_stays_bounded_and_non_negative() {
    let (lowest, highest) = square_depot_extremes(secretome::solver::START_UP_STEPS);
    assert!(highest <= 1.0, "the maximum grew to {highest} of the initial maximum");
    assert!(lowest >= -1e-6, "the field went negative: {lowest:e} of the initial maximum (bound −1e-6)");
    // Without the start-up, θ = 1/2 leaves the edge modes ringing.
    let (lowest, _) = square_depot_extremes(0);
    assert!(lowest < -1e-3, "expected ringing without the start-up, min {lowest:e}");
}

/// [`sphere_in_tissue`], advanced by ADI.
fn adi_sphere_in_tissue(boundaries: [Boundary; 6], k: f64) -> Problem {
    with_scheme(sphere_in_tissue(boundaries, k), Scheme::AdiDouglas)
}

#[test]
fn closed_box_keeps_its_mass_at_large_steps() {
    let p = adi_sphere_in_tissue([Boundary::NoFlux; 6], 0.0);
    let dt = 50.0 * p.explicit_step_limit();
    assert_closed_box_keeps_mass("ADI at 50× the explicit limit", &mut CpuReference::new(&p), 40, dt, 0.9);
}

/// initial = present + decayed + outflow, with every boundary type and decay, in 3D (every
/// axis swept) and in 2D with clearance through the single-cell z axis (swept with lines of one
/// cell).
#[test]
fn adi_books_balance_with_every_sink() {
    let boundaries = [
        Boundary::Fixed { value: 0.0 },
        Boundary::Fixed { value: 3.0 },
        Boundary::Clearance { rate: 1e-6, value: 0.0 },
        Boundary::Clearance { rate: 1e-7, value: 0.5 },
        Boundary::NoFlux,
        Boundary::Fixed { value: 0.0 },
    ];
    let flat = {
        let clear = Boundary::Clearance { rate: 2e-7, value: 0.0 };
        let s = species(
            "flat",
            &[1e-11, 1e-10],
            &[1e-3, 2e-3],
            &[100.0, 1.0],
            [clear, boundaries[1], boundaries[2], boundaries[0], clear, clear],
        );
        let p =
            box_problem([30, 20, 1], [6e-4, 4e-4, 5e-5], &["gel", "tissue"], |x| u32::from(x[0] > 2e-4), vec![s], 1.0);
        with_scheme(p, Scheme::AdiDouglas)
    };
    for p in [adi_sphere_in_tissue(boundaries, 2e-3), flat] {
        assert_eq!(secretome::solver::adi_sweep_axes(&p), vec![0, 1, 2]);
        let mut engine = CpuReference::new(&p);
        let initial: Vec<f64> = engine.reduce_totals().unwrap().iter().map(total).collect();
        let ns = initial.len();
        let (mut decayed, mut outflow) = (vec![0.0; ns], vec![0.0; ns]);
        let mut last = Vec::new();
        for _ in 0..4 {
            engine.step(5, 50.0 * p.explicit_step_limit()).unwrap();
            last = engine.reduce_totals().unwrap();
            for s in 0..ns {
                decayed[s] += last[s].decayed().iter().sum::<f64>();
                outflow[s] += last[s].outflow.iter().sum::<f64>();
            }
        }
        for s in 0..ns {
            let present = total(&last[s]);
            let error = (initial[s] - present - decayed[s] - outflow[s]).abs() / initial[s];
            eprintln!(
                "{:?} species {s}: initial {:.6e} present {present:.6e} decayed {:.6e} outflow {:.6e} balance error {error:.2e}",
                p.grid.cells, initial[s], decayed[s], outflow[s]
            );
            assert!(decayed[s] > 0.0 && outflow[s].abs() > 0.0, "the sinks must be active");
            assert!(error < 1e-5, "species {s}: books off by {error:e} of the initial amount");
        }
    }
}

/// The same 1D problem laid along x, y and z gives the same field and the same books: the y
/// and z sweeps, their line numbering and their face entries agree with the x sweep.
#[test]
fn a_line_along_each_axis_gives_the_same_answer() {
    let runs: Vec<(Vec<f32>, [f64; 6])> = (0..3)
        .map(|axis| {
            let mut cells = [1; 3];
            let mut extent = [1e-4; 3];
            cells[axis] = 40;
            extent[axis] = 1e-3;
            let mut bcs = [Boundary::NoFlux; 6];
            bcs[2 * axis] = Boundary::Fixed { value: 2.0 };
            bcs[2 * axis + 1] = Boundary::Clearance { rate: 1e-7, value: 0.0 };
            let s = species("line", &[1e-10, 1e-11], &[1e-4, 0.0], &[0.0, 80.0], bcs);
            let p = box_problem(cells, extent, &["tissue", "gel"], |x| u32::from(x[axis] > 6e-4), vec![s], 1.0);
            let p = with_scheme(p, Scheme::AdiDouglas);
            assert_eq!(secretome::solver::adi_sweep_axes(&p), vec![axis as u32]);
            let mut engine = CpuReference::new(&p);
            engine.step(10, 30.0).unwrap();
            let mut outflow = engine.reduce_totals().unwrap()[0].outflow;
            // Faces in the axis' own order, lowest first.
            outflow.rotate_left(2 * axis);
            (engine.read_field().unwrap(), outflow)
        })
        .collect();
    for axis in 1..3 {
        assert_eq!(runs[axis].0, runs[0].0, "field along axis {axis} differs from x");
        for f in 0..6 {
            let (a, b) = (runs[axis].1[f], runs[0].1[f]);
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1e-30), "face {f} outflow along axis {axis}: {a} vs {b}");
        }
    }
    assert!(runs[0].1[0] < 0.0 && runs[0].1[1] > 0.0, "material enters at the fixed face and leaves by clearance");
}
