//! Site pools, binding, saturable uptake, conversion, clearance and linear uptake in scenario
//! files: correct input loads to the stated SI values, and every kind of bad input is refused
//! before any work with a message naming the file, the key (and line), the value and what would
//! be accepted.

mod common;

use common::refusals::Fixture;

use secretome::problem::{Form, Problem, Reaction};
use std::f64::consts::LN_2;

const FILE: &str = "reactions.toml";

const BASE: &str = r#"[scenario]
name = "reactions"

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
unit = "pg/mL"
molecular_weight = "45 kDa"
diffusivity = { gel = "105 um^2/s", tissue = "41 um^2/s" }
decay = { gel = "90 min", tissue = "33.7 min" }
clearance = { tissue = "0.0206 1/min" }
initial = { gel = "30 pg/mL" }

[[species]]
name = "FGF-2"
unit = "pg/mL"
molecular_weight = "17.2 kDa"
diffusivity = { gel = "145 um^2/s", tissue = "57 um^2/s" }
decay = { gel = "8 h", tissue = "21 min" }
initial = { gel = "80 pg/mL" }
initial_form = "free"

[[species]]
name = "IL-10"
unit = "pg/mL"
diffusivity = { gel = "112 um^2/s", tissue = "44 um^2/s" }
decay = { gel = "24 h", tissue = "3 h" }
uptake = { tissue = "1 h" }

[[species]]
name = "fragment"
unit = "nM"
diffusivity = { gel = "150 um^2/s", tissue = "60 um^2/s" }
decay = { gel = "0 1/s", tissue = "10 min" }

[[pool]]
name = "heparin"
density = { gel = "10 uM" }

[[pool]]
name = "hs"
density = { tissue = "0.75 uM" }

[[binding]]
species = "VEGF"
pool = "heparin"
k_on = "3.6e-4 1/(nM*h)"
K_d = "24 nM"

[[binding]]
species = "FGF-2"
pool = "heparin"
k_on = "1e5 /M/s"
k_off = "1e-3 1/s"

[[binding]]
species = "VEGF"
pool = "hs"
materials = ["tissue"]
k_on = "4.2e5 1/(M*s)"
k_off = "1e-2 1/s"

[[uptake]]
species = "VEGF"
materials = ["tissue"]
v_max = "0.5 pg/mL/h"
k_m = "10 pg/mL"

[[uptake]]
species = "IL-10"
materials = ["tissue"]
v_max = "2 pg/mL/h"
k_m = "50 pg/mL"
linear = true

[[conversion]]
from = "VEGF"
form = "bound"
to = "fragment"
materials = ["tissue"]
rate = "1 1/h"
"#;

const FIX: Fixture = Fixture { file: FILE, base: BASE };

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn species(p: &Problem, name: &str) -> usize {
    p.species.iter().position(|s| s.name == name).unwrap_or_else(|| panic!("no species {name}"))
}

fn material(p: &Problem, name: &str) -> usize {
    p.materials.iter().position(|m| m.name == name).unwrap_or_else(|| panic!("no material {name}"))
}

fn binding(p: &Problem, s: usize, m: usize) -> (usize, f64, f64) {
    let found = p.reactions.iter().find_map(|r| match *r {
        Reaction::Binding { material, species, pool, k_on, k_off } if species == s && material == m => {
            Some((pool, k_on, k_off))
        }
        _ => None,
    });
    found.unwrap_or_else(|| panic!("no binding of species {s} in material {m}: {:?}", p.reactions))
}

// ---------------------------------------------------------------------------------------------
// What correct input loads to.

