//! The GPU engine: the WGSL kernels in `shaders/` run through wgpu.
//!
//! The kernels are compiled once per device into a [`GpuContext`] ([`kernels`] says how their
//! sources are composed); every [`GpuEngine`] on that device shares it and owns only its buffers
//! and bind groups.
//!
//! It solves the same discrete equations as [`crate::solver::cpu::CpuReference`], whose kernels
//! are the CPU twins of these shaders (see [`crate::solver`] for the model and the bookkeeping),
//! with the same [`Params`] for the same call sequence (listed in [`crate::solver::cpu`]), so the
//! two agree to rounding (bit for bit where the device does not fuse multiply-adds and, with local
//! reactions, where its `exp` rounds as Rust's does).
//!
//! All data stay on the device. `c` and `c_next` swap roles after every stage; the decay
//! accumulators `dec`, `dec_comp` (one per cell and species) and the outflow accumulators `out`,
//! `out_comp` (one per boundary-face entry and species) are cleared on the device after each
//! reduction; `scratch` (ADI only) holds the Thomas coefficients of the sweeps. Only the small
//! per-workgroup partials of `reduce_totals`, `reduce_rows` and `local_error` are read back,
//! except when [`Engine::read_field`] asks for the whole field. The coefficient and boundary
//! tables and the reaction terms are written once, and again whenever
//! [`GpuEngine::set_coefficients`] replaces them between steps (which first reduces the books
//! into totals kept for the next reduce, as the reference does).
//!
//! Local reactions ([`Pass::React`], kernel `react`, one invocation per cell) act in place on
//! `c` and on the local rows: `local` holds `[row][cell]` every bound field
//! ([`Problem::bound_species`] order), every book slot of the reactions (amounts taken up or
//! converted, compensated with `local_comp`, `[slot][cell]`), then one anchor per bound field.
//! The reaction terms are `terms`, grouped by material, and `term_range` (`n_materials + 1`
//! entries; see [`crate::solver::reaction_table`]); an empty table is padded to one term that no
//! range reaches, as wgpu binds no empty buffer. Fast binding inside the ADI stages
//! ([`crate::solver::cpu::react`]): the first react pass of a step (`Params::local[3]` =
//! [`PHASE_FIRST`]) leaves each binding species' capacity in `cap` (`[species][cell]`, 1 where
//! nothing binds) and its free value in the anchor row; `adi_predictor` and `adi_sweep` solve
//! with `cap` on the diagonal, and the last react pass ([`PHASE_LAST`]) moves the bound share of
//! the stages' change into the bound field. The reduction runs `reduce_rows` over the bound
//! fields and book slots (Σ and max per material) beside `reduce_totals`, reads both partials
//! back through one staging buffer, and clears the rows after the bound fields and `local_comp`
//! but not the bound fields, which are state: [`Engine::read_field`], the exported state, and
//! `save`/`restore` include them.
//!
//! One step is the passes of [`step_passes`]: ADI `react(dt/2) · stages · react(dt/2)` (the
//! stages as [`Stage::of_step`] says: one Douglas stage, or the LOD substeps of a start-up step),
//! explicit `diffuse_explicit · react(dt)`, without react passes where the problem has no
//! reaction terms. Their parameters, as the reference sets them pass by pass, differ in `time`
//! and `stage` ([`Stage::time`], [`Stage::coefficients`], [`Pass::react_time`]); a step plan
//! (`StepPlan`) lists the passes of a regular and of a start-up step with the index of their
//! distinct [`Params`], at most five (ADI with reactions and tracked rates: the recording react
//! pass, the Douglas stage, the recording and the other LOD substeps, the closing react pass).
//! A uniform written with `write_buffer` holds one value for a whole submission, so each variant
//! has a uniform buffer of its own and every bind group exists once per variant. All steps of one
//! [`Engine::step`] call, start-up steps included, are then encoded back to back,
//! [`STEPS_PER_SUBMIT`] per command buffer, without a host round trip; wgpu orders the
//! dispatches of a compute pass by their buffer usage, so they need no other synchronisation.
//! `local_error` has a uniform of its own, which carries the error weights.
//!
//! Rates for the error estimate ([`Engine::track_rates`]): two buffers, `rates[newest]` the
//! latest. The host flips `newest` as it encodes each pass that stores its rate
//! (`time[3]` = [`RECORD_STORE`]: a recording react pass, or without reactions a recording
//! predictor), before binding `rates[newest]`, exactly as the reference engine does, so the bind
//! groups of `adi_predictor` and `react` exist for both parities. With reactions the recording
//! stage's predictor adds `A u` to the rate its react pass stored ([`super::RECORD_ADD`]) in the
//! same buffer, without a flip. `save`/`restore` keep `newest` with the state; the rates
//! themselves are not saved (a retried step overwrites the rate of the rejected one).
//!
//! `adi_sweep` binds eleven storage buffers, more than the eight of wgpu's `Limits::default()`: the
//! device is opened with the adapter's own limits, and an adapter that allows fewer than
//! [`kernels::MAX_STORAGE_BUFFERS`] is refused with [`SolverError::NoAdapter`] naming the limit.
//! (Packing the compensated pairs into one buffer each would fit the default, at the price of
//! index arithmetic that no longer reads like the CPU twin's; desktop Vulkan, Metal and DX12
//! adapters and lavapipe allow far more than eleven.)
//!
//! [`PHASE_FIRST`]: crate::solver::cpu::react::PHASE_FIRST
//! [`PHASE_LAST`]: crate::solver::cpu::react::PHASE_LAST
//! [`Stage::of_step`]: crate::solver::Stage::of_step
//! [`Stage::time`]: crate::solver::Stage::time
//! [`Stage::coefficients`]: crate::solver::Stage::coefficients

pub mod context;
pub mod device;
pub mod kernels;

pub use context::{CompiledKernel, GpuContext, context_for_tests};
pub use device::{AdapterSummary, Gpu, auto_choice, gpu_for_tests, list_adapters, open};

use super::{
    Difference, Engine, EngineInfo, EngineState, Params, Pass, RECORD_STORE, SAVE_SLOTS, START_UP_STEPS,
    STEP_WORKGROUP, SolverError, SpeciesTotals, Tables, Term, adi_sweep_axes, check_coefficient_update, face_entries,
    finish_difference, finish_totals, merge_pending, partial_len, reduce_groups, slot_error, step_passes,
};
use crate::problem::{Problem, Scheme};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// Steps encoded into one command buffer before it is submitted (an explicit step is one
/// dispatch, an ADI step two to four, [`START_UP_SUBSTEPS`](super::START_UP_SUBSTEPS) times that
/// during the start-up, and two react passes with local reactions).
pub const STEPS_PER_SUBMIT: u64 = 512;

/// Entry points of `adi_sweep.wgsl`, by axis.
const ADI_SWEEP_ENTRY_POINTS: [&str; 3] = ["adi_sweep_x", "adi_sweep_y", "adi_sweep_z"];

