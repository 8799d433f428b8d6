//! Building engines: every engine a factory builds shares one thread pool (the fast CPU engine)
//! or one GPU context with its compiled pipelines (the GPU engine), so that a batch of problems
//! costs one set of threads and one shader compilation.

use super::cpu::CpuReference;
use super::fast::{CpuFast, thread_pool};
use super::gpu::{GpuContext, GpuEngine, device};
use super::{Engine, SolverError};
use crate::problem::Problem;
use std::sync::Arc;

/// Which engine runs a problem (also the command line's `--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// A hardware GPU if there is one, otherwise the CPU engine.
    Auto,
    /// The fast CPU engine (multi-threaded).
    Cpu,
    /// The CPU reference engine: the GPU kernels' twins in plain single-threaded loops.
    Reference,
    /// The GPU engine on any adapter, software ones included.
    Gpu,
}

/// Builds engines of one backend; see the module docs.
pub struct EngineFactory {
    kind: Kind,
}

enum Kind {
    Reference,
    Fast(Arc<rayon::ThreadPool>),
    Gpu(Arc<GpuContext>),
}

impl EngineFactory {
    /// Opens the backend: starts the pool of `threads` threads (0: one per logical CPU) or
    /// opens the GPU and compiles its kernels. `Auto` takes a hardware GPU where there is one
    /// (a software adapter is slower than the CPU engine) and the CPU engine otherwise.
    pub fn new(backend: Backend, threads: usize) -> Result<Self, SolverError> {
        let gpu = match backend {
            Backend::Reference => return Ok(EngineFactory { kind: Kind::Reference }),
            Backend::Cpu => None,
            Backend::Gpu => Some(device::open(true)?),
            Backend::Auto => match device::auto_choice() {
                (Some(_), _) => Some(device::open(false)?),
                (None, _) => None,
            },
        };
        let kind = match gpu {
            Some(gpu) => Kind::Gpu(GpuContext::new(gpu)?),
            None => Kind::Fast(thread_pool(threads)?),
        };
        Ok(EngineFactory { kind })
    }

    /// An engine for `problem`, on the factory's pool or device.
    pub fn build(&self, problem: &Problem) -> Result<Box<dyn Engine>, SolverError> {
        Ok(match &self.kind {
            Kind::Reference => Box::new(CpuReference::new(problem)),
            Kind::Fast(pool) => Box::new(CpuFast::with_pool(problem, pool.clone())),
            Kind::Gpu(context) => Box::new(GpuEngine::new(context, problem)?),
        })
    }

    /// The threads of the shared pool (the fast engine), else 1.
    pub fn threads(&self) -> usize {
        match &self.kind {
            Kind::Fast(pool) => pool.current_num_threads(),
            _ => 1,
        }
    }
}