#[test]
fn pools_and_bindings_load_in_si() {
    let p = FIX.load(BASE);
    let (gel, tissue) = (material(&p, "gel"), material(&p, "tissue"));
    let (vegf, fgf) = (species(&p, "VEGF"), species(&p, "FGF-2"));
    assert_eq!(p.pools.len(), 2);
    assert_eq!(p.pools[0].name, "heparin");
    assert!(close(p.pools[0].density[gel], 1e-2), "10 uM = 1e-2 mol/m³");
    assert_eq!(p.pools[0].density[tissue], 0.0, "materials not listed have no sites");
    assert!(close(p.pools[1].density[tissue], 7.5e-4), "0.75 uM = 7.5e-4 mol/m³");

    // 3.6e-4 1/(nM·h) = 3.6e-4 / (1e-6 mol/m³ · 3600 s) = 0.1 m³/(mol·s); K_d 24 nM = 2.4e-5 mol/m³.
    let (pool, k_on, k_off) = binding(&p, vegf, gel);
    assert_eq!(pool, 0);
    assert!(close(k_on, 0.1), "{k_on}");
    assert!(close(k_off, 2.4e-5 * 0.1), "k_off = K_d·k_on: {k_off}");
    // Default materials: where the pool has sites (the gel only).
    let (pool, k_on, k_off) = binding(&p, fgf, gel);
    assert_eq!(pool, 0);
    assert!(close(k_on, 100.0), "1e5 /M/s = 100 m³/(mol·s): {k_on}");
    assert!(close(k_off, 1e-3));
    let (pool, k_on, k_off) = binding(&p, vegf, tissue);
    assert_eq!(pool, 1);
    assert!(close(k_on, 420.0) && close(k_off, 1e-2));
    let bindings = p.reactions.iter().filter(|r| matches!(r, Reaction::Binding { .. })).count();
    assert_eq!(bindings, 3);
    assert_eq!(p.bound_species(), vec![vegf, fgf]);
}

#[test]
fn species_keys_load_in_si() {
    let p = FIX.load(BASE);
    let (gel, tissue) = (material(&p, "gel"), material(&p, "tissue"));
    let vegf = &p.species[species(&p, "VEGF")];
    assert!(close(vegf.clearance_rate[tissue], 0.0206 / 60.0));
    assert_eq!(vegf.clearance_rate[gel], 0.0, "materials not listed get no clearance");
    assert_eq!(vegf.uptake_rate, vec![0.0, 0.0]);
    assert!(vegf.initial_is_total, "initial_form defaults to total");
    assert!(!p.species[species(&p, "FGF-2")].initial_is_total);
    // Molar value of one unit: pg/mL = 1e-9 kg/m³ over 45 kg/mol; nM = 1e-6 mol/m³; none without
    // a molecular weight.
    assert!(close(vegf.molar_per_unit.unwrap(), 1e-9 / 45.0));
    assert!(close(p.species[species(&p, "fragment")].molar_per_unit.unwrap(), 1e-6));
    assert_eq!(p.species[species(&p, "IL-10")].molar_per_unit, None);
    // IL-10: a 1 h half-life of uptake plus the linear limit of [[uptake]], 2 pg/mL/h / 50 pg/mL.
    let il10 = &p.species[species(&p, "IL-10")];
    assert!(close(il10.uptake_rate[tissue], LN_2 / 3600.0 + 2.0 / 3600.0 / 50.0));
    assert_eq!(il10.uptake_rate[gel], 0.0);
    assert!(
        !p.reactions
            .iter()
            .any(|r| matches!(r, Reaction::Uptake { species, .. } if p.species[*species].name == "IL-10"))
    );
}

#[test]
fn particles_have_a_molar_value_through_avogadro() {
    let text = FIX.edit("unit = \"nM\"", "unit = \"particles/mL\"");
    let p = FIX.load(&text);
    let frag = &p.species[species(&p, "fragment")];
    assert!(close(frag.molar_per_unit.unwrap(), 1e6 / 6.022_140_76e23));
}

#[test]
fn saturable_uptake_in_the_species_unit_per_second() {
    let p = FIX.load(BASE);
    let (vegf, tissue) = (species(&p, "VEGF"), material(&p, "tissue"));
    let uptakes: Vec<&Reaction> = p.reactions.iter().filter(|r| matches!(r, Reaction::Uptake { .. })).collect();
    assert_eq!(uptakes.len(), 1);
    let Reaction::Uptake { material, species: s, vmax, km } = *uptakes[0] else { unreachable!() };
    assert_eq!((material, s), (tissue, vegf));
    assert!(close(vmax, 0.5 / 3600.0), "0.5 pg/mL/h in pg/mL per second: {vmax}");
    assert!(close(km, 10.0));
}

