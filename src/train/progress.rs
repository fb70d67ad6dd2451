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
    waited: std::time::Duration,
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
            waited: std::time::Duration::ZERO,
        }
    }

    /// Records one step of `images` images with its loss and LR, for which the loop
    /// waited `waited` for its batch (shown as the share of time spent waiting for data).
    pub fn step(&mut self, images: usize, loss: f64, lr: f64, waited: std::time::Duration) {
        self.images += images;
        self.waited += waited;
        if let Some(bar) = &self.bar {
            let elapsed = self.start.elapsed().as_secs_f64().max(1e-9);
            let rate = self.images as f64 / elapsed;
            let wait = 100.0 * self.waited.as_secs_f64() / elapsed;
            bar.set_message(format!(
                "loss {loss:.4} lr {lr:.4} {rate:.0} img/s, waited for data {wait:.0}%"
            ));
            bar.inc(1);
        }
    }

    /// Images per second so far.
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }

    /// Share of the time so far that the loop waited for data, in `[0, 1]`.
    pub fn data_wait_fraction(&self) -> f64 {
        (self.waited.as_secs_f64() / self.start.elapsed().as_secs_f64().max(1e-9)).min(1.0)
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
