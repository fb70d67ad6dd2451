//! A self-contained HTML report of one or more runs: every plot is an inline SVG drawn
//! with plotters (no external file, script or font), so the page can be mailed or
//! archived as it is.
//!
//! Sections (each an element with that `id`, every plot a `<figure class="plot">`):
//! - `runs`: what each run is (kind, data, encoder, budget);
//! - `accuracy`: test top-1/top-5, ECE, MCE, NLL across runs (from `eval.json` when
//!   present, otherwise from the run's `report.json`), plus k-NN, few-shot and robustness
//!   figures when evaluated;
//! - `curves`: training loss and learning rate per step (or epoch loss for linear
//!   probes), from `metrics.jsonl`;
//! - `reliability`: reliability diagrams (accuracy against confidence over the 15 bins)
//!   with the confidence histogram (Guo et al., ICML 2017, Fig. 1);
//! - `corruptions`: accuracy by corruption severity (severity 0 = clean), averaged over
//!   corruptions and per corruption, from `eval.json` written by `supcon eval`;
//! - `confusion`: confusion matrices from `eval.json`;
//! - `embeddings`: a 2-D PCA projection of test-set encoder embeddings coloured by class;
//! - `sweep`: per-method spread of top-1 over a `supcon sweep` grid.
//!
//! Bitmap (PNG) plots are not written: plotters' bitmap backend needs its `ttf` feature
//! (system fonts) to draw text, whereas SVG text is laid out by the browser.
//!
//! Each directory may be a run directory, a `supcon run` output (its `supcon/`,
//! `linear/` and `ce/` runs) or a `supcon sweep` output. A run's evaluation is looked up
//! in `RUN/eval.json`, then in the enclosing `supcon run` directory's `eval.json`.

mod charts;
mod entries;
mod error;
mod options;
mod page;
mod pca;
mod sections;

use std::path::{Path, PathBuf};

pub use error::ReportError;
pub use options::{ReportOptions, ReportSummary};
pub use pca::pca_2d;

use crate::eval::evaluate::RunEvalError;
use entries::{Entry, collect, metrics_of};
use page::Page;
use sections::{
    accuracy_section, confusion_section, corruptions_section, curves_section, embeddings_section,
    reliability_section, runs_section, sweep_section,
};

/// Builds the HTML report of `dirs`. `log` receives progress lines.
///
/// # Errors
/// A directory that is not a run, a `supcon run` or a `supcon sweep` output; a linear
/// probe whose encoder run was retrained since the probe was trained (naming its
/// `encoder.json`); a plot that cannot be drawn. Embedding failures (e.g. data no longer
/// available) become a note in the page.
pub fn build_report(
    dirs: &[PathBuf],
    opts: &ReportOptions,
    log: &dyn Fn(&str),
) -> Result<(String, ReportSummary), ReportError> {
    if dirs.is_empty() {
        return Err(ReportError::Empty);
    }
    let (entries, sweeps) = collect(dirs, log)?;
    let mut page = Page::default();
    runs_section(&mut page, &entries, &sweeps);
    let classifiers: Vec<&Entry> = entries.iter().filter(|e| metrics_of(e).is_some()).collect();
    accuracy_section(&mut page, &classifiers);
    curves_section(&mut page, &entries)?;
    reliability_section(&mut page, &classifiers)?;
    corruptions_section(&mut page, &entries)?;
    confusion_section(&mut page, &entries);
    embeddings_section(&mut page, &entries, opts, log)?;
    sweep_section(&mut page, &sweeps)?;
    let html = page.document(&opts.title);
    let summary = ReportSummary {
        runs: entries.len() + sweeps.len(),
        plots: page.plots,
        sections: page.sections,
    };
    Ok((html, summary))
}

/// Builds the report and writes it to `out`.
///
/// # Errors
/// As [`build_report`], and I/O errors naming `out`.
pub fn write_report(
    dirs: &[PathBuf],
    out: &Path,
    opts: &ReportOptions,
    log: &dyn Fn(&str),
) -> Result<ReportSummary, ReportError> {
    crate::outputs::check_file(out, &crate::outputs::Inputs::new(dirs.iter().cloned(), []))
        .map_err(RunEvalError::from)?;
    // A report written into a run's folder: the folder is checked free at once, and
    // locked while the report is written.
    let lock = |dir: &Path| {
        crate::dirlock::DirLock::acquire(dir)
            .map_err(|e| RunEvalError::from(crate::train::RunDirError::from(e)))
    };
    let folder = crate::dirlock::output_folder(out);
    if let Some(folder) = &folder {
        drop(lock(folder)?);
    }
    let (html, summary) = build_report(dirs, opts, log)?;
    let _lock = folder.as_deref().map(lock).transpose()?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Io {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    crate::fsutil::write_atomic(out, html.as_bytes()).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(summary)
}
