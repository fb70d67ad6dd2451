//! What a new user breaks (issue 24): run folders that lock, outputs that never overwrite
//! inputs, settings under which nothing is learned or that do nothing, a probe whose
//! encoder was retrained, a malformed metrics log, non-regular image files, one exit
//! status per signal. Every case runs the real binary on tiny data (MLP encoder, one
//! epoch) and checks that stderr holds no panic.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;

use common::{BIN, fails_naming, no_panic, s, succeeds, supcon, supcon_in};

/// The tiny pre-training settings (builtin data, MLP, one epoch).
const TINY: [&str; 12] = [
    "--data",
    "builtin",
    "--limit",
    "64",
    "--test-limit",
    "32",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--model",
    "mlp",
];

/// [`TINY`] with the flags of `extra` (pairs or lone switches) replacing its own.
fn tiny_with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a: Vec<&str> = Vec::new();
    for pair in TINY.chunks(2) {
        if !extra.contains(&pair[0]) {
            a.extend_from_slice(pair);
        }
    }
    a.extend_from_slice(extra);
    a
}

fn pretrain_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["pretrain", "-q", "--out", out];
    a.extend(tiny_with(extra));
    a
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn pre(&self) -> PathBuf {
        self.root.join("pre")
    }
    fn lin(&self) -> PathBuf {
        self.root.join("lin")
    }
    fn export(&self) -> PathBuf {
        self.root.join("export")
    }
}

/// A pre-training run, a linear probe on it and its export, built once.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let f = Fixture { _tmp: tmp, root };
        succeeds(&pretrain_args(s(&f.pre()), &[]));
        succeeds(&[
            "linear",
            "-q",
            "--encoder",
            s(&f.pre()),
            "--epochs",
            "1",
            "--out",
            s(&f.lin()),
        ]);
        succeeds(&["export", "--model", s(&f.lin()), "--out", s(&f.export())]);
        f
    })
}

// ------------------------------------------------------------------ run-folder lock

#[test]
fn a_second_writer_fails_at_once_naming_the_folder_and_the_holders_pid() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let pid = format!("pid {}", std::process::id());

    // A new run folder held by another process (this test).
    let out = tmp.path().join("held");
    let lock = supcon::dirlock::DirLock::create(&out).unwrap();
    let started = Instant::now();
    fails_naming(
        &pretrain_args(s(&out), &[]),
        &[s(&out), &pid, "another supcon process"],
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!out.join("config.json").exists(), "nothing written");
    fails_naming(
        &[
            "run",
            "-q",
            "--out",
            s(&out),
            "--epochs",
            "1",
            "--model",
            "mlp",
        ],
        &[s(&out), &pid],
    );
    fails_naming(
        &[
            "sweep",
            "--out",
            s(&out),
            "--epochs",
            "1",
            "--model",
            "mlp",
            "--grid",
            "lr=0.1",
        ],
        &[s(&out), &pid],
    );
    drop(lock);

    // Existing runs: resume, eval (writes eval.json) and a report written into the run.
    let copy = tmp.path().join("lin");
    common::copy_dir(&f.lin(), &copy);
    let _lock = supcon::dirlock::DirLock::acquire(&copy).unwrap();
    fails_naming(&["linear", "--resume", s(&copy)], &[s(&copy), &pid]);
    fails_naming(&["eval", "--model", s(&copy)], &[s(&copy), &pid]);
    fails_naming(
        &[
            "report",
            "--no-embeddings",
            s(&copy),
            "--out",
            s(&copy.join("report.html")),
        ],
        &[s(&copy), &pid],
    );
    assert!(!copy.join("eval.json").exists() && !copy.join("report.html").exists());
}

