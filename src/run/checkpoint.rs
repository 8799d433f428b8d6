//! Checkpoints: the whole state of a run at an output time, written atomically to
//! `checkpoint.bin` in the output folder (postcard), from which `run --resume` continues bit for
//! bit on the CPU engines.
//!
//! A checkpoint holds the scenario text it was made from (a resume with another scenario is
//! refused), the driver's state (time, stops, events applied, step controller, statistics,
//! books), the engine's state (free and bound fields, start-up count, the rates of the error
//! estimate), the snapshots written so far and the length of `timeseries.csv` at that time.

use super::{DriverState, RunError, SnapshotEntry};
use crate::output::OutputDir;
use crate::solver::EngineState;
use serde::{Deserialize, Serialize};

/// File name of the checkpoint in the output folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";

/// Format version; a checkpoint of another version is refused.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Everything a run needs to continue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// The scenario file's text.
    pub scenario: String,
    /// The engine that wrote it (`reference`, `cpu`, `gpu`); resuming on another engine is
    /// allowed, bit for bit only on the same CPU engine.
    pub backend: String,
    pub driver: DriverState,
    pub engine: EngineState,
    pub snapshots: Vec<SnapshotEntry>,
    /// Bytes of `timeseries.csv` that belong to the run up to this time.
    pub timeseries_bytes: u64,
    /// Wall time spent up to this checkpoint, s.
    pub wall_s: f64,
}

impl Checkpoint {
    /// Writes the checkpoint atomically into `out`.
    pub fn write(&self, out: &OutputDir) -> Result<(), RunError> {
        let bytes =
            postcard::to_stdvec(self).map_err(|e| RunError::Resume(format!("cannot encode a checkpoint: {e}")))?;
        out.write_atomic(CHECKPOINT_FILE, &bytes)?;
        Ok(())
    }

    /// Reads the checkpoint of `out`, refusing one of another version or scenario.
    pub fn read(out: &OutputDir, scenario: &str) -> Result<Checkpoint, RunError> {
        let path = out.path().join(CHECKPOINT_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            let summary = std::fs::read(out.path().join("summary.json")).ok();
            let complete = summary
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| v["complete"] == serde_json::Value::Bool(true));
            if complete {
                RunError::Resume(format!(
                    "the run in {} is complete (its summary.json says so): nothing to resume",
                    out.path().display()
                ))
            } else {
                RunError::Resume(format!("no checkpoint to resume from: cannot read {}: {e}", path.display()))
            }
        })?;
        let checkpoint: Checkpoint = postcard::from_bytes(&bytes).map_err(|e| {
            RunError::Resume(format!("{} is not a checkpoint of this version of secretome: {e}", path.display()))
        })?;
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(RunError::Resume(format!(
                "{} is a checkpoint of format {}, this secretome reads format {CHECKPOINT_VERSION}",
                path.display(),
                checkpoint.version
            )));
        }
        if checkpoint.scenario != scenario {
            return Err(RunError::Resume(format!(
                "{} was written for another scenario text; resume with the scenario file the run started from \
                 (unchanged), or start a new run",
                path.display()
            )));
        }
        Ok(checkpoint)
    }
}
