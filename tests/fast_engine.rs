//! The fast CPU engine against the reference engine: both schemes, 1D/2D/3D, every boundary
//! type, heterogeneous and uniform coefficients, binding (the stages' capacities) and
//! interstitial flow (uniform and per material), the serial path and the thread pool; the
//! embedded error estimate through a rejected and retried step; its conservation and books; and
//! its independence of the thread count and of the serial path.

mod common;

use common::*;
use secretome::problem::{Boundary, Problem, Scheme};
use secretome::solver::cpu::CpuReference;
use secretome::solver::fast::CpuFast;
use secretome::solver::{Difference, Engine, SpeciesTotals, error_estimate};

/// Field tolerance: `|fast − reference| ≤ FIELD_REL·|reference| + FIELD_ABS·max|reference|`
/// (per species). Each cell goes through the reference's f32 operations in the same order, so
/// the fields are bit-identical (measured on every problem here), and that is asserted.
const FIELD_REL: f64 = 0.0;
const FIELD_ABS: f64 = 0.0;
/// Totals tolerance, relative to the species' initial amount: the books are summed in f64 here
/// and in compensated f32 then f64 in the reference (measured differences ≤ 6e-8).
const TOTALS_REL: f64 = 2e-7;

/// Every kind of face: fixed (zero and non-zero), clearance (zero and non-zero outside), no flux.
fn every_boundary() -> [Boundary; 6] {
    [
        Boundary::Fixed { value: 0.0 },
        Boundary::Fixed { value: 3.0 },
        Boundary::Clearance { rate: 1e-6, value: 0.0 },
        Boundary::Clearance { rate: 1e-7, value: 0.5 },
        Boundary::NoFlux,
        Boundary::Fixed { value: 0.0 },
    ]
}

/// A 3D box with a gel sphere and four species: D and k per material (A), D per material with
/// uniform k (B), one D everywhere with k per material (C) and one D and k everywhere (U): every
/// combination of the engine's per-cell and single-value paths.
fn sphere_3d(boundaries: [Boundary; 6]) -> Problem {
    let extent = [4.8e-4, 4.0e-4, 3.2e-4];
    let inside = |p: [f64; 3]| {
        let d2: f64 = (0..3).map(|a| (p[a] - 0.5 * extent[a]).powi(2)).sum();
        u32::from(d2 > (1.2e-4f64).powi(2))
    };
    let a = species("A", &[1e-11, 1e-10], &[2e-3, 4e-3], &[250.0, 0.0], boundaries);
    let b = species("B", &[4e-11, 4e-12], &[1e-3, 1e-3], &[7.0, 1.0], boundaries);
    let c = species("C", &[6e-11, 6e-11], &[0.0, 3e-3], &[40.0, 2.0], boundaries);
    let u = species("U", &[3e-11, 3e-11], &[1e-3, 1e-3], &[30.0, 5.0], boundaries);
    box_problem([24, 20, 16], extent, &["gel", "tissue"], inside, vec![a, b, c, u], 60.0)
}

/// A 2D box; with `clear_z` the single-cell z axis has clearance faces (and is swept by ADI).
fn slab_2d(clear_z: bool) -> Problem {
    let clear = Boundary::Clearance { rate: 2e-7, value: 0.0 };
    let z = if clear_z { clear } else { Boundary::NoFlux };
    let bcs = every_boundary();
    let s = species("flat", &[1e-11, 1e-10], &[1e-3, 2e-3], &[100.0, 1.0], [bcs[0], bcs[1], bcs[2], bcs[3], z, z]);
    let u = species("even", &[5e-11, 5e-11], &[1e-3, 1e-3], &[10.0, 50.0], [bcs[1], bcs[3], clear, bcs[0], z, z]);
    box_problem([30, 20, 1], [6e-4, 4e-4, 5e-5], &["gel", "tissue"], |x| u32::from(x[0] > 2e-4), vec![s, u], 1.0)
}

/// A 2D box wider than one y-stage block of columns and taller than one block of rows, with
/// neither a multiple of the block: several tasks per species in every 2D pass.
fn wide_2d() -> Problem {
    let bcs = every_boundary();
    let s = species("flat", &[1e-11, 1e-10], &[1e-3, 2e-3], &[100.0, 1.0], bcs);
    let u = species(
        "even",
        &[5e-11, 5e-11],
        &[1e-3, 1e-3],
        &[10.0, 50.0],
        [bcs[1], bcs[3], bcs[2], bcs[0], bcs[4], bcs[4]],
    );
    let inside = |x: [f64; 3]| u32::from(x[0] > 1e-3 && x[1] < 4e-4);
    box_problem([300, 70, 1], [6e-3, 1.4e-3, 2e-5], &["gel", "tissue"], inside, vec![s, u], 1.0)
}

