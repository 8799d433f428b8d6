//! Every kind of bad scenario is refused before any work, with a message that names the file,
//! the key (and the line where the parser knows it), the value and what would be accepted.

mod common;

use common::refusals::{Fixture, line_of};

use secretome::problem::{Scheme, TimeStep};
use secretome::scenario::{self, ScenarioError};

const FILE: &str = "bad.toml";

const BASE: &str = r#"[scenario]
name = "base"

[grid]
size = ["2 mm", "1 mm", "1 mm"]
cells = [20, 10, 1]
default_material = "tissue"

[time]
end = "1 h"
output_interval = "10 min"
snapshot_interval = "30 min"

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
unit = "pg/mL"
molecular_weight = "45 kDa"
diffusivity = { gel = "105 um^2/s", tissue = "41 um^2/s" }
decay = { gel = "90 min", tissue = "33.7 min" }
initial = { gel = "30 pg/mL" }

[[species]]
name = "IL-10"
unit = "pg/mL"
diffusivity = { gel = "112 um^2/s", tissue = "44 um^2/s" }
decay = { gel = "24 h", tissue = "3 h" }
initial = { gel = "42.5 pg/mL" }

[[boundary]]
faces = ["ymin"]
species = ["all"]
type = "fixed"
value = "0 pg/mL"

[[boundary]]
faces = ["xmin"]
species = ["VEGF"]
type = "clearance"
rate = "1 um/s"
"#;

const FIX: Fixture = Fixture { file: FILE, base: BASE };

#[test]
fn base_scenario_loads() {
    let p = scenario::from_str_with_memory(BASE, FILE, Some(u64::MAX)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.species.len(), 2);
}

#[test]
fn toml_syntax_error_gives_line() {
    let text = FIX.edit("name = \"base\"", "name = \"base");
    let err = scenario::from_str(&text, FILE).unwrap_err();
    assert!(matches!(err, ScenarioError::Syntax { line: 2, .. }), "{err:?}");
    assert!(err.to_string().starts_with("bad.toml:2:"), "{err}");
}

#[test]
fn unknown_keys_are_refused_everywhere() {
    let text = FIX.edit("[scenario]\n", "colour = \"red\"\n[scenario]\n");
    FIX.refused_on_line(&text, "colour", "colour", &["unknown key"]);
    let text = FIX.edit("default_material = \"tissue\"", "default_material = \"tissue\"\nspacing = \"1 mm\"");
    FIX.refused_on_line(&text, "grid.spacing", "spacing", &["unknown key", "expected one of"]);
    let text = FIX.edit("output_interval = \"10 min\"", "output_interval = \"10 min\"\nstart = \"0 s\"");
    FIX.refused_on_line(&text, "time.start", "start =", &["unknown key"]);
    let text = FIX.edit("role = \"depot\"", "role = \"depot\"\ncolor = \"blue\"");
    FIX.refused_on_line(&text, "material[0].color", "color", &[]);
    let text = FIX.edit("to = \"1 mm\"", "to = \"1 mm\"\nthickness = \"1 mm\"");
    FIX.refused_on_line(&text, "region[0].thickness", "thickness", &[]);
    let text = FIX.edit("name = \"IL-10\"", "name = \"IL-10\"\nhalf_life = \"3 h\"");
    FIX.refused_on_line(&text, "species[1].half_life", "half_life", &[]);
    let text = FIX.edit("rate = \"1 um/s\"", "rate = \"1 um/s\"\nvalu = \"0 pg/mL\"");
    FIX.refused_on_line(&text, "boundary[1].valu", "valu =", &[]);
}

#[test]
fn a_key_the_shape_does_not_use_is_refused() {
    let text = FIX.edit("to = \"1 mm\"", "to = \"1 mm\"\nradius = \"1 mm\"");
    FIX.refused_on_line(&text, "region[0].radius", "radius", &["not used by shape `layer`"]);
}

#[test]
fn missing_keys_are_named() {
    FIX.refused(&FIX.edit("end = \"1 h\"\n", ""), "time.end", &["missing"]);
    FIX.refused(&FIX.edit("decay = { gel = \"24 h\", tissue = \"3 h\" }\n", ""), "species[1].decay", &["missing"]);
    FIX.refused(&FIX.edit("[scenario]\nname = \"base\"\n", ""), "scenario", &["missing"]);
    FIX.refused(&FIX.edit("axis = \"y\"\n", ""), "region[0].axis", &["needs `axis`"]);
}

#[test]
fn a_number_where_text_with_a_unit_is_needed() {
    let text = FIX.edit("end = \"1 h\"", "end = 3600");
    FIX.refused_on_line(&text, "time.end", "end = 3600", &["\"1.5 mm\""]);
}

#[test]
fn missing_unit() {
    let text = FIX.edit("tissue = \"41 um^2/s\"", "tissue = \"41\"");
    FIX.refused_on_line(&text, "species[0].diffusivity.tissue", "\"41\"", &["\"41\"", "unit is missing", "um^2/s"]);
}

