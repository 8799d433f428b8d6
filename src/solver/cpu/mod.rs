//! The CPU reference engine: the twins of the WGSL kernels, run in plain loops.
//!
//! It is the reference the GPU engine is tested against and the fallback on machines without a
//! GPU. It uses the same f32 arithmetic, in the same order, as the shaders.

pub mod diffuse_explicit;
pub mod reduce_totals;

use super::{Engine, EngineInfo, SolverError, SpeciesTotals, Tables, finish_totals};
use crate::problem::Problem;

/// Runs the kernel twins one invocation at a time.
pub struct CpuReference {
    problem: Problem,
    tables: Tables,
    c: Vec<f32>,
    c_next: Vec<f32>,
    acc: Vec<f32>,
    comp: Vec<f32>,
    /// Simulated time since the accumulators were cleared, s.
    since_clear: f64,
}

impl CpuReference {
    pub fn new(problem: &Problem) -> Self {
        let c = problem.initial_field();
        let n = c.len();
        CpuReference {
            problem: problem.clone(),
            tables: Tables::new(problem),
            c_next: vec![0.0; n],
            c,
            acc: vec![0.0; n],
            comp: vec![0.0; n],
            since_clear: 0.0,
        }
    }
}

impl Engine for CpuReference {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "cpu".into(),
            device: "CPU reference engine (kernel twins, single thread)".into(),
            precision: "f32 fields; compensated f32 exposure accumulator; f64 totals".into(),
        }
    }

    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError> {
        self.tables.params.time[0] = dt as f32;
        let [nx, ny, nz, _] = self.tables.params.cells;
        let ns = self.tables.params.counts[0];
        for _ in 0..steps {
            let t = &self.tables;
            for gz in 0..nz * ns {
                for y in 0..ny {
                    for x in 0..nx {
                        diffuse_explicit::diffuse_explicit(
                            &t.params,
                            &t.material,
                            &t.coef,
                            &t.faces,
                            &self.c,
                            &mut self.c_next,
                            &mut self.acc,
                            &mut self.comp,
                            [x, y, gz],
                        );
                    }
                }
            }
            std::mem::swap(&mut self.c, &mut self.c_next);
            self.since_clear += dt;
        }
        Ok(())
    }

    fn reduce_totals(&mut self) -> Result<Vec<SpeciesTotals>, SolverError> {
        let t = &mut self.tables;
        t.params.time[1] = self.since_clear as f32;
        let groups = t.params.counts[2];
        let ns = t.params.counts[0];
        let mut partials = vec![0.0f32; (ns * groups * t.params.counts[3]) as usize];
        for s in 0..ns {
            for w in 0..groups {
                reduce_totals::reduce_totals(
                    &t.params,
                    &t.material,
                    &t.coef,
                    &t.faces,
                    &self.c,
                    &self.acc,
                    &mut partials,
                    [w, s],
                );
            }
        }
        self.acc.fill(0.0);
        self.comp.fill(0.0);
        self.since_clear = 0.0;
        Ok(finish_totals(&self.problem, &partials))
    }

    fn read_field(&mut self) -> Result<Vec<f32>, SolverError> {
        Ok(self.c.clone())
    }
}
