//! Pictures and report.html of a run (src/report/): written for 1D, 2D and 3D runs as PNGs of the
//! stated size; the colour bar spans the field's true min and max; a 3D slice goes through the
//! depot; `secretome report DIR` writes the same files again; `--no-plots` writes none; the
//! scenario key `bioactive_threshold`.

mod common;

use common::command::{scenario, secretome, stderr};

use secretome::output::OutputDir;
use secretome::report::{self, ReportOptions, plot};
use secretome::run::{self, Silent};
use secretome::solver::cpu::CpuReference;
use std::path::Path;

/// Width and height of a PNG, after checking its signature and that its IHDR chunk comes first.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND", "{} is cut short", path.display());
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn read_npy(path: &Path) -> Vec<f64> {
    let bytes = std::fs::read(path).unwrap();
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + len..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64).collect()
}

fn pngs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("plots"))
        .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// A gel strip over a wound bed in 2D, 40 × 20 cells, two species (one with a threshold), one
/// dose.
const GEL_2D: &str = r#"
[scenario]
name = "gel_strip_2d"
[grid]
size = ["4 mm", "2 mm", "1 mm"]
cells = [40, 20, 1]
default_material = "wound_bed"
[time]
end = "2 h"
output_interval = "15 min"
snapshot_interval = "1 h"
[[material]]
name = "gel"
role = "depot"
[[material]]
name = "wound_bed"
role = "tissue"
[[region]]
material = "gel"
shape = "box"
min = ["1 mm", "1.5 mm", "0 mm"]
max = ["3 mm", "2 mm", "1 mm"]
[[species]]
name = "VEGF"
unit = "pg/mL"
diffusivity = { gel = "100 um^2/s", wound_bed = "60 um^2/s" }
decay = { gel = "2 h", wound_bed = "30 min" }
initial = { gel = "300 pg/mL" }
bioactive_threshold = "0.01 ng/mL"
[[species]]
name = "EGF"
unit = "pg/mL"
diffusivity = { gel = "200 um^2/s", wound_bed = "120 um^2/s" }
decay = { gel = "24 h", wound_bed = "90 min" }
initial = { gel = "100 pg/mL" }
[[dose]]
times = ["1.5 h"]
region = "gel"
mode = "add"
[[boundary]]
faces = ["ymin"]
species = ["all"]
type = "fixed"
value = "0 pg/mL"
"#;

/// A gel disc on a wound bed in 3D, 16 × 16 × 8 cells.
const DISC_3D: &str = r#"
[scenario]
name = "disc_3d"
[grid]
size = ["4 mm", "4 mm", "2 mm"]
cells = [16, 16, 8]
default_material = "dermis"
[time]
end = "1 h"
output_interval = "15 min"
snapshot_interval = "30 min"
[[material]]
name = "gel"
role = "depot"
[[material]]
name = "wound_bed"
role = "tissue"
[[material]]
name = "dermis"
role = "tissue"
[[region]]
material = "wound_bed"
shape = "cylinder"
axis = "z"
center = ["2 mm", "2.5 mm"]
radius = "1.2 mm"
from = "0.5 mm"
to = "2 mm"
[[region]]
material = "gel"
shape = "cylinder"
axis = "z"
center = ["2 mm", "2.5 mm"]
radius = "1.2 mm"
from = "1.5 mm"
to = "2 mm"
[[species]]
name = "VEGF"
unit = "pg/mL"
diffusivity = { gel = "100 um^2/s", wound_bed = "70 um^2/s", dermis = "40 um^2/s" }
decay = { gel = "90 min", wound_bed = "30 min", dermis = "30 min" }
initial = { gel = "30 pg/mL" }
bioactive_threshold = "5 pg/mL"
"#;

/// Runs `text` on the reference engine into `dir` (with scenario.toml, as the command line does)
/// and draws the report.
fn run_and_report(
    text: &str,
    dir: &Path,
    options: &ReportOptions,
) -> (secretome::problem::Problem, report::ReportFiles) {
    let problem = secretome::scenario::from_str(text, "test.toml").unwrap();
    let out = OutputDir::create(dir, false).unwrap();
    out.write_atomic(report::SCENARIO_FILE, text.as_bytes()).unwrap();
    let mut engine = CpuReference::new(&problem);
    run::run(&problem, &mut engine, &out, &mut Silent).unwrap();
    let files = report::write(&problem, dir, options).unwrap();
    (problem, files)
}

