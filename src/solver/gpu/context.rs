//! The kernels of one device, compiled once and shared by every engine built on it.
//!
//! [`GpuContext::new`] compiles every kernel of [`KERNELS`] for an open [`Gpu`]: one shader
//! module and one bind group layout per kernel, one compute pipeline per entry point. Engines
//! ([`GpuEngine::new`](super::GpuEngine::new)) hold the context through an [`Arc`] and only
//! allocate their buffers and bind groups, so a second problem on the same device compiles
//! nothing; [`GpuContext::pipelines_created`] counts what was compiled.

use super::kernels::{KERNELS, check_storage_buffers, layout_entries, parse};
use super::{Gpu, gpu_for_tests, scoped};
use crate::solver::SolverError;
use std::sync::Arc;

/// One kernel compiled for a device: its bind group layout, shared by all its entry points (an
/// explicit layout, so one bind group serves every pipeline of the kernel), and a pipeline per
/// entry point.
pub struct CompiledKernel {
    name: &'static str,
    bind_layout: wgpu::BindGroupLayout,
    /// Number of bindings the layout has (0, 1, … in order).
    bindings: usize,
    /// (entry point name, pipeline), in the shader's order.
    pipelines: Vec<(String, wgpu::ComputePipeline)>,
}

impl CompiledKernel {
    /// The pipeline of entry point `entry_point`. Panics if the kernel has none of that name: the
    /// engine's names are checked against the shaders in tests/shaders.rs.
    pub fn pipeline(&self, entry_point: &str) -> &wgpu::ComputePipeline {
        self.pipelines
            .iter()
            .find(|(name, _)| name == entry_point)
            .map(|(_, pipeline)| pipeline)
            .unwrap_or_else(|| panic!("kernel {} has no entry point {entry_point}", self.name))
    }

    /// A bind group of `buffers` at bindings 0, 1, … in order. Panics if their number is not the
    /// number of bindings the shader declares.
    pub fn bind(&self, device: &wgpu::Device, label: &str, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        assert_eq!(
            buffers.len(),
            self.bindings,
            "{label}: {} buffers bound to kernel {}, whose shader declares {} bindings",
            buffers.len(),
            self.name,
            self.bindings
        );
        let entries: Vec<_> = buffers
            .iter()
            .enumerate()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: binding as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &self.bind_layout,
            entries: &entries,
        })
    }
}

/// An open device with every kernel compiled for it. Build it once per device and share it.
pub struct GpuContext {
    /// The device and queue the kernels were compiled for, with its adapter and limits.
    pub gpu: Gpu,
    /// In [`KERNELS`] order.
    kernels: Vec<CompiledKernel>,
    /// Compute pipelines created for this context.
    pipelines_created: usize,
}

impl GpuContext {
    /// Compiles every kernel for `gpu`.
    ///
    /// Fails with [`SolverError::NoAdapter`] when the device allows fewer storage buffers per
    /// shader stage than a kernel binds ([`check_storage_buffers`]), and with
    /// [`SolverError::Gpu`] when a shader does not parse or the device rejects a module or
    /// pipeline (tests/shaders.rs catches the former without a device).
    pub fn new(gpu: Gpu) -> Result<Arc<GpuContext>, SolverError> {
        check_storage_buffers(&gpu.limits, &gpu.adapter.name)?;
        let device = gpu.device.clone();
        let (kernels, pipelines_created) = scoped(&device, "compiling the GPU kernels", || {
            let mut pipelines_created = 0;
            let mut kernels = Vec::with_capacity(KERNELS.len());
            for kernel in &KERNELS {
                let module = parse(kernel).map_err(SolverError::Gpu)?;
                let entries = layout_entries(kernel.name, &module).map_err(SolverError::Gpu)?;
                let bind_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(kernel.name),
                    entries: &entries,
                });
                let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(kernel.name),
                    bind_group_layouts: &[Some(&bind_layout)],
                    immediate_size: 0,
                });
                let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.name),
                    source: wgpu::ShaderSource::Wgsl(kernel.source.into()),
                });
                let pipelines = module
                    .entry_points
                    .iter()
                    .map(|entry| {
                        pipelines_created += 1;
                        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: Some(&entry.name),
                            layout: Some(&pipeline_layout),
                            module: &shader,
                            entry_point: Some(&entry.name),
                            compilation_options: Default::default(),
                            cache: None,
                        });
                        (entry.name.clone(), pipeline)
                    })
                    .collect();
                kernels.push(CompiledKernel { name: kernel.name, bind_layout, bindings: entries.len(), pipelines });
            }
            Ok((kernels, pipelines_created))
        })?;
        Ok(Arc::new(GpuContext { gpu, kernels, pipelines_created }))
    }

    /// The compiled kernel `name` (a [`KERNELS`] name). Panics for an unknown name.
    pub fn kernel(&self, name: &str) -> &CompiledKernel {
        self.kernels
            .iter()
            .find(|k| k.name == name)
            .unwrap_or_else(|| panic!("no kernel {name} in KERNELS (src/solver/gpu/kernels.rs)"))
    }

    /// Compute pipelines this context has created: one per entry point of [`KERNELS`], all in
    /// [`GpuContext::new`]; building engines adds none.
    pub fn pipelines_created(&self) -> usize {
        self.pipelines_created
    }
}

/// A context for a GPU test, on the device of [`gpu_for_tests`]: `None` (said loudly) where there
/// is no adapter, a panic where `SECRETOME_REQUIRE_GPU=1` or the kernels do not compile.
pub fn context_for_tests(test_name: &str) -> Option<Arc<GpuContext>> {
    let gpu = gpu_for_tests(test_name)?;
    Some(GpuContext::new(gpu).unwrap_or_else(|e| panic!("GPU test {test_name}: {e}")))
}
