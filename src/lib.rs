//! secretome: reaction–diffusion of factors secreted by mesenchymal stem cells, released from a
//! hydrogel depot into wound tissue, on a CPU reference engine and on WGSL compute shaders.
//!
//! Flow: [`scenario`] reads and checks a TOML scenario and compiles it into a [`problem::Problem`]
//! (SI, plain data); an engine from [`solver`] advances it; [`run`] drives the engine over the
//! schedule and [`output`] writes the results.

pub mod bench;
pub mod compare;
pub mod library;
pub mod metrics;
pub mod optimize;
pub mod outcome;
pub mod output;
pub mod problem;
pub mod report;
pub mod run;
pub mod scenario;
pub mod scheme;
pub mod solver;
pub mod sweep;
pub mod units;
