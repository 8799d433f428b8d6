//! Local reactions on every engine, against exact or limiting solutions: binding kinetics and
//! equilibria (with competition for one site pool), Michaelis–Menten uptake, conversion chains
//! and cycles, the effective diffusivity of a factor with fast linear binding, and the books of
//! every channel. Steps are long against the reactions (k·Δt ≫ 1): the local solves are exact
//! per term, so a stiff reaction does not shorten the step.

mod common;

use common::engines::{Gpu, engines};
use common::*;
use secretome::output::OutputDir;
use secretome::problem::*;
use secretome::run::{self, Silent};
use secretome::solver::cpu::CpuReference;
use secretome::solver::{Channel, Engine, EngineState, SpeciesTotals};

/// nM: mol/m³ per unit 1e-6, amounts in nmol per litre of volume.
fn nanomolar() -> ConcentrationUnit {
    ConcentrationUnit { text: "nM".into(), amount_text: "nmol".into(), si: 1e-6, volume_si: 1e-3 }
}

/// A species in nM with one diffusivity, no loss, free initial concentration `initial` per
/// material.
fn factor(name: &str, d: f64, initial: &[f64]) -> Species {
    let mut s = species(name, &vec![d; initial.len()], &vec![0.0; initial.len()], initial, [Boundary::NoFlux; 6]);
    s.unit = nanomolar();
    s.molar_per_unit = Some(1e-6);
    s
}

/// One closed well-mixed box of 2×2×1 cells of one material (diffusion does nothing), ADI.
fn well(species: Vec<Species>, end: f64) -> Problem {
    let mut p = box_problem([2, 2, 1], [2e-5, 2e-5, 1e-5], &["gel"], |_| 0, species, end);
    p.schedule.scheme = Scheme::AdiDouglas;
    p
}

/// `y(t)` of `y' = f(y)` from `y0` by classical RK4 with `n` steps, in f64: the independent
/// reference the engines' closed forms are checked against.
fn rk4<const N: usize>(f: impl Fn([f64; N]) -> [f64; N], y0: [f64; N], t: f64, n: usize) -> [f64; N] {
    let h = t / n as f64;
    let mut y = y0;
    let axpy = |y: [f64; N], k: [f64; N], a: f64| std::array::from_fn(|i| y[i] + a * k[i]);
    for _ in 0..n {
        let k1 = f(y);
        let k2 = f(axpy(y, k1, h / 2.0));
        let k3 = f(axpy(y, k2, h / 2.0));
        let k4 = f(axpy(y, k3, h));
        y = std::array::from_fn(|i| y[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]));
    }
    y
}

/// Sets every engine's state to free `free[s]` and bound `bound[b]` in every cell.
fn set_uniform(engine: &mut dyn secretome::solver::Engine, n_cells: usize, free: &[f64], bound: &[f64]) {
    let field = free.iter().chain(bound).flat_map(|&v| std::iter::repeat_n(v as f32, n_cells)).collect();
    engine.import_state(&EngineState { field, start_up_left: 1, rates: Vec::new() }).unwrap();
}

/// Sum of a channel over the materials and the totals given.
fn channel(totals: &[Vec<SpeciesTotals>], s: usize, c: Channel) -> f64 {
    totals.iter().map(|t| t[s].channel(c).iter().sum::<f64>()).sum()
}

const KON: f64 = 1e5 * 1e-3; // 1e5 1/(M·s) in m³/(mol·s)