/// A 1D line of 40 cells along `axis` with a fixed face and a clearance face.
fn line_1d(axis: usize) -> Problem {
    let mut cells = [1; 3];
    let mut extent = [1e-4; 3];
    cells[axis] = 40;
    extent[axis] = 1e-3;
    let mut bcs = [Boundary::NoFlux; 6];
    bcs[2 * axis] = Boundary::Fixed { value: 2.0 };
    bcs[2 * axis + 1] = Boundary::Clearance { rate: 1e-7, value: 0.0 };
    let s = species("line", &[1e-10, 1e-11], &[1e-4, 0.0], &[0.0, 80.0], bcs);
    box_problem(cells, extent, &["tissue", "gel"], |x| u32::from(x[axis] > 6e-4), vec![s], 1.0)
}

/// A 3D box in which every cell is a material of its own (no row of one material), with decay
/// and initial values varying in space.
fn painted_3d() -> Problem {
    let extent = [3.2e-4, 2.4e-4, 1.6e-4];
    painted_box(
        [16, 12, 8],
        extent,
        5e-11,
        |x| 1e-3 * (1.0 + x[0] / extent[0]),
        |x| 1.0 + 100.0 * (x[1] > 1e-4 && x[2] < 1e-4) as u8 as f64,
        every_boundary(),
        1.0,
    )
}

/// `p` with one binding pair per species in every material: a pool of sites at 4·K_d, K_d =
/// 1 µM·(1e-6) = 1e-6 mol/m³ (20 ng/mL of a 20 kDa factor, the order of the loads), binding
/// fast against the step (k_on = 1e8 1/(M·s)), so that the capacities are far from 1 and vary
/// from cell to cell.
fn with_binding(mut p: Problem) -> Problem {
    let kd = 1e-6; // mol/m³
    let k_on = 1e8 * 1e-3; // m³/(mol·s)
    p.pools.push(secretome::problem::SitePool { name: "sites".into(), density: vec![4.0 * kd; p.materials.len()] });
    for s in 0..p.species.len() {
        p.species[s].molar_per_unit = Some(p.species[s].unit.si / 20.0);
        for m in 0..p.materials.len() {
            p.reactions.push(secretome::problem::Reaction::Binding {
                material: m,
                species: s,
                pool: 0,
                k_on,
                k_off: kd * k_on,
            });
        }
    }
    p
}

/// `p` with interstitial flow: the velocity of material `m` is `velocity(m)` (m/s).
fn with_flow(mut p: Problem, velocity: impl Fn(usize) -> [f64; 3]) -> Problem {
    p.velocity = (0..p.materials.len()).map(velocity).collect();
    p
}

/// A velocity of about 1 µm/s (a cell width in some 20 s), oblique, the same in every material.
fn uniform_flow(_: usize) -> [f64; 3] {
    [1e-6, -0.6e-6, 0.4e-6]
}

/// Velocities that differ between materials, in sign too (faces where the flow converges).
fn flow_per_material(m: usize) -> [f64; 3] {
    let f = [1.0, -0.5, 2.0][m % 3];
    [f * 1e-6, -f * 0.7e-6, (0.3 + m as f64 * 0.1) * 1e-6]
}

/// Step of each scheme: 0.9× the explicit limit, or 50× it for ADI.
fn step_for(p: &Problem) -> f64 {
    match p.schedule.scheme {
        Scheme::ExplicitFtcs => 0.9 * p.explicit_step_limit(),
        Scheme::AdiDouglas => 50.0 * p.explicit_step_limit(),
    }
}