#[test]
fn molar_v_max_converts_to_a_mass_unit_through_the_molecular_weight() {
    // 1e-3 nM/s of a 45 kDa protein: 1e-3 × 45 ng/mL per second = 45 pg/mL/s; K_m 1 nM = 45000 pg/mL.
    let text = FIX.edit("v_max = \"0.5 pg/mL/h\"\nk_m = \"10 pg/mL\"", "v_max = \"1e-3 nM/s\"\nk_m = \"1 nM\"");
    let p = FIX.load(&text);
    let Some(&Reaction::Uptake { vmax, km, .. }) = p.reactions.iter().find(|r| matches!(r, Reaction::Uptake { .. }))
    else {
        panic!("no uptake term")
    };
    assert!(close(vmax, 45.0), "{vmax}");
    assert!(close(km, 45_000.0), "{km}");
}

#[test]
fn conversion_conserves_molecules() {
    let p = FIX.load(BASE);
    let (vegf, frag, tissue) = (species(&p, "VEGF"), species(&p, "fragment"), material(&p, "tissue"));
    let conversions: Vec<&Reaction> = p.reactions.iter().filter(|r| matches!(r, Reaction::Conversion { .. })).collect();
    assert_eq!(conversions.len(), 1);
    let Reaction::Conversion { material, from, form, to, rate, yield_ } = *conversions[0] else { unreachable!() };
    assert_eq!((material, from, form, to), (tissue, vegf, Form::Bound, frag));
    assert!(close(rate, 1.0 / 3600.0));
    // One pg/mL of VEGF is 1e-9/45 mol/m³ = (1e-9/45)/1e-6 nM of fragment.
    assert!(close(yield_, 1e-9 / 45.0 / 1e-6), "{yield_}");
}

#[test]
fn a_conversion_cycle_loads() {
    let text = FIX.with(
        r#"[[conversion]]
from = "fragment"
to = "VEGF"
materials = ["gel", "tissue"]
rate = "2 h"
"#,
    );
    let p = FIX.load(&text);
    let back: Vec<(usize, f64, f64)> = p
        .reactions
        .iter()
        .filter_map(|r| match *r {
            Reaction::Conversion { material, from, form: Form::Free, rate, yield_, .. }
                if from == species(&p, "fragment") =>
            {
                Some((material, rate, yield_))
            }
            _ => None,
        })
        .collect();
    assert_eq!(back.len(), 2);
    for (_, rate, yield_) in back {
        assert!(close(rate, LN_2 / 7200.0), "a half-life of 2 h");
        assert!(close(yield_, 1e-6 / (1e-9 / 45.0)));
    }
}

#[test]
fn two_species_of_the_same_unit_without_molecular_weights_convert_one_to_one() {
    let text = FIX.with(
        r#"[[species]]
name = "IL-10b"
unit = "pg/mL"
diffusivity = { gel = "112 um^2/s", tissue = "44 um^2/s" }
decay = { gel = "24 h", tissue = "3 h" }

[[conversion]]
from = "IL-10"
to = "IL-10b"
materials = ["tissue"]
rate = "0.5 1/h"
"#,
    );
    let p = FIX.load(&text);
    let found = p.reactions.iter().any(|r| matches!(*r, Reaction::Conversion { yield_, .. } if yield_ == 1.0));
    assert!(found, "{:?}", p.reactions);
}

