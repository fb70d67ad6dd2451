//! The project's CPU kernels as a burn backend extension: implemented for `Flex` (the
//! forward) and for `Autodiff<Flex>` (the forward plus a hand-written backward), and reached
//! from `Tensor`s through burn's `Dispatch`.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    AutodiffBackend, Backend, ExtensionType, Flex, TensorMetadata, backend_extension,
};
use burn::tensor::{Shape, TensorData};

use super::batch_norm::{NormShape, affine_act, batch_norm_backward, channel_stats, scales};
use super::conv::{ConvGeometry, conv2d_backward, conv2d_forward};
use super::profile::{KernelOp, timed};

/// A training-mode BatchNorm's output and the batch statistics it used (detached).
#[derive(ExtensionType)]
pub struct NormOutput<B: Backend> {
    /// `[N, C, ...]`.
    pub output: FloatTensor<B>,
    /// Batch mean, `[C]`.
    pub mean: FloatTensor<B>,
    /// Biased batch variance, `[C]`.
    pub variance: FloatTensor<B>,
}

/// The kernels. Every tensor is `f32`; callers check shapes and dtypes first
/// ([`super::conv2d`], [`super::batch_norm_train`], [`super::batch_norm_eval`]).
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: Backend {
    /// Convolution without bias, dilation or groups.
    ///
    /// # Shapes
    /// - `x`: `[N, C, H, W]`, `weight`: `[K, C, kh, kw]`
    /// - returns: `[N, K, Ho, Wo]`
    fn conv2d_nchw(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
    ) -> FloatTensor<Self>;

    /// Training-mode BatchNorm with batch statistics, then `+ residual` (a zero-size tensor
    /// for none) and the ReLU when `relu` is set: `relu(bn(x) + residual)`.
    ///
    /// # Shapes
    /// - `x`: `[N, C, ...]`, `gamma`, `beta`: `[C]`, `residual`: `x`'s shape or `[0]`
    /// - returns: output `[N, C, ...]`, mean and variance `[C]`
    fn batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> NormOutput<Self>;

    /// Evaluation-mode BatchNorm with given statistics, then `+ residual` (zero-size for
    /// none) and the ReLU when `relu` is set. Not differentiated by the kernels: the
    /// autodiff implementation composes burn's operations.
    ///
    /// # Shapes
    /// - `x`: `[N, C, ...]`, `gamma`, `beta`, `mean`, `variance`: `[C]`
    /// - returns: `[N, C, ...]`
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_eval_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> FloatTensor<Self> {
        let out = Self::batch_norm(x, gamma, beta, mean, variance, epsilon);
        let out = if residual.shape().num_elements() == 0 {
            out
        } else {
            Self::float_add(out, residual)
        };
        if relu { Self::relu(out) } else { out }
    }
}

/// The elements of a Flex float tensor, contiguous.
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("a contiguous f32 tensor")
                .to_vec(),
        ),
    }
}

fn tensor(data: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape.into()))
}

fn geometry(x: &Shape, w: &Shape, stride: [usize; 2], padding: [usize; 2]) -> ConvGeometry {
    ConvGeometry {
        batch: x[0],
        in_channels: x[1],
        height: x[2],
        width: x[3],
        out_channels: w[0],
        kernel_h: w[2],
        kernel_w: w[3],
        stride,
        padding,
    }
}

fn norm_shape(x: &Shape) -> NormShape {
    let dims = x.as_slice();
    NormShape {
        batch: dims[0],
        channels: dims[1],
        plane: dims[2..].iter().product(),
    }
}

/// `K<-C kh x kw /s` and the input's `N x H x W`, for profiles.
fn conv_label(geo: &ConvGeometry) -> String {
    format!(
        "{}<-{} {}x{}/{} on {}x{}x{}",
        geo.out_channels,
        geo.in_channels,
        geo.kernel_h,
        geo.kernel_w,
        geo.stride[0],
        geo.batch,
        geo.height,
        geo.width
    )
}

fn norm_label(shape: &Shape) -> String {
    format!("{:?}", shape.as_slice())
}

fn flex_conv(x: &FlexTensor, w: &FlexTensor, geo: &ConvGeometry) -> FlexTensor {
    let out = timed(
        KernelOp::ConvForward,
        || conv_label(geo),
        2.0 * geo.macs(),
        || conv2d_forward(geo, &values(x), &values(w)),
    );
    tensor(out, [geo.batch, geo.out_channels, geo.out_h(), geo.out_w()])
}

/// Forward of the training BatchNorm: (output, mean, variance).
fn flex_norm(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    residual: &FlexTensor,
    epsilon: f64,
    relu: bool,
) -> (FlexTensor, Vec<f32>, Vec<f32>) {
    let shape = x.shape();
    let ns = norm_shape(&shape);
    let (out, mean, var) = timed(
        KernelOp::NormForward,
        || norm_label(&shape),
        0.0,
        || {
            let xs = values(x);
            let (mean, var) = channel_stats(ns, &xs);
            let scale = scales(&values(gamma), &var, epsilon);
            let res = (residual.shape().num_elements() > 0).then(|| values(residual));
            let out = affine_act(ns, &xs, &mean, &scale, &values(beta), res.as_deref(), relu);
            (out, mean, var)
        },
    );
    (tensor(out, shape), mean, var)
}

