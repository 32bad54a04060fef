#!/usr/bin/env bash
# Pre-training step benchmark of the `base` preset (FOMO25 winner size) on the CPU
# backend (burn-flex): step time and peak memory at 64^3 and 96^3, batch 2 (one subject,
# two contrasts, swap objective). One configuration per process so VmHWM is its own.
# Usage: scripts/bench-pretrain.sh [steps]   (results: JSON lines on stdout)
set -euo pipefail
steps="${1:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bt2}"
cargo build -j2 -p brainfm-trainer --example bench_pretrain
bin="$CARGO_TARGET_DIR/debug/examples/bench_pretrain"
for patch in 64 96; do
  "$bin" base "$patch" 2 swap "$steps"
done
