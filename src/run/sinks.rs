//! File names and field snapshots of the output folder.

use super::{RunError, SnapshotEntry};
use crate::output::{OutputDir, OutputError, encode_npy};
use crate::problem::Problem;
use crate::solver::Engine;

pub fn field_shape(problem: &Problem) -> [usize; 3] {
    let [nx, ny, nz] = problem.grid.cells;
    [nz, ny, nx]
}

/// Writes the `.npy` of every species at `t` and lists them in `snapshots`; returns the field it
/// read (for the other files of the snapshot).
pub fn write_snapshot(
    problem: &Problem,
    engine: &mut dyn Engine,
    out: &OutputDir,
    stems: &[String],
    t: f64,
    snapshots: &mut Vec<SnapshotEntry>,
) -> Result<Vec<f32>, RunError> {
    let field = engine.read_field()?;
    let n = problem.grid.n_cells();
    let ns = problem.species.len();
    let rows =
        (0..ns).map(|s| (s, "", "free")).chain(problem.bound_species().into_iter().map(|s| (s, "_bound", "bound")));
    for (row, (s, suffix, form)) in rows.enumerate() {
        let species = &problem.species[s];
        let file = format!("fields/{}{suffix}_t{}s.npy", stems[s], format_seconds(t));
        out.write_atomic(&file, &encode_npy(&field[row * n..(row + 1) * n], &field_shape(problem)))?;
        snapshots.push(SnapshotEntry {
            time_s: t,
            time_h: t / 3600.0,
            species: species.name.clone(),
            form: form.to_string(),
            unit: species.unit.text.clone(),
            file,
        });
    }
    Ok(field)
}

/// File-name stem of each species: its [`file_safe`] name, with `_2`, `_3`, … added where two
/// names would otherwise write the same file.
pub fn file_stems(problem: &Problem) -> Vec<String> {
    let mut stems: Vec<String> = Vec::new();
    for species in &problem.species {
        let base = file_safe(&species.name);
        let mut stem = base.clone();
        let mut n = 1;
        while stems.contains(&stem) {
            n += 1;
            stem = format!("{base}_{n}");
        }
        stems.push(stem);
    }
    stems
}

/// Seconds as a file-name part: whole seconds without a fraction, else up to 3 decimals.
pub fn format_seconds(t: f64) -> String {
    if (t - t.round()).abs() < 1e-6 { format!("{}", t.round() as u64) } else { format!("{t:.3}") }
}

/// A species name as a file-name part: letters, digits, `-` and `_`; anything else becomes `_`.
pub fn file_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// The columns of `timeseries.csv` (README): amounts and means are free + bound; `max` is the
/// highest free concentration; the channel columns are cumulative amounts in the material.
pub const TIMESERIES_HEADER: &str = "time_s,time_h,species,material,amount,mean,max,released,released_percent,\
concentration_unit,amount_unit,free_amount,bound_amount,free_mean,bound_mean,bound_max,decayed,cleared,taken_up,\
converted_out,converted_in,added,removed_with_dressing\n";

/// `timeseries.csv`, written as the run goes: the header and the rows of each output time are
/// appended and flushed, so an interrupted run keeps every row it computed.
pub struct TimeseriesSink {
    file: std::fs::File,
    path: std::path::PathBuf,
    len: u64,
}

impl TimeseriesSink {
    /// Starts `timeseries.csv` in `out` with its header.
    pub fn create(out: &OutputDir) -> Result<Self, RunError> {
        let path = out.path().join("timeseries.csv");
        let file = std::fs::File::create(&path).map_err(|error| OutputError::Io { path: path.clone(), error })?;
        let mut sink = TimeseriesSink { file, path, len: 0 };
        sink.append(TIMESERIES_HEADER)?;
        Ok(sink)
    }

    /// Reopens `timeseries.csv` in `out` cut to its first `len` bytes (the rows up to a
    /// checkpoint; any rows after it are computed again).
    pub fn reopen(out: &OutputDir, len: u64) -> Result<Self, RunError> {
        use std::io::Seek;
        let path = out.path().join("timeseries.csv");
        let io = |error| OutputError::Io { path: path.clone(), error };
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).map_err(io)?;
        let have = file.metadata().map_err(io)?.len();
        if have < len {
            return Err(RunError::Resume(format!(
                "{} holds {have} bytes, fewer than the {len} the checkpoint was written after",
                path.display()
            )));
        }
        file.set_len(len).map_err(io)?;
        file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        Ok(TimeseriesSink { file, path, len })
    }

    /// Appends `rows` and flushes them to the file.
    pub fn append(&mut self, rows: &str) -> Result<(), RunError> {
        use std::io::Write;
        let io = |error| OutputError::Io { path: self.path.clone(), error };
        self.file.write_all(rows.as_bytes()).map_err(io)?;
        self.file.flush().map_err(io)?;
        self.len += rows.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }
}
