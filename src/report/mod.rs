//! Pictures and a report of a finished run, drawn from its output folder.
//!
//! [`write`] reads `summary.json`, `timeseries.csv` and the snapshots in `fields/` back, with
//! the [`Problem`] (for the grid, the materials, the regions, the doses and the bioactive
//! thresholds), and writes:
//!
//! - `plots/*.png` (unless [`ReportOptions::plots`] is off): a heatmap of each species at each
//!   snapshot, free and bound; the release curves; the mean and peak free concentration in the
//!   target region; depth profiles through the target's centre (see [`Target`] and
//!   [`ReportOptions`]);
//! - `report.html`: one self-contained page (the pictures embedded as base64 data URIs) with
//!   the scenario, every value the library filled in with its mark, the books, the release
//!   metrics, the pictures, the engine and the software version.
//!
//! The same folder and options always give the same files: `secretome report DIR` regenerates
//! them after the run. A heatmap shows a plane: the grid itself in 2D, a slice in 3D
//! ([`Slice`]; by default normal to y through the depot's centre, so that it shows the depth);
//! in 1D there are no heatmaps, and the depth profiles show the whole line.

mod data;
pub(crate) mod html;
pub mod plot;

use crate::problem::{Problem, Role};
use std::path::{Path, PathBuf};

/// The scenario file's text as the run read it, kept in the output folder.
pub const SCENARIO_FILE: &str = "scenario.toml";

/// Errors while drawing or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file of the run's folder could not be read.
    #[error("cannot read {path}: {error}")]
    Read { path: PathBuf, error: std::io::Error },
    /// A file of the run's folder is not what the run writes.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// A picture could not be drawn or written.
    #[error("cannot draw {path}: {message}")]
    Plot { path: PathBuf, message: String },
    /// A file could not be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// The target asked for is neither a material nor a region of the scenario.
    #[error("target {name:?} is neither a material nor a region of the scenario; accepted: {accepted}")]
    Target { name: String, accepted: String },
    /// A slice outside the domain or along an axis the grid does not have.
    #[error("slice {text:?}: {message}")]
    Slice { text: String, message: String },
}

/// A plane normal to `axis` (0 = x, 1 = y, 2 = z) at `position` metres from the domain's minimum
/// corner: the cells whose span holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slice {
    pub axis: usize,
    pub position: f64,
}

impl Slice {
    /// Reads `z=1.5mm`, `y = 4 mm`: an axis, `=`, a length with a unit.
    pub fn parse(text: &str) -> Result<Slice, ReportError> {
        let bad = |message: &str| ReportError::Slice { text: text.to_string(), message: message.to_string() };
        let (axis, length) = text.split_once('=').ok_or_else(|| bad("expected AXIS=LENGTH, e.g. z=1.5mm"))?;
        let axis = match axis.trim() {
            "x" => 0,
            "y" => 1,
            "z" => 2,
            _ => return Err(bad("the axis must be x, y or z")),
        };
        let length = length.trim();
        // Accept "1.5mm" as well as "1.5 mm".
        let split = length.find(|c: char| c.is_alphabetic() || c == 'µ').unwrap_or(length.len());
        let spaced = format!("{} {}", &length[..split], &length[split..]);
        let position = crate::units::length(spaced.trim())
            .map_err(|e| bad(&format!("{e}; give a length with a unit, e.g. z=1.5mm")))?;
        Ok(Slice { axis, position })
    }
}

/// What to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// Draw the pictures (`plots/`); off, `report.html` holds the tables only.
    pub plots: bool,
    /// Log colour scales and log concentration axes.
    pub log: bool,
    /// The plane of the 3D heatmaps (default: normal to y through the depot's centre).
    pub slice: Option<Slice>,
    /// The target region by name (a material or a `[[region]]`; default [`Target::choose`]).
    pub target: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { plots: true, log: false, slice: None, target: None }
    }
}

/// The region whose mean and peak concentration the report follows, and through whose centre
/// the depth profiles run.
pub struct Target {
    pub name: String,
    /// A material: its mean and peak come from `timeseries.csv` at every output time. A
    /// `[[region]]`: from the snapshots, at snapshot times only.
    pub material: Option<usize>,
    pub cells: Vec<usize>,
    /// Centre of its cells, m.
    pub centre: [f64; 3],
}

