//! The library as text, for `secretome factors`.

use super::{Entry, Factor, Kind, Library, Mark, stokes_einstein_diffusivity};
use std::fmt::Write;

/// A value with its mark: `105 um^2/s [e]`.
fn marked(e: &Entry) -> String {
    format!("{} [{}]", e.text(), short(e.mark))
}

fn short(m: Mark) -> &'static str {
    match m {
        Mark::Verified => "v",
        Mark::Unverified => "u",
        Mark::Estimate => "e",
        Mark::Measured => "m",
    }
}

/// D in water of a vesicle of each end of the library's size range (Stokes–Einstein), as text.
fn vesicle_diffusivity(f: &Factor) -> Option<String> {
    let size = f.size.as_ref()?;
    let ends: Vec<String> = [&size.low, &size.high]
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let diameter = crate::units::length(d).ok()?;
            Some(format!("{:.1} um^2/s at {d}", stokes_einstein_diffusivity(0.5 * diameter) * 1e12))
        })
        .collect();
    (!ends.is_empty()).then(|| format!("{} [e]", ends.join(", ")))
}

/// One line per factor: name, molecular weight, D in water, half-life, heparin binding.
pub fn table(lib: &Library) -> String {
    let mut s = String::new();
    let none = || "-".to_string();
    let _ = writeln!(s, "{:<11} {:<22} {:<22} {:<24} heparin", "factor", "MW", "D in water, 37 °C", "half-life");
    for f in &lib.factors {
        let d = match (&f.diffusivity_water, f.kind) {
            (Some(e), _) => marked(e),
            (None, Kind::Vesicle) => "from size [e]".to_string(),
            (None, _) => none(),
        };
        let mw = match (&f.molecular_weight, &f.size) {
            (Some(e), _) => marked(e),
            (None, Some(size)) => format!("d {}", marked(size)),
            _ => none(),
        };
        let heparin = f
            .heparin_binding
            .as_ref()
            .map_or_else(none, |h| format!("{} [{}]", if h.binds { "yes" } else { "no" }, short(h.mark)));
        let kd = f.heparin_kd.as_ref().map_or(String::new(), |e| format!(", K_d {}", marked(e)));
        let _ = writeln!(
            s,
            "{:<11} {:<22} {:<22} {:<24} {heparin}{kd}",
            f.name,
            mw,
            d,
            f.half_life.as_ref().map_or_else(none, marked)
        );
    }
    let _ = writeln!(
        s,
        "\nmarks: [v] verified (read in the cited source), [u] unverified (recalled, not checked; use as an \
         estimate), [e] estimate (computed or derived). `secretome factors NAME` shows every value with its \
         source; `secretome factors --presets` lists the MSC-CM compositions."
    );
    s
}

/// Every value of one factor with its context, the reference table's cell and source, and mark.
pub fn factor(f: &Factor) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} ({})", f.name, f.csv_row);
    if !f.aliases.is_empty() {
        let _ = writeln!(s, "also called: {}", f.aliases.join(", "));
    }
    for (key, e) in f.entries() {
        let _ = writeln!(s, "\n{key}: {}  [{}]", e.text(), e.mark);
        if let Some(c) = &e.context {
            let _ = writeln!(s, "  context: {c}");
        }
        if let Some(study) = &e.study {
            let _ = writeln!(s, "  study:   {study}");
        }
        let _ = writeln!(s, "  table:   {}", e.csv);
        let _ = writeln!(s, "  source:  {}", e.source);
    }
    if let Some(d) = vesicle_diffusivity(f) {
        let _ = writeln!(
            s,
            "\ndiffusivity_water: {d}\n  from the size by Stokes–Einstein, D = k_B·T/(3π·η·d), T = 310.15 K, η = 0.691 mPa·s; \
             a scenario gives the size as `hydrodynamic_radius`"
        );
    }
    if let Some(h) = &f.heparin_binding {
        let _ = writeln!(s, "\nheparin_binding: {}  [{}]", if h.binds { "yes" } else { "no" }, h.mark);
        let _ = writeln!(s, "  table:   {}", h.csv);
        let _ = writeln!(s, "  source:  {}", h.source);
    }
    if let Some(n) = &f.notes {
        let _ = writeln!(s, "\nnotes: {n}");
    }
    s
}

/// The presets: each selection with its source, MSC source, preconditioning and concentrations.
pub fn presets(lib: &Library) -> String {
    let mut s = String::new();
    for p in &lib.presets {
        let _ = writeln!(s, "{}: {}", p.selections().join(", "), p.reference);
        let _ = writeln!(s, "  MSC source: {}; preconditioning: {}", p.msc_source, p.preconditioning);
        if let Some(n) = &p.notes {
            let _ = writeln!(s, "  {n}");
        }
        let levels: Vec<Option<super::Level>> =
            if p.levels.is_empty() { vec![None] } else { p.levels.iter().copied().map(Some).collect() };
        for level in levels {
            let entries = lib.composition(p, level);
            let list: Vec<String> =
                entries.iter().map(|e| format!("{} {} [{}]", e.factor, e.concentration, short(e.mark))).collect();
            let name = level.map_or(p.name.clone(), |l| format!("{}_{}", p.name, l.name()));
            let _ = writeln!(s, "  {name}: {}", list.join(", "));
        }
        let _ = writeln!(s);
    }
    s
}
