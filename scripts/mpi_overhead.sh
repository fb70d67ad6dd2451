#!/usr/bin/env bash
# The overhead of 2 MPI ranks on one machine (loopback/shared memory) against 1 process:
# the same global batch trained by one process on one device (tiled loss), by one process
# over two in-process devices (--devices cpu,cpu), and by `mpirun -np 2 ... --distributed mpi`,
# REPS times each, interleaved. Prints each run's training seconds and views/s (report.json)
# and each variant's median. Needs a build with `--features mpi`.
# With THREADS=N in the environment every process computes and loads data with N threads
# (RAYON_NUM_THREADS=N, --threads N): with THREADS=1 the two ranks have twice the compute of
# the one process, so their speed-up over it (ideally 2) measures the cost of MPI.
# Usage: [THREADS=N] scripts/mpi_overhead.sh [SUPCON_BINARY] [REPS]
set -euo pipefail
bin=${1:-target/release/supcon}
reps=${2:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args=(pretrain -q --data builtin --limit 512 --epochs 1 --batch-size 64)
if [ -n "${THREADS:-}" ]; then
  export RAYON_NUM_THREADS=$THREADS
  args+=(--threads "$THREADS")
fi
field() { grep -o "\"$2\": [0-9.]*" "$1/report.json" | awk '{print $2}'; }
for i in $(seq "$reps"); do
  "$bin" "${args[@]}" --loss-impl tiled --out "$out/one-$i" >/dev/null
  "$bin" "${args[@]}" --devices cpu,cpu --out "$out/devices-$i" >/dev/null
  mpirun --oversubscribe --bind-to none -np 2 "$bin" "${args[@]}" --distributed mpi \
    --out "$out/mpi-$i" >/dev/null
  for v in one devices mpi; do
    echo "$v $i seconds $(field "$out/$v-$i" seconds) views/s $(field "$out/$v-$i" images_per_second)"
  done
done
for v in one devices mpi; do
  for f in seconds images_per_second; do
    printf '%s median %s: ' "$v" "$f"
    for i in $(seq "$reps"); do field "$out/$v-$i" "$f"; done | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  done
done
