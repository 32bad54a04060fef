#!/usr/bin/env bash
# Time a cold CI run the way a fresh machine sees it: a fresh clone of this checkout's HEAD
# and a fresh HOME (no cargo registry or target folder, no trunk, wasm-bindgen, node_modules
# or npm cache). The rustup toolchain and the Debian packages are the machine's. Needs the
# rustup proxies (cargo, rustc, ...) in ~/.cargo/bin; uses /tmp/brainfm-cold (removed first).
set -uo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
cold=/tmp/brainfm-cold
rm -rf "$cold" && mkdir -p "$cold/home" "$cold/bin"
for tool in cargo rustc rustup rustdoc rustfmt cargo-fmt; do
  [ -e "$HOME/.cargo/bin/$tool" ] && ln -s "$HOME/.cargo/bin/$tool" "$cold/bin/$tool"
done
git clone -q "$src" "$cold/brainfm"
cd "$cold/brainfm"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" HOME="$cold/home" CARGO_HOME="$cold/home/.cargo"
export PATH="$cold/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
start=$(date +%s)
bash .ci/run
rc=$?
echo "cold CI run: rc=$rc in $(( $(date +%s) - start )) s"
exit $rc