#[test]
fn unit_of_the_wrong_dimension() {
    let text = FIX.edit("tissue = \"41 um^2/s\"", "tissue = \"41 mm\"");
    FIX.refused_on_line(&text, "species[0].diffusivity.tissue", "41 mm", &["\"41 mm\"", "length", "diffusivity"]);
    let text = FIX.edit("end = \"1 h\"", "end = \"1 m\"");
    FIX.refused_on_line(&text, "time.end", "1 m\"", &["time"]);
    let text = FIX.edit("rate = \"1 um/s\"", "rate = \"1 1/s\"");
    FIX.refused_on_line(&text, "boundary[1].rate", "1 1/s", &["velocity"]);
    let text = FIX.edit("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"30 um\" }");
    FIX.refused_on_line(&text, "species[0].initial.gel", "30 um", &["concentration"]);
    let text = FIX.edit("unit = \"pg/mL\"\nmolecular_weight", "unit = \"mm\"\nmolecular_weight");
    FIX.refused_on_line(&text, "species[0].unit", "\"mm\"", &["concentration"]);
}

#[test]
fn unknown_units_and_unparseable_numbers() {
    let text = FIX.edit("from = \"0.5 mm\"", "from = \"0.5 furlong\"");
    FIX.refused_on_line(&text, "region[0].from", "furlong", &["unknown unit `furlong`", "mm"]);
    let text = FIX.edit("from = \"0.5 mm\"", "from = \"half mm\"");
    FIX.refused_on_line(&text, "region[0].from", "half", &["no number"]);
    let text = FIX.edit("end = \"1 h\"", "end = \"1e999 h\"");
    FIX.refused_on_line(&text, "time.end", "1e999", &["not finite"]);
}

#[test]
fn molar_to_mass_needs_a_molecular_weight() {
    let text = FIX.edit("initial = { gel = \"42.5 pg/mL\" }", "initial = { gel = \"1 nM\" }");
    FIX.refused_on_line(&text, "species[1].initial.gel", "1 nM", &["molecular_weight"]);
    // With a molecular weight the same value converts.
    let text = FIX.edit("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"1 nM\" }");
    let p = scenario::from_str_with_memory(&text, FILE, None).unwrap();
    assert!((p.species[0].initial[0] - 45_000.0).abs() < 1e-6);
}

#[test]
fn non_positive_diffusivity() {
    for v in ["0 um^2/s", "-41 um^2/s"] {
        let text = FIX.edit("tissue = \"41 um^2/s\"", &format!("tissue = \"{v}\""));
        FIX.refused_on_line(&text, "species[0].diffusivity.tissue", v, &["positive", "> 0"]);
    }
}

#[test]
fn negative_decay() {
    let text = FIX.edit("tissue = \"3 h\"", "tissue = \"-0.1 1/h\"");
    FIX.refused_on_line(&text, "species[1].decay.tissue", "-0.1", &["negative"]);
    let text = FIX.edit("tissue = \"3 h\"", "tissue = \"-3 h\"");
    FIX.refused_on_line(&text, "species[1].decay.tissue", "-3 h", &["half-life must be positive"]);
    let text = FIX.edit("tissue = \"3 h\"", "tissue = \"0 h\"");
    FIX.refused_on_line(&text, "species[1].decay.tissue", "0 h", &["half-life"]);
    // A zero rate is allowed.
    let text = FIX.edit("tissue = \"3 h\"", "tissue = \"0 1/s\"");
    assert_eq!(scenario::from_str_with_memory(&text, FILE, None).unwrap().species[1].decay_rate[1], 0.0);
}

#[test]
fn negative_concentrations() {
    let text = FIX.edit("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"-30 pg/mL\" }");
    FIX.refused_on_line(&text, "species[0].initial.gel", "-30", &["negative"]);
    let text = FIX.edit("value = \"0 pg/mL\"", "value = \"-1 pg/mL\"");
    FIX.refused_on_line(&text, "boundary[0].value", "-1 pg/mL", &["negative"]);
}

#[test]
fn bad_cell_counts() {
    let text = FIX.edit("cells = [20, 10, 1]", "cells = [20, 0, 1]");
    FIX.refused_on_line(&text, "grid.cells[1]", "cells", &["≥ 1"]);
    let text = FIX.edit("cells = [20, 10, 1]", "cells = [20, -3, 1]");
    FIX.refused_on_line(&text, "grid.cells[1]", "cells", &[]);
    let text = FIX.edit("cells = [20, 10, 1]", "cells = [20, 10]");
    FIX.refused_on_line(&text, "grid.cells", "cells", &["2 entries", "3 whole numbers"]);
    let text = FIX.edit("size = [\"2 mm\", \"1 mm\", \"1 mm\"]", "size = [\"2 mm\", \"1 mm\"]");
    FIX.refused_on_line(&text, "grid.size", "size", &["2 entries"]);
    let text = FIX.edit("size = [\"2 mm\", \"1 mm\", \"1 mm\"]", "size = [\"2 mm\", \"0 mm\", \"1 mm\"]");
    FIX.refused_on_line(&text, "grid.size[1]", "size", &["positive"]);
}

