#!/usr/bin/env python3
"""Builds the embedded default dataset of `supcon` (assets/builtin/).

A stratified, seeded subset of Fashion-MNIST (Zalando Research, MIT licence):
PER_CLASS_TRAIN images of every class from the training set and PER_CLASS_TEST
of every class from the test set, written as gzip IDX files with the official
file names. Selected images keep their original relative order.

Python standard library only; the output is byte-for-byte reproducible
(fixed seed, gzip mtime 0).

Usage:
    python3 scripts/make_builtin.py [SOURCE_DIR] [OUT_DIR]

SOURCE_DIR defaults to /usr/share/datasets/fashion-mnist (Debian package
dataset-fashion-mnist), OUT_DIR to assets/builtin next to this script's parent.
"""

import gzip
import os
import random
import struct
import sys

SEED = 20200523
PER_CLASS_TRAIN = 500
PER_CLASS_TEST = 100
NUM_CLASSES = 10


def read_idx(path, ndims):
    """Returns (dims, data bytes) of a gzip or raw unsigned-byte IDX file."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != (0x08 << 8 | ndims):
        sys.exit(f"{path}: wrong magic 0x{magic:08x}")
    dims = struct.unpack(">" + "I" * ndims, raw[4:4 + 4 * ndims])
    data = raw[4 + 4 * ndims:]
    size = 1
    for d in dims:
        size *= d
    if len(data) != size:
        sys.exit(f"{path}: {len(data)} data bytes, header says {size}")
    return dims, data


def write_idx_gz(path, dims, data):
    header = struct.pack(">I", 0x08 << 8 | len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as f:
        f.write(gzip.compress(header + data, compresslevel=9, mtime=0))


def subset(src, out, prefix, per_class, rng):
    (n, rows, cols), images = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"), 3)
    (m,), labels = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"), 1)
    if n != m:
        sys.exit(f"{prefix}: {n} images but {m} labels")
    by_class = [[] for _ in range(NUM_CLASSES)]
    for i, label in enumerate(labels):
        by_class[label].append(i)
    chosen = []
    for c, idx in enumerate(by_class):
        if len(idx) < per_class:
            sys.exit(f"{prefix}: class {c} has only {len(idx)} images")
        rng.shuffle(idx)
        chosen.extend(idx[:per_class])
    chosen.sort()
    size = rows * cols
    sub_images = b"".join(images[i * size:(i + 1) * size] for i in chosen)
    sub_labels = bytes(labels[i] for i in chosen)
    write_idx_gz(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), (len(chosen), rows, cols), sub_images)
    write_idx_gz(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), (len(chosen),), sub_labels)
    print(f"{prefix}: {len(chosen)} images ({per_class} per class) of {rows}x{cols}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "assets", "builtin")
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)
    subset(src, out, "train", PER_CLASS_TRAIN, rng)
    subset(src, out, "t10k", PER_CLASS_TEST, rng)


if __name__ == "__main__":
    main()
