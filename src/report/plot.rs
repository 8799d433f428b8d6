//! The pictures: heatmaps of a plane of a field with a colour bar, material outlines and the
//! bioactive contour, and line charts against time or depth. Drawn with plotters into PNG files;
//! text in the DejaVu Sans font shipped in `assets/fonts/` (no system font libraries).

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Width of every picture, pixels.
pub const WIDTH: u32 = 1000;
/// Height of a line chart, pixels.
pub const CHART_HEIGHT: u32 = 520;
/// Width of the colour bar beside a heatmap, pixels.
const BAR_WIDTH: u32 = 170;
/// Tallest and shortest the plotting area of a heatmap may be, pixels; outside them the vertical
/// axis is stretched or squeezed and the title says by how much.
const MAX_PLOT_HEIGHT: f64 = 620.0;
const MIN_PLOT_HEIGHT: f64 = 200.0;
/// On a log scale, the lowest value the colour bar shows, as a fraction of the field's maximum;
/// smaller values (and zero) take the bottom colour.
pub const LOG_FLOOR: f64 = 1e-6;

pub(crate) const FONT: &str = "sans-serif";

/// Registers the shipped font under plotters' `sans-serif` once.
pub(crate) fn font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_err() {
            panic!("the shipped font assets/fonts/DejaVuSans.ttf does not parse");
        }
    });
}

/// Categorical colours (Tableau 10) for curves of different species.
pub fn palette(i: usize) -> RGBColor {
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

/// A colour of viridis (matplotlib's perceptually uniform map) at `f` in [0, 1]: its values at
/// eight evenly spaced stops, linear in between.
pub fn viridis(f: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 8] = [
        (68.0, 1.0, 84.0),
        (70.0, 50.0, 127.0),
        (54.0, 92.0, 141.0),
        (39.0, 127.0, 143.0),
        (31.0, 162.0, 136.0),
        (74.0, 194.0, 110.0),
        (160.0, 219.0, 57.0),
        (254.0, 232.0, 37.0),
    ];
    let x = f.clamp(0.0, 1.0) * 7.0;
    let i = (x.floor() as usize).min(6);
    let t = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: f64, q: f64| (p + t * (q - p)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The colour of the bioactive threshold's contour and line.
const THRESHOLD: RGBColor = RGBColor(230, 20, 60);

/// A number for a tick label: 3 significant digits, scientific outside 1e-3 … 1e5.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 || v.abs() >= 1e5 {
        format!("{v:.2e}")
    } else {
        let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    }
}

/// The range a heatmap's colour bar shows and how it was chosen.
#[derive(Clone, Debug, PartialEq)]
pub struct ColourRange {
    /// Smallest and largest value of the plotted plane, species' unit.
    pub field_min: f64,
    pub field_max: f64,
    /// The ends of the colour bar: the field's min and max on a linear scale; on a log scale the
    /// larger of the smallest positive value and max × [`LOG_FLOOR`], and the max.
    pub bar_min: f64,
    pub bar_max: f64,
    pub log: bool,
    /// Whether the plane holds one value only (the bar then spans that value to value + 1).
    pub constant: bool,
}

impl ColourRange {
    pub fn of(values: &[f64], log: bool) -> ColourRange {
        let field_min = values.iter().cloned().fold(f64::INFINITY, f64::min);
        let field_max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let positive_min = values.iter().cloned().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
        // Also true of an empty or NaN plane.
        let constant = field_max.partial_cmp(&field_min) != Some(std::cmp::Ordering::Greater);
        let log = log && field_max > 0.0 && !constant;
        let (bar_min, bar_max) = if log {
            // A field of zeros and one positive value has no smallest positive value below its max.
            let floor = field_max * LOG_FLOOR;
            (if positive_min < field_max { positive_min.max(floor) } else { floor }, field_max)
        } else if constant {
            (field_min, field_min + 1.0)
        } else {
            (field_min, field_max)
        };
        ColourRange { field_min, field_max, bar_min, bar_max, log, constant }
    }

    /// Position of `v` on the bar, 0 … 1 (clipped).
    pub fn fraction(&self, v: f64) -> f64 {
        if self.log {
            ((v.max(self.bar_min).ln() - self.bar_min.ln()) / (self.bar_max.ln() - self.bar_min.ln())).clamp(0.0, 1.0)
        } else {
            ((v - self.bar_min) / (self.bar_max - self.bar_min)).clamp(0.0, 1.0)
        }
    }

