//! Every shipped scenario loads, and a few compiled values are what the file says, in SI.

use secretome::problem::{Boundary, Problem, Reaction, Role, Scheme, TimeStep};
use secretome::scenario;
use std::f64::consts::LN_2;
use std::path::Path;

fn load(name: &str) -> Problem {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name);
    scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn species<'a>(p: &'a Problem, name: &str) -> &'a secretome::problem::Species {
    p.species.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no species {name}"))
}

fn material(p: &Problem, name: &str) -> usize {
    p.materials.iter().position(|m| m.name == name).unwrap_or_else(|| panic!("no material {name}"))
}

#[test]
fn every_shipped_scenario_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let p = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.schedule.output_times.last(), Some(&p.schedule.end), "{}", path.display());
            assert_eq!(p.schedule.snapshot_times.last(), Some(&p.schedule.end), "{}", path.display());
            assert!(p.material_cell_counts().iter().all(|&c| c > 0), "{}: a material without cells", path.display());
            n += 1;
        }
    }
    assert!(n >= 6, "expected at least 6 scenarios, found {n}");
}

#[test]
fn wound_gel_2d_compiles_to_the_stated_values() {
    let p = load("wound_gel_2d.toml");
    assert_eq!(p.name, "wound_gel_2d");
    assert_eq!(p.grid.cells, [800, 260, 1]);
    assert_eq!(p.grid.dimension(), 2);
    assert!(close(p.grid.spacing[0], 10e-6) && close(p.grid.spacing[1], 10e-6) && close(p.grid.spacing[2], 1e-3));
    assert_eq!(p.species.len(), 10);
    for name in ["VEGF", "FGF-2", "EGF", "TGF-beta1", "PDGF-BB", "IGF-1", "IL-6", "IL-8", "IL-10", "MCP-1"] {
        species(&p, name);
    }
    let (gel, bed, dermis, epi) =
        (material(&p, "gel"), material(&p, "wound_bed"), material(&p, "dermis"), material(&p, "epidermis"));
    assert_eq!(p.materials[gel].role, Role::Depot);
    assert_eq!(p.materials[bed].role, Role::Tissue);
    let counts = p.material_cell_counts();
    assert_eq!(counts[gel], 800 * 100, "1 mm gel sheet across the whole width");
    assert_eq!(counts[bed], 500 * 150, "5 mm x 1.5 mm wound bed");
    assert_eq!(counts[epi], 2 * 150 * 10, "0.1 mm epidermis on the intact skin either side");
    assert_eq!(counts[dermis], 800 * 260 - counts[gel] - counts[bed] - counts[epi]);

    let vegf = species(&p, "VEGF");
    assert!(close(vegf.diffusivity[gel], 105e-12), "105 um^2/s in m^2/s");
    assert!(close(vegf.diffusivity[dermis], 41e-12));
    assert!(close(vegf.decay_rate[bed], LN_2 / (33.7 * 60.0)), "half-life 33.7 min as a rate");
    assert!(close(vegf.decay_rate[gel], LN_2 / (90.0 * 60.0)));
    assert!(close(vegf.initial[gel], 30.0));
    assert_eq!(vegf.initial[bed], 0.0);
    assert_eq!(vegf.unit.text, "pg/mL");
    assert_eq!(vegf.unit.amount_text, "pg");
    assert!(close(vegf.unit.volume_si, 1e-6));
    assert!(close(species(&p, "IGF-1").initial[gel], 300.0), "0.3 ng/mL in pg/mL");
    assert!(close(species(&p, "MCP-1").initial[gel], 2750.0), "2.75 ng/mL in pg/mL");
    for s in &p.species {
        assert_eq!(s.boundaries[2], Boundary::Fixed { value: 0.0 }, "{}: ymin is a sink", s.name);
        for f in [0, 1, 3, 4, 5] {
            assert_eq!(s.boundaries[f], Boundary::NoFlux, "{}: face {f}", s.name);
        }
    }

    let sch = &p.schedule;
    assert_eq!(sch.scheme, Scheme::AdiDouglas);
    assert_eq!(sch.time_step, TimeStep::Adaptive { tolerance: 1e-3 });
    assert!(close(sch.end, 24.0 * 3600.0));
    assert_eq!(sch.output_times.len(), 96);
    assert!(close(sch.output_times[0], 900.0));
    assert_eq!(sch.snapshot_times.len(), 4);
    for (i, t) in sch.snapshot_times.iter().enumerate() {
        assert!(close(*t, (i + 1) as f64 * 6.0 * 3600.0));
    }
}