/// Uniform buffers for the [`Params`] variants of the passes of a step: the most distinct
/// parameters a step plan can hold (ADI with tracked rates and reactions: the recording react
/// pass, the Douglas stage, the recording and the other LOD substeps, the closing react pass).
const VARIANTS: usize = 5;

/// One pass of a step as the engine encodes it ([`Pass`]), with the index of the uniform variant
/// that holds its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Encoded {
    Explicit(usize),
    Adi(usize),
    React(usize),
}

impl Encoded {
    fn variant(self) -> usize {
        match self {
            Encoded::Explicit(v) | Encoded::Adi(v) | Encoded::React(v) => v,
        }
    }
}

/// The passes of a regular step and of a start-up step of one `dt` ([`step_passes`]), and the
/// distinct parameters they use, as the reference engine sets them pass by pass.
#[derive(Clone, Debug, Default)]
struct StepPlan {
    regular: Vec<Encoded>,
    start_up: Vec<Encoded>,
    /// At most [`VARIANTS`]; entry `v` goes to uniform `v`.
    params: Vec<Params>,
}

impl StepPlan {
    /// The plan of steps of `dt` for `scheme` with parameters `base` (of [`Tables::new`]),
    /// `n_swept` swept axes, local reactions or not, rates tracked or not.
    fn new(base: &Params, scheme: Scheme, dt: f64, n_swept: usize, reactions: bool, track: bool) -> Self {
        let mut params: Vec<Params> = Vec::new();
        let mut variant = |p: Params| match params.iter().position(|q| *q == p) {
            Some(v) => v,
            None => {
                params.push(p);
                params.len() - 1
            }
        };
        let mut passes = |start_up: bool| -> Vec<Encoded> {
            step_passes(scheme, start_up, dt, reactions, track)
                .into_iter()
                .map(|pass| match pass {
                    Pass::Explicit(dt) => {
                        Encoded::Explicit(variant(Params { time: [dt as f32, 0.0, 1.0, 0.0], ..*base }))
                    }
                    Pass::Adi(stage) => Encoded::Adi(variant(Params {
                        time: stage.time(track, reactions),
                        stage: stage.coefficients(n_swept),
                        ..*base
                    })),
                    Pass::React { tau, record, phase } => Encoded::React(variant(Params {
                        time: Pass::react_time(tau, record && track),
                        local: [base.local[0], base.local[1], base.local[2], phase],
                        ..*base
                    })),
                })
                .collect()
        };
        let regular = passes(false);
        let start_up = passes(true);
        assert!(params.len() <= VARIANTS, "a step needs {} parameter variants, more than {VARIANTS}", params.len());
        StepPlan { regular, start_up, params }
    }
}

/// Bytes of each buffer the engine needs for a problem, with the name used in messages.
fn buffer_sizes(
    cells: [usize; 3],
    n_species: u64,
    n_materials: u64,
    local_rows: u64,
    adi: bool,
) -> Vec<(&'static str, u64)> {
    let n_cells = (cells[0] * cells[1] * cells[2]) as u64;
    let field = 4 * n_species * n_cells;
    let faces = 4 * n_species * face_entries(cells) as u64;
    let groups = reduce_groups(cells) as u64;
    let mut sizes = vec![
        ("material id buffer (4 B per cell)", 4 * n_cells),
        ("coefficient table", std::mem::size_of::<crate::solver::Coef>() as u64 * n_species * n_materials),
        ("boundary table", 16 * 6 * n_species),
        ("field buffer (4 B per cell per species; the engine holds c and c_next)", field),
        ("decay accumulator (4 B per cell per species; the engine holds dec and dec_comp)", field),
        ("outflow accumulator (4 B per boundary-face cell per species; the engine holds out and out_comp)", faces),
        ("reduce partials", 4 * groups * n_species * partial_len(n_materials as usize) as u64),
    ];
    if local_rows > 0 {
        sizes.push(("local rows (4 B per cell per bound field and per reaction book slot)", 4 * local_rows * n_cells));
        sizes.push(("reduce partials of the local rows", 8 * groups * local_rows * n_materials));
    }
    if adi {
        sizes.push(("ADI scratch buffer (4 B per cell per species)", field));
        sizes.push(("capacity buffer (4 B per cell per species)", field));
        sizes.push(("rate buffer (4 B per cell per species; two while the adaptive step tracks rates)", field));
        sizes.push(("local error partials", 8 * groups * n_species));
    }
    sizes
}

/// Checks that a problem of `cells` × `n_species` × `n_materials` with `local_rows` local rows
/// per cell (bound fields and book slots of the local reactions, `Params::local[0] +
/// Params::local[1]`) fits the adapter's limits:
/// every storage buffer within `max_storage_buffer_binding_size` and `max_buffer_size`, every
/// dispatch within `max_compute_workgroups_per_dimension`, every index within `u32`.
///
/// `adi_sweeps` is `None` for the explicit scheme and, for the ADI scheme, the axes its sweeps
/// run along ([`adi_sweep_axes`]), whose dispatches depend on them.
///
/// Returns [`SolverError::TooLarge`] quoting the bytes needed, the cap, the adapter and what to
/// reduce. Nothing is allocated, so this runs before any buffer is created.
pub fn check_fits(
    cells: [usize; 3],
    n_species: usize,
    n_materials: usize,
    local_rows: usize,
    adi_sweeps: Option<&[u32]>,
    limits: &wgpu::Limits,
    adapter: &str,
) -> Result<(), SolverError> {
    let [nx, ny, nz] = cells.map(|n| n as u64);
    let n_cells = nx * ny * nz;
    let ns = n_species as u64;
    let advice = "reduce the number of cells (coarser spacing or a smaller domain) or of species, \
                  or run on the CPU engine (--backend cpu)";
    let too_large = |what: String| {
        SolverError::TooLarge(format!("problem too large for GPU adapter {adapter:?}: {what}; {advice}"))
    };
    let rows = local_rows as u64;
    for (name, bytes) in buffer_sizes(cells, ns, n_materials as u64, rows, adi_sweeps.is_some()) {
        for (cap_name, cap) in [
            ("max_storage_buffer_binding_size", limits.max_storage_buffer_binding_size),
            ("max_buffer_size", limits.max_buffer_size),
        ] {
            if bytes > cap {
                return Err(too_large(format!(
                    "the {name} for {n_cells} cells ({nx}×{ny}×{nz}) and {ns} species needs {bytes} bytes \
                     ({:.1} MiB), but the adapter's {cap_name} is {cap} bytes ({:.1} MiB)",
                    bytes as f64 / 1048576.0,
                    cap as f64 / 1048576.0
                )));
            }
        }
    }
    let values = ns.max(rows) * n_cells.max(face_entries(cells) as u64);
    if values > u32::MAX as u64 {
        return Err(too_large(format!(
            "{} species or local rows × {n_cells} cells need {values} values per buffer, more than the {} that \
             32-bit shader indices reach",
            ns.max(rows),
            u32::MAX
        )));
    }
    let cap = limits.max_compute_workgroups_per_dimension as u64;
    let per_cell = [nx.div_ceil(STEP_WORKGROUP as u64), ny, nz * ns];
    let mut dispatches = vec![("reduce_totals", [reduce_groups(cells) as u64, ns, 1])];
    if rows > 0 {
        dispatches.push(("react", [nx.div_ceil(STEP_WORKGROUP as u64), ny, nz]));
        dispatches.push(("reduce_rows", [reduce_groups(cells) as u64, rows, 1]));
    }
    match adi_sweeps {
        None => dispatches.push(("diffuse_explicit", per_cell)),
        Some(axes) => {
            dispatches.push(("adi_predictor", per_cell));
            dispatches.push(("local_error", [reduce_groups(cells) as u64, ns, 1]));
            for &axis in axes {
                let lines = n_cells / cells[axis as usize] as u64;
                let entry = ADI_SWEEP_ENTRY_POINTS[axis as usize];
                dispatches.push((entry, [lines.div_ceil(STEP_WORKGROUP as u64), ns, 1]));
            }
        }
    }
    for (kernel, dims) in dispatches {
        if let Some(axis) = (0..3).find(|&a| dims[a] > cap) {
            return Err(too_large(format!(
                "dispatch of {kernel} needs {:?} workgroups, {} along axis {axis}, but the adapter's \
                 max_compute_workgroups_per_dimension is {cap}",
                dims, dims[axis]
            )));
        }
    }
    Ok(())
}