/// Largest field difference, as (excess over the tolerance, cell, fast, reference); asserts it.
fn assert_fields_close(what: &str, p: &Problem, fast: &[f32], reference: &[f32]) -> f64 {
    let n = p.grid.n_cells();
    let mut worst_rel = 0.0f64;
    for s in 0..p.species.len() {
        let (a, b) = (&fast[s * n..(s + 1) * n], &reference[s * n..(s + 1) * n]);
        let scale = b.iter().fold(0.0f64, |m, &x| m.max((x as f64).abs()));
        let mut worst = (0.0f64, 0usize);
        for i in 0..n {
            let diff = (a[i] as f64 - b[i] as f64).abs();
            let bound = FIELD_REL * (b[i] as f64).abs() + FIELD_ABS * scale;
            let ratio = if bound > 0.0 {
                diff / bound
            } else if diff > 0.0 {
                f64::INFINITY
            } else {
                0.0
            };
            if ratio > worst.0 || (i == 0 && ratio >= worst.0) {
                worst = (ratio, i);
            }
            worst_rel = worst_rel.max(diff / scale.max(f64::MIN_POSITIVE));
        }
        let i = worst.1;
        let [nx, ny, _] = p.grid.cells;
        assert!(
            worst.0 <= 1.0,
            "{what}: species {s} cell {i} (x {}, y {}, z {}): fast {:e}, reference {:e}, difference {:e} \
             (bound {FIELD_REL:e}·|ref| + {FIELD_ABS:e}·{scale:e})",
            i % nx,
            (i / nx) % ny,
            i / (nx * ny),
            a[i],
            b[i],
            (a[i] as f64 - b[i] as f64).abs()
        );
    }
    worst_rel
}

/// Largest difference of present, decayed and outflow totals, relative to `scale` per species;
/// asserts each within [`TOTALS_REL`].
fn assert_totals_close(what: &str, fast: &[SpeciesTotals], reference: &[SpeciesTotals], scale: &[f64]) -> f64 {
    let mut worst = 0.0f64;
    for (s, (a, b)) in fast.iter().zip(reference).enumerate() {
        let pairs = a
            .present
            .iter()
            .zip(&b.present)
            .map(|(x, y)| ("present", *x, *y))
            .chain(a.decayed().iter().zip(b.decayed()).map(|(x, y)| ("decayed", *x, *y)))
            .chain(a.outflow.iter().zip(&b.outflow).map(|(x, y)| ("outflow", *x, *y)));
        for (name, x, y) in pairs {
            let rel = (x - y).abs() / scale[s];
            worst = worst.max(rel);
            assert!(
                rel <= TOTALS_REL,
                "{what}: species {s} {name}: fast {x:e}, reference {y:e} ({rel:.2e} of the scale)"
            );
        }
        for (x, y) in a.max.iter().zip(&b.max) {
            match (x, y) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-6 * y.abs(), "{what}: species {s} max {x} vs {y}"),
                _ => assert_eq!(x, y, "{what}: species {s} max"),
            }
        }
    }
    worst
}

/// Runs both engines through 1, 2, 3 and 4 steps between reduces (ten steps: the ADI start-up and
/// beyond) and compares fields and totals after each; returns the largest field and totals
/// differences seen.
///
/// One thread takes the serial path; two threads always the pool, whatever the problem's size.
fn compare(name: &str, problem: &Problem, scheme: Scheme, threads: usize) -> (f64, f64) {
    let p = with_scheme(problem.clone(), scheme);
    let dt = step_for(&p);
    let mut reference = CpuReference::new(&p);
    let mut fast = CpuFast::new(&p, threads).unwrap();
    fast.set_serial(threads == 1);
    let initial = reference.reduce_totals().unwrap();
    let scale: Vec<f64> = initial.iter().map(|t| t.present.iter().sum::<f64>().max(1e-30)).collect();
    let what = format!("{name} {} {threads} thread(s) at start", scheme.name());
    let mut worst_totals = assert_totals_close(&what, &fast.reduce_totals().unwrap(), &initial, &scale);
    let mut worst_field = 0.0f64;
    for (call, n) in [1u64, 2, 3, 4].into_iter().enumerate() {
        reference.step(n, dt).unwrap();
        fast.step(n, dt).unwrap();
        let what = format!("{name} {} {threads} thread(s) after call {call}", scheme.name());
        let (a, b) = (fast.read_field().unwrap(), reference.read_field().unwrap());
        worst_field = worst_field.max(assert_fields_close(&what, &p, &a, &b));
        let (ta, tb) = (fast.reduce_totals().unwrap(), reference.reduce_totals().unwrap());
        worst_totals = worst_totals.max(assert_totals_close(&what, &ta, &tb, &scale));
    }
    eprintln!(
        "{name} {} ({threads} thread(s)): largest field difference {worst_field:.2e} of the field's max, \
         largest totals difference {worst_totals:.2e} of the initial amount",
        scheme.name()
    );
    (worst_field, worst_totals)
}

