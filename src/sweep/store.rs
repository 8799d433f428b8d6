//! The field store of a sweep (`--store zarr`): every case's snapshot fields in one Zarr folder,
//! `DIR/fields.zarr`, instead of a `.npy` file per case, species, form and snapshot time.
//!
//! One array per species and form, `<species>_free` and `<species>_bound` (where the species
//! binds), float32 of shape `(case, time, z, y, x)`, and `materials`, uint32 of shape
//! `(case, z, y, x)` (a sweep may move a region, so each case keeps its own map). Every chunk is
//! one case: `(1, n_times, nz, ny, nx)` and `(1, nz, ny, nx)`, zlib-compressed. A case writes
//! only its own chunk files and every process writes the same metadata, each file atomically
//! (or not at all when it is there already with the same text), so shards of a sweep may write
//! into one store at once. A chunk not written reads as the fill value: NaN for the fields, so a
//! case not yet run is NaN, never 0; `u32::MAX` for the materials.
//!
//! The store is Zarr version 2, which every Zarr reader opens (zarr-python 2 and 3, xarray,
//! zarrs): `_ARRAY_DIMENSIONS` names the dimensions for xarray and `.zmetadata` holds the
//! consolidated metadata.
//!
//! A case is moved once it is complete: its chunks are written, its `summary.json` is rewritten
//! (atomically) to say where its fields are (`fields_store`, and `store_array`/`store_index` in
//! place of each snapshot's `file`), and only then are its `.npy` files removed. A sweep stopped
//! anywhere on the way moves the case again on its next run.

use crate::output::{OutputDir, OutputError};
use crate::problem::Problem;
use crate::sweep::{Case, Sweep, SweepError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zarrs::array::{Array, ArrayMetadata};
use zarrs::filesystem::FilesystemStore;
use zarrs::metadata::v2::ArrayMetadataV2;

/// Where a sweep's snapshot fields go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldStore {
    /// `.npy` files (and ParaView files) in each case's `fields/` folder (default).
    #[default]
    Files,
    /// One Zarr store, `DIR/fields.zarr`, for every case; no ParaView files.
    Zarr,
}

impl FieldStore {
    /// `"files"` or `"zarr"`.
    pub fn parse(text: &str) -> Result<FieldStore, String> {
        match text {
            "files" => Ok(FieldStore::Files),
            "zarr" => Ok(FieldStore::Zarr),
            other => Err(format!(
                "store {other:?}: accepted: \"files\" (a .npy per field in each case folder, the default) or \"zarr\" \
                 (one Zarr store, fields.zarr, for every case)"
            )),
        }
    }
}

/// The store's folder inside the sweep's output folder.
pub const STORE_DIR: &str = "fields.zarr";

/// The dimensions of a field array, in order.
pub const FIELD_DIMS: [&str; 5] = ["case", "time", "z", "y", "x"];

/// The materials array's name; its dimensions are `(case, z, y, x)`.
pub const MATERIALS_ARRAY: &str = "materials";

/// zlib level of the chunks: level 1 already finds most of what a smooth field gives up.
const ZLIB_LEVEL: u32 = 1;

/// One field array of the store.
struct FieldArray {
    name: String,
    species: String,
    /// `free` or `bound`.
    form: &'static str,
    array: Array<FilesystemStore>,
}

/// An open field store, its layout fixed by the sweep.
pub struct ZarrStore {
    root: PathBuf,
    fields: Vec<FieldArray>,
    materials: Array<FilesystemStore>,
    /// Snapshot times, s.
    times: Vec<f64>,
    /// (nz, ny, nx).
    shape: [usize; 3],
}

/// The layout every case of the sweep must share: what [`ZarrStore::create`] compares.
#[derive(PartialEq)]
struct Layout {
    cells: [usize; 3],
    spacing: [f64; 3],
    times: Vec<f64>,
    /// (name, file stem, unit) of each species.
    species: Vec<(String, String, String)>,
    bound: Vec<usize>,
    materials: Vec<String>,
}

impl Layout {
    fn of(problem: &Problem) -> Layout {
        let stems = crate::run::sinks::file_stems(problem);
        let mut times = vec![0.0];
        times.extend(problem.schedule.snapshot_times.iter().copied().filter(|&t| t > 0.0));
        Layout {
            cells: problem.grid.cells,
            spacing: problem.grid.spacing,
            times,
            species: problem
                .species
                .iter()
                .zip(stems)
                .map(|(s, stem)| (s.name.clone(), stem, s.unit.text.clone()))
                .collect(),
            bound: problem.bound_species(),
            materials: problem.materials.iter().map(|m| m.name.clone()).collect(),
        }
    }

