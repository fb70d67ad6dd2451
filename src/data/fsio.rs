//! Small file-system helpers shared by the loaders: reading a whole file with its
//! path in the error, gzip detection (by magic bytes), and looking up
//! the first existing file among candidate names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::DataError;

/// The two magic bytes that open every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file.
///
/// # Errors
/// [`DataError::Missing`] when the file does not exist (with `expected` as the
/// explanation), [`DataError::Io`] on any other I/O failure.
pub(crate) fn read_file(path: &Path, expected: &str) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing {
                path: path.to_path_buf(),
                expected: expected.to_string(),
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// True when `bytes` start with the gzip magic number.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Checks that `dir` is an existing directory.
///
/// # Errors
/// [`DataError::Missing`] naming `dir` and `expected` when it does not exist or is
/// not a directory.
pub(crate) fn require_dir(dir: &Path, expected: &str) -> Result<(), DataError> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::Missing {
            path: dir.to_path_buf(),
            expected: expected.to_string(),
        })
    }
}

/// The test split's folder next to `dir/train/`: `dir/val/`, else `dir/test/`.
///
/// # Errors
/// [`DataError::Missing`] naming `dir/val` and `expected` when neither is a folder.
pub(crate) fn test_split_dir(dir: &Path, expected: &str) -> Result<PathBuf, DataError> {
    ["val", "test"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_dir())
        .ok_or_else(|| DataError::Missing {
            path: dir.join("val"),
            expected: expected.to_string(),
        })
}

/// The first `dir/name` (for `name` in `names`) that is an existing file.
pub(crate) fn first_file(dir: &Path, names: &[String]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Reads a text file of class names, one per non-empty line (trimmed).
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read, [`DataError::Format`] when it is
/// not UTF-8, names a class twice, or does not hold exactly `expected_count` names.
pub(crate) fn read_names(path: &Path, expected_count: usize) -> Result<Vec<String>, DataError> {
    let bytes = read_file(path, "a class-name file")?;
    let text = String::from_utf8(bytes).map_err(|_| DataError::Format {
        path: path.to_path_buf(),
        reason: "class-name file is not valid UTF-8".to_string(),
    })?;
    // (line number, name) of every non-empty line.
    let lines: Vec<(usize, &str)> = text
        .lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect();
    if lines.len() != expected_count {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "expected {expected_count} class names (one per line), found {}",
                lines.len()
            ),
        });
    }
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(lines.len());
    for &(line, name) in &lines {
        if let Some(first) = seen.insert(name, line) {
            return Err(DataError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "class name '{name}' appears twice (lines {first} and {line}); expected \
                     {expected_count} distinct class names, one per line"
                ),
            });
        }
    }
    let names = lines.into_iter().map(|(_, l)| l.to_string()).collect();
    Ok(names)
}