#[test]
fn two_jobs_into_one_out_folder_leave_one_consistent_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("c");
    let spawn = |model: &str| {
        let mut a = pretrain_args(s(&out), &[]);
        let last = a.len() - 1;
        a[last] = model;
        Command::new(BIN)
            .args(&a)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("mlp"), spawn("resnet-tiny"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let wins = [&a, &b].iter().filter(|o| o.status.success()).count();
    let loser = if a.status.success() { &b } else { &a };
    let err = String::from_utf8_lossy(&loser.stderr);
    assert_eq!(wins, 1, "exactly one writer may win; loser said:\n{err}");
    assert!(
        err.contains("another supcon process") || err.contains("already holds a run"),
        "{err}"
    );
    // The survivor's config and weights belong together: the run evaluates.
    succeeds(&[
        "embed",
        "--model",
        s(&out),
        "--out",
        s(&tmp.path().join("e.npy")),
    ]);
}

#[test]
fn default_output_folders_started_in_the_same_second_are_distinct() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a: Vec<&str> = vec!["train-ce", "-q"];
    a.extend(TINY);
    let spawn = || {
        Command::new(BIN)
            .args(&a)
            .current_dir(tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = (0..3).map(|_| spawn()).collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let runs: Vec<PathBuf> = fs::read_dir(tmp.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 3, "{runs:?}");
    for r in &runs {
        assert!(r.join("report.json").is_file(), "{r:?} finished");
    }
}

#[test]
fn a_refused_setting_leaves_no_default_folder_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a: Vec<&str> = vec!["pretrain", "-q"];
    a.extend(tiny_with(&["--batch-size", "1"]));
    let out = supcon_in(Some(tmp.path()), &a);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no anchor can have a negative"), "{err}");
    let left: Vec<_> = fs::read_dir(tmp.path().join("runs"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

// ------------------------------------------------------------ outputs never overwrite inputs

#[test]
fn no_command_writes_over_a_runs_files_an_input_or_into_a_dataset() {
    let f = fixture();
    let config = fs::read(f.pre().join("config.json")).unwrap();
    let lin_config = fs::read(f.lin().join("config.json")).unwrap();
    let weights = fs::read(f.export().join("model.safetensors")).unwrap();

    fails_naming(
        &[
            "report",
            "--no-embeddings",
            s(&f.pre()),
            "--out",
            s(&f.pre().join("config.json")),
        ],
        &["config.json", "belongs to the run"],
    );
    fails_naming(
        &[
            "eval",
            "--model",
            s(&f.lin()),
            "--out",
            s(&f.lin().join("config.json")),
        ],
        &["config.json", "belongs to the run"],
    );
    fails_naming(
        &[
            "embed",
            "--model",
            s(&f.export()),
            "--data",
            "builtin",
            "--test-limit",
            "8",
            "--out",
            s(&f.export().join("model.safetensors")),
        ],
        &["model.safetensors", "belongs to the run or export"],
    );
    fails_naming(
        &[
            "export",
            "--model",
            s(&f.export()),
            "--out",
            s(&f.export()),
            "--force",
        ],
        &["which this command reads"],
    );
    assert_eq!(fs::read(f.pre().join("config.json")).unwrap(), config);
    assert_eq!(fs::read(f.lin().join("config.json")).unwrap(), lin_config);
    assert_eq!(
        fs::read(f.export().join("model.safetensors")).unwrap(),
        weights
    );

    // A file the command reads: the baseline of `eval`.
    let tmp = tempfile::tempdir().unwrap();
    let baseline = tmp.path().join("baseline.json");
    let (_, _) = succeeds(&[
        "eval",
        "-q",
        "--model",
        s(&f.lin()),
        "--corruptions",
        "gaussian_noise",
        "--severities",
        "1",
        "--out",
        s(&baseline),
    ]);
    let before = fs::read(&baseline).unwrap();
    fails_naming(
        &[
            "eval",
            "--model",
            s(&f.lin()),
            "--corruptions",
            "gaussian_noise",
            "--severities",
            "1",
            "--baseline",
            s(&baseline),
            "--out",
            s(&tmp.path().join(".").join("baseline.json")),
        ],
        &["baseline.json", "this command reads"],
    );
    assert_eq!(fs::read(&baseline).unwrap(), before);

    // A dataset folder: the run would become a class of it (or litter it).
    let data = tmp.path().join("data");
    common::banded_idx(&data, 32, 16);
    let spec = format!("idx:{}", data.display());
    let inside = data.join("run1");
    fails_naming(
        &[
            "pretrain",
            "--data",
            &spec,
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--model",
            "mlp",
            "--out",
            s(&inside),
        ],
        &["run1", "inside the dataset folder"],
    );
    assert!(!inside.exists(), "nothing created in the dataset");
    fails_naming(
        &[
            "embed",
            "--model",
            s(&f.pre()),
            "--data",
            &spec,
            "--out",
            s(&data.join("emb.npy")),
        ],
        &["emb.npy", "inside the dataset folder"],
    );
}

// ------------------------------------------------------ settings under which nothing is learned

#[test]
fn settings_under_which_no_anchor_has_a_positive_or_a_negative_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("b1");
    fails_naming(
        &pretrain_args(s(&one), &["--batch-size", "1"]),
        &["batch_size = 1", "no anchor can have a negative"],
    );
    assert!(!one.join("config.json").exists());
    let shots = tmp.path().join("shots");
    fails_naming(
        &pretrain_args(
            s(&shots),
            &[
                "--shots",
                "1",
                "--views",
                "1",
                "--batch-size",
                "10",
                "--limit",
                "10",
            ],
        ),
        &["views = 1", "no anchor can have a positive", "--views 2"],
    );
    // One view still has positives where a class has two images in a batch.
    succeeds(&pretrain_args(s(&tmp.path().join("v1")), &["--views", "1"]));
}

#[test]
fn settings_that_do_nothing_are_refused() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    for (extra, needle) in [
        (&["--milestones", "1"][..], "--milestones does nothing"),
        (
            &["--optimizer", "adamw", "--nesterov"][..],
            "--nesterov does nothing",
        ),
        (
            &["--optimizer", "adamw", "--momentum", "0.5"][..],
            "--momentum does nothing",
        ),
        (
            &["--method", "simclr", "--positives-cap", "2"][..],
            "--positives-cap does nothing",
        ),
    ] {
        fails_naming(&pretrain_args(s(&out), extra), &[needle]);
    }
    fails_naming(
        &[
            "linear",
            "--encoder",
            s(&f.pre()),
            "--out",
            s(&out),
            "--optimizer",
            "adamw",
            "--momentum",
            "0.5",
        ],
        &["--momentum does nothing"],
    );
    let mut ce = vec!["train-ce", "--out", s(&out), "--milestones", "1"];
    ce.extend(TINY);
    fails_naming(&ce, &["--milestones does nothing"]);
    assert!(!out.join("config.json").exists());
    // The same settings where they apply are accepted.
    succeeds(&pretrain_args(
        s(&tmp.path().join("ok")),
        &[
            "--schedule",
            "step",
            "--milestones",
            "0",
            "--nesterov",
            "--positives-cap",
            "2",
        ],
    ));
}

// ------------------------------------------------------------------ stale encoder

/// A copy of the fixture's pre-training run in `dir/pre` and a linear probe on it in
/// `dir/lin`.
fn probe_on_a_copy(dir: &Path) -> (PathBuf, PathBuf) {
    let pre = dir.join("pre");
    let lin = dir.join("lin");
    common::copy_dir(&fixture().pre(), &pre);
    succeeds(&[
        "linear",
        "-q",
        "--encoder",
        s(&pre),
        "--epochs",
        "1",
        "--out",
        s(&lin),
    ]);
    (pre, lin)
}

/// Pre-trains the encoder run `pre` again from scratch, with another seed.
fn retrain(pre: &Path) {
    fs::remove_dir_all(pre).unwrap();
    succeeds(&pretrain_args(s(pre), &["--seed", "5"]));
}

#[test]
fn every_use_of_a_probe_whose_encoder_was_retrained_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (pre, lin) = probe_on_a_copy(tmp.path());
    // Works before the encoder changes.
    succeeds(&["eval", "-q", "--model", s(&lin)]);
    retrain(&pre);
    let stale = [
        "encoder.json",
        "not the one this linear probe was trained on",
    ];
    let img = tmp.path().join("x.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * 9 + y * 3) as u8]))
        .save(&img)
        .unwrap();
    fails_naming(&["eval", "--model", s(&lin)], &stale);
    fails_naming(&["predict", "--model", s(&lin), s(&img)], &stale);
    fails_naming(
        &[
            "embed",
            "--model",
            s(&lin),
            "--out",
            s(&tmp.path().join("e.npy")),
        ],
        &stale,
    );
    fails_naming(
        &[
            "export",
            "--model",
            s(&lin),
            "--out",
            s(&tmp.path().join("exp")),
        ],
        &stale,
    );
    fails_naming(
        &[
            "finetune",
            "--encoder",
            s(&lin),
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--out",
            s(&tmp.path().join("ft")),
        ],
        &stale,
    );
    // `report` too, with its embeddings (and without: see the next test), writing nothing.
    let html = tmp.path().join("r.html");
    fails_naming(&["report", "-q", s(&lin), "--out", s(&html)], &stale);
    assert!(!html.exists());
}

/// `report --no-embeddings` loads no encoder for its plots, yet a probe whose encoder run
/// was retrained since is refused all the same, naming the probe's `encoder.json` and the
/// encoder run, and no page is written; the probe's own encoder still reports.
#[test]
fn report_refuses_a_probe_whose_encoder_was_retrained_without_embeddings_too() {
    let tmp = tempfile::tempdir().unwrap();
    let (pre, lin) = probe_on_a_copy(tmp.path());
    let html = tmp.path().join("r.html");
    succeeds(&[
        "report",
        "-q",
        "--no-embeddings",
        s(&lin),
        "--out",
        s(&html),
    ]);
    assert!(html.is_file());
    fs::remove_file(&html).unwrap();
    // The encoder run retrained: the probe no longer fits it.
    retrain(&pre);
    let encoder_json = lin.join("encoder.json");
    let needles = [
        s(&encoder_json),
        s(&pre),
        "not the one this linear probe was trained on",
    ];
    for extra in [&["--no-embeddings"][..], &[]] {
        let mut args = vec!["report", "-q"];
        args.extend_from_slice(extra);
        args.extend([s(&lin), "--out", s(&html)]);
        fails_naming(&args, &needles);
        assert!(!html.exists(), "{args:?} wrote {}", html.display());
    }
    // Named beside its (retrained) encoder run, the probe is still refused; the encoder
    // run alone reports.
    fails_naming(
        &[
            "report",
            "-q",
            "--no-embeddings",
            s(&pre),
            s(&lin),
            "--out",
            s(&html),
        ],
        &needles,
    );
    assert!(!html.exists());
    succeeds(&[
        "report",
        "-q",
        "--no-embeddings",
        s(&pre),
        "--out",
        s(&html),
    ]);
    assert!(html.is_file());
}

// ------------------------------------------------------------------ report

#[test]
fn report_warns_about_malformed_lines_and_keeps_the_good_ones() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("pre");
    common::copy_dir(&f.pre(), &run);
    let path = run.join("metrics.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let good = lines.len();
    lines.insert(1, "this is not json");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    fs::write(run.join("eval.json"), "{\"run\": ").unwrap();
    let out = tmp.path().join("r.html");
    let (stdout, err) = succeeds(&["report", "-q", "--no-embeddings", s(&run), "--out", s(&out)]);
    assert!(
        err.contains(&format!("{} line 2:", path.display())),
        "{err}"
    );
    assert!(err.contains("eval.json"), "{err}");
    assert!(good >= 2);
    assert!(
        stdout.contains("curves"),
        "the good lines still draw curves: {stdout}"
    );
}

// ------------------------------------------------------------------ hangs and signals

#[test]
fn predict_refuses_a_fifo_and_a_link_to_a_device_at_once() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pipe.png");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let zero = tmp.path().join("zero.png");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (file, what) in [(&fifo, "a FIFO"), (&zero, "a character device")] {
        let started = Instant::now();
        fails_naming(
            &["predict", "--model", s(&f.lin()), s(file)],
            &[s(file), "not a regular file", what],
        );
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}

#[test]
fn sigterm_gives_143_in_a_command_without_checkpoints_too() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    // Few-shot probes of a million epochs: an evaluation that runs until the signal.
    let mut child = Command::new(BIN)
        .args([
            "eval",
            "-q",
            "--model",
            s(&f.lin()),
            "--few-shot",
            "1",
            "--few-shot-epochs",
            "1000000",
            "--out",
            s(&tmp.path().join("e.json")),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "still evaluating");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status.code(), Some(143), "{status:?}");
}

