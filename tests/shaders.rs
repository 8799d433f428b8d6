//! Every kernel, composed with `shaders/common.wgsl` as the engine compiles it, parses and
//! validates with naga and declares the entry points the engine looks up; the structs that cross
//! the Rust/WGSL border, declared once in `common.wgsl`, have the same size and field offsets as
//! their Rust twins. Needs no GPU.

use secretome::solver::SolverError;
use secretome::solver::gpu::kernels::{
    COMMON_WGSL, KERNELS, KernelSource, MAX_STORAGE_BUFFERS, check_storage_buffers, layout_entries, parse,
};
use secretome::solver::{Coef, FaceBc, Params, REDUCE_WORKGROUP, STEP_WORKGROUP, Term};
use std::mem::{offset_of, size_of};
use std::path::PathBuf;

/// The name of every `shaders/NAME.wgsl` but `common.wgsl`, sorted.
fn kernel_files() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .expect("reading shaders/")
        .map(|entry| entry.expect("listing shaders/").path())
        .filter(|path| path.extension().is_some_and(|e| e == "wgsl"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "common")
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no kernel .wgsl files in {}", dir.display());
    found
}

fn validate(name: &str, source: &str, module: &naga::Module) -> naga::valid::ModuleInfo {
    let mut validator =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
    validator.validate(module).unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(source)))
}

/// What the engine expects of one kernel.
struct Expected {
    name: &'static str,
    /// Compute entry points the engine looks up by name, in declaration order.
    entry_points: &'static [&'static str],
    /// `@workgroup_size` of every entry point.
    workgroup: [u32; 3],
}

const fn expected(name: &'static str, entry_points: &'static [&'static str], workgroup: [u32; 3]) -> Expected {
    Expected { name, entry_points, workgroup }
}

/// Every kernel, by name.
const EXPECTED: [Expected; 7] = [
    expected("adi_predictor", &["adi_predictor"], STEP),
    expected("adi_sweep", &["adi_sweep_x", "adi_sweep_y", "adi_sweep_z"], STEP),
    expected("diffuse_explicit", &["diffuse_explicit"], STEP),
    expected("local_error", &["local_error"], REDUCE),
    expected("react", &["react"], STEP),
    expected("reduce_rows", &["reduce_rows"], REDUCE),
    expected("reduce_totals", &["reduce_totals"], REDUCE),
];
const STEP: [u32; 3] = [STEP_WORKGROUP, 1, 1];
const REDUCE: [u32; 3] = [REDUCE_WORKGROUP, 1, 1];

/// The kernels of the engine's table, sorted by name.
fn kernels() -> Vec<&'static KernelSource> {
    let mut kernels: Vec<_> = KERNELS.iter().collect();
    kernels.sort_by_key(|k| k.name);
    kernels
}

#[test]
fn every_shader_file_is_a_kernel_of_the_engine() {
    let listed: Vec<&str> = kernels().iter().map(|k| k.name).collect();
    assert_eq!(kernel_files(), listed, "shaders/*.wgsl (but common.wgsl) and KERNELS in src/solver/gpu/kernels.rs");
    let expected: Vec<&str> = EXPECTED.iter().map(|e| e.name).collect();
    assert_eq!(listed, expected, "KERNELS and the table of expected entry points in this test");
}

#[test]
fn every_composed_kernel_parses_and_validates() {
    for (kernel, expected) in kernels().into_iter().zip(EXPECTED) {
        let name = kernel.name;
        assert!(kernel.source.starts_with(COMMON_WGSL), "{name} is not composed with common.wgsl first");
        let module = parse(kernel).unwrap_or_else(|e| panic!("{e}"));
        validate(name, kernel.source, &module);
        let declared: Vec<&str> = module.entry_points.iter().map(|ep| ep.name.as_str()).collect();
        assert_eq!(declared, expected.entry_points, "{name}: entry points (the engine looks them up by these names)");
        for ep in &module.entry_points {
            assert_eq!(ep.stage, naga::ShaderStage::Compute, "{name}: {} is not a compute entry point", ep.name);
            assert_eq!(ep.workgroup_size, expected.workgroup, "{name}: workgroup size of {}", ep.name);
        }
    }
}

/// The engine binds each kernel's buffers as bindings 0, 1, … of group 0, with the layout read
/// from the shader: every kernel must declare them that way, with a uniform first (`params`).
#[test]
fn every_kernel_binds_group_zero_in_order() {
    for kernel in kernels() {
        let module = parse(kernel).unwrap_or_else(|e| panic!("{e}"));
        let entries = layout_entries(kernel.name, &module).unwrap_or_else(|e| panic!("{e}"));
        assert!(entries.len() >= 2, "{}: only {} bindings", kernel.name, entries.len());
        let first = entries[0].ty;
        assert!(
            matches!(first, wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Uniform, .. }),
            "{}: binding 0 is {first:?}, not the params uniform",
            kernel.name
        );
    }
}

