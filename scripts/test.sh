#!/usr/bin/env bash
# Runs every brainfm test: the workspace's unit and end-to-end tests on CPU, and the
# wasm32 build of the browser app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# One target folder for every build, outside the clone, so CI reuses what is built.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
jobs="${BRAINFM_JOBS:-2}"

echo "== wasm32 build of the app"
cargo build -j"$jobs" -p brainfm-app --target wasm32-unknown-unknown

echo "== workspace tests (CPU)"
cargo test -j"$jobs" --workspace -- --test-threads="${BRAINFM_TEST_THREADS:-2}"
