//! Conservation and bookkeeping of the reference engine: closed boxes keep their mass to
//! round-off, and with sinks initial = present + decayed + outflow.

mod common;

use common::*;
use secretome::problem::Boundary;
use secretome::solver::Engine;
use secretome::solver::cpu::CpuReference;

#[test]
fn closed_box_without_decay_keeps_its_mass() {
    let p = sphere_in_tissue([Boundary::NoFlux; 6], 0.0);
    let dt = 0.9 * p.explicit_step_limit();
    assert_closed_box_keeps_mass("explicit", &mut CpuReference::new(&p), 500, dt, 0.99);
}

#[test]
fn books_balance_with_every_sink() {
    let boundaries = [
        Boundary::Fixed { value: 0.0 },
        Boundary::Fixed { value: 3.0 },
        Boundary::Clearance { rate: 1e-6, value: 0.0 },
        Boundary::Clearance { rate: 1e-7, value: 0.5 },
        Boundary::NoFlux,
        Boundary::Fixed { value: 0.0 },
    ];
    let p = sphere_in_tissue(boundaries, 2e-3);
    let mut engine = CpuReference::new(&p);
    let initial: Vec<f64> = engine.reduce_totals().unwrap().iter().map(total).collect();
    let mut decayed = [0.0; 2];
    let mut outflow = [0.0; 2];
    let dt = 0.9 * p.explicit_step_limit();
    let mut last = Vec::new();
    for _ in 0..4 {
        engine.step(150, dt).unwrap();
        last = engine.reduce_totals().unwrap();
        for s in 0..2 {
            decayed[s] += last[s].decayed.iter().sum::<f64>();
            outflow[s] += last[s].outflow.iter().sum::<f64>();
        }
    }
    for s in 0..2 {
        let present = total(&last[s]);
        let error = (initial[s] - present - decayed[s] - outflow[s]).abs() / initial[s];
        eprintln!(
            "species {s}: initial {:.6e} present {present:.6e} decayed {:.6e} outflow {:.6e} balance error {error:.2e}",
            initial[s], decayed[s], outflow[s]
        );
        assert!(decayed[s] > 0.0 && outflow[s].abs() > 0.0, "the sinks must be active");
        assert!(error < 1e-5, "species {s}: books off by {error:e} of the initial amount");
    }
}