fn compare_all(name: &str, problem: &Problem) {
    for scheme in [Scheme::ExplicitFtcs, Scheme::AdiDouglas] {
        for threads in [1, 2] {
            compare(name, problem, scheme, threads);
        }
    }
}

#[test]
fn matches_reference_in_3d_with_every_boundary_and_decay() {
    compare_all("3D sphere", &sphere_3d(every_boundary()));
}

#[test]
fn matches_reference_in_3d_with_a_material_per_cell() {
    compare_all("3D painted", &painted_3d());
}

#[test]
fn matches_reference_on_an_odd_sized_grid() {
    // Sizes that are not multiples of the 4 × 4 transpose tiles or of the vector width.
    let extent = [2.6e-4, 1.8e-4, 1.4e-4];
    let inside = |p: [f64; 3]| u32::from(p[0] > 1e-4 && p[1] < 1.2e-4);
    let bcs = every_boundary();
    let a = species("A", &[1e-11, 1e-10], &[2e-3, 4e-3], &[250.0, 0.0], bcs);
    let u = species("U", &[3e-11, 3e-11], &[1e-3, 1e-3], &[30.0, 5.0], bcs);
    compare_all("3D 13×9×7", &box_problem([13, 9, 7], extent, &["gel", "tissue"], inside, vec![a, u], 1.0));
}

#[test]
fn matches_reference_in_2d_with_and_without_a_swept_single_cell_axis() {
    compare_all("2D, clearance on z", &slab_2d(true));
    compare_all("2D, closed z", &slab_2d(false));
    compare_all("2D, 300×70 in blocks", &wide_2d());
}

#[test]
fn matches_reference_on_a_line_along_each_axis() {
    for axis in 0..3 {
        compare_all(&format!("1D along axis {axis}"), &line_1d(axis));
    }
}

#[test]
fn matches_reference_with_binding() {
    compare_all("3D sphere, binding", &with_binding(sphere_3d(every_boundary())));
    compare_all("2D, 300×70 in blocks, binding", &with_binding(wide_2d()));
    compare_all("2D, clearance on z, binding", &with_binding(slab_2d(true)));
    compare_all("1D along x, binding", &with_binding(line_1d(0)));
}

#[test]
fn matches_reference_with_flow() {
    compare_all("3D sphere, uniform flow", &with_flow(sphere_3d(every_boundary()), uniform_flow));
    compare_all("3D sphere, flow per material", &with_flow(sphere_3d(every_boundary()), flow_per_material));
    compare_all("3D painted, flow per material", &with_flow(painted_3d(), flow_per_material));
    compare_all("2D, 300×70 in blocks, flow", &with_flow(wide_2d(), flow_per_material));
    compare_all("2D, clearance on z, flow", &with_flow(slab_2d(true), uniform_flow));
    for axis in 0..3 {
        compare_all(&format!("1D along axis {axis}, flow"), &with_flow(line_1d(axis), flow_per_material));
    }
}

#[test]
fn matches_reference_with_binding_and_flow() {
    compare_all(
        "3D sphere, binding and flow",
        &with_binding(with_flow(sphere_3d(every_boundary()), flow_per_material)),
    );
}

#[test]
fn closed_box_keeps_its_mass() {
    let mut p = sphere_3d([Boundary::NoFlux; 6]);
    for s in &mut p.species {
        s.decay_rate.fill(0.0);
    }
    for (scheme, steps) in [(Scheme::ExplicitFtcs, 300), (Scheme::AdiDouglas, 40)] {
        let p = with_scheme(p.clone(), scheme);
        let mut engine = CpuFast::new(&p, 2).unwrap();
        assert_closed_box_keeps_mass(scheme.name(), &mut engine, steps, step_for(&p), 0.9);
    }
}