/// The plain-gel twin of a heparin gel: a pool of no sites anywhere, and bindings whose default
/// materials are then none, load as a problem without binding terms.
#[test]
fn a_pool_without_sites_gives_no_binding_terms() {
    let text = FIX.edit("density = { gel = \"10 uM\" }", "density = { gel = \"0 uM\" }");
    let p = FIX.load(&text);
    let gel = material(&p, "gel");
    assert_eq!(p.pools[0].density[gel], 0.0);
    assert!(!p.reactions.iter().any(|r| matches!(r, Reaction::Binding { material, .. } if *material == gel)));
    assert_eq!(p.bound_species(), vec![species(&p, "VEGF")], "VEGF still binds hs in the tissue");
}

#[test]
fn zero_rates_give_no_terms() {
    let text = FIX.edit("rate = \"1 1/h\"", "rate = \"0 1/h\"");
    assert!(!FIX.load(&text).reactions.iter().any(|r| matches!(r, Reaction::Conversion { .. })));
    let text = FIX.edit("v_max = \"0.5 pg/mL/h\"", "v_max = \"0 pg/mL/h\"");
    assert!(!FIX.load(&text).reactions.iter().any(|r| matches!(r, Reaction::Uptake { .. })));
}

// ---------------------------------------------------------------------------------------------
// [[species]]: clearance, uptake, initial_form.

#[test]
fn negative_clearance_is_refused() {
    let text = FIX.edit("clearance = { tissue = \"0.0206 1/min\" }", "clearance = { tissue = \"-0.0206 1/min\" }");
    FIX.refused_at(
        &text,
        "species[0].clearance.tissue",
        "-0.0206",
        &["clearance rate cannot be negative", "a rate ≥ 0"],
    );
    let text = FIX.edit("clearance = { tissue = \"0.0206 1/min\" }", "clearance = { tissue = \"0 h\" }");
    FIX.refused_at(&text, "species[0].clearance.tissue", "0 h", &["half-life must be positive", "a half-life > 0"]);
    let text = FIX.edit("clearance = { tissue = \"0.0206 1/min\" }", "clearance = { skin = \"1 1/h\" }");
    FIX.refused_at(&text, "species[0].clearance.skin", "skin", &["no material named `skin`", "`gel`, `tissue`"]);
}

#[test]
fn negative_or_mistyped_linear_uptake_is_refused() {
    let text = FIX.edit("uptake = { tissue = \"1 h\" }", "uptake = { tissue = \"-1 1/h\" }");
    FIX.refused_at(&text, "species[2].uptake.tissue", "-1 1/h", &["uptake rate cannot be negative", "a rate ≥ 0"]);
    let text = FIX.edit("uptake = { tissue = \"1 h\" }", "uptake = { tissue = \"1 mm\" }");
    FIX.refused_at(&text, "species[2].uptake.tissue", "\"1 mm\" }", &["half-life", "rate"]);
}

#[test]
fn a_loss_rate_beyond_single_precision_is_refused() {
    // Each rate × `time.end` (1 h) fits in f32; their sum × `time.end` does not.
    let text = FIX.edit("uptake = { tissue = \"1 h\" }", "uptake = { tissue = \"6e34 1/s\" }");
    let text = text.replace("tissue = \"3 h\" }", "tissue = \"6e34 1/s\" }");
    FIX.refused_at(&text, "species[2].uptake.tissue", "uptake = { tissue", &["decay + clearance + uptake", "3.403e38"]);
}

#[test]
fn unknown_initial_form_is_refused() {
    let text = FIX.edit("initial_form = \"free\"", "initial_form = \"bound\"");
    FIX.refused_on_line(&text, "species[1].initial_form", "initial_form", &["`total`", "`free`"]);
}

// ---------------------------------------------------------------------------------------------
// [[pool]].

#[test]
fn pool_names_are_checked() {
    let text = FIX.edit("name = \"hs\"", "name = \"heparin\"");
    FIX.refused_at(
        &text,
        "pool[1].name",
        "name = \"heparin\"\ndensity = { tissue",
        &["duplicate", "each pool name once"],
    );
    let text = FIX.edit("name = \"hs\"", "name = \"VEGF\"");
    FIX.refused_at(&text, "pool[1].name", "name = \"VEGF\"\ndensity", &["species or a material", "a name of its own"]);
    let text = FIX.edit("name = \"hs\"", "name = \"tissue\"");
    FIX.refused_at(
        &text,
        "pool[1].name",
        "name = \"tissue\"\ndensity",
        &["species or a material", "a name of its own"],
    );
    let text = FIX.edit("name = \"hs\"", "name = \"\"");
    FIX.refused_at(&text, "pool[1].name", "name = \"\"", &["empty", "a non-empty name"]);
}

