//! Small file-system helpers shared by the loaders: reading a whole file with its
//! path in the error, gzip detection (by magic bytes), and looking up
//! the first existing file among candidate names.

use std::path::{Path, PathBuf};

use super::DataError;

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

/// The first `dir/name` (for `name` in `names`) that is an existing file.
pub(crate) fn first_file(dir: &Path, names: &[String]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Reads a text file of class names, one per non-empty line (trimmed).
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read, [`DataError::Format`] when it is
/// not UTF-8 or does not hold exactly `expected_count` names.
pub(crate) fn read_names(path: &Path, expected_count: usize) -> Result<Vec<String>, DataError> {
    let bytes = read_file(path, "a class-name file")?;
    let text = String::from_utf8(bytes).map_err(|_| DataError::Format {
        path: path.to_path_buf(),
        reason: "class-name file is not valid UTF-8".to_string(),
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != expected_count {
        return Err(DataError::Format {
            path: path.to_path_buf(),
            reason: format!(
                "expected {expected_count} class names (one per line), found {}",
                names.len()
            ),
        });
    }
    Ok(names)
}
