#!/usr/bin/env bash
# burn-flex (brainfm's CPU kernels) vs PyTorch (CPU) on the same network, same weights, same
# input, same run, 2 threads each: checks the logits agree, then times one segmentation
# forward pass and one training step (forward, mean(logits^2), backward, AdamW) per preset.
# BRAINFM_STOCK_CONV=1 runs burn-flex's own conv3d instead of brainfm's kernels.
# ROUNDS=N (default 1) alternates the two N times per preset and reports the median of each
# side's medians, so a burst of load on this shared machine hits both sides alike.
# Usage: [ROUNDS=N] scripts/bench/vs_torch.sh [patch] [reps] [presets...]
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
# row infer|train BURN_JSONS TORCH_JSONS: one table row from one JSON per line per round.
row() {
  python3 - "$@" <<'PY'
import json, statistics, sys
kind = sys.argv[1]
bs, ts = ([json.loads(l) for l in a.splitlines() if l.strip()] for a in sys.argv[2:4])
b, t = bs[-1], ts[-1]
bm, tm = (statistics.median(r['median_ms'] for r in rs) for rs in (bs, ts))
last = f"{max(r['max_abs_diff_vs_burn'] for r in ts):.2e}" if kind == "infer" else f"{b['first_loss']:.6g} / {t['first_loss']:.6g}"
print(f"| {b['preset']} | {b['patch']}^3 | {bm:g} | {tm:g} | {bm / tm:.2f} | {last} |")
PY
}
infer="| preset | patch | burn-flex median ms | PyTorch median ms | burn/PyTorch | max abs logit diff |
|---|---|---|---|---|---|"
train="| preset | patch | burn-flex step ms | PyTorch step ms | burn/PyTorch | first loss burn / PyTorch |
|---|---|---|---|---|---|"
for p in ${presets[@]}; do
  "$bin/brainfm" init --preset "$p" --classes a,b,c,d --output "$work/$p.bfm" >/dev/null
  bi=""; ti=""; bt=""; tt=""
  for _ in $(seq "${ROUNDS:-1}"); do
    bi+=$("$bin/examples/forward_bench" "$work/$p.bfm" "$patch" "$reps" "$work/$p.f32")$'\n'
    ti+=$(python3 scripts/bench/torch_reference.py "$work/$p.bfm" "$patch" "$reps" "$work/$p.f32")$'\n'
    bt+=$("$bin/examples/train_step_bench" "$work/$p.bfm" "$patch" "$reps")$'\n'
    tt+=$(BENCH_MODE=train python3 scripts/bench/torch_reference.py "$work/$p.bfm" "$patch" "$reps")$'\n'
  done
  infer+=$'\n'$(row infer "$bi" "$ti")
  train+=$'\n'$(row train "$bt" "$tt")
done
echo "Inference (one patch):"; echo "$infer"; echo
echo "Training step (one patch, batch 1):"; echo "$train"
