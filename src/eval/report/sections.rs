//! The sections of a report, each an element with its `id` (see the module docs of
//! [`super`]), drawn in page order by [`super::build_report`].

use crate::train::metrics_log::{Record, StepRecord};
use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use super::charts::{line_chart, line_chart_x, reliability_chart, scatter_chart, sweep_chart};
use super::entries::{Entry, LabelledSweep, config_str, kind_name, metrics_of};
use super::error::ReportError;
use super::options::ReportOptions;
use super::page::{Page, esc, fmt3, pct, slug};
use super::pca::embed;
use crate::eval::evaluate::RunKind;
use crate::train::run_dir::read_json;

/// `runs`: what each run is (kind, data, encoder, budget), and the sweeps given.
pub(super) fn runs_section(page: &mut Page, entries: &[Entry], sweeps: &[LabelledSweep]) {
    page.section("runs", "Runs");
    page.html.push_str(
        "<table><tr><th>run</th><th>kind</th><th>data</th><th>encoder</th><th>epochs</th>\
         <th>batch</th><th>base LR</th><th>directory</th></tr>\n",
    );
    for e in entries {
        let c = &e.config;
        let encoder = config_str(c, &["model", "encoder", "name"])
            .or_else(|| config_str(c, &["encoder", "name"]))
            .or_else(|| {
                e.info.encoder_run.as_ref().and_then(|p| {
                    read_json::<Value>(&p.join("config.json"))
                        .ok()
                        .and_then(|v| config_str(&v, &["model", "encoder", "name"]))
                })
            })
            .unwrap_or_else(|| "-".into());
        let data = e
            .info
            .data
            .as_ref()
            .map(|d| {
                let mut s = d.spec.clone();
                if let Some(l) = d.limit {
                    let _ = write!(s, " (train ≤ {l})");
                }
                if let Some(l) = d.test_limit {
                    let _ = write!(s, " (test ≤ {l})");
                }
                s
            })
            .unwrap_or_default();
        let _ = writeln!(
            page.html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&e.label),
            kind_name(e),
            esc(&data),
            esc(&encoder),
            config_str(c, &["epochs"]).unwrap_or_else(|| "-".into()),
            config_str(c, &["batch_size"]).unwrap_or_else(|| "-".into()),
            config_str(c, &["schedule", "base_lr"]).unwrap_or_else(|| "-".into()),
            esc(&e.info.dir.display().to_string())
        );
    }
    page.html.push_str("</table>\n");
    for (label, _) in sweeps {
        let _ = writeln!(
            page.html,
            "<p>sweep <code>{}</code>: see <a href=\"#sweep\">Sweep</a>.</p>",
            esc(label)
        );
    }
}

/// `accuracy`: test top-1/top-5, calibration, k-NN, few-shot and robustness figures of
/// the runs that classify.
pub(super) fn accuracy_section(page: &mut Page, classifiers: &[&Entry]) {
    page.section("accuracy", "Test accuracy and calibration");
    if classifiers.is_empty() {
        page.note(
            "No finished classifier run (linear probe, cross-entropy, joint) among the runs.",
        );
    } else {
        page.html.push_str(
            "<table><tr><th>run</th><th>kind</th><th>test images</th><th>top-1</th><th>top-5</th>\
             <th>ECE</th><th>MCE</th><th>NLL</th><th>k-NN top-1</th><th>few-shot top-1</th>\
             <th>mean corruption error</th><th>mCE</th><th>relative mCE</th><th>source</th></tr>\n",
        );
        for e in classifiers {
            let m = metrics_of(e).expect("filtered");
            let ev = e.eval.as_ref();
            let knn = ev
                .and_then(|r| r.knn.as_ref())
                .map_or("-".into(), |k| pct(k.top1));
            let few = ev
                .map(|r| {
                    r.few_shot
                        .iter()
                        .map(|f| format!("{}-shot {} ± {:.1}", f.shots, pct(f.mean), 100.0 * f.std))
                        .collect::<Vec<_>>()
                        .join("<br>")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "-".into());
            let rob = ev
                .and_then(|r| r.corruptions.as_ref())
                .map(|c| &c.robustness);
            let opt3 = |v: Option<f64>| v.map_or("-".into(), fmt3);
            let _ = writeln!(
                page.html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td>\
                 <td>{:.4}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.label),
                kind_name(e),
                m.samples,
                pct(m.top1),
                pct(m.top5),
                m.calibration.ece,
                m.calibration.mce,
                m.calibration.nll,
                knn,
                few,
                rob.map_or("-".into(), |r| pct(r.mean_error)),
                opt3(rob.and_then(|r| r.mce)),
                opt3(rob.and_then(|r| r.relative_mce)),
                if ev.is_some() {
                    "eval.json"
                } else {
                    "report.json"
                },
            );
        }
        page.html.push_str("</table>\n");
    }
}