#[test]
fn a_2d_run_draws_every_picture_with_the_fields_true_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let (problem, files) = run_and_report(GEL_2D, &dir, &ReportOptions::default());
    // 2 species × 3 snapshots (0, 1, 2 h), free only; release; target and profile per species.
    assert_eq!(files.heatmaps.len(), 6);
    let names = pngs(&dir);
    assert_eq!(names.len(), 6 + 1 + 2 + 2, "{names:?}");
    for name in ["release.png", "target_VEGF.png", "target_EGF.png", "profile_VEGF.png", "heatmap_VEGF_t3600s.png"] {
        assert!(names.contains(&name.to_string()), "no plots/{name} in {names:?}");
    }
    for (file, range, height) in &files.heatmaps {
        assert_eq!(png_size(&dir.join(file)), (plot::WIDTH, *height), "{file}");
        // The plane is the whole 2D field: the bar spans its min and max exactly.
        let npy = file.replace("plots/heatmap_", "fields/").replace(".png", ".npy");
        let field = read_npy(&dir.join(&npy));
        let min = field.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = field.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((range.field_min, range.field_max), (min, max), "{file}");
        if max > min {
            assert_eq!((range.bar_min, range.bar_max), (min, max), "{file}");
        }
    }
    for name in names.iter().filter(|n| !n.starts_with("heatmap_")) {
        assert_eq!(png_size(&dir.join("plots").join(name)), (plot::WIDTH, plot::CHART_HEIGHT), "{name}");
    }
    // The threshold was read in the species' unit (0.01 ng/mL = 10 pg/mL).
    assert!((problem.species[0].bioactive_threshold.unwrap() - 10.0).abs() < 1e-12);
    assert_eq!(problem.species[1].bioactive_threshold, None);
    // The report embeds every picture and holds the books and the version.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), names.len());
    for part in ["Bookkeeping", "balance error", "time to 50 %", env!("CARGO_PKG_VERSION"), "wound_bed", "10 pg/mL"] {
        assert!(html.contains(part), "report.html lacks {part:?}");
    }
}

#[test]
fn log_scale_clips_at_a_stated_floor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let options = ReportOptions { log: true, ..Default::default() };
    let (_, files) = run_and_report(GEL_2D, &dir, &options);
    for (file, range, _) in &files.heatmaps {
        if range.field_max > 0.0 && range.field_min < range.field_max {
            assert!(range.log, "{file}");
            assert_eq!(range.bar_max, range.field_max);
            assert!(range.bar_min >= range.field_max * plot::LOG_FLOOR && range.bar_min > 0.0, "{file}: {range:?}");
        }
    }
}

#[test]
fn a_3d_slice_goes_through_the_depot_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let (problem, files) = run_and_report(DISC_3D, &dir, &ReportOptions::default());
    let (normal, index, h, v) = report::heatmap_plane(&problem, None).unwrap().unwrap();
    assert_eq!((normal, h, v), (1, 0, 2), "a vertical x–z section");
    let ids = report::extract_plane(&problem, &problem.material_id, normal, index, h, v);
    assert!(ids.contains(&0), "the slice holds no gel cell");
    assert!(ids.contains(&1) && ids.contains(&2), "the slice holds no wound bed or dermis");
    // 3 snapshots of one species.
    assert_eq!(files.heatmaps.len(), 3);
    for (file, range, height) in &files.heatmaps {
        assert_eq!(png_size(&dir.join(file)), (plot::WIDTH, *height));
        assert!(range.field_min <= range.field_max);
    }
    // A chosen slice: the horizontal plane at z = 1.75 mm is all gel inside the disc.
    let slice = report::Slice::parse("z=1.75mm").unwrap();
    assert_eq!(slice, report::Slice { axis: 2, position: 1.75e-3 });
    let (normal, index, h, v) = report::heatmap_plane(&problem, Some(slice)).unwrap().unwrap();
    assert_eq!((normal, index, h, v), (2, 7, 0, 1));
    let ids = report::extract_plane(&problem, &problem.material_id, normal, index, h, v);
    assert!(ids.contains(&0) && ids.contains(&2));
    assert!(report::Slice::parse("w=1mm").is_err());
    assert!(report::heatmap_plane(&problem, Some(report::Slice { axis: 2, position: 5e-3 })).is_err());
}

