#!/usr/bin/env bash
# burn-flex vs PyTorch (CPU) on the same network, same weights, same input, same run:
# checks the logits agree, then times one segmentation forward pass per preset.
# Usage: scripts/bench/vs_torch.sh [patch] [reps] [presets...]
set -euo pipefail
cd "$(dirname "$0")/../.."
patch="${1:-64}"; reps="${2:-3}"; shift 2 || true
presets=("${@:-tiny small base}")
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
python3 -c "import torch" 2>/dev/null || pip install -q torch numpy
cargo build -q -j2 -p brainfm-trainer --bin brainfm --example forward_bench
bin="$CARGO_TARGET_DIR/debug"
work=$(mktemp -d)
echo "| preset | patch | burn-flex median ms | PyTorch median ms | burn/PyTorch | max abs logit diff |"
echo "|---|---|---|---|---|---|"
for p in ${presets[@]}; do
  "$bin/brainfm" init --preset "$p" --classes a,b,c,d --output "$work/$p.bfm" >/dev/null
  b=$("$bin/examples/forward_bench" "$work/$p.bfm" "$patch" "$reps" "$work/$p.f32")
  t=$(python3 scripts/bench/torch_reference.py "$work/$p.bfm" "$patch" "$reps" "$work/$p.f32")
  python3 - "$b" "$t" <<'PY'
import json, sys
b, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"| {b['preset']} | {b['patch']}^3 | {b['median_ms']} | {t['median_ms']} | {b['median_ms']/t['median_ms']:.2f} | {t['max_abs_diff_vs_burn']:.2e} |")
PY
done
rm -rf "$work"