#[test]
fn binding_kinetics_follow_the_exact_solution_at_steps_far_longer_than_the_binding_time() {
    // 10 nM free, no bound, onto 20 nM of sites with K_d = 5 nM: k_on·B_T = 2e-3·… per s.
    let (c0, sites, kd) = (10.0, 20.0, 5.0); // nM
    let k_on = 1e6 * 1e-3; // 1e6 1/(M·s): k_on·B_T = 0.02 /s, binding time ~ 40 s
    let mut p = well(vec![factor("vegf", 1e-10, &[c0])], 600.0);
    p.pools.push(SitePool { name: "heparin".into(), density: vec![sites * 1e-6] });
    p.reactions.push(Reaction::Binding { material: 0, species: 0, pool: 0, k_on, k_off: kd * 1e-6 * k_on });
    // dx/dt = k_on (c0 − x)(S − x) − k_off x in nM and 1/s (k_on per nM·s = k_on·1e-6).
    let k = k_on * 1e-6;
    for t in [30.0, 120.0, 600.0] {
        let exact = rk4(|[x]| [k * (c0 - x) * (sites - x) - k * kd * x], [0.0], t, 100_000)[0];
        for mut e in engines(&p, Gpu::Include) {
            set_uniform(e.engine.as_mut(), 4, &[c0], &[0.0]);
            // Two steps: the first is the start-up; each step is far longer than 1/(k_on·B_T).
            e.engine.step(2, t / 2.0).unwrap();
            let field = e.engine.read_field().unwrap();
            let (c, b) = (field[0] as f64, field[4] as f64);
            assert!((b - exact).abs() <= 1e-5 * c0, "{}: t = {t} s: bound {b} nM, exact {exact} nM", e.name);
            assert!((c + b - c0).abs() <= 1e-5 * c0, "{}: t = {t} s: free + bound = {} nM, loaded {c0}", e.name, c + b);
        }
    }
}

#[test]
fn competing_species_reach_the_competitive_equilibrium_and_start_there() {
    // VEGF and FGF-2 on one heparin pool, loaded as totals.
    let mut p = well(vec![factor("vegf", 1e-10, &[30.0]), factor("fgf2", 1e-10, &[50.0])], 3600.0);
    for s in &mut p.species {
        s.initial_is_total = true;
    }
    let sites = 60.0; // nM
    p.pools.push(SitePool { name: "heparin".into(), density: vec![sites * 1e-6] });
    let kd = [10.0, 2.0]; // nM
    for (s, &kd) in kd.iter().enumerate() {
        p.reactions.push(Reaction::Binding {
            material: 0,
            species: s,
            pool: 0,
            k_on: KON * 10.0,
            k_off: kd * 1e-6 * KON * 10.0,
        });
    }
    let equilibrium = |c: [f64; 2], b: [f64; 2]| {
        let free_sites = sites - b[0] - b[1];
        [0, 1].map(|i| (b[i] - free_sites * c[i] / kd[i]).abs() / (c[i] + b[i]))
    };
    let (free, bound) = p.initial_state();
    let residual = equilibrium([free[0][0], free[1][0]], [bound[0][0], bound[1][0]]);
    assert!(residual.iter().all(|&r| r < 1e-10), "initial state off equilibrium by {residual:?}");
    assert!((free[0][0] + bound[0][0] - 30.0).abs() < 1e-9 && (free[1][0] + bound[1][0] - 50.0).abs() < 1e-9);
    for mut e in engines(&p, Gpu::Include) {
        // From all-free, the engines relax to the same equilibrium within a few long steps.
        set_uniform(e.engine.as_mut(), 4, &[30.0, 50.0], &[0.0, 0.0]);
        e.engine.step(20, 180.0).unwrap();
        let f = e.engine.read_field().unwrap();
        let (c, b) = ([f[0] as f64, f[4] as f64], [f[8] as f64, f[12] as f64]);
        let residual = equilibrium(c, b);
        assert!(residual.iter().all(|&r| r < 1e-4), "{}: off equilibrium by {residual:?} (c {c:?}, b {b:?})", e.name);
        assert!((c[0] + b[0] - 30.0).abs() < 1e-4 && (c[1] + b[1] - 50.0).abs() < 1e-4, "{}: mass", e.name);
    }
}

