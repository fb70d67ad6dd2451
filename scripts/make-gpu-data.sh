#!/usr/bin/env bash
# Prepares the pieces scripts/gpu-check.sh needs on the GPU machine, in ignored folders of
# the checkout (each listed in .git/info/exclude, each named in the `run` call's `carry`):
#   gpu-data/cifar10/  the first TRAIN (default 2000) training and TEST (default 1000) test
#                      records of a CIFAR-10 binary folder, in the official layout
#                      (data_batch_1.bin, test_batch.bin, batches.meta.txt)
#   gpu-bin/supcon.xz  the stripped `--features gpu` release binary (from $GPU_TARGET), xz
#   .gl/*.deb          the Vulkan/EGL loader packages (device README recipe)
# and prints what would travel. Run from the repository root:
#   scripts/make-gpu-data.sh [CIFAR10_DIR]   (default ../shared/data/cifar10)
set -euo pipefail
SRC=${1:-../shared/data/cifar10}
TRAIN=${TRAIN:-2000}
TEST=${TEST:-1000}
GPU_TARGET=${GPU_TARGET:-/work/gpu-target}
REC=3073   # 1 label byte + 3 x 32 x 32 pixel bytes

EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
exclude() { grep -qxF "$1" "$EXCLUDE" 2>/dev/null || echo "$1" >> "$EXCLUDE"; }
exclude /gpu-data/
exclude /gpu-bin/
exclude /.gl/
# gpu-cache/gpu-cache.tgz: kernel caches an earlier gpu-check.sh run saved ($OUT/gpu-cache.tgz)
exclude /gpu-cache/

# CIFAR-10 subset: records are fixed-size, so the first N records are a valid batch file.
mkdir -p gpu-data/cifar10
for f in data_batch_1.bin test_batch.bin batches.meta.txt; do
  [ -f "$SRC/$f" ] || { echo "missing $SRC/$f" >&2; exit 1; }
done
head -c $((TRAIN * REC)) "$SRC/data_batch_1.bin" > gpu-data/cifar10/data_batch_1.bin
head -c $((TEST * REC)) "$SRC/test_batch.bin" > gpu-data/cifar10/test_batch.bin
install -m 644 "$SRC/batches.meta.txt" gpu-data/cifar10/
[ $(( $(stat -c %s gpu-data/cifar10/data_batch_1.bin) / REC )) -eq "$TRAIN" ] \
  || { echo "$SRC/data_batch_1.bin holds fewer than $TRAIN records" >&2; exit 1; }
[ $(( $(stat -c %s gpu-data/cifar10/test_batch.bin) / REC )) -eq "$TEST" ] \
  || { echo "$SRC/test_batch.bin holds fewer than $TEST records" >&2; exit 1; }

# The binary (build it first: CARGO_TARGET_DIR=$GPU_TARGET cargo build --release --features gpu --bin supcon).
# Stripped it is still ~115 MiB (wgpu, cubecl and its kernels): it travels xz-compressed
# (~21 MiB) and gpu-check.sh unpacks it there.
if [ -x "$GPU_TARGET/release/supcon" ]; then
  mkdir -p gpu-bin
  rm -f gpu-bin/supcon gpu-bin/supcon.xz
  strip -o /tmp/supcon-gpu-stripped "$GPU_TARGET/release/supcon"
  echo "stripped binary: $(stat -c %s /tmp/supcon-gpu-stripped) bytes; compressing (xz -9, ~1 min)"
  xz -T2 -9 -c /tmp/supcon-gpu-stripped > gpu-bin/supcon.xz
  rm -f /tmp/supcon-gpu-stripped
else
  echo "warning: $GPU_TARGET/release/supcon not built yet" >&2
fi

# Vulkan loaders (amd64 packages, whatever this machine's architecture).
if ! ls .gl/libvulkan1_*.deb > /dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update > /dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

# What travels: tracked and untracked-not-ignored files, plus the carried folders.
tree=$( (git ls-files -co --exclude-standard -z | xargs -0 stat -c %s 2>/dev/null || true) | awk '{s+=$1} END{print s+0}')
carried=$( (find gpu-data gpu-bin .gl gpu-cache -type f -printf '%s\n' 2>/dev/null || true) | awk '{s+=$1} END{print s+0}')
du -sh gpu-data gpu-bin .gl gpu-cache 2>/dev/null || true
awk -v t="$tree" -v c="$carried" 'BEGIN{m=1048576; printf "checkout %.1f MiB + carried %.1f MiB = %.1f MiB of 64 MiB\n", t/m, c/m, (t+c)/m; exit (t+c > 64*m)}'
