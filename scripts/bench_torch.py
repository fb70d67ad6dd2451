#!/usr/bin/env python3
"""PyTorch CPU counterparts of `supcon bench loss` and `supcon bench step`, for side-by-side
figures. Not a dependency of the project: `pip install torch` to run it.

  python3 scripts/bench_torch.py loss --batch 4096 --dim 128 --views 2
  python3 scripts/bench_torch.py step --batch 128 [--model resnet18|resnet50|resnet-tiny]
  python3 scripts/bench_torch.py step --batch 128 --forward-only

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


class Bottleneck(nn.Module):
    """torchvision's v1.5 Bottleneck (stride on the 3x3), expansion 4."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * 4
        self.c1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.b1 = nn.BatchNorm2d(planes)
        self.c2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.b2 = nn.BatchNorm2d(planes)
        self.c3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.b3 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = F.relu(self.b2(self.c2(y)))
        y = self.b3(self.c3(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


# name -> (block, blocks per stage, base width, stem stride): `supcon`'s presets.
MODELS = {
    "resnet18": (Basic, [2, 2, 2, 2], 64, 1),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 64, 1),
    "resnet-tiny": (Basic, [1, 1, 1, 1], 16, 2),
}


class ResNetCifar(nn.Module):
    """torchvision's ResNet with the CIFAR stem (3x3 conv, stride 1; stride 2 for
    `resnet-tiny`'s compact stem; no max-pool), as `supcon`'s presets, plus SupCon's MLP head
    (D -> D -> 128)."""

    def __init__(self, name="resnet18"):
        super().__init__()
        block, blocks, width, stem_stride = MODELS[name]
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stem_stride, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        expansion = 4 if block is Bottleneck else 1
        layers, cin = [], width
        for stage, n in enumerate(blocks):
            planes = width << stage
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(block(cin, planes, stride))
                cin = planes * expansion
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(cin, cin), nn.ReLU(), nn.Linear(cin, 128))

    def encode(self, x):
        x = self.layers(self.stem(x))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        return F.normalize(self.head(self.encode(x)), dim=1)


ResNet18Cifar = ResNetCifar


def bench_step(a):
    torch.manual_seed(0)
    model = ResNetCifar(a.model)
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
    if a.profile:
        # Where PyTorch's step spends its time, per operator (self CPU time), next to
        # `supcon bench step --profile`.
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(a.reps):
                x = torch.randn(n, 3, a.size, a.size)
                z = model(x).view(a.views, a.batch, -1).transpose(0, 1)
                loss = supcon_reference(z, labels)
                opt.zero_grad()
                loss.backward()
                opt.step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
    print(json.dumps({"bench": "step", "impl": "pytorch", "model": a.model,
                      "batch": a.batch, "views": a.views, "size": a.size,
                      "imgs_per_s": n / secs, "ms_per_step": secs * 1000,
                      "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


def bench_forward(a):
    """The no-grad forward of the evaluation model (`supcon bench step --forward-only`):
    `--views * --batch` images through the encoder in eval mode."""
    torch.manual_seed(0)
    model = ResNetCifar(a.model).eval()
    n = a.views * a.batch
    times = []
    with torch.no_grad():
        for i in range(a.reps + 2):
            x = torch.randn(n, 3, a.size, a.size)
            t = time.perf_counter()
            f = model.encode(x)
            _ = f.sum().item()
            if i >= 2:
                times.append(time.perf_counter() - t)
    secs = statistics.median(times)
    print(json.dumps({"bench": "forward", "impl": "pytorch", "model": a.model, "batch": n,
                      "size": a.size, "imgs_per_s": n / secs, "ms_per_batch": secs * 1000,
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
    s.add_argument("--model", choices=sorted(MODELS), default="resnet18")
    s.add_argument("--profile", action="store_true",
                   help="also print torch.profiler's per-operator table of --reps steps")
    s.add_argument("--forward-only", action="store_true",
                   help="time the no-grad forward of the encoder in eval mode")
    a = p.parse_args()
    if a.cmd == "loss":
        bench_loss(a)
    elif a.forward_only:
        bench_forward(a)
    else:
        bench_step(a)


if __name__ == "__main__":
    main()