/// Runs `f` inside validation, out-of-memory and internal error scopes, so that a wgpu error
/// becomes [`SolverError::Gpu`] instead of the default handler's panic.
fn scoped<T>(device: &wgpu::Device, what: &str, f: impl FnOnce() -> Result<T, SolverError>) -> Result<T, SolverError> {
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let errors = [validation.pop(), oom.pop(), internal.pop()].map(pollster::block_on);
    if let Some(e) = errors.into_iter().flatten().next() {
        return Err(SolverError::Gpu(format!("{what}: {e}")));
    }
    value
}

/// A buffer filled with `bytes`, at least 16 bytes long (a binding may not be empty).
fn buffer_init(device: &wgpu::Device, label: &str, bytes: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
    let mut contents = bytes.to_vec();
    if contents.len() < 16 {
        contents.resize(16, 0);
    }
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents: &contents, usage })
}

/// Maps `buffer`, waits for it, and copies its first `len` f32 values out.
fn read_back(device: &wgpu::Device, buffer: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, SolverError> {
    let slice = buffer.slice(..(4 * len.max(1)) as u64);
    let (sender, receiver) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = sender.send(result);
    });
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| SolverError::Gpu(format!("waiting for the device: {e}")))?;
    receiver
        .recv()
        .map_err(|_| SolverError::Gpu("mapping a read-back buffer: callback never ran".into()))?
        .map_err(|e| SolverError::Gpu(format!("mapping a read-back buffer: {e}")))?;
    let values = slice
        .get_mapped_range()
        .map(|view| bytemuck::pod_collect_to_vec::<u8, f32>(&view[..4 * len]))
        .map_err(|e| SolverError::Gpu(format!("reading a mapped buffer: {e}")));
    buffer.unmap();
    values
}

/// Pipelines (shared with the [`GpuContext`]) and bind groups of the explicit scheme.
/// `groups[v][i]` reads `fields[i]` and writes `fields[1 − i]`, with the parameters of variant `v`.
struct ExplicitKernels {
    diffuse: wgpu::ComputePipeline,
    groups: [[wgpu::BindGroup; 2]; VARIANTS],
    workgroups: [u32; 3],
}

/// Pipelines (shared with the [`GpuContext`]) and bind groups of the ADI scheme. Bind groups are
/// indexed by [`Params`] variant `v` (a [`StepPlan`] says which pass uses which) and `i`, reading
/// `fields[i]` and writing `fields[1 − i]`; the predictor's also by the rate buffer `p` it
/// records into.
struct AdiKernels {
    predictor: wgpu::ComputePipeline,
    /// One pipeline per swept axis ([`adi_sweep_axes`]), with its dispatch.
    sweeps: Vec<(wgpu::ComputePipeline, [u32; 3])>,
    /// `[variant][i][p]`.
    predictor_groups: [[[wgpu::BindGroup; 2]; 2]; VARIANTS],
    /// `[variant][i]`.
    sweep_groups: [[wgpu::BindGroup; 2]; VARIANTS],
    /// Dispatch of `adi_predictor`.
    workgroups: [u32; 3],
}

impl AdiKernels {
    /// Encodes one ADI stage with the parameters of `variant`, starting from `fields[current]`
    /// and recording (where the variant's `time[3]` says so) into `rates[rate]`; returns the
    /// index of the field that holds the result.
    fn encode_stage(&self, pass: &mut wgpu::ComputePass, variant: usize, current: usize, rate: usize) -> usize {
        let [x, y, z] = self.workgroups;
        pass.set_pipeline(&self.predictor);
        pass.set_bind_group(0, &self.predictor_groups[variant][current][rate], &[]);
        pass.dispatch_workgroups(x, y, z);
        for (sweep, [sx, sy, sz]) in &self.sweeps {
            pass.set_pipeline(sweep);
            pass.set_bind_group(0, &self.sweep_groups[variant][current], &[]);
            pass.dispatch_workgroups(*sx, *sy, *sz);
        }
        1 - current
    }
}

/// Pipelines (shared with the [`GpuContext`]) and bind groups of the local reactions: `react`,
/// in place on `fields[i]` and the local rows, and `reduce_rows`.
struct LocalKernels {
    react: wgpu::ComputePipeline,
    /// `[variant][i][p]`: on `fields[i]`, recording (where the variant's `time[3]` says so) into
    /// `rates[p]` ([`react_groups`]).
    react_groups: [[[wgpu::BindGroup; 2]; 2]; VARIANTS],
    /// Dispatch of `react`: one invocation per cell.
    workgroups: [u32; 3],
    reduce_rows: wgpu::ComputePipeline,
    rows_group: wgpu::BindGroup,
}

/// The buffers of the kernels that bind the rates (`adi_predictor` and `react`), for
/// [`predictor_groups`] and [`react_groups`].
struct RateUsers<'a> {
    params: &'a [wgpu::Buffer; VARIANTS],
    material: &'a wgpu::Buffer,
    coef: &'a wgpu::Buffer,
    faces: &'a wgpu::Buffer,
    terms: &'a wgpu::Buffer,
    term_range: &'a wgpu::Buffer,
    fields: &'a [wgpu::Buffer; 2],
    cap: &'a wgpu::Buffer,
    local: &'a wgpu::Buffer,
    local_comp: &'a wgpu::Buffer,
    /// The two rate buffers, or the same placeholder twice while no rates are tracked (no
    /// variant records then).
    rates: [&'a wgpu::Buffer; 2],
}

