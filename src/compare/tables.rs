//! The comparison as text: `comparison.csv`, `comparison.md`, `comparison.html` and the summary
//! printed at the command line.

use super::plots::Pictures;
use super::{CompareError, Comparison, Ranked, band_text};
use crate::report::html::{IMAGE_CHECK, STYLE, base64, esc};
use crate::report::plot::fmt_num;
use std::fmt::Write;
use std::path::Path;

/// Designs the printed summary lists; the files hold them all.
const PRINTED: usize = 10;

/// Every design key, in the order the designs first give them.
fn keys(c: &Comparison) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for r in &c.ranked {
        for (k, _) in &r.design.values {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    keys
}

fn value_of<'a>(r: &'a Ranked, key: &str) -> &'a str {
    r.design.values.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

fn direction(maximize: bool) -> &'static str {
    if maximize { "more is better" } else { "less is better" }
}

/// The Pareto metrics that are not the objective (those get columns of their own).
fn pareto_columns(c: &Comparison) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for o in [&c.pareto.0, &c.pareto.1] {
        if o.name() != c.objective.name() && !v.contains(&o.name()) {
            v.push(o.name());
        }
    }
    v
}

/// `comparison.csv`: one row per design, best first (columns in docs/compare.md).
pub fn csv(c: &Comparison) -> String {
    let keys = keys(c);
    let name = c.objective.name();
    let spread = c.has_samples();
    let mut metrics: Vec<&String> = c.ranked.iter().flat_map(|r| r.bands.keys()).collect();
    metrics.sort();
    metrics.dedup();
    let mut s = String::from("rank,design,folder");
    for k in &keys {
        s.push(',');
        s.push_str(&cell(k));
    }
    s.push_str(",samples,objective_metric,objective,objective_p5,objective_p95,pareto,first_in_draws");
    for m in &metrics {
        s.push(',');
        s.push_str(&cell(m));
        if spread {
            s.push_str(&format!(",{},{}", cell(&format!("{m}_p5")), cell(&format!("{m}_p95"))));
        }
    }
    s.push('\n');
    let num = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in &c.ranked {
        let _ = write!(s, "{},{},{}", r.rank, cell(&r.design.label), cell(&r.design.folder.display().to_string()));
        for k in &keys {
            s.push(',');
            s.push_str(&cell(value_of(r, k)));
        }
        let b = r.band(&name);
        let _ = write!(
            s,
            ",{},{},{},{},{},{},{}",
            r.design.runs.len(),
            cell(&name),
            num(b.map(|b| b.median)),
            num(b.map(|b| b.p5)),
            num(b.map(|b| b.p95)),
            r.pareto,
            r.first_in_draws.map(|(f, t)| format!("{f}/{t}")).unwrap_or_default()
        );
        for m in &metrics {
            let b = r.band(m);
            let _ = write!(s, ",{}", num(b.map(|b| b.median)));
            if spread {
                let _ = write!(s, ",{},{}", num(b.map(|b| b.p5)), num(b.map(|b| b.p95)));
            }
        }
        s.push('\n');
    }
    s
}

/// The header and the cells of the table that `comparison.md` and `comparison.html` show.
fn table(c: &Comparison) -> (Vec<String>, Vec<Vec<String>>) {
    let keys = keys(c);
    let name = c.objective.name();
    let extra = pareto_columns(c);
    let firsts = c.ranked.iter().any(|r| r.first_in_draws.is_some());
    let mut header: Vec<String> = vec!["rank".into(), "design".into()];
    header.extend(keys.iter().cloned());
    header.push("draws".into());
    header.push(if c.has_samples() { format!("{name} median [5 %, 95 %]") } else { name.clone() });
    header.extend(extra.iter().cloned());
    header.push("Pareto".into());
    if firsts {
        header.push("first in draws".into());
    }
    let rows = c
        .ranked
        .iter()
        .map(|r| {
            let mut row = vec![r.rank.to_string(), r.design.label.clone()];
            row.extend(keys.iter().map(|k| value_of(r, k).to_string()));
            row.push(r.design.runs.len().to_string());
            row.push(r.band(&name).map_or("—".into(), band_text));
            row.extend(extra.iter().map(|m| r.band(m).map_or("—".into(), |b| fmt_num(b.median))));
            row.push(if r.pareto { "yes".into() } else { String::new() });
            if firsts {
                row.push(r.first_in_draws.map(|(f, t)| format!("{f} of {t}")).unwrap_or_default());
            }
            row
        })
        .collect();
    (header, rows)
}