// ------------------------------------------------------------------ leftovers

#[test]
fn export_records_an_absolute_source_and_a_finished_probe_is_not_resumed() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let lin = tmp.path().join("lin");
    common::copy_dir(&f.lin(), &lin);
    let out = supcon_in(
        Some(tmp.path()),
        &["export", "--model", "lin", "--out", "exp"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("exp/classifier.json")).unwrap())
            .unwrap();
    assert_eq!(
        spec["source"]["run"].as_str().unwrap(),
        lin.canonicalize().unwrap().to_str().unwrap()
    );
    fails_naming(
        &["linear", "--resume", s(&lin)],
        &["report.json", "already finished"],
    );
}

// ------------------------------------------------------------------ unclear messages

#[test]
fn an_unfinished_run_says_where_it_stopped_and_how_to_continue() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let pre = tmp.path().join("pre");
    common::copy_dir(&f.pre(), &pre);
    // What a run stopped by Ctrl-C before its end holds: no final weights, no report.
    fs::remove_file(pre.join("model.safetensors")).unwrap();
    fs::remove_file(pre.join("report.json")).unwrap();
    let resume = format!("supcon pretrain --resume {}", pre.display());
    let needles = [
        "the run is unfinished",
        "model.safetensors",
        resume.as_str(),
    ];
    fails_naming(
        &[
            "linear",
            "--encoder",
            s(&pre),
            "--out",
            s(&tmp.path().join("l")),
        ],
        &needles,
    );
    fails_naming(
        &[
            "embed",
            "--model",
            s(&pre),
            "--out",
            s(&tmp.path().join("e.npy")),
        ],
        &needles,
    );

    let lin = tmp.path().join("lin");
    common::copy_dir(&f.lin(), &lin);
    fs::remove_file(lin.join("classifier.safetensors")).unwrap();
    fs::remove_file(lin.join("report.json")).unwrap();
    let resume = format!("supcon linear --resume {}", lin.display());
    let needles = [
        "the run is unfinished",
        "classifier.safetensors",
        resume.as_str(),
    ];
    fails_naming(&["eval", "--model", s(&lin)], &needles);
    fails_naming(
        &[
            "export",
            "--model",
            s(&lin),
            "--out",
            s(&tmp.path().join("x")),
        ],
        &needles,
    );
}