    /// How the range was chosen, for a caption.
    pub fn describe(&self, unit: &str) -> String {
        if self.constant {
            format!("the plane is {} {unit} everywhere", fmt_num(self.field_min))
        } else if self.log {
            let clip = if self.bar_min > self.field_min {
                format!(
                    "; values below {} {unit} (down to {}) take the bottom colour",
                    fmt_num(self.bar_min),
                    fmt_num(self.field_min)
                )
            } else {
                String::new()
            };
            format!(
                "log colour scale from {} to {} {unit} (the plane's max){clip}",
                fmt_num(self.bar_min),
                fmt_num(self.bar_max)
            )
        } else {
            format!(
                "colour scale from the plane's min {} to its max {} {unit}",
                fmt_num(self.field_min),
                fmt_num(self.field_max)
            )
        }
    }
}

/// A plane of cells to draw: `values[v * nh + h]`, `nh` cells of `dh` mm along the horizontal
/// axis and `nv` of `dv` mm along the vertical one (upwards).
pub struct Plane<'a> {
    pub nh: usize,
    pub nv: usize,
    pub dh: f64,
    pub dv: f64,
    pub values: &'a [f64],
    pub materials: &'a [u32],
    pub h_label: &'a str,
    pub v_label: &'a str,
}

type Segment = ((f64, f64), (f64, f64));

/// The edges between cells of different materials, in mm.
fn outlines(p: &Plane<'_>) -> Vec<Segment> {
    let mut segs = Vec::new();
    for v in 0..p.nv {
        for h in 0..p.nh {
            let m = p.materials[v * p.nh + h];
            if h + 1 < p.nh && p.materials[v * p.nh + h + 1] != m {
                let x = (h + 1) as f64 * p.dh;
                segs.push(((x, v as f64 * p.dv), (x, (v + 1) as f64 * p.dv)));
            }
            if v + 1 < p.nv && p.materials[(v + 1) * p.nh + h] != m {
                let y = (v + 1) as f64 * p.dv;
                segs.push(((h as f64 * p.dh, y), ((h + 1) as f64 * p.dh, y)));
            }
        }
    }
    segs
}

/// The contour `value = level` through the cell centres (marching squares, linear along edges).
pub fn contour(p: &Plane<'_>, level: f64) -> Vec<Segment> {
    let mut segs = Vec::new();
    let at = |h: usize, v: usize| p.values[v * p.nh + h];
    let centre = |h: f64, v: f64| ((h + 0.5) * p.dh, (v + 0.5) * p.dv);
    for v in 0..p.nv.saturating_sub(1) {
        for h in 0..p.nh.saturating_sub(1) {
            // Corners counter-clockwise from the lower left.
            let corners = [(h, v), (h + 1, v), (h + 1, v + 1), (h, v + 1)];
            let vals = corners.map(|(a, b)| at(a, b));
            let mut points = Vec::with_capacity(4);
            for e in 0..4 {
                let (a, b) = (e, (e + 1) % 4);
                let (va, vb) = (vals[a], vals[b]);
                if (va >= level) != (vb >= level) {
                    let t = (level - va) / (vb - va);
                    let (ha, hb) = (corners[a].0 as f64, corners[b].0 as f64);
                    let (wa, wb) = (corners[a].1 as f64, corners[b].1 as f64);
                    points.push(centre(ha + t * (hb - ha), wa + t * (wb - wa)));
                }
            }
            for pair in points.chunks_exact(2) {
                segs.push((pair[0], pair[1]));
            }
        }
    }
    segs
}

pub(crate) fn plot_error(path: &Path, e: impl std::fmt::Display) -> super::ReportError {
    super::ReportError::Plot { path: path.to_path_buf(), message: e.to_string() }
}

