//! Progress reporting for long loops: an indicatif bar with loss, LR and images/s on a
//! terminal, nothing in quiet mode (logs still get `metrics.jsonl`).

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A per-epoch progress bar.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    images: usize,
}

impl Progress {
    /// A bar over `steps` steps labelled `label`; hidden when `quiet`.
    pub fn new(label: &str, steps: usize, quiet: bool) -> Self {
        let bar = (!quiet).then(|| {
            let bar = ProgressBar::new(steps as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>16} [{bar:28}] {pos}/{len} {msg} ({elapsed}<{eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        Self {
            bar,
            start: Instant::now(),
            images: 0,
        }
    }

    /// Records one step of `images` images with its loss and LR.
    pub fn step(&mut self, images: usize, loss: f64, lr: f64) {
        self.images += images;
        if let Some(bar) = &self.bar {
            let rate = self.images as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {loss:.4} lr {lr:.4} {rate:.0} img/s"));
            bar.inc(1);
        }
    }

    /// Images per second so far.
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
