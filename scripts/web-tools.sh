#!/usr/bin/env bash
# Web toolchain for the app, installed only where missing: trunk 0.21.14 (0.22 needs a newer
# rustc), wasm-bindgen-cli at the version Cargo.lock pins, and binaryen 132 from npm
# (Debian's binaryen 108 produces broken wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if ! trunk --version 2>/dev/null | grep -q "0.21.14"; then
  # A debug build: trunk only orchestrates (wasm-bindgen and wasm-opt do the heavy work),
  # and it compiles in about half the time of a release build on a fresh machine.
  cargo install trunk --version 0.21.14 --locked --debug
fi
wb=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
if [ -n "$wb" ] && ! wasm-bindgen --version 2>/dev/null | grep -q "$wb"; then
  # Without --locked: its lockfile pins a crate the registry no longer has.
  cargo install wasm-bindgen-cli --version "$wb"
fi
if [ ! -x node_modules/.bin/wasm-opt ]; then
  npm install --no-audit --no-fund --silent binaryen@132
fi
