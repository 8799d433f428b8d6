//! The factor library, CM presets and gel mesh models mean what they say: a scenario that leaves
//! values to the library compiles to the same problem as one that writes them by hand; every
//! library number has a source and a mark and was written in the reference table; the estimates
//! follow their stated formulas; presets and loadings give the listed concentrations; and where
//! values came from reaches `validate` and `summary.json`.

mod common;

use common::refusals::Fixture;
use secretome::library::{self, Mark, amsden_hindrance, ogston_hindrance, stokes_einstein_diffusivity};
use secretome::problem::Problem;
use std::f64::consts::PI;
use std::process::Command;

const FILE: &str = "library.toml";

const BASE: &str = r#"[scenario]
name = "library"

[grid]
size = ["2 mm", "1 mm", "1 mm"]
cells = [20, 10, 1]
default_material = "dermis"

[time]
end = "1 h"
output_interval = "10 min"

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
material = "gel"
shape = "layer"
axis = "y"
from = "0.7 mm"
to = "1 mm"

[[region]]
material = "wound_bed"
shape = "layer"
axis = "y"
from = "0.4 mm"
to = "0.7 mm"
"#;

const FIX: Fixture = Fixture { file: FILE, base: BASE };

fn with(more: &str) -> String {
    format!("{BASE}\n{more}")
}

fn species<'a>(p: &'a Problem, name: &str) -> &'a secretome::problem::Species {
    p.species.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no species {name}"))
}

