//! The pictures of a comparison (`plots/compare_*.png`): the release curves and the coverage
//! curves of the best designs overlaid, the objective as ranked bars with the 90 % band, and the
//! Pareto scatter with its front. Drawn with plotters and the report's font and colours.

use super::{Comparison, Ranked};
use crate::output::OutputDir;
use crate::report::ReportError;
use crate::report::plot::{
    CHART_HEIGHT, Curve, FONT, LineChart, WIDTH, fmt_num, font, line_chart, palette, plot_error,
};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Designs whose curves the overlaid charts show (the best ranked): more make the legend
/// unreadable.
pub const CURVES: usize = 10;
/// Designs the bar chart shows (the best ranked).
pub const BARS: usize = 40;

/// A picture drawn: its file relative to the output folder, and its caption.
#[derive(Clone, Debug)]
pub struct Picture {
    pub file: String,
    pub caption: String,
}

/// The pictures drawn, and those not drawn with the reason.
#[derive(Clone, Debug, Default)]
pub struct Pictures {
    pub drawn: Vec<Picture>,
    pub skipped: Vec<String>,
}

const RELEASE: &str = "plots/compare_release.png";
const COVERAGE: &str = "plots/compare_coverage.png";
const OBJECTIVE: &str = "plots/compare_objective.png";
const PARETO: &str = "plots/compare_pareto.png";

/// Draws every picture the comparison has data for into `dir/plots/`, and removes the
/// pictures of an earlier comparison it does not draw again.
pub fn draw(c: &Comparison, dir: &OutputDir) -> Result<Pictures, ReportError> {
    let mut out = Pictures::default();
    std::fs::create_dir_all(dir.path().join("plots"))
        .map_err(|error| ReportError::Read { path: dir.path().join("plots"), error })?;
    let (curves, species) = release_curves(c);
    if curves.is_empty() {
        out.skipped.push(format!("no release curves: no timeseries.csv with rows of {species} in the runs"));
    } else {
        let caption = format!(
            "Released from the depot, % of the amount put in, of {species} (released_percent in timeseries.csv); \
             for a design with several draws, its median draw{}",
            shown_of(c)
        );
        let chart = LineChart {
            title: &format!("Release of {species}"),
            x_label: "time (h)",
            y_label: "released (%)",
            x_range: x_range(&curves),
            curves,
            marks: None,
            names: Vec::new(),
            hline: None,
            log: false,
            y_range: None,
        };
        atomic(dir, RELEASE, |path| line_chart(path, &chart))?;
        out.drawn.push(Picture { file: RELEASE.into(), caption });
    }
    match coverage_curves(c) {
        Ok((curves, target)) => {
            let caption = format!(
                "Fraction of {target} above the threshold (coverage in exposure.csv); for a design with several \
                 draws, its median draw{}",
                shown_of(c)
            );
            let chart = LineChart {
                title: &format!("Coverage of {target}"),
                x_label: "time (h)",
                y_label: "fraction of the region above the threshold",
                x_range: x_range(&curves),
                curves,
                marks: None,
                names: Vec::new(),
                hline: None,
                log: false,
                y_range: None,
            };
            atomic(dir, COVERAGE, |path| line_chart(path, &chart))?;
            out.drawn.push(Picture { file: COVERAGE.into(), caption });
        }
        Err(why) => out.skipped.push(why),
    }
    let name = c.objective.name();
    let bars: Vec<&Ranked> = c.ranked.iter().filter(|r| r.band(&name).is_some()).take(BARS).collect();
    if bars.is_empty() {
        out.skipped.push(format!("no bar chart: no design has a value of {name}"));
    } else {
        atomic(dir, OBJECTIVE, |path| bar_chart(path, c, &bars))?;
        let more = c.ranked.iter().filter(|r| r.band(&name).is_some()).count() - bars.len();
        out.drawn.push(Picture {
            file: OBJECTIVE.into(),
            caption: format!(
                "{name} by design, best at the top: the median, and the 90 % band (5th to 95th percentile) of designs \
                 with several draws; green: on the Pareto front{}",
                if more > 0 {
                    format!("; the best {} ({more} more in comparison.csv)", bars.len())
                } else {
                    String::new()
                }
            ),
        });
    }
    let (pa, pb) = (c.pareto.0.name(), c.pareto.1.name());
    let points = c.ranked.iter().filter(|r| r.band(&pa).is_some() && r.band(&pb).is_some()).count();
    if points == 0 {
        out.skipped.push(format!("no Pareto scatter: no design has values of both {pa} and {pb}"));
    } else {
        atomic(dir, PARETO, |path| pareto_scatter(path, c))?;
        out.drawn.push(Picture {
            file: PARETO.into(),
            caption: format!(
                "Medians of {pa} ({}) against {pb} ({}); the Pareto front highlighted and joined",
                if c.pareto.0.maximize { "more is better" } else { "less is better" },
                if c.pareto.1.maximize { "more is better" } else { "less is better" }
            ),
        });
    }
    for stale in [RELEASE, COVERAGE, OBJECTIVE, PARETO] {
        if !out.drawn.iter().any(|p| p.file == stale) {
            let _ = std::fs::remove_file(dir.path().join(stale));
        }
    }
    Ok(out)
}