/// `curves`: training loss and learning rate per step (or epoch loss for linear probes),
/// from each run's `metrics.jsonl`.
pub(super) fn curves_section(page: &mut Page, entries: &[Entry]) -> Result<(), ReportError> {
    page.section("curves", "Training curves");
    let mut any_curve = false;
    page.html.push_str("<div class=\"grid\">\n");
    for e in entries {
        any_curve |= run_curves(page, e)?;
    }
    page.html.push_str("</div>\n");
    if !any_curve {
        page.note("No metrics.jsonl with loss records among the runs.");
    }
    Ok(())
}

/// The curves of one run; `false` when its metrics hold no loss record.
fn run_curves(page: &mut Page, e: &Entry) -> Result<bool, ReportError> {
    let steps: Vec<&StepRecord> = e
        .metrics
        .iter()
        .filter_map(|r| match r {
            Record::Step(s) => Some(s),
            _ => None,
        })
        .collect();
    let id = slug(&e.label);
    if !steps.is_empty() {
        let loss: Vec<(f64, f64)> = steps.iter().map(|r| (r.step as f64, r.loss)).collect();
        let stage = steps[0].stage.as_str();
        let mut series = vec![(format!("{stage} loss"), loss)];
        let ce: Vec<(f64, f64)> = steps
            .iter()
            .filter_map(|r| Some((r.step as f64, r.ce_loss?)))
            .collect();
        if !ce.is_empty() {
            series.push(("joint CE loss".into(), ce));
        }
        let svg = line_chart(
            &format!("loss {}", e.label),
            &format!("{}: training loss", e.label),
            "step",
            "loss",
            &series,
            None,
            (520, 320),
            false,
        )?;
        page.figure(
            &format!("loss-{id}"),
            &svg,
            &format!("{}: loss per step", e.label),
        );
        let lr: Vec<(f64, f64)> = steps.iter().map(|r| (r.step as f64, r.lr)).collect();
        if !lr.is_empty() {
            let svg = line_chart(
                &format!("lr {}", e.label),
                &format!("{}: learning rate", e.label),
                "step",
                "learning rate",
                &[("LR".into(), lr)],
                None,
                (520, 320),
                false,
            )?;
            page.figure(
                &format!("lr-{id}"),
                &svg,
                &format!("{}: learning-rate schedule", e.label),
            );
        }
        return Ok(true);
    } else {
        let epochs: Vec<(f64, f64)> = e
            .metrics
            .iter()
            .filter_map(|r| match r {
                Record::Epoch(e) => Some((e.epoch as f64, e.epoch_loss)),
                _ => None,
            })
            .collect();
        if !epochs.is_empty() {
            let svg = line_chart(
                &format!("loss {}", e.label),
                &format!("{}: training loss", e.label),
                "epoch",
                "mean loss",
                &[("epoch loss".into(), epochs)],
                None,
                (520, 320),
                true,
            )?;
            page.figure(
                &format!("loss-{id}"),
                &svg,
                &format!("{}: mean loss per epoch", e.label),
            );
            return Ok(true);
        }
    }
    Ok(false)
}

