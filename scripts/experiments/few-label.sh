#!/usr/bin/env bash
# The few-label experiment (issue 18): does self-supervised pre-training pay off when only
# 1, 2, 4 or 8 labelled volumes exist? Three pre-trainings of the same network (swap, the
# FOMO25 winner's objective; MAE, the SSL3D winner's; swap+anat) and a random start are
# fine-tuned with equal budgets (all layers; some cells also the decoder alone, the encoder
# frozen: a probe of what the representation holds), with several seeds, and scored on Colin27 (a real T1,
# with skull and brain-extracted, never used for training). Then probes of the pre-trained
# representations on held-out synthetic subjects (probe.py): does z_m tell the contrast,
# does z_s find the same subject in another contrast, and contrast classification from
# 1, 2 or 4 labelled subjects.
#
#   scripts/experiments/few-label.sh WORK
#
# WORK holds scripts/default-model/inputs.sh's output (made here when missing). Every run
# is skipped once its result exists, so a stopped run resumes. Writes WORK/few-label/
# (runs.tsv, probes.tsv, summary.md, dice-vs-labels.svg); docs/FEW_LABEL.md quotes them.
set -euo pipefail

# --- settings --------------------------------------------------------------------------
PRESET=tiny
SPACING=2                       # mm: the network grid
PRE_SUBJECTS=32                 # synthetic subjects from the ICBM152 tissue labels ...
PRE_CONTRASTS=T1w,T2w,FLAIR,PDw # ... in each of these contrasts
PRE_STEPS=800
PRE_PATCH=48
PRE_LR=1e-3
OBJECTIVES=(swap mae swap+anat) # pretrain's current defaults (docs/SWAP_ABLATION.md)
POOL=12                         # labelled real-texture T1w heads to draw from
LABELLED=(1 2 4 8)
SEEDS=(0 1 2)                   # each: another draw of labelled heads, patches, random start
FT_STEPS=800                    # the same for every run
FT_PATCH=32
FT_LR=2e-3
FT_ARGS=(--loss tversky --foreground 0.5)  # the default model's loss (MODEL_CARD.md)
# The frozen-encoder probe (decoder only) for these labelled counts and seeds; the 2-core
# machine this ran on had time for all-layer fine-tuning in every cell and no more.
PROBE_LABELLED=(1 8)
PROBE_SEEDS=(0)
PROBE_SUBJECTS=12               # held-out synthetic subjects for the probes (seed 77)

WORK=${1:?usage: $0 WORK}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
if [ -z "${BRAINFM:-}" ]; then
  (cd "$ROOT" && cargo build -j2 -p brainfm-trainer --bin brainfm)
  BRAINFM="${CARGO_TARGET_DIR:-$ROOT/target}/debug/brainfm"
fi
export BRAINFM
[ -d "$WORK/Dataset002_Colin27" ] || bash "$ROOT/scripts/default-model/inputs.sh" "$WORK"
ICBM_T1="$WORK/src/icbm152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
KMEANS="$WORK/icbm152_kmeans.nii.gz"
OUT="$WORK/few-label"
mkdir -p "$OUT"
start=$(date +%s)
say() { echo "few-label: $* ($(( $(date +%s) - start )) s)" >&2; }
# timed FILE CMD...: run CMD, append its wall seconds to FILE.
timed() { local f=$1 t; shift; t=$(date +%s); "$@"; echo $(( $(date +%s) - t )) >> "$f"; }

# --- data ------------------------------------------------------------------------------
# Pre-training: unlabelled synthetic heads, several contrasts per subject (swap+anat also
# reads the label maps synth writes as derivatives).
[ -d "$OUT/pretrain_bids" ] || "$BRAINFM" synth --labels "$WORK/icbm152_tissue.nii.gz" \
  --shells 2,5,5 --subjects "$PRE_SUBJECTS" --contrasts "$PRE_CONTRASTS" \
  --spacing "$SPACING" --seed 1 --output "$OUT/pretrain_bids"
# Labelled heads: the default model's stage-8 kind (real ICBM152 T1 texture, k-means tissue
# labels, skull, scalp, clutter), T1w, a seed of their own.
[ -f "$KMEANS" ] || "$BRAINFM" labels kmeans --image "$ICBM_T1" \
  --mask "$WORK/icbm152_tissue.nii.gz" --classes 3 --output "$KMEANS"
[ -d "$OUT/pool" ] || "$BRAINFM" synth --labels "$KMEANS" --contrasts T1w --spacing 1.5 \
  --seed 18 --format nnunet --classes background,CSF,GM,WM --brain-image "$ICBM_T1" \
  --shells 2,5,5 --clutter 4 --air 0.5 --pad-mm 30 --subjects "$POOL" \
  --order T1w=5,4,1,2,3 --output "$OUT/pool"
# Probes: held-out subjects (another seed), every contrast.
[ -d "$OUT/probe_bids" ] || "$BRAINFM" synth --labels "$WORK/icbm152_tissue.nii.gz" \
  --shells 2,5,5 --subjects "$PROBE_SUBJECTS" --contrasts "$PRE_CONTRASTS" \
  --spacing "$SPACING" --seed 77 --output "$OUT/probe_bids"