#[test]
fn region_outside_the_domain_or_painting_nothing() {
    let text = FIX.edit("to = \"1 mm\"", "to = \"1 cm\"");
    FIX.refused_on_line(&text, "region[0].to", "1 cm", &["outside the domain along y", "0 to 1 mm"]);
    let text = FIX.edit("from = \"0.5 mm\"", "from = \"-0.5 mm\"");
    FIX.refused_on_line(&text, "region[0].from", "-0.5 mm", &["outside the domain"]);
    // Between two cell centres (cells are 0.1 mm): no centre inside.
    let text = FIX.edit("from = \"0.5 mm\"\nto = \"1 mm\"", "from = \"0.56 mm\"\nto = \"0.64 mm\"");
    FIX.refused_on_line(&text, "region[0]", "shape = \"layer\"", &["paints nothing"]);
    let text = FIX.edit("from = \"0.5 mm\"\nto = \"1 mm\"", "from = \"0.8 mm\"\nto = \"0.5 mm\"");
    FIX.refused_on_line(&text, "region[0].to", "0.5 mm", &["lower bound"]);
    let sphere = "shape = \"sphere\"\ncenter = [\"1 mm\", \"2 mm\", \"0.5 mm\"]\nradius = \"0.2 mm\"";
    let text = FIX.edit("shape = \"layer\"\naxis = \"y\"\nfrom = \"0.5 mm\"\nto = \"1 mm\"", sphere);
    FIX.refused_on_line(&text, "region[0].center[1]", "center", &["outside the domain along y"]);
}

#[test]
fn unknown_material_names() {
    let text = FIX.edit("default_material = \"tissue\"", "default_material = \"bone\"");
    FIX.refused_on_line(&text, "grid.default_material", "bone", &["`gel`, `tissue`"]);
    let text = FIX.edit("material = \"gel\"", "material = \"glue\"");
    FIX.refused_on_line(&text, "region[0].material", "glue", &["no material"]);
    let text = FIX.edit(
        "decay = { gel = \"24 h\", tissue = \"3 h\" }",
        "decay = { gel = \"24 h\", tissue = \"3 h\", fat = \"3 h\" }",
    );
    FIX.refused_on_line(&text, "species[1].decay.fat", "fat =", &["no material named `fat`"]);
}

#[test]
fn duplicate_names() {
    let text = FIX.edit("name = \"tissue\"", "name = \"gel\"");
    FIX.refused_on_line(&text, "material[1].name", "name = \"gel\"\nrole = \"tissue\"", &["duplicate"]);
    let text = FIX.edit("name = \"IL-10\"", "name = \"VEGF\"");
    FIX.refused_on_line(&text, "species[1].name", "name = \"VEGF\"\nunit = \"pg/mL\"\ndiffusivity", &["duplicate"]);
}

#[test]
fn species_missing_a_material() {
    let text = FIX.edit(
        "diffusivity = { gel = \"112 um^2/s\", tissue = \"44 um^2/s\" }",
        "diffusivity = { gel = \"112 um^2/s\" }",
    );
    FIX.refused_on_line(
        &text,
        "species[1].diffusivity.tissue",
        "diffusivity = { gel = \"112",
        &["no value for material `tissue`"],
    );
    let text = FIX.edit("decay = { gel = \"90 min\", tissue = \"33.7 min\" }", "decay = { tissue = \"33.7 min\" }");
    FIX.refused_on_line(&text, "species[0].decay.gel", "decay = { tissue", &["no value for material `gel`"]);
}

#[test]
fn unknown_faces_and_species_in_boundaries() {
    let text = FIX.edit("faces = [\"ymin\"]", "faces = [\"bottom\"]");
    FIX.refused_on_line(&text, "boundary[0].faces[0]", "bottom", &["no such face", "ymin"]);
    let text = FIX.edit("species = [\"VEGF\"]", "species = [\"VEGFA\"]");
    FIX.refused_on_line(&text, "boundary[1].species[0]", "VEGFA", &["no species", "`VEGF`, `IL-10`"]);
}

#[test]
fn conflicting_boundaries() {
    let text = FIX.edit("faces = [\"xmin\"]", "faces = [\"ymin\"]");
    FIX.refused_on_line(
        &text,
        "boundary[1].faces[0]",
        "faces = [\"ymin\"]\nspecies = [\"VEGF\"]",
        &["already has a boundary from `boundary[0]`", "VEGF"],
    );
    let text = FIX.edit("faces = [\"ymin\"]", "faces = [\"ymin\", \"ymin\"]");
    FIX.refused(&text, "boundary[0].faces[1]", &["twice"]);
}

#[test]
fn incomplete_boundaries() {
    let text = FIX.edit("value = \"0 pg/mL\"\n", "");
    FIX.refused_on_line(&text, "boundary[0].value", "type = \"fixed\"", &["needs `value`"]);
    let text = FIX.edit("rate = \"1 um/s\"\n", "");
    FIX.refused_on_line(&text, "boundary[1].rate", "type = \"clearance\"", &["needs `rate`"]);
    for r in ["0 um/s", "-1 um/s"] {
        let text = FIX.edit("rate = \"1 um/s\"", &format!("rate = \"{r}\""));
        FIX.refused_on_line(&text, "boundary[1].rate", r, &["positive"]);
    }
    let text = FIX.edit("type = \"fixed\"", "type = \"no_flux\"");
    FIX.refused_on_line(&text, "boundary[0].value", "value = \"0 pg/mL\"", &["not used by type `no_flux`"]);
    let text = FIX.edit("type = \"fixed\"", "type = \"robin\"");
    FIX.refused_on_line(&text, "boundary[0].type", "robin", &["no_flux", "clearance"]);
}

