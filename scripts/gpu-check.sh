#!/usr/bin/env bash
# GPU check (issue 11) for a machine with an NVIDIA GPU: burn's Vulkan backend through
# `supcon --device gpu`, against the CPU and against PyTorch on the same card.
#
# Runs from the repository root with, in ignored folders of the checkout (see
# scripts/make-gpu-data.sh, which prepares them, and scripts/gpu-check.md, the `run` call):
#   gpu-bin/supcon.xz  stripped release binary built with `--features gpu`, xz-compressed
#                      (or gpu-bin/supcon, uncompressed)
#   gpu-data/cifar10/  a small CIFAR-10 subset in the official binary layout
#   .gl/*.deb          Vulkan/EGL loader packages, unpacked into / here
# Steps, in order of importance (each under `timeout`; one failing does not stop the rest):
#   loss_ref            the loss reference cases on the GPU vs the fixture and the CPU
#   loss_small_{cpu,gpu} bench loss --impl plain at N=256: the loss values must agree
#   mlp_one/_dp/_chunk  BN-free MLP: per-step losses of one device, --devices gpu:0,gpu:0
#                       and --chunk 32 must agree (the global batch on the GPU)
#   init_{gpu,cpu}      the same short ResNet pre-training on both devices: same seed, same
#                       initial weights, so the first step losses must agree
#   aug_{gpu,cpu}       linear --augment crop on that encoder, on both devices: same epoch losses
#   pretrain, linear, eval_gpu  short CIFAR-10 SupCon pre-training (ResNet-18), linear
#                       probe and evaluation, all on the GPU
#   dp_gpu              data-parallel global batch over two replicas on the GPU
#   chunk1024_gpu       one batch of 1024 with --chunk 256 (peak GPU memory)
#   step_r18_gpu        bench step resnet18, batch 128 x 2 views, 32x32
#   torch_step          PyTorch's equivalent step, resnet18 and resnet50 (fp32 and tf32)
#   loss_plain4096_gpu  bench loss --impl plain at N=4096 on the GPU
#   step_r50_gpu        bench step resnet50
#   loss_tiled{4096,32768}_cpu  bench loss at N=4096 and 32768 (tiled is CPU code)
# Writes $OUT/gpu-summary.json (one JSON object), $OUT/gpu-check.log (progress) and
# $OUT/gpu-check-raw.log (every step's command, exit status, stdout and stderr), and
# $OUT/gpu-cache.tgz (kernel caches, below).
#
# Knobs (environment): BUDGET seconds for all steps (default 390: later steps shrink to
# what is left and are skipped under 15 s), QUICK=1 (only the loss checks and ResNet-18),
# EPOCHS (pre-training epochs, default 4), AUTOTUNE (CubeCL's autotune level: minimal |
# balanced | extensive | full; unset = CubeCL's default), BIN, DATA, OUT.
#
# First use of each kernel shape costs SPIR-V compilation by the driver plus CubeCL's
# autotuning: on the first H200 run the ResNet-18 step spent over 150 s on it (later
# ResNet-18 work reused it). The script therefore saves CubeCL's cache (target/environment)
# and the NVIDIA driver's shader cache to $OUT/gpu-cache.tgz; carry that file back as
# gpu-cache/gpu-cache.tgz and the next run starts warm.
set -u
BIN=${BIN:-gpu-bin/supcon}
DATA=${DATA:-gpu-data/cifar10}
OUT=${OUT:-$PWD/gpu-check-out}
BUDGET=${BUDGET:-390}
EPOCHS=${EPOCHS:-4}
QUICK=${QUICK:-0}
[ -n "${AUTOTUNE:-}" ] && export CUBECL_AUTOTUNE_LEVEL=$AUTOTUNE
mkdir -p "$OUT"
W=$(mktemp -d /tmp/gpu-check.XXXXXX)
LOG=$OUT/gpu-check.log
: > "$LOG"
START=$(date +%s)
now() { echo $(( $(date +%s) - START )); }
say() { echo "[+$(now)s] $*" | tee -a "$LOG" >&2; }
ORDER=()