/// Draws into a temporary `.png` beside `file` and renames it over `file`.
fn atomic(dir: &OutputDir, file: &str, draw: impl FnOnce(&Path) -> Result<(), ReportError>) -> Result<(), ReportError> {
    let path = dir.path().join(file);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{stem}.{}.png", std::process::id()));
    draw(&tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| plot_error(&path, e))
}

fn shown_of(c: &Comparison) -> String {
    if c.ranked.len() > CURVES { format!("; the best {CURVES} of {} designs", c.ranked.len()) } else { String::new() }
}

fn x_range(curves: &[Curve]) -> (f64, f64) {
    let xs = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
    (xs.clone().fold(f64::INFINITY, f64::min).min(0.0), xs.fold(f64::NEG_INFINITY, f64::max))
}

/// The run that stands for a design in a curve: its draw whose objective is nearest the
/// design's median (its only run without draws).
fn median_run(c: &Comparison, r: &Ranked) -> PathBuf {
    let name = c.objective.name();
    let median = r.band(&name).map(|b| b.median);
    r.design
        .runs
        .iter()
        .min_by(|a, b| {
            let d = |x: &crate::outcome::RunOutcome| match (c.objective.value(x), median) {
                (Some(v), Some(m)) => (v - m).abs(),
                _ => f64::INFINITY,
            };
            d(a).total_cmp(&d(b))
        })
        .map(|run| run.dir.clone())
        .unwrap_or_else(|| r.design.folder.clone())
}

/// The label of a design's curve.
fn curve_label(r: &Ranked) -> String {
    if r.design.runs.len() > 1 {
        format!("{}. {} (median draw)", r.rank, r.design.label)
    } else {
        format!("{}. {}", r.rank, r.design.label)
    }
}

/// Reads a CSV file's rows as maps of column to text.
fn read_csv(path: &Path) -> Option<Vec<std::collections::HashMap<String, String>>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<String> = lines.next()?.split(',').map(|h| h.trim().to_string()).collect();
    Some(
        lines
            .filter(|l| !l.trim().is_empty())
            .map(|l| header.iter().cloned().zip(l.split(',').map(|f| f.trim().to_string())).collect())
            .collect(),
    )
}

/// (time h, value) of the rows of a CSV file that `keep` accepts.
fn series(
    path: &Path,
    value: &str,
    keep: impl Fn(&std::collections::HashMap<String, String>) -> bool,
) -> Vec<(f64, f64)> {
    read_csv(path)
        .unwrap_or_default()
        .iter()
        .filter(|row| keep(row))
        .filter_map(|row| Some((row.get("time_h")?.parse().ok()?, row.get(value)?.parse().ok()?)))
        .filter(|p: &(f64, f64)| p.0.is_finite() && p.1.is_finite())
        .collect()
}

