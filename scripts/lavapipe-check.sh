#!/usr/bin/env bash
# The GPU build's device path, checked on a CPU: burn's Vulkan backend on Mesa's software
# Vulkan driver lavapipe. No GPU needed; the check of real speed stays scripts/gpu-check.sh.
#
# Usage (from the repository root; needs gcc and mesa-vulkan-drivers):
#   CARGO_TARGET_DIR=/work/gpu-target cargo build --release --features gpu --bin supcon
#   scripts/lavapipe-check.sh /work/gpu-target/release/supcon [OUT_DIR]
#
# Lavapipe is reached through scripts/lavapipe/shim.c, a driver manifest that hides the
# Vulkan memory model so that CubeCL compiles its kernels through WGSL (its own SPIR-V
# compiler emits shared memory that lavapipe 22.3 crashes on; see shim.c). What this covers:
# device selection, every kernel burn runs for these steps, transfers, the training loops,
# data-parallel replicas and chunked steps on a Vulkan device. What it does not: CubeCL's
# SPIR-V compiler (NVIDIA's path) and any speed.
#
# Checks, written to OUT_DIR/lavapipe-summary.json (exit status 1 when one fails):
#   loss_reference    the ten reference cases of the loss on the Vulkan device
#   loss_cpu_vs_gpu   plain SupCon loss at N=256 on both devices: relative difference < 1e-5
#   data_parallel     BN-free MLP: per-step losses of --devices gpu:0,gpu:0 equal the
#                     one-device run's (relative 1e-4): the global-batch gather on a GPU device
#   chunked           the same for --chunk 32 (gradient caching + tiled loss)
#   probe_and_eval    ResNet pre-training -> linear probe -> eval, all on the Vulkan device;
#                     eval of the probe on the CPU agrees (top-1 within one test image)
#   same_init         the same ResNet pre-training on the CPU: with the same seed both start
#                     from the same weights, so their first step losses agree (relative 1e-4)
#   augmented_probe   linear --augment crop (batches encoded on the device) on both devices:
#                     same epoch losses (relative 1e-3) and test top-1
# The first run compiles and autotunes every kernel (minutes on two cores); later runs reuse
# the cache in ./target/environment and take about a minute.
set -euo pipefail
BIN=${1:?usage: scripts/lavapipe-check.sh PATH/TO/supcon-built-with-gpu [OUT_DIR]}
OUT=${2:-$(mktemp -d /tmp/lavapipe-check.XXXXXX)}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/shim"
BIN=$(realpath "$BIN")
OUT=$(realpath "$OUT")

gcc -O2 -shared -fPIC -o "$OUT/shim/libvulkan_lvp_shim.so" "$HERE/lavapipe/shim.c" -ldl
cat > "$OUT/shim/icd.json" <<JSON
{"file_format_version": "1.0.0",
 "ICD": {"api_version": "1.3.0", "library_path": "$OUT/shim/libvulkan_lvp_shim.so"}}
JSON
export VK_ICD_FILENAMES=$OUT/shim/icd.json VK_DRIVER_FILES=$OUT/shim/icd.json
export SUPCON_VULKAN_ADAPTER=cpu
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

START=$(date +%s)
# step NAME CMD...: stdout -> OUT/NAME.out, stderr -> OUT/NAME.err, "rc seconds" -> .status
step() {
  local name=$1 t0 rc
  shift
  echo "[+$(( $(date +%s) - START ))s] $name: $*" >&2
  t0=$(date +%s.%N)
  set +e
  "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
  rc=$?
  set -e
  echo "$rc $(awk "BEGIN{print $(date +%s.%N) - $t0}")" > "$OUT/$name.status"
  [ "$rc" -eq 0 ] || echo "  exit $rc: $(tail -n 3 "$OUT/$name.err")" >&2
}

# (1) the loss
step loss_ref "$BIN" bench loss-ref --device gpu
step loss_cpu "$BIN" bench loss --impl plain --batch 256 --reps 1 --device cpu
step loss_gpu "$BIN" bench loss --impl plain --batch 256 --reps 1 --device gpu

# (2) one global batch: data-parallel and chunked steps against the one-device step. The
# MLP has no BatchNorm, so every sample's embedding is independent of how the batch is split.
MLP=(pretrain --config "$HERE/global-batch-mlp.toml" -q)
step mlp_one "$BIN" "${MLP[@]}" --device gpu --out "$OUT/mlp-one"
step mlp_dp "$BIN" "${MLP[@]}" --devices gpu:0,gpu:0 --out "$OUT/mlp-dp"
step mlp_chunk "$BIN" "${MLP[@]}" --device gpu --chunk 32 --out "$OUT/mlp-chunk"

# (3) ResNet pre-training, linear probe and evaluation on the Vulkan device
RESNET=(pretrain --epochs 1 --limit 256 --test-limit 64 --batch-size 64 -q)
step resnet "$BIN" "${RESNET[@]}" --device gpu --out "$OUT/resnet"
step resnet_cpu "$BIN" "${RESNET[@]}" --device cpu --out "$OUT/resnet-cpu"
step probe "$BIN" linear --encoder "$OUT/resnet" --device gpu --epochs 5 -q --out "$OUT/probe"
step eval_gpu "$BIN" eval --model "$OUT/probe" --device gpu -q --out "$OUT/eval-gpu.json"
step eval_cpu "$BIN" eval --model "$OUT/probe" --device cpu -q --out "$OUT/eval-cpu.json"
AUG=(linear --encoder "$OUT/resnet" --augment crop --epochs 2 -q)
step aug_gpu "$BIN" "${AUG[@]}" --device gpu --out "$OUT/probe-aug-gpu"
step aug_cpu "$BIN" "${AUG[@]}" --device cpu --out "$OUT/probe-aug-cpu"