#[test]
fn michaelis_menten_uptake_follows_the_exact_solution_and_books_what_it_takes() {
    // 100 nM, K_m = 20 nM, V_max = 0.5 nM/s: saturated at first, linear at the end.
    let (c0, km, vmax) = (100.0, 20.0, 0.5);
    let mut p = well(vec![factor("il6", 1e-10, &[c0])], 600.0);
    p.reactions.push(Reaction::Uptake { material: 0, species: 0, vmax, km });
    for (t, steps) in [(100.0, 2), (300.0, 3), (600.0, 4)] {
        let exact = rk4(|[c]| [-vmax * c / (km + c)], [c0], t, 100_000)[0];
        for mut e in engines(&p, Gpu::Include) {
            e.engine.step(steps, t / steps as f64).unwrap();
            let totals = e.engine.reduce_totals().unwrap();
            let c = e.engine.read_field().unwrap()[0] as f64;
            assert!((c - exact).abs() <= 2e-5 * c0, "{}: t = {t} s: {c} nM, exact {exact} nM", e.name);
            let volume = p.grid.n_cells() as f64 * p.grid.cell_volume();
            let taken = totals[0].channel(Channel::TakenUp)[0] / volume;
            assert!((taken - (c0 - c)).abs() <= 1e-5 * c0, "{}: taken up {taken} nM, field lost {} nM", e.name, c0 - c);
        }
    }
}

#[test]
fn a_conversion_cycle_relaxes_as_the_exact_linear_solution_and_conserves_molecules() {
    // A → B at k1 and B → A at k2, both free; and bound A → B at k3 on a pool.
    let (k1, k2) = (2e-3, 5e-4);
    let mut p = well(vec![factor("latent", 1e-10, &[40.0]), factor("active", 1e-10, &[0.0])], 1800.0);
    p.reactions.push(Reaction::Conversion { material: 0, from: 0, form: Form::Free, to: 1, rate: k1, yield_: 1.0 });
    p.reactions.push(Reaction::Conversion { material: 0, from: 1, form: Form::Free, to: 0, rate: k2, yield_: 1.0 });
    let t = 1800.0;
    let a_inf = 40.0 * k2 / (k1 + k2);
    let exact_a = a_inf + (40.0 - a_inf) * (-(k1 + k2) * t).exp();
    for mut e in engines(&p, Gpu::Include) {
        // 60 steps of 30 s: (k1 + k2)·Δt = 0.075.
        e.engine.step(60, 30.0).unwrap();
        let totals = e.engine.reduce_totals().unwrap();
        let f = e.engine.read_field().unwrap();
        let (a, b) = (f[0] as f64, f[4] as f64);
        assert!((a - exact_a).abs() <= 1e-4 * 40.0, "{}: A = {a} nM, exact {exact_a} nM", e.name);
        assert!((a + b - 40.0).abs() <= 1e-5 * 40.0, "{}: A + B = {} nM", e.name, a + b);
        let volume = p.grid.n_cells() as f64 * p.grid.cell_volume();
        let all = vec![totals];
        let net_a = channel(&all, 0, Channel::ConvertedOut) - channel(&all, 0, Channel::ConvertedIn);
        let net_b = channel(&all, 1, Channel::ConvertedIn) - channel(&all, 1, Channel::ConvertedOut);
        assert!((net_a / volume - (40.0 - a)).abs() <= 1e-5 * 40.0, "{}: A's books {net_a}", e.name);
        assert!((net_a - net_b).abs() <= 1e-6 * net_a.abs(), "{}: out of A {net_a}, into B {net_b}", e.name);
    }
}

/// Cell averages at `t` of 1D diffusion with `d` from 1 on [0, a], 0 beyond, closed ends, on `n`
/// cells of `h`: the cosine series, averaged over each cell exactly.
fn cosine_series(n: usize, h: f64, a: f64, d: f64, t: f64) -> Vec<f64> {
    let l = n as f64 * h;
    (0..n)
        .map(|i| {
            let (x0, x1) = (i as f64 * h, (i + 1) as f64 * h);
            let mut v = a / l;
            for m in 1..20_000 {
                let k = m as f64 * std::f64::consts::PI / l;
                let decay = (-d * k * k * t).exp();
                if decay < 1e-18 {
                    break;
                }
                v +=
                    2.0 / (m as f64 * std::f64::consts::PI) * (k * a).sin() * decay * ((k * x1).sin() - (k * x0).sin())
                        / (k * h);
            }
            v
        })
        .collect()
}

