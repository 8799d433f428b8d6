//! Conservation and bookkeeping on every engine, explicit and ADI: closed boxes keep their mass
//! to round-off, and with sinks initial = present + decayed + outflow.

mod common;

use common::engines::{Gpu, engines};
use common::*;
use secretome::problem::{Boundary, Scheme};

#[test]
fn closed_box_without_decay_keeps_its_mass() {
    let p = sphere_in_tissue([Boundary::NoFlux; 6], 0.0);
    let dt = 0.9 * p.explicit_step_limit();
    for mut e in engines(&p, Gpu::Include) {
        assert_closed_box_keeps_mass(&format!("explicit, {}", e.name), e.engine.as_mut(), 500, dt, 0.99);
    }
    let p = with_scheme(p, Scheme::AdiDouglas);
    for mut e in engines(&p, Gpu::Include) {
        assert_closed_box_keeps_mass(
            &format!("ADI at 50× the limit, {}", e.name),
            e.engine.as_mut(),
            40,
            50.0 * dt,
            0.9,
        );
    }
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
    for scheme in [Scheme::ExplicitFtcs, Scheme::AdiDouglas] {
        let p = with_scheme(sphere_in_tissue(boundaries, 2e-3), scheme);
        let (steps, dt) = match scheme {
            Scheme::ExplicitFtcs => (150, 0.9 * p.explicit_step_limit()),
            Scheme::AdiDouglas => (10, 20.0 * p.explicit_step_limit()),
        };
        for mut e in engines(&p, Gpu::Include) {
            let name = format!("{}, {}", scheme.name(), e.name);
            let engine = e.engine.as_mut();
            let initial: Vec<f64> = engine.reduce_totals().unwrap().iter().map(total).collect();
            let mut decayed = [0.0; 2];
            let mut outflow = [0.0; 2];
            let mut last = Vec::new();
            for _ in 0..4 {
                engine.step(steps, dt).unwrap();
                last = engine.reduce_totals().unwrap();
                for s in 0..2 {
                    decayed[s] += last[s].decayed().iter().sum::<f64>();
                    outflow[s] += last[s].outflow.iter().sum::<f64>();
                }
            }
            for s in 0..2 {
                let present = total(&last[s]);
                let error = (initial[s] - present - decayed[s] - outflow[s]).abs() / initial[s];
                eprintln!(
                    "{name} species {s}: initial {:.6e} present {present:.6e} decayed {:.6e} outflow {:.6e} \
                     balance error {error:.2e}",
                    initial[s], decayed[s], outflow[s]
                );
                assert!(decayed[s] > 0.0 && outflow[s].abs() > 0.0, "{name}: the sinks must be active");
                assert!(error < 1e-5, "{name} species {s}: books off by {error:e} of the initial amount");
            }
        }
    }
}
