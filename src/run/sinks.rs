//! File names and field snapshots of the output folder.

use super::{RunError, SnapshotEntry};
use crate::output::{OutputDir, encode_npy};
use crate::problem::Problem;
use crate::solver::Engine;

pub fn field_shape(problem: &Problem) -> [usize; 3] {
    let [nx, ny, nz] = problem.grid.cells;
    [nz, ny, nx]
}

pub fn write_snapshot(
    problem: &Problem,
    engine: &mut dyn Engine,
    out: &OutputDir,
    stems: &[String],
    t: f64,
    snapshots: &mut Vec<SnapshotEntry>,
) -> Result<(), RunError> {
    let field = engine.read_field()?;
    let n = problem.grid.n_cells();
    let ns = problem.species.len();
    let rows = (0..ns).map(|s| (s, "", "free")).chain(
        problem.bound_species().into_iter().map(|s| (s, "_bound", "bound")),
    );
    for (row, (s, suffix, form)) in rows.enumerate() {
        let species = &problem.species[s];
        let file = format!("fields/{}{suffix}_t{}s.npy", stems[s], format_seconds(t));
        out.write_atomic(&file, &encode_npy(&field[row * n..(row + 1) * n], &field_shape(problem)))?;
        snapshots.push(SnapshotEntry {
            time_s: t,
            time_h: t / 3600.0,
            species: species.name.clone(),
            form,
            unit: species.unit.text.clone(),
            file,
        });
    }
    Ok(())
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
converted_out,converted_in\n";