# step NAME LIMIT CMD...: stdout -> $W/NAME.out, stderr -> $W/NAME.err, "rc seconds" ->
# $W/NAME.status, GPU memory.used samples (MiB, every 200 ms) -> $W/NAME.smi.
step() {
  local name=$1 limit=$2
  shift 2
  ORDER+=("$name")
  printf '%s\n' "$*" > "$W/$name.cmd"
  local left=$(( BUDGET - $(now) ))
  if [ "$left" -lt 15 ]; then
    echo "skipped" > "$W/$name.status"
    say "$name: skipped (budget)"
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "$name: $* (limit ${limit}s)"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 \
    > "$W/$name.smi" 2> /dev/null &
  local smi=$!
  local t0 t1 rc
  t0=$(date +%s.%N)
  timeout -k 5 "$limit" "$@" > "$W/$name.out" 2> "$W/$name.err"
  rc=$?
  t1=$(date +%s.%N)
  kill "$smi" 2> /dev/null
  wait "$smi" 2> /dev/null
  echo "$rc $(awk "BEGIN{print $t1 - $t0}")" > "$W/$name.status"
  say "$name: exit $rc"
  [ "$rc" -eq 0 ]
}

# --- setup: Vulkan loaders, driver manifest -------------------------------------------
say "setup in $PWD, work dir $W"
if ls .gl/*.deb > /dev/null 2>&1 && [ "${SKIP_GL:-0}" != 1 ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
NV_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$NV_ICD" ] \
  && ! ls /usr/share/vulkan/icd.d/nvidia*.json /etc/vulkan/icd.d/nvidia*.json > /dev/null 2>&1; then
  export VK_DRIVER_FILES=$NV_ICD
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
if [ ! -f "$BIN" ] && [ -f "$BIN.xz" ]; then
  # The binary travels xz-compressed (the 64 MiB limit); python's lzma if xz is missing.
  mkdir -p /tmp/gpu-bin
  xz -dc "$BIN.xz" > /tmp/gpu-bin/supcon 2> /dev/null \
    || python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$BIN.xz" /tmp/gpu-bin/supcon
  BIN=/tmp/gpu-bin/supcon
  say "unpacked $BIN ($(stat -c %s "$BIN") bytes)"
fi
chmod +x "$BIN" 2> /dev/null
# A warm cache from an earlier run (see the header).
if [ -f gpu-cache/gpu-cache.tgz ]; then
  tar xzf gpu-cache/gpu-cache.tgz -C / 2> /dev/null && say "restored gpu-cache/gpu-cache.tgz"
fi
{
  echo "== nvidia-smi"; nvidia-smi 2>&1
  echo "== libvulkan"; ldconfig -p | grep -i vulkan
  echo "== ICD manifests"; ls -l /usr/share/vulkan/icd.d /etc/vulkan/icd.d "$(dirname "$NV_ICD")" 2>&1
  echo "== VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  echo "== binary"; ls -l "$BIN"; "$BIN" --version 2>&1
  echo "== data"; ls -l "$DATA" 2>&1
  echo "== cpus $(nproc)"; python3 -c 'import torch; print("torch", torch.__version__)' 2>&1
} > "$W/setup.txt" 2>&1

# --- (a) the loss reference cases, and a small plain loss on both devices ------------
if ! step loss_ref 150 "$BIN" bench loss-ref --device gpu \
  && grep -q "could not be started" "$W/loss_ref.err" && [ -z "${VK_DRIVER_FILES:-}" ] \
  && [ -f "$NV_ICD" ]; then
  say "no Vulkan driver found: retrying with VK_DRIVER_FILES=$NV_ICD"
  export VK_DRIVER_FILES=$NV_ICD
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  mv "$W/loss_ref.err" "$W/loss_ref_first_try.err"
  step loss_ref 120 "$BIN" bench loss-ref --device gpu
fi
step loss_small_cpu 60 "$BIN" bench loss --impl plain --batch 256 --reps 3 --device cpu
step loss_small_gpu 60 "$BIN" bench loss --impl plain --batch 256 --reps 3 --device gpu

# --- the global batch on the GPU: a BN-free MLP's per-step losses on one device, over two
# replicas (--devices gpu:0,gpu:0) and chunked (--chunk 32) must agree (as on lavapipe) ---
MLP=(pretrain --config scripts/global-batch-mlp.toml -q)
step mlp_one 60 "$BIN" "${MLP[@]}" --device gpu --out "$W/mlp-one"
step mlp_dp 60 "$BIN" "${MLP[@]}" --devices gpu:0,gpu:0 --out "$W/mlp-dp"
step mlp_chunk 60 "$BIN" "${MLP[@]}" --device gpu --chunk 32 --out "$W/mlp-chunk"
INIT=(pretrain --epochs 1 --limit 256 --test-limit 64 --batch-size 64 -q)
step init_gpu 90 "$BIN" "${INIT[@]}" --device gpu --out "$W/init-gpu"
step init_cpu 60 "$BIN" "${INIT[@]}" --device cpu --out "$W/init-cpu"
AUG=(linear --encoder "$W/init-cpu" --augment crop --epochs 2 -q)
step aug_gpu 60 "$BIN" "${AUG[@]}" --device gpu --out "$W/aug-gpu"
step aug_cpu 60 "$BIN" "${AUG[@]}" --device cpu --out "$W/aug-cpu"

# --- (e) short CIFAR-10 pre-training + linear probe + eval on the GPU (ResNet-18; the
# first use of its kernels pays their compilation, which the later steps reuse) --------
if [ "$QUICK" != 1 ]; then
  if step pretrain 150 "$BIN" pretrain --data "cifar10:$DATA" --model resnet18 \
    --epochs "$EPOCHS" --batch-size 128 --device gpu --out "$W/pre" -q; then
    step linear 120 "$BIN" linear --encoder "$W/pre" --epochs 20 --device gpu \
      --out "$W/lin" -q && step eval_gpu 60 "$BIN" eval --model "$W/lin" --device gpu -q
  fi
  # Data-parallel global batch over two replicas on the one GPU (threads as devices), and
  # a chunked large batch (peak GPU memory from nvidia-smi).
  step dp_gpu 90 "$BIN" pretrain --data "cifar10:$DATA" --model resnet18 --epochs 1 \
    --batch-size 256 --devices gpu:0,gpu:0 --out "$W/dp" -q
  step chunk1024_gpu 90 "$BIN" pretrain --data "cifar10:$DATA" --model resnet18 --epochs 1 \
    --batch-size 1024 --limit 1024 --chunk 256 --device gpu --out "$W/chunk" -q
fi
# --- (c) training step, (d) PyTorch's -------------------------------------------------
step step_r18_gpu 150 "$BIN" bench step --model resnet18 --batch 128 --steps 5 --device gpu
if [ "$QUICK" = 1 ]; then
  step torch_step 90 python3 scripts/torch_supcon_step.py --model resnet18 --batch 128 --steps 5
else
  step torch_step 150 python3 scripts/torch_supcon_step.py --model resnet18 resnet50 \
    --batch 128 --steps 5
  # --- (b) loss at N=4096 on the GPU (plain); (c) ResNet-50 ----------------------------
  step loss_plain4096_gpu 90 "$BIN" bench loss --impl plain --batch 4096 --reps 3 --device gpu
  step step_r50_gpu 150 "$BIN" bench step --model resnet50 --batch 128 --steps 5 --device gpu
  # --- (b) bench loss at N=4096 and 32768: tiled is CPU code (this machine's cores) ----
  step loss_tiled4096_cpu 60 "$BIN" bench loss --impl tiled --batch 4096 --reps 3
  step loss_tiled32768_cpu 120 "$BIN" bench loss --impl tiled --batch 32768 --reps 1
fi
say "steps done"
# Save the kernel caches for the next run (see the header); at most 15 MiB comes back.
caches=()
[ -d target/environment ] && caches+=("$PWD/target/environment")
[ -d "$HOME/.cache/nvidia" ] && caches+=("$HOME/.cache/nvidia")
[ -d "$HOME/.nv" ] && caches+=("$HOME/.nv")
if [ ${#caches[@]} -gt 0 ]; then
  tar czf "$W/gpu-cache.tgz" -P "${caches[@]}" 2> /dev/null
  if [ "$(stat -c %s "$W/gpu-cache.tgz")" -lt $((15 * 1024 * 1024)) ]; then
    cp "$W/gpu-cache.tgz" "$OUT/gpu-cache.tgz"
    say "kernel caches saved to $OUT/gpu-cache.tgz ($(stat -c %s "$OUT/gpu-cache.tgz") bytes)"
  else
    say "kernel caches too large to bring back ($(stat -c %s "$W/gpu-cache.tgz") bytes)"
  fi
fi

# --- the summary -------------------------------------------------------------------------
printf '%s\n' "${ORDER[@]}" > "$W/order.txt"
W="$W" OUT="$OUT" BUDGET="$BUDGET" EPOCHS="$EPOCHS" ELAPSED="$(now)" python3 - <<'PY'
import glob, json, os

W, OUT = os.environ["W"], os.environ["OUT"]
order = list(dict.fromkeys(l.strip() for l in open(f"{W}/order.txt") if l.strip()))


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def jsonl(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


steps = {}
for name in order:
    status = read(f"{W}/{name}.status", "missing").split()
    s = {"cmd": read(f"{W}/{name}.cmd").strip()}
    if status[0] in ("skipped", "missing"):
        s["status"] = status[0]
    else:
        s["exit"] = int(status[0])
        s["status"] = "ok" if s["exit"] == 0 else ("timeout" if s["exit"] in (124, 137) else "failed")
        s["seconds"] = round(float(status[1]), 2)
        s["results"] = jsonl(read(f"{W}/{name}.out"))
        smi = [int(v) for v in read(f"{W}/{name}.smi").split() if v.isdigit()]
        if smi:
            s["nvidia_smi_peak_mib"] = max(smi)
        if s["exit"] != 0:
            s["stderr_tail"] = read(f"{W}/{name}.err").splitlines()[-15:]
    steps[name] = s


def results(name, **match):
    return [r for r in steps.get(name, {}).get("results", [])
            if all(r.get(k) == v for k, v in match.items())]


checks = {}
ref = [r for r in results("loss_ref") if "passed" in r]
if ref:
    r = ref[-1]
    checks["loss_reference_cases"] = {"ok": r["passed"] == r["cases"], "passed": r["passed"],
        "cases": r["cases"], "max_abs_diff_vs_fixture": r["max_abs_diff_ref"],
        "max_abs_diff_vs_cpu": r["max_abs_diff_cpu"], "device": r.get("device")}
cpu, gpu = results("loss_small_cpu"), results("loss_small_gpu")
if cpu and gpu:
    a, b = cpu[-1]["loss"], gpu[-1]["loss"]
    rel = abs(a - b) / max(abs(a), 1e-12)
    checks["loss_plain_n256_cpu_vs_gpu"] = {"ok": rel <= 1e-4, "cpu": a, "gpu": b, "rel_diff": rel}

burn_steps = {}
for name, model in (("step_r18_gpu", "resnet18"), ("step_r50_gpu", "resnet50")):
    for r in results(name):
        burn_steps[model] = r
        r["nvidia_smi_peak_mib"] = steps[name].get("nvidia_smi_peak_mib")
torch_steps = {}
for r in results("torch_step"):
    torch_steps.setdefault(r["model"], {})[r["precision"]] = r
comparison = {}
for model, r in burn_steps.items():
    row = {"burn_vulkan_imgs_per_s": r["imgs_per_s"], "burn_ms_per_step": r["ms_per_step"],
           "burn_device_reserved_mb": r.get("device_reserved_mb"),
           "burn_device_in_use_mb": r.get("device_in_use_mb"),
           "burn_nvidia_smi_peak_mib": r.get("nvidia_smi_peak_mib")}
    for prec, t in torch_steps.get(model, {}).items():
        row[f"torch_{prec}_imgs_per_s"] = t["imgs_per_s"]
        row[f"torch_{prec}_peak_allocated_mb"] = t["peak_allocated_mb"]
        row[f"torch_{prec}_over_burn"] = t["imgs_per_s"] / r["imgs_per_s"]
    comparison[model] = row
for model, per in torch_steps.items():
    comparison.setdefault(model, {}).update(
        {f"torch_{p}_imgs_per_s": t["imgs_per_s"] for p, t in per.items()})

loss_bench = []
for name in ("loss_small_cpu", "loss_small_gpu", "loss_plain4096_gpu",
             "loss_tiled4096_cpu", "loss_tiled32768_cpu"):
    for r in results(name):
        r = dict(r)
        r["step"] = name
        r["nvidia_smi_peak_mib"] = steps[name].get("nvidia_smi_peak_mib")
        loss_bench.append(r)

cifar = {}
pre = results("pretrain")
lin = results("linear")
if pre:
    cifar["pretrain"] = pre[-1]
if lin:
    cifar["linear"] = lin[-1]
    checks["cifar10_probe_above_chance"] = {"ok": lin[-1].get("top1", 0) > 0.15,
                                            "top1": lin[-1].get("top1")}

def step_losses(run):
    try:
        recs = jsonl(read(f"{W}/{run}/metrics.jsonl"))
    except Exception:
        return []
    return [r["loss"] for r in recs if "step" in r and "loss" in r]


one = step_losses("mlp-one")
for check, run in (("data_parallel_equals_one_device", "mlp-dp"),
                   ("chunked_equals_one_device", "mlp-chunk")):
    other = step_losses(run)
    if one or other:
        worst = max((abs(a - b) / max(abs(a), abs(b), 1e-12) for a, b in zip(one, other)),
                    default=None)
        checks[check] = {"ok": len(one) == len(other) > 0 and worst < 1e-4,
                         "steps": len(other), "max_relative_step_loss_diff": worst}
init_gpu, init_cpu = step_losses("init-gpu"), step_losses("init-cpu")
if init_gpu or init_cpu:
    first = (abs(init_gpu[0] - init_cpu[0]) / max(abs(init_cpu[0]), 1e-12)
             if init_gpu and init_cpu else None)
    checks["same_init_cpu_vs_gpu"] = {"ok": first is not None and first < 1e-4,
                                      "first_step_rel_diff": first,
                                      "gpu": init_gpu, "cpu": init_cpu}


def epoch_losses(run):
    try:
        recs = jsonl(read(f"{W}/{run}/metrics.jsonl"))
    except Exception:
        return []
    return [r["epoch_loss"] for r in recs if "epoch_loss" in r]


aug_gpu, aug_cpu = epoch_losses("aug-gpu"), epoch_losses("aug-cpu")
if aug_gpu or aug_cpu:
    worst = max((abs(a - b) / max(abs(b), 1e-12) for a, b in zip(aug_gpu, aug_cpu)),
                default=None)
    checks["augmented_probe_cpu_vs_gpu"] = {"ok": len(aug_gpu) == len(aug_cpu) == 2
                                            and worst < 1e-3,
                                            "max_relative_epoch_loss_diff": worst,
                                            "gpu": aug_gpu, "cpu": aug_cpu}

setup = read(f"{W}/setup.txt")
summary = {
    "ok": bool(checks) and all(c["ok"] for c in checks.values()),
    "checks": checks,
    "step_comparison": comparison,
    "loss_bench": loss_bench,
    "cifar10": cifar,
    "steps": steps,
    "budget_s": int(os.environ["BUDGET"]), "elapsed_s": int(os.environ["ELAPSED"]),
    "pretrain_epochs": int(os.environ["EPOCHS"]),
    "gpu": next((l.strip() for l in setup.splitlines() if "H200" in l or "NVIDIA" in l), None),
    "vk_driver_files": os.environ.get("VK_DRIVER_FILES"),
}
with open(f"{OUT}/gpu-summary.json", "w") as f:
    json.dump(summary, f, indent=1)

with open(f"{OUT}/gpu-check-raw.log", "w") as f:
    f.write("==== setup\n" + setup + "\n")
    for name in order:
        f.write(f"==== {name}\n$ {read(f'{W}/{name}.cmd').strip()}\n")
        f.write(f"status: {read(f'{W}/{name}.status').strip()}\n")
        for extra in sorted(glob.glob(f"{W}/{name}_*.err")):
            f.write(f"-- {os.path.basename(extra)}\n{read(extra)[-20000:]}\n")
        f.write("-- stdout\n" + read(f"{W}/{name}.out")[-50000:] + "\n")
        f.write("-- stderr\n" + read(f"{W}/{name}.err")[-20000:] + "\n")
print(json.dumps({"ok": summary["ok"], "checks": checks, "step_comparison": comparison},
                 indent=1))
PY
say "summary: $OUT/gpu-summary.json"