/// Draws the heatmap of `plane` into the PNG `path`: the cells in viridis over the range
/// [`ColourRange::of`] chooses, the material outlines, the contour at `threshold` (species'
/// unit) where given and crossed, a labelled colour bar. Returns the range and the picture's
/// height (its width is [`WIDTH`]).
pub fn heatmap(
    path: &Path,
    title: &str,
    plane: &Plane<'_>,
    unit_label: &str,
    threshold: Option<(f64, String)>,
    log: bool,
) -> Result<(ColourRange, u32), super::ReportError> {
    font();
    let range = ColourRange::of(plane.values, log);
    let (eh, ev) = (plane.nh as f64 * plane.dh, plane.nv as f64 * plane.dv);
    // Layout: title 40, margins 10, axis labels 50 below and 70 left.
    let plot_w = (WIDTH - BAR_WIDTH - 70 - 20) as f64;
    let natural = plot_w * ev / eh;
    let plot_h = natural.clamp(MIN_PLOT_HEIGHT, MAX_PLOT_HEIGHT);
    let stretch = plot_h / natural;
    let height = (plot_h + 40.0 + 50.0 + 20.0).round() as u32 + if threshold.is_some() { 24 } else { 0 };
    let title = if (stretch - 1.0).abs() > 0.01 {
        format!("{title}  (vertical axis ×{} of the horizontal)", fmt_num(stretch))
    } else {
        title.to_string()
    };
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    {
        let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let (root_main, legend) =
            if threshold.is_some() { root.split_vertically(height - 24) } else { (root.clone(), root.clone()) };
        let (left, right) = root_main.split_horizontally(WIDTH - BAR_WIDTH);
        let mut chart = ChartBuilder::on(&left)
            .caption(&title, (FONT, 18))
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..eh, 0f64..ev)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(plane.h_label)
            .y_desc(plane.v_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()
            .map_err(|e| err(&e))?;
        // The cells, pixel by pixel (nearest cell).
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let (w, h) = ((xr.end - xr.start) as f64, (yr.end - yr.start) as f64);
        for py in yr.clone() {
            let fv = 1.0 - ((py - yr.start) as f64 + 0.5) / h;
            let v = ((fv * plane.nv as f64) as usize).min(plane.nv - 1);
            for px in xr.clone() {
                let fh = ((px - xr.start) as f64 + 0.5) / w;
                let c = ((fh * plane.nh as f64) as usize).min(plane.nh - 1);
                let colour = viridis(range.fraction(plane.values[v * plane.nh + c]));
                root.draw_pixel((px, py), &colour).map_err(|e| err(&e))?;
            }
        }
        let segs = outlines(plane);
        for (width, colour) in [(3, WHITE), (1, BLACK)] {
            chart
                .draw_series(segs.iter().map(|&(a, b)| PathElement::new(vec![a, b], colour.stroke_width(width))))
                .map_err(|e| err(&e))?;
        }
        if let Some((level, text)) = &threshold {
            let segs = contour(plane, *level);
            chart
                .draw_series(segs.iter().map(|&(a, b)| PathElement::new(vec![a, b], THRESHOLD.stroke_width(2))))
                .map_err(|e| err(&e))?;
            let note = if segs.is_empty() {
                if range.field_max < *level { "nowhere reached" } else { "exceeded everywhere" }
            } else {
                "drawn where crossed"
            };
            let label = format!("— bioactive threshold {text} ({note});  white/black lines: material boundaries");
            legend.draw(&Text::new(label, (80, 2), (FONT, 14).into_font().color(&THRESHOLD))).map_err(|e| err(&e))?;
        }
        colour_bar(&right, &range, unit_label, yr.start, yr.end).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok((range, height))
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Tick values of a colour bar: "nice" steps of 1, 2 or 5 × 10ⁿ on a linear scale; powers of
/// ten (with 2 and 5 between them over less than three decades) on a log scale.
pub fn ticks(range: &ColourRange) -> Vec<f64> {
    let (lo, hi) = (range.bar_min, range.bar_max);
    let mut out = Vec::new();
    if range.log {
        let decades = (hi / lo).log10();
        let mults: &[f64] = if decades < 3.0 { &[1.0, 2.0, 5.0] } else { &[1.0] };
        let step = (decades / 6.0).ceil().max(1.0) as i32;
        let mut e = lo.log10().floor() as i32;
        while 10f64.powi(e) <= hi * (1.0 + 1e-9) {
            for m in mults {
                let v = m * 10f64.powi(e);
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
            e += step;
        }
    } else {
        let raw = (hi - lo) / 6.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|&s| s >= raw).unwrap_or(10.0 * mag);
        let mut v = (lo / step).ceil() * step;
        while v <= hi + 1e-9 * step {
            out.push(if v.abs() < 1e-12 * step { 0.0 } else { v });
            v += step;
        }
    }
    out
}

/// The colour bar, drawn by hand in pixels beside a plot area spanning `top..bottom`: the
/// gradient, a tick and a label at each of [`ticks`], the unit label turned upright.
fn colour_bar(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    range: &ColourRange,
    label: &str,
    top: i32,
    bottom: i32,
) -> DrawResult<()> {
    let (x0, x1) = (22, 46);
    let span = (bottom - top).max(1) as f64;
    for y in top..bottom {
        let f = 1.0 - ((y - top) as f64 + 0.5) / span;
        let colour = if range.constant { viridis(0.0) } else { viridis(f) };
        area.draw(&PathElement::new(vec![(x0, y), (x1, y)], colour.stroke_width(1)))?;
    }
    area.draw(&Rectangle::new([(x0, top), (x1, bottom)], BLACK.stroke_width(1)))?;
    let style = TextStyle::from((FONT, 13).into_font()).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Left,
        plotters::style::text_anchor::VPos::Center,
    ));
    for v in ticks(range) {
        let y = bottom - (range.fraction(v) * span).round() as i32;
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 5, y)], BLACK.stroke_width(1)))?;
        area.draw(&Text::new(fmt_num(v), (x1 + 8, y), style.clone()))?;
    }
    let upright = TextStyle::from((FONT, 15).into_font().transform(FontTransform::Rotate270)).pos(
        plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ),
    );
    area.draw(&Text::new(label.to_string(), (125, (top + bottom) / 2), upright))?;
    // The true ends of the bar, above and below it.
    let end = |v: f64, what: &str| {
        if range.constant { format!("all {}", fmt_num(v)) } else { format!("{what} {}", fmt_num(v)) }
    };
    let small = TextStyle::from((FONT, 12).into_font());
    let top_value = if range.constant { range.field_min } else { range.bar_max };
    area.draw(&Text::new(end(top_value, "max"), (4, top - 18), small.clone()))?;
    if !range.constant {
        let what = if range.log && range.bar_min > range.field_min { "clip" } else { "min" };
        area.draw(&Text::new(end(range.bar_min, what), (4, bottom + 6), small))?;
    }
    Ok(())
}

