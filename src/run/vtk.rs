//! VTK files for ParaView: one XML ImageData file (`.vti`) per snapshot time and a collection
//! (`.pvd`) that lists them with their times.
//!
//! The grid is cell-centred, so every field is `CellData` on an ImageData whose `WholeExtent`
//! counts cells (`0 nx 0 ny 0 nz`), whose `Origin` is the domain's minimum corner and whose
//! `Spacing` is the cell size: ParaView draws each cell as the box it is. Lengths are in **mm**,
//! times in the collection (`timestep`) and in each file's `TimeValue` in **hours**. The arrays
//! are named as the `.npy` files are (`VEGF`, `VEGF_bound`, `materials`) and hold the same values:
//! float32 concentrations in the species' unit, uint32 material ids.
//!
//! Data are raw binary in an appended block (`header_type="UInt64"`, little endian): no base64,
//! no compression, one byte-count header before each array.

use super::sinks::{file_stems, format_seconds};
use super::{RunError, SnapshotEntry};
use crate::output::OutputDir;
use crate::problem::Problem;
use serde::Serialize;

/// The collection file, relative to the output folder.
pub const COLLECTION_FILE: &str = "fields/series.pvd";

/// The `.vti` file of the snapshot at `t` (s), relative to the output folder.
pub fn snapshot_file(t: f64) -> String {
    format!("fields/snapshot_t{}s.vti", format_seconds(t))
}

/// What `summary.json` says of the VTK files (its `vtk` entry).
#[derive(Serialize, Clone, Debug)]
pub struct VtkEcho {
    /// The `.pvd` collection, relative to the output folder.
    pub collection: String,
    /// Unit of `Origin` and `Spacing`: `mm`.
    pub length_unit: &'static str,
    /// Unit of the collection's `timestep` and of each file's `TimeValue`: `h`.
    pub time_unit: &'static str,
    /// One `.vti` per snapshot time.
    pub files: Vec<VtkFileEcho>,
}

/// One `.vti` file and its time.
#[derive(Serialize, Clone, Debug)]
pub struct VtkFileEcho {
    pub time_s: f64,
    pub time_h: f64,
    pub file: String,
}

/// The snapshot times of `snapshots` whose `.vti` exists in `out`, in order.
fn written(out: &OutputDir, snapshots: &[SnapshotEntry]) -> Vec<VtkFileEcho> {
    let mut files: Vec<VtkFileEcho> = Vec::new();
    for s in snapshots {
        if files.last().is_some_and(|f| f.time_s == s.time_s) {
            continue;
        }
        let file = snapshot_file(s.time_s);
        if out.path().join(&file).is_file() {
            files.push(VtkFileEcho { time_s: s.time_s, time_h: s.time_h, file });
        }
    }
    files
}

/// The `vtk` entry of `summary.json`: the files written so far, or `None` when there are none
/// (a run with `--no-vtk`).
pub fn echo(out: &OutputDir, snapshots: &[SnapshotEntry]) -> Option<VtkEcho> {
    let files = written(out, snapshots);
    (!files.is_empty()).then(|| VtkEcho {
        collection: COLLECTION_FILE.into(),
        length_unit: "mm",
        time_unit: "h",
        files,
    })
}

/// Writes the `.vti` of the snapshot at `t` (s) from `field` (the engine's field: free species,
/// then the bound fields, each `[z][y][x]`), then rewrites the collection with every snapshot
/// written so far (`snapshots`, which already lists `t`). Both atomically, so an interrupted run
/// keeps a readable collection of the snapshots it reached.
pub fn write_snapshot(
    problem: &Problem,
    out: &OutputDir,
    field: &[f32],
    t: f64,
    snapshots: &[SnapshotEntry],
) -> Result<(), RunError> {
    out.write_atomic(&snapshot_file(t), &encode_vti(problem, field, t))?;
    out.write_atomic(COLLECTION_FILE, encode_pvd(&written(out, snapshots)).as_bytes())?;
    Ok(())
}

/// One array of a `.vti`: its name, VTK type name and little-endian bytes.
struct Array {
    name: String,
    vtk_type: &'static str,
    bytes: Vec<u8>,
}