#[test]
fn bad_times() {
    let text = FIX.edit("snapshot_interval = \"30 min\"", "snapshot_interval = \"25 min\"");
    FIX.refused_on_line(&text, "time.snapshot_interval", "25 min", &["multiple"]);
    let text = FIX.edit("snapshot_interval = \"30 min\"", "snapshot_interval = \"5 min\"");
    FIX.refused_on_line(&text, "time.snapshot_interval", "5 min", &["multiple"]);
    for end in ["0 h", "-1 h"] {
        let text = FIX.edit("end = \"1 h\"", &format!("end = \"{end}\""));
        FIX.refused_on_line(&text, "time.end", end, &["positive"]);
    }
    let text = FIX.edit("output_interval = \"10 min\"", "output_interval = \"1e-6 s\"");
    FIX.refused_on_line(&text, "time.output_interval", "1e-6 s", &["output times"]);
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"crank\"");
    FIX.refused_on_line(&text, "time.scheme", "crank", &["explicit", "adi", "auto"]);
}

#[test]
fn tolerance_and_step_keys_that_contradict_the_scheme() {
    for t in ["0.0", "1.5", "-1e-3"] {
        let text = FIX.edit("end = \"1 h\"", &format!("end = \"1 h\"\nscheme = \"adi\"\ntolerance = {t}"));
        FIX.refused_on_line(&text, "time.tolerance", "tolerance", &["(0, 1)"]);
    }
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"explicit\"\ntolerance = 1e-3");
    FIX.refused_on_line(&text, "time.tolerance", "tolerance", &["explicit"]);
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"adi\"\nsafety = 0.5");
    FIX.refused_on_line(&text, "time.safety", "safety", &["ADI", "tolerance"]);
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"adi\"\ndt = \"1 s\"\ntolerance = 1e-3");
    FIX.refused_on_line(&text, "time.tolerance", "tolerance", &["both"]);
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"adi\"\ntolerance = 1e-4");
    let p = scenario::from_str_with_memory(&text, FILE, None).unwrap();
    assert_eq!(p.schedule.scheme, Scheme::AdiDouglas);
    assert_eq!(p.schedule.time_step, TimeStep::Adaptive { tolerance: 1e-4 });
}

#[test]
fn safety_outside_zero_to_one() {
    for s in ["0.0", "1.5", "-0.5"] {
        let text = FIX.edit("end = \"1 h\"", &format!("end = \"1 h\"\nsafety = {s}"));
        FIX.refused_on_line(&text, "time.safety", "safety", &["(0, 1]"]);
    }
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nsafety = 1");
    assert!(scenario::from_str_with_memory(&text, FILE, None).is_ok(), "safety = 1 is allowed");
}

#[test]
fn fixed_step_above_the_stability_limit_quotes_the_limit() {
    let ok = FIX.edit("end = \"1 h\"", "end = \"1 h\"\ndt = \"1 s\"");
    let p = scenario::from_str_with_memory(&ok, FILE, None).unwrap();
    let limit = p.explicit_step_limit();
    assert!(limit > 1.0);
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"explicit\"\ndt = \"1 min\"");
    let msg = FIX.refused_on_line(&text, "time.dt", "dt =", &["stability limit"]);
    let quoted: f64 = msg
        .split("limit of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no limit quoted in: {msg}"));
    assert!((quoted - limit).abs() <= 1e-5 * limit, "quoted {quoted}, limit {limit}: {msg}");
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\ndt = \"1 s\"\nsafety = 0.5");
    FIX.refused(&text, "time.dt", &["both"]);
}

#[test]
fn grid_too_large_for_memory() {
    let text = FIX.edit("cells = [20, 10, 1]", "cells = [2000, 1000, 100]");
    let err = scenario::from_str_with_memory(&text, FILE, Some(1 << 30)).unwrap_err();
    let msg = err.to_string();
    let ScenarioError::OutOfMemory { needed, available, .. } = err else { panic!("{msg}") };
    assert_eq!(available, 1 << 30);
    assert!(needed > available);
    let line = line_of(&text, "cells =");
    assert!(msg.contains(&format!("{FILE}:{line}")) && msg.contains("`grid.cells`"), "{msg}");
    assert!(msg.contains("1.00 GiB") && msg.contains("needs"), "{msg}");
    // The same grid with enough memory loads.
    let small = FIX.edit("cells = [20, 10, 1]", "cells = [200, 100, 10]");
    assert!(scenario::from_str_with_memory(&small, FILE, Some(1 << 30)).is_ok());
}