OUT="$OUT" ELAPSED=$(( $(date +%s) - START )) python3 - <<'PY'
import json, os, sys

OUT = os.environ["OUT"]


def status(name):
    try:
        rc, seconds = open(f"{OUT}/{name}.status").read().split()
        return int(rc), float(seconds)
    except OSError:
        return None, None


def lines(name):
    out = []
    for line in open(f"{OUT}/{name}.out", errors="replace"):
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def steps_of(run):
    try:
        recs = [json.loads(l) for l in open(f"{OUT}/{run}/metrics.jsonl") if l.strip()]
    except OSError:
        return []
    return [r["loss"] for r in recs if "step" in r and "loss" in r]


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def ran(*names):
    return all(status(n)[0] == 0 for n in names)


checks = {}
ref = [r for r in lines("loss_ref") if "passed" in r] if ran("loss_ref") else []
checks["loss_reference"] = {
    "ok": bool(ref) and ref[-1]["passed"] == ref[-1]["cases"],
    **({k: ref[-1].get(k) for k in ("passed", "cases", "max_abs_diff_ref", "max_abs_diff_cpu")} if ref else {}),
}
if ran("loss_cpu", "loss_gpu"):
    a, b = lines("loss_cpu")[-1]["loss"], lines("loss_gpu")[-1]["loss"]
    checks["loss_cpu_vs_gpu"] = {"ok": rel(a, b) < 1e-5, "cpu": a, "gpu": b, "relative": rel(a, b)}
else:
    checks["loss_cpu_vs_gpu"] = {"ok": False}
one = steps_of("mlp-one")
for name, run in (("data_parallel", "mlp-dp"), ("chunked", "mlp-chunk")):
    other = steps_of(run)
    worst = max((rel(x, y) for x, y in zip(one, other)), default=None)
    checks[name] = {
        "ok": ran("mlp_one", "mlp_" + run.split("-")[1]) and len(one) == len(other) > 0
        and worst < 1e-4,
        "steps": len(other), "max_relative_step_loss_diff": worst,
        "one_device": one, "this": other,
    }
ok = ran("resnet", "probe", "eval_gpu", "eval_cpu")
probe = {"ok": False}
if ok:
    g = json.load(open(f"{OUT}/eval-gpu.json"))["clean"]
    c = json.load(open(f"{OUT}/eval-cpu.json"))["clean"]
    probe = {"ok": abs(g["top1"] - c["top1"]) <= 1.0 / g["samples"] + 1e-9,
             "top1_gpu": g["top1"], "top1_cpu": c["top1"], "samples": g["samples"]}
checks["probe_and_eval"] = probe
gpu_steps, cpu_steps = steps_of("resnet"), steps_of("resnet-cpu")
if ran("resnet", "resnet_cpu") and gpu_steps and cpu_steps:
    checks["same_init"] = {"ok": rel(gpu_steps[0], cpu_steps[0]) < 1e-4,
                           "first_step_gpu": gpu_steps[0], "first_step_cpu": cpu_steps[0],
                           "relative": rel(gpu_steps[0], cpu_steps[0]),
                           "steps_gpu": gpu_steps, "steps_cpu": cpu_steps}
else:
    checks["same_init"] = {"ok": False}


def epoch_losses(run):
    try:
        recs = [json.loads(l) for l in open(f"{OUT}/{run}/metrics.jsonl") if l.strip()]
    except OSError:
        return []
    return [r["epoch_loss"] for r in recs if "epoch_loss" in r]


if ran("aug_gpu", "aug_cpu"):
    a, c = epoch_losses("probe-aug-gpu"), epoch_losses("probe-aug-cpu")
    ta, tc = lines("aug_gpu")[-1]["top1"], lines("aug_cpu")[-1]["top1"]
    worst = max((rel(x, y) for x, y in zip(a, c)), default=None)
    checks["augmented_probe"] = {"ok": len(a) == len(c) == 2 and worst < 1e-3 and ta == tc,
                                 "epoch_losses_gpu": a, "epoch_losses_cpu": c,
                                 "max_relative_diff": worst, "top1_gpu": ta, "top1_cpu": tc}
else:
    checks["augmented_probe"] = {"ok": False}

names = ["loss_ref", "loss_cpu", "loss_gpu", "mlp_one", "mlp_dp", "mlp_chunk", "resnet",
         "resnet_cpu", "probe", "eval_gpu", "eval_cpu", "aug_gpu", "aug_cpu"]
summary = {
    "passed": all(c["ok"] for c in checks.values()),
    "elapsed_s": int(os.environ["ELAPSED"]),
    "checks": checks,
    "steps": {n: dict(zip(("exit", "seconds"), status(n))) for n in names},
}
with open(f"{OUT}/lavapipe-summary.json", "w") as f:
    json.dump(summary, f, indent=1)
for name, c in checks.items():
    print(f"{name:16} {'ok' if c['ok'] else 'FAILED'}")
print(f"summary: {OUT}/lavapipe-summary.json ({summary['elapsed_s']} s)")
sys.exit(0 if summary["passed"] else 1)
PY