/// (time h, released %) of `species` from a run's `timeseries.csv`. The release of a species is
/// the same on every row of a time (it counts every depot material), so the first row of each
/// time is read; a row of the material `all`, where there is one, is preferred.
pub(crate) fn release_points(path: &Path, species: &str) -> Vec<(f64, f64)> {
    let rows: Vec<_> = read_csv(path)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.get("species").is_some_and(|s| s == species))
        .collect();
    let has_all = rows.iter().any(|r| r.get("material").is_some_and(|m| m == "all"));
    let mut points: Vec<(f64, f64)> = Vec::new();
    for row in rows.iter().filter(|r| !has_all || r.get("material").is_some_and(|m| m == "all")) {
        let (Some(t), Some(v)) = (
            row.get("time_h").and_then(|t| t.parse::<f64>().ok()),
            row.get("released_percent").and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        if t.is_finite() && v.is_finite() && points.last().is_none_or(|p| p.0 != t) {
            points.push((t, v));
        }
    }
    points
}

/// The release curve of each of the best designs, and the species they follow.
fn release_curves(c: &Comparison) -> (Vec<Curve>, String) {
    let species = c
        .objective
        .species
        .clone()
        .or_else(|| c.ranked.iter().flat_map(|r| r.design.runs.first()?.species.first().cloned()).next())
        .unwrap_or_default();
    let curves = c
        .ranked
        .iter()
        .take(CURVES)
        .enumerate()
        .filter_map(|(i, r)| {
            let points = release_points(&median_run(c, r).join("timeseries.csv"), &species);
            (!points.is_empty()).then(|| Curve { label: curve_label(r), colour: palette(i), points, dashed: false })
        })
        .collect();
    (curves, species)
}

/// The coverage curve of each of the best designs for the objective's target (or the first
/// species and region with a threshold), or why there are none.
fn coverage_curves(c: &Comparison) -> Result<(Vec<Curve>, String), String> {
    let target = match (&c.objective.species, &c.objective.region) {
        (Some(s), Some(r)) => Some((s.clone(), r.clone())),
        _ => c
            .ranked
            .iter()
            .flat_map(|r| r.design.runs.iter())
            .flat_map(|run| run.thresholds.keys())
            .next()
            .and_then(|k| k.split_once('@'))
            .map(|(s, r)| (s.to_string(), r.to_string())),
    };
    let Some((species, region)) = target else {
        return Err("no coverage curves: the runs have no exposure targets with a threshold".into());
    };
    let curves: Vec<Curve> = c
        .ranked
        .iter()
        .take(CURVES)
        .enumerate()
        .filter_map(|(i, r)| {
            let points = series(&median_run(c, r).join("exposure.csv"), "coverage", |row| {
                row.get("region").is_some_and(|x| *x == region) && row.get("species").is_some_and(|x| *x == species)
            });
            (!points.is_empty()).then(|| Curve { label: curve_label(r), colour: palette(i), points, dashed: false })
        })
        .collect();
    if curves.is_empty() {
        return Err(format!(
            "no coverage curves: no exposure.csv with rows of {species} in {region} in the runs (a run writes it when its \
             scenario has exposure targets)"
        ));
    }
    Ok((curves, format!("{region} by {species}")))
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Padded range of `values` (one unit wide around a single value).
fn padded(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let lo = values.clone().fold(f64::INFINITY, f64::min);
    let hi = values.fold(f64::NEG_INFINITY, f64::max);
    if hi > lo {
        let pad = 0.06 * (hi - lo);
        (lo - pad, hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        (lo - pad, lo + pad)
    }
}

/// Horizontal bars of the objective's median, best at the top, with the 90 % band as error
/// bars; designs on the Pareto front in green.
fn bar_chart(path: &Path, c: &Comparison, bars: &[&Ranked]) -> Result<(), ReportError> {
    font();
    let name = c.objective.name();
    let draw = || -> DrawResult {
        let n = bars.len();
        let height = 130 + 30 * n as u32;
        let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let bands: Vec<_> = bars.iter().map(|r| *r.band(&name).expect("bars have values")).collect();
        let (mut lo, mut hi) = padded(bands.iter().flat_map(|b| [b.p5, b.p95, b.median, 0.0]));
        if bands.iter().all(|b| b.p5 >= 0.0) {
            lo = 0.0;
        }
        if bands.iter().all(|b| b.p95 <= 0.0) {
            hi = 0.0;
        }
        let labels: Vec<String> = bars.iter().map(|r| format!("{}. {}", r.rank, r.design.label)).collect();
        let label_width = (labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32 * 8 + 20).clamp(60, 420);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{name} ({})", if c.objective.maximize { "more is better" } else { "less is better" }),
                (FONT, 18),
            )
            .margin(15)
            .margin_right(30)
            .x_label_area_size(50)
            .y_label_area_size(label_width)
            .build_cartesian_2d(lo..hi, -0.5f64..(n as f64 - 0.5))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(name.as_str())
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .x_label_formatter(&|v| fmt_num(*v))
            .draw()?;
        let base = 0f64.clamp(lo, hi);
        let y = |k: usize| (n - 1 - k) as f64;
        for (k, (r, b)) in bars.iter().zip(&bands).enumerate() {
            let colour = if r.pareto { palette(2) } else { palette(0) };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(base, y(k) - 0.32), (b.median, y(k) + 0.32)],
                colour.mix(0.85).filled(),
            )))?;
            if b.n > 1 {
                let bar = BLACK.stroke_width(2);
                chart.draw_series([
                    PathElement::new(vec![(b.p5, y(k)), (b.p95, y(k))], bar),
                    PathElement::new(vec![(b.p5, y(k) - 0.15), (b.p5, y(k) + 0.15)], bar),
                    PathElement::new(vec![(b.p95, y(k) - 0.15), (b.p95, y(k) + 0.15)], bar),
                ])?;
            }
            // The design's name left of the axis, drawn on the whole picture.
            let (px, py) = chart.backend_coord(&(lo, y(k)));
            let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(labels[k].clone(), (px - 8, py), style))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

