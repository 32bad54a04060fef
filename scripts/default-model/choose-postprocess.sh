#!/usr/bin/env bash
# Choose a model's post-processing on synthetic heads it was never trained on, as nnU-Net
# chooses its own on validation data: brain-mask Dice (CSF+GM+WM against the reference)
# with no post-processing and with "keep the largest component" after an opening of each
# radius in RADII. Real scans play no part in the choice (they are the evaluation).
#
#   scripts/default-model/choose-postprocess.sh WORK MODEL.bfm OUT.json
#
# The held-out heads: real-texture T1w subjects of the ICBM152 k-means labels (as stage 8
# onwards) from a seed no stage uses (98), half with a neck and face (stage 11's recipe),
# half without. Needs WORK/icbm152_kmeans.nii.gz and WORK/src (train.sh makes them).
# Prints the best radius ("none" when no radius beats none); OUT.json has every score.
set -euo pipefail
WORK=${1:?usage: $0 WORK MODEL OUT.json}
MODEL=${2:?usage: $0 WORK MODEL OUT.json}
OUT=${3:?usage: $0 WORK MODEL OUT.json}
BRAINFM=${BRAINFM:?set BRAINFM to the brainfm binary}
RADII=(none 0 4 8 12)
H="$WORK/heldout_postprocess"
T1="$WORK/src/icbm152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
HEADS=(--shells 2,5,5 --clutter 4 --air 0.5 --pad-mm 30)
if [ ! -f "$H/ref/done" ]; then
  rm -rf "$H"
  synth() { # OUT ARGS...: three held-out T1w subjects
    local out=$1; shift
    "$BRAINFM" synth --labels "$WORK/icbm152_kmeans.nii.gz" --contrasts T1w \
      --brain-image "$T1" --spacing 1.5 --seed 98 --format nnunet \
      --classes background,CSF,GM,WM "${HEADS[@]}" --subjects 3 --output "$out" "$@" >/dev/null
  }
  synth "$H/neck" --neck-mm 150 --order T1w=10,5,4,12,1,2,13,3,11,7
  synth "$H/head" --order T1w=5,4,1,2,3
  mkdir -p "$H/images" "$H/ref"
  for kind in neck head; do
    for f in "$H/$kind"/labelsTr/*.nii.gz; do
      b=$(basename "$f" .nii.gz)
      ln "$H/$kind/imagesTr/${b}_0000.nii.gz" "$H/images/$kind-$b.nii.gz"
      "$BRAINFM" labels merge --input "$f" --map 1,2,3=1 --output "$H/ref/$kind-$b.nii.gz" >/dev/null
    done
  done
  touch "$H/ref/done"
fi
mkdir -p "$(dirname "$OUT")"
results=()
for r in "${RADII[@]}"; do
  pred="$H/pred-$r"
  rm -rf "$pred"; mkdir -p "$pred"
  arg=-1; [ "$r" = none ] || arg=$r
  for f in "$H"/images/*.nii.gz; do
    "$BRAINFM" predict --quiet --model "$MODEL" --largest-component-mm "$arg" --input "$f" \
      --output "$pred/raw.nii.gz" >/dev/null
    "$BRAINFM" labels merge --input "$pred/raw.nii.gz" --map 1,2,3=1 \
      --output "$pred/$(basename "$f")" >/dev/null
  done
  rm "$pred/raw.nii.gz"
  "$BRAINFM" eval --quiet --pred "$pred" --reference "$H/ref" --labels 1 --json "$pred.json" >/dev/null
  results+=("$r=$pred.json")
done
python3 - "$OUT" "${results[@]}" <<'PY'
import json, sys
out, rows = sys.argv[1], {}
for arg in sys.argv[2:]:
    r, path = arg.split("=", 1)
    d = json.load(open(path))
    rows[r] = {"mean_brain_dice": d["summary"][0]["mean_dice"],
               "cases": {c["case"] if "case" in c else c.get("name", str(i)): c
                         for i, c in enumerate(d["cases"])}}
best = max(rows, key=lambda r: (rows[r]["mean_brain_dice"], r == "none"))
json.dump({"chosen": best, "radii": rows}, open(out, "w"), indent=1)
for r, v in rows.items():
    print(f"# opening {r:>4}: mean brain-mask Dice {v['mean_brain_dice']:.4f}", file=sys.stderr)
print(best)
PY