#[test]
fn more_than_2_pow_31_cell_species_values() {
    // 1.2e9 cells × 2 species.
    let text = FIX.edit("cells = [20, 10, 1]", "cells = [2000, 2000, 300]");
    let msg = FIX.refused(&text, "grid.cells", &["2^31"]);
    assert!(msg.contains(&format!("{FILE}:{}", line_of(&text, "cells ="))), "{msg}");
    let text =
        FIX.edit("cells = [20, 10, 1]", "cells = [9223372036854775807, 9223372036854775807, 9223372036854775807]");
    FIX.refused(&text, "grid.cells", &["2^31"]);
}

#[test]
fn read_error_names_the_file() {
    let err = scenario::load(std::path::Path::new("/nonexistent/dir/missing.toml")).unwrap_err();
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

#[test]
fn garbage_never_panics() {
    let mut inputs: Vec<String> = vec![
        String::new(),
        "\u{0}\u{1}\u{2}".into(),
        "[[[[".into(),
        "= = =".into(),
        "scenario = 5".into(),
        "[scenario]\nname = \"x\"".into(),
        "\u{feff}[scenario]".into(),
        "a = \"\u{7f}\"".into(),
        "[grid]\nsize = [[], {}, 3]".into(),
        "x = 1979-05-27T07:32:00Z".into(),
        "[scenario]\nname = 1e400".into(),
        // Tables missing, keys with invisible characters, duplicate and over-long names.
        BASE.replace("[time]", "[tme]"),
        BASE.replace("[[species]]", "[[specie]]"),
        BASE.replace("default_material =", "\"default_material\\u200b\" ="),
        BASE.replace("[scenario]\n", "[scenario]\n\"\\ufeff\\u0000\" = 1\n"),
        BASE.replace("species = [\"all\"]", "species = [\"all\", \"all\", \"VEGF\"]"),
        BASE.replace("name = \"VEGF\"", &format!("name = \"{}\"", "ŝ".repeat(200))),
        BASE.replace("name = \"VEGF\"", "name = \"\\u0000\""),
        BASE.replace("end = \"1 h\"", "end = \"1 h\"\ndt = \"1e-300 s\""),
        BASE.replace("end = \"1 h\"", "end = \"1e38 s\"\ndt = \"1e37 s\""),
        BASE.replace("cells = [20, 10, 1]", "cells = [1, 1, 1]")
            .replace("\"1 mm\", \"1 mm\"]", "\"1e30 m\", \"1e-30 m\"]"),
    ];
    // Every line of the base removed in turn, and every value replaced by odd ones.
    let lines: Vec<&str> = BASE.lines().collect();
    for i in 0..lines.len() {
        let mut l = lines.clone();
        l.remove(i);
        inputs.push(l.join("\n"));
    }
    for odd in [
        "\"\"",
        "\"nan mm\"",
        "\"inf s\"",
        "\"1e308 m\"",
        "\"1e-320 mm\"",
        "-1",
        "[]",
        "{}",
        "\"0 s\"",
        "\"µ\"",
        "\"1 m^-99\"",
        "\"1e40 pg/mL\"",
        "\"1e-39 pg/mL\"",
        "\"1e-400 m\"",
        "\"1e308 m^2/s\"",
        "\"1e-300 s\"",
        "\"3e38 1/s\"",
        "\"1e-40 1/s\"",
        "\"0 nM\"",
        "\"0 particles/mL\"",
        "[\"all\", \"all\"]",
        "\"\\u200b\"",
    ] {
        for (i, line) in lines.iter().enumerate() {
            if let Some((key, _)) = line.split_once(" = ") {
                let mut l = lines.clone();
                let replaced = format!("{key} = {odd}");
                l[i] = &replaced;
                inputs.push(l.join("\n"));
            }
        }
    }
    for text in &inputs {
        let result = std::panic::catch_unwind(|| scenario::from_str_with_memory(text, FILE, Some(1 << 30)));
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => assert!(e.to_string().contains(FILE), "{e}"),
            Err(_) => panic!("panicked on:\n{text}"),
        }
    }
}

#[test]
fn deeply_nested_toml_is_refused_without_overflowing_the_stack() {
    for text in
        [format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000)), format!("a = {}", "{ b = ".repeat(100_000))]
    {
        let err = scenario::from_str_with_memory(&text, FILE, None).unwrap_err();
        assert!(matches!(err, ScenarioError::Syntax { line: 1, .. }), "{err}");
    }
}