/// What the ranking is, in a sentence.
fn preamble(c: &Comparison) -> String {
    let runs: usize = c.ranked.iter().map(|r| r.design.runs.len()).sum();
    format!(
        "{} designs ({runs} complete runs), ranked by {} ({}){}. Pareto front of {} ({}) and {} ({}): no other design \
         is at least as good in both and better in one.",
        c.ranked.len(),
        c.objective.name(),
        direction(c.objective.maximize),
        if c.has_samples() {
            ": the median over each design's draws, with the 90 % band (5th to 95th percentile)"
        } else {
            ""
        },
        c.pareto.0.name(),
        direction(c.pareto.0.maximize),
        c.pareto.1.name(),
        direction(c.pareto.1.maximize),
    )
}

/// `comparison.md`.
pub fn markdown(c: &Comparison, pictures: &Pictures) -> String {
    let md = |t: &str| t.replace('|', "\\|");
    let mut s = String::from("# Comparison\n\n");
    let _ = writeln!(s, "{}\n", preamble(c));
    for w in &c.warnings {
        let _ = writeln!(s, "> **Warning:** {}\n", md(w));
    }
    let (header, rows) = table(c);
    let _ = writeln!(s, "| {} |", header.iter().map(|h| md(h)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(s, "|{}", header.iter().map(|_| "---|").collect::<String>());
    for row in rows {
        let _ = writeln!(s, "| {} |", row.iter().map(|h| md(h)).collect::<Vec<_>>().join(" | "));
    }
    if !c.notes.is_empty() || !pictures.skipped.is_empty() {
        s.push_str("\n## Notes\n\n");
        for n in c.notes.iter().chain(&pictures.skipped) {
            let _ = writeln!(s, "- {}", md(n));
        }
    }
    if !pictures.drawn.is_empty() {
        s.push_str("\n## Pictures\n\n");
        for p in &pictures.drawn {
            let _ = writeln!(s, "![{}]({})\n", md(&p.caption), p.file);
        }
    }
    s.push_str("\nEvery metric of every design, with its band: comparison.csv.\n");
    s
}

/// `comparison.html`: the table, the warnings and notes, the pictures embedded.
pub fn html(c: &Comparison, pictures: &Pictures, dir: &Path) -> Result<String, CompareError> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>secretome comparison</title>\
         <style>{STYLE}.warning{{color:#a00;font-weight:bold}}</style>{IMAGE_CHECK}</head><body><h1>Comparison</h1>"
    );
    let _ = write!(h, "<p>{}</p>", esc(&preamble(c)));
    for w in &c.warnings {
        let _ = write!(h, "<p class=\"warning\">Warning: {}</p>", esc(w));
    }
    let (header, rows) = table(c);
    h.push_str("<table><tr>");
    for (i, th) in header.iter().enumerate() {
        let _ = write!(h, "<th{}>{}</th>", if i == 1 { " class=\"l\"" } else { "" }, esc(th));
    }
    h.push_str("</tr>");
    for row in rows {
        h.push_str("<tr>");
        for (i, td) in row.iter().enumerate() {
            let _ = write!(h, "<td{}>{}</td>", if i == 1 { " class=\"l\"" } else { "" }, esc(td));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if !c.notes.is_empty() || !pictures.skipped.is_empty() {
        h.push_str("<h2>Notes</h2><ul>");
        for n in c.notes.iter().chain(&pictures.skipped) {
            let _ = write!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>");
    }
    for p in &pictures.drawn {
        let path = dir.join(&p.file);
        let bytes = std::fs::read(&path).map_err(|error| crate::report::ReportError::Read { path, error })?;
        let _ = write!(
            h,
            "<figure><img alt=\"{}\" src=\"data:image/png;base64,{}\"><figcaption>{} <code>{}</code></figcaption></figure>",
            esc(&p.file),
            base64(&bytes),
            esc(&p.caption),
            esc(&p.file)
        );
    }
    h.push_str("<p>Every metric of every design, with its band: <code>comparison.csv</code>.</p></body></html>\n");
    Ok(h)
}

/// The ranked summary for the terminal: the best designs, then the warnings and notes.
pub fn summary_text(c: &Comparison) -> String {
    let name = c.objective.name();
    let mut s = String::new();
    let _ = writeln!(s, "{}", preamble(c));
    let width = c.ranked.iter().take(PRINTED).map(|r| r.design.label.chars().count()).max().unwrap_or(0);
    for r in c.ranked.iter().take(PRINTED) {
        let value = r.band(&name).map_or_else(|| "no value".into(), band_text);
        let draws = if r.design.runs.len() > 1 { format!("  ({} draws)", r.design.runs.len()) } else { String::new() };
        let first = r.first_in_draws.map(|(f, t)| format!("  first in {f} of {t} draws")).unwrap_or_default();
        let _ = writeln!(
            s,
            "{:>4}  {:<width$}  {value}{draws}{}{first}",
            r.rank,
            r.design.label,
            if r.pareto { "  Pareto" } else { "" }
        );
    }
    if c.ranked.len() > PRINTED {
        let _ = writeln!(s, "      … {} more in comparison.csv", c.ranked.len() - PRINTED);
    }
    for w in &c.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    for n in &c.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}
