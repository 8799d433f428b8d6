//! The GPU engine: the WGSL kernels in `shaders/` run through wgpu.
//!
//! It solves the same discrete equations as [`crate::solver::cpu::CpuReference`], whose kernels
//! are the CPU twins of these shaders (see [`crate::solver`] for the model and the bookkeeping),
//! with the same [`Params`] for the same call sequence, so the two agree to rounding.
//!
//! All fields stay on the device: `c` and `c_next` swap roles every step (two bind groups, one
//! per direction), the exposure accumulator `acc` and its compensation `comp` are cleared on the
//! device after each reduction, and only the small per-workgroup partials of
//! `reduce_totals` are read back, except when [`Engine::read_field`] asks for a whole field.
//! Steps are encoded back to back, [`STEPS_PER_SUBMIT`] per command buffer; wgpu orders the
//! dispatches of a compute pass by their buffer usage, so no host round trip is needed between
//! steps.

pub mod device;

pub use device::{AdapterSummary, Gpu, auto_choice, gpu_for_tests, list_adapters, open};

use super::{
    Engine, EngineInfo, Params, REDUCE_WORKGROUP, STEP_WORKGROUP, SolverError, SpeciesTotals, Tables, finish_totals,
    partial_len,
};
use crate::problem::Problem;
use wgpu::util::DeviceExt;

/// Explicit steps (dispatches) encoded into one command buffer before it is submitted.
pub const STEPS_PER_SUBMIT: u64 = 512;

const DIFFUSE_EXPLICIT_WGSL: &str = include_str!("../../../shaders/diffuse_explicit.wgsl");
const REDUCE_TOTALS_WGSL: &str = include_str!("../../../shaders/reduce_totals.wgsl");

/// Bytes of each buffer the engine needs for a problem, with the name used in messages.
fn buffer_sizes(n_cells: u64, n_species: u64, n_materials: u64) -> [(&'static str, u64); 6] {
    let groups = n_cells.div_ceil(REDUCE_WORKGROUP as u64);
    let field = 4 * n_species * n_cells;
    [
        ("material id buffer (4 B per cell)", 4 * n_cells),
        ("coefficient table", 8 * n_species * n_materials),
        ("boundary table", 16 * 6 * n_species),
        ("field buffer (4 B per cell per species; the engine holds four of them)", field),
        ("exposure accumulator", field),
        ("reduce partials", 4 * groups * n_species * partial_len(n_materials as usize) as u64),
    ]
}

/// Checks that a problem of `cells` × `n_species` × `n_materials` fits the adapter's limits:
/// every storage buffer within `max_storage_buffer_binding_size` and `max_buffer_size`, every
/// dispatch within `max_compute_workgroups_per_dimension`, every index within `u32`.
///
/// Returns [`SolverError::TooLarge`] quoting the bytes needed, the cap, the adapter and what to
/// reduce. Nothing is allocated, so this runs before any buffer is created.
pub fn check_fits(
    cells: [usize; 3],
    n_species: usize,
    n_materials: usize,
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
    for (name, bytes) in buffer_sizes(n_cells, ns, n_materials as u64) {
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
    if ns * n_cells > u32::MAX as u64 {
        return Err(too_large(format!(
            "{ns} species × {n_cells} cells = {} values, more than the {} that 32-bit shader indices reach",
            ns * n_cells,
            u32::MAX
        )));
    }
    let cap = limits.max_compute_workgroups_per_dimension as u64;
    let groups = n_cells.div_ceil(REDUCE_WORKGROUP as u64);
    let dispatches =
        [("diffuse_explicit", [nx.div_ceil(STEP_WORKGROUP as u64), ny, nz * ns]), ("reduce_totals", [groups, ns, 1])];
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

fn compute_pipeline(device: &wgpu::Device, name: &str, source: &str) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: None,
        module: &module,
        entry_point: Some(name),
        compilation_options: Default::default(),
        cache: None,
    })
}

