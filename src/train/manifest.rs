//! The manifest of an output directory: `manifest.json`, written when a command creates
//! the directory, says what kind of output it is, in which format version, and what it was
//! made from. [`read_manifest`] is the one function every reader uses to tell what a
//! directory holds (`eval`, `predict`, `embed`, `export`, `report`, `linear`, `finetune`,
//! resume).
//!
//! Directories written before manifests existed have none: for them [`read_manifest`]
//! infers the kind from the files the directory holds (the one place that still looks at
//! which fields a `config.json` has).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::json_files::{RunDirError, read_json, write_json};

/// The file name.
pub const MANIFEST: &str = "manifest.json";

/// The format version this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// What an output directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// `supcon pretrain`: encoder + projection head (+ a joint classifier).
    Pretrain,
    /// `supcon linear`: a linear classifier on a frozen pre-trained encoder.
    Linear,
    /// `supcon train-ce`: encoder + classifier trained end to end with cross-entropy.
    Ce,
    /// `supcon finetune`: a pre-trained encoder fine-tuned with a new classifier.
    Finetune,
    /// `supcon run`: a pre-training, its linear probe and a CE baseline in `supcon/`,
    /// `linear/`, `ce/`.
    Run,
    /// `supcon sweep`: one run per grid point and `sweep.json`.
    Sweep,
    /// `supcon export`: a self-contained classifier (`classifier.json`, weights).
    Export,
}

impl RunKind {
    /// The subcommand that writes (and resumes) it.
    pub fn command(self) -> &'static str {
        match self {
            Self::Pretrain => "pretrain",
            Self::Linear => "linear",
            Self::Ce => "train-ce",
            Self::Finetune => "finetune",
            Self::Run => "run",
            Self::Sweep => "sweep",
            Self::Export => "export",
        }
    }

    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Pretrain => "a pre-training run",
            Self::Linear => "a linear-probe run",
            Self::Ce => "a cross-entropy run",
            Self::Finetune => "a fine-tuning run",
            Self::Run => "a `supcon run` output directory",
            Self::Sweep => "a `supcon sweep` output directory",
            Self::Export => "an exported model",
        }
    }
}

/// What an output was made from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MadeFrom {
    /// The dataset spec it trained on.
    pub data: Option<String>,
    /// Runs or exports it read (a probe's encoder run, a fine-tuning's source).
    pub runs: Vec<PathBuf>,
    /// A weights file it started from (`torchvision:FILE`).
    pub init: Option<String>,
}

impl MadeFrom {
    /// A run trained from scratch on `data`, or from the weights of `init`.
    pub fn training(data: &str, init: Option<&impl ToString>) -> Self {
        Self {
            data: Some(data.to_string()),
            runs: Vec::new(),
            init: init.map(ToString::to_string),
        }
    }
}

/// The contents of `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What the directory holds.
    pub kind: RunKind,
    /// The manifest's format version ([`MANIFEST_VERSION`]).
    pub format_version: u32,
    /// The supcon version that wrote it.
    pub supcon_version: String,
    /// What it was made from.
    pub made_from: MadeFrom,
}

impl Manifest {
    /// A manifest of this build for `kind`.
    pub fn new(kind: RunKind, made_from: MadeFrom) -> Self {
        Self {
            kind,
            format_version: MANIFEST_VERSION,
            supcon_version: env!("CARGO_PKG_VERSION").to_string(),
            made_from,
        }
    }

    /// Writes it into `dir`, atomically.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn write(&self, dir: &Path) -> Result<(), RunDirError> {
        write_json(&dir.join(MANIFEST), self)
    }
}

/// What `dir` holds: its `manifest.json`, or for a directory written before manifests
/// existed, what its files show (with `format_version` 0 and nothing under `made_from`).
///
/// # Errors
/// [`RunDirError::Io`] naming `dir` when it does not exist or holds no known output (the
/// message says what was expected); a `manifest.json` that does not parse or has a newer
/// format version; an unreadable `config.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest, RunDirError> {
    let path = dir.join(MANIFEST);
    if path.is_file() {
        let raw: serde_json::Value = read_json(&path)?;
        let version = raw
            .get("format_version")
            .and_then(serde_json::Value::as_u64);
        if version.is_some_and(|v| v > u64::from(MANIFEST_VERSION)) {
            return Err(RunDirError::Json {
                path,
                reason: format!(
                    "format_version {}: written by a newer supcon; this one reads up to {}",
                    version.unwrap_or_default(),
                    MANIFEST_VERSION
                ),
            });
        }
        return read_json(&path);
    }
    let kind = legacy_kind(dir)?;
    Ok(Manifest {
        kind,
        format_version: 0,
        supcon_version: String::new(),
        made_from: MadeFrom::default(),
    })
}