#[test]
fn run_and_sweep_take_the_mlp_input_size_from_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut a = vec!["run", "-q", "--out", s(&run), "--linear-epochs", "1"];
    a.extend(TINY);
    succeeds(&a);
    assert!(run.join("summary.json").is_file());
    let sweep = tmp.path().join("sweep");
    let mut a = vec![
        "sweep",
        "-q",
        "--out",
        s(&sweep),
        "--methods",
        "supcon",
        "--grid",
        "lr=0.1",
        "--linear-epochs",
        "1",
    ];
    a.extend(TINY);
    succeeds(&a);
    assert!(sweep.join("sweep.json").is_file());
}

#[test]
fn a_bad_baseline_is_refused_before_the_corruption_run() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain.json");
    succeeds(&["eval", "-q", "--model", s(&f.lin()), "--out", s(&plain)]);
    let started = Instant::now();
    let err = fails_naming(
        &[
            "eval",
            "--model",
            s(&f.lin()),
            "--corruptions",
            "all",
            "--baseline",
            s(&plain),
            "--out",
            s(&tmp.path().join("o.json")),
        ],
        &["plain.json", "no corruption results"],
    );
    assert!(
        !err.contains("evaluating"),
        "no work before the check:\n{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn negative_counts_are_named_as_negative() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x");
    for (flag, value) in [("--epochs", "-3"), ("--limit", "-1"), ("--seed", "-1")] {
        let out = supcon(&["pretrain", "--out", s(&out), flag, value]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(flag), "{err}");
        assert!(
            err.contains(&format!(
                "{value} is negative; expected a whole number >= 0"
            )),
            "{err}"
        );
        assert!(!err.contains("invalid digit"), "{err}");
    }
}

