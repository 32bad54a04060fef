#!/usr/bin/env bash
# Score a model on the held-out Colin27 (Dataset002, never trained on): Dice and HD95 of
# each tissue class, and of the brain mask (the union of CSF, GM and WM).
#
#   scripts/default-model/eval.sh WORK MODEL.bfm OUT_PREFIX
#
# Writes OUT_PREFIX{,-stripped}-{tissue,brain-mask}.json (brainfm eval's JSON): the
# scan with skull, then the same head brain-extracted.
set -euo pipefail
WORK=${1:?usage: $0 WORK MODEL OUT_PREFIX}
MODEL=${2:?usage: $0 WORK MODEL OUT_PREFIX}
OUT=${3:?usage: $0 WORK MODEL OUT_PREFIX}
BRAINFM=${BRAINFM:?set BRAINFM to the brainfm binary}
D2="$WORK/Dataset002_Colin27"
E="$WORK/eval"
mkdir -p "$E" "$(dirname "$OUT")"
MRICRON=${MRICRON:-/usr/share/mricron/templates}
# Two inputs of the same held-out head: the raw T1 with skull and scalp (the hard case),
# and mricron-data's brain-extracted ch2bet (what a user with a stripped scan gives).
score() { # INPUT TAG
  local pred="$E/colin27${2}_pred.nii.gz"
  "$BRAINFM" predict --quiet --model "$MODEL" --input "$1" --output "$pred"
  "$BRAINFM" eval --pred "$pred" --reference "$D2/labelsTs/colin27.nii.gz" \
    --json "$OUT$2-tissue.json"
  "$BRAINFM" labels merge --input "$pred" --map 1,2,3=1 --output "$E/pred_mask$2.nii.gz" >/dev/null
  "$BRAINFM" eval --pred "$E/pred_mask$2.nii.gz" --reference "$E/ref_mask.nii.gz" \
    --json "$OUT$2-brain-mask.json"
}
"$BRAINFM" labels merge --input "$D2/labelsTs/colin27.nii.gz" --map 1,2,3=1 --output "$E/ref_mask.nii.gz" >/dev/null
score "$D2/imagesTs/colin27_0000.nii.gz" ""
score "$MRICRON/ch2bet.nii.gz" "-stripped"
