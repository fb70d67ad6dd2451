//! Copying float tensors between two modules of the same architecture: the EMA key
//! encoder ([`ema_update`](super::memory_bank::ema_update)), pass 1's untracked embedder and
//! the data-parallel replicas ([`replicate`](super::distributed::replicate)).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

/// One float tensor of the source module: its id, its value (flattened, detached) and
/// whether it is trained (requires gradients).
pub struct Source {
    /// The parameter id in the source module.
    pub id: ParamId,
    /// The value, flattened to `[numel]`, on the source's device.
    pub value: Tensor<1>,
    /// Whether the source tensor requires gradients.
    pub tracked: bool,
}

/// The two modules differ in structure (number or sizes of their float tensors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructureMismatch;

/// Replaces every float tensor of `dst` (weights and BatchNorm statistics alike, in visiting
/// order) by the value of `f(source, dst_value)`, both flattened to `[numel]`; the result is
/// reshaped back, detached, and requires gradients when `f` says so (a leaf tensor).
/// With `take_ids`, `dst`'s tensors also take the source's parameter ids (so gradients of
/// `dst` are keyed like the source's); otherwise they keep their own.
///
/// # Errors
/// [`StructureMismatch`] when the modules differ in their float tensors.
pub fn map_from<M: Module>(
    dst: M,
    src: &M,
    take_ids: bool,
    f: impl FnMut(&Source, Tensor<1>) -> (Tensor<1>, bool),
) -> Result<M, StructureMismatch> {
    struct Collect(Vec<Source>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let t = p.val();
            let tracked = t.is_require_grad();
            let n = t.shape().num_elements();
            self.0.push(Source {
                id: p.id,
                value: t.detach().reshape([n]),
                tracked,
            });
        }
    }
    struct MapFrom<F> {
        sources: std::vec::IntoIter<Source>,
        f: F,
        take_ids: bool,
        mismatch: bool,
    }
    impl<F: FnMut(&Source, Tensor<1>) -> (Tensor<1>, bool)> ModuleMapper for MapFrom<F> {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(source) = self.sources.next() else {
                self.mismatch = true;
                return p;
            };
            let (id, old, mapper) = p.consume();
            let dims = old.dims();
            let n = old.shape().num_elements();
            if source.value.dims()[0] != n {
                self.mismatch = true;
                return Param::from_mapped_value(id, old, mapper);
            }
            let (value, tracked) = (self.f)(&source, old.reshape([n]));
            let value = value.reshape(dims).detach().set_require_grad(tracked);
            let id = if self.take_ids { source.id } else { id };
            Param::from_mapped_value(id, value, mapper)
        }
    }
    let mut collect = Collect(Vec::new());
    src.visit(&mut collect);
    if collect.0.is_empty() {
        return Err(StructureMismatch);
    }
    let mut mapper = MapFrom {
        sources: collect.0.into_iter(),
        f,
        take_ids,
        mismatch: false,
    };
    let dst = dst.map(&mut mapper);
    if mapper.mismatch || mapper.sources.len() != 0 {
        return Err(StructureMismatch);
    }
    Ok(dst)
}