/// Values beyond f32 used to load and turn into inf or NaN in the engines (which hold lengths,
/// times, rates and diffusivities in f32 SI and concentrations in f32 in the species' unit).
#[test]
fn values_beyond_single_precision_are_refused_at_load() {
    let range = "3.403e38";
    let text = FIX.edit("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"1e40 pg/mL\" }");
    FIX.refused_on_line(&text, "species[0].initial.gel", "1e40", &["\"1e40 pg/mL\"", range, "pg/mL"]);
    let text = FIX.edit("tissue = \"41 um^2/s\"", "tissue = \"1e308 m^2/s\"");
    FIX.refused_on_line(&text, "species[0].diffusivity.tissue", "1e308", &["\"1e308 m^2/s\"", range, "m²/s"]);
    let text = FIX.edit("size = [\"2 mm\", \"1 mm\", \"1 mm\"]", "size = [\"1e308 m\", \"1 mm\", \"1 mm\"]");
    FIX.refused_on_line(&text, "grid.size[0]", "size", &["\"1e308 m\"", range]);
    let text = FIX.edit("value = \"0 pg/mL\"", "value = \"1e39 pg/mL\"");
    FIX.refused_on_line(&text, "boundary[0].value", "1e39", &[range]);
    let text = FIX.edit("end = \"1 h\"", "end = \"1e39 s\"");
    FIX.refused_on_line(&text, "time.end", "1e39", &[range]);
    let text = FIX.edit("rate = \"1 um/s\"", "rate = \"1e39 m/s\"");
    FIX.refused_on_line(&text, "boundary[1].rate", "1e39", &[range]);
    // A tiny half-life: a huge rate.
    let text = FIX.edit("tissue = \"3 h\"", "tissue = \"1e-300 s\"");
    FIX.refused_on_line(&text, "species[1].decay.tissue", "1e-300", &["ln 2 / half-life", range]);
    // Derived quantities: D/h² of a large but representable D on 0.1 mm cells.
    let text = FIX.edit("tissue = \"41 um^2/s\"", "tissue = \"1e35 m^2/s\"");
    FIX.refused_on_line(&text, "species[0].diffusivity.tissue", "1e35", &["D/h²", range]);
    // ... and D/h² times the run's end.
    let text = FIX
        .edit(
            "end = \"1 h\"\noutput_interval = \"10 min\"\nsnapshot_interval = \"30 min\"",
            "end = \"1e30 s\"\noutput_interval = \"1e29 s\"",
        )
        .replace("tissue = \"41 um^2/s\"", "tissue = \"1e20 m^2/s\"");
    FIX.refused_on_line(&text, "species[0].diffusivity.tissue", "1e20", &["D/h² × `time.end`", range]);
    // 1/h² of cells of 1e-25 m.
    let text = FIX.edit("size = [\"2 mm\", \"1 mm\", \"1 mm\"]", "size = [\"2e-24 m\", \"1 mm\", \"1 mm\"]");
    FIX.refused_on_line(&text, "grid.size[0]", "size", &["1/h²", range]);
    // A cell volume beyond f32: one cell of 5e18 m along each axis.
    let text = FIX
        .edit("size = [\"2 mm\", \"1 mm\", \"1 mm\"]", "size = [\"5e18 m\", \"5e18 m\", \"5e18 m\"]")
        .replace("cells = [20, 10, 1]", "cells = [1, 1, 1]");
    FIX.refused(&text, "grid.size", &["cell volume", range]);
    // A concentration whose field over the grid sums beyond f32.
    let text = FIX.edit("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"1e37 pg/mL\" }");
    FIX.refused_on_line(&text, "species[0].initial.gel", "1e37", &["sums to", range]);
}

/// Positive loadings below f32's normal range were flushed to zero by some engines and kept by
/// others, so the same scenario booked different amounts; they are refused at load.
#[test]
fn loadings_below_the_normal_f32_range_are_refused() {
    for (from, to, key) in [
        ("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"1e-39 pg/mL\" }", "species[0].initial.gel"),
        // Subnormal only once converted to the species' unit (1e-36 fg/mL = 1e-39 pg/mL).
        ("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"1e-36 fg/mL\" }", "species[0].initial.gel"),
        ("value = \"0 pg/mL\"", "value = \"1e-40 pg/mL\"", "boundary[0].value"),
    ] {
        let text = FIX.edit(from, to);
        FIX.refused(&text, key, &["too small to represent", "1.175e-38", "pg/mL"]);
    }
    // The smallest normal value itself loads.
    let text = FIX.edit("initial = { gel = \"30 pg/mL\" }", "initial = { gel = \"1.2e-38 pg/mL\" }");
    scenario::from_str_with_memory(&text, FILE, None).unwrap_or_else(|e| panic!("{e}"));
}

/// A boundary listing a species twice, or `all` beside a name, was accepted although the
/// docs say setting a face of a species twice is refused.
#[test]
fn a_species_listed_twice_on_a_boundary_is_refused() {
    let text = FIX.edit("species = [\"VEGF\"]", "species = [\"VEGF\", \"VEGF\"]");
    FIX.refused_on_line(
        &text,
        "boundary[1].species[1]",
        "species = [\"VEGF\", \"VEGF\"]",
        &["`VEGF`", "twice", "species[0]"],
    );
    let text = FIX.edit("species = [\"VEGF\"]", "species = [\"all\", \"VEGF\"]");
    FIX.refused(&text, "boundary[1].species[1]", &["`VEGF`", "already included by `all`", "boundary[1].species[0]"]);
    let text = FIX.edit("species = [\"VEGF\"]", "species = [\"IL-10\", \"all\"]");
    FIX.refused(&text, "boundary[1].species[0]", &["`IL-10`", "already included by `all`", "boundary[1].species[1]"]);
    let text = FIX.edit("species = [\"all\"]", "species = [\"all\", \"all\"]");
    FIX.refused(&text, "boundary[0].species[1]", &["`all`", "twice"]);
}