fn bind_group(
    device: &wgpu::Device,
    label: &str,
    pipeline: &wgpu::ComputePipeline,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<_> = buffers
        .iter()
        .enumerate()
        .map(|(binding, buffer)| wgpu::BindGroupEntry { binding: binding as u32, resource: buffer.as_entire_binding() })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
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

/// Advances a [`Problem`] with the WGSL kernels on one wgpu device.
pub struct GpuEngine {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: AdapterSummary,
    problem: Problem,
    /// Host copy of the uniform, written before each submit that depends on it.
    params: Params,
    params_buffer: wgpu::Buffer,
    /// The two concentration buffers; `fields[current]` holds the present state.
    fields: [wgpu::Buffer; 2],
    acc: wgpu::Buffer,
    comp: wgpu::Buffer,
    partials: wgpu::Buffer,
    partials_staging: wgpu::Buffer,
    diffuse: wgpu::ComputePipeline,
    reduce: wgpu::ComputePipeline,
    /// `diffuse_groups[i]` reads `fields[i]` and writes `fields[1 - i]`.
    diffuse_groups: [wgpu::BindGroup; 2],
    /// `reduce_groups[i]` reads `fields[i]`.
    reduce_groups: [wgpu::BindGroup; 2],
    current: usize,
    /// Simulated time since the accumulators were cleared, s.
    since_clear: f64,
}

impl GpuEngine {
    /// Uploads `problem` to the device of `gpu`.
    ///
    /// Fails with [`SolverError::TooLarge`] before allocating anything when a buffer or a
    /// dispatch would exceed the adapter's limits, and with [`SolverError::Gpu`] when wgpu reports
    /// an error while creating the buffers and pipelines.
    pub fn new(gpu: &Gpu, problem: &Problem) -> Result<GpuEngine, SolverError> {
        let n_species = problem.species.len();
        check_fits(problem.grid.cells, n_species, problem.materials.len(), &gpu.limits, &gpu.adapter.name)?;
        let device = gpu.device.clone();
        scoped(&device, "creating the GPU engine's buffers and pipelines", || {
            let tables = Tables::new(problem);
            let initial = problem.initial_field();
            let zeros = vec![0u8; 4 * initial.len()];
            let groups = tables.params.counts[2] as usize;
            let partial_bytes = 4 * n_species * groups * partial_len(problem.materials.len());
            use wgpu::BufferUsages as U;
            let field_usage = U::STORAGE | U::COPY_SRC | U::COPY_DST;
            let params_buffer =
                buffer_init(&device, "params", bytemuck::bytes_of(&tables.params), U::UNIFORM | U::COPY_DST);
            let material = buffer_init(&device, "material", bytemuck::cast_slice(&tables.material), U::STORAGE);
            let coef = buffer_init(&device, "coef", bytemuck::cast_slice(&tables.coef), U::STORAGE);
            let faces = buffer_init(&device, "faces", bytemuck::cast_slice(&tables.faces), U::STORAGE);
            let fields = [
                buffer_init(&device, "c (ping)", bytemuck::cast_slice(&initial), field_usage),
                buffer_init(&device, "c_next (pong)", &zeros, field_usage),
            ];
            let acc = buffer_init(&device, "acc", &zeros, U::STORAGE | U::COPY_DST);
            let comp = buffer_init(&device, "comp", &zeros, U::STORAGE | U::COPY_DST);
            let partials = buffer_init(&device, "partials", &vec![0u8; partial_bytes], U::STORAGE | U::COPY_SRC);
            let partials_staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("partials staging"),
                size: partials.size(),
                usage: U::MAP_READ | U::COPY_DST,
                mapped_at_creation: false,
            });
            let diffuse = compute_pipeline(&device, "diffuse_explicit", DIFFUSE_EXPLICIT_WGSL);
            let reduce = compute_pipeline(&device, "reduce_totals", REDUCE_TOTALS_WGSL);
            let diffuse_groups = [0, 1].map(|i| {
                let c_in = &fields[i];
                let c_out = &fields[1 - i];
                let buffers = [&params_buffer, &material, &coef, &faces, c_in, c_out, &acc, &comp];
                bind_group(&device, "diffuse_explicit", &diffuse, &buffers)
            });
            let reduce_groups = [0, 1].map(|i| {
                let buffers = [&params_buffer, &material, &coef, &faces, &fields[i], &acc, &partials];
                bind_group(&device, "reduce_totals", &reduce, &buffers)
            });
            Ok(GpuEngine {
                device: device.clone(),
                queue: gpu.queue.clone(),
                adapter: gpu.adapter.clone(),
                problem: problem.clone(),
                params: tables.params,
                params_buffer,
                fields,
                acc,
                comp,
                partials,
                partials_staging,
                diffuse,
                reduce,
                diffuse_groups,
                reduce_groups,
                current: 0,
                since_clear: 0.0,
            })
        })
    }

    /// The adapter this engine runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    fn n_values(&self) -> usize {
        self.problem.species.len() * self.problem.grid.n_cells()
    }
}

