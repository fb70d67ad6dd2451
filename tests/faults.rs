//! Fault injection on the real `supcon` binary (tiny generated IDX data): Ctrl-C
//! (SIGINT, exit status 130) or SIGTERM (143) stops every training loop at a checkpoint,
//! and `--resume` reproduces the uninterrupted run bit for bit; SIGKILL at seeded random
//! moments, resumed each time, loses nothing; a write that fails for lack of space
//! (RLIMIT_FSIZE, EFBIG) keeps the previous checkpoint; the same seed gives bit-identical
//! runs whatever the number of data-loading threads.
//!
//! Unix only (signals, `sh`, `kill`, `ulimit`).
#![cfg(unix)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use supcon::train::{PretrainConfig, RunDir, checkpoint, pretrain::build_model};

mod common;
use common::{BIN, records, step_losses};

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_string()).collect()
}

fn pretrain_args(spec: &str, out: &Path, epochs: usize, extra: &[&str]) -> Vec<String> {
    let mut args = strings(&[
        "pretrain",
        "--data",
        spec,
        "--epochs",
        &epochs.to_string(),
        "--batch-size",
        "8",
        "--lr",
        "0.05",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    args.extend(strings(extra));
    args
}

/// `supcon linear --encoder ENCODER --out OUT -q` and `extra`.
fn probe_args(encoder: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = strings(&["linear", "--encoder", encoder.to_str().unwrap()]);
    args.extend(strings(&["--out", out.to_str().unwrap(), "-q"]));
    args.extend(strings(extra));
    args
}

fn resume_args(command: &str, run: &Path) -> Vec<String> {
    strings(&[command, "--resume", run.to_str().unwrap(), "--quiet"])
}

fn spawn(args: &[String]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("supcon starts")
}

fn output(args: &[String]) -> Output {
    Command::new(BIN).args(args).output().expect("supcon runs")
}

fn ok(args: &[String]) -> String {
    let out = output(args);
    assert!(
        out.status.success(),
        "supcon {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Per-epoch (epoch, mean loss) pairs, in log order.
fn epoch_losses(run: &Path) -> Vec<(u64, f64)> {
    records(run)
        .iter()
        .filter_map(|r| Some((r.get("epoch")?.as_u64()?, r.get("epoch_loss")?.as_f64()?)))
        .collect()
}

/// Step records written so far (the file may be mid-append).
fn steps_logged(run: &Path) -> usize {
    fs::read_to_string(run.join("metrics.jsonl"))
        .map(|t| t.lines().filter(|l| l.contains("\"step\"")).count())
        .unwrap_or(0)
}

/// Asserts that two finished runs logged the same losses and hold the same weights.
fn assert_same_run(reference: &Path, run: &Path, weights: &str) {
    let (a, b) = (step_losses(reference), step_losses(run));
    assert!(!a.is_empty());
    let expected: Vec<u64> = (1..=a.len() as u64).collect();
    assert_eq!(b.iter().map(|s| s.0).collect::<Vec<_>>(), expected);
    assert_eq!(a, b, "per-step losses differ");
    assert_eq!(
        epoch_losses(reference),
        epoch_losses(run),
        "epoch losses differ"
    );
    assert_eq!(
        common::safetensors(&reference.join(weights)),
        common::safetensors(&run.join(weights)),
        "final weights differ"
    );
}

/// Every file under `dir` whose name is an unfinished write (`.NAME.tmp-...`).
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(temp_files(&path));
        } else if supcon::fsutil::is_temp_name(&entry.file_name().to_string_lossy()) {
            found.push(path);
        }
    }
    found
}

/// Loads the newest complete checkpoint of a pre-training run into a fresh model and
/// optimiser (what `--resume` does first) and returns its directory and step.
fn load_latest(run: &Path) -> Option<(PathBuf, usize)> {
    let dir = RunDir::open(run).ok()?;
    let last = checkpoint::latest(&dir).unwrap()?;
    let config: PretrainConfig = dir.read_json("config.json").unwrap();
    let device = config.device.autodiff_device();
    let data = config.data.load(config.seed).unwrap();
    let model = build_model(&config, data.num_classes(), &device).unwrap();
    let (_, _, state) = checkpoint::load(&last, model, config.optimizer.init())
        .unwrap_or_else(|e| panic!("newest complete checkpoint does not load: {e}"));
    Some((last, state.step))
}

/// Incomplete checkpoint directories and temporary files of a run.
fn unfinished(run: &Path) -> BTreeSet<PathBuf> {
    let mut found: BTreeSet<PathBuf> = match fs::read_dir(run.join("checkpoints")) {
        Ok(dir) => dir
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.join("state.json").exists())
            .collect(),
        Err(_) => BTreeSet::new(),
    };
    if run.is_dir() {
        found.extend(temp_files(run));
    }
    found
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// Waits until the run has logged at least `steps` steps (the child must still run).
fn wait_for_steps(child: &mut Child, run: &Path, steps: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while steps_logged(run) < steps {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before step {steps}"
        );
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends signal `sig` (INT: Ctrl-C, or TERM) once `steps` steps are logged; returns the
/// checkpoint the run reports after exiting with 130 (INT) or 143 (TERM).
fn interrupt_after(args: &[String], run: &Path, steps: usize, sig: &str) -> PathBuf {
    let mut child = spawn(args);
    wait_for_steps(&mut child, run, steps);
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // 128 + the signal's number, as shells report a process the signal ended.
    let status = if sig == "TERM" { 143 } else { 130 };
    assert_eq!(
        out.status.code(),
        Some(status),
        "exit status; stderr:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("--resume {}", run.display())),
        "no resume command: {err}"
    );
    let named = err
        .split("checkpoint saved in ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no checkpoint named: {err}"));
    let dir = PathBuf::from(named);
    assert!(dir.join("state.json").is_file(), "{dir:?} incomplete");
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.contains("-batch-"),
        "not a mid-epoch checkpoint: {name}"
    );
    let state: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    // The checkpoint is at the last logged step, not at an epoch boundary.
    assert_eq!(state["step"].as_u64().unwrap() as usize, steps_logged(run));
    assert!(state["batch"].as_u64().unwrap() > 0);
    assert!(temp_files(run).is_empty(), "{:?}", temp_files(run));
    dir
}

