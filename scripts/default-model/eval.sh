#!/usr/bin/env bash
# Score a model on the held-out Colin27 (Dataset002, never trained on): Dice and HD95 of
# each tissue class, and of the brain mask (the union of CSF, GM and WM).
#
#   scripts/default-model/eval.sh WORK MODEL.bfm OUT_PREFIX
#
# Writes OUT_PREFIX-tissue.json and OUT_PREFIX-brain-mask.json (brainfm eval's JSON).
set -euo pipefail
WORK=${1:?usage: $0 WORK MODEL OUT_PREFIX}
MODEL=${2:?usage: $0 WORK MODEL OUT_PREFIX}
OUT=${3:?usage: $0 WORK MODEL OUT_PREFIX}
BRAINFM=${BRAINFM:?set BRAINFM to the brainfm binary}
D2="$WORK/Dataset002_Colin27"
E="$WORK/eval"
mkdir -p "$E" "$(dirname "$OUT")"
"$BRAINFM" predict --quiet --model "$MODEL" --input "$D2/imagesTs/colin27_0000.nii.gz" \
  --output "$E/colin27_pred.nii.gz"
"$BRAINFM" eval --pred "$E/colin27_pred.nii.gz" --reference "$D2/labelsTs/colin27.nii.gz" \
  --json "$OUT-tissue.json"
"$BRAINFM" labels merge --input "$E/colin27_pred.nii.gz" --map 1,2,3=1 --output "$E/pred_mask.nii.gz" >/dev/null
"$BRAINFM" labels merge --input "$D2/labelsTs/colin27.nii.gz" --map 1,2,3=1 --output "$E/ref_mask.nii.gz" >/dev/null
"$BRAINFM" eval --pred "$E/pred_mask.nii.gz" --reference "$E/ref_mask.nii.gz" \
  --json "$OUT-brain-mask.json"