/// The `.vti` file of one snapshot (see the module's documentation for the layout).
pub fn encode_vti(problem: &Problem, field: &[f32], t: f64) -> Vec<u8> {
    let n = problem.grid.n_cells();
    let stems = file_stems(problem);
    let names = stems.iter().cloned().chain(problem.bound_species().into_iter().map(|s| format!("{}_bound", stems[s])));
    let mut arrays: Vec<Array> = names
        .enumerate()
        .map(|(row, name)| Array {
            name,
            vtk_type: "Float32",
            bytes: field[row * n..(row + 1) * n].iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
        .collect();
    arrays.push(Array {
        name: "materials".into(),
        vtk_type: "UInt32",
        bytes: problem.material_id.iter().flat_map(|v| v.to_le_bytes()).collect(),
    });

    let [nx, ny, nz] = problem.grid.cells;
    let [dx, dy, dz] = problem.grid.spacing.map(|h| h * 1e3);
    let extent = format!("0 {nx} 0 {ny} 0 {nz}");
    let mut xml = String::new();
    xml.push_str("<?xml version=\"1.0\"?>\n");
    xml.push_str(&format!(
        "<!-- secretome snapshot at t = {t} s ({} h). Lengths in mm; one CellData value per grid cell; \
         concentrations in each species' unit, material ids as listed in summary.json. -->\n",
        t / 3600.0
    ));
    xml.push_str("<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n");
    xml.push_str(&format!(
        "  <ImageData WholeExtent=\"{extent}\" Origin=\"0 0 0\" Spacing=\"{dx} {dy} {dz}\" \
         Direction=\"1 0 0 0 1 0 0 0 1\">\n"
    ));
    // ParaView reads a lone file's time from a FieldData array named TimeValue.
    xml.push_str("    <FieldData>\n");
    xml.push_str(&format!(
        "      <DataArray type=\"Float64\" Name=\"TimeValue\" NumberOfTuples=\"1\" format=\"ascii\">{}</DataArray>\n",
        t / 3600.0
    ));
    xml.push_str("    </FieldData>\n");
    xml.push_str(&format!("    <Piece Extent=\"{extent}\">\n"));
    xml.push_str("      <PointData>\n      </PointData>\n");
    xml.push_str(&format!("      <CellData Scalars=\"{}\">\n", xml_escape(&arrays[0].name)));
    let mut offset = 0usize;
    for a in &arrays {
        xml.push_str(&format!(
            "        <DataArray type=\"{}\" Name=\"{}\" NumberOfComponents=\"1\" format=\"appended\" offset=\"{offset}\"/>\n",
            a.vtk_type,
            xml_escape(&a.name)
        ));
        offset += 8 + a.bytes.len();
    }
    xml.push_str("      </CellData>\n    </Piece>\n  </ImageData>\n");
    xml.push_str("  <AppendedData encoding=\"raw\">\n   _");
    let mut bytes = xml.into_bytes();
    bytes.reserve(offset + 64);
    for a in &arrays {
        bytes.extend_from_slice(&(a.bytes.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&a.bytes);
    }
    bytes.extend_from_slice(b"\n  </AppendedData>\n</VTKFile>\n");
    bytes
}

/// The `.pvd` collection of `files` (paths relative to the output folder; the collection lives in
/// `fields/`, next to them), with `timestep` in hours.
pub fn encode_pvd(files: &[VtkFileEcho]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n");
    xml.push_str("<!-- secretome snapshots: timestep in hours (h); lengths in the .vti files in mm. -->\n");
    xml.push_str("<VTKFile type=\"Collection\" version=\"1.0\" byte_order=\"LittleEndian\">\n  <Collection>\n");
    for f in files {
        let name = f.file.strip_prefix("fields/").unwrap_or(&f.file);
        xml.push_str(&format!(
            "    <DataSet timestep=\"{}\" group=\"\" part=\"0\" file=\"{}\"/>\n",
            f.time_h,
            xml_escape(name)
        ));
    }
    xml.push_str("  </Collection>\n</VTKFile>\n");
    xml
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_offsets_point_at_each_arrays_header() {
        use crate::problem::*;
        let unit = ConcentrationUnit { text: "ng/mL".into(), amount_text: "ng".into(), si: 1e-6, volume_si: 1e-6 };
        let species = Species {
            name: "a&b".into(),
            unit,
            diffusivity: vec![1e-10],
            decay_rate: vec![0.0],
            clearance_rate: vec![0.0],
            uptake_rate: vec![0.0],
            initial: vec![1.0],
            initial_is_total: false,
            molar_per_unit: None,
            boundaries: [Boundary::NoFlux; 6],
            sources: Vec::new(),
            bioactive_threshold: None,
            bioactive_ceiling: None,
        };
        let problem = Problem {
            name: "p".into(),
            grid: Grid { cells: [3, 2, 1], spacing: [1e-5, 2e-5, 1e-3] },
            materials: vec![Material { name: "gel".into(), role: Role::Depot }],
            material_id: vec![0; 6],
            species: vec![species],
            regions: Vec::new(),
            pools: Vec::new(),
            reactions: Vec::new(),
            timeline: Default::default(),
            metrics: Default::default(),
            velocity: Vec::new(),
            schedule: Schedule {
                end: 1.0,
                output_times: vec![1.0],
                snapshot_times: vec![1.0],
                scheme: Scheme::ExplicitFtcs,
                time_step: TimeStep::Auto { safety: 0.9 },
            },
        };
        let field = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let bytes = encode_vti(&problem, &field, 7200.0);
        let marker = b"<AppendedData encoding=\"raw\">\n   _";
        let start = bytes.windows(marker.len()).position(|w| w == marker).unwrap() + marker.len();
        let text = String::from_utf8_lossy(&bytes[..start]);
        assert!(text.contains("WholeExtent=\"0 3 0 2 0 1\""), "{text}");
        assert!(text.contains("Name=\"a_b\""), "{text}");
        assert!(text.contains(">2</DataArray>"), "TimeValue in hours: {text}");
        let second = &bytes[start + 8 + 24..];
        assert_eq!(u64::from_le_bytes(second[..8].try_into().unwrap()), 24);
        assert_eq!(f32::from_le_bytes(bytes[start + 8 + 20..start + 8 + 24].try_into().unwrap()), 6.0);
        assert!(bytes.ends_with(b"</VTKFile>\n"));
    }
}
