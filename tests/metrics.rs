//! Release metrics against curves with known answers: the Korsmeyer–Peppas fit recovers
//! n = 0.5 on the exact Fickian release of a plane sheet (Crank's series) and on the simulated
//! one, Higuchi recovers its constant, and f2 gives its textbook values.

use secretome::metrics::{MetricSettings, f2, higuchi, korsmeyer_peppas, release_metrics};
use std::f64::consts::PI;

/// Fraction released by a sheet of thickness `l` (m) into perfect sinks on both faces at `t`
/// (s), D in m²/s (Crank 1975, eq. 4.18).
fn crank(t: f64, d: f64, l: f64) -> f64 {
    1.0 - (0..200)
        .map(|m| {
            let k = (2 * m + 1) as f64;
            8.0 / (k * k * PI * PI) * (-k * k * PI * PI * d * t / (l * l)).exp()
        })
        .sum::<f64>()
}

#[test]
fn korsmeyer_peppas_recovers_fickian_release_from_an_exact_sheet() {
    let (d, l) = (1e-10, 1e-3);
    let curve: Vec<(f64, f64)> = (0..=120).map(|k| k as f64 * 60.0).map(|t| (t, 100.0 * crank(t, d, l))).collect();
    let m = release_metrics(&curve, 100.0, &MetricSettings::default(), None);
    let kp = m.korsmeyer_peppas.expect("a fit");
    assert!((kp.parameter - 0.5).abs() <= 0.01, "n = {}", kp.parameter);
    assert!(kp.r2 > 0.999 && kp.adjusted_r2 > 0.999, "{kp:?}");
    // Early times: F = 4·√(D t/(π L²)), so k = 4·√(D·3600/(π L²)) per √h.
    let k_exact = 4.0 * (d * 3600.0 / (PI * l * l)).sqrt();
    let hi = m.higuchi.expect("a fit");
    assert!((hi.parameter - k_exact).abs() <= 0.02 * k_exact, "k_H = {} vs {k_exact}", hi.parameter);
    assert!(kp.to_h <= 1.0 && crank(kp.to_h * 3600.0, d, l) <= 0.6 + 1e-12, "window ends at {} h", kp.to_h);
    // Burst: the fraction at 1 h.
    assert!((m.burst_fraction.unwrap() - crank(3600.0, d, l)).abs() < 1e-12);
}

#[test]
fn korsmeyer_peppas_recovers_fickian_release_from_the_simulated_sheet() {
    use secretome::output::OutputDir;
    use secretome::run::{self, Silent};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/validation_slab_1d.toml");
    let problem = secretome::scenario::load(std::path::Path::new(path)).unwrap();
    let mut engine = secretome::solver::fast::CpuFast::new(&problem, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::create(dir.path(), true).unwrap();
    let summary = run::run(&problem, &mut engine, &out, &mut Silent).unwrap();
    let kp = summary.species[0].release_metrics.korsmeyer_peppas.clone().expect("a fit");
    assert!((kp.parameter - 0.5).abs() <= 0.02, "n = {}", kp.parameter);
    assert!(kp.r2 > 0.999, "{kp:?}");
}

#[test]
fn higuchi_and_korsmeyer_peppas_are_exact_on_their_own_curves() {
    let points: Vec<(f64, f64)> = (1..=10).map(|h| (h as f64, 0.05 * (h as f64).sqrt())).collect();
    let hi = higuchi(&points).unwrap();
    assert!((hi.parameter - 0.05).abs() < 1e-12 && (hi.r2 - 1.0).abs() < 1e-12);
    let points: Vec<(f64, f64)> = (1..=10).map(|h| (h as f64, 0.02 * (h as f64).powf(0.8))).collect();
    let kp = korsmeyer_peppas(&points).unwrap();
    assert!((kp.parameter - 0.8).abs() < 1e-12 && (kp.constant.unwrap() - 0.02).abs() < 1e-12);
    assert!(korsmeyer_peppas(&points[..2]).is_none(), "two points fit nothing");
}

#[test]
fn f2_gives_its_textbook_values() {
    let a = [10.0, 30.0, 55.0, 80.0];
    assert_eq!(f2(&a, &a), Some(100.0));
    let b: Vec<f64> = a.iter().map(|x| x + 10.0).collect();
    let want = 50.0 * (100.0 / 101f64.sqrt()).log10();
    assert!((f2(&a, &b).unwrap() - want).abs() < 1e-12);
    assert!(f2(&a, &b).unwrap() < 50.0, "a 10-point difference is not similar (f2 < 50)");
    assert_eq!(f2(&a, &b[..3]), None);
}
