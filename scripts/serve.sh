#!/usr/bin/env bash
# The main job: build the browser app (release, wasm-opt -Oz: what users download) and serve
# it on localhost. Installs the web toolchain on first use (trunk 0.21.14, wasm-bindgen-cli
# matching Cargo.lock, binaryen 132). The build is redone only when a file it is made from
# changed since the last one (dist/.brainfm-built); otherwise the page is served at once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/web-tools.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
port="${BRAINFM_PORT:-8080}"
stamp=dist/.brainfm-built
sources=(app core www models Cargo.toml Cargo.lock Trunk.toml)
changed() {
  [ ! -f "$stamp" ] && return 0
  [ -n "$(find "${sources[@]}" -type f -newer "$stamp" ! -name index.test.html -print -quit)" ]
}
if changed; then
  start=$(date +%s)
  trunk build --release --offline
  touch "$stamp"
  echo "built dist/ in $(( $(date +%s) - start )) s"
else
  echo "dist/ is up to date with the sources: serving it as built"
fi
# Trunk's own server would rebuild, and re-run wasm-opt -Oz, at every start. No autoreload
# either way: its injected inline script would be refused by our Content-Security-Policy.
exec node scripts/static-server.mjs dist "$port" 127.0.0.1