/// One curve of a line chart.
pub struct Curve {
    pub label: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// A line chart: curves, vertical marks (dose times or material boundaries, with a legend
/// label), an optional horizontal line (a threshold). Log y when `log` and every value is
/// positive somewhere.
pub struct LineChart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub curves: Vec<Curve>,
    pub x_range: (f64, f64),
    /// Vertical lines at these x, with the legend label they share.
    pub marks: Option<(Vec<f64>, String)>,
    /// Names written inside the chart at x, at the top (material names along a profile).
    pub names: Vec<(f64, String)>,
    pub hline: Option<(f64, String)>,
    pub log: bool,
    /// Fixed y range (release %), else from the data.
    pub y_range: Option<(f64, f64)>,
}

pub fn line_chart(path: &Path, chart: &LineChart<'_>) -> Result<(), super::ReportError> {
    font();
    let draw = || -> DrawResult<()> {
        let root = BitMapBackend::new(path, (WIDTH, CHART_HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let values = chart.curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
        let hmax = chart.hline.as_ref().map_or(f64::NEG_INFINITY, |h| h.0);
        let ymax = values.clone().fold(hmax, f64::max);
        let positive_min = values.clone().filter(|&v| v > 0.0).fold(f64::INFINITY, f64::min);
        let (x0, x1) =
            if chart.x_range.1 > chart.x_range.0 { chart.x_range } else { (chart.x_range.0, chart.x_range.0 + 1.0) };
        let log = chart.log && ymax > 0.0 && positive_min < ymax;
        let entries = chart.curves.len() + usize::from(chart.marks.is_some()) + usize::from(chart.hline.is_some());
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(chart.title, (FONT, 18))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(50)
            .y_label_area_size(85);
        macro_rules! finish {
            ($c:expr, $y0:expr, $y1:expr) => {{
                let mut c = $c;
                c.configure_mesh()
                    .x_desc(chart.x_label)
                    .y_desc(chart.y_label)
                    .label_style((FONT, 14))
                    .axis_desc_style((FONT, 15))
                    .light_line_style(RGBColor(235, 235, 235))
                    .bold_line_style(RGBColor(215, 215, 215))
                    .x_label_formatter(&|v| fmt_num(*v))
                    .y_label_formatter(&|v| fmt_num(*v))
                    .draw()?;
                if let Some((xs, label)) = &chart.marks {
                    let grey = RGBColor(150, 150, 150);
                    for (i, &x) in xs.iter().enumerate() {
                        let s = c.draw_series(std::iter::once(PathElement::new(vec![(x, $y0), (x, $y1)], grey.stroke_width(1))))?;
                        if i == 0 {
                            s.label(label.as_str()).legend(move |(x, y)| PathElement::new(vec![(x + 10, y - 7), (x + 10, y + 7)], grey.stroke_width(1)));
                        }
                    }
                }
                for (x, name) in &chart.names {
                    let style = (FONT, 13).into_font().color(&RGBColor(90, 90, 90));
                    c.draw_series(std::iter::once(EmptyElement::at((*x, $y1)) + Text::new(name.clone(), (4, 4), style)))?;
                }
                if let Some((y, label)) = &chart.hline {
                    c.draw_series(DashedLineSeries::new(vec![(x0, *y), (x1, *y)], 8, 5, THRESHOLD.stroke_width(2)))?
                        .label(label.as_str())
                        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], THRESHOLD.stroke_width(2)));
                }
                for curve in &chart.curves {
                    let style = curve.colour.stroke_width(if curve.dashed { 1 } else { 2 });
                    let points: Vec<(f64, f64)> = if log { curve.points.iter().map(|&(x, y)| (x, y.max($y0))).collect() } else { curve.points.clone() };
                    let s = if curve.dashed {
                        c.draw_series(DashedLineSeries::new(points, 6, 4, style))?
                    } else {
                        c.draw_series(LineSeries::new(points, style))?
                    };
                    s.label(curve.label.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
                // The legend goes in the upper corner (or failing that, lower) the curves cross least.
                let crowded = |left: bool, upper: bool| {
                    chart.curves.iter().flat_map(|c| c.points.iter()).filter(|&&(x, y)| {
                        let fx = (x - x0) / (x1 - x0);
                        let fy = if log { (y.max($y0).ln() - $y0.ln()) / ($y1.ln() - $y0.ln()) } else { (y - $y0) / ($y1 - $y0) };
                        (if left { fx < 0.4 } else { fx > 0.6 }) && (if upper { fy > 0.6 } else { fy < 0.4 })
                    }).count()
                        // Names written along the top count as crowding there.
                        + if upper { 5 * chart.names.iter().filter(|(x, _)| { let fx = (x - x0) / (x1 - x0); if left { fx < 0.4 } else { fx > 0.6 } }).count() } else { 0 }
                };
                let corners = [
                    (false, true, SeriesLabelPosition::UpperRight),
                    (true, true, SeriesLabelPosition::UpperLeft),
                    (false, false, SeriesLabelPosition::LowerRight),
                    (true, false, SeriesLabelPosition::LowerLeft),
                ];
                let position = corners.into_iter().min_by_key(|(l, u, _)| crowded(*l, *u)).map(|c| c.2).unwrap();
                c.configure_series_labels()
                    .position(position)
                    .background_style(WHITE.mix(0.85))
                    .border_style(RGBColor(120, 120, 120))
                    .label_font((FONT, 14))
                    .draw()?;
            }};
        }
        if log {
            let y0 = positive_min.max(ymax * LOG_FLOOR);
            let y1 = ymax * (ymax / y0).powf((0.05 + 0.045 * entries as f64).min(0.6));
            finish!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?, y0, y1);
        } else {
            let (y0, y1) = match chart.y_range {
                Some(r) => r,
                None => {
                    // Headroom above the curves for the legend's entries.
                    let lo = values.clone().fold(0.0f64, f64::min);
                    let room = (0.05 + 0.045 * entries as f64).min(0.6);
                    (lo, if ymax > lo { ymax + room * (ymax - lo) } else { lo + 1.0 })
                }
            };
            finish!(builder.build_cartesian_2d(x0..x1, y0..y1)?, y0, y1);
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| plot_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contour_of_a_ramp_is_one_straight_line() {
        let values: Vec<f64> = (0..12).map(|i| (i % 4) as f64).collect();
        let materials = vec![0; 12];
        let p =
            Plane { nh: 4, nv: 3, dh: 1.0, dv: 1.0, values: &values, materials: &materials, h_label: "", v_label: "" };
        let segs = contour(&p, 1.5);
        assert_eq!(segs.len(), 2);
        for (a, b) in segs {
            assert!((a.0 - 2.0).abs() < 1e-12 && (b.0 - 2.0).abs() < 1e-12);
        }
    }

    #[test]
    fn ticks_are_round_and_inside_the_bar() {
        let r = ColourRange::of(&[0.3, 13.7], false);
        assert_eq!(ticks(&r), vec![2.5, 5.0, 7.5, 10.0, 12.5]);
        let r = ColourRange::of(&[0.0, 1e-3, 100.0], true);
        let t = ticks(&r);
        let want = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0];
        assert_eq!(t.len(), want.len(), "{t:?}");
        assert!(t.iter().zip(want).all(|(a, b)| (a / b - 1.0).abs() < 1e-12), "{t:?}");
    }

    #[test]
    fn colour_range_is_the_true_min_and_max() {
        let r = ColourRange::of(&[0.0, 2.0, 5.0], false);
        assert_eq!((r.bar_min, r.bar_max), (0.0, 5.0));
        let r = ColourRange::of(&[0.0, 1e-9, 5.0], true);
        assert_eq!((r.bar_min, r.bar_max), (5.0 * LOG_FLOOR, 5.0));
        assert!(r.describe("pg/mL").contains("bottom colour"));
    }
}
