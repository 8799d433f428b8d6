//! `report.html`: one self-contained page, the pictures embedded as base64 data URIs.

use super::{ReportError, ReportFiles, ReportOptions, Target, plot::fmt_num};
use crate::problem::Problem;
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => fmt_num(x),
        None => "—".into(),
    }
}

pub(crate) const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}\
th{background:#eee}td.l,th.l{text-align:left}figure{margin:1em 0 2em}img{max-width:100%;border:1px solid #ddd}\
figcaption{font-size:0.9em;color:#444}.mark{font-weight:bold}.estimate,.unverified{color:#a40}.verified,.measured{color:#060}";

/// Sets the title to the number of pictures that loaded (`naturalWidth > 0`), so that a
/// headless browser can tell (`tests/report_browser.rs`).
pub(crate) const IMAGE_CHECK: &str = "<script>window.addEventListener('load',function(){var i=document.images,n=0;\
for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0)n++;}\
document.title='images loaded: '+n+' of '+i.length;});</script>";

pub fn page(
    problem: &Problem,
    dir: &Path,
    summary: &Value,
    target: &Target,
    options: &ReportOptions,
    files: &ReportFiles,
) -> Result<String, ReportError> {
    let mut h = String::new();
    let name = summary["scenario"]["name"].as_str().unwrap_or(&problem.name);
    let w = &mut h;
    let _ = write!(
        w,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>secretome report: {}</title><style>{STYLE}</style>{IMAGE_CHECK}</head><body>",
        esc(name)
    );
    let _ = write!(w, "<h1>{}</h1>", esc(name));
    if summary["complete"].as_bool() == Some(false) {
        let _ = write!(w, "<p><b>The run is incomplete:</b> {}</p>", esc(summary["error"].as_str().unwrap_or("")));
    }

    // The run.
    let engine = &summary["engine"];
    let grid = &summary["grid"];
    let time = &summary["time"];
    let cells = grid["cells"]
        .as_array()
        .map(|c| c.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" × "))
        .unwrap_or_default();
    let extent = grid["extent_m"]
        .as_array()
        .map(|c| c.iter().map(|v| fmt_num(v.as_f64().unwrap_or(0.0) * 1e3)).collect::<Vec<_>>().join(" × "))
        .unwrap_or_default();
    let _ = write!(w, "<h2>Run</h2><table>");
    let rows = [
        ("software", format!("secretome {}", env!("CARGO_PKG_VERSION"))),
        (
            "engine",
            format!("{} on {}", engine["backend"].as_str().unwrap_or(""), engine["device"].as_str().unwrap_or("")),
        ),
        ("precision", engine["precision"].as_str().unwrap_or("").to_string()),
        ("wall time", format!("{} s", num(&summary["wall_time_s"]))),
        ("grid", format!("{}D, {cells} cells, {extent} mm", grid["dimension"])),
        (
            "time",
            format!(
                "{} h, scheme {}, {} steps",
                fmt_num(time["end_s"].as_f64().unwrap_or(0.0) / 3600.0),
                time["scheme"].as_str().unwrap_or(""),
                step_count(time)
            ),
        ),
        (
            "target region",
            format!(
                "{} ({})",
                target.name,
                if target.material.is_some() { "a material" } else { "a region; curves at snapshot times" }
            ),
        ),
        (
            "pictures",
            if options.plots {
                format!(
                    "{}{}",
                    if options.log { "log scales" } else { "linear scales" },
                    options
                        .slice
                        .map(|s| format!(", slice {}={} mm", ["x", "y", "z"][s.axis], fmt_num(s.position * 1e3)))
                        .unwrap_or_default()
                )
            } else {
                "none (--no-plots)".into()
            },
        ),
    ];
    for (k, v) in rows {
        let _ = write!(w, "<tr><th class=\"l\">{k}</th><td class=\"l\">{}</td></tr>", esc(&v));
    }
    let _ = write!(w, "</table>");

    // Scenario: materials, species, doses, values from the library.
    let scenario = &summary["scenario"];
    let _ = write!(
        w,
        "<h2>Scenario</h2><table><tr><th class=\"l\">material</th><th class=\"l\">role</th><th>cells</th></tr>"
    );
    for m in scenario["materials"].as_array().into_iter().flatten() {
        let _ = write!(
            w,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            esc(m["name"].as_str().unwrap_or("")),
            m["role"].as_str().unwrap_or(""),
            m["cells"]
        );
    }
    let _ = write!(
        w,
        "</table><table><tr><th class=\"l\">species</th><th class=\"l\">unit</th><th class=\"l\">diffusivity (µm²/s) per material</th><th class=\"l\">half-life by decay per material</th><th class=\"l\">initial per material</th><th class=\"l\">bioactive threshold</th></tr>"
    );
    for (s, sp) in scenario["species"].as_array().into_iter().flatten().enumerate() {
        let per = |key: &str, f: &dyn Fn(f64) -> String| {
            sp[key]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(m, v)| format!("{m} {}", f(v.as_f64().unwrap_or(0.0))))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let threshold = problem
            .species
            .get(s)
            .and_then(|x| x.bioactive_threshold.map(|t| format!("{} {}", fmt_num(t), x.unit.text)))
            .unwrap_or_else(|| "—".into());
        let _ = write!(
            w,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            esc(sp["name"].as_str().unwrap_or("")),
            esc(sp["concentration_unit"].as_str().unwrap_or("")),
            esc(&per("diffusivity_m2_per_s", &|d| fmt_num(d * 1e12))),
            esc(&per("decay_rate_per_s", &|k| if k > 0.0 {
                format!("{} h", fmt_num(std::f64::consts::LN_2 / k / 3600.0))
            } else {
                "∞".into()
            })),
            esc(&per("initial_concentration", &|c| fmt_num(c))),
            esc(&threshold),
        );
    }
    let _ = write!(w, "</table>");
    let sourced: Vec<(&str, &Value)> = scenario["species"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|sp| {
            sp["sources"].as_array().into_iter().flatten().map(move |v| (sp["name"].as_str().unwrap_or(""), v))
        })
        .collect();
    if sourced.is_empty() {
        let _ = write!(
            w,
            "<p>Every value was written in the scenario file; its comments give their sources and marks.</p>"
        );
    } else {
        let _ = write!(
            w,
            "<h3>Values taken from the factor library, a CM composition or a mesh model</h3><p>Each with its source and mark (verified: read in the cited text; unverified; estimate: derived or assumed).</p><table><tr><th class=\"l\">species</th><th class=\"l\">key</th><th class=\"l\">value</th><th class=\"l\">mark</th><th class=\"l\">source</th></tr>"
        );
        for (species, v) in sourced {
            let mark = v["mark"].as_str().unwrap_or("");
            let _ = write!(
                w,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l mark {mark}\">{mark}</td><td class=\"l\">{}</td></tr>",
                esc(species),
                esc(v["key"].as_str().unwrap_or("")),
                esc(v["value"].as_str().unwrap_or("")),
                esc(v["source"].as_str().unwrap_or("")),
            );
        }
        let _ = write!(w, "</table>");
    }
    if let Some(doses) = scenario["doses"].as_array().filter(|d| !d.is_empty()) {
        let times: Vec<String> = doses.iter().map(|d| fmt_num(d["time_h"].as_f64().unwrap_or(0.0))).collect();
        let _ = write!(w, "<p>{} doses, at {} h.</p>", doses.len(), esc(&times.join(", ")));
    }

    // Books.
    let _ = write!(
        w,
        "<h2>Bookkeeping</h2><p>Amounts at the end of the run, in each species' amount unit. Balance error: |initial + added − present − bound − every channel − outflow − removed with dressings| / (initial + added).</p>"
    );
    let channels = ["decayed", "cleared", "taken_up", "converted_out", "converted_in"];
    let _ = write!(
        w,
        "<table><tr><th class=\"l\">species</th><th class=\"l\">unit</th><th>initial</th><th>added</th><th>present free</th><th>present bound</th>"
    );
    for c in channels {
        let _ = write!(w, "<th>{}</th>", c.replace('_', " "));
    }
    let _ = write!(w, "<th>outflow</th><th>removed with dressing</th><th>balance error</th></tr>");
    let books = summary["species"].as_array().cloned().unwrap_or_default();
    for b in &books {
        let _ = write!(
            w,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td>",
            esc(b["name"].as_str().unwrap_or("")),
            esc(b["amount_unit"].as_str().unwrap_or(""))
        );
        for key in ["initial", "added", "present", "bound"] {
            let _ = write!(w, "<td>{}</td>", num(&b[key]));
        }
        for c in channels {
            let _ = write!(w, "<td>{}</td>", num(&b["channels"][c]["total"]));
        }
        let _ = write!(
            w,
            "<td>{}</td><td>{}</td><td>{:.1e}</td></tr>",
            num(&b["outflow"]),
            num(&b["removed_with_dressing"]),
            b["relative_balance_error"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let _ = write!(w, "</table>");

    // Release.
    let _ = write!(
        w,
        "<h2>Release from the depot</h2><table><tr><th class=\"l\">species</th><th>released</th><th>released (% of loading)</th><th>time to 50 % (h)</th><th>time to 90 % (h)</th></tr>"
    );
    for b in &books {
        let hours = |v: &Value| v.as_f64().map(fmt_num).unwrap_or_else(|| "not reached".into());
        let _ = write!(
            w,
            "<tr><td class=\"l\">{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(b["name"].as_str().unwrap_or("")),
            num(&b["released_from_depot"]),
            esc(b["amount_unit"].as_str().unwrap_or("")),
            num(&b["released_percent"]),
            hours(&b["time_to_50_percent_release_h"]),
            hours(&b["time_to_90_percent_release_h"]),
        );
    }
    let _ = write!(w, "</table>");

    // Pictures.
    let sections = [
        ("release", "Release curves"),
        ("target", "Target region"),
        ("profiles", "Depth profiles"),
        ("heatmaps", "Heatmaps"),
    ];
    for (key, heading) in sections {
        let pictures: Vec<_> = files.plots.iter().filter(|p| p.2 == key).collect();
        if pictures.is_empty() {
            continue;
        }
        let _ = write!(w, "<h2>{heading}</h2>");
        for (file, caption, _) in pictures {
            let path = dir.join(file);
            let bytes = std::fs::read(&path).map_err(|error| ReportError::Read { path, error })?;
            let _ = write!(
                w,
                "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{} <code>{}</code></figcaption></figure>",
                esc(file),
                base64(&bytes),
                esc(caption),
                esc(file)
            );
        }
    }
    let _ = writeln!(w, "</body></html>");
    Ok(h)
}

fn step_count(time: &Value) -> String {
    time["steps"].as_u64().map_or_else(|| "?".into(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