#[test]
fn class_folders_that_look_alike_after_lossy_utf8_are_named() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    for name in [&b"a\xff"[..], &b"a\xfe"[..], &b"b"[..]] {
        let d = tmp.path().join(std::ffi::OsStr::from_bytes(name));
        fs::create_dir_all(&d).unwrap();
        for i in 0..4u8 {
            image::GrayImage::from_fn(8, 8, |x, _| image::Luma([x as u8 * 20 + i]))
                .save(d.join(format!("{i}.png")))
                .unwrap();
        }
    }
    let spec = format!("folder:{}?split=0.5", tmp.path().display());
    let err = fails_naming(
        &["data", "--data", &spec],
        &["both read as class", "rename one"],
    );
    assert!(!err.contains("skip_bad"), "{err}");
}

#[test]
fn a_file_size_limit_gives_the_efbig_error_not_a_silent_death() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // No `trap '' XFSZ`: the shell passes SIGXFSZ's default action (terminate) on.
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 8; exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(pretrain_args(s(&out), &[]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{:?}: {err}", o.status);
    assert!(err.contains("File too large"), "{err}");
    no_panic(&["pretrain"], &err);
}

// ------------------------------------------------------------------ edges (issue 24)

fn gray_png(path: &Path, seed: u32) {
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * 9 + y * 3 + seed) as u8]))
        .save(path)
        .unwrap();
}

