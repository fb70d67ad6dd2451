//! Crash-safe file output: every file the toolkit writes goes through a temporary file in
//! the same directory, is fsynced, then renamed over the destination, so a reader (or a
//! resumed run) sees either the old complete file or the new complete file, never a torn one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The temporary sibling used while writing `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Whether a file name is a temporary of an atomic write: [`temp_path`]'s `.NAME.tmp-PID`,
/// or another writer's hidden `.NAME....tmp` beside it (burn's record files, the
/// safetensors writer). Such a file is an unfinished write, which a process killed
/// mid-write can leave behind.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && (name.contains(".tmp-") || name.ends_with(".tmp"))
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync of the directory).
///
/// # Errors
/// Any I/O error, with the temporary file removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

/// Runs `write` on a temporary path, then fsyncs and renames it over `path`. Use it for
/// writers that insist on a path of their own (burn's record files).
///
/// # Errors
/// The writer's error or any I/O error, with the temporary file removed.
pub fn write_atomic_with<E, F>(path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<io::Error>,
{
    let tmp = temp_path(path);
    let result = write(&tmp).and_then(|()| {
        File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not all filesystems allow opening a directory.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn temporary_names_are_recognised() {
        assert!(is_temp_name(
            &temp_path(Path::new("d/model.bpk"))
                .file_name()
                .unwrap()
                .to_string_lossy()
        ));
        assert!(is_temp_name(".model.bpk.tmp-12.12-0.tmp"));
        assert!(is_temp_name(".model.safetensors.12-0.tmp"));
        assert!(!is_temp_name("model.bpk"));
        assert!(!is_temp_name("state.json"));
    }

    #[test]
    fn failed_writer_keeps_previous_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.bin");
        write_atomic(&p, b"good").unwrap();
        let r: io::Result<()> = write_atomic_with(&p, |tmp| {
            fs::write(tmp, b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"good");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
