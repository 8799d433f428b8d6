//! Errors about a scenario file, and the helpers that give them a key path and a line.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Everything that can be wrong with a scenario. Every variant names the file; those about one
/// value also name its key path (`species[2].diffusivity.gel`, indices from 0) and, where the
/// parser knows it, the line (from 1).
///
/// Messages show keys, values and names with invisible characters escaped ([`escape`]), so a
/// zero-width space or a control character in a key is seen, not silently printed.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read. The message includes the operating system's reason; `error`
    /// is not also offered as [`std::error::Error::source`], so that a chain printed cause by
    /// cause (anyhow's `{:#}`) shows the reason once.
    #[error("{}: cannot read the scenario: {error}", escape(file))]
    Read { file: String, error: std::io::Error },
    /// The text is not valid TOML.
    #[error("{}:{line}:{column}: not valid TOML: {}", escape(file), escape(message))]
    Syntax { file: String, line: u32, column: u32, message: String },
    /// Valid TOML whose layout is wrong: an unknown key, a missing key or table, a value of the
    /// wrong TOML type (a number where text with a unit is needed, …) or an unknown choice.
    #[error("{}: `{}`{}: {}", at(file, *line), escape(key), show_value(value), escape(message))]
    Structure {
        file: String,
        key: String,
        line: Option<u32>,
        /// The offending text as written, if short.
        value: Option<String>,
        message: String,
    },
    /// A value that is read but not acceptable: a missing or wrong unit, an unparseable number,
    /// a value out of range, a name that does not exist, a duplicate or a conflict.
    #[error("{0}")]
    Invalid(Box<InvalidValue>),
    /// `time.dt` is above the stability limit of the explicit scheme for this problem.
    #[error(
        "{}: `time.dt` = {}: {} s is above the explicit stability limit of {} s for this grid \
         and these coefficients; accepted: a step ≤ {} s, or leave `dt` out to use `safety` × the \
         limit",
        at(file, *line), escape(value), significant(*dt), significant(*limit), significant(*limit)
    )]
    StepTooLarge {
        file: String,
        line: Option<u32>,
        value: String,
        /// Requested step, s.
        dt: f64,
        /// Largest stable step, s ([`crate::problem::Problem::explicit_step_limit`]).
        limit: f64,
    },
    /// The grid needs more memory than the machine has available.
    #[error(
        "{}: `grid.cells` = {cells:?} with {} needs {} of memory but only {} is \
         available; accepted: fewer or coarser cells, or fewer species",
        at(file, *line), fields(*species, *bound), bytes(*needed), bytes(*available)
    )]
    OutOfMemory {
        file: String,
        line: Option<u32>,
        cells: [u64; 3],
        species: usize,
        /// Bound fields (species that bind somewhere), each counted as a species.
        bound: usize,
        /// Bytes needed: the engine's buffers, the material-id array and one field on the host.
        needed: u64,
        /// Bytes available (MemAvailable from /proc/meminfo, unless overridden).
        available: u64,
    },
    /// More cell·species values than the engines can index (2³¹).
    #[error(
        "{}: `grid.cells` = {cells:?} with {} gives {values} cell·species values; \
         accepted: at most 2^31 = 2147483648",
        at(file, *line), fields(*species, *bound)
    )]
    TooManyValues {
        file: String,
        line: Option<u32>,
        cells: [u64; 3],
        species: usize,
        /// Bound fields (species that bind somewhere), each counted as a species.
        bound: usize,
        values: u128,
    },
}

/// The details of [`ScenarioError::Invalid`] (boxed: errors travel in every `Result` here).
#[derive(Debug)]
pub struct InvalidValue {
    pub file: String,
    /// Key path, e.g. `species[2].diffusivity.gel`.
    pub key: String,
    pub line: Option<u32>,
    /// The value as written (`(table)` for a whole table); `None` when the key is missing, so
    /// that no other key's value is shown in its place.
    pub value: Option<String>,
    /// What is wrong with it.
    pub problem: String,
    /// What would be accepted instead.
    pub accepted: String,
}

