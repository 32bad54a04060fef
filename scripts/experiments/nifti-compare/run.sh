#!/bin/sh
# Re-run every measurement in REPORT.md. Uses its own target dir and one job.
set -e
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="$PWD/target"
# The measured reader is core's own: copy its files (all but volume/mod.rs, adapted here)
# and expose the header encoder to the harness.
core=../../../core/src/volume
rm -rf corecopy/src/volume/nifti && mkdir -p corecopy/src/volume
cp "$core"/affine.rs "$core"/error.rs "$core"/grid.rs "$core"/labels.rs corecopy/src/volume/
cp -r "$core"/nifti corecopy/src/volume/nifti
printf '\n#[doc(hidden)]\npub fn encode_header_pub(h: &NiftiHeader) -> Vec<u8> {\n    header::encode_header(h)\n}\n' >> corecopy/src/volume/nifti/mod.rs
cargo test -j1 -p corecopy 2>&1 | grep "test result" | head -1          # the copied core tests
cargo build -j1 --release -p hostile
./target/release/hostile hostile > hostile_table.md                      # writes cases/NN.bin too
./target/release/hostile features > features.txt 2>&1
mkdir -p sizes
W=target/wasm32-unknown-unknown/wasm
cargo build -j1 --profile wasm --target wasm32-unknown-unknown -p wasm-base  && cp $W/wasm_base.wasm sizes/base_flate2_only.wasm
cargo build -j1 --profile wasm --target wasm32-unknown-unknown -p wasm-core  && cp $W/wasm_core.wasm sizes/core.wasm
cargo build -j1 --profile wasm --target wasm32-unknown-unknown -p wasm-nifti && cp $W/wasm_nifti.wasm sizes/nifti_handaffine.wasm
cargo build -j1 --profile wasm --target wasm32-unknown-unknown -p wasm-nifti --features nalgebra && cp $W/wasm_nifti.wasm sizes/nifti_nalgebra.wasm
for f in sizes/*.wasm; do echo "$f raw=$(stat -c%s $f) gzip9=$(gzip -9 -c $f | wc -c)"; done | tee sizes/sizes.txt
node wasm_mem.js | tee wasm_mem.txt
for p in wasm-core wasm-nifti; do echo "$p: $(cargo tree -p $p --target wasm32-unknown-unknown -e normal --prefix none | sed 's/ (\*)//' | sort -u | wc -l) crates"; done