/// The kind of a directory without a manifest, from its files.
fn legacy_kind(dir: &Path) -> Result<RunKind, RunDirError> {
    let missing = |why: &str| RunDirError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, why.to_string()),
    };
    if !dir.exists() {
        return Err(missing("no such directory"));
    }
    if !dir.is_dir() {
        return Err(missing("not a directory"));
    }
    let has_file = |name: &str| dir.join(name).is_file();
    if has_file("classifier.json") {
        return Ok(RunKind::Export);
    }
    if !has_file("config.json") {
        if has_file("sweep.json") {
            return Ok(RunKind::Sweep);
        }
        if has_file("run.json") || dir.join("linear").join("config.json").is_file() {
            return Ok(RunKind::Run);
        }
        return Err(missing(
            "not a run directory (no manifest.json or config.json, and not a `supcon run`, \
             `supcon sweep` or `supcon export` output)",
        ));
    }
    let config: serde_json::Value = read_json(&dir.join("config.json"))?;
    let has = |key: &str| config.get(key).is_some();
    if has("pretrained_run") {
        Ok(RunKind::Finetune)
    } else if has("encoder_run") {
        Ok(RunKind::Linear)
    } else if has("method") || has("model") {
        Ok(RunKind::Pretrain)
    } else if has("encoder") {
        Ok(RunKind::Ce)
    } else {
        Err(RunDirError::Json {
            path: dir.join("config.json"),
            reason: "the configuration of no known stage (expected pretrain, linear, \
                     train-ce or finetune)"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn a_written_manifest_reads_back_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let made = MadeFrom {
            data: Some("builtin".into()),
            runs: vec![PathBuf::from("runs/p")],
            init: None,
        };
        Manifest::new(RunKind::Linear, made.clone())
            .write(dir.path())
            .unwrap();
        assert!(dir.path().join(MANIFEST).is_file());
        let m = read_manifest(dir.path()).unwrap();
        assert_eq!(m.kind, RunKind::Linear);
        assert_eq!(m.format_version, MANIFEST_VERSION);
        assert_eq!(m.made_from, made);
        let text = fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert!(text.contains("\"kind\": \"linear\""), "{text}");
        fs::write(
            dir.path().join(MANIFEST),
            text.replace("\"format_version\": 1", "\"format_version\": 9"),
        )
        .unwrap();
        let err = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("manifest.json") && err.contains("newer"),
            "{err}"
        );
    }

    #[test]
    fn directories_without_a_manifest_are_told_apart_by_their_files() {
        let root = tempfile::tempdir().unwrap();
        let case = |name: &str, files: &[(&str, &str)]| {
            let dir = root.path().join(name);
            for (file, text) in files {
                let path = dir.join(file);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, text).unwrap();
            }
            read_manifest(&dir).map(|m| m.kind)
        };
        let kind = |name, files| case(name, files).unwrap();
        assert_eq!(
            kind("p", &[("config.json", r#"{"method":"supcon"}"#)]),
            RunKind::Pretrain
        );
        assert_eq!(
            kind("l", &[("config.json", r#"{"encoder_run":"p"}"#)]),
            RunKind::Linear
        );
        assert_eq!(
            kind("c", &[("config.json", r#"{"encoder":{}}"#)]),
            RunKind::Ce
        );
        assert_eq!(
            kind("f", &[("config.json", r#"{"pretrained_run":"p"}"#)]),
            RunKind::Finetune
        );
        assert_eq!(kind("s", &[("sweep.json", "{}")]), RunKind::Sweep);
        assert_eq!(kind("r", &[("run.json", "{}")]), RunKind::Run);
        assert_eq!(kind("e", &[("classifier.json", "{}")]), RunKind::Export);
        let err = case("x", &[("config.json", r#"{"a":1}"#)]).unwrap_err();
        assert!(err.to_string().contains("no known stage"), "{err}");
        let err = case("empty", &[("notes.txt", "")]).unwrap_err();
        assert!(err.to_string().contains("not a run directory"), "{err}");
        let err = read_manifest(&root.path().join("nowhere")).unwrap_err();
        assert!(err.to_string().contains("no such directory"), "{err}");
    }
}