#[test]
fn books_balance_with_every_sink() {
    for problem in [sphere_3d(every_boundary()), slab_2d(true)] {
        for scheme in [Scheme::ExplicitFtcs, Scheme::AdiDouglas] {
            let p = with_scheme(problem.clone(), scheme);
            let mut engine = CpuFast::new(&p, 2).unwrap();
            let initial: Vec<f64> = engine.reduce_totals().unwrap().iter().map(total).collect();
            let ns = initial.len();
            let (mut decayed, mut outflow) = (vec![0.0; ns], vec![0.0; ns]);
            let mut last = Vec::new();
            for _ in 0..4 {
                engine.step(if scheme == Scheme::AdiDouglas { 5 } else { 100 }, step_for(&p)).unwrap();
                last = engine.reduce_totals().unwrap();
                for s in 0..ns {
                    decayed[s] += last[s].decayed().iter().sum::<f64>();
                    outflow[s] += last[s].outflow.iter().sum::<f64>();
                }
            }
            for s in 0..ns {
                let present = total(&last[s]);
                let error = (initial[s] - present - decayed[s] - outflow[s]).abs() / initial[s];
                eprintln!(
                    "{:?} {} species {s}: initial {:.6e} present {present:.6e} decayed {:.6e} outflow {:.6e} \
                     balance error {error:.2e}",
                    p.grid.cells,
                    scheme.name(),
                    initial[s],
                    decayed[s],
                    outflow[s]
                );
                assert!(decayed[s] > 0.0 && outflow[s].abs() > 0.0, "the sinks must be active");
                assert!(error < 1e-5, "species {s}: books off by {error:e} of the initial amount");
            }
        }
    }
}

/// Each cell's arithmetic and each sum's order are fixed by the grid, not by the threads: the
/// fields and the totals are bit-identical for any thread count.
#[test]
fn results_are_bit_identical_for_any_thread_count() {
    let sphere = sphere_3d(every_boundary());
    let problems = [
        ("plain", sphere.clone()),
        ("binding", with_binding(sphere.clone())),
        ("flow", with_flow(sphere, flow_per_material)),
    ];
    for ((name, problem), scheme) in
        problems.iter().flat_map(|p| [Scheme::ExplicitFtcs, Scheme::AdiDouglas].map(|s| (p, s)))
    {
        let p = with_scheme(problem.clone(), scheme);
        let runs: Vec<(Vec<f32>, Vec<SpeciesTotals>)> = [1, 2, 3]
            .iter()
            .map(|&threads| {
                let mut engine = CpuFast::new(&p, threads).unwrap();
                engine.set_serial(threads == 1);
                engine.step(6, step_for(&p)).unwrap();
                (engine.read_field().unwrap(), engine.reduce_totals().unwrap())
            })
            .collect();
        for r in &runs[1..] {
            assert!(r.0 == runs[0].0, "{name} {}: fields differ between thread counts", scheme.name());
            assert_eq!(r.1, runs[0].1, "{name} {}: totals differ between thread counts", scheme.name());
        }
    }
}

/// The ADI scheme takes a group of species at a time (as many as fit a cache budget): one at a
/// time, two at a time and all at once give the same bits.
#[test]
fn results_do_not_depend_on_the_species_grouping() {
    let p = with_scheme(sphere_3d(every_boundary()), Scheme::AdiDouglas);
    let one_species = 8 * p.grid.n_cells();
    let runs: Vec<(Vec<f32>, Vec<SpeciesTotals>)> = [1, 2, 1000]
        .iter()
        .map(|&group| {
            let mut engine = CpuFast::new(&p, 2).unwrap();
            engine.set_serial(false);
            engine.set_cache_budget(group * one_species);
            engine.step(4, step_for(&p)).unwrap();
            (engine.read_field().unwrap(), engine.reduce_totals().unwrap())
        })
        .collect();
    for r in &runs[1..] {
        assert!(r.0 == runs[0].0, "fields differ between species groupings");
        assert_eq!(r.1, runs[0].1, "totals differ between species groupings");
    }
}

#[test]
fn start_up_can_be_turned_off_like_the_reference() {
    let p = with_scheme(sphere_3d(every_boundary()), Scheme::AdiDouglas);
    let mut reference = CpuReference::new(&p);
    let mut fast = CpuFast::new(&p, 2).unwrap();
    reference.set_start_up_steps(0);
    fast.set_start_up_steps(0);
    reference.step(3, step_for(&p)).unwrap();
    fast.step(3, step_for(&p)).unwrap();
    assert_fields_close("no start-up", &p, &fast.read_field().unwrap(), &reference.read_field().unwrap());
    let info = fast.info();
    assert_eq!(info.backend, "cpu");
    assert_eq!(info.device, "CPU fast engine (2 threads)");
    assert!(CpuFast::new(&p, 0).unwrap().threads() >= 1, "0 threads: rayon's default");
}

