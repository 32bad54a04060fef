#!/usr/bin/env bash
# Data-parallel pre-training on this machine: one process against `mpirun -np 2`, same
# run, same synthetic data, reporting the median step time (rank 0's, from metrics.jsonl,
# first steps dropped) and volumes per second, then the bytes each step all-reduces per
# preset and what a ring all-reduce of them costs on a 100 Gb/s link (calculated).
# Usage: scripts/bench/ddp.sh [preset] [patch] [steps]
set -euo pipefail
cd "$(dirname "$0")/../.."
preset="${1:-tiny}"; patch="${2:-32}"; steps="${3:-12}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
cargo build -q -j2 -p brainfm-trainer --bin brainfm
bin="$CARGO_TARGET_DIR/debug/brainfm"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" synth --labels /usr/share/mricron/templates/aal.nii.gz --subjects 8 --spacing 2 \
  --seed 3 --output "$work/data" >/dev/null
run() { # NAME RANKS BATCH [THREADS per process; default: burn's rayon pool, one per core]
  local cmd=(env ${4:+RAYON_NUM_THREADS=$4} "$bin" pretrain --data "$work/data" --output "$work/$1" --cache "$work/cache"
    --preset "$preset" --objective swap --patch "$patch" --spacing 2 --steps "$steps"
    --batch "$3" --workers 1 --checkpoint-every 1000 --quiet)
  if [ "$2" = 1 ]; then "${cmd[@]}" >/dev/null; else mpirun -np "$2" "${cmd[@]}" >/dev/null; fi
  python3 - "$work/$1/metrics.jsonl" "$1" "$2" "$3" "${4:-$(nproc)}" <<'PY'
import json, statistics, sys
path, name, ranks, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [json.loads(l) for l in open(path) if '"step_s"' in l]
step = statistics.median(r["step_s"] + r["loader_wait_s"] for r in rows[2:])
vps = statistics.median(r["volumes_per_s"] for r in rows[2:])
print(f"| {name} | {ranks} | {threads} | {batch} | {ranks * batch} | {step * 1e3:.0f} | {vps:.2f} |")
PY
}
echo "Pre-training, preset $preset, patch $patch^3, swap (2 scans per subject), $steps steps:"
echo "| run | processes | threads each | subjects per replica | subjects per step | median step ms | volumes/s |"
echo "|---|---|---|---|---|---|---|"
run one-b2 1 2
run two-b1 2 1
run one-b1 1 1
run two-b2 2 2
run two-b1-t1 2 1 1
echo
echo "Bytes all-reduced per step (f32 gradients of every parameter) and a ring all-reduce's"
echo "time on 100 Gb/s (each rank sends and receives 2 (N-1)/N of them; N = 8):"
echo "| preset | parameters | MB per step | ring all-reduce ms at 12.5 GB/s |"
echo "|---|---|---|---|"
for p in tiny small base resenc-l; do
  params=$("$bin" info "$p" | python3 -c "import re,sys; print(re.search(r'parameters.*\(([0-9]+)\)', sys.stdin.read()).group(1))")
  python3 -c "p=$params; b=4*p; n=8; print(f'| $p | {p:,} | {b/1e6:.1f} | {2*(n-1)/n*b/12.5e9*1e3:.2f} |')"
done
