//! Bad input to the factor library, CM compositions and gel mesh models is refused before any
//! work, with a message naming the file, the key (and line), the value and what would be
//! accepted; unknown names come with the closest known ones.

mod common;

use common::refusals::Fixture;

const FILE: &str = "library_bad.toml";

const BASE: &str = r#"[scenario]
name = "library_bad"

[grid]
size = ["2 mm", "1 mm", "1 mm"]
cells = [20, 10, 1]
default_material = "tissue"

[time]
end = "1 h"
output_interval = "10 min"

[[material]]
name = "gel"
role = "depot"

[[material]]
name = "tissue"
role = "tissue"

[[region]]
material = "gel"
shape = "layer"
axis = "y"
from = "0.5 mm"
to = "1 mm"

[[species]]
name = "VEGF"
factor = "VEGF165"
unit = "pg/mL"
diffusivity = { gel = "105 um^2/s" }

[[species]]
name = "IGF-1"
factor = "IGF-1"
unit = "pg/mL"
diffusivity = { gel = "159 um^2/s" }
"#;

const FIX: Fixture = Fixture { file: FILE, base: BASE };

/// `BASE` with `from` replaced by `to` (which must occur exactly once).
fn edit(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "`{from}` must occur once in BASE");
    BASE.replace(from, to)
}

fn with(more: &str) -> String {
    format!("{BASE}\n{more}")
}

/// A scenario with a `[depot]` loading the batch `csv`, both in a fresh folder; the refusal of
/// loading it, which must name `depot.composition` and contain every `also`.
fn batch_refused(csv: &str, also: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("batch.csv"), csv).unwrap();
    let path = dir.path().join(FILE);
    std::fs::write(&path, with("[depot]\ncomposition = \"batch.csv\"\nloading = \"10 %\"\n")).unwrap();
    let msg = secretome::scenario::load(&path).err().expect("the batch is refused").to_string();
    assert!(msg.contains(FILE) && msg.contains("`depot.composition`") && msg.contains("accepted:"), "{msg}");
    for a in also {
        assert!(msg.contains(a), "no `{a}` in: {msg}");
    }
    msg
}

#[test]
fn the_base_scenario_loads() {
    let p = FIX.load(BASE);
    assert_eq!(p.species.len(), 2);
}

#[test]
fn an_unknown_factor_name_is_refused_with_the_closest_names() {
    let text = edit("factor = \"VEGF165\"", "factor = \"VEGF-X\"");
    FIX.refused_at(
        &text,
        "species[0].factor",
        "\"VEGF-X\"",
        &["\"VEGF-X\"", "no factor of this name", "closest: `VEGF165`"],
    );
    let text = edit("factor = \"IGF-1\"", "factor = \"IGF-2\"");
    FIX.refused_at(&text, "species[1].factor", "\"IGF-2\"", &["closest: `IGF-1`", "secretome factors"]);
}

#[test]
fn a_preset_naming_factors_the_scenario_lacks_is_refused_with_the_list() {
    let text = with("[depot]\npreset = \"nasiri2026_mid\"\nloading = \"10 %\"\n");
    let msg = FIX.refused_at(&text, "depot.preset", "\"nasiri2026_mid\"", &["no species for", "`EGF`", "`MCP-1`"]);
    assert!(!msg.contains("`VEGF165`,"), "VEGF is in the scenario: {msg}");
    // An unknown preset suggests the closest.
    let text = with("[depot]\npreset = \"nasiri_mid\"\nloading = \"10 %\"\n");
    FIX.refused_at(&text, "depot.preset", "\"nasiri_mid\"", &["no preset of this name", "`nasiri2026_mid`"]);
}

#[test]
fn a_batch_with_a_missing_unit_is_refused() {
    batch_refused(
        "factor,concentration,unit\nVEGF165,500,pg/mL\nIGF-1,1.5,\n",
        &["batch.csv:3", "no unit for factor `IGF-1`"],
    );
    batch_refused("factor,concentration\nVEGF165,500\n", &["batch.csv:1", "factor, concentration and unit"]);
    batch_refused("factor,concentration,unit\nVEGF165,500,pg\n", &["batch.csv:2", "unit `pg`"]);
}

#[test]
fn a_batch_with_an_unknown_factor_is_refused_with_the_closest_names() {
    batch_refused(
        "factor,concentration,unit\nVEGF165,500,pg/mL\nIGF1x,1.5,ng/mL\n",
        &["batch.csv:3", "unknown factor `IGF1x`", "closest:", "`IGF-1`"],
    );
    // A library factor the scenario does not model.
    batch_refused("factor,concentration,unit\nEGF,50,pg/mL\n", &["no species for", "`EGF`"]);
}

#[test]
fn a_loading_that_is_not_a_percentage_or_a_multiple_is_refused() {
    for bad in ["10", "ten %", "10 percent", "0 %", "-5 %", "150 %", "0x", "1e999x", ""] {
        let text = with(&format!("[depot]\npreset = \"nasiri2026_mid\"\nloading = \"{bad}\"\n"));
        FIX.refused(&text, "depot.loading", &["accepted:", "percentage", "\"10 %\"", "\"10x\""]);
    }
    // Missing altogether.
    let text = with("[depot]\npreset = \"nasiri2026_mid\"\n");
    FIX.refused(&text, "depot.loading", &["accepted:", "not given"]);
}