/// The embedded error estimate of both engines through a run with rate tracking: accepted steps
/// of changing size, a rejected step put back with `restore` and retried at half the size (the
/// retry overwrites the rate the rejected step wrote), on the serial path and on the pool.
#[test]
fn local_error_matches_reference_through_a_retry() {
    for (name, problem) in [("3D sphere", sphere_3d(every_boundary())), ("2D wide", wide_2d())] {
        let p = with_scheme(problem, Scheme::AdiDouglas);
        let dt = step_for(&p);
        for serial in [true, false] {
            let mut reference = CpuReference::new(&p);
            let mut fast = CpuFast::new(&p, 2).unwrap();
            fast.set_serial(serial);
            reference.track_rates(true);
            fast.track_rates(true);
            let mut previous = None;
            let mut worst = 0.0f64;
            // (step, rejected): the third step is rejected and retried at half the size.
            for (call, &(h, rejected)) in
                [(dt, false), (0.5 * dt, false), (2.0 * dt, true), (dt, false), (1.5 * dt, false)].iter().enumerate()
            {
                let tries: &[f64] = if rejected { &[h, 0.5 * h] } else { &[h] };
                for (attempt, &h) in tries.iter().enumerate() {
                    reference.save(0).unwrap();
                    fast.save(0).unwrap();
                    reference.step(1, h).unwrap();
                    fast.step(1, h).unwrap();
                    let weights = error_estimate(h, previous).weights;
                    let (a, b) = (fast.local_error(weights).unwrap(), reference.local_error(weights).unwrap());
                    let what = format!("{name} serial {serial} step {call} attempt {attempt}");
                    worst = worst.max(assert_errors_close(&what, &a, &b));
                    assert_fields_close(&what, &p, &fast.read_field().unwrap(), &reference.read_field().unwrap());
                    if attempt + 1 < tries.len() {
                        reference.restore(0).unwrap();
                        fast.restore(0).unwrap();
                    } else {
                        previous = Some(h);
                    }
                }
            }
            eprintln!("{name} (serial {serial}): largest relative local_error difference {worst:.2e}");
        }
    }
}

/// Asserts that two `local_error` results agree: the maxima exactly (the same f32 values),
/// the rms to the order of the sums (f64 per plane here, an f32 tree per 256 cells there;
/// measured ≤ 1.4e-8 relative).
fn assert_errors_close(what: &str, fast: &[Difference], reference: &[Difference]) -> f64 {
    let mut worst = 0.0f64;
    for (s, (a, b)) in fast.iter().zip(reference).enumerate() {
        assert!(b.max > 0.0, "{what}: species {s}: the estimate must see something");
        assert_eq!(a.max, b.max, "{what}: species {s} max");
        let rel = (a.rms - b.rms).abs() / b.rms;
        worst = worst.max(rel);
        assert!(rel <= 1e-7, "{what}: species {s} rms: fast {:e}, reference {:e}", a.rms, b.rms);
    }
    worst
}

/// The serial path runs the pool's tasks in order: the same bits.
#[test]
fn serial_path_gives_the_pools_bits() {
    for problem in [sphere_3d(every_boundary()), wide_2d(), line_1d(0)] {
        for scheme in [Scheme::ExplicitFtcs, Scheme::AdiDouglas] {
            let p = with_scheme(problem.clone(), scheme);
            let runs: Vec<(Vec<f32>, Vec<SpeciesTotals>)> = [true, false]
                .iter()
                .map(|&serial| {
                    let mut engine = CpuFast::new(&p, 2).unwrap();
                    engine.set_serial(serial);
                    engine.step(6, step_for(&p)).unwrap();
                    (engine.read_field().unwrap(), engine.reduce_totals().unwrap())
                })
                .collect();
            assert!(runs[1].0 == runs[0].0, "{:?} {}: fields differ", p.grid.cells, scheme.name());
            assert_eq!(runs[1].1, runs[0].1, "{:?} {}: totals differ", p.grid.cells, scheme.name());
        }
    }
    let small = CpuFast::new(&line_1d(0), 2).unwrap();
    assert!(small.is_serial(), "a 40-cell line takes the serial path");
    let big = CpuFast::new(&Problem::uniform_sphere_cube(32, 1, 1e-5, 1e-10, 0.0), 2).unwrap();
    assert!(!big.is_serial(), "32³ cells take the pool");
}