#[test]
fn pool_densities_are_molar_and_not_negative() {
    let text = FIX.edit("density = { gel = \"10 uM\" }", "density = { gel = \"-10 uM\" }");
    FIX.refused_at(&text, "pool[0].density.gel", "-10 uM", &["cannot be negative", "a molar concentration ≥ 0"]);
    let text = FIX.edit("density = { gel = \"10 uM\" }", "density = { gel = \"10 ng/mL\" }");
    FIX.refused_at(&text, "pool[0].density.gel", "10 ng/mL", &["molar concentration", "uM"]);
    let text = FIX.edit("density = { gel = \"10 uM\" }", "density = { bone = \"10 uM\" }");
    FIX.refused_at(&text, "pool[0].density.bone", "bone", &["no material named `bone`", "`gel`, `tissue`"]);
    let text = FIX.edit("density = { gel = \"10 uM\" }", "density = { gel = \"1e40 M\" }");
    FIX.refused_at(&text, "pool[0].density.gel", "1e40 M", &["single-precision", "3.403e38 mol/m³"]);
}

#[test]
fn missing_pool_keys_are_named() {
    let text = FIX.edit("density = { tissue = \"0.75 uM\" }\n", "");
    FIX.refused(&text, "pool[1].density", &["missing"]);
    let text = FIX.with("[[pool]]\nname = \"x\"\ndensity = { gel = \"1 uM\" }\nsites = \"1 uM\"\n");
    FIX.refused(&text, "pool[2].sites", &["unknown key", "`density`"]);
}

// ---------------------------------------------------------------------------------------------
// [[binding]].

const VEGF_HS: &str = "k_on = \"4.2e5 1/(M*s)\"\nk_off = \"1e-2 1/s\"";

#[test]
fn non_positive_dissociation_constant_is_refused() {
    for kd in ["0 nM", "-24 nM"] {
        let text = FIX.edit("K_d = \"24 nM\"", &format!("K_d = \"{kd}\""));
        FIX.refused_at(
            &text,
            "binding[0].K_d",
            kd,
            &["binding must be reversible", "K_d must be positive", "`K_d` (a molar"],
        );
    }
    let text = FIX.edit("K_d = \"24 nM\"", "K_d = \"24 ng/mL\"");
    FIX.refused_at(&text, "binding[0].K_d", "24 ng/mL", &["molar concentration", "nM"]);
}

#[test]
fn non_positive_k_off_is_refused() {
    for k_off in ["0 1/s", "-1e-2 1/s"] {
        let text = FIX.edit(VEGF_HS, &format!("k_on = \"4.2e5 1/(M*s)\"\nk_off = \"{k_off}\""));
        FIX.refused_at(
            &text,
            "binding[2].k_off",
            &format!("k_off = \"{k_off}\""),
            &["binding must be reversible", "k_off must be positive", "a dissociation rate > 0"],
        );
    }
}

#[test]
fn non_positive_k_on_is_refused() {
    for k_on in ["0 1/(M*s)", "-1e5 1/(M*s)"] {
        let text = FIX.edit(VEGF_HS, &format!("k_on = \"{k_on}\"\nk_off = \"1e-2 1/s\""));
        FIX.refused_at(&text, "binding[2].k_on", k_on, &["must be positive", "k_on > 0"]);
    }
}

