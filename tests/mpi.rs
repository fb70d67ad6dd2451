//! Training across processes over MPI (`--features mpi`), with the real `mpirun`:
//! 2 and 3 ranks (uneven shards) train the same weights as one process on the same global
//! batch (also with `--chunk`, `--joint`, a memory bank and a momentum encoder); an `mpirun -np 2` run is one complete run that `linear`, `eval` and `report`
//! accept; a resumed run continues on every rank; settings that differ across ranks, a
//! rank that cannot read its data and a killed rank end the job with an error naming the
//! rank.
//!
//! Every test is skipped, with a note, when `mpirun` is not on PATH. Without the feature,
//! `--distributed mpi` says how to build it.

mod common;

#[cfg(not(feature = "mpi"))]
#[test]
fn without_the_feature_distributed_mpi_says_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::supcon(&[
        "pretrain",
        "--distributed",
        "mpi",
        "--out",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features mpi"), "{err}");
    assert!(!dir.path().join("r").exists());
}

#[cfg(feature = "mpi")]
mod with_mpi {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    use super::common::{self, BIN, ok, records, safetensors, step_losses};

    /// `mpirun`, or `None` (with a note) when it is not installed.
    fn mpirun() -> Option<PathBuf> {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("mpirun"))
                .find(|p| p.is_file())
        });
        if found.is_none() {
            eprintln!("note: mpirun is not on PATH; MPI test skipped (install openmpi-bin)");
        }
        found
    }

    /// `mpirun` with the settings every test needs: oversubscription (more ranks than
    /// cores), root allowed (CI containers), no core binding.
    fn launcher(mpirun: &Path) -> Command {
        let mut c = Command::new(mpirun);
        c.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .args(["--oversubscribe", "--bind-to", "none"]);
        c
    }

    /// `mpirun -np ranks supcon args...`.
    fn mpi(mpirun: &Path, ranks: usize, args: &[&str]) -> Output {
        launcher(mpirun)
            .args(["-np", &ranks.to_string(), BIN])
            .args(args)
            .output()
            .expect("mpirun runs")
    }

    fn mpi_ok(mpirun: &Path, ranks: usize, args: &[&str]) -> String {
        let out = mpi(mpirun, ranks, args);
        assert!(
            out.status.success(),
            "mpirun -np {ranks} supcon {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    /// Asserts that every tensor of the weight files `name` of runs `a` and `b` agrees to
    /// 1e-5 (relative to the value's size when it is larger than 1).
    fn same_weights(a: &Path, b: &Path, name: &str) {
        let (wa, wb) = (safetensors(&a.join(name)), safetensors(&b.join(name)));
        assert_eq!(
            wa.keys().collect::<Vec<_>>(),
            wb.keys().collect::<Vec<_>>(),
            "{name}"
        );
        let mut compared = 0;
        for (key, va) in &wa {
            let (x, y) = (f32s(va), f32s(&wb[key]));
            assert_eq!(x.len(), y.len(), "{name} {key}");
            for (i, (p, q)) in x.iter().zip(&y).enumerate() {
                assert!(
                    (p - q).abs() <= 1e-5 * p.abs().max(1.0),
                    "{name} {key}[{i}]: {p} (in {}) vs {q} (in {})",
                    a.display(),
                    b.display()
                );
            }
            compared += x.len();
        }
        assert!(compared > 300, "{name}: only {compared} values compared");
    }

    /// Asserts that two runs logged the same steps with the same losses. The weights of
    /// such runs are compared bit for bit; the logged loss values only to 1e-12: the tiled
    /// loss adds its rows' terms in a rayon `sum`, whose association order follows the
    /// work stealing (seen once in 160 steps: 3.3615394770309615 vs 3.361539477030961).
    fn same_losses(a: &Path, b: &Path) {
        let (la, lb) = (step_losses(a), step_losses(b));
        assert!(!la.is_empty());
        assert_eq!(
            la.iter().map(|s| s.0).collect::<Vec<_>>(),
            lb.iter().map(|s| s.0).collect::<Vec<_>>()
        );
        for ((step, x), (_, y)) in la.iter().zip(&lb) {
            assert!((x - y).abs() <= 1e-12 * x.abs(), "step {step}: {x} vs {y}");
        }
    }

    /// The MLP encoder without BatchNorm: every sample's embedding is independent of the
    /// others, so any split of the global batch equals one device's step.
    fn mlp_config(dir: &Path) -> PathBuf {
        let path = dir.join("mlp.toml");
        fs::write(
            &path,
            "[model.encoder]\nname = \"mlp\"\nmlp_hidden_dims = [64, 32]\nmlp_batch_norm = false\n",
        )
        .unwrap();
        path
    }

    /// The flags of the short runs compared: 48 images, batches of 10 (4 steps; 10 samples
    /// split 5/5 over 2 ranks and 4/3/3 over 3).
    fn short_run(out: &Path, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "pretrain",
            "-q",
            "--data",
            "builtin",
            "--limit",
            "48",
            "--epochs",
            "1",
            "--batch-size",
            "10",
            "--seed",
            "3",
            "--out",
            s(out),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    }

    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    /// Trains `extra` over 2 and 3 ranks and compares each with the one-process run on the
    /// same global batch: `reference(ranks)` gives its extra flags.
    fn ranks_equal_one_process(
        name: &str,
        extra: &[&str],
        reference: impl Fn(usize) -> Vec<String>,
    ) {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let config = mlp_config(dir.path());
        let extra: Vec<&str> = extra
            .iter()
            .map(|a| if *a == "MLP" { s(&config) } else { a })
            .collect();
        for ranks in [2, 3] {
            let one = dir.path().join(format!("{name}-one-{ranks}"));
            let mut flags: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
            flags.extend(reference(ranks));
            ok(&strs(&short_run(&one, &strs(&flags))));
            let many = dir.path().join(format!("{name}-mpi-{ranks}"));
            let mut flags: Vec<&str> = extra.clone();
            flags.extend(["--distributed", "mpi"]);
            let stdout = mpi_ok(&mpirun, ranks, &strs(&short_run(&many, &flags)));
            // Rank 0 alone prints the report.
            assert_eq!(stdout.lines().count(), 1, "{stdout}");
            same_weights(&one, &many, "model.safetensors");
            if extra.contains(&"--joint") {
                same_weights(&one, &many, "classifier.safetensors");
            }
            let (la, lb) = (step_losses(&one), step_losses(&many));
            assert_eq!(la.len(), 4);
            assert_eq!(la.len(), lb.len());
            for ((sa, a), (sb, b)) in la.iter().zip(&lb) {
                assert_eq!(sa, sb);
                assert!(
                    (a - b).abs() <= 1e-5,
                    "{name}, {ranks} ranks, step {sa}: {a} vs {b}"
                );
            }
            let config: serde_json::Value =
                serde_json::from_slice(&fs::read(many.join("config.json")).unwrap()).unwrap();
            assert_eq!(config["mpi_ranks"], ranks);
        }
    }

    /// Without BatchNorm, 2 and 3 ranks equal one process on one device (tiled loss).
    #[test]
    fn ranks_without_batchnorm_equal_one_device() {
        ranks_equal_one_process("mlp", &["--config", "MLP"], |_| {
            vec!["--loss-impl".into(), "tiled".into()]
        });
    }

    /// With a memory bank filled by a momentum encoder: each rank's key encoder embeds its
    /// shard, and the keys of every rank are queued.
    #[test]
    fn ranks_with_a_momentum_encoder_equal_one_device() {
        ranks_equal_one_process(
            "mlp-moco",
            &[
                "--config",
                "MLP",
                "--memory-bank",
                "16",
                "--momentum-encoder",
                "0.9",
            ],
            |_| vec!["--loss-impl".into(), "tiled".into()],
        );
    }

    /// The same with gradient caching (`--chunk`) and the joint classifier.
    #[test]
    fn ranks_with_chunk_and_joint_equal_one_device() {
        ranks_equal_one_process(
            "mlp-chunk-joint",
            &["--config", "MLP", "--chunk", "3", "--joint"],
            |_| vec!["--loss-impl".into(), "tiled".into()],
        );
    }

    /// With BatchNorm (resnet-tiny), each rank normalises its own shard: N ranks equal one
    /// process over N in-process devices (the same shards), with and without `--chunk`
    /// and the joint classifier.
    #[test]
    fn ranks_with_batchnorm_equal_as_many_in_process_devices() {
        let devices = |ranks: usize| vec!["--devices".to_string(), vec!["cpu"; ranks].join(",")];
        ranks_equal_one_process("resnet", &[], devices);
        ranks_equal_one_process("resnet-chunk-joint", &["--chunk", "4", "--joint"], devices);
        // With a memory bank every rank queues the global batch: the banks stay equal.
        ranks_equal_one_process("resnet-bank", &["--memory-bank", "16"], devices);
    }

    /// Each rank may split its shard again over several devices (`--devices`; threads
    /// acting as devices here): 2 ranks of 2 devices equal one device without BatchNorm,
    /// and, with BatchNorm and a batch of 12 (shards 3/3/3/3 either way), one process over
    /// 4 in-process devices.
    #[test]
    fn ranks_with_several_devices_each_equal_one_process() {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let config = mlp_config(dir.path());
        let cases: [(&str, &str, Vec<&str>, Vec<&str>); 2] = [
            (
                "mlp",
                "10",
                vec!["--config", s(&config)],
                vec!["--loss-impl", "tiled"],
            ),
            ("resnet", "12", vec![], vec!["--devices", "cpu,cpu,cpu,cpu"]),
        ];
        for (name, batch, extra, reference) in cases {
            let run = |out: &Path, flags: &[&str]| {
                let mut a = short_run(out, flags);
                a[9] = batch.into(); // --batch-size
                a
            };
            let one = dir.path().join(format!("{name}-one"));
            let mut flags = extra.clone();
            flags.extend(&reference);
            ok(&strs(&run(&one, &flags)));
            let many = dir.path().join(format!("{name}-mpi"));
            let mut flags = extra.clone();
            flags.extend(["--distributed", "mpi", "--devices", "cpu,cpu"]);
            mpi_ok(&mpirun, 2, &strs(&run(&many, &flags)));
            same_weights(&one, &many, "model.safetensors");
        }
    }

    /// `--distributed mpi` needs `--out` (every rank must name the same directory).
    #[test]
    fn distributed_mpi_needs_an_out_dir() {
        let Some(mpirun) = mpirun() else { return };
        let out = mpi(&mpirun, 1, &["pretrain", "--distributed", "mpi"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("needs --out DIR"),
            "{err}"
        );
    }

    /// `mpirun -np 2 ... --limit 512 --epochs 1 --batch-size 64` writes exactly one complete
    /// run, which `linear`, `eval` and `report` accept.
    #[test]
    fn two_ranks_write_one_complete_run() {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("pre");
        let stdout = mpi_ok(
            &mpirun,
            2,
            &[
                "pretrain",
                "-q",
                "--distributed",
                "mpi",
                "--data",
                "builtin",
                "--limit",
                "512",
                "--epochs",
                "1",
                "--batch-size",
                "64",
                "--out",
                s(&run),
            ],
        );
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(report["epochs"], 1);
        // One run directory, with everything a run has.
        let entries: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        for file in [
            "config.json",
            "manifest.json",
            "data.json",
            "metrics.jsonl",
            "model.safetensors",
            "report.json",
            "checkpoints/epoch-0001/state.json",
        ] {
            assert!(run.join(file).is_file(), "{file} missing");
        }
        // Every step logged once (512 / 64 = 8 steps), then the epoch.
        let recs = records(&run);
        let steps: Vec<u64> = recs
            .iter()
            .filter_map(|r| r.get("step")?.as_u64())
            .collect();
        assert_eq!(steps, (1..=8).collect::<Vec<_>>());
        assert_eq!(
            recs.iter()
                .filter(|r| r.get("epoch_loss").is_some())
                .count(),
            1
        );
        let lin = dir.path().join("lin");
        ok(&[
            "linear",
            "-q",
            "--encoder",
            s(&run),
            "--epochs",
            "1",
            "--out",
            s(&lin),
        ]);
        ok(&["eval", "-q", "--model", s(&lin)]);
        ok(&[
            "report",
            "--no-embeddings",
            s(&run),
            "--out",
            s(&dir.path().join("r.html")),
        ]);
    }

    /// A run cut off after its first epoch's checkpoint, resumed under `mpirun`, ends with
    /// the weights of an uninterrupted run; another number of ranks, or no `mpirun`, is
    /// refused naming the command that resumes it.
    #[test]
    fn resume_under_mpirun_continues_the_run() {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let args = |out: &Path| {
            let mut a = short_run(out, &["--distributed", "mpi"]);
            a[7] = "2".into(); // --epochs 2
            a
        };
        let whole = dir.path().join("whole");
        mpi_ok(&mpirun, 2, &strs(&args(&whole)));
        let cut = dir.path().join("cut");
        mpi_ok(&mpirun, 2, &strs(&args(&cut)));
        // What a crash after the first checkpoint leaves.
        for f in ["report.json", "model.safetensors"] {
            fs::remove_file(cut.join(f)).unwrap();
        }
        fs::remove_dir_all(cut.join("checkpoints/epoch-0002")).unwrap();
        let out = mpi(
            &mpirun,
            3,
            &["pretrain", "--distributed", "mpi", "--resume", s(&cut)],
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("mpirun -np 2 supcon pretrain --distributed mpi --resume"),
            "{err}"
        );
        let out = common::supcon(&["pretrain", "--resume", s(&cut)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("mpirun -np 2"),
            "{err}"
        );
        mpi_ok(
            &mpirun,
            2,
            &[
                "pretrain",
                "-q",
                "--distributed",
                "mpi",
                "--resume",
                s(&cut),
            ],
        );
        assert_eq!(
            safetensors(&whole.join("model.safetensors")),
            safetensors(&cut.join("model.safetensors"))
        );
        same_losses(&whole, &cut);
    }

    /// The pid of the rank `rank` process whose command line holds `marker`, once it runs.
    fn rank_pid(rank: usize, marker: &str) -> Option<u32> {
        let want = format!("OMPI_COMM_WORLD_RANK={rank}");
        fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            let environ = fs::read(e.path().join("environ")).ok()?;
            let has = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
            (has(&cmdline, marker.as_bytes()) && has(&environ, want.as_bytes())).then_some(pid)
        })
    }

    /// A rank killed mid-run (SIGKILL, after the first checkpoint) ends the whole job
    /// non-zero with a message naming the rank; no checkpoint is left half-written, and
    /// `--resume` under `mpirun` ends with the weights of an uninterrupted run.
    #[test]
    fn a_killed_rank_ends_the_job_and_the_run_resumes() {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let args = |out: &Path| {
            let mut a = short_run(out, &["--distributed", "mpi"]);
            a[5] = "128".into(); // --limit: 4 steps of 32 per epoch
            a[7] = "40".into(); // --epochs
            a[9] = "32".into(); // --batch-size
            a
        };
        let whole = dir.path().join("whole");
        mpi_ok(&mpirun, 2, &strs(&args(&whole)));
        let killed = dir.path().join("killed");
        let mut job = launcher(&mpirun)
            .args(["-np", "2", BIN])
            .args(args(&killed))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the first complete checkpoint, then kill rank 1.
        let first = killed.join("checkpoints/epoch-0001/state.json");
        let mut pid = None;
        while pid.is_none() {
            assert!(
                job.try_wait().unwrap().is_none(),
                "the job ended before the kill"
            );
            if first.is_file() {
                pid = rank_pid(1, s(&killed));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pid = pid.unwrap();
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        // MPI ends the job: wait_with_output returns once every rank is gone.
        let out = job.wait_with_output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("rank 1") && err.contains("signal 9"), "{err}");
        assert!(
            !killed.join("report.json").exists(),
            "the run finished before the kill"
        );
        mpi_ok(
            &mpirun,
            2,
            &[
                "pretrain",
                "-q",
                "--distributed",
                "mpi",
                "--resume",
                s(&killed),
            ],
        );
        assert_eq!(
            safetensors(&whole.join("model.safetensors")),
            safetensors(&killed.join("model.safetensors"))
        );
        same_losses(&whole, &killed);
    }

    /// SIGTERM to rank 1 alone: the ranks agree on the stop in the step's collectives, so
    /// both stop after the same step, rank 0 writes the checkpoint, every rank exits with
    /// 143, and `--resume` ends with the weights of an uninterrupted run.
    #[test]
    fn a_stop_request_to_one_rank_stops_every_rank_at_one_checkpoint() {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let args = |out: &Path| {
            let mut a = short_run(out, &["--distributed", "mpi"]);
            a[5] = "128".into(); // --limit: 4 steps of 32 per epoch
            a[7] = "40".into(); // --epochs
            a[9] = "32".into(); // --batch-size
            a
        };
        let whole = dir.path().join("whole");
        mpi_ok(&mpirun, 2, &strs(&args(&whole)));
        let stopped = dir.path().join("stopped");
        let mut job = launcher(&mpirun)
            .args(["-np", "2", BIN])
            .args(args(&stopped))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let first = stopped.join("checkpoints/epoch-0001/state.json");
        let mut pid = None;
        while pid.is_none() {
            assert!(
                job.try_wait().unwrap().is_none(),
                "the job ended before the stop"
            );
            if first.is_file() {
                pid = rank_pid(1, s(&stopped));
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let status = Command::new("kill")
            .args(["-TERM", &pid.unwrap().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = job.wait_with_output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        // Both ranks stopped at the same step, with the checkpoint rank 0 wrote.
        let stops: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("interrupted in epoch"))
            .collect();
        assert_eq!(stops.len(), 2, "{err}");
        assert_eq!(stops[0], stops[1], "{err}");
        assert!(stops[0].contains("-batch-"), "{err}");
        assert!(
            !stopped.join("report.json").exists(),
            "the run finished before the stop"
        );
        mpi_ok(
            &mpirun,
            2,
            &[
                "pretrain",
                "-q",
                "--distributed",
                "mpi",
                "--resume",
                s(&stopped),
            ],
        );
        assert_eq!(
            safetensors(&whole.join("model.safetensors")),
            safetensors(&stopped.join("model.safetensors"))
        );
        same_losses(&whole, &stopped);
    }

    /// Ranks started with different settings all fail, naming the rank; nothing is written.
    #[test]
    fn ranks_with_different_settings_fail_naming_the_rank() {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("r");
        let rank = |seed: &str| {
            let mut a = short_run(&run, &["--distributed", "mpi"]);
            a[11] = seed.into(); // --seed
            a
        };
        let out = launcher(&mpirun)
            .args(["-np", "1", BIN])
            .args(rank("3"))
            .args([":", "-np", "1", BIN])
            .args(rank("4"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("rank 1 of 2 has another configuration than rank 0"),
            "{err}"
        );
        // Both ranks say so.
        assert_eq!(err.matches("has another configuration").count(), 2, "{err}");
        assert!(!run.exists());
    }

    /// A rank that cannot read its data (the data path is relative and rank 1 starts in
    /// another folder) ends the whole job, non-zero, with an error naming the rank.
    #[test]
    fn a_rank_that_cannot_read_its_data_ends_the_job() {
        let Some(mpirun) = mpirun() else { return };
        let dir = tempfile::tempdir().unwrap();
        let (good, bad) = (dir.path().join("good"), dir.path().join("bad"));
        common::banded_idx(&good.join("data"), 40, 8);
        fs::create_dir_all(&bad).unwrap();
        let run = dir.path().join("r");
        let mut args = short_run(&run, &["--distributed", "mpi"]);
        args[3] = "idx:data".into(); // --data
        args[5] = "40".into(); // --limit
        let out = launcher(&mpirun)
            .args(["-np", "1", "-wdir", s(&good), BIN])
            .args(&args)
            .args([":", "-np", "1", "-wdir", s(&bad), BIN])
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("rank 1 of 2: error:"), "{err}");
        assert!(err.contains("data"), "{err}");
        // Rank 0 waited for every rank's data before creating the run directory.
        assert!(!run.exists());
    }
}