/// `reliability`: reliability diagrams with the confidence histogram of the runs that
/// classify.
pub(super) fn reliability_section(
    page: &mut Page,
    classifiers: &[&Entry],
) -> Result<(), ReportError> {
    page.section("reliability", "Reliability diagrams");
    if classifiers.is_empty() {
        page.note("No classifier run to draw a reliability diagram for.");
    } else {
        page.html.push_str("<div class=\"grid\">\n");
        for e in classifiers {
            let m = metrics_of(e).expect("filtered");
            let svg = reliability_chart(
                &format!("reliability {}", e.label),
                &format!(
                    "{}: ECE {:.4}, acc {}",
                    e.label,
                    m.calibration.ece,
                    pct(m.top1)
                ),
                m,
            )?;
            page.figure(
                &format!("reliability-{}", slug(&e.label)),
                &svg,
                &format!(
                    "{}: accuracy per confidence bin ({} bins, {} samples), MCE {:.4}, NLL {:.4}",
                    e.label,
                    m.calibration.bins.len(),
                    m.samples,
                    m.calibration.mce,
                    m.calibration.nll
                ),
            );
        }
        page.html.push_str("</div>\n");
    }
    Ok(())
}

/// `corruptions`: accuracy by corruption severity (severity 0 = clean), averaged over
/// corruptions and per corruption, and each run's table of scores.
pub(super) fn corruptions_section(page: &mut Page, entries: &[Entry]) -> Result<(), ReportError> {
    page.section("corruptions", "Corruption robustness");
    let robust: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.eval.as_ref().is_some_and(|r| r.corruptions.is_some()))
        .collect();
    if robust.is_empty() {
        page.note(
            "No corruption results: run `supcon eval --model RUN_DIR --corruptions all` (it writes \
             RUN_DIR/eval.json), then build the report again.",
        );
        return Ok(());
    }
    page.html.push_str("<div class=\"grid\">\n");
    corruption_mean_figure(page, &robust)?;
    for e in &robust {
        corruption_figure(page, e)?;
    }
    page.html.push_str("</div>\n");
    for e in &robust {
        corruption_table(page, e);
    }
    Ok(())
}

/// Top-1 by severity, averaged over the evaluated corruptions, of every run in `robust`.
fn corruption_mean_figure(page: &mut Page, robust: &[&Entry]) -> Result<(), ReportError> {
    let mut series = Vec::new();
    for e in robust {
        let r = e.eval.as_ref().expect("filtered");
        let c = r.corruptions.as_ref().expect("filtered");
        let mut pts = vec![(0.0, r.clean.top1)];
        for &s in &c.severities {
            let accs: Vec<f64> = c
                .cells
                .iter()
                .filter(|x| x.severity == s)
                .map(|x| x.top1)
                .collect();
            if !accs.is_empty() {
                pts.push((f64::from(s), accs.iter().sum::<f64>() / accs.len() as f64));
            }
        }
        series.push((e.label.clone(), pts));
    }
    let svg = line_chart_x(
        "corruption mean",
        "accuracy by severity (mean over corruptions)",
        "severity (0 = clean)",
        "top-1",
        &series,
        Some((0.0, 1.0)),
        (520, 340),
        true,
        Some((-0.2, 5.2)),
    )?;
    page.figure(
        "corruption-mean",
        &svg,
        "Mean test top-1 over the evaluated corruptions, by severity",
    );
    Ok(())
}

