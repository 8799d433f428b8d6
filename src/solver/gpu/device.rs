//! Finding a GPU adapter and opening a device, separate from running anything on it.
//!
//! Honours the usual wgpu environment variables: `WGPU_BACKEND` (e.g. `vulkan`, `metal`, `dx12`,
//! `gl`) restricts the backends searched, and `WGPU_ADAPTER_NAME` keeps only adapters whose name
//! contains the given text (case-insensitive). A software adapter (`DeviceType::Cpu`, e.g.
//! Mesa's lavapipe "llvmpipe") runs the shaders correctly but more slowly than the CPU engine, so
//! it is used only where explicitly allowed (tests, `--backend gpu`), never by `auto`.

use super::kernels::MAX_STORAGE_BUFFERS;
use crate::solver::SolverError;

/// Hint printed wherever no adapter is found.
const INSTALL_HINT: &str =
    "for a software adapter (slow, but runs the GPU engine) install `mesa-vulkan-drivers libvulkan1`";

/// What one adapter is and what it can do, for reports and for choosing.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterSummary {
    /// Adapter name as the driver reports it, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Graphics API wgpu drives it through: `Vulkan`, `Metal`, `Dx12`, `Gl`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` or `Other`.
    pub device_type: String,
    /// True for a software rasteriser running on the CPU (`DeviceType::Cpu`).
    pub software: bool,
    /// Largest storage-buffer binding the adapter allows, in bytes.
    pub max_storage_binding: u64,
    /// Whether shaders may use f64 (`SHADER_F64`).
    pub shader_f64: bool,
    /// Whether GPU timestamp queries are available (`TIMESTAMP_QUERY`).
    pub timestamps: bool,
}