#[test]
fn k_on_needs_the_dimension_of_an_association_rate() {
    let text = FIX.edit(VEGF_HS, "k_on = \"4.2e5 1/s\"\nk_off = \"1e-2 1/s\"");
    FIX.refused_at(&text, "binding[2].k_on", "4.2e5 1/s", &["association rate constant", "1/(M*s)"]);
    let text = FIX.edit(VEGF_HS, "k_on = \"4.2e5 1/(M*s\"\nk_off = \"1e-2 1/s\"");
    FIX.refused_at(&text, "binding[2].k_on", "4.2e5 1/(M*s", &["cannot read the unit", "1/(nM*h)"]);
    let text = FIX.edit(VEGF_HS, "k_on = \"1e45 1/(M*s)\"\nk_off = \"1e-2 1/s\"");
    FIX.refused_at(&text, "binding[2].k_on", "1e45", &["single-precision", "m³/(mol·s)"]);
}

#[test]
fn both_or_neither_of_k_off_and_k_d_is_refused() {
    let text = FIX.edit("K_d = \"24 nM\"", "K_d = \"24 nM\"\nk_off = \"1e-2 1/s\"");
    FIX.refused_at(&text, "binding[0].K_d", "K_d = \"24 nM\"", &["both `k_off` and `K_d`", "exactly one of `k_off`"]);
    let text = FIX.edit("K_d = \"24 nM\"\n", "");
    FIX.refused_at(
        &text,
        "binding[0].k_off",
        "k_on = \"3.6e-4",
        &["neither `k_off` nor `K_d`", "exactly one of `k_off`"],
    );
}

#[test]
fn a_pool_named_but_never_defined_is_refused() {
    let text = FIX.edit("pool = \"hs\"", "pool = \"HS\"");
    FIX.refused_at(&text, "binding[2].pool", "\"HS\"", &["a site pool named but never defined", "`heparin`, `hs`"]);
    // With no pools at all.
    let mut text = BASE.replace("[[pool]]\nname = \"heparin\"\ndensity = { gel = \"10 uM\" }\n", "");
    text = text.replace("[[pool]]\nname = \"hs\"\ndensity = { tissue = \"0.75 uM\" }\n", "");
    FIX.refused_at(&text, "binding[0].pool", "\"heparin\"", &["never defined", "none is defined"]);
}

#[test]
fn binding_of_an_unknown_species_is_refused() {
    let text = FIX.edit("species = \"FGF-2\"", "species = \"FGF2\"");
    FIX.refused_at(
        &text,
        "binding[1].species",
        "\"FGF2\"",
        &["no species of this name", "`VEGF`, `FGF-2`, `IL-10`, `fragment`"],
    );
}

#[test]
fn binding_where_the_pool_has_no_sites_is_refused() {
    let text =
        FIX.edit("materials = [\"tissue\"]\nk_on = \"4.2e5", "materials = [\"gel\", \"tissue\"]\nk_on = \"4.2e5");
    FIX.refused_at(
        &text,
        "binding[2].materials[0]",
        "materials = [\"gel\", \"tissue\"]",
        &[
            "a binding species with no site pool in that material",
            "pool `hs` has no sites (density 0) in `gel`",
            "`tissue`",
        ],
    );
    let text = FIX.edit("materials = [\"tissue\"]\nk_on = \"4.2e5", "materials = [\"bone\"]\nk_on = \"4.2e5");
    FIX.refused_at(&text, "binding[2].materials[0]", "\"bone\"", &["no material of this name", "`gel`, `tissue`"]);
    let text = FIX.edit("materials = [\"tissue\"]\nk_on = \"4.2e5", "materials = []\nk_on = \"4.2e5");
    FIX.refused_at(&text, "binding[2].materials", "materials = []", &["empty", "one or more material names"]);
}

#[test]
fn binding_a_species_without_molecular_weight_is_refused() {
    let text = FIX.with("[[binding]]\nspecies = \"IL-10\"\npool = \"hs\"\nk_on = \"1e5 1/(M*s)\"\nK_d = \"10 nM\"\n");
    FIX.refused_at(
        &text,
        "binding[3].species",
        "species = \"IL-10\"\npool",
        &["no `molecular_weight`", "give species `IL-10` a `molecular_weight`"],
    );
}