/// Top-1 by severity of each corruption, for one run.
fn corruption_figure(page: &mut Page, e: &Entry) -> Result<(), ReportError> {
    let r = e.eval.as_ref().expect("filtered");
    let c = r.corruptions.as_ref().expect("filtered");
    let names: Vec<String> = c.robustness.corruptions.keys().cloned().collect();
    let series: Vec<(String, Vec<(f64, f64)>)> = names
        .iter()
        .map(|n| {
            let mut pts = vec![(0.0, r.clean.top1)];
            pts.extend(
                c.cells
                    .iter()
                    .filter(|x| &x.corruption == n)
                    .map(|x| (f64::from(x.severity), x.top1)),
            );
            (n.clone(), pts)
        })
        .collect();
    let svg = line_chart_x(
        &format!("corruptions {}", e.label),
        &format!("{}: accuracy by corruption", e.label),
        "severity (0 = clean)",
        "top-1",
        &series,
        Some((0.0, 1.0)),
        (640, 380),
        true,
        // Room on the right for the legend of up to 15 corruptions.
        Some((-0.2, 8.4)),
    )?;
    page.figure(
        &format!("corruptions-{}", slug(&e.label)),
        &svg,
        &format!("{}: test top-1 per corruption and severity", e.label),
    );
    Ok(())
}

/// One run's scores per corruption and severity, with its mean corruption error, mCE and
/// relative mCE.
fn corruption_table(page: &mut Page, e: &Entry) {
    let r = e.eval.as_ref().expect("filtered");
    let c = r.corruptions.as_ref().expect("filtered");
    let _ = write!(
        page.html,
        "<h3>{}</h3><table><tr><th>corruption</th>",
        esc(&e.label)
    );
    for s in &c.severities {
        let _ = write!(page.html, "<th>s{s} top-1</th><th>s{s} ECE</th>");
    }
    page.html
        .push_str("<th>mean error</th><th>CE</th><th>relative CE</th></tr>\n");
    let opt3 = |v: Option<f64>| v.map_or("-".into(), fmt3);
    for (name, score) in &c.robustness.corruptions {
        let _ = write!(page.html, "<tr><td>{}</td>", esc(name));
        for s in &c.severities {
            match c
                .cells
                .iter()
                .find(|x| &x.corruption == name && x.severity == *s)
            {
                Some(x) => {
                    let _ = write!(page.html, "<td>{}</td><td>{:.3}</td>", pct(x.top1), x.ece);
                }
                None => page.html.push_str("<td>-</td><td>-</td>"),
            }
        }
        let _ = writeln!(
            page.html,
            "<td>{}</td><td>{}</td><td>{}</td></tr>",
            pct(score.mean_error),
            opt3(score.ce),
            opt3(score.relative_ce)
        );
    }
    let rb = &c.robustness;
    let _ = writeln!(
        page.html,
        "</table><p>mean corruption error {}; mCE {}; relative mCE {}{}.</p>",
        pct(rb.mean_error),
        opt3(rb.mce),
        opt3(rb.relative_mce),
        c.baseline
            .as_ref()
            .map_or(" (no baseline)".into(), |b| format!(
                " (baseline <code>{}</code>)",
                esc(&b.source.display().to_string())
            ))
    );
}

/// `confusion`: the confusion matrix of every evaluated run (from `eval.json`).
pub(super) fn confusion_section(page: &mut Page, entries: &[Entry]) {
    let confused: Vec<&Entry> = entries.iter().filter(|e| e.eval.is_some()).collect();
    if !confused.is_empty() {
        page.section("confusion", "Confusion matrices");
        page.html.push_str("<div class=\"grid\">\n");
        for e in confused {
            let r = e.eval.as_ref().expect("filtered");
            let counts = r.confusion_matrix.counts();
            let _ = write!(
                page.html,
                "<div class=\"cm\"><h3>{}</h3><table class=\"cm\"><tr><th>true \\ predicted</th>",
                esc(&e.label)
            );
            for (j, _) in counts.iter().enumerate() {
                let _ = write!(
                    page.html,
                    "<th title=\"{}\">{j}</th>",
                    esc(r.class_names.get(j).map_or("", String::as_str))
                );
            }
            page.html.push_str("</tr>\n");
            for (t, row) in counts.iter().enumerate() {
                let total: u64 = row.iter().sum::<u64>().max(1);
                let _ = write!(
                    page.html,
                    "<tr><th>{t} {}</th>",
                    esc(r.class_names.get(t).map_or("", String::as_str))
                );
                for (p, &v) in row.iter().enumerate() {
                    let frac = v as f64 / total as f64;
                    let (rr, gg, bb) = if p == t {
                        (31, 119, 180)
                    } else {
                        (214, 39, 40)
                    };
                    let _ = write!(
                        page.html,
                        "<td style=\"background:rgba({rr},{gg},{bb},{:.2})\">{v}</td>",
                        frac.min(1.0) * 0.85
                    );
                }
                page.html.push_str("</tr>\n");
            }
            page.html.push_str("</table></div>\n");
        }
        page.html.push_str("</div>\n");
    }
}

