#!/usr/bin/env python3
"""Independent float64 re-derivation of the SupCon golden file, in pure Python.

`tests/fixtures/supcon_vectors.json` holds reference cases of the SupCon loss family
(Khosla et al. 2020: L_out, eq. 2, and L_in, eq. 3) with their gradient
d loss / d features; they were produced in float64 by a PyTorch-autograd script that is
not in this repository. This script makes that file auditable without numpy or torch:
for every case it recomputes the loss from the stored inputs, following the fixture's
`about` formulation, and derives the gradient analytically (no finite differences),
then compares both with the stored values.

Formulation (see the fixture's `about` field):
  features [bsz, n_views, d]; contrast Z = views stacked view-major (row v*bsz + i is
  view v of sample i); anchors Z_A = all rows ("all") or the view-0 rows ("one");
  logits l[a][k] = Z_A[a] . Z[k] / tau; the self column k == a is excluded;
  positive weight w[a][k] = 1 if same label / mask[i][j] if a mask is given / 1 for the
  other views of the same sample (SimCLR, no labels and no mask), with w[a][a] = 0;
  s = tau / base_tau;
  L_out(a) = -s * sum_k w[a][k] * log p[a][k] / sum_k w[a][k]
  L_in(a)  = -s * log( sum_k w[a][k] * p[a][k] / sum_k w[a][k] )
  with p[a] the softmax of l[a] over the kept columns; anchors without positives
  contribute 0 and still count; loss = mean over the A anchors.

Gradient: with P = s / A, for an anchor with positives
  dL/dl[a][k] = P * (p[a][k] - q[a][k]),   q = w / sum w                    (L_out)
  dL/dl[a][k] = P * (p[a][k] - r[a][k]),   r = w e^l / sum_k w e^l          (L_in)
(0 on the self column and for anchors without positives); then with G = dL/dl,
  dL/dZ = (1/tau) * (G^T Z_A  +  [G Z on the anchor rows]),
mapped back from row v*bsz + i to features[i][v].

Softmaxes use a stable log-sum-exp (row max over the kept columns), so the
`supcon_unnormalized_large` case (logits in the tens of thousands) stays finite.
Dot products and sums use math.fsum (correctly rounded), so the only float64 error
left is in the stored values themselves.

Usage:
    python3 scripts/supcon_reference.py [tests/fixtures/supcon_vectors.json]

Prints one line per case: name, stored loss, recomputed loss, relative loss difference,
max abs gradient difference, and that difference relative to the largest stored
|gradient|. Exits 1 if any relative difference exceeds 1e-9.
"""

import argparse
import json
import math
import sys

TOLERANCE = 1e-9


def contrast_rows(case):
    """Return the contrast matrix Z (list of rows) stacked view-major, and its sample ids.

    Row v*bsz + i of Z is view v of sample i, read from the flat [bsz, n_views, dim]
    `features` list.
    """
    bsz, views, dim = case["bsz"], case["n_views"], case["dim"]
    f = case["features"]
    assert len(f) == bsz * views * dim, case["name"]
    rows, sample = [], []
    for v in range(views):
        for i in range(bsz):
            start = (i * views + v) * dim
            rows.append(f[start:start + dim])
            sample.append(i)
    return rows, sample


def positive_weight(case, i, j):
    """Positive weight between samples i and j, before self-exclusion.

    Labels: 1 if the labels agree. Mask: the value mask[i][j] (a weight; the fixture's
    mask is 0/1). Neither: SimCLR, 1 only for the same sample (its other views).
    """
    if case.get("labels") is not None:
        return 1.0 if case["labels"][i] == case["labels"][j] else 0.0
    if case.get("mask") is not None:
        return float(case["mask"][i * case["bsz"] + j])
    return 1.0 if i == j else 0.0


