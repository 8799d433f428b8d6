//! The Douglas ADI scheme (θ = 1/2, Strang-split reactions, Rannacher start-up) on the reference
//! engine: convergence orders in time and space against exact solutions, large-step accuracy at a
//! material interface, stability on sharp data at 100× the explicit limit, conservation and
//! bookkeeping; and naga validation of every shader with the size of its parameter structs.

mod common;

use common::*;
use secretome::problem::{Boundary, Problem, Scheme};
use secretome::solver::cpu::CpuReference;
use secretome::solver::{Coef, Engine, FaceBc, Params};
use std::f64::consts::PI;

const D: f64 = 1e-10; // 100 µm²/s

/// Every shader parses and validates, and its parameter structs have the Rust twins' sizes.
#[test]
fn shaders_validate_and_structs_match_their_rust_twins() {
    let shaders = [
        ("diffuse_explicit", include_str!("../shaders/diffuse_explicit.wgsl")),
        ("reduce_totals", include_str!("../shaders/reduce_totals.wgsl")),
        ("react_half_step", include_str!("../shaders/react_half_step.wgsl")),
        ("adi_predictor", include_str!("../shaders/adi_predictor.wgsl")),
        ("adi_sweep", include_str!("../shaders/adi_sweep.wgsl")),
    ];
    let sizes = [
        ("Params", std::mem::size_of::<Params>()),
        ("Coef", std::mem::size_of::<Coef>()),
        ("FaceBc", std::mem::size_of::<FaceBc>()),
    ];
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
        }
        assert!(seen >= 1, "{name}.wgsl declares none of the shared structs");
        assert!(module.entry_points.iter().any(|e| e.name.starts_with(name)), "{name}.wgsl: entry point");
    }
}