#[test]
fn two_bindings_of_a_species_in_one_material_are_refused() {
    // Both pools with sites in the tissue: VEGF may bind only one of them there.
    let text = FIX.edit("density = { gel = \"10 uM\" }", "density = { gel = \"10 uM\", tissue = \"1 uM\" }");
    let text = text.replace(
        "species = \"VEGF\"\npool = \"heparin\"\nk_on = \"3.6e-4 1/(nM*h)\"\nK_d = \"24 nM\"\n",
        "species = \"VEGF\"\npool = \"heparin\"\nmaterials = [\"gel\", \"tissue\"]\nk_on = \"3.6e-4 1/(nM*h)\"\nK_d = \"24 nM\"\n",
    );
    FIX.refused_at(
        &text,
        "binding[2].materials[0]",
        "materials = [\"tissue\"]",
        &["`VEGF` already binds in `tissue` (`binding[0]`)", "only one pool per species per material"],
    );
    // The same binding twice, by default materials.
    let text = FIX.with("[[binding]]\nspecies = \"FGF-2\"\npool = \"heparin\"\nk_on = \"1e5 /M/s\"\nK_d = \"2 nM\"\n");
    FIX.refused_at(
        &text,
        "binding[3].species",
        "\"FGF-2\"\npool = \"heparin\"\nk_on = \"1e5 /M/s\"\nK_d",
        &["already binds in `gel`", "one binding per species and material"],
    );
}

// ---------------------------------------------------------------------------------------------
// [[uptake]].

#[test]
fn negative_v_max_is_refused() {
    let text = FIX.edit("v_max = \"0.5 pg/mL/h\"", "v_max = \"-0.5 pg/mL/h\"");
    FIX.refused_at(&text, "uptake[0].v_max", "-0.5", &["cannot be negative", "a concentration per time ≥ 0"]);
    let text = FIX.edit("v_max = \"0.5 pg/mL/h\"", "v_max = \"0.5 pg/mL\"");
    FIX.refused_at(&text, "uptake[0].v_max", "0.5 pg/mL\"", &["concentration per time", "pg/mL/h"]);
    // IL-10 has no molecular weight: a molar rate cannot become pg/mL.
    let text = FIX.edit("v_max = \"2 pg/mL/h\"", "v_max = \"1 nM/h\"");
    FIX.refused_at(&text, "uptake[1].v_max", "1 nM/h", &["molecular_weight"]);
}

#[test]
fn non_positive_k_m_is_refused() {
    for km in ["0 pg/mL", "-10 pg/mL"] {
        let text = FIX.edit("k_m = \"10 pg/mL\"", &format!("k_m = \"{km}\""));
        FIX.refused_at(
            &text,
            "uptake[0].k_m",
            &format!("k_m = \"{km}\""),
            &["must be positive", "a concentration > 0"],
        );
    }
}

#[test]
fn uptake_names_species_and_materials_that_exist() {
    let text = FIX.edit("species = \"IL-10\"\nmaterials", "species = \"IL10\"\nmaterials");
    FIX.refused_at(&text, "uptake[1].species", "\"IL10\"", &["no species of this name", "`IL-10`"]);
    let text = FIX.edit("materials = [\"tissue\"]\nv_max = \"0.5", "v_max = \"0.5");
    FIX.refused(&text, "uptake[0].materials", &["missing"]);
    let text =
        FIX.edit("materials = [\"tissue\"]\nv_max = \"0.5", "materials = [\"tissue\", \"tissue\"]\nv_max = \"0.5");
    FIX.refused_at(
        &text,
        "uptake[0].materials[1]",
        "[\"tissue\", \"tissue\"]",
        &["listed twice", "each material once"],
    );
}

// ---------------------------------------------------------------------------------------------
// [[conversion]].

