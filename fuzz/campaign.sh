#!/usr/bin/env bash
# The fuzzing campaign of docs/RELIABILITY.md: every target for RUNS executions (default
# 10^6) from the seed corpora (seed.sh), inputs capped at a few KiB so that mutations
# explore the parsers rather than re-decode one large file. Crashes land in artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
runs="${RUNS:-1000000}"
[ -d corpus/dicom ] || ./seed.sh
cargo +nightly fuzz build -s none -a
bin=target/x86_64-unknown-linux-gnu/release
for t in nifti scan dicom bundle weights checkpoint cache; do
  max=8192; [ "$t" = weights ] && max=16384; [ "$t" = dicom ] && max=32768
  mkdir -p "artifacts/$t"
  start=$(date +%s)
  "$bin/$t" "corpus/$t" -runs="$runs" -max_len="$max" -rss_limit_mb=2048 -timeout=20 \
    -artifact_prefix="artifacts/$t/" 2> "artifacts/$t.log" || echo "$t: FOUND SOMETHING (artifacts/$t/)"
  echo "$t: $(grep -oE 'Done [0-9]+ runs' "artifacts/$t.log" || echo 'stopped early') in $(( $(date +%s) - start )) s"
done
