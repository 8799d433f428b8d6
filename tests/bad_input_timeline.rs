//! Dosing schedules and degrading gels in scenario files: correct input loads to the stated
//! times, loadings and rates, and every kind of bad input is refused before any work with a
//! message naming the file, the key, the line, the value and what would be accepted.

mod common;

use common::refusals::Fixture;
use secretome::problem::{DiffusivityChange, DoseMode};

const FILE: &str = "timeline.toml";

const BASE: &str = r#"[scenario]
name = "timeline"

[grid]
size = ["2 mm", "1 mm", "1 mm"]
cells = [20, 10, 1]
default_material = "tissue"

[time]
end = "2 d"
output_interval = "6 h"

[[material]]
name = "gel"
role = "depot"

[[material]]
name = "tissue"
role = "tissue"

[[region]]
name = "sheet"
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

[[pool]]
name = "heparin"
density = { gel = "10 uM" }

[[binding]]
species = "VEGF"
pool = "heparin"
k_on = "4.2e5 1/(M*s)"
K_d = "24 nM"

[[dose]]
region = "sheet"
mode = "replace"
every = "12 h"
until = "36 h"

[[degradation]]
material = "gel"
diffusivity_rate = "0.35 1/d"
diffusivity_max_factor = 10
site_loss = "3 d"
"#;

const FIX: Fixture = Fixture { file: FILE, base: BASE };

#[test]
fn the_base_loads_with_its_schedule_and_degradation() {
    let p = FIX.load(BASE);
    let times: Vec<f64> = p.timeline.doses.iter().map(|d| d.time).collect();
    assert_eq!(times, vec![43200.0, 86400.0, 129600.0]);
    assert!(p.timeline.doses.iter().all(|d| d.mode == DoseMode::Replace && d.region == "sheet"));
    // Without a `load` table every application carries the initial loading.
    assert_eq!(p.timeline.doses[0].load[0], p.species[0].initial);
    assert!((p.timeline.doses[0].load[0][0] - 30.0).abs() < 1e-12 && p.timeline.doses[0].load[0][1] == 0.0);
    let d = &p.timeline.degradation[0];
    assert_eq!(d.material, 0);
    let DiffusivityChange::Exponential { rate, max_factor } = d.diffusivity else { panic!("{:?}", d.diffusivity) };
    assert!((rate - 0.35 / 86400.0).abs() < 1e-18 && max_factor == 10.0);
    assert!((d.site_loss_rate - std::f64::consts::LN_2 / (3.0 * 86400.0)).abs() < 1e-18);
    // The default cadence: a 1 % change at the fastest rate.
    assert!((d.interval - 0.01 / rate).abs() < 1e-9);
}

#[test]
fn explicit_times_counts_and_loads_combine() {
    let text = FIX.edit(
        "every = \"12 h\"\nuntil = \"36 h\"",
        "every = \"10 h\"\nstart = \"1 h\"\ncount = 3\ntimes = [\"40 h\"]\nload = { VEGF = \"1 ng/mL\" }",
    );
    let p = FIX.load(&text);
    let times: Vec<f64> = p.timeline.doses.iter().map(|d| d.time / 3600.0).collect();
    assert_eq!(times, vec![1.0, 11.0, 21.0, 40.0]);
    assert!(p.timeline.doses[0].load[0].iter().all(|&c| (c - 1000.0).abs() < 1e-9), "{:?}", p.timeline.doses[0].load);
}

#[test]
fn a_schedule_past_the_end_of_the_run_is_refused() {
    let text = FIX.edit("until = \"36 h\"", "until = \"3 d\"");
    FIX.refused_at(&text, "dose[0].until", "until = \"3 d\"", &["past the end of the run", "48 h"]);
    let text = FIX.edit("until = \"36 h\"", "count = 4");
    FIX.refused_at(&text, "dose[0].count", "every = \"12 h\"", &["application 4", "48 h"]);
    let text = FIX.edit("until = \"36 h\"", "until = \"36 h\"\ntimes = [\"50 h\"]");
    FIX.refused_at(&text, "dose[0].times[0]", "times = ", &["past the end"]);
    let text = FIX.edit("until = \"36 h\"", "until = \"36 h\"\ntimes = [\"0 h\"]");
    FIX.refused_at(&text, "dose[0].times[0]", "times = ", &["initial loading"]);
}

