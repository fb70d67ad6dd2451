//! The collective operations a training job of several processes needs (one process per
//! MPI rank): what [`super::ranked`]'s global-batch step and the start-up checks use.
//! The implementation is MPI's ([`super::mpi`], cargo feature `mpi`); MPI carries every byte.

use super::TrainError;

/// A group of processes (ranks `0..size`) running the same training job.
pub trait Collective {
    /// This process's rank.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// Every rank's `local` concatenated in rank order (`MPI_Allgatherv`); `counts[r]` is
    /// the length of rank `r`'s `local`.
    ///
    /// # Errors
    /// A count that MPI cannot address, or `local` not of length `counts[rank]`.
    fn all_gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Vec<f32>, TrainError>;

    /// As [`Self::all_gather_f32`], for 64-bit integers (labels, sizes, hashes, and `f64`
    /// values as their bits).
    ///
    /// # Errors
    /// As [`Self::all_gather_f32`].
    fn all_gather_u64(&self, local: &[u64], counts: &[usize]) -> Result<Vec<u64>, TrainError>;

    /// The element-wise sum of every rank's `local` (all of one length), added in rank
    /// order, `((x_0 + x_1) + x_2) + ...`, so the result is deterministic and has the same
    /// bits on every rank whatever the network does.
    ///
    /// # Errors
    /// A length that MPI cannot address, or lengths that differ across ranks.
    fn sum_in_rank_order(&self, local: &[f32]) -> Result<Vec<f32>, TrainError>;

    /// This rank's segment of the element-wise sum of every rank's `local` (all of one
    /// length, cut into consecutive segments of `counts[r]` values for rank `r`), added in
    /// rank order like [`Self::sum_in_rank_order`]: a reduce-scatter.
    ///
    /// # Errors
    /// A length that MPI cannot address, lengths that differ across ranks, or counts that
    /// do not add up to the length.
    fn sum_segment_in_rank_order(
        &self,
        local: &[f32],
        counts: &[usize],
    ) -> Result<Vec<f32>, TrainError>;

    /// Rank 0's `bytes` on every rank (the others' are ignored).
    ///
    /// # Errors
    /// A length that MPI cannot address.
    fn broadcast_bytes(&self, bytes: Vec<u8>) -> Result<Vec<u8>, TrainError>;
}

/// FNV-1a, 64 bits: a hash that is the same in every build and on every machine.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Checks that every rank holds the same `what` (e.g. the configuration as JSON) by
/// comparing hashes of `bytes`. Every rank reaches the same verdict, so every rank fails
/// alike, with a message naming the first rank that differs from rank 0.
///
/// # Errors
/// [`TrainError::RanksDiffer`] naming the rank and `what`; collective errors.
pub fn agree(ranks: &dyn Collective, what: &str, bytes: &[u8]) -> Result<(), TrainError> {
    let hashes = ranks.all_gather_u64(&[stable_hash(bytes)], &vec![1; ranks.size()])?;
    match hashes.iter().position(|&h| h != hashes[0]) {
        Some(rank) => Err(TrainError::RanksDiffer {
            rank,
            ranks: ranks.size(),
            what: what.to_string(),
            theirs: hashes[rank],
            root: hashes[0],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fnv1a() {
        // Reference values of FNV-1a 64.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
