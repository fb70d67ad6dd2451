#!/usr/bin/env python3
"""Independent PyTorch version of `supcon run`'s two-stage recipe, for cross-checking.

Runs, on the same CIFAR binary files, (1) SupCon pre-training then a linear probe on
cached features and (2) the cross-entropy baseline, with the settings `supcon run` uses
by default, prints the same kind of table and, as its last line, one JSON object.

    python3 scripts/reference_train.py --data cifar10:/work/shared/data/cifar10 \
        --epochs 20 --seed 0 [--threads 2] [--val-split F]

Only torch (CPU) is needed; no torchvision. Every setting below names where in the Rust
code it comes from (paths relative to the repository root).

Data
  * CIFAR binary layout: every `data_batch_*.bin` in the folder (sorted) is the training
    set, `test_batch.bin` the test set; records of 1 label byte + 3x1024 plane bytes
    (src/data/cifar.rs).
  * Normalisation: per-channel mean and *population* std of the training images in [0, 1]
    units, applied after augmentation (src/data/stats.rs `channel_mean_std`,
    src/data/batcher.rs).
  * Batches: reshuffled every epoch, the last partial batch dropped for the encoder
    stages (src/train/setup.rs `check_batch`, src/data/batcher.rs); the cached-feature
    probe keeps it (src/train/linear.rs, `div_ceil`).
  * `--val-split F` holds out a seeded random fraction F of the training set, trains on
    the rest and reports the held-out part in place of the test split, as `supcon run
    --val-split` does (not the same images: supcon's draw is class-stratified with its own
    generator).

Augmentation (SimAugment, src/augment/policy.rs `Augment::Sim`, src/augment/stages.rs),
the same for SupCon views and for the CE baseline (src/suite/plan.rs: `ce.augment =
pre.augment`):
  * RandomResizedCrop to 32x32, area scale (0.2, 1.0), ratio (3/4, 4/3) log-uniform,
    10 tries then a centre crop, bilinear (AugmentConfig::default `crop_scale`);
  * horizontal flip p 0.5;
  * ColorJitter(0.4, 0.4, 0.4, 0.1) with p 0.8, the four adjustments in random order
    (`ColorJitter::SIMCLR`);
  * RandomGrayscale p 0.2 (luma 0.299/0.587/0.114); no blur (`blur: false`).

Encoder `resnet-tiny` (src/model/resnet.rs `ResNetConfig::tiny`, the default encoder):
  conv3x3 stride 2 (compact stem) 3->16, BN, ReLU; Basic blocks [1,1,1,1] at widths
  16, 32, 64, 128 (strides 1, 2, 2, 2; 1x1 conv + BN shortcut when the shape changes);
  global average pool -> D = 128. Convs have no bias, Kaiming-normal fan-out init; BN
  eps 1e-5, momentum 0.1, gamma 1 (no zero-init residual).
Projection head (src/model/heads.rs `HeadConfig::default`): Linear(D, D), ReLU,
  Linear(D, 128), no BN, then L2 normalisation.

SupCon stage (src/train/pretrain_config.rs, src/suite/plan.rs):
  * 2 views per image, batch 128 images (256 views), 20 epochs (flags);
  * loss: SupCon L_out, temperature 0.1, scale temperature/base_temperature = 1, all views
    anchors, mean over anchors (src/loss/supcon.rs `SupConLossConfig::default`);
  * SGD momentum 0.9, dampening 0, no Nesterov, weight decay 1e-4 on *every* parameter
    incl. BN and biases (src/train/optim.rs `OptimizerConfig::default`, burn's
    WeightDecay adds wd*w to every gradient);
  * LR: base 0.125 per 256 images, linear batch scaling -> 0.0625 at batch 128, no
    warm-up, cosine per step down to 0.001 x peak at the last step
    (src/train/schedule.rs `lr_at`, `Decay::default`).
Linear probe (src/train/linear.rs `LinearConfig::default`, suite: 40 epochs):
  * features of un-augmented, normalised train/test images from the encoder in eval mode
    (BN running statistics), computed once (cached);
  * Linear(D, classes), batch 256, 40 epochs, SGD momentum 0.9, weight decay 0, LR 0.1
    (no batch scaling), cosine per step to 0.001 x peak.
Cross-entropy baseline (src/train/supervised.rs `SupervisedConfig::default`, suite plan):
  * the same encoder + Linear(D, classes), one augmented view, batch 128, same epochs;
  * SGD as the pre-training (plan copies `pre.optimizer`), LR 0.1 unscaled, cosine per
    step to 0.001 x peak, no warm-up.
Metrics: test top-1, top-5, ECE with 15 equal-width confidence bins, NLL
(src/metrics/calibration.rs).

Differences that remain by construction: random streams (initialisation, shuffling,
augmentation draws) are torch's, not the project's ChaCha streams; burn's BN running
variance update and PyTorch's (unbiased) differ slightly; bilinear resampling may differ
at the borders.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RECORD = 3073


# ----------------------------------------------------------------------------- data
def read_cifar(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 [N, 3, 32, 32] and labels int64 [N] of one CIFAR-10 binary file."""
    raw = open(path, "rb").read()
    if len(raw) % RECORD:
        sys.exit(f"{path}: {len(raw)} bytes is not a whole number of {RECORD}-byte records")
    buf = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, RECORD)
    return buf[:, 1:].reshape(-1, 3, 32, 32).clone(), buf[:, 0].long().clone()