impl CpuKernels for Flex {
    fn conv2d_nchw(
        x: FlexTensor,
        weight: FlexTensor,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
    ) -> FlexTensor {
        let geo = geometry(
            &x.shape(),
            &weight.shape(),
            [stride_h, stride_w],
            [pad_h, pad_w],
        );
        flex_conv(&x, &weight, &geo)
    }

    fn batch_norm_act(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        residual: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> NormOutput<Self> {
        let channels = x.shape()[1];
        let (output, mean, var) = flex_norm(&x, &gamma, &beta, &residual, epsilon, relu);
        NormOutput {
            output,
            mean: tensor(mean, [channels]),
            variance: tensor(var, [channels]),
        }
    }

    fn batch_norm_eval_act(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        residual: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        let shape = x.shape();
        let out = timed(
            KernelOp::NormEval,
            || norm_label(&shape),
            0.0,
            || {
                let scale = scales(&values(&gamma), &values(&variance), epsilon);
                let res = (residual.shape().num_elements() > 0).then(|| values(&residual));
                let (xs, mean, beta) = (values(&x), values(&mean), values(&beta));
                affine_act(
                    norm_shape(&shape),
                    &xs,
                    &mean,
                    &scale,
                    &beta,
                    res.as_deref(),
                    relu,
                )
            },
        );
        tensor(out, shape)
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 2> for ConvBackward {
    type State = (FlexTensor, FlexTensor, ConvGeometry);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, w, geo) = ops.state;
        // Each gradient costs as many multiply-adds as the forward.
        let flops = 2.0 * geo.macs() * (node_x.is_some() as u8 + node_w.is_some() as u8) as f64;
        let (dx, dw) = timed(
            KernelOp::ConvBackward,
            || conv_label(&geo),
            flops,
            || {
                conv2d_backward(
                    &geo,
                    &values(&x),
                    &values(&w),
                    &values(&grad),
                    node_x.is_some(),
                    node_w.is_some(),
                )
            },
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, x.shape()));
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<Flex>(node.id, tensor(dw, w.shape()));
        }
    }
}

#[derive(Debug)]
struct NormBackward;

/// What the BatchNorm backward keeps: the input, the output when a ReLU masked it, gamma,
/// the batch statistics, epsilon and whether a residual was added.
type NormState = (
    FlexTensor,
    Option<FlexTensor>,
    FlexTensor,
    Vec<f32>,
    Vec<f32>,
    f64,
    bool,
);

impl Backward<Flex, 4> for NormBackward {
    type State = NormState;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta, node_res] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, output, gamma, mean, var, epsilon, has_residual) = ops.state;
        let shape = x.shape();
        let channels = shape[1];
        let want_residual = has_residual && node_res.is_some();
        let (dx, dgamma, dbeta, dres) = timed(
            KernelOp::NormBackward,
            || norm_label(&shape),
            0.0,
            || {
                let output_values = output.as_ref().map(values);
                batch_norm_backward(
                    norm_shape(&shape),
                    &values(&x),
                    output_values.as_deref(),
                    &values(&grad),
                    &values(&gamma),
                    &mean,
                    &var,
                    epsilon,
                    want_residual,
                )
            },
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, shape.clone()));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, [channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, [channels]));
        }
        if let (Some(node), Some(dres)) = (node_res, dres) {
            grads.register::<Flex>(node.id, tensor(dres, shape));
        }
    }
}

impl<C: CheckpointStrategy> CpuKernels for Autodiff<Flex, C> {
    fn conv2d_nchw(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride_h: usize,
        stride_w: usize,
        pad_h: usize,
        pad_w: usize,
    ) -> FloatTensor<Self> {
        let geo = geometry(
            &x.primitive().shape(),
            &weight.primitive().shape(),
            [stride_h, stride_w],
            [pad_h, pad_w],
        );
        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, wp) = (x.primitive().clone(), weight.primitive().clone());
                let out = flex_conv(&xp, &wp, &geo);
                prep.finish((xp, wp, geo), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(flex_conv(x.primitive(), weight.primitive(), &geo))
            }
        }
    }

    fn batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> NormOutput<Self> {
        let has_residual = residual.primitive().shape().num_elements() > 0;
        let channels = x.primitive().shape()[1];
        let (output, mean, var) = flex_norm(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            residual.primitive(),
            epsilon,
            relu,
        );
        let stats = |mean: &[f32], var: &[f32]| {
            (
                <Self as AutodiffBackend>::from_inner(tensor(mean.to_vec(), [channels])),
                <Self as AutodiffBackend>::from_inner(tensor(var.to_vec(), [channels])),
            )
        };
        let (mean_t, var_t) = stats(&mean, &var);
        let output = match NormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node(), residual.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let masked = relu.then(|| output.clone());
                let state = (
                    x.primitive().clone(),
                    masked,
                    gamma.primitive().clone(),
                    mean,
                    var,
                    epsilon,
                    has_residual,
                );
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        NormOutput {
            output,
            mean: mean_t,
            variance: var_t,
        }
    }
}
