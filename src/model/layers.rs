//! The forward passes of burn's `Conv2d` and `BatchNorm` modules through the project's CPU
//! kernels ([`crate::kernels`]) where they apply, and through burn's own operations
//! elsewhere (the GPU, other dtypes, layouts the kernels do not take, or the kernels turned
//! off). The modules, their parameters and their saved form stay burn's.

use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, PaddingConfig2d};
use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use crate::kernels;

/// The symmetric padding `[ph, pw]` of a convolution the kernels compute, or `None`.
fn kernel_padding(conv: &Conv2d, x: &Tensor<4>) -> Option<[usize; 2]> {
    if conv.bias.is_some() || conv.dilation != [1, 1] || conv.groups != 1 {
        return None;
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [0, 0],
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => {
            [top, left]
        }
        _ => return None,
    };
    let [_, channels, height, width] = x.dims();
    let [_, weight_channels, kh, kw] = conv.weight.dims();
    let fits = channels == weight_channels
        && conv.stride[0] > 0
        && conv.stride[1] > 0
        && height + 2 * padding[0] >= kh
        && width + 2 * padding[1] >= kw;
    (fits && kernels::applies(x)).then_some(padding)
}

/// `conv.forward(x)`.
///
/// # Shapes
/// - `x`: `[B, C_in, H, W]`
/// - returns: `[B, C_out, H', W']`
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match kernel_padding(conv, &x) {
        Some(padding) => kernels::conv2d(x, conv.weight.val(), conv.stride, padding),
        None => conv.forward(x),
    }
}

/// `relu(bn.forward(x) + residual)`, without the ReLU when `apply_relu` is false and without
/// the sum when `residual` is `None`. Running statistics are updated as `BatchNorm::forward`
/// updates them.
///
/// # Shapes
/// - `x`, `residual`: `[B, C, H, W]`
/// - returns: `[B, C, H, W]`
pub fn batch_norm(
    bn: &BatchNorm,
    x: Tensor<4>,
    residual: Option<Tensor<4>>,
    apply_relu: bool,
) -> Tensor<4> {
    let channels = bn.gamma.dims()[0];
    if !kernels::applies(&x) || x.dims()[1] != channels {
        let out = bn.forward(x);
        let out = match residual {
            Some(r) => out + r,
            None => out,
        };
        return if apply_relu { relu(out) } else { out };
    }
    let device = x.device();
    if device.is_autodiff() && bn.training.is_enabled() {
        let (out, mean, variance) = kernels::batch_norm_train(
            x,
            bn.gamma.val(),
            bn.beta.val(),
            residual,
            bn.epsilon,
            apply_relu,
        );
        // The running statistics, exactly as burn's `BatchNorm::forward` updates them.
        let running_mean = bn.running_mean.value_sync().to_device(&device);
        let running_var = bn.running_var.value_sync().to_device(&device);
        let running_mean = running_mean
            .mul_scalar(1.0 - bn.momentum)
            .add(mean.detach().mul_scalar(bn.momentum));
        let running_var = running_var
            .mul_scalar(1.0 - bn.momentum)
            .add(variance.detach().mul_scalar(bn.momentum));
        bn.running_mean.update(running_mean.detach());
        bn.running_var.update(running_var.detach());
        out
    } else {
        kernels::batch_norm_eval(
            x,
            bn.gamma.val(),
            bn.beta.val(),
            bn.running_mean.value().to_device(&device),
            bn.running_var.value().to_device(&device),
            residual,
            bn.epsilon,
            apply_relu,
        )
    }
}