# --- pre-training ------------------------------------------------------------------------
for o in "${OBJECTIVES[@]}"; do
  run="$OUT/pre-$o"
  [ -f "$run/pretrained.bfm" ] && continue
  say "pre-training $o"
  rm -f "$run.seconds"
  timed "$run.seconds" "$BRAINFM" pretrain --quiet --data "$OUT/pretrain_bids" \
    --preset "$PRESET" --objective "$o" --steps "$PRE_STEPS" --patch "$PRE_PATCH" \
    --spacing "$SPACING" --lr "$PRE_LR" --seed 0 --checkpoint-every 100 --output "$run" \
    >/dev/null
done
# The probes' baseline: the same architecture, untrained.
[ -f "$OUT/untrained.bfm" ] || "$BRAINFM" init --preset "$PRESET" --seed 0 \
  --spacing "$SPACING" --patch "$PRE_PATCH" --output "$OUT/untrained.bfm" >/dev/null

# --- the few-label grid --------------------------------------------------------------------
# labelled_set N SEED DIR: an nnU-Net dataset of N pool heads, a window starting at head
# 4*SEED+1 (so seeds draw different heads), as hard links.
labelled_set() {
  local n=$1 seed=$2 ds=$3 i c
  rm -rf "$ds"; mkdir -p "$ds/imagesTr" "$ds/labelsTr"
  for ((i = 0; i < n; i++)); do
    c=$(printf "sub-%02d_T1w" $(( (4 * seed + i) % POOL + 1 )))
    ln "$OUT/pool/imagesTr/${c}_0000.nii.gz" "$ds/imagesTr/"
    ln "$OUT/pool/labelsTr/$c.nii.gz" "$ds/labelsTr/"
  done
  sed "s/\"numTraining\": *[0-9]*/\"numTraining\": $n/" "$OUT/pool/dataset.json" > "$ds/dataset.json"
}
# cell N SEED TRAINABLE: fine-tune every start on N labelled heads drawn by SEED, score each.
cell() {
  local n=$1 seed=$2 trainable=$3 s run init
  local ds="$OUT/labelled/n$n-seed$seed"
  for s in "${OBJECTIVES[@]}" scratch; do
    run="$OUT/runs/n$n-$s-$trainable-seed$seed"
    [ -f "$run/colin27-stripped-brain-mask.json" ] && continue
    [ -f "$ds/dataset.json" ] || labelled_set "$n" "$seed" "$ds"
    case $s/$trainable in
      # Random weights of the same architecture, drawn from --seed.
      scratch/all) init=(--init "$OUT/pre-${OBJECTIVES[0]}/pretrained.bfm" --from-scratch) ;;
      # A frozen random encoder (finetune refuses to freeze one it draws itself).
      scratch/*) init=(--init "$OUT/untrained.bfm") ;;
      *) init=(--init "$OUT/pre-$s/pretrained.bfm") ;;
    esac
    rm -rf "$run"; mkdir -p "$run"
    timed "$run/seconds" "$BRAINFM" finetune --quiet "${init[@]}" --data "$ds" \
      --trainable "$trainable" --steps "$FT_STEPS" --patch "$FT_PATCH" \
      --spacing "$SPACING" --lr "$FT_LR" --val-fraction 0 --seed "$seed" \
      "${FT_ARGS[@]}" --output "$run" >/dev/null
    timed "$run/seconds" bash "$ROOT/scripts/default-model/eval.sh" "$WORK" \
      "$run/last.bfm" "$run/colin27" >/dev/null
    rm -f "$run/checkpoint.bfck"
    say "$n labelled, $s, $trainable, seed $seed"
  done
}
for seed in "${SEEDS[@]}"; do
  for n in "${LABELLED[@]}"; do cell "$n" "$seed" all; done
done
for seed in "${PROBE_SEEDS[@]}"; do
  for n in "${PROBE_LABELLED[@]}"; do cell "$n" "$seed" decoder; done
done

# --- a second real head, when the peers' scans are there --------------------------------
# PEERS=DIR (scripts/default-model/peers/fetch.sh's output): the brain mask on robex_atlas,
# a real T1 with face and neck (evaluation only), against ROBEX's own mask.
if [ -n "${PEERS:-}" ]; then
  for run in "$OUT"/runs/*/; do
    run=${run%/}
    [ -f "$run/robex-brain-mask.json" ] && continue
    "$BRAINFM" predict --quiet --model "$run/last.bfm" \
      --input "$PEERS/scans/robex_atlas.nii.gz" --output "$run/robex_pred.nii.gz" >/dev/null
    "$BRAINFM" labels merge --input "$run/robex_pred.nii.gz" --map 1,2,3=1 \
      --output "$run/robex_mask.nii.gz" >/dev/null
    "$BRAINFM" eval --pred "$run/robex_mask.nii.gz" \
      --reference "$PEERS/ref/robex_atlas_mask.nii.gz" --json "$run/robex-brain-mask.json" \
      >/dev/null
    rm -f "$run/robex_pred.nii.gz" "$run/robex_mask.nii.gz"
  done
  say "robex_atlas scored"
fi

# --- probes of the representations -----------------------------------------------------
for m in "${OBJECTIVES[@]}" untrained; do
  f="$OUT/embed-$m.tsv"
  [ -f "$f" ] && continue
  model="$OUT/pre-$m/pretrained.bfm"; [ "$m" = untrained ] && model="$OUT/untrained.bfm"
  "$BRAINFM" embed --quiet --model "$model" --input "$OUT/probe_bids" --output "$f"
done

python3 "$ROOT/scripts/experiments/few_label_report.py" "$OUT" \
  --objectives "${OBJECTIVES[@]}" --labelled "${LABELLED[@]}" --seeds "${SEEDS[@]}"
say "done"