fn material(p: &Problem, name: &str) -> usize {
    p.materials.iter().position(|m| m.name == name).unwrap_or_else(|| panic!("no material {name}"))
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// The problem without the record of where values came from (all else must be equal).
fn without_sources(mut p: Problem) -> Problem {
    for s in &mut p.species {
        s.sources.clear();
    }
    p
}

#[test]
fn a_library_scenario_equals_the_same_scenario_written_by_hand() {
    let binding = r#"
[[pool]]
name = "hs"
density = { wound_bed = "0.75 uM", dermis = "0.75 uM" }

[[binding]]
species = "VEGF"
pool = "hs"
k_on = "4.2e5 1/(M*s)"
k_off = "1e-2 1/s"
"#;
    let from_library = with(&format!(
        r#"
[[species]]
name = "VEGF"
factor = "VEGF165"
unit = "pg/mL"
diffusivity = {{ gel = "105 um^2/s" }}
initial = {{ gel = "46.6 pg/mL" }}

[[species]]
name = "IGF-1"
factor = "IGF-1"
unit = "nM"
diffusivity = {{ gel = "159 um^2/s", dermis = "50 um^2/s" }}
decay = {{ gel = "90 min" }}
initial = {{ gel = "1.5 ng/mL" }}
{binding}"#
    ));
    // The library's values written out: molecular weight, D in tissue = D in water × 0.39 (the
    // number times the hindrance, in D in water's unit), decay from the half-life.
    let igf_tissue = format!("{} um^2/s", 190.0 * 0.39);
    let by_hand = with(&format!(
        r#"
[[species]]
name = "VEGF"
unit = "pg/mL"
molecular_weight = "45 kDa"
diffusivity = {{ gel = "105 um^2/s", wound_bed = "40.95 um^2/s", dermis = "40.95 um^2/s" }}
decay = {{ gel = "33.7 min", wound_bed = "33.7 min", dermis = "33.7 min" }}
initial = {{ gel = "46.6 pg/mL" }}
bioactive_threshold = "10 ng/mL"

[[species]]
name = "IGF-1"
unit = "nM"
molecular_weight = "7.65 kDa"
diffusivity = {{ gel = "159 um^2/s", wound_bed = "{igf_tissue}", dermis = "50 um^2/s" }}
decay = {{ gel = "90 min", wound_bed = "14.4 min", dermis = "14.4 min" }}
initial = {{ gel = "1.5 ng/mL" }}
bioactive_threshold = "1 ng/mL"
{binding}"#
    ));
    let lib = FIX.load(&from_library);
    let hand = FIX.load(&by_hand);
    assert!(hand.species.iter().all(|s| s.sources.is_empty()));
    let keys = |p: &Problem, s: &str| species(p, s).sources.iter().map(|v| v.key.clone()).collect::<Vec<_>>();
    assert_eq!(
        keys(&lib, "VEGF"),
        [
            "molecular_weight",
            "diffusivity.wound_bed",
            "diffusivity.dermis",
            "decay.gel",
            "decay.wound_bed",
            "decay.dermis",
            "bioactive_threshold"
        ]
    );
    // The threshold is the lowest bioactive concentration the library gives (VEGF165: 10 ng/mL
    // of "10 to 50 ng/mL" and "1 nM"; IGF-1: 1 ng/mL of "1 to 5 ng/mL" and "10 ng/mL").
    assert_eq!(
        keys(&lib, "IGF-1"),
        ["molecular_weight", "diffusivity.wound_bed", "decay.wound_bed", "decay.dermis", "bioactive_threshold"]
    );
    let vegf = species(&lib, "VEGF");
    let mark = |key: &str| vegf.sources.iter().find(|v| v.key == key).unwrap().mark;
    assert_eq!(mark("diffusivity.dermis"), Mark::Estimate);
    assert_eq!(mark("decay.gel"), Mark::Verified);
    assert_eq!(mark("molecular_weight"), Mark::Unverified);
    assert_eq!(without_sources(lib), hand);
}

#[test]
fn every_library_number_has_a_source_and_a_mark_and_is_in_the_reference_table() {
    let lib = library::library();
    assert_eq!(lib.factors.len(), 17, "the reference table has 17 factors");
    let mut numbers = 0;
    for f in &lib.factors {
        assert!(!f.csv_row.is_empty() && !f.name.is_empty());
        for (key, e) in f.entries() {
            let what = format!("{} {key} {}", f.name, e.text());
            assert!(!e.source.trim().is_empty(), "{what}: no source");
            assert!(!e.csv.trim().is_empty(), "{what}: no table cell");
            assert_ne!(e.mark, Mark::Measured, "{what}: the library holds no measured batches");
            if e.source.starts_with("ESTIMATE") {
                assert_eq!(e.mark, Mark::Estimate, "{what}: the table marks it ESTIMATE");
            }
            if e.mark == Mark::Verified {
                assert!(e.source.contains("[VERIFIED"), "{what}: marked verified without a [VERIFIED] source");
            }
            let texts = e.numbers();
            assert!(!texts.is_empty(), "{what}: an entry without a number");
            for t in texts {
                let number = t.split_whitespace().next().unwrap();
                if key == "tissue_hindrance" {
                    let h: f64 = number.parse().unwrap_or_else(|_| panic!("{what}: not a number"));
                    assert!(h > 0.0 && h <= 1.0, "{what}");
                } else {
                    let q = secretome::units::parse_quantity(t).unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(q.value > 0.0, "{what}");
                }
                let written = [Some(&e.csv), Some(&e.source), e.context.as_ref()];
                assert!(
                    written.iter().flatten().any(|w| w.contains(number)),
                    "{what}: {number} is not written in the table's cell, source or context"
                );
                numbers += 1;
            }
        }
        if let Some(h) = &f.heparin_binding {
            assert!(!h.source.trim().is_empty() && !h.csv.trim().is_empty(), "{}", f.name);
            assert!(h.csv.starts_with(if h.binds { "yes" } else { "no" }) || h.csv.starts_with("not a"), "{}", f.name);
        }
    }
    assert!(numbers > 80, "only {numbers} numbers");
    // Where the table has no number, the library has none.
    assert!(lib.factor("MCP-1").unwrap().half_life.is_none());
    assert!(lib.factor("TSG-6").unwrap().half_life.is_none());
    assert!(lib.factor("EV").unwrap().diffusivity_water.is_none());
}

#[test]
fn names_and_aliases_find_their_factor() {
    let lib = library::library();
    for (name, canonical) in [
        ("VEGF", "VEGF165"),
        ("vegf-a", "VEGF165"),
        ("bFGF", "FGF-2"),
        ("TGF-β1", "TGF-beta1"),
        ("CXCL12", "SDF-1alpha"),
    ] {
        assert_eq!(lib.factor(name).map(|f| f.name.as_str()), Some(canonical), "{name}");
    }
    assert!(lib.factor("VEGF-C").is_none());
    assert_eq!(lib.closest_factors("VEGF-C", 3)[0], "VEGF165");
}

#[test]
fn stokes_einstein_gives_the_diffusivity_of_a_vesicle_from_its_radius() {
    let (k_b, t, eta) = (1.380649e-23, 310.15, 0.691e-3);
    for r in [15e-9, 25e-9, 50e-9, 75e-9] {
        let d = stokes_einstein_diffusivity(r);
        assert!(close(d, k_b * t / (6.0 * PI * eta * r), 1e-14), "r = {r}");
    }
    // The reference table's values for diameters of 30, 50, 100 and 150 nm, µm²/s, to the
    // table's rounding (13.15 is written 13.1).
    for (diameter, table) in [(30e-9, 21.9), (50e-9, 13.1), (100e-9, 6.6), (150e-9, 4.4)] {
        let d = stokes_einstein_diffusivity(0.5 * diameter) * 1e12;
        assert!(close(d, table, 5e-3), "{diameter} m: {d} µm²/s against the table's {table}");
    }
    // In a scenario: EVs of 50 nm radius in a gel of 200 nm mesh take D in water from the size.
    let text = with(
        r#"
[[species]]
name = "EV"
factor = "EV"
unit = "particles/mL"
hydrodynamic_radius = "50 nm"
diffusivity = { wound_bed = "1 um^2/s", dermis = "0.5 um^2/s" }
decay = { gel = "0 1/s", wound_bed = "1 h", dermis = "1 h" }
initial = { gel = "1e9 particles/mL" }
"#,
    )
    .replace(
        "name = \"gel\"\nrole = \"depot\"",
        "name = \"gel\"\nrole = \"depot\"\nmesh_size = \"200 nm\"\nfiber_radius = \"5 nm\"",
    );
    let p = FIX.load(&text);
    let ev = species(&p, "EV");
    let d_water = k_b * t / (6.0 * PI * eta * 50e-9);
    let h = (-PI * ((50e-9_f64 + 5e-9) / (200e-9 + 2.0 * 5e-9)).powi(2)).exp();
    assert!(close(ev.diffusivity[material(&p, "gel")], d_water * h, 1e-12));
    let source = ev.sources.iter().find(|v| v.key == "diffusivity.gel").unwrap();
    assert_eq!(source.mark, Mark::Estimate);
    assert!(source.source.contains("Stokes–Einstein") && source.source.contains("Amsden"), "{}", source.source);
}

#[test]
fn gel_diffusivity_follows_the_mesh_models() {
    // Stokes radius of a 45 kDa protein from Young et al. 1980 + Stokes–Einstein.
    let r_s = 1.380649e-23 * 45_000f64.cbrt() / (6.0 * PI * 8.34e-15);
    assert!(close(library::stokes_radius_of_protein(45.0), r_s, 1e-12));
    assert!((r_s - 3.12e-9).abs() < 0.01e-9, "{r_s}");
    let vegf = r#"
[[species]]
name = "VEGF"
factor = "VEGF165"
unit = "pg/mL"
"#;
    let gel = "name = \"gel\"\nrole = \"depot\"";
    let r_f = 1.5e-9;
    let amsden = with(vegf).replace(gel, &format!("{gel}\nmesh_size = \"20 nm\"\nfiber_radius = \"1.5 nm\""));
    let p = FIX.load(&amsden);
    let expected = 105e-12 * (-PI * ((r_s + r_f) / (20e-9 + 2.0 * r_f)).powi(2)).exp();
    let d = species(&p, "VEGF").diffusivity[material(&p, "gel")];
    assert!(close(d, expected, 1e-12), "{d} against {expected}");
    assert!(close(amsden_hindrance(20e-9, r_s, r_f), expected / 105e-12, 1e-12));
    let ogston = with(vegf).replace(gel, &format!("{gel}\npolymer_fraction = 0.02\nfiber_radius = \"1.5 nm\""));
    let p = FIX.load(&ogston);
    let expected = 105e-12 * (-(0.02f64).sqrt() * (r_s + r_f) / r_f).exp();
    let d = species(&p, "VEGF").diffusivity[material(&p, "gel")];
    assert!(close(d, expected, 1e-12), "{d} against {expected}");
    assert!(close(ogston_hindrance(0.02, r_s, r_f), expected / 105e-12, 1e-12));
    // A species that gives its own D in the gel keeps it.
    let own = amsden.replace("unit = \"pg/mL\"\n", "unit = \"pg/mL\"\ndiffusivity = { gel = \"50 um^2/s\" }\n");
    let p = FIX.load(&own);
    assert!(close(species(&p, "VEGF").diffusivity[material(&p, "gel")], 50e-12, 1e-12));
}

#[test]
fn molar_and_mass_concentrations_convert_through_the_library_molecular_weight() {
    // 450 pg/mL of a 45 kDa factor: 450e-9 g/L / 45 000 g/mol = 1e-11 mol/L = 0.01 nM.
    let text = with(
        r#"
[[species]]
name = "VEGF_nM"
factor = "VEGF165"
unit = "nM"
diffusivity = { gel = "105 um^2/s" }
initial = { gel = "450 pg/mL" }

[[species]]
name = "VEGF_pg"
factor = "VEGF"
unit = "pg/mL"
diffusivity = { gel = "105 um^2/s" }
initial = { gel = "0.01 nM" }
"#,
    );
    let p = FIX.load(&text);
    let gel = material(&p, "gel");
    assert!(close(species(&p, "VEGF_nM").initial[gel], 0.01, 1e-12));
    assert!(close(species(&p, "VEGF_pg").initial[gel], 450.0, 1e-12));
    // One nM is 1e-6 mol/m³; one pg/mL of 45 kDa is 1e-9 kg/m³ / 45 kg/mol.
    assert!(close(species(&p, "VEGF_nM").molar_per_unit.unwrap(), 1e-6, 1e-12));
    assert!(close(species(&p, "VEGF_pg").molar_per_unit.unwrap(), 1e-9 / 45.0, 1e-12));
}

/// The species the Katagiri 2017 preset needs, IGF-1 matched by its name alone.
const KATAGIRI_SPECIES: &str = r#"
[[species]]
name = "VEGF"
factor = "VEGF165"
unit = "pg/mL"
diffusivity = { gel = "105 um^2/s" }

[[species]]
name = "TGF-b1"
factor = "TGF-beta1"
unit = "pg/mL"
diffusivity = { gel = "128 um^2/s" }
decay = { gel = "3 min", wound_bed = "3 min", dermis = "3 min" }

[[species]]
name = "IGF-1"
unit = "pg/mL"
diffusivity = { gel = "190 um^2/s", wound_bed = "74 um^2/s", dermis = "74 um^2/s" }
decay = { gel = "14.4 min", wound_bed = "14.4 min", dermis = "14.4 min" }
"#;

#[test]
fn a_preset_times_the_loading_gives_the_listed_concentrations() {
    let listed = [("VEGF", 465.8), ("TGF-b1", 339.8), ("IGF-1", 1515.6)];
    for (loading, multiple) in [("10 %", 0.1), ("100%", 1.0), ("10x", 10.0), ("2.5 x", 2.5)] {
        let text =
            with(&format!("{KATAGIRI_SPECIES}\n[depot]\npreset = \"katagiri2017_bm\"\nloading = \"{loading}\"\n"));
        let p = FIX.load(&text);
        for (name, in_cm) in listed {
            let s = species(&p, name);
            assert!(close(s.initial[material(&p, "gel")], in_cm * multiple, 1e-12), "{name} at {loading}");
            assert_eq!(s.initial[material(&p, "dermis")], 0.0);
            let v = s.sources.iter().find(|v| v.key == "initial.gel").unwrap();
            assert_eq!(v.mark, Mark::Verified);
            assert!(v.source.contains("Katagiri"), "{}", v.source);
        }
    }
    // A value the scenario writes overrides the preset.
    let text = with(&format!(
        "{}\n[depot]\npreset = \"katagiri2017_bm\"\nloading = \"10 %\"\n",
        KATAGIRI_SPECIES.replace(
            "diffusivity = { gel = \"105 um^2/s\" }",
            "diffusivity = { gel = \"105 um^2/s\" }\ninitial = { gel = \"7 pg/mL\" }"
        )
    ));
    let p = FIX.load(&text);
    assert_eq!(species(&p, "VEGF").initial[material(&p, "gel")], 7.0);
    assert!(species(&p, "VEGF").sources.iter().all(|v| v.key != "initial.gel"));
}

#[test]
fn the_review_ranges_give_low_mid_and_high() {
    let lib = library::library();
    let at = |sel: &str| {
        let (preset, level) = lib.preset(sel).unwrap_or_else(|| panic!("no preset {sel}"));
        lib.composition(preset, level)
    };
    let find = |c: &[library::CompositionEntry], f: &str| c.iter().find(|e| e.factor == f).unwrap().clone();
    let (low, mid, high) = (at("nasiri2026_low"), at("nasiri2026_mid"), at("nasiri2026_high"));
    assert_eq!(low.len(), 10);
    assert_eq!(find(&low, "VEGF165").concentration, "100 pg/mL");
    assert_eq!(find(&mid, "VEGF165").concentration, "300 pg/mL");
    assert_eq!(find(&mid, "VEGF165").mark, Mark::Estimate);
    assert_eq!(find(&high, "VEGF165").concentration, "500 pg/mL");
    assert_eq!(find(&mid, "MCP-1").concentration, "27.5 ng/mL");
    assert_eq!(find(&high, "IGF-1").concentration, "5 ng/mL");
    let putri = at("putri_hypoxic_ad_high");
    assert_eq!(find(&putri, "VEGF165").concentration, "789 pg/mL");
    assert_eq!(find(&putri, "PDGF-BB").concentration, "2.9 pg/mL");
    assert!(lib.preset("putri_hypoxic_ad_mid").is_none(), "two preparations have no midpoint");
    assert!(lib.preset("katagiri2017_bm_low").is_none());
}

#[test]
fn a_measured_batch_loads_from_a_csv_file_next_to_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("batch.csv"),
        "# our ELISA, batch 7\nfactor,concentration,unit\nVEGF165,500,pg/mL\nTGF-b1,0.2,ng/mL\nIGF-1,1.5,ng/mL\n",
    )
    .unwrap();
    let text = with(&format!("{KATAGIRI_SPECIES}\n[depot]\ncomposition = \"batch.csv\"\nloading = \"10 %\"\n"));
    let path = dir.path().join("batch_scenario.toml");
    std::fs::write(&path, text).unwrap();
    let p = secretome::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let gel = material(&p, "gel");
    assert!(close(species(&p, "VEGF").initial[gel], 50.0, 1e-12));
    assert!(close(species(&p, "TGF-b1").initial[gel], 20.0, 1e-12));
    assert!(close(species(&p, "IGF-1").initial[gel], 150.0, 1e-12));
    let v = species(&p, "IGF-1").sources.iter().find(|v| v.key == "initial.gel").unwrap();
    assert_eq!(v.mark, Mark::Measured);
    assert!(v.source.contains("batch.csv") && v.source.contains("line 5"), "{}", v.source);
}