/// The bind groups of `adi_predictor`, `[variant][i][p]`.
fn predictor_groups(
    context: &GpuContext,
    device: &wgpu::Device,
    b: &RateUsers,
) -> [[[wgpu::BindGroup; 2]; 2]; VARIANTS] {
    let kernel = context.kernel("adi_predictor");
    std::array::from_fn(|v| {
        std::array::from_fn(|i| {
            std::array::from_fn(|p| {
                let buffers =
                    [&b.params[v], b.material, b.coef, b.faces, &b.fields[i], &b.fields[1 - i], b.cap, b.rates[p]];
                kernel.bind(device, "adi_predictor", &buffers)
            })
        })
    })
}

/// The bind groups of `react`, `[variant][i][p]`.
fn react_groups(context: &GpuContext, device: &wgpu::Device, b: &RateUsers) -> [[[wgpu::BindGroup; 2]; 2]; VARIANTS] {
    let kernel = context.kernel("react");
    std::array::from_fn(|v| {
        std::array::from_fn(|i| {
            std::array::from_fn(|p| {
                let buffers = [
                    &b.params[v],
                    b.material,
                    b.terms,
                    b.term_range,
                    &b.fields[i],
                    b.local,
                    b.local_comp,
                    b.rates[p],
                    b.cap,
                ];
                kernel.bind(device, "react", &buffers)
            })
        })
    })
}

/// The reaction terms as the `terms` buffer holds them: at least one (a binding of an empty
/// array is refused), the padding never read (every `term_range` is then empty).
fn padded_terms(terms: &[Term]) -> Vec<Term> {
    if terms.is_empty() { vec![Term::default()] } else { terms.to_vec() }
}

/// The rates of the error estimate and what `local_error` reads back, allocated by
/// [`Engine::track_rates`].
struct RateBuffers {
    rates: [wgpu::Buffer; 2],
    partials: wgpu::Buffer,
    staging: wgpu::Buffer,
}

enum Kernels {
    Explicit(ExplicitKernels),
    Adi(AdiKernels),
}

/// The pipeline and dispatch of `adi_sweep` along each of `axes`, for a problem of `params`.
fn sweep_dispatches(context: &GpuContext, params: &Params, axes: &[u32]) -> Vec<(wgpu::ComputePipeline, [u32; 3])> {
    let sweep = context.kernel("adi_sweep");
    axes.iter()
        .map(|&axis| {
            let lines = params.cells[3] / params.cells[axis as usize];
            let pipeline = sweep.pipeline(ADI_SWEEP_ENTRY_POINTS[axis as usize]).clone();
            (pipeline, [lines.div_ceil(STEP_WORKGROUP), params.counts[0], 1])
        })
        .collect()
}

/// Advances a [`Problem`] with the WGSL kernels on one wgpu device.
pub struct GpuEngine {
    /// The compiled kernels, shared with every other engine on the device.
    context: Arc<GpuContext>,
    /// Handles of `context.gpu.device` and `.queue`, kept for brevity.
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// The problem, with the coefficients last set ([`GpuEngine::set_coefficients`]).
    problem: Problem,
    /// Host copy of the parameters; `time` and `stage` are set per variant when the uniforms
    /// are written, `error` when `local_error` runs.
    params: Params,
    /// One uniform per variant of the step plan, written at the start of each [`Engine::step`]
    /// call, and the plan they were written for.
    params_buffers: [wgpu::Buffer; VARIANTS],
    plan: StepPlan,
    /// The uniform of `local_error` (the weights in `error`).
    error_params: wgpu::Buffer,
    material: wgpu::Buffer,
    /// The coefficient and boundary tables and the local reaction terms with each material's
    /// range of them ([`Tables`]), rewritten by [`GpuEngine::set_coefficients`].
    coef: wgpu::Buffer,
    faces: wgpu::Buffer,
    terms: wgpu::Buffer,
    term_range: wgpu::Buffer,
    /// Whether the problem has local reaction terms (a step then has react passes).
    reactions: bool,
    /// The two concentration buffers; `fields[current]` holds the present state.
    fields: [wgpu::Buffer; 2],
    dec: wgpu::Buffer,
    dec_comp: wgpu::Buffer,
    out: wgpu::Buffer,
    out_comp: wgpu::Buffer,
    /// The local rows, `[row][cell]`: every bound field, every book slot of the local
    /// reactions, and the anchor of every bound field; and the book slots' compensation,
    /// `[slot][cell]`.
    local: wgpu::Buffer,
    local_comp: wgpu::Buffer,
    /// The capacity of every cell for every species (ADI; 1 where no species binds fast), which
    /// the first react pass of a step writes and the ADI kernels read; a placeholder for the
    /// explicit scheme, whose react passes leave none.
    cap: wgpu::Buffer,
    /// Partials of `reduce_totals` and of `reduce_rows`, and one staging buffer that reads both
    /// back (those of `reduce_totals` first).
    partials: wgpu::Buffer,
    rows_partials: wgpu::Buffer,
    partials_staging: wgpu::Buffer,
    reduce: wgpu::ComputePipeline,
    /// `reduce_groups[i]` reads `fields[i]`.
    reduce_groups: [wgpu::BindGroup; 2],
    kernels: Kernels,
    local_kernels: LocalKernels,
    current: usize,
    /// Totals reduced before a coefficient change, added to the next reduce.
    pending: Option<Vec<SpeciesTotals>>,
    /// Steps still to be taken as start-up (ADI only).
    start_up_left: u32,
    /// The rates of the error estimate (ADI with rate tracking), and which is newest.
    rates: Option<RateBuffers>,
    newest: usize,
    /// Bound in place of the rates while none are tracked (16 bytes, never written).
    no_rate: wgpu::Buffer,
    /// Why the last `track_rates(true)` could not allocate the rates, for `local_error` to say.
    rates_failed: Option<String>,
    /// States saved for step-size control, allocated on first use.
    saved: [Option<SavedState>; SAVE_SLOTS],
}

/// Device copies of the state kept by [`Engine::save`], in the order of [`GpuEngine::state`].
struct SavedState {
    buffers: [wgpu::Buffer; 7],
    start_up_left: u32,
    newest: usize,
}

impl GpuEngine {
    /// The buffers that make up the state: current field, dec, dec_comp, out, out_comp, the
    /// local rows and their compensation.
    fn state(&self) -> [&wgpu::Buffer; 7] {
        [
            &self.fields[self.current],
            &self.dec,
            &self.dec_comp,
            &self.out,
            &self.out_comp,
            &self.local,
            &self.local_comp,
        ]
    }

