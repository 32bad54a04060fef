#!/usr/bin/env bash
# Runs every brainfm test: the workspace's unit and end-to-end tests on CPU, then the
# browser app's release build (wasm32, trunk) and its tests in real headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
BRAINFM_BROWSER=1 bash scripts/setup.sh
# One target folder for every build, outside the clone, so CI reuses what is built.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
jobs="${BRAINFM_JOBS:-2}"

echo "== workspace tests (CPU)"
# Unit and integration tests only: the benchmark examples (scripts/bench builds them) and
# doc tests (there are none to run) would only add link time to a cold run.
cargo test -j"$jobs" --workspace --lib --bins --tests -- --test-threads="${BRAINFM_TEST_THREADS:-2}"

echo "== browser app: release wasm32 build (trunk) and headless Chromium tests"
bash scripts/web-tools.sh
BRAINFM_CLI="$CARGO_TARGET_DIR/debug/brainfm" WASM_TARGET_DIR="$CARGO_TARGET_DIR" bash scripts/test-browser.sh