/// A 300-character species name passed `validate` and then failed mid-run writing its snapshot
/// (file names end at 255 bytes), leaving files behind; names are checked at load.
#[test]
fn species_names_too_long_for_a_file_name_are_refused() {
    let long = "x".repeat(101);
    let text = FIX.edit("name = \"IL-10\"", &format!("name = \"{long}\""));
    FIX.refused(&text, "species[1].name", &["101 bytes", "at most 100 bytes", "file name"]);
    // 51 two-byte characters: 102 bytes.
    let text = FIX.edit("name = \"IL-10\"", &format!("name = \"{}\"", "β".repeat(51)));
    FIX.refused(&text, "species[1].name", &["102 bytes"]);
    let text = FIX.edit("name = \"IL-10\"", &format!("name = \"{}\"", "x".repeat(100)));
    scenario::from_str_with_memory(&text, FILE, None).unwrap_or_else(|e| panic!("100 bytes is allowed: {e}"));
    for empty in ["", "  "] {
        let text = FIX.edit("name = \"IL-10\"", &format!("name = \"{empty}\""));
        FIX.refused(&text, "species[1].name", &["empty"]);
    }
    let text = FIX.edit("name = \"IL-10\"", "name = \"IL\\u0007-10\"");
    let msg = FIX.refused(&text, "species[1].name", &["control character", "\"IL\\u{7}-10\""]);
    assert!(!msg.contains('\u{7}'), "unescaped control character in: {msg}");
}

/// A positive value that underflows to 0 in f64 was called "not positive", and one that is
/// representable in f64 but not in f32 loaded (and became 0 in the engines).
#[test]
fn a_value_too_small_to_represent_is_called_so() {
    let text = FIX.edit("size = [\"2 mm\", \"1 mm\", \"1 mm\"]", "size = [\"2 mm\", \"1e-400 m\", \"1 mm\"]");
    let msg = FIX.refused(&text, "grid.size[1]", &["\"1e-400 m\"", "too small to represent", "underflows"]);
    assert!(!msg.contains("positive"), "{msg}");
    let text = FIX.edit("end = \"1 h\"", "end = \"1e-330 s\"");
    let msg = FIX.refused(&text, "time.end", &["too small to represent"]);
    assert!(!msg.contains("positive"), "{msg}");
    let text = FIX.edit("size = [\"2 mm\", \"1 mm\", \"1 mm\"]", "size = [\"2 mm\", \"1e-320 m\", \"1 mm\"]");
    let msg = FIX.refused(&text, "grid.size[1]", &["\"1e-320 m\"", "too small to represent", "1.175e-38"]);
    assert!(!msg.contains("positive"), "{msg}");
}

/// A missing `[time]` table was reported as the key `scenario.time` (the path of the file's
/// first key); a missing top-level table is now named as such.
#[test]
fn a_missing_top_level_table_is_named_as_a_table() {
    let text = FIX.edit("[time]\nend = \"1 h\"\noutput_interval = \"10 min\"\nsnapshot_interval = \"30 min\"\n", "");
    let msg = FIX.refused(&text, "time", &["missing table [time]"]);
    assert!(!msg.contains("scenario.time"), "{msg}");
    let species_start = BASE.find("[[species]]").unwrap();
    let species_end = BASE.find("[[boundary]]").unwrap();
    let text = format!("{}{}", &BASE[..species_start], &BASE[species_end..])
        .replace("species = [\"VEGF\"]", "species = [\"all\"]");
    FIX.refused(&text, "species", &["missing [[species]]"]);
}

/// A missing key was shown with the value of the key next to it (`region[0].axis` = "layer",
/// `boundary[0].value` = "fixed"), as if that were its value.
#[test]
fn a_missing_key_is_shown_without_another_keys_value() {
    for (from, to, key) in [
        ("axis = \"y\"\n", "", "region[0].axis"),
        ("value = \"0 pg/mL\"\n", "", "boundary[0].value"),
        ("rate = \"1 um/s\"\n", "", "boundary[1].rate"),
        (
            "diffusivity = { gel = \"112 um^2/s\", tissue = \"44 um^2/s\" }",
            "diffusivity = { gel = \"112 um^2/s\" }",
            "species[1].diffusivity.tissue",
        ),
    ] {
        let msg = FIX.refused(&FIX.edit(from, to), key, &[]);
        assert!(msg.contains(&format!("`{key}`: ")), "the missing key is given a value in: {msg}");
    }
}

