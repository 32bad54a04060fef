#!/usr/bin/env bash
# burn-flex (brainfm's CPU kernels) vs PyTorch (CPU) on the same network, same weights, same
# input, same run, 2 threads each: checks the logits agree, then times one segmentation
# forward pass and one training step (forward, mean(logits^2), backward, AdamW) per preset.
# BRAINFM_STOCK_CONV=1 runs burn-flex's own conv3d instead of brainfm's kernels.
# Usage: scripts/bench/vs_torch.sh [patch] [reps] [presets...]
set -euo pipefail
cd "$(dirname "$0")/../.."
patch="${1:-64}"; reps="${2:-3}"; shift 2 || true
presets=("${@:-tiny small base}")
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
export RAYON_NUM_THREADS=2 BENCH_THREADS=2
python3 -c "import torch" 2>/dev/null || pip install -q torch numpy
cargo build -q -j2 -p brainfm-trainer --bin brainfm --example forward_bench --example train_step_bench
bin="$CARGO_TARGET_DIR/debug"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# row infer|train BURN_JSON TORCH_JSON: one table row.
row() {
  python3 - "$@" <<'PY'
import json, sys
kind, b, t = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
last = f"{t['max_abs_diff_vs_burn']:.2e}" if kind == "infer" else f"{b['first_loss']:.6g} / {t['first_loss']:.6g}"
print(f"| {b['preset']} | {b['patch']}^3 | {b['median_ms']} | {t['median_ms']} | {b['median_ms'] / t['median_ms']:.2f} | {last} |")
PY
}
infer="| preset | patch | burn-flex median ms | PyTorch median ms | burn/PyTorch | max abs logit diff |
|---|---|---|---|---|---|"
train="| preset | patch | burn-flex step ms | PyTorch step ms | burn/PyTorch | first loss burn / PyTorch |
|---|---|---|---|---|---|"
for p in ${presets[@]}; do
  "$bin/brainfm" init --preset "$p" --classes a,b,c,d --output "$work/$p.bfm" >/dev/null
  b=$("$bin/examples/forward_bench" "$work/$p.bfm" "$patch" "$reps" "$work/$p.f32")
  t=$(python3 scripts/bench/torch_reference.py "$work/$p.bfm" "$patch" "$reps" "$work/$p.f32")
  infer+=$'\n'$(row infer "$b" "$t")
  b=$("$bin/examples/train_step_bench" "$work/$p.bfm" "$patch" "$reps")
  t=$(BENCH_MODE=train python3 scripts/bench/torch_reference.py "$work/$p.bfm" "$patch" "$reps")
  train+=$'\n'$(row train "$b" "$t")
done
echo "Inference (one patch):"; echo "$infer"; echo
echo "Training step (one patch, batch 1):"; echo "$train"
