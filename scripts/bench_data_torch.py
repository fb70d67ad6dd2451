#!/usr/bin/env python3
"""Test JPEGs for the data-loading benchmark, and its torchvision counterpart.

  python3 scripts/bench_data_torch.py make /tmp/jpegs --images 3000
  python3 scripts/bench_data_torch.py run /tmp/jpegs --workers 2 --batch 64
  supcon bench data --data 'folder:/tmp/jpegs?size=224&cache=none' --threads 2 --batch 64

`make` writes DIR/train/classK/NNNNN.jpg (and a few DIR/val/ images): photo-like JPEGs
(smooth gradients, shapes and texture; quality 90) with sides drawn from 300-500 px.
`run` times torchvision's ImageFolder + DataLoader(num_workers=W, shuffle) with
RandomResizedCrop(224) + RandomHorizontalFlip + ToTensor + Normalize, the pipeline of
`supcon bench data` (policy crop, crop_min 0.08); the clock starts when the first batch
arrives (worker start-up left out, as in the Rust bench). One JSON line like the Rust
bench. Needs torch, torchvision, pillow and numpy (`pip install torchvision`).
"""
import argparse
import json
import os
import resource
import time


def make(a):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(a.seed)
    per_class = a.images // a.classes
    for split, count in (("train", per_class), ("val", 2)):
        for c in range(a.classes):
            d = os.path.join(a.dir, split, f"class{c:02d}")
            os.makedirs(d, exist_ok=True)
            for i in range(count):
                w, h = (int(v) for v in rng.integers(a.min, a.max + 1, size=2))
                y, x = np.mgrid[0:h, 0:w].astype(np.float32)
                base = rng.uniform(0, 255, size=3)
                slope = rng.uniform(-0.6, 0.6, size=(3, 2))
                img = np.stack(
                    [base[k] + slope[k, 0] * x + slope[k, 1] * y for k in range(3)], axis=-1
                )
                cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 150)
                disc = ((x - cx) ** 2 + (y - cy) ** 2) < r * r
                img[disc] = rng.uniform(0, 255, size=3)
                img += rng.normal(0, 12, size=img.shape)
                img = np.clip(img, 0, 255).astype(np.uint8)
                Image.fromarray(img).save(os.path.join(d, f"{i:05d}.jpg"), quality=90)
    print(json.dumps({"dir": a.dir, "train_images": per_class * a.classes}))


def run(a):
    import torch
    from torchvision import datasets, transforms

    t = transforms.Compose(
        [
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    ds = datasets.ImageFolder(os.path.join(a.dir, "train"), transform=t)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=a.batch, shuffle=True, num_workers=a.workers, drop_last=True
    )
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    images = batches = 0
    for x, _ in it:
        images += x.shape[0]
        batches += 1
        if a.batches and batches == a.batches:
            break
    secs = time.perf_counter() - start
    print(
        json.dumps(
            {
                "bench": "data-torchvision",
                "dir": a.dir,
                "workers": a.workers,
                "batch": a.batch,
                "images": images,
                "seconds": secs,
                "imgs_per_s": images / secs,
                "torch": torch.__version__,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            }
        )
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write the test JPEGs")
    m.add_argument("dir")
    m.add_argument("--images", type=int, default=3000)
    m.add_argument("--classes", type=int, default=10)
    m.add_argument("--min", type=int, default=300)
    m.add_argument("--max", type=int, default=500)
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run", help="time torchvision's loader")
    r.add_argument("dir")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--batches", type=int, default=0, help="0: the rest of the epoch")
    a = p.parse_args()
    make(a) if a.cmd == "make" else run(a)


if __name__ == "__main__":
    main()
