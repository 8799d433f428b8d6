//! Every engine, for physics tests that run one generic body on each.
//!
//! The reference engine, the fast engine on one thread and on two (its serial and its parallel
//! paths), and the GPU engine where the test asks for it. GPU tests keep their problems small:
//! without a GPU the shaders run on lavapipe, a software Vulkan driver. Where there is no
//! adapter the GPU engine is left out loudly, and with `SECRETOME_REQUIRE_GPU=1` (CI) that is a
//! failure.

use secretome::problem::Problem;
use secretome::solver::Engine;
use secretome::solver::cpu::CpuReference;
use secretome::solver::fast::CpuFast;
use secretome::solver::gpu::{GpuContext, GpuEngine, context_for_tests};
use std::sync::{Arc, OnceLock};

/// One engine of [`engines`], with the name its messages use.
pub struct NamedEngine {
    pub name: &'static str,
    pub engine: Box<dyn Engine>,
}

/// The GPU context shared by every test of one test binary (compiling the kernels on lavapipe
/// takes seconds).
fn gpu_context() -> Option<Arc<GpuContext>> {
    static CONTEXT: OnceLock<Option<Arc<GpuContext>>> = OnceLock::new();
    CONTEXT.get_or_init(|| context_for_tests("physics tests on every engine")).clone()
}

/// Names of the engines of [`engines`], in their order.
pub const ENGINE_NAMES: [&str; 4] = ["reference", "fast, 1 thread", "fast, 2 threads", "gpu"];

/// Whether a test of `problem` includes the GPU engine.
#[derive(Clone, Copy, PartialEq)]
pub enum Gpu {
    Include,
    /// The problem is too large for lavapipe within the CI budget; the GPU engine's agreement
    /// with the reference is asserted on smaller problems in `tests/gpu_vs_cpu.rs`.
    Skip,
}

/// Every engine, each set up for `problem`.
pub fn engines(problem: &Problem, gpu: Gpu) -> Vec<NamedEngine> {
    let mut list = vec![
        NamedEngine { name: ENGINE_NAMES[0], engine: Box::new(CpuReference::new(problem)) },
        NamedEngine { name: ENGINE_NAMES[1], engine: Box::new(CpuFast::new(problem, 1).unwrap()) },
        NamedEngine { name: ENGINE_NAMES[2], engine: Box::new(CpuFast::new(problem, 2).unwrap()) },
    ];
    if gpu == Gpu::Include {
        if let Some(context) = gpu_context() {
            let engine = GpuEngine::new(&context, problem).unwrap_or_else(|e| panic!("GPU engine: {e}"));
            list.push(NamedEngine { name: ENGINE_NAMES[3], engine: Box::new(engine) });
        }
    }
    list
}

/// How many engines [`engines`] gives for `gpu`.
pub fn engine_count(gpu: Gpu) -> usize {
    3 + usize::from(gpu == Gpu::Include && gpu_context().is_some())
}

/// Engine `i` of [`engines`] for `problem` (the same order every time).
pub fn nth_engine(problem: &Problem, gpu: Gpu, i: usize) -> NamedEngine {
    engines(problem, gpu).into_iter().nth(i).expect("engine index within engine_count")
}