#[test]
fn the_target_region_is_the_wound_bed_unless_named() {
    let problem = secretome::scenario::from_str(DISC_3D, "test.toml").unwrap();
    let t = report::Target::choose(&problem, None).unwrap();
    assert_eq!((t.name.as_str(), t.material), ("wound_bed", Some(1)));
    // The wound bed's centre is under the disc's axis.
    assert!((t.centre[0] - 2e-3).abs() < 1e-4 && (t.centre[1] - 2.5e-3).abs() < 1e-4, "{:?}", t.centre);
    assert_eq!(report::Target::choose(&problem, Some("dermis")).unwrap().material, Some(2));
    let e = report::Target::choose(&problem, Some("muscle")).err().unwrap().to_string();
    assert!(e.contains("muscle") && e.contains("`wound_bed`"), "{e}");
}

#[test]
fn a_1d_run_draws_curves_and_profiles_and_no_heatmaps() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("slab");
    let o = secretome(&[
        "run",
        &scenario("validation_slab_1d.toml"),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(pngs(&out), vec!["profile_solute.png", "release.png", "target_solute.png"]);
    for name in pngs(&out) {
        assert_eq!(png_size(&out.join("plots").join(&name)), (plot::WIDTH, plot::CHART_HEIGHT));
    }
    assert!(out.join("report.html").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("scenario.toml")).unwrap(),
        std::fs::read_to_string(scenario("validation_slab_1d.toml")).unwrap()
    );
}

#[test]
fn report_command_writes_the_same_files_again() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("gel.toml");
    std::fs::write(&file, GEL_2D).unwrap();
    let out = tmp.path().join("run");
    let o = secretome(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let read_all = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<(String, Vec<u8>)> =
            pngs(dir).into_iter().map(|n| (n.clone(), std::fs::read(dir.join("plots").join(&n)).unwrap())).collect();
        all.push(("report.html".into(), std::fs::read(dir.join("report.html")).unwrap()));
        all
    };
    let before = read_all(&out);
    assert_eq!(before.len(), 12);
    std::fs::remove_dir_all(out.join("plots")).unwrap();
    std::fs::remove_file(out.join("report.html")).unwrap();
    let o = secretome(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = read_all(&out);
    assert_eq!(before.len(), after.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.0, b.0);
        assert!(a.1 == b.1, "{} differs after `secretome report`", a.0);
    }
    // Other options replace the pictures: a named target and log scales.
    let o = secretome(&["report", out.to_str().unwrap(), "--target", "gel", "--log-plots"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(pngs(&out).len(), 11);
    let o = secretome(&["report", out.to_str().unwrap(), "--target", "bone"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bone"), "{}", stderr(&o));
}

#[test]
fn no_plots_writes_no_pictures_but_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("slab");
    let o = secretome(&[
        "run",
        &scenario("validation_slab_1d.toml"),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--quiet",
        "--no-plots",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("plots").exists());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("<img"));
    assert!(html.contains("Bookkeeping"));
}

#[test]
fn bioactive_threshold_is_a_positive_concentration() {
    let with =
        |value: &str| GEL_2D.replace("bioactive_threshold = \"0.01 ng/mL\"", &format!("bioactive_threshold = {value}"));
    let p = secretome::scenario::from_str(&with("\"2.5 pg/mL\""), "t.toml").unwrap();
    assert!((p.species[0].bioactive_threshold.unwrap() - 2.5).abs() < 1e-12);
    for (bad, says) in [
        ("\"-1 pg/mL\"", "positive"),
        ("\"0 pg/mL\"", "positive"),
        ("\"10\"", "bioactive_threshold"),
        ("\"1 nM\"", "bioactive_threshold"),
    ] {
        let e = secretome::scenario::from_str(&with(bad), "t.toml").err().unwrap().to_string();
        assert!(e.contains("species[0].bioactive_threshold") && e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn values_from_the_library_are_listed_with_their_marks() {
    let text = GEL_2D.replace(
        "decay = { gel = \"2 h\", wound_bed = \"30 min\" }\ninitial = { gel = \"300 pg/mL\" }",
        "factor = \"VEGF165\"\ninitial = { gel = \"300 pg/mL\" }",
    );
    assert_ne!(text, GEL_2D);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let (problem, _) = run_and_report(&text, &dir, &ReportOptions { plots: false, ..Default::default() });
    assert!(!problem.species[0].sources.is_empty());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Values taken from the factor library"), "no table of library values");
    for v in &problem.species[0].sources {
        assert!(html.contains(&format!("mark {}", v.mark.name())), "{} has no mark in the report", v.key);
    }
    assert!(!dir.join("plots").exists());
}
