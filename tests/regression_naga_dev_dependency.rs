//! naga was a normal dependency although only the shader tests use it (wgpu builds its own
//! copy): it belongs in [dev-dependencies], and nothing under src/ may use it.

use std::path::Path;

#[test]
fn naga_is_a_dev_dependency_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    let has = |section: &str| manifest.get(section).and_then(|t| t.as_table()).is_some_and(|t| t.contains_key("naga"));
    assert!(!has("dependencies"), "naga is in [dependencies]");
    assert!(has("dev-dependencies"), "naga is not in [dev-dependencies] (the shader tests need it)");

    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(!text.contains("naga::"), "{} uses naga", path.display());
            }
        }
    }
}