impl Target {
    /// The material or region named `name`; without a name, the first tissue material whose
    /// name holds `wound` (`wound_bed`), else the first tissue material with cells, else the
    /// first material with cells.
    pub fn choose(problem: &Problem, name: Option<&str>) -> Result<Target, ReportError> {
        let counts = problem.material_cell_counts();
        let material = |m: usize| {
            let cells: Vec<usize> =
                (0..problem.material_id.len()).filter(|&c| problem.material_id[c] as usize == m).collect();
            Target {
                name: problem.materials[m].name.clone(),
                material: Some(m),
                centre: centre_of(problem, &cells),
                cells,
            }
        };
        if let Some(name) = name {
            if let Some(m) = problem.materials.iter().position(|m| m.name == name) {
                return Ok(material(m));
            }
            if let Some(r) = problem.regions.iter().find(|r| r.name == name) {
                let cells: Vec<usize> = r.cells.iter().map(|&c| c as usize).collect();
                return Ok(Target { name: r.name.clone(), material: None, centre: centre_of(problem, &cells), cells });
            }
            let names: Vec<String> = problem
                .materials
                .iter()
                .map(|m| format!("`{}`", m.name))
                .chain(problem.regions.iter().map(|r| format!("`{}`", r.name)))
                .collect();
            return Err(ReportError::Target { name: name.to_string(), accepted: names.join(", ") });
        }
        let tissue = |m: &usize| problem.materials[*m].role == Role::Tissue && counts[*m] > 0;
        let all = 0..problem.materials.len();
        let m = all
            .clone()
            .filter(tissue)
            .find(|&m| problem.materials[m].name.to_lowercase().contains("wound"))
            .or_else(|| all.clone().find(tissue))
            .or_else(|| all.clone().find(|&m| counts[m] > 0))
            .unwrap_or(0);
        Ok(material(m))
    }
}

/// Mean centre of `cells`, m (the domain's centre for none).
fn centre_of(problem: &Problem, cells: &[usize]) -> [f64; 3] {
    let g = &problem.grid;
    if cells.is_empty() {
        return g.extent().map(|e| e / 2.0);
    }
    let [nx, ny, _] = g.cells;
    let mut sum = [0.0; 3];
    for &c in cells {
        let p = g.centre(c % nx, (c / nx) % ny, c / (nx * ny));
        for a in 0..3 {
            sum[a] += p[a];
        }
    }
    sum.map(|s| s / cells.len() as f64)
}

/// Centre of the depot materials' cells, m (the domain's centre without a depot).
pub fn depot_centre(problem: &Problem) -> [f64; 3] {
    let cells: Vec<usize> = (0..problem.material_id.len())
        .filter(|&c| problem.materials[problem.material_id[c] as usize].role == Role::Depot)
        .collect();
    centre_of(problem, &cells)
}

/// The axes a picture spans: the axes with more than one cell; the depth axis is the last of
/// them (y in 2D, z in 3D, the line itself in 1D).
fn spanned_axes(problem: &Problem) -> Vec<usize> {
    (0..3).filter(|&a| problem.grid.cells[a] > 1).collect()
}

/// The plane a heatmap shows: `(normal axis, cell index along it, horizontal axis, vertical
/// axis)`; `None` in 1D.
pub fn heatmap_plane(
    problem: &Problem,
    slice: Option<Slice>,
) -> Result<Option<(usize, usize, usize, usize)>, ReportError> {
    let axes = spanned_axes(problem);
    let g = &problem.grid;
    match axes.len() {
        0 | 1 => Ok(None),
        2 => {
            let normal = (0..3).find(|a| !axes.contains(a)).unwrap();
            Ok(Some((normal, 0, axes[0], axes[1])))
        }
        _ => {
            let slice = slice.unwrap_or(Slice { axis: 1, position: depot_centre(problem)[1] });
            let extent = g.extent()[slice.axis];
            if !(0.0..=extent).contains(&slice.position) {
                return Err(ReportError::Slice {
                    text: format!("{}={} mm", ["x", "y", "z"][slice.axis], slice.position * 1e3),
                    message: format!("outside the domain, 0 to {} mm along that axis", extent * 1e3),
                });
            }
            let index = ((slice.position / g.spacing[slice.axis]) as usize).min(g.cells[slice.axis] - 1);
            let rest: Vec<usize> = (0..3).filter(|&a| a != slice.axis).collect();
            Ok(Some((slice.axis, index, rest[0], rest[1])))
        }
    }
}