#[test]
fn linear_takes_an_exports_encoder_and_its_probe_is_used_like_any_other() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    // An export records no data: the probe asks for it, saying what an export is.
    let refused = tmp.path().join("no-data");
    fails_naming(
        &["linear", "--encoder", s(&f.export()), "--out", s(&refused)],
        &[
            s(&f.export()),
            "an export (supcon export) records no training data",
            "--data SPEC",
        ],
    );
    assert!(!refused.exists());
    // On the data of the fixture's probe, the export's encoder (the pre-training run's,
    // exported) gives that probe bit for bit.
    let (export, lin) = (f.export(), tmp.path().join("lin"));
    let mut args = vec!["linear", "-q", "--encoder", s(&export), "--out", s(&lin)];
    args.extend_from_slice(&TINY[..8]); // --data, --limit, --test-limit, --epochs
    succeeds(&args);
    assert_eq!(
        common::safetensors(&lin.join("classifier.safetensors")),
        common::safetensors(&f.lin().join("classifier.safetensors"))
    );
    let recorded = |dir: &Path| -> serde_json::Value {
        serde_json::from_str(&fs::read_to_string(dir.join("encoder.json")).unwrap()).unwrap()
    };
    assert_eq!(recorded(&lin)["encoder_run"], s(&f.export()));
    assert_eq!(
        recorded(&lin)["fingerprint"],
        recorded(&f.lin())["fingerprint"]
    );
    // Every use of a probe takes it.
    let (ours, _) = succeeds(&["eval", "-q", "--model", s(&lin)]);
    let (theirs, _) = succeeds(&["eval", "-q", "--model", s(&f.lin())]);
    // The clean top-1/top-5/ECE/MCE/NLL line.
    let clean = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("clean"))
            .map(str::to_string)
    };
    assert!(
        clean(&ours).is_some() && clean(&ours) == clean(&theirs),
        "{ours}\n{theirs}"
    );
    let img = tmp.path().join("x.png");
    gray_png(&img, 0);
    succeeds(&["predict", "--model", s(&lin), s(&img)]);
    let out = |name: &str| tmp.path().join(name);
    for (command, name) in [("embed", "e.npy"), ("export", "exp")] {
        succeeds(&[command, "--model", s(&lin), "--out", s(&out(name))]);
    }
    // The export holds no projection head: it is named.
    let projection = ["embed", "--layer", "projection", "--model", s(&lin)];
    let p = out("p.npy");
    let projection = [&projection[..], &["--out", s(&p)]].concat();
    let why = [
        "comes from the export",
        "no projection head",
        "--layer encoder",
    ];
    fails_naming(&projection, &why);
}

