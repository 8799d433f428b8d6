//! Reading a finished run's folder back: `summary.json`, `timeseries.csv` and the `.npy` fields.

use super::ReportError;
use std::path::Path;

/// One row of `timeseries.csv`: the columns the report draws.
#[derive(Clone, Debug)]
pub struct Row {
    pub time_h: f64,
    pub species: String,
    pub material: String,
    /// Mean free concentration in the material, species' unit.
    pub free_mean: f64,
    /// Highest free concentration in the material, species' unit (`None` for a material without cells).
    pub max: Option<f64>,
    pub released_percent: f64,
}

pub fn read_text(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|error| ReportError::Read { path: path.to_path_buf(), error })
}

pub fn read_summary(dir: &Path) -> Result<serde_json::Value, ReportError> {
    let path = dir.join("summary.json");
    serde_json::from_str(&read_text(&path)?)
        .map_err(|e| ReportError::Format { path, message: format!("not JSON: {e}") })
}

/// Splits a CSV line at commas outside double quotes (`""` inside quotes is one quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

pub fn read_timeseries(dir: &Path) -> Result<Vec<Row>, ReportError> {
    let path = dir.join("timeseries.csv");
    let text = read_text(&path)?;
    let mut lines = text.lines();
    let header = split_csv(lines.next().unwrap_or(""));
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| ReportError::Format {
            path: path.clone(),
            message: format!("no column `{name}` in the header"),
        })
    };
    let (ct, cs, cm, cf, cx, cr) = (
        column("time_h")?,
        column("species")?,
        column("material")?,
        column("free_mean")?,
        column("max")?,
        column("released_percent")?,
    );
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f = split_csv(line);
        let bad = || ReportError::Format { path: path.clone(), message: format!("line {}: unreadable row", n + 2) };
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).ok_or_else(bad);
        rows.push(Row {
            time_h: num(ct)?,
            species: f.get(cs).ok_or_else(bad)?.clone(),
            material: f.get(cm).ok_or_else(bad)?.clone(),
            free_mean: num(cf)?,
            max: f.get(cx).and_then(|v| v.parse::<f64>().ok()),
            released_percent: num(cr)?,
        });
    }
    Ok(rows)
}

/// The data of a `.npy` file the run wrote (`<f4` or `<u4`, C order), as f64, with its shape.
pub fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<f64>), ReportError> {
    let bytes = std::fs::read(path).map_err(|error| ReportError::Read { path: path.to_path_buf(), error })?;
    let bad = |message: &str| ReportError::Format { path: path.to_path_buf(), message: message.to_string() };
    if bytes.len() < 10 || &bytes[..8] != b"\x93NUMPY\x01\x00" {
        return Err(bad("not a version 1.0 .npy file"));
    }
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + header_len).ok_or_else(|| bad("header cut short"))?)
        .map_err(|_| bad("header is not text"))?;
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape in the header"))?;
    let shape: Vec<usize> = shape_text.split(',').filter_map(|d| d.trim().parse().ok()).collect();
    let data = &bytes[10 + header_len..];
    let n: usize = shape.iter().product();
    if data.len() != 4 * n {
        return Err(bad("data length does not match the shape"));
    }
    let words = data.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
    let values = if header.contains("'<f4'") {
        words.map(|w| f32::from_le_bytes(w) as f64).collect()
    } else if header.contains("'<u4'") {
        words.map(|w| u32::from_le_bytes(w) as f64).collect()
    } else {
        return Err(bad("neither float32 nor uint32"));
    };
    Ok((shape, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_keep_quoted_commas() {
        assert_eq!(split_csv(r#"1,"a,b","c""d",x"#), vec!["1", "a,b", "c\"d", "x"]);
    }
}