#[test]
fn an_interval_of_zero_or_less_is_refused() {
    for bad in ["0 h", "-12 h"] {
        let text = FIX.edit("every = \"12 h\"", &format!("every = \"{bad}\""));
        FIX.refused_at(&text, "dose[0].every", "every =", &["must be positive"]);
    }
    let text = FIX.edit("every = \"12 h\"", "every = \"1 s\"");
    FIX.refused_at(&text, "dose[0].every", "every =", &["applications"]);
}

#[test]
fn incomplete_or_contradictory_schedules_are_refused() {
    let text = FIX.edit("until = \"36 h\"", "");
    FIX.refused_on_line(&text, "dose[0].until", "every =", &["`every` without `until` or `count`"]);
    let text = FIX.edit("until = \"36 h\"", "until = \"36 h\"\ncount = 2");
    FIX.refused_at(&text, "dose[0].count", "count = 2", &["both"]);
    let text = FIX.edit("every = \"12 h\"\n", "");
    FIX.refused_at(&text, "dose[0].until", "until =", &["without `every`"]);
    let text = FIX.edit("until = \"36 h\"", "start = \"40 h\"\nuntil = \"36 h\"");
    FIX.refused_at(&text, "dose[0].until", "until =", &["before the first application"]);
    let text = FIX.edit("every = \"12 h\"\nuntil = \"36 h\"", "");
    FIX.refused_on_line(&text, "dose[0].times", "region = \"sheet\"", &["no application times"]);
}

#[test]
fn dose_regions_modes_and_loads_are_checked() {
    let text = FIX.edit("region = \"sheet\"", "region = \"sheeet\"");
    FIX.refused_at(&text, "dose[0].region", "region = \"sheeet\"", &["sheet", "gel", "tissue"]);
    let text = FIX.edit("mode = \"replace\"", "mode = \"swap\"");
    FIX.refused_on_line(&text, "dose[0].mode", "mode = \"swap\"", &["replace", "add"]);
    let text = FIX.edit("until = \"36 h\"", "until = \"36 h\"\nload = { FGF2 = \"1 ng/mL\" }");
    FIX.refused_at(&text, "dose[0].load.FGF2", "load =", &["VEGF"]);
    let text = FIX.edit("until = \"36 h\"", "until = \"36 h\"\nload = { VEGF = \"-1 ng/mL\" }");
    FIX.refused_at(&text, "dose[0].load.VEGF", "load =", &["negative"]);
    let text = FIX.edit("until = \"36 h\"", "until = \"36 h\"\nload = { VEGF = \"1 ng\" }");
    FIX.refused_at(&text, "dose[0].load.VEGF", "load =", &[]);
    let text = FIX
        .edit("mode = \"replace\"", "mode = \"add\"")
        .replace("until = \"36 h\"", "until = \"36 h\"\nload = { VEGF = \"0 pg/mL\" }");
    FIX.refused_at(&text, "dose[0].load", "load =", &["adds nothing"]);
}

#[test]
fn degradation_that_lowers_d_to_zero_or_raises_sites_is_refused() {
    let table = "diffusivity_factor = [[\"0 d\", 1.0], [\"1 d\", 0.0]]";
    let text = FIX.edit("diffusivity_rate = \"0.35 1/d\"\ndiffusivity_max_factor = 10", table);
    FIX.refused_at(&text, "degradation[0].diffusivity_factor[1]", "diffusivity_factor", &["zero or negative"]);
    let text = FIX.edit("site_loss = \"3 d\"", "site_loss = \"-0.1 1/d\"");
    FIX.refused_at(&text, "degradation[0].site_loss", "site_loss", &["sites rise"]);
    let text = FIX.edit("diffusivity_rate = \"0.35 1/d\"", "diffusivity_rate = \"-0.35 1/d\"");
    FIX.refused_at(&text, "degradation[0].diffusivity_rate", "diffusivity_rate", &["≥ 0"]);
    let text = FIX.edit("diffusivity_max_factor = 10", "diffusivity_max_factor = 0.5");
    FIX.refused_at(&text, "degradation[0].diffusivity_max_factor", "diffusivity_max_factor", &["below 1"]);
    let table = "diffusivity_factor = [[\"2 d\", 1.0], [\"1 d\", 2.0]]";
    let text = FIX.edit("diffusivity_rate = \"0.35 1/d\"\ndiffusivity_max_factor = 10", table);
    FIX.refused_at(&text, "degradation[0].diffusivity_factor[1]", "diffusivity_factor", &["time order"]);
}

