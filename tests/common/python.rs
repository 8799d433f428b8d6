//! A Python 3 for the tests that check our files with other tools' readers (VTK, pandas, zarr,
//! xarray). `SECRETOME_PYTHON` names one, otherwise `python3` and then `/usr/bin/python3` are
//! tried. Without one a test says loudly that it skipped; with `SECRETOME_REQUIRE_PYTHON=1` (CI)
//! its absence is a failure.

use std::path::PathBuf;
use std::process::Command;

/// A Python 3 that imports every module of `modules`, or `None` after saying loudly that `test`
/// is skipped (a panic instead with `SECRETOME_REQUIRE_PYTHON=1`); `debian` names the packages
/// that bring the modules.
pub fn python_with(modules: &[&str], debian: &str, test: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("SECRETOME_PYTHON")
        .map(|p| vec![PathBuf::from(p)])
        .unwrap_or_else(|| vec!["python3".into(), "/usr/bin/python3".into()]);
    let imports = format!("import {}", modules.join(", "));
    let found = candidates
        .into_iter()
        .find(|python| Command::new(python).args(["-c", &imports]).output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        let message = format!(
            "no Python 3 with {} (tried $SECRETOME_PYTHON, else python3 and /usr/bin/python3); on Debian: \
             apt-get install -y --no-install-recommends {debian}",
            modules.join(", ")
        );
        if std::env::var("SECRETOME_REQUIRE_PYTHON").is_ok_and(|v| v == "1") {
            panic!("{test}: {message} (SECRETOME_REQUIRE_PYTHON=1)");
        }
        // Straight to the stderr handle: the test harness captures `eprintln!` of passing tests,
        // and a skip must not be silent.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "test {test} SKIPPED: {message}; set SECRETOME_REQUIRE_PYTHON=1 to make this a failure"
        );
    }
    found
}