#[test]
fn sources_reach_validate_and_summary_json() {
    let dir = tempfile::tempdir().unwrap();
    let text = with(&format!("{KATAGIRI_SPECIES}\n[depot]\npreset = \"katagiri2017_bm\"\nloading = \"10 %\"\n"))
        .replace("cells = [20, 10, 1]", "cells = [4, 10, 1]")
        .replace("end = \"1 h\"", "end = \"1 min\"")
        .replace("output_interval = \"10 min\"", "output_interval = \"1 min\"");
    let path = dir.path().join("sources.toml");
    std::fs::write(&path, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_secretome");
    let o = Command::new(bin).args(["validate", path.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for part in ["sources", "decay.dermis", "[estimate]", "[verified]", "initial.gel", "Katagiri"] {
        assert!(stdout.contains(part), "validate lacks {part:?}:\n{stdout}");
    }
    let out = dir.path().join("run");
    let o = Command::new(bin)
        .args(["run", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let species = summary["scenario"]["species"].as_array().unwrap();
    let vegf = species.iter().find(|s| s["name"] == "VEGF").unwrap();
    let sources = vegf["sources"].as_array().unwrap();
    let decay = sources.iter().find(|s| s["key"] == "decay.gel").unwrap();
    assert_eq!(decay["mark"], "verified");
    assert!(decay["source"].as_str().unwrap().contains("Eppler"));
    let tissue = sources.iter().find(|s| s["key"] == "diffusivity.dermis").unwrap();
    assert_eq!(tissue["mark"], "estimate");
    let igf = species.iter().find(|s| s["name"] == "IGF-1").unwrap();
    assert_eq!(igf["sources"].as_array().unwrap().len(), 1, "only initial.gel comes from elsewhere");
}

#[test]
fn secretome_factors_lists_shows_and_suggests() {
    let bin = env!("CARGO_BIN_EXE_secretome");
    let o = Command::new(bin).arg("factors").output().unwrap();
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for part in ["VEGF165", "45 kDa [u]", "105 um^2/s [e]", "33.7 min [v]", "EV", "marks:"] {
        assert!(list.contains(part), "the list lacks {part:?}:\n{list}");
    }
    let o = Command::new(bin).args(["factors", "VEGF165"]).output().unwrap();
    let one = String::from_utf8_lossy(&o.stdout);
    for part in ["half_life: 33.7 min  [verified]", "Eppler", "tissue_hindrance: 0.39  [estimate]", "Katagiri"] {
        assert!(one.contains(part), "the factor lacks {part:?}:\n{one}");
    }
    let o = Command::new(bin).args(["factors", "VEGF-C"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("VEGF-C") && err.contains("closest: `VEGF165`"), "{err}");
    let o = Command::new(bin).args(["factors", "--presets"]).output().unwrap();
    let presets = String::from_utf8_lossy(&o.stdout);
    for part in ["nasiri2026_mid", "katagiri2017_bm", "putri_hypoxic_ad_low", "bone marrow", "hypoxia"] {
        assert!(presets.contains(part), "the presets lack {part:?}:\n{presets}");
    }
}