#[test]
fn a_truncated_jpeg_is_refused_by_predict_naming_the_file() {
    let f = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let photo = tmp.path().join("photo.jpg");
    common::textured(128).save(&photo).unwrap();
    let bytes = fs::read(&photo).unwrap();
    let half = tmp.path().join("t.jpg");
    fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    // The decoder alone accepts it: the grey missing half would be classified.
    assert!(image::load_from_memory(&bytes[..bytes.len() / 2]).is_ok());
    succeeds(&["predict", "--model", s(&f.lin()), s(&photo)]);
    fails_naming(
        &["predict", "--model", s(&f.lin()), s(&half)],
        &[s(&half), "truncated JPEG file", "end-of-image marker"],
    );
}

/// A 2-class folder of 28x28 grayscale images, `n` per class.
fn class_folder(root: &Path, class: &str, n: u32) {
    let dir = root.join(class);
    fs::create_dir_all(&dir).unwrap();
    let seed = u32::from(class.as_bytes()[0]) * 7;
    for i in 0..n {
        gray_png(&dir.join(format!("{i:03}.png")), seed + i * 13);
    }
}

#[test]
fn data_changed_since_training_is_named_and_refused_where_a_classifier_would_be_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name);
    let data = t("data");
    class_folder(&data, "a", 12);
    class_folder(&data, "b", 12);
    let spec = format!("folder:{}?size=28&gray=true", data.display());
    let (pre, lin) = (t("pre"), t("lin"));
    succeeds(&pretrain_args(
        s(&pre),
        &["--data", &spec, "--batch-size", "8"],
    ));
    // A stage on the pre-training run's encoder and data.
    let stage = |command: &str, out: &Path| -> Vec<String> {
        let args = [command, "-q", "--encoder", s(&pre), "--epochs", "1"];
        let args = [&args[..], &["--batch-size", "8", "--out", s(out)]].concat();
        args.into_iter().map(String::from).collect()
    };
    let probe = |out: &Path| stage("linear", out);
    let probe_args = probe(&lin);
    succeeds(&probe_args.iter().map(String::as_str).collect::<Vec<_>>());
    let (_, err) = succeeds(&["eval", "-q", "--model", s(&lin)]);
    assert!(!err.contains("has changed"), "unchanged data: {err}");

    // More images in a class: every use of the run's data says what changed.
    for i in 0..4 {
        gray_png(&data.join("a").join(format!("new{i}.png")), 200 + i);
    }
    let changed = [
        "warning: the data folder:",
        "has changed since",
        "data.json recorded it",
        "training images: 20 recorded, 23 now",
        "normalisation: mean",
    ];
    let uses: Vec<Vec<String>> = vec![
        vec!["eval".into(), "-q".into(), "--model".into(), s(&lin).into()],
        vec!["predict".into(), "--model".into(), s(&lin).into()],
        vec![
            "embed".into(),
            "--model".into(),
            s(&pre).into(),
            "--out".into(),
            s(&t("e.npy")).into(),
        ],
        probe(&t("lin2")),
        stage("finetune", &t("ft")),
        vec![
            "report".into(),
            "-q".into(),
            s(&lin).into(),
            "--out".into(),
            s(&t("r.html")).into(),
        ],
    ];
    for args in &uses {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, err) = succeeds(&args);
        for needle in changed {
            assert!(
                err.contains(needle),
                "supcon {args:?}: {needle:?} not in:\n{err}"
            );
        }
    }

    // Another class: where the run's classifier answers, refused; a new model trains.
    class_folder(&data, "c", 6);
    let classes = [
        "lin/data.json",
        "has changed since the run was trained",
        "classes: 2 recorded (a, b), 3 now (a, b, c)",
    ];
    fails_naming(&["eval", "--model", s(&lin)], &classes);
    fails_naming(&["predict", "--model", s(&lin)], &classes);
    let (_, err) = succeeds(
        &probe(&t("lin3"))
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        err.contains("classes: 2 recorded (a, b), 3 now (a, b, c)")
            && err.contains("it is used as it is now"),
        "{err}"
    );
}