#[test]
fn degradation_entries_must_say_what_degrades_once_per_material() {
    let text = FIX.edit("diffusivity_rate = \"0.35 1/d\"\ndiffusivity_max_factor = 10\nsite_loss = \"3 d\"", "");
    FIX.refused_at(&text, "degradation[0].material", "material = \"gel\"\n\n", &["nothing degrades"]);
    let text = FIX.with("[[degradation]]\nmaterial = \"gel\"\nsite_loss = \"1 d\"");
    FIX.refused_at(&text, "degradation[1].material", "material = \"gel\"\nsite_loss = \"1 d\"", &["already degrades"]);
    let text = FIX.edit("material = \"gel\"\ndiffusivity_rate", "material = \"bone\"\ndiffusivity_rate");
    FIX.refused_at(&text, "degradation[0].material", "material = \"bone\"", &["gel", "tissue"]);
    let text = FIX.edit("site_loss = \"3 d\"", "site_loss = \"3 d\"\nupdate_interval = \"0 s\"");
    FIX.refused_at(&text, "degradation[0].update_interval", "update_interval", &["positive"]);
    let text = FIX.edit("diffusivity_rate = \"0.35 1/d\"", "diffusivity_rate = \"1 1/s\"");
    FIX.refused_at(&text, "degradation[0].diffusivity_rate", "diffusivity_rate", &["overflow"]);
}

/// A gel with the Amsden mesh model (mesh 20 nm, fibres 1.5 nm) loosening at 0.5 /d: VEGF's D
/// in it (from its D in water and a 3 nm radius) follows the model at every time.
#[test]
fn a_loosening_mesh_gives_the_model_diffusivity_at_every_time() {
    let text = FIX
        .edit("[[material]]\nname = \"gel\"\nrole = \"depot\"", "[[material]]\nname = \"gel\"\nrole = \"depot\"\nmesh_size = \"20 nm\"\nfiber_radius = \"1.5 nm\"")
        .replace("diffusivity = { gel = \"105 um^2/s\", tissue = \"41 um^2/s\" }", "diffusivity_water = \"105 um^2/s\"\nhydrodynamic_radius = \"3 nm\"\ndiffusivity = { tissue = \"41 um^2/s\" }")
        .replace("diffusivity_rate = \"0.35 1/d\"\ndiffusivity_max_factor = 10", "mesh_rate = \"0.5 1/d\"");
    let p = FIX.load(&text);
    let amsden = |xi: f64| (-std::f64::consts::PI * ((3e-9 + 1.5e-9) / (xi + 3e-9)).powi(2)).exp();
    let d0 = p.species[0].diffusivity[0];
    assert!((d0 - 105e-12 * amsden(20e-9)).abs() <= 1e-9 * d0, "D_gel(0) = {d0}");
    for days in [0.5, 2.0, 7.0] {
        let t = days * 86400.0;
        let d = p.coefficients_at(t, t).species[0].diffusivity[0];
        let want = 105e-12 * amsden(20e-9 * (0.5 * days).exp());
        assert!((d - want).abs() <= 1e-9 * want, "D_gel at {days} d = {d}, the model gives {want}");
        assert!(d > d0);
    }
    // Tissue is untouched.
    assert_eq!(p.coefficients_at(86400.0, 0.0).species[0].diffusivity[1], p.species[0].diffusivity[1]);
    // Without a mesh model on the material, or beside another law for D, it is refused.
    let text = FIX.edit("diffusivity_rate = \"0.35 1/d\"\ndiffusivity_max_factor = 10", "mesh_rate = \"0.5 1/d\"");
    FIX.refused_at(&text, "degradation[0].mesh_rate", "mesh_rate", &["no mesh model"]);
    let text = FIX.edit("diffusivity_max_factor = 10", "mesh_rate = \"0.5 1/d\"");
    FIX.refused_at(&text, "degradation[0].mesh_rate", "mesh_rate", &["one way for D to change"]);
}