def load(spec: str, val_split: float, seed: int):
    if not spec.startswith("cifar10:"):
        sys.exit(f"--data {spec}: expected cifar10:DIR")
    folder = spec.split(":", 1)[1]
    files = sorted(glob.glob(os.path.join(folder, "data_batch_*.bin")))
    test_file = os.path.join(folder, "test_batch.bin")
    if not files or not os.path.isfile(test_file):
        sys.exit(f"{folder}: expected data_batch_*.bin and test_batch.bin")
    parts = [read_cifar(f) for f in files]
    xtr = torch.cat([p[0] for p in parts])
    ytr = torch.cat([p[1] for p in parts])
    xte, yte = read_cifar(test_file)
    if val_split > 0:
        g = torch.Generator().manual_seed(seed + 7919)
        perm = torch.randperm(len(ytr), generator=g)
        n_val = int(round(len(ytr) * val_split))
        val, train = perm[:n_val], perm[n_val:]
        xte, yte = xtr[val], ytr[val]
        xtr, ytr = xtr[train], ytr[train]
    x = xtr.double() / 255.0
    mean = x.mean(dim=(0, 2, 3)).float()
    std = x.std(dim=(0, 2, 3), unbiased=False).float()
    return xtr, ytr, xte, yte, mean, std


# --------------------------------------------------------------------- augmentation
def crop_boxes(n: int, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), size=32):
    """torchvision RandomResizedCrop.get_params for n images: (top, left, h, w) each [n]."""
    area = size * size
    top = torch.zeros(n, dtype=torch.long)
    left = torch.zeros(n, dtype=torch.long)
    hh = torch.full((n,), size, dtype=torch.long)
    ww = torch.full((n,), size, dtype=torch.long)
    done = torch.zeros(n, dtype=torch.bool)
    logr = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        a = area * torch.empty(n).uniform_(*scale)
        r = torch.exp(torch.empty(n).uniform_(*logr))
        w = torch.round(torch.sqrt(a * r)).long()
        h = torch.round(torch.sqrt(a / r)).long()
        ok = (~done) & (w > 0) & (h > 0) & (w <= size) & (h <= size)
        t = (torch.rand(n) * (size - h + 1).clamp(min=1)).long()
        l_ = (torch.rand(n) * (size - w + 1).clamp(min=1)).long()
        top = torch.where(ok, t, top)
        left = torch.where(ok, l_, left)
        hh = torch.where(ok, h, hh)
        ww = torch.where(ok, w, ww)
        done |= ok
    # Fallback (rare at these ranges): the whole image, as torchvision's centre crop at
    # an in-range ratio of a square image.
    return top, left, hh, ww