/// `embeddings`: a 2-D PCA projection of test-set encoder features coloured by class, one
/// per encoder (a probe shares its pre-training run's).
pub(super) fn embeddings_section(
    page: &mut Page,
    entries: &[Entry],
    opts: &ReportOptions,
    log: &dyn Fn(&str),
) -> Result<(), ReportError> {
    page.section("embeddings", "Test-set embeddings (PCA)");
    if !opts.embeddings {
        page.note("Embeddings skipped (--no-embeddings).");
    } else {
        let mut seen = BTreeSet::new();
        let mut drew = false;
        page.html.push_str("<div class=\"grid\">\n");
        for e in entries {
            let key = match e.info.kind {
                RunKind::Linear => e.info.encoder_run.clone(),
                _ => Some(e.info.dir.clone()),
            }
            .map(|p| p.canonicalize().unwrap_or(p));
            let Some(key) = key else { continue };
            if !seen.insert(key) {
                continue;
            }
            log(&format!(
                "embedding the test set with the encoder of {}",
                e.label
            ));
            match embed(e, opts.pca_points) {
                Ok((points, labels, names, dim)) => {
                    let svg = scatter_chart(
                        &format!("pca {}", e.label),
                        &format!("{}: encoder features, PCA", e.label),
                        &points,
                        &labels,
                        &names,
                    )?;
                    page.figure(
                        &format!("pca-{}", slug(&e.label)),
                        &svg,
                        &format!(
                            "{}: first two principal components of {} test images' {dim}-d encoder features, coloured by class",
                            e.label,
                            points.len()
                        ),
                    );
                    drew = true;
                }
                Err(err) => {
                    // Said on stderr too (data no longer available, say).
                    log(&format!(
                        "warning: {}: embeddings unavailable: {err}",
                        e.label
                    ));
                    page.note(&format!("{}: embeddings unavailable: {err}", e.label));
                }
            }
        }
        page.html.push_str("</div>\n");
        if !drew && entries.is_empty() {
            page.note("No run with an encoder.");
        }
    }
    Ok(())
}

/// `sweep`: per-method spread of top-1 over each `supcon sweep` grid.
pub(super) fn sweep_section(page: &mut Page, sweeps: &[LabelledSweep]) -> Result<(), ReportError> {
    if !sweeps.is_empty() {
        page.section("sweep", "Hyperparameter stability (sweep)");
        for (label, r) in sweeps {
            let svg = sweep_chart(&format!("sweep {label}"), r)?;
            page.html.push_str("<div class=\"grid\">\n");
            page.figure(
                &format!("sweep-{}", slug(label)),
                &svg,
                &format!(
                    "{label}: test top-1 of every grid point; bar = mean, vertical line = ± std"
                ),
            );
            page.html.push_str("</div>\n");
            page.html.push_str(
                "<table><tr><th>method</th><th>points</th><th>failed</th><th>mean top-1</th><th>std</th>\
                 <th>worst</th><th>best</th><th>range</th><th>worst point</th></tr>\n",
            );
            let p = |v: Option<f64>| v.map_or("-".into(), pct);
            for s in &r.summary {
                let worst = s
                    .worst
                    .as_ref()
                    .map(|w| {
                        w.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    page.html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    s.method,
                    s.points,
                    s.failed,
                    p(s.mean),
                    p(s.std),
                    p(s.min),
                    p(s.max),
                    p(s.range),
                    esc(&worst)
                );
            }
            page.html.push_str("</table>\n");
        }
    }
    Ok(())
}
