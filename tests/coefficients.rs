//! Coefficients that change during a run (a degrading gel, a new boundary) on every engine:
//! the new values act from the next step, the field agrees with the reference engine, and the
//! books balance across the change. Also: uniform decay switched mid-run against its exact value.

mod common;

use common::engines::{Gpu, engines};
use common::*;
use secretome::problem::{Boundary, Scheme};

#[test]
fn changed_coefficients_act_from_the_next_step_on_every_engine() {
    let sink = Boundary::Clearance { rate: 1e-6, value: 0.0 };
    let before = with_scheme(sphere_in_tissue([Boundary::NoFlux; 6], 1e-3), Scheme::AdiDouglas);
    let mut after = before.clone();
    for s in &mut after.species {
        s.diffusivity[0] *= 4.0; // the gel loosens
        s.decay_rate[1] *= 3.0;
        s.boundaries[1] = sink; // a dressing removed from one face
    }
    let dt = 20.0 * before.explicit_step_limit();
    let mut reference_field = None;
    for mut e in engines(&before, Gpu::Include) {
        let engine = e.engine.as_mut();
        let initial: f64 = engine.reduce_totals().unwrap().iter().map(total).sum();
        engine.step(5, dt).unwrap();
        let first = engine.reduce_totals().unwrap();
        let unchanged = engine.read_field().unwrap();
        engine.set_coefficients(&after).unwrap();
        assert_eq!(
            engine.read_field().unwrap(),
            unchanged,
            "{}: the field must not change with the coefficients",
            e.name
        );
        engine.step(5, dt).unwrap();
        let second = engine.reduce_totals().unwrap();
        let field = engine.read_field().unwrap();
        let present: f64 = second.iter().map(total).sum();
        let removed: f64 =
            first.iter().chain(&second).map(|t| t.decayed().iter().sum::<f64>() + t.outflow.iter().sum::<f64>()).sum();
        let balance = (initial - present - removed).abs() / initial;
        let outflow_after: f64 = second.iter().map(|t| t.outflow[1]).sum();
        eprintln!(
            "{}: balance error across the change {balance:.2e}; outflow through xmax after it {outflow_after:.3e}",
            e.name
        );
        assert!(balance < 1e-5, "{}: books off by {balance:e}", e.name);
        assert!(first.iter().all(|t| t.outflow[1] == 0.0), "{}: no outflow before the change", e.name);
        assert!(outflow_after > 0.0, "{}: the new sink must act", e.name);
        match &reference_field {
            None => reference_field = Some(field),
            Some(r) => {
                let scale = r.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let worst = field.iter().zip(r).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max) / scale;
                assert!(worst < 1e-6, "{}: field differs from the reference by {worst:e} of its maximum", e.name);
            }
        }
    }
}

/// A uniform field whose decay rate changes at t₁: c = e^{−k₁t₁ − k₂t₂}, up to the
/// trapezoidal rule's error `t·k³·dt²/12` per phase.
#[test]
fn decay_rate_switched_mid_run_matches_the_exponential() {
    let (k1, k2, t1, t2, dt) = (1e-3, 4e-3, 600.0, 300.0, 10.0);
    let s = species("switched", &[1e-10], &[k1], &[1.0], [Boundary::NoFlux; 6]);
    let p = with_scheme(
        box_problem([6, 5, 4], [6e-5, 5e-5, 4e-5], &["tissue"], |_| 0, vec![s], t1 + t2),
        Scheme::AdiDouglas,
    );
    let mut q = p.clone();
    q.species[0].decay_rate = vec![k2];
    let exact = (-k1 * t1 - k2 * t2).exp();
    let bound = exact * (t1 * k1.powi(3) + t2 * k2.powi(3)) * dt * dt / 12.0 * 1.5 + 1e-6;
    for mut e in engines(&p, Gpu::Include) {
        let engine = e.engine.as_mut();
        engine.set_start_up_steps(0);
        engine.step((t1 / dt) as u64, dt).unwrap();
        engine.set_coefficients(&q).unwrap();
        engine.step((t2 / dt) as u64, dt).unwrap();
        let field = engine.read_field().unwrap();
        let worst = field.iter().map(|&c| (c as f64 - exact).abs()).fold(0.0, f64::max);
        eprintln!("{}: largest error {worst:.2e} (bound {bound:.2e})", e.name);
        assert!(worst < bound, "{}: error {worst:e} above {bound:e}", e.name);
    }
}
