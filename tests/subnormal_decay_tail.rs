//! Regression: a 14-day wound run crawled once the decayed factors reached f32 subnormals
//! (~1e-38 of their unit), where every operation costs tens to hundreds of cycles. The CPU
//! engines flush subnormals to zero while they step; this checks that they do (a value that is
//! subnormal on input comes out as exactly 0) and that the calling thread's mode is left alone.

mod common;

use common::*;
use secretome::problem::{Boundary, Scheme};
use secretome::solver::Engine;
use secretome::solver::cpu::CpuReference;
use secretome::solver::fast::CpuFast;

const SUBNORMAL: f64 = 1e-39;

fn tiny_problem(scheme: Scheme) -> secretome::problem::Problem {
    let s = species("trace", &[1e-10], &[0.0], &[SUBNORMAL], faces(Boundary::NoFlux, Boundary::NoFlux));
    let mut p = box_problem([8, 6, 4], [8e-5, 6e-5, 4e-5], &["tissue"], |_| 0, vec![s], 10.0);
    p.schedule.scheme = scheme;
    p
}

#[test]
fn engines_flush_subnormal_concentrations_to_zero() {
    assert!((SUBNORMAL as f32) > 0.0 && (SUBNORMAL as f32) < f32::MIN_POSITIVE);
    for scheme in [Scheme::ExplicitFtcs, Scheme::AdiDouglas] {
        let p = tiny_problem(scheme);
        let dt = 0.5 * p.explicit_step_limit();
        let engines: Vec<(&str, Box<dyn Engine>)> =
            vec![("reference", Box::new(CpuReference::new(&p))), ("fast", Box::new(CpuFast::new(&p, 2).unwrap()))];
        for (name, mut engine) in engines {
            engine.step(1, dt).unwrap();
            let field = engine.read_field().unwrap();
            assert!(field.iter().all(|&v| v == 0.0), "{name}, {scheme:?}: subnormal values survived a step");
        }
    }
    // The caller's thread keeps gradual underflow.
    let x = std::hint::black_box(f32::MIN_POSITIVE);
    assert!(x / 2.0 > 0.0, "the calling thread was left flushing subnormals");
}
