//! Writing results: NumPy `.npy` arrays, CSV and JSON, each written to a temporary name and then
//! renamed, so an interrupted run never leaves a file that looks complete but is not.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Errors while writing results.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output folder exists and already holds files.
    #[error("output folder {0} is not empty; choose a new folder or pass --overwrite to replace the files in it")]
    NotEmpty(PathBuf),
    /// Any file-system error, with the path it concerns. The message includes the operating
    /// system's reason; `error` is not also offered as [`std::error::Error::source`], so that a
    /// chain printed cause by cause shows the reason once.
    #[error("cannot write {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

/// A folder that receives one run's files.
pub struct OutputDir {
    root: PathBuf,
}

impl OutputDir {
    /// Creates `root` (and its parents). Refuses a folder that already holds files unless
    /// `overwrite` is set, so a finished run is never replaced by accident.
    pub fn create(root: &Path, overwrite: bool) -> Result<Self, OutputError> {
        let io = |error| OutputError::Io { path: root.to_path_buf(), error };
        if root.exists() && !overwrite && fs::read_dir(root).map_err(io)?.next().is_some() {
            return Err(OutputError::NotEmpty(root.to_path_buf()));
        }
        fs::create_dir_all(root).map_err(io)?;
        Ok(OutputDir { root: root.to_path_buf() })
    }

    /// An existing folder, to continue a run in.
    pub fn open(root: &Path) -> Result<Self, OutputError> {
        if !root.is_dir() {
            let error = std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder to resume in");
            return Err(OutputError::Io { path: root.to_path_buf(), error });
        }
        Ok(OutputDir { root: root.to_path_buf() })
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Writes `bytes` to `name` inside the folder: first to a temporary name of this process and
    /// write (`name.<pid>.<n>.tmp`), then renamed over `name`.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
        let path = self.root.join(name);
        // A name of its own per writer: shards of a sweep may write the same file at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let k = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self.root.join(format!("{name}.{}.{k}.tmp", std::process::id()));
        let io = |error| OutputError::Io { path: path.clone(), error };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file = fs::File::create(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::rename(&tmp, &path).map_err(io)
    }
}

/// Element types we write to `.npy`.
pub trait NpyElement: bytemuck::Pod {
    /// NumPy dtype string (little endian).
    const DESCR: &'static str;
}
impl NpyElement for f32 {
    const DESCR: &'static str = "<f4";
}
impl NpyElement for u32 {
    const DESCR: &'static str = "<u4";
}

/// Encodes `data` as a NumPy version-1.0 `.npy` file in C order with the given shape.
///
/// The format is a fixed magic string, a padded Python-dict header and the raw little-endian
/// data; it is small enough that a dependency would add more than it saves.
pub fn encode_npy<T: NpyElement>(data: &[T], shape: &[usize]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy shape does not match data length");
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", T::DESCR, shape_text);
    // Magic (6) + version (2) + header length (2) + header + '\n' must be a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + std::mem::size_of_val(data));
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    if cfg!(target_endian = "little") {
        out.extend_from_slice(bytemuck::cast_slice(data));
    } else {
        for v in data {
            let mut bytes = bytemuck::bytes_of(v).to_vec();
            bytes.reverse();
            out.extend_from_slice(&bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_describes_the_array() {
        let bytes = encode_npy(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 2, 3]);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'descr': '<f4'"));
        assert!(header.contains("'shape': (1, 2, 3)"));
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + header_len + 24);
        assert_eq!(f32::from_le_bytes(bytes[10 + header_len + 20..].try_into().unwrap()), 6.0);
    }

    #[test]
    fn refuses_a_folder_with_files_unless_told_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let out = OutputDir::create(dir.path(), false).unwrap();
        out.write_atomic("a.txt", b"x").unwrap();
        assert!(!dir.path().join("a.txt.tmp").exists());
        let err = OutputDir::create(dir.path(), false).err().unwrap();
        assert!(err.to_string().contains("--overwrite"), "{err}");
        assert!(OutputDir::create(dir.path(), true).is_ok());
    }
}
