#!/usr/bin/env bash
# Build the web app with trunk (release) and run its tests in real headless Chromium
# (tests/browser: playwright-core + Node's test runner; TAP output ends with "# pass N" /
# "# fail N"). Artifacts (screenshots, exported files, metrics.json) land in
# tests/browser/artifacts unless ARTIFACTS says otherwise.
#
# Needs: trunk 0.21.14, wasm-bindgen-cli, wasm-opt (scripts/web-tools.sh installs them),
# Chromium (apt-get install chromium), Node 18+, and the brainfm CLI (BRAINFM_CLI; built
# with cargo build -p brainfm-trainer if missing). The build lands in dist-test/ (dist/ is
# serve.sh's optimised build); SKIP_BUILD=1 reuses dist-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$HOME/.cargo/bin:$root/node_modules/.bin:$PATH"
# The wasm build has its own target dir (burn for wasm32 is a separate, long build).
export CARGO_TARGET_DIR="${WASM_TARGET_DIR:-$HOME/.cache/brainfm-target}"

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  for tool in trunk wasm-bindgen wasm-opt; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run scripts/web-tools.sh" >&2; exit 2; }
  done
  # The tests run on a build without wasm-opt's size pass, which took 13 minutes of a cold
  # run under node; scripts/serve.sh keeps -Oz for what users download. The page is
  # generated beside www/index.html so that its relative links resolve.
  test_html=www/index.test.html
  sed 's/data-wasm-opt="z"/data-wasm-opt="0"/' www/index.html > "$test_html"
  trap 'rm -f "$root/$test_html"' EXIT
  trunk build "$test_html" --release --offline --dist dist-test
fi
export DIST="$root/dist-test"
wasm="$DIST/brainfm-app_bg.wasm"
[ -f "$wasm" ] || { echo "no $wasm: the trunk build failed or dist-test/ is missing" >&2; exit 2; }
echo "# wasm (not size-optimised): $(stat -c %s "$wasm") bytes raw, $(gzip -9 -c "$wasm" | wc -c) bytes gzip -9"

if [ -z "${BRAINFM_CLI:-}" ]; then
  # The native CLI (used to make a test bundle and to cross-check labels); built in the
  # native target folder when missing.
  native="${NATIVE_TARGET_DIR:-$HOME/.cache/brainfm-target}"
  BRAINFM_CLI="$native/debug/brainfm"
  [ -x "$BRAINFM_CLI" ] || CARGO_TARGET_DIR="$native" cargo build -j2 -p brainfm-trainer
fi
export BRAINFM_CLI
export CHROMIUM="${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"

cd tests/browser
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund
node --test --test-concurrency=1 --test-reporter=tap app.test.mjs finetune.test.mjs teach.test.mjs faults.test.mjs edit.test.mjs formats.test.mjs