/// The binding terms of species `s` in material `m`: (pool name, k_on m³/(mol·s), k_off 1/s).
fn bindings(p: &Problem, s: &str, m: usize) -> Vec<(String, f64, f64)> {
    let s = p.species.iter().position(|x| x.name == s).unwrap();
    p.reactions
        .iter()
        .filter_map(|r| match *r {
            Reaction::Binding { material, species, pool, k_on, k_off } if material == m && species == s => {
                Some((p.pools[pool].name.clone(), k_on, k_off))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn wound_gel_2d_has_heparan_sulfate_in_the_tissue() {
    // Shipped with the sites switched off (density 0: no terms); the commented density turns
    // them on.
    let shipped = load("wound_gel_2d.toml");
    assert!(shipped.reactions.is_empty() && shipped.pools.len() == 1);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/wound_gel_2d.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "density = { wound_bed = \"0 uM\", dermis = \"0 uM\" }",
        "density = { wound_bed = \"0.75 uM\", dermis = \"0.75 uM\" }",
    );
    let p = secretome::scenario::from_str(&text, "wound_gel_2d.toml").unwrap();
    let (gel, bed, dermis, epi) =
        (material(&p, "gel"), material(&p, "wound_bed"), material(&p, "dermis"), material(&p, "epidermis"));
    assert_eq!(p.pools.len(), 1);
    let hs = &p.pools[0];
    assert_eq!(hs.name, "hs");
    assert!(close(hs.density[bed], 0.75e-3) && close(hs.density[dermis], 0.75e-3), "0.75 uM in mol/m³");
    assert_eq!((hs.density[gel], hs.density[epi]), (0.0, 0.0));
    for m in [bed, dermis] {
        // 4.2e5 1/(M·s) = 420 m³/(mol·s).
        let vegf = bindings(&p, "VEGF", m);
        assert_eq!(vegf.len(), 1);
        assert!(vegf[0].0 == "hs" && close(vegf[0].1, 420.0) && close(vegf[0].2, 1e-2), "{vegf:?}");
        let fgf = bindings(&p, "FGF-2", m);
        assert!(fgf[0].0 == "hs" && close(fgf[0].1, 420.0) && close(fgf[0].2, 2e-6 * 420.0), "K_d 2 nM: {fgf:?}");
    }
    assert!(bindings(&p, "VEGF", gel).is_empty() && bindings(&p, "VEGF", epi).is_empty());
    assert!(bindings(&p, "EGF", bed).is_empty());
    assert_eq!(p.reactions.len(), 4);
    assert!(close(species(&p, "VEGF").molar_per_unit.unwrap(), 1e-9 / 45.0), "pg/mL of a 45 kDa protein");
}

#[test]
fn heparin_gel_binds_vegf_and_fgf2_and_its_plain_twin_does_not() {
    let p = load("heparin_gel_vs_plain_2d.toml");
    assert_eq!(p.species.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["VEGF", "FGF-2", "EGF"]);
    let (gel, bed) = (material(&p, "gel"), material(&p, "wound_bed"));
    let heparin = p.pools.iter().find(|x| x.name == "heparin").unwrap();
    assert!(close(heparin.density[gel], 1e-2), "10 uM in mol/m³");
    let vegf = bindings(&p, "VEGF", gel);
    assert!(vegf.len() == 1 && vegf[0].0 == "heparin" && close(vegf[0].2, 1e-2), "{vegf:?}");
    let fgf = bindings(&p, "FGF-2", gel);
    assert!(fgf.len() == 1 && fgf[0].0 == "heparin" && close(fgf[0].2, 1e-6 * 420.0), "K_d 1 nM: {fgf:?}");
    assert!(bindings(&p, "EGF", gel).is_empty(), "EGF is the non-binding control");
    assert_eq!(bindings(&p, "VEGF", bed)[0].0, "hs");
    assert!(species(&p, "VEGF").initial_is_total, "the loading is the total, free + bound");

    // The plain-gel twin is the one-line change the file's header names.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/heparin_gel_vs_plain_2d.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let line = "\ndensity = { gel = \"10 uM\" }\n";
    assert_eq!(text.matches(line).count(), 1);
    let plain = scenario::from_str_with_memory(&text.replace(line, "\ndensity = { gel = \"0 uM\" }\n"), "plain", None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(bindings(&plain, "VEGF", gel).is_empty() && bindings(&plain, "FGF-2", gel).is_empty());
    assert_eq!(plain.reactions.len(), p.reactions.len() - 2, "only the two heparin terms go");
    assert_eq!(plain.species, p.species);
}

#[test]
fn wound_gel_2d_step_limit_is_set_by_egf_in_the_gel() {
    let p = load("wound_gel_2d.toml");
    // Limited by EGF in the gel; decay adds a little.
    let h = p.grid.spacing[0];
    let diffusion_limit = h.powi(2) / (4.0 * 204e-12);
    let limit = p.explicit_step_limit();
    assert!(limit <= diffusion_limit && limit > 0.999 * diffusion_limit, "{limit} vs {diffusion_limit}");
}

#[test]
fn punch_disc_3d_is_3d_and_quick() {
    let p = load("punch_disc_3d.toml");
    assert_eq!(p.grid.cells, [80, 80, 20]);
    assert_eq!(p.grid.dimension(), 3);
    let gel = material(&p, "gel");
    assert_eq!(p.materials[gel].role, Role::Depot);
    // A disc of radius 3 mm, 0.6 mm thick, on 100 um cells: ~pi 30^2 x 6 cells.
    let disc = p.material_cell_counts()[gel] as f64;
    let expected = std::f64::consts::PI * 30.0 * 30.0 * 6.0;
    assert!((disc - expected).abs() < 0.03 * expected, "{disc} vs {expected}");
    for s in &p.species {
        assert_eq!(s.boundaries[4], Boundary::Fixed { value: 0.0 });
    }
}

#[test]
fn validation_slab_1d_is_a_sheet_between_sinks() {
    let p = load("validation_slab_1d.toml");
    assert_eq!(p.grid.cells, [100, 1, 1]);
    assert_eq!(p.grid.dimension(), 1);
    assert_eq!(p.species.len(), 1);
    assert_eq!(p.materials.len(), 1);
    let s = &p.species[0];
    assert!(close(s.diffusivity[0], 1e-10));
    assert_eq!(s.decay_rate[0], 0.0);
    assert_eq!(s.boundaries[0], Boundary::Fixed { value: 0.0 });
    assert_eq!(s.boundaries[1], Boundary::Fixed { value: 0.0 });
    assert_eq!(p.schedule.output_times.len(), 60);
    assert!(close(p.explicit_step_limit(), (10e-6f64).powi(2) / (3.0 * 1e-10)));
}

#[test]
fn validation_decay_1d_has_a_decay_length_of_100_um() {
    let p = load("validation_decay_1d.toml");
    let s = &p.species[0];
    assert!(close(s.decay_rate[0], 0.01));
    assert!(close((s.diffusivity[0] / s.decay_rate[0]).sqrt(), 100e-6));
    assert_eq!(s.unit.amount_text, "nmol");
    assert!(close(s.unit.volume_si, 1e-3));
    assert_eq!(s.boundaries[0], Boundary::Fixed { value: 1.0 });
    assert_eq!(s.boundaries[1], Boundary::NoFlux);
    let extent = p.grid.extent()[0];
    assert!(extent / 100e-6 >= 20.0, "domain much longer than the decay length");
}

#[test]
fn validation_interface_1d_has_two_materials() {
    let p = load("validation_interface_1d.toml");
    assert_eq!(p.material_cell_counts(), vec![100, 100]);
    let s = &p.species[0];
    assert!(close(s.diffusivity[0] / s.diffusivity[1], 4.0));
    assert!(p.material_id[..100].iter().all(|&m| m == 0));
    assert!(s.boundaries.iter().all(|b| *b == Boundary::NoFlux));
}

/// `scheme = "auto"` takes the explicit scheme exactly while it needs no more steps than the
/// least an adaptive ADI run costs: one ADI step (`ADI_STEP_COST` explicit steps) and one
/// error-estimate pass per output interval.
#[test]
fn auto_scheme_switches_where_the_adaptive_run_becomes_cheaper() {
    use secretome::problem::ADI_STEP_COST;
    let mut p = load("validation_slab_1d.toml");
    let limit = p.explicit_step_limit();
    let floor_per_output = ADI_STEP_COST + 1.0;
    for (outputs, expected) in [(1, Scheme::AdiDouglas), (1000, Scheme::ExplicitFtcs)] {
        let steps = floor_per_output * outputs as f64;
        p.schedule.output_times = (1..=outputs).map(|i| i as f64).collect();
        // An end that needs 1 % more explicit steps than the floor (ADI expected) or 1 % fewer
        // (explicit expected), at safety 1.
        let factor = if expected == Scheme::AdiDouglas { 1.01 } else { 0.99 };
        p.schedule.end = steps * factor * limit;
        p.schedule.time_step = TimeStep::Auto { safety: 1.0 };
        scenario::choose_scheme(&mut p, None);
        assert_eq!(p.schedule.scheme, expected, "{outputs} outputs, {} explicit steps", steps * factor);
    }
}
