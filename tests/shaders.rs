//! Every WGSL shader parses and validates with naga, and the structs that cross the Rust/WGSL
//! border have the same size and field offsets on both sides. Needs no GPU.

use secretome::solver::{Coef, FaceBc, Params, REDUCE_WORKGROUP, STEP_WORKGROUP};
use std::mem::{offset_of, size_of};
use std::path::PathBuf;

fn shader_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

/// Every `shaders/*.wgsl`, as (file name, source), sorted by name.
fn shaders() -> Vec<(String, String)> {
    let mut found: Vec<_> = std::fs::read_dir(shader_dir())
        .expect("reading shaders/")
        .map(|entry| entry.expect("listing shaders/").path())
        .filter(|path| path.extension().is_some_and(|e| e == "wgsl"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
            (name, source)
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no .wgsl files in {}", shader_dir().display());
    found
}

fn parse(name: &str, source: &str) -> naga::Module {
    naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)))
}

/// What the engines expect of one shader file.
struct Shader {
    file: &'static str,
    /// Compute entry points the engines look up by name, in declaration order.
    entry_points: &'static [&'static str],
    /// `@workgroup_size` of every entry point.
    workgroup: [u32; 3],
    /// Structs shared with Rust that the file declares, in declaration order.
    structs: &'static [&'static str],
}

const fn shader(
    file: &'static str,
    entry_points: &'static [&'static str],
    workgroup: [u32; 3],
    structs: &'static [&'static str],
) -> Shader {
    Shader { file, entry_points, workgroup, structs }
}

/// Every shader file, by name.
const SHADERS: [Shader; 6] = [
    shader("adi_predictor.wgsl", &["adi_predictor"], STEP, &["Params", "Coef", "FaceBc"]),
    shader("adi_sweep.wgsl", &["adi_sweep_x", "adi_sweep_y", "adi_sweep_z"], STEP, &["Params", "Coef", "FaceBc"]),
    shader("diffuse_explicit.wgsl", &["diffuse_explicit"], STEP, &["Params", "Coef", "FaceBc"]),
    shader("field_difference.wgsl", &["field_difference"], REDUCE, &["Params"]),
    shader("react_half_step.wgsl", &["react_half_step"], STEP, &["Params", "Coef"]),
    shader("reduce_totals.wgsl", &["reduce_totals"], REDUCE, &["Params"]),
];
const STEP: [u32; 3] = [STEP_WORKGROUP, 1, 1];
const REDUCE: [u32; 3] = [REDUCE_WORKGROUP, 1, 1];

#[test]
fn every_shader_parses_and_validates() {
    let found = shaders();
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    let listed: Vec<&str> = SHADERS.iter().map(|s| s.file).collect();
    assert_eq!(names, listed, "shaders/ and the table of expected entry points list different files");
    for ((name, source), expected) in found.iter().zip(SHADERS) {
        let module = parse(name, source);
        let mut validator =
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
        if let Err(e) = validator.validate(&module) {
            panic!("{name} does not validate:\n{}", e.emit_to_string(source));
        }
        let declared: Vec<&str> = module.entry_points.iter().map(|ep| ep.name.as_str()).collect();
        assert_eq!(declared, expected.entry_points, "{name}: entry points (the engines look them up by these names)");
        for ep in &module.entry_points {
            assert_eq!(ep.stage, naga::ShaderStage::Compute, "{name}: {} is not a compute entry point", ep.name);
            assert_eq!(ep.workgroup_size, expected.workgroup, "{name}: workgroup size of {}", ep.name);
        }
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
            ],
        },
        Twin {
            name: "Coef",
            size: size_of::<Coef>(),
            fields: vec![("diffusivity", offset_of!(Coef, diffusivity)), ("decay", offset_of!(Coef, decay))],
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
    ]
}

#[test]
fn wgsl_structs_match_their_rust_twins() {
    for ((name, source), expected) in shaders().iter().zip(SHADERS) {
        let module = parse(name, source);
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap_or_else(|e| panic!("{name}: layout failed: {e}"));
        let mut checked = Vec::new();
        for (handle, ty) in module.types.iter() {
            let Some(twin) = twins().into_iter().find(|t| ty.name.as_deref() == Some(t.name)) else {
                continue;
            };
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                panic!("{name}: {} is not a struct", twin.name);
            };
            let layout_size = layouter[handle].size as usize;
            assert_eq!(
                layout_size, twin.size,
                "{name}: WGSL struct {} is {layout_size} bytes, its Rust twin {}",
                twin.name, twin.size
            );
            assert_eq!(*span as usize, twin.size, "{name}: span of {}", twin.name);
            let wgsl_fields: Vec<_> =
                members.iter().map(|m| (m.name.clone().unwrap_or_default(), m.offset as usize)).collect();
            let rust_fields: Vec<_> = twin.fields.iter().map(|(n, o)| (n.to_string(), *o)).collect();
            assert_eq!(wgsl_fields, rust_fields, "{name}: fields (name, byte offset) of {}", twin.name);
            checked.push(twin.name);
        }
        assert_eq!(checked, expected.structs, "{name}: shared structs declared");
    }
}