/// The medians of the two Pareto metrics, one point per design; the front in colour, joined in
/// order along the horizontal axis and labelled.
fn pareto_scatter(path: &Path, c: &Comparison) -> Result<(), ReportError> {
    font();
    let (pa, pb) = (c.pareto.0.name(), c.pareto.1.name());
    let draw = || -> DrawResult {
        let points: Vec<(&Ranked, f64, f64)> =
            c.ranked.iter().filter_map(|r| Some((r, r.band(&pa)?.median, r.band(&pb)?.median))).collect();
        let root = BitMapBackend::new(path, (WIDTH, CHART_HEIGHT + 80)).into_drawing_area();
        root.fill(&WHITE)?;
        let (x0, x1) = padded(points.iter().map(|p| p.1));
        let (y0, y1) = padded(points.iter().map(|p| p.2));
        let direction = |max: bool| if max { "more is better" } else { "less is better" };
        let mut chart = ChartBuilder::on(&root)
            .caption("Pareto front", (FONT, 18))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(50)
            .y_label_area_size(85)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(format!("{pa} ({})", direction(c.pareto.0.maximize)))
            .y_desc(format!("{pb} ({})", direction(c.pareto.1.maximize)))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(215, 215, 215))
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()?;
        let front_colour = palette(3);
        let mut front: Vec<(f64, f64)> = points.iter().filter(|p| p.0.pareto).map(|p| (p.1, p.2)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        chart.draw_series(std::iter::once(PathElement::new(front, front_colour.stroke_width(2))))?;
        let grey = RGBColor(130, 130, 130);
        chart.draw_series(points.iter().filter(|p| !p.0.pareto).map(|p| Circle::new((p.1, p.2), 5, grey.filled())))?;
        chart.draw_series(
            points.iter().filter(|p| p.0.pareto).map(|p| Circle::new((p.1, p.2), 7, front_colour.filled())),
        )?;
        let all = points.len() <= 15;
        for (r, x, y) in points.iter().filter(|p| all || p.0.pareto) {
            let colour = if r.pareto { front_colour } else { grey };
            // Right of the point, or left of it in the right third, so that the label stays inside.
            let right_third = (x - x0) / (x1 - x0) > 0.66;
            let anchor = Pos::new(if right_third { HPos::Right } else { HPos::Left }, VPos::Bottom);
            let style = TextStyle::from((FONT, 13).into_font()).color(&colour).pos(anchor);
            let offset = if right_third { (-9, -6) } else { (9, -6) };
            chart.draw_series(std::iter::once(
                EmptyElement::at((*x, *y)) + Text::new(format!("{}. {}", r.rank, r.design.label), offset, style),
            ))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}
