#!/usr/bin/env python3
"""Float64 PyTorch reference values for the CPU kernels (`src/kernels/`), written to
`tests/fixtures/kernels.json`. Regenerate with:

  python3 scripts/kernel_fixtures.py > tests/fixtures/kernels.json

Inputs are drawn in float32 (so the Rust side reads them exactly) and every reference value is
computed in float64 by `torch.nn.functional` (conv2d, batch_norm in training mode, relu) and
`torch.autograd`. Not a dependency of the project: `pip install torch` to run it.
"""
import json

import torch
import torch.nn.functional as F

torch.manual_seed(2020)


def draw(*shape):
    return torch.randn(*shape, dtype=torch.float32).to(torch.float64)


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def conv_case(n, c, h, w, k, kernel, stride, pad):
    x = draw(n, c, h, w).requires_grad_(True)
    wt = (draw(k, c, kernel, kernel) * 0.3).requires_grad_(True)
    y = F.conv2d(x, wt, stride=stride, padding=pad)
    dy = draw(*y.shape)
    dx, dw = torch.autograd.grad(y, (x, wt), dy)
    return {"x_shape": list(x.shape), "w_shape": list(wt.shape), "stride": stride,
            "padding": pad, "x": flat(x), "w": flat(wt), "dy": flat(dy),
            "y_shape": list(y.shape), "y": flat(y), "dx": flat(dx), "dw": flat(dw)}


def norm_case(n, c, h, w, relu, residual, eps=1e-5):
    x = (draw(n, c, h, w) * 2.0 + 0.5).requires_grad_(True)
    gamma = (draw(c) * 0.5 + 1.0).requires_grad_(True)
    beta = (draw(c) * 0.5).requires_grad_(True)
    res = draw(n, c, h, w).requires_grad_(True)
    y = F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
    if residual:
        y = y + res
    if relu:
        y = F.relu(y)
    dy = draw(*y.shape)
    inputs = (x, gamma, beta, res) if residual else (x, gamma, beta)
    grads = torch.autograd.grad(y, inputs, dy)
    mean = x.mean(dim=(0, 2, 3))
    var = x.var(dim=(0, 2, 3), unbiased=False)
    case = {"shape": [n, c, h, w], "relu": relu, "residual": residual, "eps": eps,
            "x": flat(x), "gamma": flat(gamma), "beta": flat(beta), "dy": flat(dy),
            "y": flat(y), "dx": flat(grads[0]), "dgamma": flat(grads[1]),
            "dbeta": flat(grads[2]), "mean": flat(mean), "var": flat(var)}
    if residual:
        case["res"] = flat(res)
        case["dres"] = flat(grads[3])
    return case


def main():
    conv = [
        conv_case(2, 3, 5, 5, 4, 3, 1, 1),
        conv_case(1, 5, 7, 6, 3, 3, 2, 1),
        conv_case(3, 4, 4, 4, 6, 1, 2, 0),
        conv_case(2, 6, 3, 3, 5, 1, 1, 0),
        conv_case(1, 2, 9, 9, 3, 7, 2, 3),
        # Stride 1, maps 8 wide or more: the direct kernel (forward, data and weight gradient).
        conv_case(3, 9, 8, 10, 7, 3, 1, 1),
        conv_case(2, 5, 9, 8, 6, 3, 1, 0),
    ]
    norm = [
        norm_case(3, 4, 3, 3, relu=True, residual=False),
        norm_case(2, 5, 2, 3, relu=True, residual=True),
        norm_case(4, 3, 1, 1, relu=False, residual=False),
    ]
    print(json.dumps({"generated_by": "python3 scripts/kernel_fixtures.py",
                      "torch": torch.__version__, "conv": conv, "norm": norm}))


if __name__ == "__main__":
    main()