/// The values of `field` (`[z][y][x]`) on the plane normal to `normal` at cell `index`, with
/// `h` horizontal and `v` vertical: `out[j_v * n_h + j_h]`.
pub fn extract_plane<T: Copy>(
    problem: &Problem,
    field: &[T],
    normal: usize,
    index: usize,
    h: usize,
    v: usize,
) -> Vec<T> {
    let g = &problem.grid;
    let (nh, nv) = (g.cells[h], g.cells[v]);
    let mut out = Vec::with_capacity(nh * nv);
    for jv in 0..nv {
        for jh in 0..nh {
            let mut ijk = [0; 3];
            ijk[normal] = index;
            ijk[h] = jh;
            ijk[v] = jv;
            out.push(field[g.index(ijk[0], ijk[1], ijk[2])]);
        }
    }
    out
}

/// Every file the report wrote, relative to the folder, with its caption.
#[derive(Clone, Debug, Default)]
pub struct ReportFiles {
    /// `(file, caption, section)`: the pictures, in the order of the report.
    pub plots: Vec<(String, String, &'static str)>,
    /// Each heatmap: its file, its colour range and its height in pixels (width [`plot::WIDTH`]).
    pub heatmaps: Vec<(String, plot::ColourRange, u32)>,
    pub report: String,
}

const AXES: [&str; 3] = ["x", "y", "z"];
/// (x, y) points of a curve.
type Points = Vec<(f64, f64)>;
/// Most snapshot times one depth-profile chart shows.
pub const PROFILE_CURVES: usize = 8;

/// A snapshot of the summary: time, species, form, unit, file.
struct Snapshot {
    time_h: f64,
    species: String,
    form: String,
    unit: String,
    file: String,
}

fn snapshots(summary: &serde_json::Value) -> Vec<Snapshot> {
    summary["snapshots"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| Snapshot {
                    time_h: s["time_h"].as_f64().unwrap_or(0.0),
                    species: s["species"].as_str().unwrap_or("").to_string(),
                    form: s["form"].as_str().unwrap_or("free").to_string(),
                    unit: s["unit"].as_str().unwrap_or("").to_string(),
                    file: s["file"].as_str().unwrap_or("").to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Draws every picture into `<dir>/plots/` (when `options.plots`) and writes `<dir>/report.html`.
pub fn write(problem: &Problem, dir: &Path, options: &ReportOptions) -> Result<ReportFiles, ReportError> {
    let summary = data::read_summary(dir)?;
    let series = data::read_timeseries(dir)?;
    let target = Target::choose(problem, options.target.as_deref())?;
    let mut files = ReportFiles::default();
    let plots = dir.join("plots");
    // Pictures of an earlier report (other options, or a run overwritten) would otherwise stay behind.
    if plots.exists() {
        std::fs::remove_dir_all(&plots).map_err(|error| ReportError::Read { path: plots.clone(), error })?;
    }
    if options.plots {
        std::fs::create_dir_all(&plots).map_err(|error| ReportError::Read { path: plots.clone(), error })?;
        draw_all(problem, dir, &summary, &series, &target, options, &mut files)?;
    }
    let page = html::page(problem, dir, &summary, &target, options, &files)?;
    crate::output::OutputDir::open(dir)?.write_atomic("report.html", page.as_bytes())?;
    files.report = "report.html".into();
    Ok(files)
}

fn threshold_of(problem: &Problem, species: &str) -> Option<(f64, String)> {
    let sp = problem.species.iter().find(|s| s.name == species)?;
    sp.bioactive_threshold.map(|t| (t, format!("{} {}", plot::fmt_num(t), sp.unit.text)))
}

fn dose_marks(problem: &Problem) -> Option<(Vec<f64>, String)> {
    let times: Vec<f64> = problem.timeline.doses.iter().map(|d| d.time / 3600.0).collect();
    (!times.is_empty()).then(|| (times, "dose".to_string()))
}

fn draw_all(
    problem: &Problem,
    dir: &Path,
    summary: &serde_json::Value,
    series: &[data::Row],
    target: &Target,
    options: &ReportOptions,
    files: &mut ReportFiles,
) -> Result<(), ReportError> {
    let g = &problem.grid;
    let snaps = snapshots(summary);
    let end_h = problem.schedule.end / 3600.0;
    let (_, materials) = data::read_npy(&dir.join("fields/materials.npy"))?;
    let materials: Vec<u32> = materials.iter().map(|&m| m as u32).collect();
    let stems = crate::run::sinks::file_stems(problem);

    // Heatmaps.
    if let Some((normal, index, h, v)) = heatmap_plane(problem, options.slice)? {
        let plane_materials = extract_plane(problem, &materials, normal, index, h, v);
        let where_ = if g.dimension() == 3 {
            format!(", slice {}={} mm", AXES[normal], plot::fmt_num((index as f64 + 0.5) * g.spacing[normal] * 1e3))
        } else {
            String::new()
        };
        for s in &snaps {
            let (_, field) = data::read_npy(&dir.join(&s.file))?;
            let values = extract_plane(problem, &field, normal, index, h, v);
            let plane = plot::Plane {
                nh: g.cells[h],
                nv: g.cells[v],
                dh: g.spacing[h] * 1e3,
                dv: g.spacing[v] * 1e3,
                values: &values,
                materials: &plane_materials,
                h_label: &format!("{} (mm)", AXES[h]),
                v_label: &format!("{} (mm)", AXES[v]),
            };
            let stem = Path::new(&s.file).file_stem().and_then(|f| f.to_str()).unwrap_or("field").to_string();
            let file = format!("plots/heatmap_{stem}.png");
            let title = format!("{} {}, t = {} h{where_}", s.species, s.form, plot::fmt_num(s.time_h));
            let threshold = if s.form == "free" { threshold_of(problem, &s.species) } else { None };
            let label = format!("{} {} ({})", s.species, s.form, s.unit);
            let (range, height) = plot::heatmap(&dir.join(&file), &title, &plane, &label, threshold, options.log)?;
            let caption = format!(
                "{} concentration of {} at t = {} h{where_}; {}; lines: material boundaries",
                s.form,
                s.species,
                plot::fmt_num(s.time_h),
                range.describe(&s.unit)
            );
            files.plots.push((file.clone(), caption, "heatmaps"));
            files.heatmaps.push((file, range, height));
        }
    }

    // Release curves: the release of each species is the same on every row of its time; the
    // rows of the first material are read.
    let first_material = problem.materials.first().map(|m| m.name.clone()).unwrap_or_default();
    let curves: Vec<plot::Curve> = problem
        .species
        .iter()
        .enumerate()
        .map(|(i, sp)| plot::Curve {
            label: sp.name.clone(),
            colour: plot::palette(i),
            points: series
                .iter()
                .filter(|r| r.species == sp.name && r.material == first_material)
                .map(|r| (r.time_h, r.released_percent))
                .collect(),
            dashed: false,
        })
        .collect();
    let top = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)).fold(100.0f64, f64::max);
    let file = "plots/release.png".to_string();
    plot::line_chart(
        &dir.join(&file),
        &plot::LineChart {
            title: "Cumulative release from the depot",
            x_label: "time (h)",
            y_label: "released (% of the depot's loading)",
            curves,
            x_range: (0.0, end_h),
            marks: dose_marks(problem),
            names: Vec::new(),
            hline: None,
            log: false,
            y_range: Some((0.0, top * 1.02)),
        },
    )?;
    files.plots.push((
        file,
        format!(
            "Cumulative amount released from the depot materials (what left them: into tissue, lost inside them, \
             removed with dressings) as % of what was put in (initial loading and doses){}",
            if problem.timeline.doses.is_empty() { "" } else { "; grey lines: dose times" }
        ),
        "release",
    ));

    // Target region: mean and peak free concentration.
    for (i, sp) in problem.species.iter().enumerate() {
        let (mean, peak, how): (Points, Points, &str) = match target.material {
            Some(m) => {
                let rows: Vec<&data::Row> =
                    series.iter().filter(|r| r.species == sp.name && r.material == problem.materials[m].name).collect();
                (
                    rows.iter().map(|r| (r.time_h, r.free_mean)).collect(),
                    rows.iter().filter_map(|r| r.max.map(|x| (r.time_h, x))).collect(),
                    "at every output time (timeseries.csv)",
                )
            }
            None => {
                let mut mean = Vec::new();
                let mut peak = Vec::new();
                for s in snaps.iter().filter(|s| s.species == sp.name && s.form == "free") {
                    let (_, field) = data::read_npy(&dir.join(&s.file))?;
                    let values = target.cells.iter().map(|&c| field[c]);
                    mean.push((s.time_h, values.clone().sum::<f64>() / target.cells.len().max(1) as f64));
                    peak.push((s.time_h, values.fold(f64::NEG_INFINITY, f64::max)));
                }
                (mean, peak, "at the snapshot times (from the fields)")
            }
        };
        let file = format!("plots/target_{}.png", stems[i]);
        let threshold =
            sp.bioactive_threshold.map(|t| (t, format!("bioactive threshold {} {}", plot::fmt_num(t), sp.unit.text)));
        plot::line_chart(
            &dir.join(&file),
            &plot::LineChart {
                title: &format!("{} in {} (target region)", sp.name, target.name),
                x_label: "time (h)",
                y_label: &format!("free {} ({})", sp.name, sp.unit.text),
                curves: vec![
                    plot::Curve { label: "peak (max)".into(), colour: plot::palette(1), points: peak, dashed: false },
                    plot::Curve { label: "mean".into(), colour: plot::palette(0), points: mean, dashed: false },
                ],
                x_range: (0.0, end_h),
                marks: dose_marks(problem),
                names: Vec::new(),
                hline: threshold,
                log: options.log,
                y_range: None,
            },
        )?;
        files.plots.push((
            file,
            format!(
                "Mean and peak free concentration of {} in {} (the target region), {how}{}",
                sp.name,
                target.name,
                if problem.timeline.doses.is_empty() { "" } else { "; grey lines: dose times" }
            ),
            "target",
        ));
    }

    // Depth profiles through the target's centre.
    let axes = spanned_axes(problem);
    if let Some(&depth) = axes.last() {
        let at: [usize; 3] = std::array::from_fn(|a| ((target.centre[a] / g.spacing[a]) as usize).min(g.cells[a] - 1));
        let line: Vec<usize> = (0..g.cells[depth])
            .map(|j| {
                let mut ijk = at;
                ijk[depth] = j;
                g.index(ijk[0], ijk[1], ijk[2])
            })
            .collect();
        let position = |j: usize| (j as f64 + 0.5) * g.spacing[depth] * 1e3;
        // Material boundaries along the line; the materials and boundaries in order, for the axis label.
        let mut bounds = Vec::new();
        let mut names = Vec::new();
        let mut start = 0;
        for j in 1..=line.len() {
            if j == line.len() || materials[line[j]] != materials[line[j - 1]] {
                if j < line.len() {
                    bounds.push(j as f64 * g.spacing[depth] * 1e3);
                }
                names.push(problem.materials[materials[line[start]] as usize].name.clone());
                if j < line.len() {
                    names.push(plot::fmt_num(j as f64 * g.spacing[depth] * 1e3));
                }
                start = j;
            }
        }
        let through: Vec<String> = (0..3)
            .filter(|&a| a != depth && g.cells[a] > 1)
            .map(|a| format!("{} = {} mm", AXES[a], plot::fmt_num((at[a] as f64 + 0.5) * g.spacing[a] * 1e3)))
            .collect();
        let through = if through.is_empty() { String::new() } else { format!(" at {}", through.join(", ")) };
        for (i, sp) in problem.species.iter().enumerate() {
            let all: Vec<&Snapshot> = snaps.iter().filter(|s| s.species == sp.name && s.form == "free").collect();
            // At most PROFILE_CURVES of them, evenly spread, the first and last included.
            let mine: Vec<&Snapshot> = if all.len() <= PROFILE_CURVES {
                all
            } else {
                let mut picked: Vec<usize> =
                    (0..PROFILE_CURVES).map(|k| k * (all.len() - 1) / (PROFILE_CURVES - 1)).collect();
                picked.dedup();
                picked.into_iter().map(|k| all[k]).collect()
            };
            let mut curves = Vec::new();
            for (k, s) in mine.iter().enumerate() {
                let (_, field) = data::read_npy(&dir.join(&s.file))?;
                let f = if mine.len() > 1 { 0.85 * k as f64 / (mine.len() - 1) as f64 } else { 0.0 };
                curves.push(plot::Curve {
                    label: format!("t = {} h", plot::fmt_num(s.time_h)),
                    colour: plot::viridis(f),
                    points: line.iter().enumerate().map(|(j, &c)| (position(j), field[c])).collect(),
                    dashed: false,
                });
            }
            let file = format!("plots/profile_{}.png", stems[i]);
            let threshold = sp
                .bioactive_threshold
                .map(|t| (t, format!("bioactive threshold {} {}", plot::fmt_num(t), sp.unit.text)));
            plot::line_chart(
                &dir.join(&file),
                &plot::LineChart {
                    title: &format!("{} along {}{through}", sp.name, AXES[depth]),
                    x_label: &format!("{} (mm):  {}", AXES[depth], names.join(" | ")),
                    y_label: &format!("free {} ({})", sp.name, sp.unit.text),
                    curves,
                    x_range: (0.0, g.extent()[depth] * 1e3),
                    marks: (!bounds.is_empty()).then(|| (bounds.clone(), "material boundary".to_string())),
                    names: Vec::new(),
                    hline: threshold,
                    log: options.log,
                    y_range: None,
                },
            )?;
            files.plots.push((
                file,
                format!(
                    "Free {} along the {} axis through the centre of {}{through}, at the snapshot times (at most {PROFILE_CURVES}, evenly spread); grey lines: material boundaries",
                    sp.name, AXES[depth], target.name
                ),
                "profiles",
            ));
        }
    }
    Ok(())
}