/// Keys and names with invisible characters (zero-width space, control characters, a
/// byte-order mark) were printed raw, so the message looked like it named a valid key.
#[test]
fn invisible_characters_in_keys_and_names_are_escaped() {
    let text = FIX.edit("default_material = \"tissue\"", "\"default_material\\u200b\" = \"tissue\"");
    let msg = FIX.refused(&text, "grid.default_material\\u{200b}", &["unknown key"]);
    assert!(!msg.contains('\u{200b}'), "{msg}");
    let text = FIX.edit("[scenario]\nname = \"base\"", "[scenario]\n\"\\ufeffname\" = \"base\"\nname = \"x\"");
    let msg = FIX.refused(&text, "scenario.\\u{feff}name", &[]);
    assert!(!msg.contains('\u{feff}'), "{msg}");
    let text = FIX.edit("name = \"tissue\"", "name = \"tis\\u0007sue\\u200b\"");
    let msg = FIX.refused(&text, "grid.default_material", &["`tis\\u{7}sue\\u{200b}`"]);
    assert!(!msg.contains('\u{7}') && !msg.contains('\u{200b}'), "{msg}");
    let text = FIX.edit(
        "decay = { gel = \"24 h\", tissue = \"3 h\" }",
        "decay = { gel = \"24 h\", tissue = \"3 h\", \"gel\\t\" = \"1 h\" }",
    );
    let msg = FIX.refused(&text, "species[1].decay.gel\\t", &["no material named `gel\\t`"]);
    assert!(!msg.contains('\t'), "{msg}");
}

/// `"0 pg/mL"` for a species in nM without a molecular weight was refused as needing one;
/// zero is zero in every concentration unit.
#[test]
fn zero_in_any_concentration_unit_needs_no_conversion() {
    let text = FIX.edit("initial = { gel = \"42.5 pg/mL\" }", "initial = { gel = \"42.5 pg/mL\", tissue = \"0 nM\" }");
    let p = scenario::from_str_with_memory(&text, FILE, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.species[1].initial[1], 0.0);
    let text = FIX.edit("value = \"0 pg/mL\"", "value = \"0 particles/mL\"");
    let p = scenario::from_str_with_memory(&text, FILE, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.species.iter().all(|s| s.boundaries[2] == secretome::problem::Boundary::Fixed { value: 0.0 }));
    // A non-zero value still needs the molecular weight.
    let text = FIX.edit("initial = { gel = \"42.5 pg/mL\" }", "initial = { gel = \"42.5 pg/mL\", tissue = \"1 nM\" }");
    FIX.refused(&text, "species[1].initial.tissue", &["molecular_weight"]);
}

/// A fixed `dt` needing more steps than a u64 holds showed a wrapped step count
/// (18446744073709551556) in `validate`; a `dt` needing more than 1e9 steps is refused.
#[test]
fn a_fixed_step_needing_more_than_1e9_steps_is_refused() {
    for dt in ["1e-300 s", "1e-320 s"] {
        let text = FIX.edit("end = \"1 h\"", &format!("end = \"1 h\"\ndt = \"{dt}\""));
        FIX.refused_on_line(&text, "time.dt", "dt =", &["steps", "1e9", "scheme = \"adi\""]);
    }
    // Stable for the explicit scheme, but 3.6e11 steps.
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"explicit\"\ndt = \"1e-8 s\"");
    FIX.refused_on_line(&text, "time.dt", "dt =", &["3.600e11 steps", "1e9", "larger `dt`"]);
    // 9e8 steps are allowed.
    let text = FIX.edit("end = \"1 h\"", "end = \"1 h\"\nscheme = \"explicit\"\ndt = \"4e-6 s\"");
    scenario::from_str_with_memory(&text, FILE, None).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn region_names_are_kept_and_checked() {
    let named = FIX.edit("[[region]]\nmaterial = \"gel\"", "[[region]]\nname = \"sheet\"\nmaterial = \"gel\"");
    let p = scenario::from_str_with_memory(&named, FILE, Some(u64::MAX)).unwrap_or_else(|e| panic!("{e}"));
    // The sheet is y in [0.5, 1] mm of a 1 mm, 10-cell axis: 5 rows of 20 cells.
    assert_eq!(p.regions.len(), 1);
    assert_eq!(p.regions[0].name, "sheet");
    assert_eq!(p.regions[0].cells.len(), 100);
    assert_eq!(p.region_cells("sheet"), Some(p.regions[0].cells.clone()));
    assert_eq!(p.region_cells("tissue").map(|c| c.len()), Some(100), "materials are regions too");
    assert_eq!(p.region_cells("nowhere"), None);
    let unnamed = scenario::from_str_with_memory(BASE, FILE, Some(u64::MAX)).unwrap();
    assert_eq!(unnamed.regions[0].name, "region[0]");

    let twice = format!(
        "{}\n[[region]]\nname = \"sheet\"\nmaterial = \"gel\"\nshape = \"layer\"\naxis = \"x\"\nfrom = \"0 mm\"\nto = \"0.5 mm\"\n",
        named
    );
    FIX.refused(&twice, "region[1].name", &["\"sheet\"", "already the name", "a name of its own"]);
    let as_material = FIX.edit("[[region]]\nmaterial = \"gel\"", "[[region]]\nname = \"tissue\"\nmaterial = \"gel\"");
    FIX.refused(&as_material, "region[0].name", &["\"tissue\"", "already the name"]);
    let empty = FIX.edit("[[region]]\nmaterial = \"gel\"", "[[region]]\nname = \"\"\nmaterial = \"gel\"");
    FIX.refused(&empty, "region[0].name", &["empty or reserved"]);
}
