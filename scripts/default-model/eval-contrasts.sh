#!/usr/bin/env bash
# Score a model per contrast on synthetic heads it was never trained on: three subjects of
# the ICBM152 T1's own texture (k-means tissue labels, as stage 8 onwards), remapped to
# physics-ordered T1w, T2w and FLAIR, inside synthetic skull, scalp and clutter. There is no
# real T2w or FLAIR scan with tissue labels in the registries, so this is the only check of
# the other contrasts; the subjects' deformations, shells and clutter come from a seed (99)
# no training stage uses, but the anatomy is the same template's.
#
#   scripts/default-model/eval-contrasts.sh WORK MODEL.bfm OUT_PREFIX
#
# Needs WORK/icbm152_kmeans.nii.gz and WORK/src (train.sh makes them). Writes
# OUT_PREFIX-{T1w,T2w,FLAIR}.json (brainfm eval's JSON, mean Dice per class in "summary").
set -euo pipefail
WORK=${1:?usage: $0 WORK MODEL OUT_PREFIX}
MODEL=${2:?usage: $0 WORK MODEL OUT_PREFIX}
OUT=${3:?usage: $0 WORK MODEL OUT_PREFIX}
BRAINFM=${BRAINFM:?set BRAINFM to the brainfm binary}
H="$WORK/heldout_contrasts"
CONTRASTS=(T1w T2w FLAIR)
mkdir -p "$(dirname "$OUT")"
if [ ! -f "$H/FLAIR/dataset.json" ]; then
  rm -rf "$H"
  "$BRAINFM" synth --labels "$WORK/icbm152_kmeans.nii.gz" --contrasts T1w,T2w,FLAIR \
    --brain-image "$WORK/src/icbm152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz" \
    --spacing 1.5 --seed 99 --format nnunet --classes background,CSF,GM,WM \
    --shells 2,5,5 --clutter 4 --air 0.5 --pad-mm 30 --subjects 3 \
    --order T1w=5,4,1,2,3 --order T2w=5,3,2,1 --order FLAIR=5,4,1,3,2 --output "$H/all"
  # One dataset per contrast, so brainfm eval's summary is that contrast's mean.
  for c in "${CONTRASTS[@]}"; do
    mkdir -p "$H/$c/imagesTr" "$H/$c/labelsTr"
    ln "$H/all/imagesTr/"*_"${c}"_0000.nii.gz "$H/$c/imagesTr/"
    ln "$H/all/labelsTr/"*_"${c}".nii.gz "$H/$c/labelsTr/"
    sed 's/"numTraining": [0-9]*/"numTraining": 3/' "$H/all/dataset.json" > "$H/$c/dataset.json"
  done
fi
for c in "${CONTRASTS[@]}"; do
  "$BRAINFM" eval --quiet --model "$MODEL" --data "$H/$c" --json "$OUT-$c.json"
done