impl fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}`{}: {}; accepted: {}",
            at(&self.file, self.line),
            escape(&self.key),
            show_value(&self.value),
            escape(&self.problem),
            escape(&self.accepted)
        )
    }
}

fn at(file: &str, line: Option<u32>) -> String {
    match line {
        Some(line) => format!("{}:{line}", escape(file)),
        None => escape(file).into_owned(),
    }
}

fn show_value(value: &Option<String>) -> String {
    match value {
        Some(v) => format!(" = {}", escape(v)),
        None => String::new(),
    }
}

/// `text` with every character that would print invisibly or move the cursor (control
/// characters, zero-width and other format characters such as U+200B and the byte-order mark
/// U+FEFF, line and paragraph separators) written as Rust escapes (`\u{200b}`, `\n`).
/// Printable text, quotes and backslashes are left alone, so escaping twice changes nothing.
pub fn escape(text: &str) -> Cow<'_, str> {
    let shows_as_is = |c: char| c == '"' || c == '\'' || c == '\\' || c.escape_debug().len() == 1;
    if text.chars().all(shows_as_is) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if shows_as_is(c) {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
    }
    Cow::Owned(out)
}

/// `x` to 6 significant digits, without an exponent for ordinary step sizes.
fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-4..6).contains(&magnitude) { format!("{:.*}", (5 - magnitude).max(0) as usize, x) } else { format!("{x:.5e}") }
}

/// "3 species", or "3 species and 2 bound fields".
fn fields(species: usize, bound: usize) -> String {
    match bound {
        0 => format!("{species} species"),
        1 => format!("{species} species and 1 bound field"),
        _ => format!("{species} species and {bound} bound fields"),
    }
}

fn bytes(n: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    const MIB: f64 = 1024.0 * 1024.0;
    let n = n as f64;
    if n >= GIB { format!("{:.2} GiB", n / GIB) } else { format!("{:.1} MiB", n / MIB) }
}

/// Text as written, quoted for messages: all of it up to 80 characters, else its first 60
/// and its length in bytes.
pub fn quoted(value: &str) -> String {
    if value.chars().count() <= 80 {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(60).collect();
    format!("{head:?}… ({} bytes)", value.len())
}

/// Line number (from 1) of a byte offset.
pub fn line_of(text: &str, offset: usize) -> u32 {
    let offset = offset.min(text.len());
    let newlines = text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count();
    u32::try_from(newlines).unwrap_or(u32::MAX - 1) + 1
}

/// Column number (from 1, in characters) of a byte offset.
pub fn column_of(text: &str, offset: usize) -> u32 {
    let offset = offset.min(text.len());
    let start = text.as_bytes()[..offset].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let chars = text.get(start..offset).map_or(offset - start, |s| s.chars().count());
    u32::try_from(chars).unwrap_or(u32::MAX - 1) + 1
}

/// The source text of a span if it is short and on one line, for quoting in messages.
pub fn snippet(text: &str, span: &Range<usize>) -> Option<String> {
    let s = text.get(span.clone())?.trim();
    (!s.is_empty() && s.len() <= 80 && !s.contains('\n')).then(|| s.to_string())
}

/// The key path (`species[2].diffusivity`) of the innermost key or value containing byte
/// `pos`, found by walking the spanned document.
pub fn key_path_at(doc: &toml::de::DeTable<'_>, pos: usize) -> String {
    let mut path = String::new();
    walk_table(doc, pos, &mut path);
    path
}

fn contains(span: &Range<usize>, pos: usize) -> bool {
    span.start <= pos && pos < span.end.max(span.start + 1)
}

fn walk_table(table: &toml::de::DeTable<'_>, pos: usize, path: &mut String) -> bool {
    for (key, value) in table {
        let in_key = contains(&key.span(), pos);
        if in_key || contains(&value.span(), pos) || value_contains(value.get_ref(), pos) {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            if !in_key {
                walk_value(value.get_ref(), pos, path);
            }
            return true;
        }
    }
    false
}

fn walk_value(value: &toml::de::DeValue<'_>, pos: usize, path: &mut String) -> bool {
    match value {
        toml::de::DeValue::Table(t) => walk_table(t, pos, path),
        toml::de::DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                if contains(&item.span(), pos) || value_contains(item.get_ref(), pos) {
                    path.push_str(&format!("[{i}]"));
                    walk_value(item.get_ref(), pos, path);
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// Whether any key or value inside `value` contains `pos` (tables made of `[header]` sections
/// may have spans that do not cover their contents).
fn value_contains(value: &toml::de::DeValue<'_>, pos: usize) -> bool {
    match value {
        toml::de::DeValue::Table(t) => t
            .iter()
            .any(|(k, v)| contains(&k.span(), pos) || contains(&v.span(), pos) || value_contains(v.get_ref(), pos)),
        toml::de::DeValue::Array(a) => {
            a.iter().any(|item| contains(&item.span(), pos) || value_contains(item.get_ref(), pos))
        }
        _ => false,
    }
}