/// A sharp depot of `depot` cells per axis in the corner of a closed box of `n` cells of 10 µm
/// per axis in `dim` dimensions, loaded with 0.1 nM total, with sites B_T = 4·K_d everywhere
/// (K_d = 100 nM, so the loading is linear binding) and fast kinetics: in the fast-binding limit
/// the total diffuses with D/(1 + B_T/K_d) = D/5. Returns the relative L2 error of the total
/// against that, per engine, after 600 s in steps of `dt`.
fn fast_binding_corner(dim: usize, n: usize, depot: usize, dt: f64, gpu: Gpu) -> Vec<(&'static str, f64, f64)> {
    const D: f64 = 1e-10;
    const H: f64 = 1e-5;
    let kd = 100.0;
    let cells = [0, 1, 2].map(|a| if a < dim { n } else { 1 });
    let extent = [0, 1, 2].map(|a| cells[a] as f64 * H);
    let inside = move |p: [f64; 3]| (0..dim).all(|a| p[a] < depot as f64 * H);
    let mut s = factor("fgf2", D, &[0.1, 0.0]);
    s.initial_is_total = true;
    let mut p = box_problem(cells, extent, &["gel", "tissue"], |c| u32::from(!inside(c)), vec![s], 600.0);
    p.schedule.scheme = Scheme::AdiDouglas;
    p.pools.push(SitePool { name: "hs".into(), density: vec![4.0 * kd * 1e-6; 2] });
    // k_on·B_T = 40 /s, k_off = 10 /s: relaxation 1/50 s against steps of tens of seconds.
    let k_on = 1e8 * 1e-3;
    for m in 0..2 {
        p.reactions.push(Reaction::Binding { material: m, species: 0, pool: 0, k_on, k_off: kd * 1e-6 * k_on });
    }
    let line = cosine_series(n, H, depot as f64 * H, D / 5.0, 600.0);
    let n_cells = p.grid.n_cells();
    let exact: Vec<f64> = (0..n_cells)
        .map(|c| {
            let idx = [c % n, (c / n) % n, c / (n * n)];
            0.1 * (0..dim).map(|a| line[idx[a]]).product::<f64>()
        })
        .collect();
    let norm = exact.iter().map(|v| v * v).sum::<f64>().sqrt();
    engines(&p, gpu)
        .into_iter()
        .map(|mut e| {
            e.engine.step((600.0 / dt).round() as u64, dt).unwrap();
            let f = e.engine.read_field().unwrap();
            let total: Vec<f64> = (0..n_cells).map(|i| (f[i] + f[n_cells + i]) as f64).collect();
            let error = total.iter().zip(&exact).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt() / norm;
            eprintln!(
                "{}D, dt {dt} s, {}: relative L2 error of the total against D_eff = D/5: {error:.2e}",
                dim, e.name
            );
            // The bound share is (B_T/K_d)/(1 + B_T/K_d) = 4/5 wherever the factor is.
            let share = f[n_cells] as f64 / total[0];
            (e.name, error, share)
        })
        .collect()
}

#[test]
fn fast_linear_binding_slows_diffusion_to_d_over_one_plus_bt_over_kd() {
    // 1D slab and 2D corner depot, steps of 30 and 60 s, 1500–3000 times the binding time.
    for (dim, n, depot, dt, bound) in [(1, 50, 5, 30.0, 1e-3), (1, 50, 5, 60.0, 2e-3), (2, 32, 4, 30.0, 2e-3)] {
        for (name, error, share) in fast_binding_corner(dim, n, depot, dt, Gpu::Include) {
            assert!(error <= bound, "{dim}D, dt {dt} s, {name}: relative L2 error {error:.2e} against D/(1 + B_T/K_d)");
            assert!((share - 0.8).abs() < 1e-3, "{dim}D, {name}: bound share {share}");
        }
    }
}