def anchor_row(case, a, za, z, sample):
    """Loss term and d(term)/d(logits) of anchor a, both before the s / A factor.

    Returns (term, grad) where grad[k] is 0 on the self column a; an anchor without
    positives returns (0.0, all zeros).
    """
    tau = case["temperature"]
    m = len(z)
    logits = [math.fsum(x * y for x, y in zip(za[a], z[k])) / tau for k in range(m)]
    kept = [k for k in range(m) if k != a]
    w = [0.0] * m
    for k in kept:
        w[k] = positive_weight(case, sample[a], sample[k])
    wsum = math.fsum(w)
    if wsum <= 0.0:
        return 0.0, [0.0] * m
    top = max(logits[k] for k in kept)
    e = [0.0] * m
    for k in kept:
        e[k] = math.exp(logits[k] - top)
    esum = math.fsum(e)
    lse = top + math.log(esum)
    p = [ek / esum for ek in e]
    if case["variant"] == "out":
        term = -math.fsum(w[k] * (logits[k] - lse) for k in kept if w[k] != 0.0) / wsum
        target = [wk / wsum for wk in w]
    elif case["variant"] == "in":
        # log(sum_k w p / sum w) = log sum_k w e^(l-top) - log esum - log wsum
        we = [w[k] * e[k] for k in range(m)]
        wesum = math.fsum(we)
        term = -(math.log(wesum) - math.log(esum) - math.log(wsum))
        target = [x / wesum for x in we]
    else:
        raise ValueError(f"{case['name']}: unknown variant {case['variant']!r}")
    grad = [p[k] - target[k] if k != a else 0.0 for k in range(m)]
    return term, grad


def loss_and_grad(case):
    """Recompute (loss, flat gradient [bsz, n_views, dim]) for one fixture case."""
    bsz, views, dim = case["bsz"], case["n_views"], case["dim"]
    tau, base = case["temperature"], case["base_temperature"]
    z, sample = contrast_rows(case)
    mode = case["contrast_mode"]
    if mode == "all":
        n_anchor = len(z)
    elif mode == "one":
        n_anchor = bsz
    else:
        raise ValueError(f"{case['name']}: unknown contrast_mode {mode!r}")
    za = z[:n_anchor]
    scale = (tau / base) / n_anchor
    terms, g = [], []
    for a in range(n_anchor):
        term, row = anchor_row(case, a, za, z, sample)
        terms.append(term)
        g.append([scale * x for x in row])
    loss = (tau / base) * math.fsum(terms) / n_anchor
    # dL/dZ[k] = (1/tau) sum_a G[a][k] Z_A[a]; dL/dZ_A[a] += (1/tau) sum_k G[a][k] Z[k]
    dz = []
    for k in range(len(z)):
        col = [math.fsum(g[a][k] * za[a][c] for a in range(n_anchor)) for c in range(dim)]
        if k < n_anchor:
            col = [math.fsum((x, math.fsum(g[k][j] * z[j][c] for j in range(len(z)))))
                   for c, x in enumerate(col)]
        dz.append([x / tau for x in col])
    grad = [0.0] * (bsz * views * dim)
    for v in range(views):
        for i in range(bsz):
            start = (i * views + v) * dim
            grad[start:start + dim] = dz[v * bsz + i]
    return loss, grad


def relative(diff, scale):
    """diff / scale, or the absolute diff when the reference scale is exactly zero."""
    return diff / scale if scale > 0.0 else diff


def main():
    """Check every case of the fixture; exit 1 on any mismatch beyond TOLERANCE."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("fixture", nargs="?", default="tests/fixtures/supcon_vectors.json")
    args = parser.parse_args()
    with open(args.fixture) as fh:
        cases = json.load(fh)["cases"]
    print(f"{'case':28} {'stored loss':>22} {'recomputed loss':>22} "
          f"{'rel loss diff':>13} {'max |dgrad|':>11} {'rel dgrad':>11}")
    failed = []
    for case in cases:
        loss, grad = loss_and_grad(case)
        stored = case["loss"]
        rel_loss = relative(abs(loss - stored), abs(stored))
        assert len(grad) == len(case["grad"]), case["name"]
        max_diff = max(abs(x - y) for x, y in zip(grad, case["grad"]))
        rel_grad = relative(max_diff, max(abs(y) for y in case["grad"]))
        ok = math.isfinite(loss) and rel_loss <= TOLERANCE and rel_grad <= TOLERANCE
        if not ok:
            failed.append(case["name"])
        print(f"{case['name']:28} {stored:22.15g} {loss:22.15g} {rel_loss:13.3e} "
              f"{max_diff:11.3e} {rel_grad:11.3e}{'' if ok else '  MISMATCH'}")
    print(f"{len(cases) - len(failed)}/{len(cases)} cases match to {TOLERANCE:g}"
          + (f"; mismatched: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
