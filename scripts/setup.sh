#!/usr/bin/env bash
# Installs what brainfm's build and tests need on a fresh Debian machine. Idempotent:
# every step checks first, so a second run costs seconds.
set -euo pipefail

need_apt=()
[ -f /usr/share/mricron/templates/ch2.nii.gz ] || need_apt+=(mricron-data)
# Node runs wasm-opt (npm binaryen), the static server and the browser tests.
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# Open MPI runs the data-parallel tests (trainer/tests/distributed.rs): brainfm loads
# libmpi at run time, so only the runtime and mpirun are needed, never to build.
command -v mpirun >/dev/null || need_apt+=(openmpi-bin)
if [ "${BRAINFM_BROWSER:-0}" = 1 ]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  echo "setup: rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