    /// Copies every state buffer into `to` (or from `from`) in one submission.
    fn copy_state(&self, pairs: &[(&wgpu::Buffer, &wgpu::Buffer)]) {
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("state copy") });
        for (from, to) in pairs {
            encoder.copy_buffer_to_buffer(from, 0, to, 0, from.size());
        }
        self.queue.submit([encoder.finish()]);
    }

    /// Uploads `problem` to the device of `context`, whose compiled kernels it shares: this
    /// allocates buffers and bind groups and compiles nothing.
    ///
    /// Fails with [`SolverError::TooLarge`] before allocating anything when a buffer or a
    /// dispatch would exceed the adapter's limits, and with [`SolverError::Gpu`] when wgpu reports
    /// an error while creating the buffers and bind groups.
    pub fn new(context: &Arc<GpuContext>, problem: &Problem) -> Result<GpuEngine, SolverError> {
        let gpu = &context.gpu;
        let n_species = problem.species.len();
        let adi = problem.schedule.scheme == Scheme::AdiDouglas;
        let sweep_axes = adi_sweep_axes(problem);
        let tables = Tables::new(problem);
        let params = tables.params;
        let n_rows = (params.local[0] + params.local[1]) as usize;
        check_fits(
            problem.grid.cells,
            n_species,
            problem.materials.len(),
            n_rows,
            adi.then_some(sweep_axes.as_slice()),
            &gpu.limits,
            &gpu.adapter.name,
        )?;
        let device = gpu.device.clone();
        scoped(&device, "creating the GPU engine's buffers", || {
            let (initial, local_rows, local_comp_rows) = crate::solver::cpu::initial_rows(problem, &tables);
            let zeros = vec![0u8; 4 * initial.len()];
            let face_zeros = vec![0u8; 4 * n_species * params.face_entries[0] as usize];
            let groups = params.counts[2] as usize;
            let partial_len = n_species * groups * params.counts[3] as usize;
            let rows_len = n_rows * groups * 2 * params.counts[1] as usize;
            use wgpu::BufferUsages as U;
            let field_usage = U::STORAGE | U::COPY_SRC | U::COPY_DST;
            let params_buffers: [wgpu::Buffer; VARIANTS] = std::array::from_fn(|v| {
                let label = format!("params (variant {v})");
                buffer_init(&device, &label, bytemuck::bytes_of(&params), U::UNIFORM | U::COPY_DST)
            });
            let error_params =
                buffer_init(&device, "params (local error)", bytemuck::bytes_of(&params), U::UNIFORM | U::COPY_DST);
            let no_rate = buffer_init(&device, "no rate", &[], U::STORAGE);
            let material = buffer_init(&device, "material", bytemuck::cast_slice(&tables.material), U::STORAGE);
            let table_usage = U::STORAGE | U::COPY_DST;
            let coef = buffer_init(&device, "coef", bytemuck::cast_slice(&tables.coef), table_usage);
            let faces = buffer_init(&device, "faces", bytemuck::cast_slice(&tables.faces), table_usage);
            let terms = buffer_init(&device, "terms", bytemuck::cast_slice(&padded_terms(&tables.terms)), table_usage);
            let term_range = buffer_init(&device, "term_range", bytemuck::cast_slice(&tables.term_range), table_usage);
            let fields = [
                buffer_init(&device, "c (ping)", bytemuck::cast_slice(&initial), field_usage),
                buffer_init(&device, "c_next (pong)", &zeros, field_usage),
            ];
            let accumulator_usage = U::STORAGE | U::COPY_SRC | U::COPY_DST;
            let dec = buffer_init(&device, "dec", &zeros, accumulator_usage);
            let dec_comp = buffer_init(&device, "dec_comp", &zeros, accumulator_usage);
            let out = buffer_init(&device, "out", &face_zeros, accumulator_usage);
            let out_comp = buffer_init(&device, "out_comp", &face_zeros, accumulator_usage);
            let local = buffer_init(&device, "local", bytemuck::cast_slice(&local_rows), accumulator_usage);
            let local_comp =
                buffer_init(&device, "local_comp", bytemuck::cast_slice(&local_comp_rows), accumulator_usage);
            let ones = if adi { vec![1.0f32; initial.len()] } else { Vec::new() };
            let cap = buffer_init(&device, "cap", bytemuck::cast_slice(&ones), U::STORAGE);
            let partials = buffer_init(&device, "partials", &vec![0u8; 4 * partial_len], U::STORAGE | U::COPY_SRC);
            let rows_partials =
                buffer_init(&device, "rows partials", &vec![0u8; 4 * rows_len], U::STORAGE | U::COPY_SRC);
            let partials_staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("partials staging"),
                size: (4 * (partial_len + rows_len) as u64).max(16),
                usage: U::MAP_READ | U::COPY_DST,
                mapped_at_creation: false,
            });

            let [nx, ny, nz, _] = params.cells;
            let ns = params.counts[0];
            let per_cell = [nx.div_ceil(STEP_WORKGROUP), ny, nz * ns];
            let reduce_kernel = context.kernel("reduce_totals");
            let reduce_groups = [0, 1].map(|i| {
                let buffers = [&params_buffers[0], &material, &fields[i], &dec, &out, &partials];
                reduce_kernel.bind(&device, "reduce_totals", &buffers)
            });
            let users = RateUsers {
                params: &params_buffers,
                material: &material,
                coef: &coef,
                faces: &faces,
                terms: &terms,
                term_range: &term_range,
                fields: &fields,
                cap: &cap,
                local: &local,
                local_comp: &local_comp,
                rates: [&no_rate, &no_rate],
            };
            let rows_kernel = context.kernel("reduce_rows");
            let local_kernels = LocalKernels {
                react: context.kernel("react").pipeline("react").clone(),
                react_groups: react_groups(context, &device, &users),
                workgroups: [nx.div_ceil(STEP_WORKGROUP), ny, nz],
                reduce_rows: rows_kernel.pipeline("reduce_rows").clone(),
                rows_group: rows_kernel.bind(
                    &device,
                    "reduce_rows",
                    &[&params_buffers[0], &material, &local, &rows_partials],
                ),
            };
            let kernels = if adi {
                let scratch = buffer_init(&device, "scratch", &zeros, U::STORAGE);
                let sweep_kernel = context.kernel("adi_sweep");
                Kernels::Adi(AdiKernels {
                    predictor: context.kernel("adi_predictor").pipeline("adi_predictor").clone(),
                    sweeps: sweep_dispatches(context, &params, &sweep_axes),
                    predictor_groups: predictor_groups(context, &device, &users),
                    sweep_groups: std::array::from_fn(|v| {
                        [0, 1].map(|i| {
                            let buffers = [
                                &params_buffers[v],
                                &material,
                                &coef,
                                &faces,
                                &fields[i],
                                &fields[1 - i],
                                &cap,
                                &scratch,
                                &out,
                                &out_comp,
                                &dec,
                                &dec_comp,
                            ];
                            sweep_kernel.bind(&device, "adi_sweep", &buffers)
                        })
                    }),
                    workgroups: per_cell,
                })
            } else {
                let kernel = context.kernel("diffuse_explicit");
                let groups = std::array::from_fn(|v| {
                    [0, 1].map(|i| {
                        let buffers = [
                            &params_buffers[v],
                            &material,
                            &coef,
                            &faces,
                            &fields[i],
                            &fields[1 - i],
                            &dec,
                            &dec_comp,
                            &out,
                            &out_comp,
                        ];
                        kernel.bind(&device, "diffuse_explicit", &buffers)
                    })
                });
                Kernels::Explicit(ExplicitKernels {
                    diffuse: kernel.pipeline("diffuse_explicit").clone(),
                    groups,
                    workgroups: per_cell,
                })
            };
            Ok(GpuEngine {
                context: context.clone(),
                device: device.clone(),
                queue: gpu.queue.clone(),
                problem: problem.clone(),
                params,
                params_buffers,
                plan: StepPlan::default(),
                error_params,
                material,
                coef,
                faces,
                terms,
                term_range,
                reactions: !tables.terms.is_empty(),
                fields,
                dec,
                dec_comp,
                out,
                out_comp,
                local,
                local_comp,
                cap,
                partials,
                rows_partials,
                partials_staging,
                reduce: reduce_kernel.pipeline("reduce_totals").clone(),
                reduce_groups,
                kernels,
                local_kernels,
                current: 0,
                pending: None,
                start_up_left: START_UP_STEPS,
                rates: None,
                newest: 0,
                no_rate,
                rates_failed: None,
                saved: [None],
            })
        })
    }

    /// The adapter this engine runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.context.gpu.adapter
    }

    /// The compiled kernels this engine runs, shared with every engine on its device.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.context
    }

    /// Values of one free field of every species (and of one rate).
    fn n_values(&self) -> usize {
        self.problem.species.len() * self.problem.grid.n_cells()
    }

    /// Values of the bound fields, the first rows of `local`.
    fn n_bound_values(&self) -> usize {
        self.params.local[0] as usize * self.problem.grid.n_cells()
    }

    /// Writes the step plan for steps of `dt` seconds and the uniform of each of its variants,
    /// with the parameters `CpuReference::step` sets for each pass.
    fn write_params(&mut self, dt: f64) {
        let n_swept = match &self.kernels {
            Kernels::Explicit(_) => 0,
            Kernels::Adi(k) => k.sweeps.len(),
        };
        let scheme = self.problem.schedule.scheme;
        self.plan = StepPlan::new(&self.params, scheme, dt, n_swept, self.reactions, self.rates.is_some());
        for (buffer, params) in self.params_buffers.iter().zip(&self.plan.params) {
            self.queue.write_buffer(buffer, 0, bytemuck::bytes_of(params));
        }
    }

    /// Advances like [`Engine::step`], all `steps` in one compute pass, and returns the GPU time
    /// of that pass in seconds from timestamp queries, or `None` where the device has none.
    /// For benchmarks; keep `steps` moderate (one command buffer).
    pub fn step_timed(&mut self, steps: u64, dt: f64) -> Result<Option<f64>, SolverError> {
        if !self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            self.step(steps, dt)?;
            return Ok(None);
        }
        let device = self.device.clone();
        scoped(&device, "timing steps", || {
            self.write_params(dt);
            let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("step timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolved = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamps staging"),
                size: 16,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("timed") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("timed steps"),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &queries,
                        beginning_of_pass_write_index: Some(0),
                        end_of_pass_write_index: Some(1),
                    }),
                });
                self.encode_steps(&mut pass, steps);
            }
            encoder.resolve_query_set(&queries, 0..2, &resolved, 0);
            encoder.copy_buffer_to_buffer(&resolved, 0, &staging, 0, 16);
            self.queue.submit([encoder.finish()]);
            let raw = read_back(&device, &staging, 4)?;
            let ticks: [u64; 2] = bytemuck::pod_read_unaligned(bytemuck::cast_slice(&raw));
            let ns = ticks[1].saturating_sub(ticks[0]) as f64 * self.queue.get_timestamp_period() as f64;
            Ok(Some(ns * 1e-9))
        })
    }

    /// Encodes `steps` steps into `pass` as their [`StepPlan`] says, advancing `current`, the
    /// start-up count and, before each pass that stores its rate ([`RECORD_STORE`]), `newest`, so
    /// that the pass records into the new `rates[newest]`, as in `CpuReference`. An ADI
    /// predictor that adds `A u` to the rate a react pass stored ([`super::RECORD_ADD`]) records
    /// into the same `rates[newest]` without a flip.
    fn encode_steps(&mut self, pass: &mut wgpu::ComputePass, steps: u64) {
        let adi = matches!(self.kernels, Kernels::Adi(_));
        for _ in 0..steps {
            let start_up = adi && self.start_up_left > 0;
            let passes = if start_up { &self.plan.start_up } else { &self.plan.regular };
            for &encoded in passes {
                if self.plan.params[encoded.variant()].time[3] == RECORD_STORE {
                    self.newest = 1 - self.newest;
                }
                match (encoded, &self.kernels) {
                    (Encoded::Explicit(v), Kernels::Explicit(k)) => {
                        let [x, y, z] = k.workgroups;
                        pass.set_pipeline(&k.diffuse);
                        pass.set_bind_group(0, &k.groups[v][self.current], &[]);
                        pass.dispatch_workgroups(x, y, z);
                        self.current = 1 - self.current;
                    }
                    (Encoded::Adi(v), Kernels::Adi(k)) => {
                        self.current = k.encode_stage(pass, v, self.current, self.newest);
                    }
                    (Encoded::React(v), _) => {
                        let l = &self.local_kernels;
                        let [x, y, z] = l.workgroups;
                        pass.set_pipeline(&l.react);
                        pass.set_bind_group(0, &l.react_groups[v][self.current][self.newest], &[]);
                        pass.dispatch_workgroups(x, y, z);
                    }
                    (other, _) => unreachable!("{other:?} is a pass of the other scheme"),
                }
            }
            if start_up {
                self.start_up_left -= 1;
            }
        }
    }

    /// The first `n_values` f32 of `buffer`, copied out through a staging buffer.
    fn copy_out(&self, buffer: &wgpu::Buffer, what: &str) -> Result<Vec<f32>, SolverError> {
        let len = self.n_values();
        let device = self.device.clone();
        scoped(&device, what, || {
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("state staging"),
                size: buffer.size(),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(what) });
            encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
            self.queue.submit([encoder.finish()]);
            read_back(&device, &staging, len)
        })
    }

    /// Allocates the rate buffers and `local_error`'s partials, and binds the rates to the
    /// predictor and to `react`.
    fn allocate_rates(&mut self) -> Result<(), SolverError> {
        let device = self.device.clone();
        scoped(&device, "allocating the rates of the error estimate", || {
            use wgpu::BufferUsages as U;
            let bytes = 4 * self.n_values() as u64;
            let rate = |label| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes.max(16),
                    usage: U::STORAGE | U::COPY_SRC | U::COPY_DST,
                    mapped_at_creation: false,
                })
            };
            let rates = [rate("rate (a)"), rate("rate (b)")];
            // Zeroed on creation, like the reference engine's fresh rates.
            let partials_bytes = 8 * (self.params.counts[0] * self.params.counts[2]) as u64;
            let partials = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("local error partials"),
                size: partials_bytes.max(16),
                usage: U::STORAGE | U::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("local error staging"),
                size: partials.size(),
                usage: U::MAP_READ | U::COPY_DST,
                mapped_at_creation: false,
            });
            self.rates = Some(RateBuffers { rates, partials, staging });
            self.bind_rates();
            Ok(())
        })
    }

    /// Rebuilds the bind groups of the kernels that bind the rates (the predictor and `react`)
    /// for the rates now held (or the placeholder) and the `terms` buffer now held.
    fn bind_rates(&mut self) {
        let rates = match &self.rates {
            Some(r) => [&r.rates[0], &r.rates[1]],
            None => [&self.no_rate, &self.no_rate],
        };
        let users = RateUsers {
            params: &self.params_buffers,
            material: &self.material,
            coef: &self.coef,
            faces: &self.faces,
            terms: &self.terms,
            term_range: &self.term_range,
            fields: &self.fields,
            cap: &self.cap,
            local: &self.local,
            local_comp: &self.local_comp,
            rates,
        };
        let react = react_groups(&self.context, &self.device, &users);
        let predictor =
            matches!(self.kernels, Kernels::Adi(_)).then(|| predictor_groups(&self.context, &self.device, &users));
        self.local_kernels.react_groups = react;
        if let (Kernels::Adi(k), Some(groups)) = (&mut self.kernels, predictor) {
            k.predictor_groups = groups;
        }
    }
}

