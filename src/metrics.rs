//! Release metrics of a run, from the release curve (the amount that has left the depot
//! materials at each output time; `run::Books::released`). Formulas in docs/metrics.md.
//!
//! - burst: the fraction released by the end of the burst window;
//! - Korsmeyer–Peppas `F = k·tⁿ`, fitted as `ln F = ln k + n·ln t` by least squares over the fit
//!   window (points with 0 < F ≤ the window's fraction, default 0.6, and before the first dose);
//! - Higuchi `F = k_H·√t`, least squares through the origin over the same window;
//! - each fit with R², adjusted R² and AIC (`N·ln(SS_res/N) + 2p`, p its parameter count);
//! - the f2 similarity factor of two release curves sampled at the same times.

use serde::Serialize;

/// What the release and exposure metrics are taken over.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSettings {
    /// The burst window, s from the start.
    pub burst: f64,
    /// The fits use points up to this fraction released (0 < f ≤ 1).
    pub fit_up_to: f64,
    /// The regions the exposure metrics are taken in (`[metrics] targets`; default every tissue
    /// material).
    pub targets: Vec<Target>,
    /// The axis depth is measured along (0 = x, 1 = y, 2 = z).
    pub depth_axis: usize,
    /// How much conditioned medium the depot holds, when the scenario loads it as CM.
    pub cm: Option<CmLoading>,
}

impl Default for MetricSettings {
    fn default() -> Self {
        MetricSettings { burst: 3600.0, fit_up_to: 0.6, targets: Vec::new(), depth_axis: 0, cm: None }
    }
}

/// A region the exposure metrics are taken in.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub name: String,
    /// Cell indices (x fastest), ascending.
    pub cells: Vec<u32>,
}

/// The conditioned medium in the depot (`[depot] loading`), for the cost of a design.
#[derive(Clone, Debug, PartialEq)]
pub struct CmLoading {
    /// Multiple of 1x CM the gel holds per volume: 0.1 for "10 %", 10 for "10x".
    pub multiple: f64,
    /// The materials loaded.
    pub materials: Vec<usize>,
}

/// A least-squares fit of a release model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    /// Korsmeyer–Peppas: the exponent n; Higuchi: the constant k_H (1/√h).
    pub parameter: f64,
    /// Korsmeyer–Peppas: the constant k (1/hⁿ); Higuchi: none.
    pub constant: Option<f64>,
    pub r2: f64,
    pub adjusted_r2: f64,
    pub aic: f64,
    /// Points used, and the window they span (h).
    pub points: usize,
    pub from_h: f64,
    pub to_h: f64,
}

/// Release metrics of one species.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReleaseMetrics {
    pub burst_window_h: f64,
    /// Fraction of the amount put into the depot released by the end of the burst window
    /// (linear between outputs).
    pub burst_fraction: Option<f64>,
    /// The fits' window: points with fraction released ≤ this, before the first dose.
    pub fit_up_to_fraction: f64,
    pub korsmeyer_peppas: Option<Fit>,
    pub higuchi: Option<Fit>,
}

/// The metrics of a release curve `(t s, released amount)` from `put_in` (the amount put into
/// the depot before the first dose; the fits stop at `first_dose`, s, if any).
pub fn release_metrics(
    curve: &[(f64, f64)],
    put_in: f64,
    settings: &MetricSettings,
    first_dose: Option<f64>,
) -> ReleaseMetrics {
    let fraction: Vec<(f64, f64)> =
        if put_in > 0.0 { curve.iter().map(|&(t, r)| (t, r / put_in)).collect() } else { Vec::new() };
    let burst_fraction = value_at(&fraction, settings.burst);
    let window: Vec<(f64, f64)> = fraction
        .iter()
        .copied()
        .filter(|&(t, f)| t > 0.0 && f > 0.0 && f <= settings.fit_up_to && first_dose.is_none_or(|d| t <= d))
        .map(|(t, f)| (t / 3600.0, f))
        .collect();
    ReleaseMetrics {
        burst_window_h: settings.burst / 3600.0,
        burst_fraction,
        fit_up_to_fraction: settings.fit_up_to,
        korsmeyer_peppas: korsmeyer_peppas(&window),
        higuchi: higuchi(&window),
    }
}

/// The curve's value at `t`, linear between points; `None` past its end.
fn value_at(curve: &[(f64, f64)], t: f64) -> Option<f64> {
    let w = curve.windows(2).find(|w| w[0].0 <= t && t <= w[1].0)?;
    let ((t0, a), (t1, b)) = (w[0], w[1]);
    Some(if t1 > t0 { a + (b - a) * (t - t0) / (t1 - t0) } else { b })
}

/// R², adjusted R² and AIC of residual sum `ss` over `y` with `p` parameters.
fn goodness(y: &[f64], ss: f64, p: usize) -> (f64, f64, f64) {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let total: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let r2 = if total > 0.0 { 1.0 - ss / total } else { f64::NAN };
    let adjusted = 1.0 - (1.0 - r2) * (n - 1.0) / (n - p as f64);
    let aic = n * (ss.max(f64::MIN_POSITIVE) / n).ln() + 2.0 * p as f64;
    (r2, adjusted, aic)
}

/// `ln F = ln k + n·ln t` over `(t h, F)`; at least 3 points.
pub fn korsmeyer_peppas(points: &[(f64, f64)]) -> Option<Fit> {
    if points.len() < 3 {
        return None;
    }
    let x: Vec<f64> = points.iter().map(|p| p.0.ln()).collect();
    let y: Vec<f64> = points.iter().map(|p| p.1.ln()).collect();
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss: f64 = x.iter().zip(&y).map(|(a, b)| (b - intercept - slope * a).powi(2)).sum();
    let (r2, adjusted_r2, aic) = goodness(&y, ss, 2);
    Some(Fit {
        parameter: slope,
        constant: Some(intercept.exp()),
        r2,
        adjusted_r2,
        aic,
        points: points.len(),
        from_h: points[0].0,
        to_h: points[points.len() - 1].0,
    })
}

/// `F = k_H·√t` through the origin over `(t h, F)`; at least 2 points.
pub fn higuchi(points: &[(f64, f64)]) -> Option<Fit> {
    if points.len() < 2 {
        return None;
    }
    let k = points.iter().map(|&(t, f)| f * t.sqrt()).sum::<f64>() / points.iter().map(|&(t, _)| t).sum::<f64>();
    let y: Vec<f64> = points.iter().map(|p| p.1).collect();
    let ss: f64 = points.iter().map(|&(t, f)| (f - k * t.sqrt()).powi(2)).sum();
    let (r2, adjusted_r2, aic) = goodness(&y, ss, 1);
    Some(Fit {
        parameter: k,
        constant: None,
        r2,
        adjusted_r2,
        aic,
        points: points.len(),
        from_h: points[0].0,
        to_h: points[points.len() - 1].0,
    })
}

/// The f2 similarity factor of two release curves in percent released at the same times:
/// `50·log10(100 / √(1 + mean((a − b)²)))`; 100 for identical curves, 50 for a mean difference
/// of 10 points. `None` for curves of different lengths or no points.
pub fn f2(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let mean = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64;
    Some(50.0 * (100.0 / (1.0 + mean).sqrt()).log10())
}