impl Engine for GpuEngine {
    fn info(&self) -> EngineInfo {
        EngineInfo {
            backend: "gpu".into(),
            device: format!("{} ({})", self.adapter.name, self.adapter.backend),
            precision: "f32 fields; compensated f32 exposure accumulator; f64 totals".into(),
        }
    }

    fn step(&mut self, steps: u64, dt: f64) -> Result<(), SolverError> {
        self.params.time[0] = dt as f32;
        if steps == 0 {
            return Ok(());
        }
        let [nx, ny, nz, _] = self.params.cells;
        let workgroups = [nx.div_ceil(STEP_WORKGROUP), ny, nz * self.params.counts[0]];
        let device = self.device.clone();
        scoped(&device, "advancing the fields", || {
            self.queue.write_buffer(&self.params_buffer, 0, bytemuck::bytes_of(&self.params));
            let mut remaining = steps;
            let mut in_flight = None;
            while remaining > 0 {
                let chunk = remaining.min(STEPS_PER_SUBMIT);
                let mut encoder = device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("diffuse_explicit steps") });
                {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some("diffuse_explicit"),
                        timestamp_writes: None,
                    });
                    pass.set_pipeline(&self.diffuse);
                    for _ in 0..chunk {
                        pass.set_bind_group(0, &self.diffuse_groups[self.current], &[]);
                        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
                        self.current = 1 - self.current;
                    }
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
        })?;
        // The same f64 sum as the CPU twin, so both hand the same T to reduce_totals.
        for _ in 0..steps {
            self.since_clear += dt;
        }
        Ok(())
    }

    fn reduce_totals(&mut self) -> Result<Vec<SpeciesTotals>, SolverError> {
        self.params.time[1] = self.since_clear as f32;
        let groups = self.params.counts[2];
        let n_species = self.params.counts[0];
        let len = (n_species * groups * self.params.counts[3]) as usize;
        let device = self.device.clone();
        let partials = scoped(&device, "reducing the totals", || {
            self.queue.write_buffer(&self.params_buffer, 0, bytemuck::bytes_of(&self.params));
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
            }
            encoder.copy_buffer_to_buffer(&self.partials, 0, &self.partials_staging, 0, self.partials.size());
            encoder.clear_buffer(&self.acc, 0, None);
            encoder.clear_buffer(&self.comp, 0, None);
            self.queue.submit([encoder.finish()]);
            read_back(&device, &self.partials_staging, len)
        })?;
        self.since_clear = 0.0;
        Ok(finish_totals(&self.problem, &partials))
    }

    fn read_field(&mut self) -> Result<Vec<f32>, SolverError> {
        let len = self.n_values();
        let device = self.device.clone();
        scoped(&device, "reading the field", || {
            let current = &self.fields[self.current];
            let staging = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("field staging"),
                size: current.size(),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read_field") });
            encoder.copy_buffer_to_buffer(current, 0, &staging, 0, current.size());
            self.queue.submit([encoder.finish()]);
            read_back(&device, &staging, len)
        })
    }
}