impl AdapterSummary {
    fn of(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let features = adapter.features();
        AdapterSummary {
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            software: info.device_type == wgpu::DeviceType::Cpu,
            max_storage_binding: adapter.limits().max_storage_buffer_binding_size,
            shader_f64: features.contains(wgpu::Features::SHADER_F64),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }

    /// One line: name, backend, type.
    pub fn describe(&self) -> String {
        format!("{} ({}, {})", self.name, self.backend, self.device_type)
    }
}

/// An open device with its queue, and what it was opened on.
pub struct Gpu {
    /// The logical device; a cheap clonable handle that engines keep a copy of.
    pub device: wgpu::Device,
    /// The device's queue; also a clonable handle.
    pub queue: wgpu::Queue,
    /// The adapter the device was opened on.
    pub adapter: AdapterSummary,
    /// The limits the device was opened with: the adapter's own, not `Limits::default()`.
    pub limits: wgpu::Limits,
}

fn instance() -> wgpu::Instance {
    // `from_env` reads WGPU_BACKEND (and the other instance variables).
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn all_adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    pollster::block_on(instance.enumerate_adapters(backends))
}

/// Every adapter wgpu can see under the current `WGPU_BACKEND`, usable or not.
pub fn list_adapters() -> Vec<AdapterSummary> {
    all_adapters(&instance()).iter().map(AdapterSummary::of).collect()
}

/// Lower is better: hardware before software, discrete before integrated, native APIs before GL.
fn preference(summary: &AdapterSummary, info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let api = if summary.backend == "Gl" { 1 } else { 0 };
    (kind, api)
}

/// Picks the best usable adapter, or explains for each one found why it was not used.
fn choose(allow_software: bool) -> Result<(wgpu::Adapter, AdapterSummary), String> {
    let name_filter = std::env::var("WGPU_ADAPTER_NAME").ok().map(|n| n.to_lowercase());
    let adapters = all_adapters(&instance());
    let mut rejected = Vec::new();
    let mut software_refused = false;
    let mut usable = Vec::new();
    for adapter in adapters {
        let summary = AdapterSummary::of(&adapter);
        let info = adapter.get_info();
        let compute = adapter.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
        let why_not = if let Some(filter) = name_filter.as_ref().filter(|f| !summary.name.to_lowercase().contains(*f)) {
            Some(format!("name does not contain WGPU_ADAPTER_NAME={filter:?}"))
        } else if !compute {
            Some("no compute shader support".to_string())
        } else if adapter.limits().max_storage_buffers_per_shader_stage < MAX_STORAGE_BUFFERS {
            Some(format!(
                "allows {} storage buffers per shader stage, the adi_sweep kernel binds {MAX_STORAGE_BUFFERS}",
                adapter.limits().max_storage_buffers_per_shader_stage
            ))
        } else if summary.software && !allow_software {
            software_refused = true;
            Some("software adapter (slower than the CPU engine)".to_string())
        } else {
            None
        };
        match why_not {
            Some(reason) => rejected.push(format!("{}: {reason}", summary.describe())),
            None => usable.push((preference(&summary, &info), adapter, summary)),
        }
    }
    usable.sort_by_key(|(rank, _, _)| *rank);
    if let Some((_, adapter, summary)) = usable.into_iter().next() {
        return Ok((adapter, summary));
    }
    let backends = std::env::var("WGPU_BACKEND").map(|b| format!("WGPU_BACKEND={b}")).unwrap_or("all backends".into());
    let found = if rejected.is_empty() {
        format!("no adapter found ({backends})")
    } else {
        format!("no usable adapter ({backends}); found {}", rejected.join("; "))
    };
    let hint = if software_refused {
        "a software adapter runs the GPU engine more slowly than the CPU engine; ask for it explicitly \
         (--backend gpu) to use it anyway"
    } else {
        INSTALL_HINT
    };
    Err(format!("{found}; {hint}"))
}

/// Opens a device on the best usable adapter, with the adapter's own limits (wgpu's defaults
/// allow 8 storage buffers per shader stage, fewer than `adi_sweep` binds; an adapter that
/// allows fewer than [`MAX_STORAGE_BUFFERS`] is not usable).
///
/// With `allow_software == false` a software adapter is refused. Returns
/// [`SolverError::NoAdapter`] listing what was found and why it was not used.
pub fn open(allow_software: bool) -> Result<Gpu, SolverError> {
    let (adapter, summary) = choose(allow_software).map_err(SolverError::NoAdapter)?;
    let limits = adapter.limits();
    // Timestamp queries, where the adapter has them, let benchmarks time the GPU work itself.
    let features = adapter.features() & wgpu::Features::TIMESTAMP_QUERY;
    let descriptor = wgpu::DeviceDescriptor {
        label: Some("secretome"),
        required_features: features,
        required_limits: limits.clone(),
        ..Default::default()
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
        .map_err(|e| SolverError::Gpu(format!("opening a device on {}: {e}", summary.describe())))?;
    Ok(Gpu { device, queue, adapter: summary, limits })
}

/// What `--backend auto` would use: a hardware GPU, or `None` for the CPU engine, with a reason.
///
/// A software adapter is never chosen here: it runs the shaders more slowly than the CPU engine.
pub fn auto_choice() -> (Option<AdapterSummary>, String) {
    match choose(false) {
        Ok((_, summary)) => {
            let reason = format!("hardware GPU adapter {}", summary.describe());
            (Some(summary), reason)
        }
        Err(why) => (None, format!("CPU engine: {why}")),
    }
}

/// Opens a device for a GPU test, software adapters allowed.
///
/// Without an adapter the test is skipped with a loud line on stderr, unless
/// `SECRETOME_REQUIRE_GPU=1`, in which case this panics (the CI failure).
pub fn gpu_for_tests(test_name: &str) -> Option<Gpu> {
    match open(true) {
        Ok(gpu) => Some(gpu),
        Err(e) => {
            if std::env::var("SECRETOME_REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("GPU test {test_name} FAILED: SECRETOME_REQUIRE_GPU=1 but no GPU adapter could be opened: {e}");
            }
            // Straight to the stderr handle: the test harness captures `eprintln!` of passing
            // tests, and a skip must not be silent.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "GPU test {test_name} SKIPPED: no adapter ({e}); set SECRETOME_REQUIRE_GPU=1 to make this a failure"
            );
            None
        }
    }
}
