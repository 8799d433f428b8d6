//! The WGSL kernels as the GPU engine compiles them, and the bindings they declare.
//!
//! The source of kernel `NAME` is `shaders/common.wgsl` followed by `shaders/NAME.wgsl`, joined
//! at compile time by `concat!` of `include_str!` ([`KERNELS`]). The shared file holds what more
//! than one kernel needs: the structs that cross the Rust/WGSL border ([`Params`], [`Coef`],
//! [`FaceBc`], [`Term`]), the workgroup sizes, and the helpers with CPU twins (`face_offset`,
//! `plane_index`, `compensated_add`, …); it declares no binding. A kernel file declares its
//! bindings, in the order of its CPU twin's arguments, and its entry points.
//!
//! Plain concatenation keeps every name as written (no mangling in naga or driver messages),
//! needs no build script or composing crate, and costs nothing at run time. Its one catch: the
//! line numbers in a message about a composed kernel count the lines of `common.wgsl` first (naga
//! messages quote the offending line, so this rarely matters).
//!
//! Adding a kernel is writing `shaders/NAME.wgsl` and one `kernel!("NAME")` line in [`KERNELS`];
//! every entry point of every kernel is compiled once per device by
//! [`GpuContext`](super::GpuContext). Adding a binding is declaring it in the shader and passing
//! the buffer where the engine binds that kernel: the bind group layout is read from the
//! shader's declarations ([`layout_entries`]), not kept in a second list. tests/shaders.rs
//! validates every composed kernel with naga and checks the shared structs against their Rust
//! twins.
//!
//! [`Params`]: crate::solver::Params
//! [`Coef`]: crate::solver::Coef
//! [`FaceBc`]: crate::solver::FaceBc
//! [`Term`]: crate::solver::Term

/// `shaders/common.wgsl`: the definitions every kernel is composed with.
pub const COMMON_WGSL: &str = include_str!("../../../shaders/common.wgsl");

/// One kernel: the shader file `shaders/NAME.wgsl`, twin of `src/solver/cpu/NAME.rs`.
#[derive(Clone, Copy, Debug)]
pub struct KernelSource {
    /// `NAME`, also the label of its shader module and bind group layout.
    pub name: &'static str,
    /// What is compiled: [`COMMON_WGSL`], then the kernel's file.
    pub source: &'static str,
}

/// The [`KernelSource`] of `shaders/$name.wgsl`, composed at compile time.
macro_rules! kernel {
    ($name:literal) => {
        KernelSource {
            name: $name,
            source: concat!(
                include_str!("../../../shaders/common.wgsl"),
                "\n",
                include_str!(concat!("../../../shaders/", $name, ".wgsl"))
            ),
        }
    };
}

/// Every kernel the GPU engine runs, each composed with `common.wgsl`.
pub const KERNELS: [KernelSource; 7] = [
    kernel!("diffuse_explicit"),
    kernel!("adi_predictor"),
    kernel!("adi_sweep"),
    kernel!("react"),
    kernel!("reduce_totals"),
    kernel!("reduce_rows"),
    kernel!("local_error"),
];

/// The most storage buffers any kernel of [`KERNELS`] binds: `adi_sweep`'s eleven (four inputs,
/// the stage field, the cells' capacities, the Thomas scratch, and two compensated pairs of
/// books). wgpu's
/// `Limits::default()` allows 8 per shader stage; the device is opened with the adapter's own
/// limits, and an adapter below this is refused ([`check_storage_buffers`]). tests/shaders.rs
/// checks this number against the shaders.
pub const MAX_STORAGE_BUFFERS: u32 = 11;

/// [`SolverError::NoAdapter`] when `limits` allow fewer storage buffers per shader stage than
/// [`MAX_STORAGE_BUFFERS`]; `adapter` names the adapter in the message.
///
/// [`SolverError::NoAdapter`]: crate::solver::SolverError::NoAdapter
pub fn check_storage_buffers(limits: &wgpu::Limits, adapter: &str) -> Result<(), crate::solver::SolverError> {
    let allowed = limits.max_storage_buffers_per_shader_stage;
    if allowed >= MAX_STORAGE_BUFFERS {
        return Ok(());
    }
    Err(crate::solver::SolverError::NoAdapter(format!(
        "GPU adapter {adapter:?} allows {allowed} storage buffers per shader stage          (max_storage_buffers_per_shader_stage), but the adi_sweep kernel binds {MAX_STORAGE_BUFFERS};          run on the CPU engine (--backend cpu)"
    )))
}

/// Parses a composed kernel with naga; the error is naga's message, quoting the source.
pub fn parse(kernel: &KernelSource) -> Result<naga::Module, String> {
    naga::front::wgsl::parse_str(kernel.source)
        .map_err(|e| format!("{} does not parse:\n{}", kernel.name, e.emit_to_string(kernel.source)))
}

/// The bind group layout of a kernel, read from its declarations: one entry per
/// `var<uniform>` or `var<storage>` of `module`, in binding order, visible to compute.
///
/// The engine binds a kernel's buffers positionally, so the bindings must all be in group 0 and
/// numbered 0, 1, 2, … without gaps; anything else is an error naming the variable.
pub fn layout_entries(name: &str, module: &naga::Module) -> Result<Vec<wgpu::BindGroupLayoutEntry>, String> {
    let mut bound: Vec<_> =
        module.global_variables.iter().filter_map(|(_, var)| var.binding.map(|b| (b, var))).collect();
    bound.sort_by_key(|(b, _)| (b.group, b.binding));
    bound
        .iter()
        .enumerate()
        .map(|(position, (binding, var))| {
            let var_name = var.name.as_deref().unwrap_or("?");
            if binding.group != 0 || binding.binding != position as u32 {
                return Err(format!(
                    "{name}: `{var_name}` is at @group({}) @binding({}), but the engine binds group 0 as \
                     bindings 0, 1, 2, … in order, so it must be @group(0) @binding({position})",
                    binding.group, binding.binding
                ));
            }
            let ty = match var.space {
                naga::AddressSpace::Uniform => wgpu::BufferBindingType::Uniform,
                naga::AddressSpace::Storage { access } => {
                    wgpu::BufferBindingType::Storage { read_only: !access.contains(naga::StorageAccess::STORE) }
                }
                other => return Err(format!("{name}: `{var_name}` is bound in address space {other:?}, not a buffer")),
            };
            Ok(wgpu::BindGroupLayoutEntry {
                binding: binding.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
                count: None,
            })
        })
        .collect()
}
