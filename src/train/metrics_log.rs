//! A run's `metrics.jsonl`, typed: one [`Record`] per line, appended by the trainer
//! ([`MetricsLog`]), read by `eval`, `report` and resume ([`read_records`],
//! [`read_records_lenient`]), cut back to a checkpoint on resume ([`truncate_metrics`]).
//! The fields of each kind are written in alphabetical order (the order the untyped writer
//! of earlier versions used, so files stay byte-identical).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::json_files::{RunDirError, io_err};
use crate::fsutil::write_atomic;

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// One optimiser step.
    Step(StepRecord),
    /// The end of an epoch.
    Epoch(EpochRecord),
    /// The final test metrics of a stage that trains a classifier.
    Test(TestRecord),
    /// A warning about the run (a loss near chance after the first epoch).
    Warning(WarningRecord),
}

/// A warning about the run, written after the epoch it concerns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarningRecord {
    /// Epochs complete when it was raised, 1-based.
    pub epoch: usize,
    /// The stage that wrote it.
    pub stage: String,
    /// What is wrong and what to try.
    pub warning: String,
}

/// One optimiser step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The joint classifier's cross-entropy (pre-training with `joint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_loss: Option<f64>,
    /// The epoch in progress, 1-based.
    pub epoch: usize,
    /// The step's training loss.
    pub loss: f64,
    /// The step's learning rate.
    pub lr: f64,
    /// The stage that wrote it (`pretrain`, `ce`, `finetune`, `linear`).
    pub stage: String,
    /// The global optimiser step, 1-based.
    pub step: usize,
}

/// The end of an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epochs complete, 1-based.
    pub epoch: usize,
    /// The epoch's mean training loss.
    pub epoch_loss: f64,
    /// Training throughput of the epoch, images (views) per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_second: Option<f64>,
    /// Wall time of the epoch, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The stage that wrote it.
    pub stage: String,
}

/// Final test metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// The stage that wrote it.
    pub stage: String,
    /// Expected calibration error on the test split (15 bins).
    pub test_ece: f64,
    /// Test top-1 accuracy, 0..1.
    pub test_top1: f64,
    /// Test top-5 accuracy, 0..1.
    pub test_top5: f64,
    /// Training-set top-1 (the linear probe, on un-augmented images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_top1: Option<f64>,
}

impl Record {
    /// The stage that wrote the record.
    pub fn stage(&self) -> &str {
        match self {
            Self::Step(r) => &r.stage,
            Self::Epoch(r) => &r.stage,
            Self::Test(r) => &r.stage,
            Self::Warning(r) => &r.stage,
        }
    }

    /// Whether a run resumed at `epoch` complete epochs and `step` steps keeps this record:
    /// steps up to `step`, epochs up to `epoch`; test records are written again.
    pub fn kept_at(&self, epoch: usize, step: usize) -> bool {
        match self {
            Self::Step(r) => r.step <= step,
            Self::Epoch(r) => r.epoch <= epoch,
            Self::Test(_) => false,
            Self::Warning(r) => r.epoch <= epoch,
        }
    }

    /// The record as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        // Serialising plain structs of numbers and strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The append-only `metrics.jsonl` log. Each record is one line, flushed as written.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    /// `None`: records are discarded (an MPI rank that does not write the run).
    file: Option<File>,
}

impl MetricsLog {
    /// Opens (creating it if needed) the log at `path` for appending.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn open(path: PathBuf) -> Result<Self, RunDirError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(Self {
            path,
            file: Some(file),
        })
    }

    /// A log that discards its records (another process writes `path`).
    pub fn discard(path: PathBuf) -> Self {
        Self { path, file: None }
    }

    /// Appends one record as a line.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn record(&mut self, record: &Record) -> Result<(), RunDirError> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut line = record.to_line();
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.flush())
            .map_err(io_err(&self.path))
    }
}

/// One line as a record, or why not, naming the file and the line (1-based).
fn parse_line(path: &Path, number: usize, line: &str) -> Result<Record, String> {
    serde_json::from_str::<Record>(line).map_err(|_| {
        let why = match serde_json::from_str::<serde_json::Value>(line) {
            Err(e) => e.to_string(),
            Ok(v) if !v.is_object() => "not a JSON object".to_string(),
            Ok(_) => "not a step, epoch, test or warning record".to_string(),
        };
        format!("{} line {number}: {why}", path.display())
    })
}

/// Reads every well-formed record of a `metrics.jsonl`, for display: each malformed line
/// (not only a torn last one) is skipped and described, naming the file and the line.
///
/// # Errors
/// I/O errors naming the file.
pub fn read_records_lenient(path: &Path) -> Result<(Vec<Record>, Vec<String>), RunDirError> {
    let text = fs::read(path).map_err(io_err(path))?;
    let text = String::from_utf8_lossy(&text);
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(path, i + 1, line) {
            Ok(r) => records.push(r),
            Err(why) => skipped.push(format!("{why}; line skipped")),
        }
    }
    Ok((records, skipped))
}

/// Reads every record of a `metrics.jsonl`, skipping a torn last line (a crash mid-write).
///
/// # Errors
/// I/O errors, or a malformed line that is not the last, naming the file and the line.
pub fn read_records(path: &Path) -> Result<Vec<Record>, RunDirError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match parse_line(path, i + 1, line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() => break,
            Err(reason) => {
                return Err(RunDirError::Json {
                    path: path.to_path_buf(),
                    reason,
                });
            }
        }
    }
    Ok(out)
}

