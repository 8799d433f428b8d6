//! report.html in a real browser: headless Chromium renders the page of a 2D run to a PNG, which
//! must not be blank, and every embedded picture must have loaded (the page's script writes the
//! count into its title, read back with `--dump-dom`). Without Chromium the test says loudly
//! that it skipped; with `SECRETOME_REQUIRE_BROWSER=1` (CI) a missing Chromium is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        if let Ok(o) = Command::new("sh").args(["-c", &format!("command -v {name}")]).output() {
            let path = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if o.status.success() && !path.is_empty() {
                return Some(PathBuf::from(path));
            }
        }
    }
    None
}

/// The flags of a headless run on a machine without a display, GPU or network.
fn headless(browser: &Path, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Distinct colours and non-white pixels of a PNG (the browser's screenshot).
fn png_stats(path: &Path) -> (usize, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let mut colours = std::collections::HashSet::new();
    let mut nonwhite = 0;
    for px in buf[..info.buffer_size()].chunks_exact(channels) {
        let rgb = [px[0], px[1 % channels], px[2 % channels]];
        colours.insert(rgb);
        if rgb != [255, 255, 255] {
            nonwhite += 1;
        }
    }
    (colours.len(), nonwhite)
}

#[test]
fn report_renders_in_headless_chromium_with_every_picture() {
    let required = std::env::var("SECRETOME_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let Some(browser) = chromium() else {
        assert!(!required, "SECRETOME_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)");
        eprintln!(
            "\n*** SKIPPED report_renders_in_headless_chromium: no chromium on PATH (apt-get install chromium; set SECRETOME_REQUIRE_BROWSER=1 to make this a failure) ***\n"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let file = tmp.path().join("gel.toml");
    // The wound_gel_2d geometry on a coarse grid for 2 h.
    let text = std::fs::read_to_string(format!("{}/scenarios/wound_gel_2d.toml", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .replace("cells = [800, 260, 1]", "cells = [80, 26, 1]")
        .replace("end = \"24 h\"", "end = \"2 h\"")
        .replace("snapshot_interval = \"6 h\"", "snapshot_interval = \"1 h\"");
    std::fs::write(&file, text).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_secretome"))
        .args(["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "cpu", "--quiet"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let images = html.matches("<img ").count();
    assert!(images > 10, "only {images} pictures in the report");
    let url = format!("file://{}", page.display());

    let profile = tmp.path().join("profile");
    let dom = headless(&browser, &profile).args(["--virtual-time-budget=10000", "--dump-dom", &url]).output().unwrap();
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let title = dom_text.split("<title>").nth(1).and_then(|t| t.split("</title>").next()).unwrap_or("");
    assert_eq!(
        title,
        format!("images loaded: {images} of {images}"),
        "not every picture loaded in Chromium; stderr:\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );

    let shot = tmp.path().join("report.png");
    let o = headless(&browser, &profile)
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1200,3000", &url])
        .output()
        .unwrap();
    assert!(shot.exists(), "no screenshot; stderr:\n{}", String::from_utf8_lossy(&o.stderr));
    let (colours, nonwhite) = png_stats(&shot);
    // Text, tables and viridis pictures.
    assert!(colours > 200, "the page looks blank: {colours} distinct colours");
    assert!(nonwhite > 100_000, "the page looks blank: {nonwhite} non-white pixels");
}
