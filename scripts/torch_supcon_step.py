#!/usr/bin/env python3
"""PyTorch's equivalent of `supcon bench step`: one SupCon training step of a CIFAR-style
ResNet (3x3 stem, no max-pool) + MLP head (D -> D -> 128, L2-normalised), SupCon L_out loss
(tau 0.1), SGD (lr 0.01, momentum 0.9, weight decay 1e-4), on random 32x32 images,
`batch` images x `views` views. Prints one JSON line per (model, precision) with the same
fields as `supcon bench step` (imgs_per_s counts views), so the ratio comes from one run.

Used by scripts/gpu-check.sh on the GPU machine; needs torch (torchvision optional: a
hand-written ResNet of the same shape is used without it).

    python3 scripts/torch_supcon_step.py --model resnet18 resnet50 --batch 128 --steps 5
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- a hand-written torchvision-shaped ResNet, for machines without torchvision -----------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class HandResNet(nn.Module):
    def __init__(self, block, layers):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        stages, cin = [], 64
        for i, n in enumerate(layers):
            width = 64 * 2**i
            for j in range(n):
                stages.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.out_dim = cin

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.stages(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def encoder(name):
    """(module, feature dim, which implementation)."""
    try:
        import torchvision

        net = getattr(torchvision.models, name)(weights=None)
        net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
        dim = net.fc.in_features
        net.fc = nn.Identity()
        return net, dim, f"torchvision {torchvision.__version__}"
    except ImportError:
        block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]),
                         "resnet50": (Bottleneck, [3, 4, 6, 3])}[name]
        net = HandResNet(block, layers)
        return net, net.out_dim, "hand-written"


class SupConModel(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.encoder, dim, self.impl = encoder(name)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, 128))

    def forward(self, x):
        return F.normalize(self.head(self.encoder(x)), dim=1)


def supcon_loss(z, labels, tau=0.1):
    """SupCon L_out, contrast mode 'all' (Khosla et al. eq. 2). z: [V*B, P] view-major."""
    n = z.shape[0]
    views = n // labels.shape[0]
    lab = labels.repeat(views)
    logits = z @ z.T / tau
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (lab[:, None] == lab[None, :]) & ~self_mask
    mean_log_pos = log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1).clamp(min=1)
    return -mean_log_pos.mean()


def bench(name, batch, views, size, steps, tf32, device):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    torch.manual_seed(0)
    model = SupConModel(name).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    labels = torch.arange(batch, device=dev) % 10
    n = views * batch
    if cuda:
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for i in range(steps + 2):
        x = torch.randn(n, 3, size, size, device=dev)
        sync()
        t = time.perf_counter()
        loss = supcon_loss(model(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        sync()
        if i >= 2:
            times.append(time.perf_counter() - t)
    secs = statistics.median(times)
    return {"bench": "step", "impl": "pytorch", "model": name, "batch": batch, "views": views,
            "size": size, "imgs_per_s": n / secs, "ms_per_step": secs * 1000.0,
            "precision": "tf32" if tf32 else "fp32",
            "peak_allocated_mb": torch.cuda.max_memory_allocated(dev) / 2**20 if cuda else None,
            "peak_reserved_mb": torch.cuda.max_memory_reserved(dev) / 2**20 if cuda else None,
            "loss": float(loss.item()), "resnet": model.impl, "torch": torch.__version__,
            "device": torch.cuda.get_device_name(dev) if cuda else "cpu"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", nargs="+", default=["resnet18"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--views", type=int, default=2)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="cuda", help="cuda | cpu (cpu: a smoke test only)")
    a = p.parse_args()
    for name in a.model:
        # Strict fp32 first (what burn's f32 kernels compute), then PyTorch's defaults
        # (cuDNN convolutions in TF32).
        for tf32 in (False, True) if a.device != "cpu" else (False,):
            print(json.dumps(bench(name, a.batch, a.views, a.size, a.steps, tf32, a.device)),
                  flush=True)


if __name__ == "__main__":
    main()
