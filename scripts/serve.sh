#!/usr/bin/env bash
# The main job: build the browser app and serve it on localhost. Installs the web
# toolchain on first use (trunk 0.21.14, wasm-bindgen-cli matching Cargo.lock, binaryen 132).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/web-tools.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
port="${BRAINFM_PORT:-8080}"
echo "serving brainfm on http://127.0.0.1:$port (Ctrl-C to stop)"
# No autoreload: its injected inline script would be refused by our Content-Security-Policy.
exec trunk serve --release --offline --no-autoreload --address 127.0.0.1 --port "$port"