def resized_crop(x: torch.Tensor, size=32) -> torch.Tensor:
    """Bilinear crop-and-resize of every image of x [N, C, S, S] to [N, C, size, size]."""
    n, _, s, _ = x.shape
    top, left, h, w = crop_boxes(n, size=s)
    # affine_grid maps output [-1, 1] to input coordinates (align_corners=False).
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = w.float() / s
    theta[:, 1, 1] = h.float() / s
    theta[:, 0, 2] = (2 * left.float() + w.float()) / s - 1
    theta[:, 1, 2] = (2 * top.float() + h.float()) / s - 1
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gray(x: torch.Tensor) -> torch.Tensor:
    """Luma [N, 1, H, W] of RGB x [N, 3, H, W]."""
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def rgb_to_hsv(x):
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    eqc = maxc == minc
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    crd = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = torch.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(x):
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.long() % 6
    p = (v * (1.0 - s)).clamp(0, 1)
    q = (v * (1.0 - s * f)).clamp(0, 1)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1)
    mask = i.unsqueeze(1) == torch.arange(6).view(-1, 1, 1)
    a1 = torch.stack((v, q, p, p, t, v), 1)
    a2 = torch.stack((t, v, v, q, p, p), 1)
    a3 = torch.stack((p, p, t, v, v, q), 1)
    a4 = torch.stack((a1, a2, a3), 1)
    return torch.einsum("...ijk,...xijk->...xjk", mask.to(x.dtype), a4)


def color_jitter(x, b=0.4, c=0.4, s=0.4, hue=0.1, p=0.8):
    """ColorJitter(b, c, s, hue) applied with probability p, per image random order."""
    n = x.shape[0]
    apply = torch.rand(n) < p
    order = torch.argsort(torch.rand(n, 4), dim=1)  # a random permutation per image
    fb = torch.empty(n).uniform_(max(0, 1 - b), 1 + b).view(n, 1, 1, 1)
    fc = torch.empty(n).uniform_(max(0, 1 - c), 1 + c).view(n, 1, 1, 1)
    fs = torch.empty(n).uniform_(max(0, 1 - s), 1 + s).view(n, 1, 1, 1)
    fh = torch.empty(n).uniform_(-hue, hue).view(n, 1, 1)
    out = x.clone()
    for k in range(4):
        op = order[:, k]
        for j in range(4):
            idx = ((op == j) & apply).nonzero().flatten()
            if idx.numel() == 0:
                continue
            y = out[idx]
            if j == 0:
                y = (y * fb[idx]).clamp(0, 1)
            elif j == 1:
                m = gray(y).mean(dim=(1, 2, 3), keepdim=True)
                y = (fc[idx] * y + (1 - fc[idx]) * m).clamp(0, 1)
            elif j == 2:
                y = (fs[idx] * y + (1 - fs[idx]) * gray(y)).clamp(0, 1)
            else:
                hsv = rgb_to_hsv(y)
                h = torch.fmod(hsv[:, 0] + fh[idx] + 1.0, 1.0)
                y = hsv_to_rgb(torch.stack((h, hsv[:, 1], hsv[:, 2]), 1))
            out[idx] = y
    return out


def sim_augment(x_u8: torch.Tensor, mean, std) -> torch.Tensor:
    """SimAugment of uint8 images [N, 3, 32, 32] -> normalised float [N, 3, 32, 32]."""
    x = x_u8.float() / 255.0
    x = resized_crop(x).clamp(0, 1)
    flip = (torch.rand(x.shape[0]) < 0.5).view(-1, 1, 1, 1)
    x = torch.where(flip, x.flip(3), x)
    x = color_jitter(x)
    g = (torch.rand(x.shape[0]) < 0.2).view(-1, 1, 1, 1)
    x = torch.where(g, gray(x).expand_as(x), x)
    return normalise(x, mean, std)


