//! Training across processes and machines over MPI (cargo feature `mpi`): the ranks of
//! `mpirun -np N supcon pretrain --distributed mpi ...` (or Slurm's `srun --mpi=pmix`)
//! train one global batch ([`super::ranked`]). MPI carries every byte: rsmpi's bindings of
//! `MPI_Allgatherv`, `MPI_Alltoallv` and `MPI_Bcast`.
//!
//! [`run`] starts MPI, runs a job on this rank, and handles failures: a rank that fails
//! alone (it cannot read its data, a file, a device) prints its error tagged with its rank
//! and ends the whole job with `MPI_Abort` (every rank exits non-zero within the time MPI
//! takes to kill them), instead of leaving the others waiting in a collective forever.
//! Failures every rank reaches together (settings that differ across ranks, a stop request)
//! are returned on every rank.

use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};
use mpi::{Count, Threading};

use super::TrainError;
use super::collective::Collective;
use crate::data::batcher::shard_range;

/// This process's place in an MPI job: MPI stays initialised while it lives
/// (`MPI_Finalize` when it is dropped).
pub struct Ranks {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    _universe: Universe,
}

impl std::fmt::Debug for Ranks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ranks {{ rank: {}, size: {} }}", self.rank, self.size)
    }
}

impl Ranks {
    /// Initialises MPI (once per process; data-loading threads never call MPI).
    ///
    /// # Errors
    /// [`TrainError::Collective`] when MPI was initialised already.
    pub fn init() -> Result<Self, TrainError> {
        let (universe, _) =
            mpi::initialize_with_threading(Threading::Funneled).ok_or_else(|| {
                TrainError::Collective("MPI is initialised already in this process".into())
            })?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        Ok(Self {
            world,
            rank,
            size,
            _universe: universe,
        })
    }

    /// Ends every rank of the job with `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

/// `n` as an MPI count.
fn count(n: usize) -> Result<Count, TrainError> {
    Count::try_from(n).map_err(|_| {
        TrainError::Collective(format!(
            "{n} values in one message: MPI counts stop at {}",
            Count::MAX
        ))
    })
}

/// Counts and displacements (prefix sums) of a partition.
fn partition(counts: &[usize]) -> Result<(Vec<Count>, Vec<Count>), TrainError> {
    let mut displs = Vec::with_capacity(counts.len());
    let mut at = 0;
    for &c in counts {
        displs.push(count(at)?);
        at += c;
    }
    count(at)?;
    let counts = counts.iter().map(|&c| count(c)).collect::<Result<_, _>>()?;
    Ok((counts, displs))
}

impl Ranks {
    /// `MPI_Allgatherv` of `local` with `counts[r]` values from rank `r`.
    fn gather<T: mpi::datatype::Equivalence + Copy + Default>(
        &self,
        local: &[T],
        counts: &[usize],
    ) -> Result<Vec<T>, TrainError> {
        if counts.len() != self.size || counts[self.rank] != local.len() {
            return Err(TrainError::Collective(format!(
                "rank {} sends {} values; the gather expected {:?}",
                self.rank,
                local.len(),
                counts
            )));
        }
        let total = counts.iter().sum();
        let (c, d) = partition(counts)?;
        let mut out = vec![T::default(); total];
        let mut recv = PartitionMut::new(&mut out[..], c, d);
        self.world.all_gather_varcount_into(local, &mut recv);
        Ok(out)
    }
}

impl Collective for Ranks {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather_f32(&self, local: &[f32], counts: &[usize]) -> Result<Vec<f32>, TrainError> {
        self.gather(local, counts)
    }

    fn all_gather_u64(&self, local: &[u64], counts: &[usize]) -> Result<Vec<u64>, TrainError> {
        self.gather(local, counts)
    }