#[test]
fn a_negative_concentration_is_refused() {
    batch_refused("factor,concentration,unit\nVEGF165,-5,pg/mL\n", &["batch.csv:2", "negative concentration"]);
    batch_refused("factor,concentration,unit\nVEGF165,lots,pg/mL\n", &["batch.csv:2", "not a number"]);
    // In the scenario itself, as before.
    let text = edit(
        "diffusivity = { gel = \"105 um^2/s\" }",
        "diffusivity = { gel = \"105 um^2/s\" }\ninitial = { gel = \"-1 pg/mL\" }",
    );
    FIX.refused_at(&text, "species[0].initial.gel", "\"-1 pg/mL\"", &["cannot be negative"]);
}

#[test]
fn a_mesh_size_of_zero_or_less_is_refused() {
    let gel = "name = \"gel\"\nrole = \"depot\"";
    for bad in ["0 nm", "-20 nm"] {
        let text = edit(gel, &format!("{gel}\nmesh_size = \"{bad}\"\nfiber_radius = \"1.5 nm\""));
        let text = text.replace("diffusivity = { gel = \"105 um^2/s\" }\n", "");
        FIX.refused_at(&text, "material[0].mesh_size", &format!("\"{bad}\""), &["must be positive", "\"20 nm\""]);
    }
    let text = edit(gel, &format!("{gel}\nmesh_size = \"20 nm\"\nfiber_radius = \"0 nm\""));
    FIX.refused(&text, "material[0].fiber_radius", &["accepted:", "must be positive"]);
    let text = edit(gel, &format!("{gel}\nmesh_size = \"20\""));
    FIX.refused(&text, "material[0].mesh_size", &["accepted:", "unit"]);
    let text = edit(gel, &format!("{gel}\nmesh_size = \"20 nm\""));
    FIX.refused(&text, "material[0].fiber_radius", &["accepted:", "fibres"]);
    let text = edit(gel, &format!("{gel}\npolymer_fraction = 1.5\nfiber_radius = \"1 nm\""));
    FIX.refused(&text, "material[0].polymer_fraction", &["accepted:", "between 0 and 1"]);
    let text = edit(gel, &format!("{gel}\nmesh_size = \"20 nm\"\npolymer_fraction = 0.02\nfiber_radius = \"1 nm\""));
    FIX.refused(&text, "material[0].polymer_fraction", &["accepted:", "both"]);
    let text = edit(gel, &format!("{gel}\nfiber_radius = \"1 nm\""));
    FIX.refused(&text, "material[0].fiber_radius", &["accepted:", "without a mesh model"]);
}

#[test]
fn what_the_library_cannot_give_is_asked_for() {
    // No D in a gel without a mesh model.
    let text = edit("diffusivity = { gel = \"105 um^2/s\" }\n", "");
    FIX.refused(&text, "species[0].diffusivity.gel", &["accepted:", "depot material `gel`", "mesh_size"]);
    // A range of half-lives is not one value.
    let text = edit("factor = \"IGF-1\"", "factor = \"TGF-beta1\"");
    FIX.refused(&text, "species[1].decay.gel", &["accepted:", "range of half-lives", "2 min to 3 min"]);
    // No half-life at all.
    let text = edit("factor = \"IGF-1\"", "factor = \"MCP-1\"");
    FIX.refused(&text, "species[1].decay.gel", &["accepted:", "no half-life for factor `MCP-1`"]);
    // Without a factor, diffusivity and decay are required as before.
    let text = edit(
        "factor = \"IGF-1\"\nunit = \"pg/mL\"\ndiffusivity = { gel = \"159 um^2/s\" }",
        "unit = \"pg/mL\"\ndiffusivity = { gel = \"159 um^2/s\", tissue = \"74 um^2/s\" }",
    );
    FIX.refused(&text, "species[1].decay", &["accepted:", "missing key `decay`"]);
    // A vesicle in a mesh needs its size.
    let text = edit("name = \"gel\"\nrole = \"depot\"", "name = \"gel\"\nrole = \"depot\"\nmesh_size = \"200 nm\"\nfiber_radius = \"5 nm\"")
        .replace("factor = \"IGF-1\"\nunit = \"pg/mL\"\ndiffusivity = { gel = \"159 um^2/s\" }", "factor = \"EV\"\nunit = \"particles/mL\"\ndiffusivity = { tissue = \"1 um^2/s\" }\ndecay = { gel = \"1 h\", tissue = \"1 h\" }");
    FIX.refused(&text, "species[1].diffusivity.gel", &["accepted:", "diffusivity in water"]);
    // Both a preset and a batch.
    let text = with("[depot]\npreset = \"katagiri2017_bm\"\ncomposition = \"b.csv\"\nloading = \"10 %\"\n");
    FIX.refused(&text, "depot.composition", &["accepted:", "both"]);
}