#[test]
fn conversion_of_an_unknown_species_is_refused() {
    let text = FIX.edit("to = \"fragment\"", "to = \"fragments\"");
    FIX.refused_at(&text, "conversion[0].to", "\"fragments\"", &["no species of this name", "`fragment`"]);
    let text = FIX.edit("from = \"VEGF\"", "from = \"VEGF165\"");
    FIX.refused_at(&text, "conversion[0].from", "\"VEGF165\"", &["no species of this name", "`VEGF`"]);
}

#[test]
fn conversion_into_itself_is_refused() {
    let text = FIX.edit("to = \"fragment\"", "to = \"VEGF\"");
    FIX.refused_at(&text, "conversion[0].to", "to = \"VEGF\"", &["the same species as `from`", "another species"]);
}

#[test]
fn negative_conversion_rate_is_refused() {
    let text = FIX.edit("rate = \"1 1/h\"", "rate = \"-1 1/h\"");
    FIX.refused_at(&text, "conversion[0].rate", "-1 1/h", &["conversion rate cannot be negative", "a rate ≥ 0"]);
    let text = FIX.edit("rate = \"1 1/h\"", "rate = \"0 h\"");
    FIX.refused_at(&text, "conversion[0].rate", "rate = \"0 h\"", &["half-life must be positive", "a half-life > 0"]);
}

#[test]
fn two_conversions_of_one_form_in_one_material_are_refused() {
    let text = FIX.with(
        "[[conversion]]\nfrom = \"VEGF\"\nform = \"bound\"\nto = \"FGF-2\"\nmaterials = [\"tissue\"]\nrate = \"2 1/h\"\n",
    );
    FIX.refused_at(
        &text,
        "conversion[1].materials[0]",
        "materials = [\"tissue\"]\nrate = \"2 1/h\"",
        &[
            "the bound form of `VEGF` already converts in `tissue` (`conversion[0]`)",
            "one conversion per species, form",
        ],
    );
    // The free form may convert beside the bound one.
    let text =
        FIX.with("[[conversion]]\nfrom = \"VEGF\"\nto = \"fragment\"\nmaterials = [\"tissue\"]\nrate = \"2 1/h\"\n");
    FIX.load(&text);
}

#[test]
fn conversion_of_a_bound_form_needs_binding_there() {
    let text =
        FIX.edit("materials = [\"tissue\"]\nrate = \"1 1/h\"", "materials = [\"tissue\", \"gel\"]\nrate = \"1 1/h\"");
    FIX.load(&text); // VEGF binds heparin in the gel and hs in the tissue
    let text = BASE.replace("from = \"VEGF\"\nform = \"bound\"", "from = \"fragment\"\nform = \"bound\"");
    let text = text.replace("to = \"fragment\"\nmaterials", "to = \"VEGF\"\nmaterials");
    FIX.refused_at(
        &text,
        "conversion[0].materials[0]",
        "materials = [\"tissue\"]\nrate",
        &[
            "`fragment` does not bind in `tissue`, so it has no bound form there",
            "`fragment` binds nowhere",
            "form = \"free\"",
        ],
    );
    let text = FIX.edit("form = \"bound\"", "form = \"complexed\"");
    FIX.refused_on_line(&text, "conversion[0].form", "complexed", &["`free`", "`bound`"]);
}

#[test]
fn conversion_yield_needs_molecular_weights() {
    let text =
        FIX.with("[[conversion]]\nfrom = \"IL-10\"\nto = \"fragment\"\nmaterials = [\"tissue\"]\nrate = \"1 1/h\"\n");
    FIX.refused_at(
        &text,
        "conversion[1].from",
        "from = \"IL-10\"",
        &["species `IL-10` (in `pg/mL`) has no `molecular_weight`", "give `IL-10` a `molecular_weight`"],
    );
    let text = FIX.with("[[conversion]]\nfrom = \"VEGF\"\nto = \"IL-10\"\nmaterials = [\"gel\"]\nrate = \"1 1/h\"\n");
    FIX.refused_at(&text, "conversion[1].to", "to = \"IL-10\"", &["`IL-10`", "give `IL-10` a `molecular_weight`"]);
}
