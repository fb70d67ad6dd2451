#!/usr/bin/env python3
"""Writes tests/fixtures/torchvision/: small torchvision-layout ResNet checkpoints and the
logits and features PyTorch computes with them, for `tests/torchvision_init.rs`.

torchvision's own ResNets are 64 channels wide at the stem (11.7 M parameters for
ResNet-18, 45 MB): too large to check in. This script builds the same modules with the same
state-dict names (`conv1`, `bn1`, `layerN.I.convK`, `layerN.0.downsample.0/1`, `fc`) but a
narrower base width, which supcon's `ResNetConfig::with_base_width` matches. The
torchvision code is copied (BasicBlock, Bottleneck "v1.5" with the stride on the 3x3
convolution, 7x7/2 stem + 3x3/2 max-pool, global average pool, `fc`); with torchvision
installed the script checks that its state-dict names and shapes equal
`torchvision.models.resnet18()` / `resnet50()`'s at base width 64.

Files (run from the repository root, needs only torch; nothing is downloaded):

    nice -n 19 python3 scripts/make_torchvision_fixture.py tests/fixtures/torchvision

- `resnet18_w4.pth`        ResNet-18 at base width 4, `torch.save(model.state_dict())`
- `resnet18_w4.safetensors` the same state dict as safetensors (written by hand below, so
                            the `safetensors` package is not needed; same layout)
- `resnet50_w2.pth`        ResNet-50 at base width 2 (Bottleneck blocks)
- `expected.json`          per model: the input rule, logits `[2, 10]` and features
                            `[2, D]` (before `fc`) in eval mode (BatchNorm on running stats)

Every parameter and BatchNorm running statistic is random (seeded), so a tensor loaded into
the wrong place changes the output. The input is computed, not stored: element `i` of the
flattened `[2, 3, 32, 32]` tensor is `sin(0.37 * i) + 0.25 * cos(0.011 * i)` (the test
computes the same).
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn

NUM_CLASSES = 10
INPUT_SHAPE = (2, 3, 32, 32)


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet with `self.inplanes = 64` made a parameter."""

    def __init__(self, block, layers, base_width=64, num_classes=1000):
        super().__init__()
        self.inplanes = base_width
        self.conv1 = nn.Conv2d(3, base_width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, base_width, layers[0])
        self.layer2 = self._make_layer(block, 2 * base_width, layers[1], 2)
        self.layer3 = self._make_layer(block, 4 * base_width, layers[2], 2)
        self.layer4 = self._make_layer(block, 8 * base_width, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * base_width * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x):
        return self.fc(self.features(x))


ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


def randomise(model, generator):
    """Random weights and BatchNorm statistics (a fresh model's BatchNorms are 1/0)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.num_batches_tracked.fill_(7)
            elif isinstance(module, (nn.Conv2d, nn.Linear)):
                w = module.weight
                fan_in = w[0].numel()
                w.copy_(torch.randn(w.shape, generator=generator) * math.sqrt(2.0 / fan_in))
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))


def fixture_input():
    n = math.prod(INPUT_SHAPE)
    i = torch.arange(n, dtype=torch.float64)
    x = torch.sin(0.37 * i) + 0.25 * torch.cos(0.011 * i)
    return x.to(torch.float32).reshape(INPUT_SHAPE)


def save_safetensors(state_dict, path):
    """The safetensors format: u64 LE header length, JSON header, raw little-endian data."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name, tensor in state_dict.items():
        data = bytes(tensor.detach().contiguous().cpu().flatten().view(torch.uint8).tolist())
        header[name] = {
            "dtype": dtypes[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def check_against_torchvision():
    try:
        import torchvision.models as tv
    except ImportError:
        print("torchvision not installed: layout not cross-checked", file=sys.stderr)
        return
    for arch, (block, layers) in ARCHS.items():
        ours = {k: tuple(v.shape) for k, v in ResNet(block, layers).state_dict().items()}
        theirs = {k: tuple(v.shape) for k, v in getattr(tv, arch)().state_dict().items()}
        assert ours == theirs, f"{arch}: layout differs from torchvision"
    print("layout equals torchvision's", file=sys.stderr)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/torchvision"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    check_against_torchvision()
    x = fixture_input()
    expected = {
        "about": "made by scripts/make_torchvision_fixture.py (see its docstring)",
        "command": "nice -n 19 python3 scripts/make_torchvision_fixture.py tests/fixtures/torchvision",
        "torch": torch.__version__,
        "input": {"shape": list(INPUT_SHAPE), "rule": "x[i] = sin(0.37 i) + 0.25 cos(0.011 i)"},
        "models": {},
    }
    for arch, width, formats in [
        ("resnet18", 4, ["pth", "safetensors"]),
        ("resnet50", 2, ["pth"]),
    ]:
        block, layers = ARCHS[arch]
        generator = torch.Generator().manual_seed(1000 + width)
        model = ResNet(block, layers, base_width=width, num_classes=NUM_CLASSES)
        randomise(model, generator)
        model.eval()
        with torch.no_grad():
            features = model.features(x)
            logits = model.fc(features)
        stem = f"{arch}_w{width}"
        state = model.state_dict()
        for fmt in formats:
            path = os.path.join(out, f"{stem}.{fmt}")
            if fmt == "pth":
                torch.save(state, path)
            else:
                save_safetensors(state, path)
        expected["models"][stem] = {
            "arch": arch,
            "base_width": width,
            "num_classes": NUM_CLASSES,
            "files": [f"{stem}.{fmt}" for fmt in formats],
            "features_shape": list(features.shape),
            "features": [float(v) for v in features.flatten()],
            "logits": [float(v) for v in logits.flatten()],
        }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
