#!/usr/bin/env python3
"""PyTorch CPU counterparts of `supcon bench loss` and `supcon bench step`, for side-by-side
figures. Not a dependency of the project: `pip install torch` to run it.

  python3 scripts/bench_torch.py loss --batch 4096 --dim 128 --views 2
  python3 scripts/bench_torch.py step --batch 128

Each prints one JSON line like the Rust benches (ms = median over --reps after a warm-up,
peak_rss_mb = this process's peak resident set size).
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def supcon_reference(features, labels, temperature=0.1, base_temperature=0.1):
    """The public reference formulation (SupContrast's SupConLoss, contrast mode 'all'),
    written out here: full (views*batch)^2 logits, row max including self, self masked."""
    bsz, n_views = features.shape[0], features.shape[1]
    labels = labels.view(-1, 1)
    mask = torch.eq(labels, labels.T).float()
    contrast = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor = contrast
    logits = torch.div(anchor @ contrast.T, temperature)
    logits_max, _ = torch.max(logits, dim=1, keepdim=True)
    logits = logits - logits_max.detach()
    mask = mask.repeat(n_views, n_views)
    n = bsz * n_views
    logits_mask = torch.ones_like(mask) - torch.eye(n)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    pos = mask.sum(1)
    pos = torch.where(pos < 1e-6, torch.ones_like(pos), pos)
    mean_log_prob_pos = (mask * log_prob).sum(1) / pos
    return (-(temperature / base_temperature) * mean_log_prob_pos).mean()


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_loss(a):
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(a.batch, a.views, a.dim, generator=g), dim=-1)
    labels = torch.arange(a.batch) * 7919 % a.classes
    times = []
    for rep in range(a.reps + 1):
        f = x.clone().requires_grad_(True)
        t = time.perf_counter()
        loss = supcon_reference(f, labels)
        loss.backward()
        _ = f.grad.sum().item()
        if rep:
            times.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"bench": "loss", "impl": "pytorch-reference", "batch": a.batch,
                      "views": a.views, "dim": a.dim, "ms": statistics.median(times),
                      "peak_rss_mb": peak_rss_mb(), "loss": loss.item(),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet18Cifar(nn.Module):
    """torchvision's ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no max-pool), as
    `supcon`'s `resnet18 --stem cifar`, plus SupCon's MLP head to 128."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Basic(cin, cout, stride), Basic(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 128))

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return F.normalize(self.head(x), dim=1)


def bench_step(a):
    torch.manual_seed(0)
    model = ResNet18Cifar()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    n = a.views * a.batch
    labels = torch.arange(a.batch) % 10
    times = []
    for i in range(a.reps + 2):
        x = torch.randn(n, 3, a.size, a.size)
        t = time.perf_counter()
        z = model(x).view(a.views, a.batch, -1).transpose(0, 1)
        loss = supcon_reference(z, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _ = loss.item()
        if i >= 2:
            times.append(time.perf_counter() - t)
    secs = statistics.median(times)
    print(json.dumps({"bench": "step", "impl": "pytorch", "model": "resnet18-cifar",
                      "batch": a.batch, "views": a.views, "size": a.size,
                      "imgs_per_s": n / secs, "ms_per_step": secs * 1000,
                      "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("loss")
    l.add_argument("--batch", type=int, default=4096)
    l.add_argument("--dim", type=int, default=128)
    l.add_argument("--views", type=int, default=2)
    l.add_argument("--classes", type=int, default=100)
    l.add_argument("--reps", type=int, default=5)
    s = sub.add_parser("step")
    s.add_argument("--batch", type=int, default=128)
    s.add_argument("--views", type=int, default=2)
    s.add_argument("--size", type=int, default=32)
    s.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    bench_loss(a) if a.cmd == "loss" else bench_step(a)


if __name__ == "__main__":
    main()