#[test]
fn every_channel_balances_over_fourteen_days_with_all_terms() {
    // Gel depot with heparin, tissue with HS sites, MM uptake, linear uptake, clearance, decay,
    // a free and a bound conversion, and a sink face: the books of every species close.
    let d = [1e-10, 5e-11];
    let mut a =
        species("vegf", &d, &[1e-4, 2e-4], &[30.0, 0.0], faces(Boundary::NoFlux, Boundary::Fixed { value: 0.0 }));
    a.unit = nanomolar();
    a.molar_per_unit = Some(1e-6);
    a.initial_is_total = true;
    a.clearance_rate = vec![0.0, 3e-4];
    a.uptake_rate = vec![0.0, 1e-4];
    let mut b = a.clone();
    b.name = "fragment".into();
    b.initial = vec![0.0, 0.0];
    // Fourteen days, in f32, with daily outputs and adaptive steps.
    let end = 14.0 * 86400.0;
    let mut p = line(40, 4e-4, &["gel", "tissue"], |x| u32::from(x > 1e-4), vec![a, b], end);
    p.schedule.scheme = Scheme::AdiDouglas;
    p.schedule.time_step = TimeStep::Adaptive { tolerance: 1e-3 };
    p.schedule.output_times = (1..=14).map(|d| d as f64 * 86400.0).collect();
    p.schedule.snapshot_times = vec![end];
    p.pools.push(SitePool { name: "sites".into(), density: vec![50e-6, 20e-6] });
    for m in 0..2 {
        p.reactions.push(Reaction::Binding { material: m, species: 0, pool: 0, k_on: 1e3, k_off: 1e3 * 5e-6 });
    }
    p.reactions.push(Reaction::Uptake { material: 1, species: 0, vmax: 1e-3, km: 2.0 });
    p.reactions.push(Reaction::Conversion { material: 1, from: 0, form: Form::Bound, to: 1, rate: 2e-4, yield_: 1.0 });
    p.reactions.push(Reaction::Conversion { material: 1, from: 1, form: Form::Free, to: 0, rate: 1e-4, yield_: 1.0 });
    let dir = tempfile::tempdir().unwrap();
    for (i, mut e) in engines(&p, Gpu::Include).into_iter().enumerate() {
        let out = OutputDir::create(&dir.path().join(format!("run{i}")), false).unwrap();
        let summary = run::run(&p, e.engine.as_mut(), &out, &mut Silent).unwrap();
        let json: serde_json::Value = serde_json::to_value(&summary).unwrap();
        for s in json["species"].as_array().unwrap() {
            let error = s["relative_balance_error"].as_f64().unwrap();
            assert!(error <= 1e-5, "{}: {} books balance to {error:.1e}", e.name, s["name"]);
            for c in Channel::ALL {
                assert!(s["channels"][c.name()]["total"].is_number(), "{}: channel {} missing", e.name, c.name());
            }
        }
        let vegf = &json["species"][0];
        assert!(vegf["bound"].as_f64().unwrap() > 0.0, "{}: nothing bound", e.name);
        for c in ["cleared", "taken_up", "converted_out", "converted_in", "decayed"] {
            assert!(vegf["channels"][c]["total"].as_f64().unwrap() > 0.0, "{}: nothing {c}", e.name);
        }
        let fields = out.path().join("fields");
        assert!(fields.join("vegf_bound_t1209600s.npy").exists(), "{}: no bound snapshot", e.name);
        assert!(
            !fields.join("fragment_bound_t1209600s.npy").exists(),
            "{}: a bound snapshot of a non-binding species",
            e.name
        );
        let csv = std::fs::read_to_string(out.path().join("timeseries.csv")).unwrap();
        assert!(csv.lines().next().unwrap().contains("free_amount,bound_amount"), "{}", e.name);
    }
}