    /// A reduce-scatter ([`Collective::sum_segment_in_rank_order`]) into equal segments,
    /// then `MPI_Allgatherv` of the summed segments: the bytes sent per rank are those of a
    /// ring all-reduce, `2 (N - 1) / N` times the buffer, and the order of the additions is
    /// fixed by this code, not by MPI's choice of algorithm.
    fn sum_in_rank_order(&self, local: &[f32]) -> Result<Vec<f32>, TrainError> {
        let n = local.len();
        let segments: Vec<usize> = (0..self.size)
            .map(|r| shard_range(n, self.size, r).len())
            .collect();
        let sum = self.sum_segment_in_rank_order(local, &segments)?;
        self.gather(&sum, &segments)
    }

    /// By `MPI_Alltoallv`: rank `r` receives segment `r` of every rank's buffer and adds
    /// them in rank order.
    fn sum_segment_in_rank_order(
        &self,
        local: &[f32],
        counts: &[usize],
    ) -> Result<Vec<f32>, TrainError> {
        let (n, size) = (local.len(), self.size);
        let lengths = self.gather(&[n as u64], &vec![1; size])?;
        if let Some(r) = lengths.iter().position(|&l| l != n as u64) {
            return Err(TrainError::Collective(format!(
                "rank {r} sums {} values, rank {} {n}",
                lengths[r], self.rank
            )));
        }
        if counts.len() != size || counts.iter().sum::<usize>() != n {
            return Err(TrainError::Collective(format!(
                "segments {counts:?} do not cut {n} values into {size} parts"
            )));
        }
        let mine = counts[self.rank];
        let (send_counts, send_displs) = partition(counts)?;
        let (recv_counts, recv_displs) = partition(&vec![mine; size])?;
        let mut received = vec![0.0f32; mine * size];
        {
            let send = Partition::new(local, send_counts, send_displs);
            let mut recv = PartitionMut::new(&mut received[..], recv_counts, recv_displs);
            self.world.all_to_all_varcount_into(&send, &mut recv);
        }
        let mut sum = received[..mine].to_vec();
        for from in received.chunks(mine.max(1)).skip(1).take(size - 1) {
            for (s, x) in sum.iter_mut().zip(from) {
                *s += *x;
            }
        }
        Ok(sum)
    }

    fn broadcast_bytes(&self, bytes: Vec<u8>) -> Result<Vec<u8>, TrainError> {
        let root = self.world.process_at_rank(0);
        let mut len = [bytes.len() as u64];
        root.broadcast_into(&mut len[..]);
        let len = usize::try_from(len[0])
            .map_err(|_| TrainError::Collective(format!("a broadcast of {} bytes", len[0])))?;
        count(len)?;
        let mut buf = if self.rank == 0 {
            bytes
        } else {
            vec![0u8; len]
        };
        root.broadcast_into(&mut buf[..]);
        Ok(buf)
    }
}

/// Whether every rank reaches `error` together (so it is returned, not aborted on).
fn agreed(error: &TrainError) -> bool {
    matches!(
        error,
        TrainError::RanksDiffer { .. } | TrainError::Interrupted { .. }
    )
}

/// Runs `job` as this process's rank of an MPI job: its value on rank 0, `None` on the
/// others. Errors every rank reaches together are returned on every rank; any other error
/// is printed on stderr as `rank R of N: error: ...` (with its causes) and ends the whole
/// job with `MPI_Abort(1)`.
///
/// # Errors
/// MPI initialised twice; [`TrainError::RanksDiffer`]; [`TrainError::Interrupted`].
pub fn run<T>(job: impl FnOnce(&Ranks) -> Result<T, TrainError>) -> Result<Option<T>, TrainError> {
    let ranks = Ranks::init()?;
    match job(&ranks) {
        Ok(value) => Ok((ranks.rank == 0).then_some(value)),
        Err(e) if agreed(&e) => Err(e),
        Err(e) => {
            let mut message = format!("rank {} of {}: error: {e}", ranks.rank, ranks.size);
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(&format!("\n  caused by: {c}"));
                cause = c.source();
            }
            eprintln!("{message}");
            ranks.abort(1)
        }
    }
}
