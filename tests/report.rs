//! `supcon report` end to end with the real binary: a `supcon run` output plus its
//! `eval.json` and a small sweep give a self-contained HTML page with every section and
//! plot (inline SVG, nothing external), and bad directories fail naming the path.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod common;
use common::{ok, supcon};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A `supcon run` output evaluated with two corruptions (RUN/eval.json), and a one-point
/// CE sweep, built once for the file.
fn fixture() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let suite = root.join("suite");
        ok(&[
            "run",
            "--data",
            "builtin",
            "--limit",
            "200",
            "--test-limit",
            "100",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--linear-epochs",
            "5",
            "--out",
            s(&suite),
            "-q",
        ]);
        ok(&[
            "eval",
            "--model",
            s(&suite),
            "--corruptions",
            "fog,brightness",
            "--severities",
            "1,3",
            "--knn",
            "-q",
        ]);
        let sweep = root.join("sweep");
        ok(&[
            "sweep",
            "--data",
            "builtin",
            "--limit",
            "100",
            "--test-limit",
            "50",
            "--grid",
            "lr=0.05,0.1",
            "--methods",
            "ce",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--out",
            s(&sweep),
            "-q",
        ]);
        (suite, sweep)
    })
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

#[test]
fn report_has_every_section_and_plot_inline() {
    let (suite, sweep) = fixture();
    assert!(suite.join("eval.json").is_file());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sub").join("report.html");
    let stdout = ok(&["report", s(suite), s(sweep), "--out", s(&out), "-q"]);
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));

    for id in [
        "runs",
        "accuracy",
        "curves",
        "reliability",
        "corruptions",
        "confusion",
        "embeddings",
        "sweep",
    ] {
        assert_eq!(
            count(&html, &format!("<section id=\"{id}\">")),
            1,
            "section {id}"
        );
        assert!(
            html.contains(&format!("href=\"#{id}\"")),
            "nav link to {id}"
        );
    }
    // Every plot is a figure holding one inline SVG with text in it.
    let figures = count(&html, "<figure class=\"plot\"");
    assert_eq!(count(&html, "<svg"), figures);
    assert_eq!(count(&html, "</svg>"), figures);
    assert!(stdout.contains(&format!("{figures} plots")), "{stdout}");
    for id in [
        "loss-suite-supcon",
        "lr-suite-supcon",
        "loss-suite-linear",
        "loss-suite-ce",
        "lr-suite-ce",
        "reliability-suite-linear",
        "reliability-suite-ce",
        "corruption-mean",
        "corruptions-suite-linear",
        "corruptions-suite-ce",
        "pca-suite-supcon",
        "pca-suite-ce",
        "sweep-",
    ] {
        let at = html
            .find(&format!("<figure class=\"plot\" id=\"{id}"))
            .unwrap_or_else(|| panic!("no plot {id}"));
        let fig = &html[at..at + html[at..].find("</figure>").unwrap()];
        assert!(
            fig.contains("<svg") && fig.contains("<text"),
            "plot {id} has no SVG text"
        );
    }
    // The linear probe's encoder is the pre-training run's: one PCA for both.
    assert_eq!(count(&html, "id=\"pca-"), 2);
    assert_eq!(figures, 13);
    // Tables: accuracy across runs with eval results, corruption and confusion tables.
    for text in [
        "k-NN top-1",
        "relative mCE",
        "fog",
        "brightness",
        "true \\ predicted",
        "eval.json",
    ] {
        assert!(html.contains(text), "missing {text}");
    }
    // Self-contained: no script, stylesheet link or remote resource.
    for bad in ["<script", "<link", "src=\"http", "<img"] {
        assert!(!html.contains(bad), "found {bad}");
    }
}

#[test]
fn report_without_embeddings_or_evaluations_still_renders() {
    let (suite, _) = fixture();
    let tmp = tempfile::tempdir().unwrap();
    // A lone pre-training run: curves and PCA only, notes for the rest.
    let out = tmp.path().join("pre.html");
    ok(&["report", s(&suite.join("supcon")), "--out", s(&out), "-q"]);
    let html = fs::read_to_string(&out).unwrap();
    assert!(html.contains("No corruption results") && html.contains("No finished classifier"));
    assert_eq!(count(&html, "<svg"), 3); // loss, LR, PCA
    assert!(!html.contains("id=\"confusion\""));

    let out = tmp.path().join("noemb.html");
    ok(&[
        "report",
        s(suite),
        "--no-embeddings",
        "--out",
        s(&out),
        "-q",
    ]);
    let html = fs::read_to_string(&out).unwrap();
    assert_eq!(count(&html, "id=\"pca-"), 0);
    assert!(html.contains("Embeddings skipped"));
}

#[test]
fn report_rejects_missing_and_non_run_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let out = supcon(&[
        "report",
        s(&missing),
        "--out",
        s(&tmp.path().join("r.html")),
    ]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains(s(&missing)) && e.contains("no such run directory"),
        "{e}"
    );

    let out = supcon(&[
        "report",
        s(tmp.path()),
        "--out",
        s(&tmp.path().join("r.html")),
    ]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("not a run directory"), "{e}");
    assert!(!tmp.path().join("r.html").exists());

    let out = supcon(&["report"]);
    assert_eq!(out.status.code(), Some(2));
}
