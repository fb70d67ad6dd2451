//! One rule for every file or folder a command writes, checked before any work starts:
//!
//! 1. no command writes over a file that belongs to a run or an export (`config.json`,
//!    `model.safetensors`, `metrics.jsonl`, ... of a folder that holds a run, a
//!    `supcon run` output, a sweep or an export; anything in its `checkpoints/`);
//! 2. no command writes over any file it reads (nor over a folder it reads);
//! 3. no command writes into a dataset folder (a run inside `folder:D` would become a
//!    class of `D`).

use std::path::{Component, Path, PathBuf};

/// Files that mark a folder as a command's output: a training run, a `supcon run`
/// output, a sweep, an export.
pub const MARKERS: [&str; 5] = [
    "manifest.json",
    "config.json",
    "run.json",
    "sweep.json",
    "classifier.json",
];

/// The files a run or an export writes about itself.
pub const OWNED_FILES: [&str; 13] = [
    "manifest.json",
    "config.json",
    "data.json",
    "metrics.jsonl",
    "model.safetensors",
    "classifier.safetensors",
    "encoder.json",
    "report.json",
    "run.json",
    "summary.json",
    "sweep.json",
    "classifier.json",
    "eval.json",
];

/// An output refused by the rule, naming the path and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct OutputError {
    /// The refused output.
    pub path: PathBuf,
    /// Why, and what to do instead.
    pub reason: String,
}

/// What a command reads, for the checks of its outputs.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Files and folders the command reads (a model folder, a config file, a baseline).
    pub paths: Vec<PathBuf>,
    /// Dataset folders it loads.
    pub datasets: Vec<PathBuf>,
}

impl Inputs {
    /// Inputs of these paths and dataset folders.
    pub fn new(
        paths: impl IntoIterator<Item = PathBuf>,
        datasets: impl IntoIterator<Item = PathBuf>,
    ) -> Self {
        Self {
            paths: paths.into_iter().collect(),
            datasets: datasets.into_iter().collect(),
        }
    }
}

/// Whether `dir` holds a run, a `supcon run` output, a sweep or an export.
pub fn is_output_dir(dir: &Path) -> bool {
    MARKERS.iter().any(|m| dir.join(m).is_file())
}

/// `path` made absolute with `.` and `..` resolved and every existing part's links
/// followed (the part that does not exist yet is appended as written).
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(path)
    };
    let mut clean = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let mut rest = Vec::new();
    let mut base = clean.as_path();
    loop {
        if let Ok(real) = base.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (base.parent(), base.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                base = parent;
            }
            _ => return clean,
        }
    }
}

/// The output folder (`out` itself, or one above it) that owns file `out`, if any: a
/// folder with a marker file, for a name in [`OWNED_FILES`] directly inside it or
/// anything below its `checkpoints/`.
fn owner_of(out: &Path) -> Option<PathBuf> {
    let parent = out.parent()?;
    let name = out.file_name()?.to_string_lossy();
    if OWNED_FILES.contains(&name.as_ref()) && is_output_dir(parent) {
        return Some(parent.to_path_buf());
    }
    parent
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "checkpoints"))
        .and_then(Path::parent)
        .filter(|run| is_output_dir(run))
        .map(Path::to_path_buf)
}

fn refused(out: &Path, reason: String) -> OutputError {
    OutputError {
        path: out.to_path_buf(),
        reason,
    }
}

/// Checks rule 3 for `out` (a file or a folder): it is not inside any dataset folder.
fn check_datasets(out: &Path, real: &Path, inputs: &Inputs) -> Result<(), OutputError> {
    for data in &inputs.datasets {
        let data_real = resolve(data);
        if real.starts_with(&data_real) {
            return Err(refused(
                out,
                format!(
                    "is inside the dataset folder {}; writing there would change the \
                     dataset (a new folder becomes a class); write outside it",
                    data.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that the command may write file `out`, under the three rules of the module.
///
/// # Errors
/// [`OutputError`] naming `out`, the run, input or dataset it collides with, and what
/// to do instead.
pub fn check_file(out: &Path, inputs: &Inputs) -> Result<(), OutputError> {
    if out.is_dir() {
        return Err(refused(
            out,
            "is a folder; expected a file name to write".into(),
        ));
    }
    if let Some(owner) = owner_of(out) {
        return Err(refused(
            out,
            format!(
                "belongs to the run or export in {}; no command writes over a run's own \
                 files; pick another output path",
                owner.display()
            ),
        ));
    }
    let real = resolve(out);
    for input in &inputs.paths {
        let input_real = resolve(input);
        if real == input_real {
            return Err(refused(
                out,
                format!(
                    "is {} this command reads; it would be overwritten; pick another output \
                     path",
                    input.display()
                ),
            ));
        }
    }
    check_datasets(out, &real, inputs)
}

/// Checks that the command may create or fill folder `out` (a run, an export): it is
/// not a folder the command reads, nor inside one of its dataset folders, nor inside a
/// folder that the command reads as a model.
///
/// # Errors
/// [`OutputError`] naming `out` and what it collides with.
pub fn check_dir(out: &Path, inputs: &Inputs) -> Result<(), OutputError> {
    let real = resolve(out);
    for input in &inputs.paths {
        let input_real = resolve(input);
        if real == input_real || input_real.starts_with(&real) {
            return Err(refused(
                out,
                format!(
                    "{} {}, which this command reads; pick another output folder",
                    if real == input_real { "is" } else { "contains" },
                    input.display()
                ),
            ));
        }
    }
    check_datasets(out, &real, inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_files_inputs_and_datasets_are_refused_other_paths_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        std::fs::create_dir_all(run.join("checkpoints/epoch-0001")).unwrap();
        std::fs::write(run.join("config.json"), "{}").unwrap();
        let none = Inputs::default();
        for owned in [
            "config.json",
            "model.safetensors",
            "checkpoints/epoch-0001/model.bpk",
        ] {
            let err = check_file(&run.join(owned), &none).unwrap_err();
            assert!(err.reason.contains("belongs to the run"), "{owned}: {err}");
        }
        // A new file beside a run's files is fine (a report, embeddings).
        check_file(&run.join("report.html"), &none).unwrap();
        // Without a marker it is not a run: its config.json is anybody's file.
        check_file(&tmp.path().join("config.json"), &none).unwrap();

        let read = tmp.path().join("baseline.json");
        std::fs::write(&read, "{}").unwrap();
        let inputs = Inputs::new([read.clone()], [tmp.path().join("data")]);
        let err = check_file(&tmp.path().join("./baseline.json"), &inputs).unwrap_err();
        assert!(err.reason.contains("this command reads"), "{err}");
        let err = check_dir(&tmp.path().join("data/run1"), &inputs).unwrap_err();
        assert!(err.reason.contains("dataset folder"), "{err}");
        let err = check_file(&tmp.path().join("data/../data/x.npy"), &inputs).unwrap_err();
        assert!(err.reason.contains("dataset folder"), "{err}");
        check_dir(&tmp.path().join("elsewhere"), &inputs).unwrap();
        let model = Inputs::new([run.clone()], []);
        let err = check_dir(&run, &model).unwrap_err();
        assert!(err.reason.contains("which this command reads"), "{err}");
    }
}
