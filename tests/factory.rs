//! Engines built by one factory share its thread pool and give the same results as engines
//! built alone, whatever order they step in.

mod common;

use common::*;
use secretome::problem::{Boundary, Scheme};
use secretome::solver::fast::CpuFast;
use secretome::solver::{Backend, EngineFactory};

#[test]
fn engines_of_one_factory_share_a_pool_and_match_engines_built_alone() {
    let a = with_scheme(sphere_in_tissue([Boundary::NoFlux; 6], 1e-3), Scheme::AdiDouglas);
    let mut b = a.clone();
    b.species[0].diffusivity[0] *= 3.0;
    let factory = EngineFactory::new(Backend::Cpu, 2).unwrap();
    assert_eq!(factory.threads(), 2);
    let mut shared = [factory.build(&a).unwrap(), factory.build(&b).unwrap()];
    let mut alone = [CpuFast::new(&a, 2).unwrap(), CpuFast::new(&b, 2).unwrap()];
    let dt = 20.0 * a.explicit_step_limit();
    for round in 0..3 {
        for i in [1, 0] {
            shared[i].step(2, dt).unwrap();
        }
        for (i, engine) in alone.iter_mut().enumerate() {
            use secretome::solver::Engine;
            engine.step(2, dt).unwrap();
            assert_eq!(shared[i].read_field().unwrap(), engine.read_field().unwrap(), "round {round}, problem {i}");
        }
    }
    let reference = EngineFactory::new(Backend::Reference, 0).unwrap().build(&a).unwrap();
    assert_eq!(reference.info().backend, "reference");
}