impl Engine for GpuEngine {
    fn set_start_up_steps(&mut self, steps: u32) {
        self.start_up_left = steps;
    }

    /// Reduces the books first (kept in `pending` and added to the next reduce, as the
    /// reference does: the linear loss is split into its channels by the rates in force), then
    /// writes the new tables.
    fn set_coefficients(&mut self, problem: &Problem) -> Result<(), SolverError> {
        check_coefficient_update(&self.problem, problem)?;
        let axes = adi_sweep_axes(problem);
        if matches!(self.kernels, Kernels::Adi(_)) {
            let gpu = &self.context.gpu;
            check_fits(
                problem.grid.cells,
                problem.species.len(),
                problem.materials.len(),
                (self.params.local[0] + self.params.local[1]) as usize,
                Some(&axes),
                &gpu.limits,
                &gpu.adapter.name,
            )?;
        }
        let mut earlier = self.reduce_totals()?;
        merge_pending(&mut self.pending, &mut earlier);
        self.pending = Some(earlier);
        if let Kernels::Adi(k) = &mut self.kernels {
            k.sweeps = sweep_dispatches(&self.context, &self.params, &axes);
        }
        let tables = Tables::new(problem);
        let terms = padded_terms(&tables.terms);
        let device = self.device.clone();
        scoped(&device, "writing the coefficient tables", || {
            self.queue.write_buffer(&self.coef, 0, bytemuck::cast_slice(&tables.coef));
            self.queue.write_buffer(&self.faces, 0, bytemuck::cast_slice(&tables.faces));
            self.queue.write_buffer(&self.term_range, 0, bytemuck::cast_slice(&tables.term_range));
            let bytes: &[u8] = bytemuck::cast_slice(&terms);
            if bytes.len() as u64 == self.terms.size() {
                self.queue.write_buffer(&self.terms, 0, bytes);
            } else {
                // As many booked terms and bound fields, but binding terms moved between materials.
                let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
                self.terms = buffer_init(&device, "terms", bytes, usage);
                self.bind_rates();
            }
            Ok(())
        })?;
        self.reactions = !tables.terms.is_empty();
        self.params = tables.params;
        self.problem = problem.clone();
        Ok(())
    }

    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "gpu".into(),
            device: format!("{} ({})", self.adapter().name, self.adapter().backend),
            precision: "f32 fields; compensated f32 decay, outflow and reaction books; f64 totals".into(),
        }
    }

    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError> {
        if steps == 0 {
            return Ok(());
        }
        let device = self.device.clone();
        scoped(&device, "advancing the fields", || {
            self.write_params(dt);
            let mut remaining = steps;
            let mut in_flight = None;
            while remaining > 0 {
                let chunk = remaining.min(STEPS_PER_SUBMIT);
                let mut encoder =
                    device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("steps") });
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("steps"),
                        timestamp_writes: None,
                    });
                    self.encode_steps(&mut pass, chunk);
                }
                let submitted = self.queue.submit([encoder.finish()]);
                // Keep at most two command buffers queued: the device always has the next one
                // ready, and a long run cannot pile up unbounded work on the host.
                if let Some(previous) = in_flight.replace(submitted) {
                    device
                        .poll(wgpu::PollType::Wait { submission_index: Some(previous), timeout: None })
                        .map_err(|e| SolverError::Gpu(format!("waiting for the device: {e}")))?;
                }
                remaining -= chunk;
            }
            Ok(())
        })
    }

    /// `reduce_totals` and `reduce_rows` in one submission, both partials read back through one
    /// staging buffer; then the decay and outflow accumulators and the book slots of the local
    /// rows are cleared on the device (the bound fields stay: they are state).
    fn reduce_totals(&mut self) -> Result<Vec<SpeciesTotals>, SolverError> {
        let groups = self.params.counts[2];
        let n_species = self.params.counts[0];
        let n_rows = self.params.local[0] + self.params.local[1];
        let len = (n_species * groups * self.params.counts[3]) as usize;
        let rows_len = (n_rows * groups * 2 * self.params.counts[1]) as usize;
        let bound_bytes = 4 * self.n_bound_values() as u64;
        let device = self.device.clone();
        let values = scoped(&device, "reducing the totals", || {
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("reduce_totals") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("reduce_totals"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&self.reduce);
                pass.set_bind_group(0, &self.reduce_groups[self.current], &[]);
                pass.dispatch_workgroups(groups, n_species, 1);
                if n_rows > 0 {
                    pass.set_pipeline(&self.local_kernels.reduce_rows);
                    pass.set_bind_group(0, &self.local_kernels.rows_group, &[]);
                    pass.dispatch_workgroups(groups, n_rows, 1);
                }
            }
            encoder.copy_buffer_to_buffer(&self.partials, 0, &self.partials_staging, 0, 4 * len as u64);
            if rows_len > 0 {
                let at = 4 * len as u64;
                encoder.copy_buffer_to_buffer(&self.rows_partials, 0, &self.partials_staging, at, 4 * rows_len as u64);
            }
            for accumulator in [&self.dec, &self.dec_comp, &self.out, &self.out_comp, &self.local_comp] {
                encoder.clear_buffer(accumulator, 0, None);
            }
            encoder.clear_buffer(&self.local, bound_bytes, None);
            self.queue.submit([encoder.finish()]);
            read_back(&device, &self.partials_staging, len + rows_len)
        })?;
        let (partials, rows) = values.split_at(len);
        let mut totals = finish_totals(&self.problem, partials, rows);
        merge_pending(&mut self.pending, &mut totals);
        Ok(totals)
    }

    fn save(&mut self, slot: usize) -> Result<(), SolverError> {
        if slot >= SAVE_SLOTS {
            return Err(slot_error(slot, "does not exist"));
        }
        let device = self.device.clone();
        scoped(&device, "saving the state", || {
            if self.saved[slot].is_none() {
                let buffers = self.state().map(|b| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("saved state"),
                        size: b.size(),
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_SRC
                            | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                });
                self.saved[slot] = Some(SavedState { buffers, start_up_left: 0, newest: 0 });
            }
            let saved = self.saved[slot].as_ref().expect("allocated above");
            let state = self.state();
            let pairs: Vec<_> = state.iter().zip(&saved.buffers).map(|(a, b)| (*a, b)).collect();
            self.copy_state(&pairs);
            Ok(())
        })?;
        let (left, newest) = (self.start_up_left, self.newest);
        let saved = self.saved[slot].as_mut().expect("allocated above");
        saved.start_up_left = left;
        saved.newest = newest;
        Ok(())
    }

    fn restore(&mut self, slot: usize) -> Result<(), SolverError> {
        let saved = self.saved.get(slot).and_then(|s| s.as_ref()).ok_or_else(|| slot_error(slot, "is empty"))?;
        let device = self.device.clone();
        scoped(&device, "restoring the state", || {
            let state = self.state();
            let pairs: Vec<_> = saved.buffers.iter().zip(state).collect();
            self.copy_state(&pairs);
            Ok(())
        })?;
        self.start_up_left = saved.start_up_left;
        self.newest = saved.newest;
        Ok(())
    }

    /// Allocates the two rate buffers (zeroed) and `local_error`'s partials on the first
    /// `track_rates(true)` of an ADI engine, and frees them on `track_rates(false)`. An
    /// allocation the device refuses leaves the rates untracked, and `local_error` reports why.
    fn track_rates(&mut self, on: bool) {
        if !matches!(self.kernels, Kernels::Adi(_)) || on == self.rates.is_some() {
            return;
        }
        self.rates_failed = None;
        if on {
            if let Err(e) = self.allocate_rates() {
                self.rates_failed = Some(e.to_string());
            }
        } else {
            self.rates = None;
            self.bind_rates();
        }
    }

    fn local_error(&mut self, weights: [f64; 2]) -> Result<Vec<Difference>, SolverError> {
        let saved = self.saved[0].as_ref().ok_or_else(|| slot_error(0, "is empty"))?;
        let Some(rates) = &self.rates else {
            let why = self.rates_failed.as_ref().map(|e| format!(" ({e})")).unwrap_or_default();
            return Err(SolverError::Usage(format!(
                "local_error needs rate tracking (track_rates(true)) and the ADI scheme{why}"
            )));
        };
        let params = Params { error: [weights[0] as f32, weights[1] as f32, 0.0, 0.0], ..self.params };
        let (ns, groups) = (params.counts[0], params.counts[2]);
        let device = self.device.clone();
        let kernel = self.context.kernel("local_error");
        let partials = scoped(&device, "estimating the local error", || {
            self.queue.write_buffer(&self.error_params, 0, bytemuck::bytes_of(&params));
            let buffers = [
                &self.error_params,
                &self.fields[self.current],
                &saved.buffers[0],
                &rates.rates[self.newest],
                &rates.rates[1 - self.newest],
                &rates.partials,
            ];
            let group = kernel.bind(&device, "local_error", &buffers);
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("local_error") });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("local_error"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(kernel.pipeline("local_error"));
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(groups, ns, 1);
            }
            encoder.copy_buffer_to_buffer(&rates.partials, 0, &rates.staging, 0, rates.partials.size());
            self.queue.submit([encoder.finish()]);
            read_back(&device, &rates.staging, (2 * ns * groups) as usize)
        })?;
        Ok(finish_difference(ns as usize, params.cells[3] as usize, &partials))
    }

    fn export_state(&mut self) -> Result<EngineState, SolverError> {
        let field = self.read_field()?;
        let rates = match &self.rates {
            None => Vec::new(),
            Some(r) => {
                let (newest, previous) = (&r.rates[self.newest], &r.rates[1 - self.newest]);
                let mut rates = self.copy_out(newest, "reading the rates")?;
                rates.extend(self.copy_out(previous, "reading the rates")?);
                rates
            }
        };
        Ok(EngineState { field, start_up_left: self.start_up_left, rates })
    }

    fn import_state(&mut self, state: &EngineState) -> Result<(), SolverError> {
        let (n, bound) = (self.n_values(), self.n_bound_values());
        state.check(n + bound, n)?;
        self.track_rates(!state.rates.is_empty());
        if !state.rates.is_empty() && self.rates.is_none() {
            return Err(SolverError::Usage("the state has rates but this engine cannot track them".into()));
        }
        let device = self.device.clone();
        scoped(&device, "writing a state", || {
            self.queue.write_buffer(&self.fields[self.current], 0, bytemuck::cast_slice(&state.field[..n]));
            if bound > 0 {
                self.queue.write_buffer(&self.local, 0, bytemuck::cast_slice(&state.field[n..]));
            }
            if let Some(r) = &self.rates {
                self.queue.write_buffer(&r.rates[0], 0, bytemuck::cast_slice(&state.rates[..n]));
                self.queue.write_buffer(&r.rates[1], 0, bytemuck::cast_slice(&state.rates[n..]));
            }
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("import_state") });
            for accumulator in [&self.dec, &self.dec_comp, &self.out, &self.out_comp, &self.local_comp] {
                encoder.clear_buffer(accumulator, 0, None);
            }
            encoder.clear_buffer(&self.local, 4 * bound as u64, None);
            self.queue.submit([encoder.finish()]);
            Ok(())
        })?;
        self.newest = 0;
        self.start_up_left = state.start_up_left;
        self.pending = None;
        Ok(())
    }

    fn read_field(&mut self) -> Result<Vec<f32>, SolverError> {
        let (free, bound) = (self.n_values(), self.n_bound_values());
        let device = self.device.clone();
        scoped(&device, "reading the field", || {
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("field staging"),
                size: (4 * (free + bound) as u64).max(16),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read_field") });
            encoder.copy_buffer_to_buffer(&self.fields[self.current], 0, &staging, 0, 4 * free as u64);
            if bound > 0 {
                encoder.copy_buffer_to_buffer(&self.local, 0, &staging, 4 * free as u64, 4 * bound as u64);
            }
            self.queue.submit([encoder.finish()]);
            read_back(&device, &staging, free + bound)
        })
    }
}