    /// How `self` (of case `k`) differs from `first` (of case 0), for the refusal.
    fn difference(&self, first: &Layout) -> String {
        let [a, b] = [first, self].map(|l| l.cells.map(|c| c.to_string()).join(" × "));
        if self.cells != first.cells || self.spacing != first.spacing {
            return format!(
                "its grid is {b} cells of {:?} m, case 0's {a} cells of {:?} m",
                self.spacing, first.spacing
            );
        }
        if self.times != first.times {
            return format!("its snapshot times are {:?} s, case 0's {:?} s", self.times, first.times);
        }
        if self.species != first.species || self.bound != first.bound {
            return "its species, their units or which of them bind differ from case 0's".into();
        }
        "its materials differ from case 0's".into()
    }
}

impl ZarrStore {
    /// Checks that every case of `sweep` has case 0's grid, snapshot times, species and materials
    /// (refusing with the first case that does not), and opens `out/fields.zarr`, writing its
    /// metadata where it is missing. Metadata already there must be what this sweep writes.
    pub fn create(sweep: &Sweep, out: &Path) -> Result<ZarrStore, SweepError> {
        let invalid = |message: String| SweepError::Invalid { file: sweep.file.clone(), message };
        let first = sweep.cases.first().ok_or_else(|| invalid("a sweep without cases".into()))?;
        let layout = Layout::of(&sweep.problem(first)?);
        for case in &sweep.cases[1..] {
            let other = Layout::of(&sweep.problem(case)?);
            if other != layout {
                return Err(invalid(format!(
                    "--store zarr keeps every case in one array of one grid and one set of snapshot times, but case {} \
                     ({}) changes them: {}. Run this sweep with --store files",
                    case.index,
                    case.describe(),
                    other.difference(&layout)
                )));
            }
        }

        let root = out.join(STORE_DIR);
        let dir = OutputDir::create(&root, true)?;
        let n_cases = sweep.cases.len() as u64;
        let [nx, ny, nz] = layout.cells.map(|c| c as u64);
        let n_times = layout.times.len() as u64;
        let [dx, dy, dz] = layout.spacing;
        let cases: Vec<serde_json::Value> = sweep
            .cases
            .iter()
            .map(|c| {
                let values: serde_json::Map<String, serde_json::Value> =
                    c.values.iter().chain(&c.uncertain).map(|(k, v)| (k.clone(), v.clone().into())).collect();
                values.into()
            })
            .collect();
        let group_attributes = serde_json::json!({
            "description": "Snapshot fields of every case of a secretome sweep; a case not yet written reads as NaN",
            "keys": sweep.variations.iter().map(|v| v.key()).collect::<Vec<_>>(),
            "case_values": cases,
            "time_s": layout.times,
            "cell_spacing_m": [dz, dy, dx],
            "cells": [nz, ny, nx],
            "dims": FIELD_DIMS,
            "material_names": layout.materials,
        });

        let mut metadata: Vec<(String, serde_json::Value)> =
            vec![(".zgroup".into(), serde_json::json!({ "zarr_format": 2 })), (".zattrs".into(), group_attributes)];
        let mut fields = Vec::new();
        let rows = layout
            .species
            .iter()
            .map(|sp| (sp, "free"))
            .chain(layout.bound.iter().map(|&s| (&layout.species[s], "bound")));
        for ((species, stem, unit), form) in rows {
            let name = format!("{stem}_{form}");
            let attributes = serde_json::json!({
                "_ARRAY_DIMENSIONS": FIELD_DIMS,
                "species": species,
                "form": form,
                "unit": unit,
                "time_s": layout.times,
                "cell_spacing_m": [dz, dy, dx],
            });
            let meta = array_metadata(&[n_cases, n_times, nz, ny, nx], "<f4", "NaN".into(), attributes);
            let array = open_array(&root, &name, &meta)?;
            metadata.extend(metadata_files(&name, &meta));
            fields.push(FieldArray { name, species: species.clone(), form, array });
        }
        let attributes = serde_json::json!({
            "_ARRAY_DIMENSIONS": ["case", "z", "y", "x"],
            "material_names": layout.materials,
            "cell_spacing_m": [dz, dy, dx],
        });
        let meta = array_metadata(&[n_cases, nz, ny, nx], "<u4", u32::MAX.into(), attributes);
        let materials = open_array(&root, MATERIALS_ARRAY, &meta)?;
        metadata.extend(metadata_files(MATERIALS_ARRAY, &meta));

        let consolidated = serde_json::json!({
            "zarr_consolidated_format": 1,
            "metadata": metadata.iter().cloned().collect::<serde_json::Map<_, _>>(),
        });
        metadata.push((".zmetadata".into(), consolidated));
        for (key, value) in &metadata {
            put_once(&dir, key, &serde_json::to_vec_pretty(value).expect("plain data"))?;
        }
        Ok(ZarrStore { root, fields, materials, times: layout.times, shape: [nz, ny, nx].map(|c| c as usize) })
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Moves the snapshot fields of `case`, complete in `dir`, into the store; a case already
    /// moved only loses any `.npy` left behind. Returns whether the case's fields were written.
    pub fn take_case(&self, case: &Case, dir: &Path) -> Result<bool, SweepError> {
        let summary_path = dir.join("summary.json");
        let invalid = |message: String| SweepError::Invalid { file: summary_path.display().to_string(), message };
        let bytes =
            std::fs::read(&summary_path).map_err(|error| SweepError::Read { path: summary_path.clone(), error })?;
        let mut summary: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not a run summary: {e}")))?;
        if summary.get("fields_store").is_some() {
            remove_leftovers(dir)?;
            return Ok(false);
        }

        let cells: usize = self.shape.iter().product();
        let mut data: Vec<Vec<f32>> = vec![vec![f32::NAN; self.times.len() * cells]; self.fields.len()];
        let mut filled = vec![vec![false; self.times.len()]; self.fields.len()];
        let mut moved = Vec::new();
        let snapshots = summary["snapshots"].as_array_mut().ok_or_else(|| invalid("no `snapshots` list".into()))?;
        for entry in snapshots.iter_mut() {
            let (species, form) = (entry["species"].as_str().unwrap_or(""), entry["form"].as_str().unwrap_or(""));
            let time = entry["time_s"].as_f64().unwrap_or(f64::NAN);
            let a = self.fields.iter().position(|f| f.species == species && f.form == form).ok_or_else(|| {
                invalid(format!("case {}: the store has no array for {species} ({form})", case.index))
            })?;
            let t = self.times.iter().position(|&s| (s - time).abs() <= 1e-9 * s.max(1.0)).ok_or_else(|| {
                invalid(format!(
                    "case {}: a snapshot at t = {time} s, not one of the store's times {:?} s",
                    case.index, self.times
                ))
            })?;
            let file = entry["file"]
                .as_str()
                .ok_or_else(|| invalid(format!("snapshot {species} at {time} s names no file")))?;
            let values: Vec<f32> = read_npy(&dir.join(file), "<f4", self.shape)?
                .chunks_exact(4)
                .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            data[a][t * cells..(t + 1) * cells].copy_from_slice(&values);
            filled[a][t] = true;
            moved.push(dir.join(file));
            let entry = entry.as_object_mut().expect("a snapshot entry is an object");
            entry.remove("file");
            entry.insert("store_array".into(), self.fields[a].name.clone().into());
            entry.insert("store_index".into(), serde_json::json!([case.index, t]));
        }
        for (a, f) in self.fields.iter().enumerate() {
            if let Some(t) = filled[a].iter().position(|&done| !done) {
                return Err(invalid(format!(
                    "case {}: no snapshot of {} ({}) at t = {} s",
                    case.index, f.species, f.form, self.times[t]
                )));
            }
        }
        let materials_path = dir.join("fields/materials.npy");
        let materials: Vec<u32> = read_npy(&materials_path, "<u4", self.shape)?
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();

        let k = case.index as u64;
        for (f, values) in self.fields.iter().zip(&data) {
            f.array.store_chunk(&[k, 0, 0, 0, 0], values.as_slice()).map_err(|e| self.error(&f.name, e))?;
        }
        self.materials.store_chunk(&[k, 0, 0, 0], materials.as_slice()).map_err(|e| self.error(MATERIALS_ARRAY, e))?;

        let object = summary.as_object_mut().ok_or_else(|| invalid("not a JSON object".into()))?;
        object.remove("materials_file");
        object.insert(
            "fields_store".into(),
            serde_json::json!({
                "path": format!("../{STORE_DIR}"),
                "format": "zarr 2",
                "case": case.index,
                "arrays": self.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
                "materials": MATERIALS_ARRAY,
                "dims": FIELD_DIMS,
                "time_s": self.times,
            }),
        );
        let json = serde_json::to_string_pretty(&summary).expect("plain data");
        OutputDir::open(dir)?.write_atomic("summary.json", json.as_bytes())?;
        remove_leftovers(dir)?;
        Ok(true)
    }

    fn error(&self, array: &str, e: impl std::fmt::Display) -> SweepError {
        SweepError::Invalid { file: self.root.join(array).display().to_string(), message: e.to_string() }
    }
}

/// Zarr 2 metadata of a C-order, zlib-compressed array chunked by its first dimension.
fn array_metadata(
    shape: &[u64],
    dtype: &str,
    fill: serde_json::Value,
    attributes: serde_json::Value,
) -> serde_json::Value {
    let mut chunks = shape.to_vec();
    chunks[0] = 1;
    serde_json::json!({
        "zarr_format": 2,
        "shape": shape,
        "chunks": chunks,
        "dtype": dtype,
        "compressor": { "id": "zlib", "level": ZLIB_LEVEL },
        "fill_value": fill,
        "order": "C",
        "filters": null,
        "dimension_separator": ".",
        "attributes": attributes,
    })
}

/// The `.zarray` and `.zattrs` of array `name` as (key, JSON) pairs.
fn metadata_files(name: &str, meta: &serde_json::Value) -> [(String, serde_json::Value); 2] {
    let mut array = meta.clone();
    let attributes = array.as_object_mut().expect("object").remove("attributes").expect("attributes");
    [(format!("{name}/.zarray"), array), (format!("{name}/.zattrs"), attributes)]
}

/// The zarrs array `name` under `root` described by `meta` (its files are written apart).
fn open_array(root: &Path, name: &str, meta: &serde_json::Value) -> Result<Array<FilesystemStore>, SweepError> {
    let bad = |message: String| SweepError::Invalid { file: root.join(name).display().to_string(), message };
    let metadata: ArrayMetadataV2 = serde_json::from_value(meta.clone()).map_err(|e| bad(e.to_string()))?;
    let store = FilesystemStore::new(root).map_err(|e| bad(e.to_string()))?;
    Array::new_with_metadata(Arc::new(store), &format!("/{name}"), ArrayMetadata::V2(metadata))
        .map_err(|e| bad(e.to_string()))
}

/// Writes `bytes` to `key` under `dir` unless the file holds them already; refuses a file that
/// holds something else (a store of another sweep). Several processes may do this at once: each
/// writes under a name of its own and renames, so a reader sees the whole file or none.
fn put_once(dir: &OutputDir, key: &str, bytes: &[u8]) -> Result<(), SweepError> {
    let path = dir.path().join(key);
    match std::fs::read(&path) {
        Ok(have) if have == bytes => Ok(()),
        Ok(_) => Err(SweepError::Invalid {
            file: path.display().to_string(),
            message: format!(
                "the store {} was written for another sweep (other cases, grid, species or times); write this sweep \
                 into a new folder or remove the store",
                dir.path().display()
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(dir.write_atomic(key, bytes)?),
        Err(error) => Err(SweepError::Read { path, error }),
    }
}

/// The data bytes of a `.npy` file the run wrote, checked to be `descr` of `shape`.
fn read_npy(path: &Path, descr: &str, shape: [usize; 3]) -> Result<Vec<u8>, SweepError> {
    let bytes = std::fs::read(path).map_err(|error| SweepError::Read { path: path.to_path_buf(), error })?;
    let bad = |message: String| SweepError::Invalid { file: path.display().to_string(), message };
    if bytes.len() < 10 || &bytes[..8] != b"\x93NUMPY\x01\x00" {
        return Err(bad("not a version 1.0 .npy file".into()));
    }
    let end = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = bytes.get(10..end).and_then(|h| std::str::from_utf8(h).ok()).unwrap_or("");
    let want =
        format!("'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}, {})", shape[0], shape[1], shape[2]);
    if !header.contains(&want) || bytes.len() - end != 4 * shape.iter().product::<usize>() {
        return Err(bad(format!("expected {want}, found {}", header.trim())));
    }
    Ok(bytes[end..].to_vec())
}

/// Removes the `.npy` files of a case whose fields are in the store, and `fields/` if that
/// leaves it empty.
fn remove_leftovers(dir: &Path) -> Result<(), SweepError> {
    let fields = dir.join("fields");
    let Ok(entries) = std::fs::read_dir(&fields) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "npy") {
            std::fs::remove_file(&path).map_err(|error| OutputError::Io { path: path.clone(), error })?;
        }
    }
    let _ = std::fs::remove_dir(&fields);
    Ok(())
}