#[test]
fn ctrl_c_saves_a_mid_epoch_checkpoint_and_resume_matches_an_uninterrupted_run() {
    let f = common::idx_fixture(96);
    // Pre-training (resnet-tiny, 12 steps per epoch): interrupted in epoch 2.
    let full = f.root.join("pre-full");
    ok(&pretrain_args(&f.spec, &full, 5, &[]));
    let cut = f.root.join("pre-cut");
    interrupt_after(&pretrain_args(&f.spec, &cut, 5, &[]), &cut, 15, "INT");
    ok(&resume_args("pretrain", &cut));
    assert_same_run(&full, &cut, "model.safetensors");

    // Twice in a row: the second Ctrl-C exits at once (a checkpoint being written stays
    // incomplete); the run still resumes from its newest complete checkpoint.
    let twice = f.root.join("pre-twice");
    let mut child = spawn(&pretrain_args(&f.spec, &twice, 5, &[]));
    wait_for_steps(&mut child, &twice, 30);
    signal(&child, "INT");
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    ok(&resume_args("pretrain", &twice));
    assert_same_run(&full, &twice, "model.safetensors");

    // The cross-entropy baseline, interrupted twice.
    let ce = |out: &Path| {
        strings(&[
            "train-ce",
            "--data",
            &f.spec,
            "--epochs",
            "5",
            "--batch-size",
            "8",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
    };
    let ce_full = f.root.join("ce-full");
    ok(&ce(&ce_full));
    let ce_cut = f.root.join("ce-cut");
    interrupt_after(&ce(&ce_cut), &ce_cut, 5, "TERM"); // SIGTERM: the same stop
    let mut child = spawn(&resume_args("train-ce", &ce_cut));
    wait_for_steps(&mut child, &ce_cut, 30);
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    ok(&resume_args("train-ce", &ce_cut));
    assert_same_run(&ce_full, &ce_cut, "model.safetensors");

    // Fine-tuning the pre-trained encoder (the cross-entropy loop with a resume of its own).
    let ft = |out: &Path| {
        strings(&[
            "finetune",
            "--encoder",
            full.to_str().unwrap(),
            "--epochs",
            "4",
            "--batch-size",
            "8",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
    };
    let ft_full = f.root.join("ft-full");
    ok(&ft(&ft_full));
    let ft_cut = f.root.join("ft-cut");
    interrupt_after(&ft(&ft_cut), &ft_cut, 3, "INT");
    ok(&resume_args("finetune", &ft_cut));
    assert_same_run(&ft_full, &ft_cut, "model.safetensors");

    // The linear probe (its own loop on cached features, epoch records only): many cheap
    // epochs, stopped after some of them.
    let lin = |out: &Path| {
        strings(&[
            "linear",
            "--encoder",
            full.to_str().unwrap(),
            "--epochs",
            "2000",
            "--batch-size",
            "8",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
    };
    probe_stopped_and_resumed_equals_uninterrupted(&lin, &f.root.join("lin"), 20, 2000);
}

/// Runs the probe `lin(out)` to the end, and again stopped by Ctrl-C after `stop_after`
/// epochs and resumed; both must log the same `epochs` epoch losses and write the same
/// classifier.
fn probe_stopped_and_resumed_equals_uninterrupted(
    lin: &dyn Fn(&Path) -> Vec<String>,
    root: &Path,
    stop_after: usize,
    epochs: usize,
) {
    let (full, cut) = (root.join("full"), root.join("cut"));
    ok(&lin(&full));
    let mut child = spawn(&lin(&cut));
    let deadline = Instant::now() + Duration::from_secs(120);
    while epoch_count(&cut) < stop_after {
        assert!(child.try_wait().unwrap().is_none(), "probe ended too soon");
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("supcon linear --resume"), "{err}");
    ok(&resume_args("linear", &cut));
    assert_eq!(epoch_losses(&full).len(), epochs);
    assert_same_probe(&full, &cut);
}

/// Asserts that two finished probes logged the same epoch losses and wrote the same
/// classifier.
fn assert_same_probe(full: &Path, cut: &Path) {
    assert_eq!(epoch_losses(full), epoch_losses(cut));
    assert_eq!(
        common::safetensors(&full.join("classifier.safetensors")),
        common::safetensors(&cut.join("classifier.safetensors"))
    );
}

/// The augmented linear probe (`--augment crop`: each batch encoded afresh) stopped by
/// Ctrl-C resumes to the uninterrupted run bit for bit: the same augmented batches, the
/// same classifier.
#[test]
fn ctrl_c_then_resume_of_an_augmented_linear_probe_matches_an_uninterrupted_one() {
    let f = common::idx_fixture(96);
    let pre = f.root.join("pre");
    ok(&pretrain_args(&f.spec, &pre, 1, &[]));
    let lin = |out: &Path| {
        strings(&[
            "linear",
            "--encoder",
            pre.to_str().unwrap(),
            "--augment",
            "crop",
            "--checkpoint-every",
            "3",
            "--epochs",
            "300",
            "--batch-size",
            "8",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
    };
    probe_stopped_and_resumed_equals_uninterrupted(&lin, &f.root.join("lin"), 4, 300);
}

/// `supcon run` stopped in its pre-training stage continues with `supcon run --resume`:
/// the three stages end where an uninterrupted run's do, bit for bit.
#[test]
fn ctrl_c_then_run_resume_matches_an_uninterrupted_run() {
    let f = common::idx_fixture(96);
    let run = |out: &Path| {
        strings(&[
            "run",
            "--data",
            &f.spec,
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--linear-epochs",
            "3",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
    };
    let full = f.root.join("run-full");
    ok(&run(&full));
    let cut = f.root.join("run-cut");
    let mut child = spawn(&run(&cut));
    wait_for_steps(&mut child, &cut.join("supcon"), 15);
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let resume = format!("supcon run --resume {}", cut.display());
    assert!(err.contains(&resume), "{err}");
    assert!(!cut.join("linear").exists(), "stopped in stage 1");
    // Flags cannot change a resumed run.
    let refused = output(&strings(&[
        "run",
        "--resume",
        cut.to_str().unwrap(),
        "--epochs",
        "9",
    ]));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--epochs cannot be changed"));
    ok(&resume_args("run", &cut));
    for stage in ["supcon", "ce"] {
        assert_eq!(
            common::safetensors(&full.join(stage).join("model.safetensors")),
            common::safetensors(&cut.join(stage).join("model.safetensors")),
            "{stage}"
        );
    }
    assert_eq!(
        common::safetensors(&full.join("linear/classifier.safetensors")),
        common::safetensors(&cut.join("linear/classifier.safetensors"))
    );
    let top1 = |dir: &Path| -> Vec<f64> {
        let v: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["top1"].as_f64().unwrap())
            .collect()
    };
    assert_eq!(top1(&full), top1(&cut));
    // A finished run is not resumed again.
    let again = output(&resume_args("run", &cut));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already finished"));
}

fn epoch_count(run: &Path) -> usize {
    fs::read_to_string(run.join("metrics.jsonl"))
        .map(|t| t.lines().filter(|l| l.contains("epoch_loss")).count())
        .unwrap_or(0)
}

/// A small seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The highest step the run's log holds (0 without one).
fn last_step(run: &Path) -> u64 {
    fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?.get("step")?.as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn sigkill_at_random_moments_then_resume_loses_nothing() {
    let f = common::idx_fixture(96);
    let epochs = 20; // 12 steps per epoch, a checkpoint after each
    let total = 12 * epochs as u64;
    let full = f.root.join("full");
    ok(&pretrain_args(&f.spec, &full, epochs, &[]));

    let run = f.root.join("killed");
    let fresh = pretrain_args(&f.spec, &run, epochs, &[]);
    let mut rng = Rng(0x5eed_2024);
    let (mut kills, mut attempts, mut restarts_from_scratch) = (0, 0, 0);
    // Kills that left an unfinished write behind (a checkpoint without its state.json,
    // or a temporary file): they landed while a checkpoint or a file was being written.
    let mut mid_write = 0;
    let mut resumed_steps = Vec::new();
    loop {
        attempts += 1;
        assert!(attempts < 40, "no completion after {attempts} attempts");
        // Killed before config.json existed: nothing to resume, start again.
        let args = if run.join("config.json").is_file() {
            resume_args("pretrain", &run)
        } else {
            fresh.clone()
        };
        let before = unfinished(&run);
        let furthest = last_step(&run);
        let mut child = spawn(&args);
        // 12 kills at seeded moments, then the run may finish. One in four lands in the
        // first 150 ms (start-up: loading, restoring, truncating the log); the others
        // 0-40 ms after the log first shows a seeded step beyond anything logged before
        // (a training step, a checkpoint write after an epoch's last step, the final
        // save), so every such attempt gets further than the last.
        if kills < 12 {
            if rng.below(4) == 0 {
                std::thread::sleep(Duration::from_millis(rng.below(150)));
            } else {
                let target = furthest + 1 + rng.below(total / 12);
                let deadline = Instant::now() + Duration::from_secs(120);
                while last_step(&run) < target && child.try_wait().unwrap().is_none() {
                    assert!(Instant::now() < deadline, "no progress");
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(Duration::from_millis(rng.below(40)));
            }
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        if out.status.success() {
            break;
        }
        assert_eq!(out.status.code(), None, "failed instead of killed: {err}");
        kills += 1;
        if !unfinished(&run).is_subset(&before) {
            mid_write += 1;
        }
        // The newest complete checkpoint loads (model, optimiser and loop state).
        match load_latest(&run) {
            Some((_, step)) => resumed_steps.push(step),
            None => restarts_from_scratch += 1,
        }
    }
    eprintln!(
        "{kills} kills in {attempts} attempts, {mid_write} mid-write; resumed at steps \
         {resumed_steps:?} ({restarts_from_scratch} before any checkpoint)"
    );
    assert!(kills >= 10, "only {kills} kills landed");
    assert!(temp_files(&run).is_empty(), "{:?}", temp_files(&run));
    assert_same_run(&full, &run, "model.safetensors");
}

/// `supcon ARGS` under `ulimit -f BLOCKS` (512-byte blocks in POSIX `sh`) with SIGXFSZ
/// ignored: a write past the limit fails with EFBIG ("File too large"), as on a full disk.
fn limited(blocks: u64, args: &[String]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(BIN)
        .args(args)
        .output()
        .expect("sh runs")
}

fn size(path: &Path) -> u64 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len()
}

#[test]
fn a_failed_checkpoint_write_keeps_the_previous_checkpoint() {
    let f = common::idx_fixture(96);
    // A memory bank that grows every epoch (192 rows of 1024 floats per epoch): its file
    // in the epoch-3 checkpoint is larger than any file the first two need.
    let extra = ["--memory-bank", "4096", "--proj-dim", "1024"];
    let full = f.root.join("full");
    ok(&pretrain_args(&f.spec, &full, 3, &extra));
    let ckpt2 = full.join("checkpoints/epoch-0002");
    let mut fits = size(&full.join("metrics.jsonl"));
    for entry in fs::read_dir(&ckpt2).unwrap().flatten() {
        fits = fits.max(size(&entry.path()));
    }
    let blocks = fits.div_ceil(512) + 1;
    let bank3 = size(&full.join("checkpoints/epoch-0003/bank.f32"));
    assert!(bank3 > blocks * 512, "{bank3} bytes fit in {blocks} blocks");

    // The epoch-3 bank write fails: a clear error naming the file, the epoch-2 checkpoint
    // intact, no temporary file left, and --resume (no limit) finishes the same run.
    let run = f.root.join("full-disk");
    let out = limited(blocks, &pretrain_args(&f.spec, &run, 3, &extra));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("epoch-0003/bank.f32") && err.contains("File too large"),
        "{err}"
    );
    let (last, step) = load_latest(&run).expect("a complete checkpoint");
    assert!(
        last.ends_with("epoch-0002") && step == 24,
        "{last:?} {step}"
    );
    assert!(!run.join("checkpoints/epoch-0003/state.json").exists());
    assert!(temp_files(&run).is_empty(), "{:?}", temp_files(&run));
    ok(&resume_args("pretrain", &run));
    assert_same_run(&full, &run, "model.safetensors");

    // A limit below the weights file: the very first checkpoint fails inside burn's own
    // writer; no checkpoint is complete, and --resume starts over and finishes.
    let run = f.root.join("no-room");
    let out = limited(64, &pretrain_args(&f.spec, &run, 3, &extra));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("epoch-0001/model.bpk") && err.contains("File too large"),
        "{err}"
    );
    assert!(load_latest(&run).is_none());
    assert!(temp_files(&run).is_empty(), "{:?}", temp_files(&run));
    ok(&resume_args("pretrain", &run));
    assert_same_run(&full, &run, "model.safetensors");
}

#[test]
fn same_seed_gives_bit_identical_runs_whatever_the_loader_threads() {
    let f = common::idx_fixture(96);
    let runs: Vec<PathBuf> = [("a", "2"), ("b", "2"), ("c", "1")]
        .iter()
        .map(|(name, threads)| {
            let out = f.root.join(name);
            ok(&pretrain_args(&f.spec, &out, 3, &["--threads", threads]));
            out
        })
        .collect();
    assert_eq!(step_losses(&runs[0]).len(), 36);
    assert_same_run(&runs[0], &runs[1], "model.safetensors");
    assert_same_run(&runs[0], &runs[2], "model.safetensors");
}

/// The other complete checkpoint of a run than `newest` (runs keep two).
fn previous_checkpoint(run: &Path, newest: &Path) -> PathBuf {
    let complete: Vec<PathBuf> = fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("state.json").is_file() && p != newest)
        .collect();
    assert_eq!(complete.len(), 1, "{complete:?}");
    complete[0].clone()
}

/// `--resume` of a stopped run whose newest checkpoint cannot be loaded (its `model.bpk`
/// cut in half) continues from the previous one, with a warning naming both and why; the
/// run still ends as an uninterrupted one. When no checkpoint loads, the error names each
/// and says how to start over, and doing so works.
#[test]
fn resume_skips_an_unreadable_newest_checkpoint_for_the_previous_one() {
    let f = common::idx_fixture(96);
    let full = f.root.join("full");
    ok(&pretrain_args(&f.spec, &full, 3, &[]));
    let cut = f.root.join("cut");
    let newest = interrupt_after(&pretrain_args(&f.spec, &cut, 3, &[]), &cut, 15, "INT");
    let previous = previous_checkpoint(&cut, &newest);
    let both = f.root.join("both");
    common::copy_dir(&cut, &both);

    let model = newest.join("model.bpk");
    let bytes = fs::read(&model).unwrap();
    fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();
    let out = output(&resume_args("pretrain", &cut));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warning = err
        .lines()
        .find(|l| l.starts_with("warning: checkpoint"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    for needle in [
        newest.display().to_string(),
        model.display().to_string(),
        format!(
            "resuming from the previous complete checkpoint {}",
            previous.display()
        ),
    ] {
        assert!(warning.contains(&needle), "{needle:?} not in {warning}");
    }
    assert_same_run(&full, &cut, "model.safetensors");
    // Kept aside, out of the checkpoints that are loaded and counted.
    let aside = cut
        .join("checkpoints/unreadable")
        .join(newest.file_name().unwrap());
    assert_eq!(
        fs::read(aside.join("model.bpk")).unwrap().len(),
        bytes.len() / 2
    );

    // Neither checkpoint loads: a bad state.json, an empty optim.bpk.
    let (newest, previous) = (
        both.join("checkpoints").join(newest.file_name().unwrap()),
        both.join("checkpoints").join(previous.file_name().unwrap()),
    );
    fs::write(newest.join("state.json"), "{\"epoch\": 1,").unwrap();
    fs::write(previous.join("optim.bpk"), b"").unwrap();
    let out = output(&resume_args("pretrain", &both));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in [
        "no checkpoint of the run can be loaded".to_string(),
        newest.join("state.json").display().to_string(),
        previous.join("optim.bpk").display().to_string(),
        format!("remove {}/checkpoints and resume again", both.display()),
    ] {
        assert!(err.contains(&needle), "{needle:?} not in {err}");
    }
    assert!(newest.is_dir() && previous.is_dir(), "nothing is moved");
    // What the message says to do works: the run starts over and ends the same.
    fs::remove_dir_all(both.join("checkpoints")).unwrap();
    ok(&resume_args("pretrain", &both));
    assert_same_run(&full, &both, "model.safetensors");
}

/// Ctrl-C while `supcon linear` caches its features (before its first training step)
/// exits with 130 at once, naming the phase and the `--resume` command; the folder holds
/// no partial file, a fresh run into it is refused with a clear message, and the resume
/// command it gives finishes the probe as an uninterrupted one.
#[test]
fn ctrl_c_during_the_probes_feature_caching_stops_it_and_resume_finishes_it() {
    let f = common::idx_fixture(96);
    let pre = f.root.join("pre");
    ok(&pretrain_args(&f.spec, &pre, 1, &[]));
    // Enough images of the encoder's shape that caching their features takes a while.
    let big = f.root.join("big");
    common::banded_idx(&big, 60_000, 24);
    let big_spec = format!("idx:{}", big.display());
    let lin = |out: &Path| {
        let extra = ["--data", &big_spec, "--epochs", "1", "--batch-size", "512"];
        probe_args(&pre, out, &extra)
    };
    let cut = f.root.join("lin-cut");
    let mut child = spawn(&lin(&cut));
    // encoder.json is written just before the features are cached.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !cut.join("encoder.json").is_file() {
        assert!(child.try_wait().unwrap().is_none(), "the probe ended");
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    signal(&child, "INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let resume = format!("supcon linear --resume {}", cut.display());
    assert!(
        err.contains("stopped on request during feature caching")
            && err.contains(&format!("continue it with: {resume}")),
        "{err}"
    );
    // Stopped before any training step: nothing logged, no checkpoint, no partial file.
    assert_eq!(epoch_count(&cut), 0);
    assert!(
        fs::read_dir(cut.join("checkpoints"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(temp_files(&cut).is_empty(), "{:?}", temp_files(&cut));
    // A fresh run into the same folder is refused, pointing at --resume.
    let again = output(&lin(&cut));
    let again_err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{again_err}");
    assert!(again_err.contains("already holds a run") && again_err.contains("--resume"));
    // The command the message gives works, and ends as an uninterrupted probe.
    let args: Vec<String> = resume
        .split(' ')
        .skip(1)
        .map(String::from)
        .chain(["-q".to_string()])
        .collect();
    ok(&args);
    let full = f.root.join("lin-full");
    ok(&lin(&full));
    assert_same_probe(&full, &cut);
}

/// A linear probe on an export's encoder (`linear --encoder EXPORT --data SPEC`) stopped
/// by Ctrl-C resumes to the uninterrupted probe bit for bit.
#[test]
fn a_probe_of_an_exports_encoder_stops_and_resumes_as_any_probe() {
    let f = common::idx_fixture(96);
    let pre = f.root.join("pre");
    ok(&pretrain_args(&f.spec, &pre, 1, &[]));
    let probe = f.root.join("probe");
    ok(&probe_args(&pre, &probe, &["--epochs", "2"]));
    let export = f.root.join("export");
    ok(&strings(&[
        "export",
        "--model",
        probe.to_str().unwrap(),
        "--out",
        export.to_str().unwrap(),
    ]));
    let lin = |out: &Path| {
        let extra = ["--data", &f.spec, "--epochs", "2000", "--batch-size", "8"];
        probe_args(&export, out, &extra)
    };
    probe_stopped_and_resumed_equals_uninterrupted(&lin, &f.root.join("lin"), 20, 2000);
}