def normalise(x, mean, std):
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


# ---------------------------------------------------------------------------- model
class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetTiny(nn.Module):
    """resnet-tiny: compact stem, Basic [1,1,1,1], base width 16; [B,3,32,32] -> [B,128]."""

    def __init__(self, width=16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers, cin = [], width
        for i, w in enumerate(widths):
            layers.append(Basic(cin, w, 1 if i == 0 else 2))
            cin = w
        self.layers = nn.Sequential(*layers)
        self.dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layers(x).mean(dim=(2, 3))


class SupConNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = ResNetTiny()
        d = self.encoder.dim
        self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 128))

    def forward(self, x):
        return F.normalize(self.head(self.encoder(x)), dim=1)


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, tau=0.1) -> torch.Tensor:
    """SupCon L_out. z [V*B, 128] unit rows (view-major), labels [V*B]; mean over anchors."""
    n = z.shape[0]
    logits = z @ z.t() / tau
    self_mask = torch.eye(n, dtype=torch.bool)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (labels.view(-1, 1) == labels.view(1, -1)) & ~self_mask
    mean_log_pos = log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1).clamp(min=1)
    return -mean_log_pos.mean()


# ------------------------------------------------------------------------- training
def cosine_lr(peak, step, total, final_fraction=0.001, warmup_steps=0, warmup_start=0.01):
    """src/train/schedule.rs `lr_at`: linear warm-up, then cosine to peak*final_fraction."""
    if step < warmup_steps:
        start = peak * warmup_start
        return start + (peak - start) * step / warmup_steps
    span = max(total - warmup_steps, 1)
    prog = min(max((step - warmup_steps) / span, 0.0), 1.0)
    low = peak * final_fraction
    return low + (peak - low) * 0.5 * (1 + math.cos(math.pi * prog))


