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
    python3 scripts/supcon_reference.py --write-extra tests/fixtures/supcon_extra_vectors.json

The second form writes extra cases (see EXTRA_ABOUT) in the fixture's JSON schema,
computed by this script's own loss_and_grad, then checks the written file as the
first form does; `python3 scripts/supcon_reference.py OUT.json` re-checks it later.

Prints one line per case: name, stored loss, recomputed loss, relative loss difference,
max abs gradient difference, and that difference relative to the largest stored
|gradient|. Exits 1 if any relative difference exceeds 1e-9.
"""

import argparse
import json
import math
import random
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


EXTRA_SEED = 20240917

EXTRA_ABOUT = """Extra SupCon reference cases, written by
  python3 scripts/supcon_reference.py --write-extra tests/fixtures/supcon_extra_vectors.json
in pure-Python float64 (math.fsum; analytic gradient, no torch/numpy), same schema and
formulation as tests/fixtures/supcon_vectors.json (L_out, L_in; anchors without positives
contribute 0 and still count in the mean; an explicit mask[i*bsz+j] > 0 is the positive
weight of sample j for anchors of sample i, the diagonal deciding whether the anchor's
other views are positives; L_out(a) = -(tau/base_tau) * sum_p w_p log p_p / sum_p w_p;
L_in(a) = -(tau/base_tau) * log(sum_p w_p p_p / sum_p w_p)). Features are pseudo-random
from random.Random(%d + case index), rounded to 12 significant digits before the loss is
computed; gradients are stored to 12 significant digits. Cases:
%s"""


def _extra_features(rng, bsz, views, dim, normalise, scale=1.0):
    """Flat [bsz, views, dim] Gaussian features, optionally L2-normalised per view."""
    out = []
    for _ in range(bsz * views):
        v = [scale * rng.gauss(0.0, 1.0) for _ in range(dim)]
        if normalise:
            n = math.sqrt(math.fsum(x * x for x in v))
            v = [x / n for x in v]
        out.extend(float(f"{x:.12g}") for x in v)
    return out


# name, what it covers, bsz, views, dim, tau, base_tau, mode, variant, normalised,
# labels, mask (row-major [bsz, bsz] weights)
_WEIGHTED_MASK = [
    0.0, 2.0, 0.0, 0.5, 0.0,
    0.5, 1.0, 0.0, 0.0, 0.25,
    0.0, 0.0, 0.0, 0.0, 0.0,
    1.5, 0.0, 0.75, 2.0, 0.0,
    0.0, 0.0, 3.0, 0.0, 0.0,
]
EXTRA_CASES = [
    ("extra_mixed_no_positive_out",
     "(1) labels [0,1,0,2,1,3] with one view: samples 3 and 5 have no positive, contribute 0"
     " and still count in the mean over 6 anchors; L_out, mode all",
     6, 1, 5, 0.1, 0.07, "all", "out", True, [0, 1, 0, 2, 1, 3], None),
    ("extra_l_in_no_positive",
     "(2) L_in with labels [0,0,1,2,1] and one view: sample 3 has no positive (contributes 0,"
     " counts in the mean); tau 0.2, base 0.07",
     5, 1, 4, 0.2, 0.07, "all", "in", True, [0, 0, 1, 2, 1], None),
    ("extra_weighted_mask_out",
     "(3) explicit asymmetric mask with weights 0.25..3 and a mixed diagonal (0, 1, 0, 2, 3):"
     " anchors of sample 0 skip their other view, sample 2's row is all zero (no positive),"
     " sample 4's only positive is its other view (weight 3); L_out, 2 views",
     5, 2, 6, 0.1, 0.1, "all", "out", True, None, _WEIGHTED_MASK),
    ("extra_weighted_mask_in_unnormalized",
     "(2)+(3) the same weighted mask with L_in (weighted mean of softmax probabilities),"
     " features NOT L2-normalised (Gaussian, sd 0.8), tau 0.5, base 0.07",
     5, 2, 3, 0.5, 0.07, "all", "in", False, None, _WEIGHTED_MASK),
    ("extra_mode_one_l_in",
     "(4) contrast mode one (view-0 anchors only, all 3 views as contrast) with L_in;"
     " labels [1,0,1,2,0,1], tau 0.1, base 0.07",
     6, 3, 8, 0.1, 0.07, "one", "in", True, [1, 0, 1, 2, 0, 1], None),
    ("extra_simclr_three_views",
     "(5) SimCLR (no labels, no mask) with three views: each anchor's positives are the"
     " other two views of its sample; L_out, tau 0.5",
     4, 3, 7, 0.5, 0.5, "all", "out", True, None, None),
]


def extra_cases():
    """Build the EXTRA_CASES as fixture-schema dicts with loss and gradient filled in."""
    cases = []
    for index, (name, _, bsz, views, dim, tau, base, mode, variant, normalise, labels,
                mask) in enumerate(EXTRA_CASES):
        rng = random.Random(EXTRA_SEED + index)
        scale = 1.0 if normalise else 0.8
        case = {
            "name": name, "bsz": bsz, "n_views": views, "dim": dim,
            "temperature": tau, "base_temperature": base,
            "contrast_mode": mode, "variant": variant,
            "features": _extra_features(rng, bsz, views, dim, normalise, scale),
            "labels": labels, "mask": mask,
        }
        if mask is not None:
            assert len(mask) == bsz * bsz, name
        loss, grad = loss_and_grad(case)
        case["loss"] = loss
        case["grad"] = [float(f"{g:.12g}") for g in grad]
        cases.append(case)
    return cases


def write_extra(path):
    """Write the extra cases to `path` in the fixture's schema."""
    listing = "\n".join(f"  {c[0]}: {c[1]}" for c in EXTRA_CASES)
    doc = {"about": EXTRA_ABOUT % (EXTRA_SEED, listing), "cases": extra_cases()}
    with open(path, "w") as fh:
        json.dump(doc, fh)
        fh.write("\n")
    print(f"wrote {len(doc['cases'])} cases to {path}")


def relative(diff, scale):
    """diff / scale, or the absolute diff when the reference scale is exactly zero."""
    return diff / scale if scale > 0.0 else diff


def main():
    """Check every case of the fixture; exit 1 on any mismatch beyond TOLERANCE."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("fixture", nargs="?", default="tests/fixtures/supcon_vectors.json")
    parser.add_argument("--write-extra", metavar="OUT.json",
                        help="write the extra cases (EXTRA_CASES) to OUT.json, then check it")
    args = parser.parse_args()
    if args.write_extra:
        write_extra(args.write_extra)
        args.fixture = args.write_extra
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
