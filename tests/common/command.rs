//! The `secretome` binary from tests: running it and reading what it says.

use std::process::{Command, Output};

/// Runs the binary with `args` and waits for it.
pub fn secretome(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secretome")).args(args).output().expect("the binary runs")
}

/// What the run wrote to stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The path of a shipped scenario file.
pub fn scenario(name: &str) -> String {
    format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}