def train_encoder(kind, net, xtr, ytr, mean, std, epochs, batch, peak, warmup, log):
    """SupCon ('supcon', net = SupConNet) or CE ('ce', net = (encoder, classifier))."""
    params = list(net.parameters())
    opt = torch.optim.SGD(params, lr=peak, momentum=0.9, weight_decay=1e-4)
    spe = len(ytr) // batch
    total = spe * epochs
    step, first_epoch_loss = 0, None
    net.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(ytr))
        tot = 0.0
        for i in range(spe):
            idx = perm[i * batch : (i + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]
            for g in opt.param_groups:
                g["lr"] = cosine_lr(peak, step, total, warmup_steps=warmup * spe)
            if kind == "supcon":
                views = torch.cat([sim_augment(xb, mean, std), sim_augment(xb, mean, std)])
                loss = supcon_loss(net(views), yb.repeat(2))
            else:
                loss = F.cross_entropy(net(sim_augment(xb, mean, std)), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += loss.item()
            step += 1
            if (i + 1) % 20 == 0:
                log(f"    {kind} epoch {epoch + 1} step {i + 1}/{spe} loss {loss.item():.4f}")
        mean_loss = tot / spe
        if first_epoch_loss is None:
            first_epoch_loss = mean_loss
        log(f"  {kind} epoch {epoch + 1}/{epochs} loss {mean_loss:.4f}")
    return first_epoch_loss, mean_loss


@torch.no_grad()
def features(encoder, x_u8, mean, std):
    encoder.eval()
    out = [encoder(normalise(x_u8[i : i + 500].float() / 255.0, mean, std))
           for i in range(0, len(x_u8), 500)]
    return torch.cat(out)


def metrics(logits: torch.Tensor, y: torch.Tensor) -> dict:
    prob = logits.softmax(1)
    conf, pred = prob.max(1)
    top1 = (pred == y).double().mean().item()
    top5 = (logits.topk(min(5, logits.shape[1]), 1).indices == y.view(-1, 1)).any(1)
    ece = 0.0
    bins = torch.linspace(0, 1, 16)
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            acc = (pred[m] == y[m]).double().mean()
            ece += m.double().mean().item() * abs(conf[m].double().mean() - acc).item()
    nll = F.cross_entropy(logits.double(), y).item()
    return {"top1": top1, "top5": top5.double().mean().item(), "ece": ece, "nll": nll}


def linear_probe(ftr, ytr, fte, yte, classes, epochs=40, batch=256, peak=0.1):
    clf = nn.Linear(ftr.shape[1], classes)
    opt = torch.optim.SGD(clf.parameters(), lr=peak, momentum=0.9, weight_decay=0.0)
    spe = math.ceil(len(ytr) / batch)
    total, step = spe * epochs, 0
    for _ in range(epochs):
        perm = torch.randperm(len(ytr))
        for i in range(spe):
            idx = perm[i * batch : (i + 1) * batch]
            for g in opt.param_groups:
                g["lr"] = cosine_lr(peak, step, total)
            loss = F.cross_entropy(clf(ftr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    with torch.no_grad():
        return metrics(clf(fte), yte)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="cifar10:DIR")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--linear-epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=None,
                    help="SupCon peak LR (default 0.125*B/256, the project's)")
    ap.add_argument("--warmup-epochs", type=float, default=0.0)
    ap.add_argument("--val-split", type=float, default=0.0,
                    help="hold out this fraction of the training set and report on it")
    ap.add_argument("--only", choices=["supcon", "ce"], default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    xtr, ytr, xte, yte, mean, std = load(a.data, a.val_split, a.seed)
    classes = int(ytr.max().item()) + 1
    split = "val" if a.val_split > 0 else "test"
    peak = a.lr if a.lr is not None else 0.125 * a.batch_size / 256
    results = {}
    if a.only in (None, "supcon"):
        t0 = time.time()
        net = SupConNet()
        first, last = train_encoder("supcon", net, xtr, ytr, mean, std, a.epochs,
                                    a.batch_size, peak, a.warmup_epochs, log)
        ftr = features(net.encoder, xtr, mean, std)
        fte = features(net.encoder, xte, mean, std)
        m = linear_probe(ftr, ytr, fte, yte, classes, a.linear_epochs)
        m.update(seconds=time.time() - t0, first_epoch_loss=first, final_loss=last)
        results["supcon"] = m
    if a.only in (None, "ce"):
        t0 = time.time()
        enc = ResNetTiny()
        net = nn.Sequential(enc, nn.Linear(enc.dim, classes))
        first, last = train_encoder("ce", net, xtr, ytr, mean, std, a.epochs,
                                    a.batch_size, 0.1, 0.0, log)
        net.eval()
        with torch.no_grad():
            logits = torch.cat([net(normalise(xte[i:i + 500].float() / 255.0, mean, std))
                                for i in range(0, len(xte), 500)])
        m = metrics(logits, yte)
        m.update(seconds=time.time() - t0, first_epoch_loss=first, final_loss=last)
        results["ce"] = m
    print(f"data {a.data} | encoder resnet-tiny (torch) | {a.epochs} epochs, batch "
          f"{a.batch_size} | seed {a.seed} | split {split}")
    print(f"{'method':<18}{'top-1':>8}{'top-5':>8}{'ECE':>8}{'NLL':>8}{'time':>9}")
    names = {"supcon": "SupCon + linear", "ce": "cross-entropy"}
    for k, m in results.items():
        print(f"{names[k]:<18}{100 * m['top1']:>7.2f}%{100 * m['top5']:>7.2f}%"
              f"{m['ece']:>8.4f}{m['nll']:>8.4f}{m['seconds']:>8.0f}s")
    print(json.dumps({"impl": "pytorch", "data": a.data, "epochs": a.epochs,
                      "batch_size": a.batch_size, "seed": a.seed, "split": split,
                      "supcon_lr": peak, "warmup_epochs": a.warmup_epochs,
                      "results": results}))


if __name__ == "__main__":
    main()