/// Drops the records of `metrics.jsonl` written after a checkpoint at `epoch` complete
/// epochs and `step` steps (a resumed run would otherwise log those steps twice; see
/// [`Record::kept_at`]). Rewritten atomically.
///
/// # Errors
/// I/O errors, or a malformed line, naming the file.
pub fn truncate_metrics(path: &Path, epoch: usize, step: usize) -> Result<(), RunDirError> {
    if !path.exists() {
        return Ok(());
    }
    let mut text = String::new();
    for record in read_records(path)?
        .iter()
        .filter(|r| r.kept_at(epoch, step))
    {
        text.push_str(&record.to_line());
        text.push('\n');
    }
    write_atomic(path, text.as_bytes()).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_every_kind_round_trip_byte_for_byte() {
        // Lines as the untyped writer of earlier versions wrote them (sorted keys).
        for line in [
            r#"{"ce_loss":2.3959686756134033,"epoch":1,"loss":3.1273386478424072,"lr":0.005859375,"stage":"pretrain","step":1}"#,
            r#"{"epoch":2,"loss":1.5,"lr":0.1,"stage":"ce","step":7}"#,
            r#"{"epoch":1,"epoch_loss":3.0265923142433167,"images_per_second":441.8,"seconds":0.21,"stage":"pretrain"}"#,
            r#"{"epoch":3,"epoch_loss":0.5,"stage":"linear"}"#,
            r#"{"stage":"ce","test_ece":0.1,"test_top1":0.5,"test_top5":0.9}"#,
            r#"{"stage":"linear","test_ece":0.1,"test_top1":0.5,"test_top5":0.9,"train_top1":0.75}"#,
        ] {
            let record: Record = serde_json::from_str(line).unwrap();
            assert_eq!(record.to_line(), line);
        }
        let step: Record =
            serde_json::from_str(r#"{"epoch":2,"loss":1.5,"lr":0.1,"stage":"ce","step":7}"#)
                .unwrap();
        assert!(matches!(&step, Record::Step(s) if s.step == 7 && s.ce_loss.is_none()));
        assert!(step.kept_at(1, 7) && !step.kept_at(1, 6));
        let epoch: Record =
            serde_json::from_str(r#"{"epoch":3,"epoch_loss":0.5,"stage":"linear"}"#).unwrap();
        assert!(matches!(&epoch, Record::Epoch(_)));
        assert!(epoch.kept_at(3, 0) && !epoch.kept_at(2, 100));
        assert_eq!(epoch.stage(), "linear");
    }

    #[test]
    fn a_line_of_no_known_kind_is_an_error() {
        assert!(serde_json::from_str::<Record>(r#"{"stage":"x","epoch":1}"#).is_err());
        assert!(serde_json::from_str::<Record>(r#"{"step":1,"loss":"a"}"#).is_err());
    }

    fn step_line(epoch: usize, step: usize) -> String {
        Record::Step(StepRecord {
            ce_loss: None,
            epoch,
            loss: 1.0,
            lr: 0.1,
            stage: "ce".into(),
            step,
        })
        .to_line()
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_a_torn_middle_line_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(path.clone()).unwrap();
        for step in 1..=2 {
            log.record(&serde_json::from_str(&step_line(1, step)).unwrap())
                .unwrap();
        }
        // A crash while appending.
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"step\": 3, \"lo")
            .unwrap();
        let records = read_records(&path).unwrap();
        assert_eq!(records.len(), 2);
        assert!(matches!(&records[1], Record::Step(s) if s.step == 2));
        // The same tear followed by a good line: an error naming the line.
        let mut text = fs::read_to_string(&path).unwrap();
        text.push('\n');
        text.push_str(&step_line(1, 4));
        fs::write(&path, &text).unwrap();
        let err = read_records(&path).unwrap_err().to_string();
        assert!(
            err.contains("metrics.jsonl") && err.contains("line 3"),
            "{err}"
        );
        let (records, skipped) = read_records_lenient(&path).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("line 3"), "{skipped:?}");
    }

    #[test]
    fn truncation_to_a_mid_epoch_checkpoint_keeps_its_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut text = String::new();
        for step in 1..=6 {
            let epoch = (step - 1) / 3 + 1;
            text.push_str(&step_line(epoch, step));
            text.push('\n');
            if step % 3 == 0 {
                text.push_str(&format!(
                    "{{\"epoch\":{epoch},\"epoch_loss\":1.0,\"stage\":\"ce\"}}\n"
                ));
                text.push_str(&format!(
                    "{{\"epoch\":{epoch},\"stage\":\"ce\",\"warning\":\"w{epoch}\"}}\n"
                ));
            }
        }
        text.push_str(r#"{"stage":"ce","test_ece":0.1,"test_top1":0.5,"test_top5":0.9}"#);
        text.push('\n');
        fs::write(&path, text).unwrap();
        // One epoch and one batch of the second done.
        truncate_metrics(&path, 1, 4).unwrap();
        let kept: Vec<(usize, Option<usize>)> = read_records(&path)
            .unwrap()
            .iter()
            .map(|r| match r {
                Record::Step(s) => (s.epoch, Some(s.step)),
                Record::Epoch(e) => (e.epoch, None),
                Record::Test(_) => (0, None),
                Record::Warning(w) => {
                    assert_eq!(w.warning, format!("w{}", w.epoch));
                    (100 + w.epoch, None)
                }
            })
            .collect();
        assert_eq!(
            kept,
            [
                (1, Some(1)),
                (1, Some(2)),
                (1, Some(3)),
                (1, None),
                (101, None),
                (2, Some(4))
            ],
            "the end-of-run test record and the second epoch's warning are dropped too"
        );
    }
}
