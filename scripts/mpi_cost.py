#!/usr/bin/env python3
"""The cost model of `supcon pretrain --distributed mpi` (README, "Several machines").

Per step, each of N ranks sends:
  - gradients: 2 (N - 1) / N * 4 * params bytes. The sum is a reduce-scatter (MPI_Alltoallv;
    each rank adds its segment in rank order) followed by an MPI_Allgatherv of the summed
    segments: the bytes of a ring all-reduce;
  - projections: (N - 1) / N * 4 * B * V * P bytes (MPI_Allgatherv, as a ring all-gather),
    plus the labels, (N - 1) / N * 8 * B bytes;
  - dL/dz: (N - 1) / N * 4 * B * V * P bytes (the reduce-scatter of the loss's parts:
    each rank computes the loss rows of its share of the anchors).
Transfer time = bytes / bandwidth; latency (2 (N - 1) messages of a few microseconds) is
left out.

Scaling efficiency at a fixed global batch (strong scaling), no overlap of communication
and computation (the gradient sum starts after the backward pass):
  T(N) = B * V / (N * r) + t_loss / N + t_comm(N),   E(N) = T(1) / (N * T(N)),
with r the views per second of one process and t_loss the tiled loss over the whole global
batch, whose anchor rows the ranks share. The "100x" rows scale r and t_loss by 100 (a node 100 times
faster than this CPU, communication unchanged).

Usage: python3 scripts/mpi_cost.py [R18_VIEWS_PER_S R50_VIEWS_PER_S T_LOSS_S]
(defaults: the README's `supcon bench step` figures on this 2-core CPU and the measured
`supcon bench loss` time; see the README for the commands).
"""

import sys

# Trainable parameters: the CIFAR ResNet encoder (tests/models.rs: ResNet-18 + fc(10) =
# 11,173,962; torchvision ResNet-50 + fc(1000) = 25,557,032 with the 7x7 stem of 9,408
# weights, the CIFAR stem has 1,728) plus the default MLP head D -> D -> 128 with biases.
R18_ENCODER = 11_173_962 - (512 * 10 + 10)
R50_ENCODER = 25_557_032 - (2048 * 1000 + 1000) - 9_408 + 1_728


def head(d, p=128):
    return d * d + d + d * p + p


MODELS = {
    "ResNet-18": R18_ENCODER + head(512),
    "ResNet-50": R50_ENCODER + head(2048),
}
B, V, P = 1024, 2, 128  # the paper's CIFAR batch, 2 views, 128-d projections
LINKS = {"10 Gbit/s": 10e9 / 8, "100 Gbit/s": 100e9 / 8}
NODES = [2, 4, 8, 16, 32, 64]


def sent(params, n):
    grads = 2 * (n - 1) / n * 4 * params
    proj = (n - 1) / n * (2 * 4 * B * V * P + 8 * B)
    return grads, proj


def main():
    args = [float(a) for a in sys.argv[1:]]
    r18, r50, t_loss = args if len(args) == 3 else (54.0, 18.1, 0.216)
    rates = {"ResNet-18": r18, "ResNet-50": r50}
    print(f"B = {B}, V = {V}, P = {P}; t_loss = {t_loss:.3f} s")
    print("| model | params | MB sent per rank per step, N -> inf (gradients + projections "
          "and dL/dz) "
          "| ring all-reduce, 10 Gbit/s | 100 Gbit/s |")
    for name, params in MODELS.items():
        g = 2 * 4 * params
        pr = 2 * 4 * B * V * P + 8 * B
        t10 = g / LINKS["10 Gbit/s"]
        t100 = g / LINKS["100 Gbit/s"]
        print(f"| {name} | {params:,} | {g / 1e6:.1f} + {pr / 1e6:.2f} | {t10 * 1e3:.0f} ms "
              f"| {t100 * 1e3:.1f} ms |")
    print()
    for scale, label in [(1, "this CPU"), (100, "100x this CPU")]:
        print(f"efficiency, compute of {label}:")
        print("| model | link | " + " | ".join(f"N={n}" for n in NODES) + " |")
        for name, params in MODELS.items():
            r = rates[name] * scale
            loss = t_loss / scale
            t1 = B * V / r + loss
            for link, bw in LINKS.items():
                effs = []
                for n in NODES:
                    g, pr = sent(params, n)
                    tn = B * V / (n * r) + loss / n + (g + pr) / bw
                    effs.append(t1 / (n * tn))
                print(f"| {name} | {link} | " + " | ".join(f"{e:.0%}" for e in effs) + " |")
        print()


if __name__ == "__main__":
    main()