/// A 1D slab of `n` cells: a loaded gel (first fifth) binding to `sites` (nM) with `k_on`
/// (1/(M·s)) and K_d = 100 nM, tissue without sites; total loading 0.1 nM·`scale`.
fn binding_slab(n: usize, sites: f64, k_on: f64, scale: f64) -> Problem {
    const H: f64 = 1e-5;
    let kd = 100.0;
    let mut s = factor("vegf", 1e-10, &[0.1 * scale, 0.0]);
    s.initial_is_total = true;
    let mut p = line(n, n as f64 * H, &["gel", "tissue"], |x| u32::from(x > 0.2 * n as f64 * H), vec![s], 3600.0);
    p.schedule.scheme = Scheme::AdiDouglas;
    p.pools.push(SitePool { name: "heparin".into(), density: vec![sites * 1e-6, 0.0] });
    let k_on = k_on * 1e-3;
    p.reactions.push(Reaction::Binding { material: 0, species: 0, pool: 0, k_on, k_off: kd * 1e-6 * k_on });
    p
}

/// Free and bound fields of the reference engine after `t` s in steps of `dt`.
fn reference_after(p: &Problem, t: f64, dt: f64) -> Vec<f64> {
    let mut e = CpuReference::new(p);
    e.set_start_up_steps(0);
    e.step((t / dt).round() as u64, dt).unwrap();
    e.read_field().unwrap().iter().map(|&v| v as f64).collect()
}

/// Time order with binding on, on smooth data (no start-up), against a run of steps 64 times
/// shorter, at steps of 60, 30 and 15 s. Where binding is slow against the step (relaxation
/// z = k_rel·Δt ≲ 0.3) or fast (z ≫ 1) the order is two or better; in between (z ~ 1–3) the
/// capacity weight φ(z) moves with the step and the order drops to about one (measured 1.1 and
/// 0.3, at errors below 2e-3 of the load): that regime needs the pair solved inside the
/// stages, which is not done yet (docs/numerics.md).
#[test]
fn time_order_with_binding_on_is_two_where_binding_is_slow_or_fast() {
    for (k_on, label, min_order, max_error) in
        [(1e4, "slow", 1.6, 1e-2), (1e5, "intermediate", 0.0, 5e-3), (1e7, "fast", 1.9, 1e-2)]
    {
        let mut p = binding_slab(60, 400.0, k_on, 1.0);
        p.species[0].initial = vec![0.1, 0.05];
        let fine = reference_after(&p, 1800.0, 60.0 / 16.0 / 4.0);
        let errors: Vec<f64> = [60.0, 30.0, 15.0]
            .iter()
            .map(|&dt| {
                let f = reference_after(&p, 1800.0, dt);
                f.iter().zip(&fine).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt()
            })
            .collect();
        let orders = [order(errors[0], errors[1], 2.0), order(errors[1], errors[2], 2.0)];
        eprintln!("{label} binding: errors {errors:?}, orders {orders:.2?}");
        assert!(errors.iter().all(|&e| e <= max_error), "{label} binding: errors {errors:?}");
        assert!(orders[1] >= min_order, "{label} binding: orders {orders:?}");
    }
}

#[test]
fn slow_binding_reproduces_plain_diffusion() {
    // k_on → 0: binding does nothing over the run, and the free field is that of plain diffusion.
    let slow = binding_slab(50, 400.0, 1e-3, 1.0);
    let mut plain = slow.clone();
    plain.reactions.clear();
    plain.pools.clear();
    // The same free field at the start (the loading is split at equilibrium).
    plain.species[0].initial = slow.initial_state().0[0].clone();
    plain.species[0].initial_is_total = false;
    let mut reference = CpuReference::new(&plain);
    reference.step(60, 60.0).unwrap();
    let plain_field = reference.read_field().unwrap();
    for mut e in engines(&slow, Gpu::Include) {
        e.engine.step(60, 60.0).unwrap();
        let f = e.engine.read_field().unwrap();
        let worst = (0..50).map(|i| (f[i] - plain_field[i]).abs() as f64).fold(0.0, f64::max);
        assert!(worst <= 1e-6 * 0.1, "{}: free field differs from plain diffusion by {worst:.2e} nM", e.name);
    }
}
