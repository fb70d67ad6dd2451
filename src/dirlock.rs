//! One writer per output directory: an exclusive advisory lock (`flock` on Unix, through
//! the standard library's [`File::try_lock`]) on a `.supcon.lock` file inside it, held for
//! as long as a command writes there: training, resume, `sweep` and `run` from start to
//! end; `eval` and `report`, which write one file at the end, check the folder free at
//! start and hold it while they write.
//!
//! A second writer fails at once with [`LockError::Held`], naming the directory and the
//! process id the holder wrote into the lock file. The lock goes with its process: a
//! killed writer never leaves a directory locked (the file itself stays, empty of
//! meaning). Readers (`predict`, `embed`, `linear --encoder`) take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside a locked directory.
pub const LOCK_FILE: &str = ".supcon.lock";

/// Errors taking a directory's lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error(
        "{dir}: another supcon process{} is writing into this directory; wait for it to \
         end, or pick another directory",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Held {
        /// The locked directory.
        dir: PathBuf,
        /// The holder's process id, as it recorded it.
        pid: Option<u32>,
    },
    /// The lock file cannot be opened or locked.
    #[error("{path}: cannot lock the directory: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A held lock on a directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    _file: File,
}

impl DirLock {
    /// Locks the existing directory `dir`, without waiting.
    ///
    /// # Errors
    /// [`LockError::Held`] when another writer (in any process, or another lock in this
    /// one) holds it; [`LockError::Io`] when the lock file cannot be opened.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush())
            .map_err(io)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            _file: file,
        })
    }

    /// Creates `dir` (and its parents) if needed, then locks it.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), or when the directory cannot be created.
    pub fn create(dir: &Path) -> Result<Self, LockError> {
        std::fs::create_dir_all(dir).map_err(|source| LockError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        Self::acquire(dir)
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The folder that `file` is written into when that folder holds a run, a `supcon run`
/// output, a sweep or an export (whose lock a writer of `file` takes).
pub fn output_folder(file: &Path) -> Option<PathBuf> {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .filter(|p| crate::outputs::is_output_dir(p))
        .map(Path::to_path_buf)
}

/// Creates a new, unique directory `parent/prefix-<unix seconds>` (with `-2`, `-3`, ...
/// appended when that name is taken), atomically: `create_dir` fails rather than reuse a
/// folder another process has just made, so two commands started in the same second never
/// share one.
///
/// # Errors
/// I/O errors creating `parent` or the directory.
pub fn unique_dir(parent: &Path, prefix: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for n in 1u32.. {
        let name = if n == 1 {
            format!("{prefix}-{secs}")
        } else {
            format!("{prefix}-{secs}-{n}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    unreachable!("u32 names run out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_directory_and_pid_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run");
        let first = DirLock::create(&dir).unwrap();
        let err = DirLock::acquire(&dir).unwrap_err();
        match &err {
            LockError::Held { dir: d, pid } => {
                assert_eq!(d, &dir);
                assert_eq!(*pid, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other}"),
        }
        let text = err.to_string();
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        DirLock::acquire(&dir).unwrap();
    }

    #[test]
    fn unique_dirs_never_repeat() {
        let tmp = tempfile::tempdir().unwrap();
        let a = unique_dir(tmp.path(), "pretrain").unwrap();
        let b = unique_dir(tmp.path(), "pretrain").unwrap();
        let c = unique_dir(tmp.path(), "pretrain").unwrap();
        assert!(a != b && b != c && a != c, "{a:?} {b:?} {c:?}");
        assert!(a.is_dir() && b.is_dir() && c.is_dir());
    }
}
