//! Issue 22's checks on the CLI: the warning of a pre-training run whose loss after its
//! first epoch sits near chance, and `--val-split`, the validation split carved from the
//! training set that settings are chosen on instead of the test split.

mod common;

use common::{fails_naming, records, s, succeeds};
use serde_json::Value;

const DATA: [&str; 8] = [
    "--data",
    "builtin",
    "--limit",
    "48",
    "--test-limit",
    "40",
    "--seed",
    "3",
];

fn warnings(run: &std::path::Path) -> Vec<Value> {
    records(run)
        .into_iter()
        .filter(|r| r.get("warning").is_some())
        .collect()
}

/// At LR 1e-7 nothing moves: the loss stays at chance, ln(2 * 12 - 1) = ln 23 = 3.135 for
/// batch 12 and 2 views. With 4 steps per epoch (48 images), the check waits for the first
/// epoch that reaches 20 steps, epoch 5, and the run warns once, on stderr and as a record
/// of `metrics.jsonl` right after that epoch's record.
#[test]
fn a_pretrain_run_stuck_at_chance_warns_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pre");
    let mut args = vec![
        "pretrain",
        "--epochs",
        "6",
        "--batch-size",
        "12",
        "--lr",
        "1e-7",
    ];
    args.extend(DATA);
    args.extend(["--quiet", "--out", s(&out)]);
    let (_, err) = succeeds(&args);
    assert!(
        err.contains("warning: the mean loss of epoch 5 (")
            && err.contains(", 20 steps in) is near chance (3.135"),
        "{err}"
    );
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    let w = warnings(&out);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["epoch"], 5);
    assert_eq!(w[0]["stage"], "pretrain");
    let all = records(&out);
    let at = all.iter().position(|r| r.get("warning").is_some()).unwrap();
    assert_eq!(all[at - 1]["epoch"], 5);
    assert!(all[at - 1].get("epoch_loss").is_some());
}

/// The warning is the contrastive loss's: a cross-entropy run at the same tiny LR has no
/// chance level to compare with and records none.
#[test]
fn cross_entropy_runs_do_not_warn() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ce");
    let mut args = vec![
        "train-ce",
        "--epochs",
        "1",
        "--batch-size",
        "12",
        "--lr",
        "1e-7",
    ];
    args.extend(DATA);
    args.extend(["--quiet", "--out", s(&out)]);
    let (_, err) = succeeds(&args);
    assert!(!err.contains("warning:"), "{err}");
    assert!(warnings(&out).is_empty());
}

/// `supcon run --val-split 0.25` trains all three stages on the rest of the training set
/// and scores them on the held-out quarter: of the 48 stratified images (eight classes of
/// 5 and two of 4), round(0.25 * 5) = 1 and round(0.25 * 4) = 1 per class, 10 in all.
#[test]
fn run_scores_on_the_validation_split() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = vec![
        "run",
        "--epochs",
        "1",
        "--batch-size",
        "12",
        "--linear-epochs",
        "1",
        "--val-split",
        "0.25",
    ];
    args.extend(DATA);
    args.extend(["--quiet", "--out", s(&out)]);
    let (stdout, _) = succeeds(&args);
    assert!(
        stdout.contains("scores on the validation split (0.25 of the training set)"),
        "{stdout}"
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["val_split"], 0.25);
    for stage in ["supcon", "linear", "ce"] {
        let data: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(stage).join("data.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(data["train_count"], 38, "{stage}: {data}");
        assert_eq!(data["test_count"], 10, "{stage}: {data}");
    }
}

#[test]
fn a_val_split_outside_zero_one_is_refused() {
    for bad in ["0", "1", "1.5", "-0.2", "half"] {
        fails_naming(
            &["run", "--val-split", bad, "--epochs", "1"],
            &["--val-split"],
        );
    }
}
