//! SupCon at small batch: a labelled FIFO queue of past projections used as extra contrast
//! entries (the paper's memory-based alternative, Sec. 4 and Table 5, 8192 entries at batch
//! 256), and an optional momentum (EMA) key encoder that produces them (He et al., MoCo,
//! CVPR 2020).
//!
//! Queue entries carry no gradient and are never anchors. Under SupCon they are positives of
//! every anchor with the same label; under SimCLR sample identity does not survive across
//! batches, so they are negatives only (as in MoCo).

use std::fs;
use std::path::Path;

use burn::module::Module;
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::params::{StructureMismatch, map_from};
use crate::fsutil::write_atomic;

/// A FIFO queue of `capacity` embeddings of width `dim`, with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryBank {
    capacity: usize,
    dim: usize,
    /// `len * dim` values; slot `s` holds row `s`.
    embeddings: Vec<f32>,
    labels: Vec<usize>,
    /// Next slot to overwrite once full.
    head: usize,
}

#[derive(Serialize, Deserialize)]
struct BankMeta {
    capacity: usize,
    dim: usize,
    head: usize,
    labels: Vec<usize>,
}

impl MemoryBank {
    /// An empty queue.
    pub fn new(capacity: usize, dim: usize) -> Self {
        Self {
            capacity,
            dim,
            embeddings: Vec::with_capacity(capacity * dim),
            labels: Vec::with_capacity(capacity),
            head: 0,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Capacity `K`.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `[len, dim]` row-major embeddings (slot order).
    pub fn embeddings(&self) -> &[f32] {
        &self.embeddings
    }

    /// Labels, aligned with [`Self::embeddings`].
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Enqueues `rows` (`[n, dim]`) with their labels, overwriting the oldest entries once
    /// full. When `n > capacity` only the last `capacity` rows are kept.
    ///
    /// # Panics
    /// If `rows.len() != labels.len() * dim` (internal callers only).
    pub fn push(&mut self, rows: &[f32], labels: &[usize]) {
        assert_eq!(rows.len(), labels.len() * self.dim);
        if self.capacity == 0 {
            return;
        }
        let skip = labels.len().saturating_sub(self.capacity);
        for (r, &label) in labels.iter().enumerate().skip(skip) {
            let row = &rows[r * self.dim..(r + 1) * self.dim];
            if self.labels.len() < self.capacity {
                self.embeddings.extend_from_slice(row);
                self.labels.push(label);
            } else {
                let s = self.head;
                self.embeddings[s * self.dim..(s + 1) * self.dim].copy_from_slice(row);
                self.labels[s] = label;
                self.head = (self.head + 1) % self.capacity;
            }
        }
    }

    /// Writes the queue to `dir/bank.f32` (little-endian values) and `dir/bank.json`
    /// (shape, head, labels), each atomically.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn save(&self, dir: &Path) -> Result<(), TrainError> {
        let bytes: Vec<u8> = self
            .embeddings
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source: std::io::Error| {
                TrainError::RunDir(super::run_dir::RunDirError::Io { path, source })
            }
        };
        let values = dir.join("bank.f32");
        write_atomic(&values, &bytes).map_err(io(&values))?;
        let meta = BankMeta {
            capacity: self.capacity,
            dim: self.dim,
            head: self.head,
            labels: self.labels.clone(),
        };
        let meta_path = dir.join("bank.json");
        let text = serde_json::to_string(&meta).map_err(|e| TrainError::State {
            path: meta_path.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&meta_path, text.as_bytes()).map_err(io(&meta_path))
    }

    /// Reads a queue written by [`Self::save`].
    ///
    /// # Errors
    /// Missing or inconsistent files, naming them.
    pub fn load(dir: &Path) -> Result<Self, TrainError> {
        let meta_path = dir.join("bank.json");
        let bad = |reason: String| TrainError::State {
            path: meta_path.clone(),
            reason,
        };
        let meta: BankMeta =
            serde_json::from_str(&fs::read_to_string(&meta_path).map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
        let values_path = dir.join("bank.f32");
        let bytes = fs::read(&values_path).map_err(|e| TrainError::State {
            path: values_path.clone(),
            reason: e.to_string(),
        })?;
        if bytes.len() != meta.labels.len() * meta.dim * 4
            || meta.labels.len() > meta.capacity
            || meta.head >= meta.capacity.max(1)
        {
            return Err(TrainError::State {
                path: values_path,
                reason: format!(
                    "{} bytes do not hold {} entries of width {}",
                    bytes.len(),
                    meta.labels.len(),
                    meta.dim
                ),
            });
        }
        let embeddings = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self {
            capacity: meta.capacity,
            dim: meta.dim,
            embeddings,
            labels: meta.labels,
            head: meta.head,
        })
    }
}

/// The EMA update of a momentum encoder: every float tensor of `key` (weights and BatchNorm
/// statistics alike, in visiting order) becomes `m * key + (1 - m) * online`. `key` and
/// `online` must have the same architecture. The key's parameters never require gradients.
///
/// # Errors
/// [`TrainError::Architecture`] when the two modules differ in structure.
pub fn ema_update<M: Module>(key: M, online: &M, momentum: f64) -> Result<M, TrainError> {
    map_from(key, online, false, |online, key| {
        let o = online.value.clone().to_device(&key.device());
        let blended = key
            .detach()
            .mul_scalar(momentum)
            .add(o.mul_scalar(1.0 - momentum));
        (blended, false)
    })
    .map_err(|StructureMismatch| {
        TrainError::Architecture("momentum encoder: key and online models")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_wraps_and_keeps_labels_aligned() {
        let mut q = MemoryBank::new(3, 2);
        q.push(&[1.0, 1.0, 2.0, 2.0], &[10, 20]);
        assert_eq!(q.len(), 2);
        q.push(&[3.0, 3.0, 4.0, 4.0], &[30, 40]); // 40 overwrites the oldest (slot 0)
        assert_eq!(q.embeddings(), &[4.0, 4.0, 2.0, 2.0, 3.0, 3.0]);
        assert_eq!(q.labels(), &[40, 20, 30]);
        q.push(&[5.0, 5.0], &[50]); // overwrites slot 1
        assert_eq!(q.labels(), &[40, 50, 30]);
        for (row, &l) in q.embeddings().chunks(2).zip(q.labels()) {
            assert_eq!(row[0] as usize * 10, l, "embedding and label stay aligned");
        }
        // More rows than capacity: the last `capacity` survive.
        let mut big = MemoryBank::new(2, 1);
        big.push(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1, 2, 3, 4, 5]);
        assert_eq!(big.labels(), &[4, 5]);
        let mut none = MemoryBank::new(0, 2);
        none.push(&[1.0, 1.0], &[1]);
        assert!(none.is_empty());
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = MemoryBank::new(3, 2);
        q.push(&[1.0, -1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5], &[1, 2, 3, 4]);
        q.save(dir.path()).unwrap();
        assert_eq!(MemoryBank::load(dir.path()).unwrap(), q);
        std::fs::write(dir.path().join("bank.f32"), [0u8; 5]).unwrap();
        let err = MemoryBank::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("bank.f32"), "{err}");
    }
}