/// `MAX_STORAGE_BUFFERS`, which the engine requires of an adapter, is the most storage buffers
/// any kernel binds; above wgpu's default limit of 8, the check refuses an adapter that keeps to
/// it, with a message naming the limit.
#[test]
fn max_storage_buffers_is_what_the_kernels_bind() {
    let most = kernels()
        .iter()
        .map(|kernel| {
            let module = parse(kernel).unwrap_or_else(|e| panic!("{e}"));
            let entries = layout_entries(kernel.name, &module).unwrap_or_else(|e| panic!("{e}"));
            let storage = entries
                .iter()
                .filter(|e| {
                    matches!(e.ty, wgpu::BindingType::Buffer { ty: wgpu::BufferBindingType::Storage { .. }, .. })
                })
                .count() as u32;
            (storage, kernel.name)
        })
        .max()
        .expect("kernels");
    assert_eq!(most, (MAX_STORAGE_BUFFERS, "adi_sweep"), "(most storage buffers bound, by which kernel)");
    let default = wgpu::Limits::default();
    assert!(default.max_storage_buffers_per_shader_stage < MAX_STORAGE_BUFFERS, "the default limit is enough now");
    match check_storage_buffers(&default, "small") {
        Err(SolverError::NoAdapter(m)) => {
            assert!(m.contains("max_storage_buffers_per_shader_stage") && m.contains("\"small\""), "{m}")
        }
        other => panic!("expected NoAdapter, got {other:?}"),
    }
    let enough = wgpu::Limits { max_storage_buffers_per_shader_stage: MAX_STORAGE_BUFFERS, ..default };
    assert!(check_storage_buffers(&enough, "enough").is_ok());
}

/// A misplaced binding is refused with a message naming it, not left for the driver to find.
#[test]
fn a_binding_out_of_order_is_refused() {
    let source = format!(
        "{COMMON_WGSL}\n@group(0) @binding(0) var<uniform> params: Params;\n\
         @group(0) @binding(2) var<storage, read_write> skipped: array<f32>;\n\
         @compute @workgroup_size(1) fn main() {{ skipped[0] = params.time.x; }}\n"
    );
    let module = naga::front::wgsl::parse_str(&source).expect("test shader parses");
    let error = layout_entries("gap", &module).expect_err("binding 1 is missing");
    assert!(error.contains("`skipped`") && error.contains("@binding(1)"), "{error}");
}

/// The workgroup sizes in `common.wgsl` are those of the Rust side, which sizes the dispatches.
#[test]
fn common_wgsl_workgroup_sizes_match_rust() {
    let module = naga::front::wgsl::parse_str(COMMON_WGSL).expect("common.wgsl parses");
    for (name, value) in [("STEP_WORKGROUP", STEP_WORKGROUP), ("REDUCE_WORKGROUP", REDUCE_WORKGROUP)] {
        let (_, constant) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("common.wgsl declares no const {name}"));
        let init = &module.global_expressions[constant.init];
        assert_eq!(*init, naga::Expression::Literal(naga::Literal::U32(value)), "common.wgsl: {name} (Rust: {value})");
    }
}

/// A Rust twin: its WGSL name, size, and (field name, byte offset) in declaration order.
struct Twin {
    name: &'static str,
    size: usize,
    fields: Vec<(&'static str, usize)>,
}

fn twins() -> Vec<Twin> {
    vec![
        Twin {
            name: "Params",
            size: size_of::<Params>(),
            fields: vec![
                ("cells", offset_of!(Params, cells)),
                ("counts", offset_of!(Params, counts)),
                ("face_entries", offset_of!(Params, face_entries)),
                ("inv_h2", offset_of!(Params, inv_h2)),
                ("inv_h", offset_of!(Params, inv_h)),
                ("half_h", offset_of!(Params, half_h)),
                ("time", offset_of!(Params, time)),
                ("stage", offset_of!(Params, stage)),
                ("error", offset_of!(Params, error)),
                ("local", offset_of!(Params, local)),
            ],
        },
        Twin {
            name: "Coef",
            size: size_of::<Coef>(),
            fields: vec![
                ("diffusivity", offset_of!(Coef, diffusivity)),
                ("decay", offset_of!(Coef, decay)),
                ("velocity", offset_of!(Coef, velocity)),
            ],
        },
        Twin {
            name: "FaceBc",
            size: size_of::<FaceBc>(),
            fields: vec![
                ("kind", offset_of!(FaceBc, kind)),
                ("inv_rate", offset_of!(FaceBc, inv_rate)),
                ("value", offset_of!(FaceBc, value)),
                ("_pad", offset_of!(FaceBc, _pad)),
            ],
        },
        Twin {
            name: "Term",
            size: size_of::<Term>(),
            fields: vec![
                ("kind", offset_of!(Term, kind)),
                ("field", offset_of!(Term, field)),
                ("other", offset_of!(Term, other)),
                ("slot", offset_of!(Term, slot)),
                ("p", offset_of!(Term, p)),
            ],
        },
    ]
}

/// Checked once, on `common.wgsl` alone (every kernel is composed with it, and a kernel that
/// declared a struct of the same name again would not parse).
#[test]
fn wgsl_structs_match_their_rust_twins() {
    let module = naga::front::wgsl::parse_str(COMMON_WGSL)
        .unwrap_or_else(|e| panic!("common.wgsl does not parse:\n{}", e.emit_to_string(COMMON_WGSL)));
    validate("common.wgsl", COMMON_WGSL, &module);
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap_or_else(|e| panic!("common.wgsl: layout failed: {e}"));
    for twin in twins() {
        let (handle, ty) = module
            .types
            .iter()
            .find(|(_, ty)| ty.name.as_deref() == Some(twin.name))
            .unwrap_or_else(|| panic!("common.wgsl declares no struct {}", twin.name));
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("common.wgsl: {} is not a struct", twin.name);
        };
        let layout_size = layouter[handle].size as usize;
        assert_eq!(
            layout_size, twin.size,
            "common.wgsl: WGSL struct {} is {layout_size} bytes, its Rust twin {}",
            twin.name, twin.size
        );
        assert_eq!(*span as usize, twin.size, "common.wgsl: span of {}", twin.name);
        let wgsl_fields: Vec<_> =
            members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect();
        let rust_fields: Vec<_> = twin.fields.iter().map(|(n, o)| (n.to_string(), *o)).collect();
        assert_eq!(wgsl_fields, rust_fields, "common.wgsl: fields (name, byte offset) of {}", twin.name);
    }
}
