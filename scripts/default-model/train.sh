#!/usr/bin/env bash
# Train the bundled default model (models/default.bfm) with brainfm only, from inputs
# regenerated from registry packages (inputs.sh). See docs/MODEL_CARD.md.
#
#   scripts/default-model/train.sh WORK
#
# The recipe is the table RECIPE below, one stage a row, run top to bottom by one loop.
# Every stage but the exports and the evaluation is skipped once its output exists, so a
# killed run continues; the brainfm runs themselves resume from their checkpoints.
# It writes models/{pretrained,multicontrast,default}.bfm and docs/default-model/*.json;
# with PEERS_PYTHON=deepbet's venv python, also docs/default-model/peers.{json,md} (the
# real heads of scripts/default-model/peers against deepbet).
set -euo pipefail

# --- settings (what the model card reports) ------------------------------------------------
PRESET=tiny
SPACING=2              # mm: the network grid
PRE_SUBJECTS=16
PRE_CONTRASTS=T1w,T2w,FLAIR,PDw
PRE_STEPS=150
# The FOMO25 paper's swap recipe, which the shipped chain was pre-trained with (brainfm
# pretrain's defaults have since become the better recipe of docs/SWAP_ABLATION.md; a
# chain pre-trained that way has not been fine-tuned and measured yet).
PRE_RECIPE=(--recon smooth-l1 --cos-ramp 0 --logvar-bias burn)
PRE_PATCH=48
# Stage 1: background / CSF / GM / WM on random contrasts, from the pre-trained network.
FT_STEPS=500
FT_PATCH=48
FT_LR=2e-3
SHELLS=2,5,5           # mm: synthetic outer CSF/dura, skull and scalp around the brain
# Stage 2: label order darkest -> brightest (tissue 1 CSF, 2 GM, 3 WM; shells 4 dura/CSF,
# 5 skull, 6 scalp); FLAIR and the scalp stay random.
# shellcheck disable=SC2054  # the commas are inside the values
ORDERS=(--order T1w=5,4,1,2,3 --order T2w=5,3,2,1)
# Brains without shells (stages 5 and 6): CSF < GM < WM in T1w, the reverse in T2w.
# shellcheck disable=SC2054
BARE_ORDERS=(--order T1w=1,2,3 --order T2w=3,2,1)
FT2_SUBJECTS=16
FT2_STEPS=300
FT2_LR=2e-3
# Stage 3: more of stage 2's data, a fresh warm-up + cosine at half the rate.
FT3_STEPS=400
FT3_LR=1e-3
# Stage 4: extra-cerebral clutter (labels written as background) in a field of view padded
# by 30 mm, air noise in half the images; stage 2's skull-stripped-like subjects stay in.
FT4_SUBJECTS=16
FT4_CLUTTER=4
FT4_STEPS=400
FT4_LR=1e-3
# Stage 5: brains without any head (zero background), as users' skull-stripped scans,
# mixed with all of stage 4's data so the model keeps ignoring real heads.
FT5_SUBJECTS=12
FT5_STEPS=300
FT5_LR=1e-3
# Stage 6: the real T1's texture (synth --brain-image) in heads with clutter and as bare
# brains, mixed with all of stage 5's data so the fully synthetic contrasts stay in.
FT6_HEADS=20
FT6_BARE=12
FT6_STEPS=600
FT6_LR=1e-3
# Stage 7: only the T1w-ordered real-texture cases of stage 6 and the real ICBM152 T1;
# T2w, FLAIR and the fully synthetic textures drop out (with T2w kept, held-out Colin27
# grey/white matter scored 0.67/0.57 instead of 0.74/0.83: MODEL_CARD.md).
FT7_STEPS=500
FT7_LR=1e-3
# Stage 8: stage 6/7's real-texture T1w heads and bare brains again, but labelled by the
# ICBM152 T1's own intensities (3-class k-means inside the template's brain mask: CSF
# 231 ml instead of the probability maps' 162, GM 932 instead of 1089); Tversky loss
# (misses cost more than false alarms) and half the patches centred on a random class,
# because the stage-7 model all but never predicted CSF; a new seed, new patches.
FT8_HEADS=20
FT8_BARE=12
FT8_STEPS=1000
FT8_LR=5e-4
FT8_ARGS=(--loss tversky --foreground 0.5 --seed 1)
# Stage 9, a second model for other contrasts: stage 8's T1w cases plus as many T2w and
# FLAIR real-texture ones (physics-ordered: WM < GM < CSF in T2w, CSF < WM < GM in FLAIR),
# from stage 8's model. It is not the default: on the real T1 it scores below stage 8
# (held-out Colin27 WM 0.77 against 0.88), so T1w scans keep the specialist.
FT9_HEADS=10
FT9_BARE=6
FT9_STEPS=800
FT9_LR=5e-4
FT9_ARGS=(--loss tversky --foreground 0.5 --seed 2)
# Stage 10 (the T1w default until stage 11): stage 8 continued on its own data, because it
# was still underfitting (training loss falling at its last step); a fresh warm-up + cosine
# at twice stage 8's learning rate, and a new seed (new patches and a new validation split).
# At lr 5e-4 the same 1200 steps did less on held-out synthetic T1w heads (MODEL_CARD.md).
FT10_STEPS=1200
FT10_LR=1e-3
FT10_ARGS=(--loss tversky --foreground 0.5 --seed 4)
# Stage 11, the T1w default: stage 10 on heads that run down the neck. Real scans that
# include the face and neck had their tongue, face and neck muscle called brain (issue 17:
# brain-mask Dice 0.79 on such a head). Stage 10's data plus real-texture T1w heads with a
# synthetic neck, shoulders and face (synth --neck-mm), each cut at a random height. T1w
# order for the new tissues: bone darkest, fat brightest, the cord beside white matter;
# the two muscle classes stay random, since muscle in T1w ranges from below to level with
# grey matter.
FT11_HEADS=24
FT11_NECK_MM=150
FT11_STEPS=4000
FT11_LR=1e-3
FT11_ARGS=(--loss tversky --foreground 0.5 --seed 5)
# shellcheck disable=SC2054
NECK_ORDER=(--order T1w=10,5,4,12,1,2,13,3,11,7)
SEED=0

# --- datasets under WORK (nnU-Net raw; 001 and 002 come from inputs.sh) ---------------------
D1=Dataset001_BrainTissue                # ICBM152 + synthetic subjects, random contrasts
D2=Dataset002_Colin27                    # evaluation only, never trained on
D3=Dataset003_BrainTissueOrdered         # + physics-ordered T1w/T2w
D4=Dataset004_BrainTissueClutter         # D3 + heads with clutter and noisy air
D5=Dataset005_BrainTissueMixed           # D4 + bare brains
D6=Dataset006_BrainTissueRealTexture     # D5 + the real T1's texture, heads and bare
D7=Dataset007_BrainTissueRealT1w         # D6's real-texture T1w cases only
D8=Dataset008_BrainTissueRealT1wKmeans   # real-texture T1w, k-means labels
D9=Dataset009_BrainTissueRealMixedKmeans # D8 + real-texture T2w and FLAIR
D10=Dataset010_BrainTissueNeck           # D8 + real-texture T1w heads with neck and face

# --- the recipe: one stage a row -----------------------------------------------------------
# Paths are under WORK; after '|' the stage's line in the log ("finetune N (...; S steps)"
# for finetune rows).
#   data     DONE BUILDER      run the function BUILDER unless WORK/DONE exists (a folder
#                              when DONE ends in /)
#   pretrain OUT DATA          brainfm pretrain, swap; skipped once OUT/pretrained.bfm exists
#   finetune OUT INIT DATA STEPS LR VAL_EVERY [ARGS]
#                              brainfm finetune, skipped once OUT/last.bfm exists; ARGS go to
#                              brainfm as they are (--seed $SEED unless they name one)
#   export   MODEL NAME [choose]
#                              brainfm export --to web --half to models/NAME.bfm (always);
#                              with 'choose', the post-processing that scores best on
#                              held-out synthetic heads (choose-postprocess.sh) goes in too
#   eval                       eval.sh and eval-contrasts.sh on default and multicontrast
mapfile -t RECIPE <<EOF
data     $D2/                make_inputs       | inputs
data     pretrain_bids/      make_pretrain     | synthetic multi-contrast subjects for pretraining
pretrain pre                 pretrain_bids     | pretrain ($PRESET, swap, $PRE_STEPS steps)
# the teaching views' model (app): the pre-trained network itself, before any labels
export   pre/pretrained.bfm  pretrained        |
#        out   init                data  steps        lr        val-every    args
finetune ft    pre/pretrained.bfm  $D1   $FT_STEPS    $FT_LR    125          | background, CSF, GM, WM; random contrasts
data     $D3/dataset.json    make_ordered      | synthetic subjects with physics-ordered T1w/T2w
finetune ft2   ft/last.bfm         $D3   $FT2_STEPS   $FT2_LR   100          | continue on ordered + random contrasts
finetune ft3   ft2/last.bfm        $D3   $FT3_STEPS   $FT3_LR   100          | continue on the same data
data     $D4/dataset.json    make_clutter      | synthetic heads with clutter and noisy air
finetune ft4   ft3/last.bfm        $D4   $FT4_STEPS   $FT4_LR   100          | continue on clutter + stage 2's data
data     $D5/dataset.json    make_bare         | synthetic bare brains (skull-stripped look)
finetune ft5   ft4/last.bfm        $D5   $FT5_STEPS   $FT5_LR   100          | continue on bare brains + stage 4's data
data     $D6/dataset.json    make_real_texture | real-texture subjects: the ICBM152 T1 remapped per contrast, with and without heads
finetune ft6   ft5/last.bfm        $D6   $FT6_STEPS   $FT6_LR   150          | continue on real texture + stage 5's data
data     $D7/dataset.json    make_real_t1w     | real-texture T1w cases only
finetune ft7   ft6/best.bfm        $D7   $FT7_STEPS   $FT7_LR   $FT7_STEPS   | real-texture T1w only
data     $D8/dataset.json    make_kmeans_t1w   | real-texture T1w subjects labelled by the T1's own intensities
finetune ft8   ft7/best.bfm        $D8   $FT8_STEPS   $FT8_LR   $FT8_STEPS   ${FT8_ARGS[*]} | k-means-labelled real-texture T1w, Tversky
data     $D9/dataset.json    make_kmeans_other | real-texture T2w and FLAIR subjects from the k-means labels
finetune ft9   ft8/best.bfm        $D9   $FT9_STEPS   $FT9_LR   400          ${FT9_ARGS[*]} | T1w + T2w + FLAIR real texture, Tversky
export   ft9/best.bfm        multicontrast     | export the any-contrast model (f16)
finetune ft10  ft8/best.bfm        $D8   $FT10_STEPS  $FT10_LR  $FT10_STEPS  ${FT10_ARGS[*]} | stage 8 continued on its data
data     $D10/dataset.json   make_neck         | real-texture T1w heads with a neck, shoulders and face
finetune ft11  ft10/best.bfm       $D10  $FT11_STEPS  $FT11_LR  300          ${FT11_ARGS[*]} | stage 10 on heads down to the neck
export   ft11/best.bfm       default  choose   | export the T1w default (f16), post-processing chosen on held-out synthetic heads
eval                                           | evaluate on Colin27 (held out) and on held-out T1w/T2w/FLAIR heads
EOF

# --- the stage kinds -----------------------------------------------------------------------
pretrain() {
  local resume=()
  [ -f "$WORK/$1/checkpoint.bfck" ] && resume=(--resume)
  [ -f "$WORK/$1/pretrained.bfm" ] || "$BRAINFM" pretrain --data "$WORK/$2" \
    --preset "$PRESET" --objective swap --steps "$PRE_STEPS" --patch "$PRE_PATCH" \
    --spacing "$SPACING" --lr 1e-3 --seed "$SEED" --checkpoint-every 25 "${PRE_RECIPE[@]}" \
    --output "$WORK/$1" "${resume[@]}"
}
finetune() {
  local resume=() extra=("${@:7}")
  [ -f "$WORK/$1/checkpoint.bfck" ] && resume=(--resume)
  [[ " ${extra[*]} " == *" --seed "* ]] || extra+=(--seed "$SEED")
  [ -f "$WORK/$1/last.bfm" ] || "$BRAINFM" finetune --init "$WORK/$2" --data "$WORK/$3" \
    --steps "$4" --patch "$FT_PATCH" --spacing "$SPACING" --lr "$5" --val-fraction 0.1 \
    --val-every "$6" --checkpoint-every 25 --output "$WORK/$1" "${extra[@]}" "${resume[@]}"
}
export_web() {
  local post=() r
  mkdir -p "$ROOT/models"
  if [ "${3:-}" = choose ]; then
    "$BRAINFM" export --model "$WORK/$1" --to web --half --largest-component-mm -1 \
      --output "$WORK/$2-unprocessed.bfm"
    r=$(bash "$ROOT/scripts/default-model/choose-postprocess.sh" "$WORK" \
      "$WORK/$2-unprocessed.bfm" "$ROOT/docs/default-model/$2-postprocess.json")
    [ "$r" = none ] || post=(--largest-component-mm "$r")
  fi
  "$BRAINFM" export --model "$WORK/$1" --to web --half "${post[@]}" --output "$ROOT/models/$2.bfm"
}
evaluate() {
  local m p
  mkdir -p "$ROOT/docs/default-model"
  for m in default multicontrast; do
    p="$ROOT/docs/default-model/$m"; [ $m = default ] && p="$ROOT/docs/default-model/colin27"
    bash "$ROOT/scripts/default-model/eval.sh" "$WORK" "$ROOT/models/$m.bfm" "$p"
    bash "$ROOT/scripts/default-model/eval-contrasts.sh" "$WORK" "$ROOT/models/$m.bfm" \
      "$ROOT/docs/default-model/$m-contrasts"
  done
  # The real heads of registry packages against deepbet (peers/README.md); needs deepbet's
  # venv (peers/setup_deepbet.sh), so it runs only when PEERS_PYTHON names its python.
  if [ -n "${PEERS_PYTHON:-}" ]; then
    PYTHON=$PEERS_PYTHON bash "$ROOT/scripts/default-model/peers/fetch.sh" "$WORK/peers"
    python3 "$ROOT/scripts/default-model/peers/compare.py" --scans "$WORK/peers/scans" \
      --ref "$WORK/peers/ref" --brainfm "$BRAINFM" --model "$ROOT/models/default.bfm" \
      --deepbet-python "$PEERS_PYTHON" --out "$ROOT/docs/default-model/peers"
  fi
}

# --- the data builders (the data rows' BUILDER) ---------------------------------------------
# synth_labels LABELS CONTRASTS OUT SEED ARGS...: fine-tuning subjects from a tissue label
# map (at 1.5 mm, nnU-Net raw with the four classes), plus ARGS.
synth_labels() {
  local labels=$1 contrasts=$2 out=$3 seed=$4; shift 4
  "$BRAINFM" synth --labels "$labels" --contrasts "$contrasts" \
    --spacing 1.5 --seed "$seed" --format nnunet --classes background,CSF,GM,WM \
    --output "$out" "$@"
}
# synth_tissue OUT SEED ARGS...: from the ICBM152 tissue labels, in T1w, T2w and FLAIR.
synth_tissue() { synth_labels "$WORK/icbm152_tissue.nii.gz" T1w,T2w,FLAIR "$@"; }
# Heads: the shells, extra-cerebral clutter and noisy air in a field of view padded by 30 mm.
HEADS=(--shells "$SHELLS" --clutter "$FT4_CLUTTER" --air 0.5 --pad-mm 30)
# link_cases FROM TO DIGIT: hard-link FROM's cases into TO, sub-X renamed sub-DIGITX so they
# never share a name or a validation group with the subjects synthesised into TO next.
link_cases() {
  local dir f b
  for dir in imagesTr labelsTr; do
    for f in "$1/$dir"/*; do
      b=$(basename "$f"); case "$b" in sub-*) b="sub-$3${b#sub-}" ;; esac
      ln "$f" "$2/$dir/$b"
    done
  done
}
# fresh DIR [DIR...]: remove the folders, then make the first an empty nnU-Net raw dataset.
fresh() { rm -rf "$@"; mkdir -p "$1/imagesTr" "$1/labelsTr"; }

make_inputs() { bash "$ROOT/scripts/default-model/inputs.sh" "$WORK"; }
make_pretrain() {
  "$BRAINFM" synth --labels "$WORK/icbm152_tissue.nii.gz" \
    --shells "$SHELLS" --subjects "$PRE_SUBJECTS" --contrasts "$PRE_CONTRASTS" \
    --spacing "$SPACING" --seed 1 --output "$WORK/pretrain_bids"
}
make_ordered() {          # D3: the real ICBM152 case + ordered synthetic subjects
  fresh "$WORK/$D3"
  cp "$WORK/$D1/imagesTr/icbm152_0000.nii.gz" "$WORK/$D3/imagesTr/"
  cp "$WORK/$D1/labelsTr/icbm152.nii.gz" "$WORK/$D3/labelsTr/"
  synth_tissue "$WORK/$D3" 2 --shells "$SHELLS" --subjects "$FT2_SUBJECTS" "${ORDERS[@]}"
}
make_clutter() {          # D4: D3's cases + heads
  fresh "$WORK/$D4"
  link_cases "$WORK/$D3" "$WORK/$D4" 2
  synth_tissue "$WORK/$D4" 3 "${HEADS[@]}" --subjects "$FT4_SUBJECTS" "${ORDERS[@]}"
}
make_bare() {             # D5: D4's cases + bare brains
  fresh "$WORK/$D5"
  link_cases "$WORK/$D4" "$WORK/$D5" 5
  synth_tissue "$WORK/$D5" 5 --subjects "$FT5_SUBJECTS" "${BARE_ORDERS[@]}"
}
make_real_texture() {     # D6: real-texture bare brains + D5's cases + real-texture heads
  fresh "$WORK/$D6" "$WORK/d6_bare"
  # Bare brains go through a folder of their own (their subject names would clash with
  # the heads'); synth writes into D6 last so dataset.json counts every case.
  synth_tissue "$WORK/d6_bare" 7 --brain-image "$ICBM_T1" --subjects "$FT6_BARE" \
    "${BARE_ORDERS[@]}"
  link_cases "$WORK/d6_bare" "$WORK/$D6" 7
  link_cases "$WORK/$D5" "$WORK/$D6" 6
  synth_tissue "$WORK/$D6" 6 --brain-image "$ICBM_T1" "${HEADS[@]}" --subjects "$FT6_HEADS" \
    "${ORDERS[@]}"
}
make_real_t1w() {         # D7: D6 without D5's cases (sub-6*), T2w and FLAIR
  local f b n
  fresh "$WORK/$D7"
  for f in "$WORK/$D6"/labelsTr/*.nii.gz; do
    b=$(basename "$f" .nii.gz)
    case "$b" in sub-6*|*_T2w|*_FLAIR) continue ;; esac
    ln "$f" "$WORK/$D7/labelsTr/"; ln "$WORK/$D6/imagesTr/${b}_0000.nii.gz" "$WORK/$D7/imagesTr/"
  done
  # shellcheck disable=SC2012  # the case names are plain
  n=$(ls "$WORK/$D7/labelsTr" | wc -l)
  sed "s/\"numTraining\": [0-9]*/\"numTraining\": $n/" "$WORK/$D6/dataset.json" \
    > "$WORK/$D7/dataset.json"
}
make_kmeans_t1w() {       # D8: the ICBM152 T1's own k-means labels; bare brains, T1, heads
  "$BRAINFM" labels kmeans --image "$ICBM_T1" --mask "$WORK/icbm152_tissue.nii.gz" \
    --classes 3 --output "$KMEANS"
  fresh "$WORK/$D8" "$WORK/d8_bare"
  synth_labels "$KMEANS" T1w "$WORK/d8_bare" 7 --brain-image "$ICBM_T1" \
    --subjects "$FT8_BARE" --order T1w=1,2,3
  link_cases "$WORK/d8_bare" "$WORK/$D8" 7
  cp "$ICBM_T1" "$WORK/$D8/imagesTr/icbm152_0000.nii.gz"
  cp "$KMEANS" "$WORK/$D8/labelsTr/icbm152.nii.gz"
  synth_labels "$KMEANS" T1w "$WORK/$D8" 6 --brain-image "$ICBM_T1" "${HEADS[@]}" \
    --subjects "$FT8_HEADS" --order T1w=5,4,1,2,3
}
make_kmeans_other() {     # D9: T2w/FLAIR bare brains + D8's T1w cases + T2w/FLAIR heads
  fresh "$WORK/$D9" "$WORK/d9_bare"
  synth_labels "$KMEANS" T2w,FLAIR "$WORK/d9_bare" 9 --brain-image "$ICBM_T1" \
    --subjects "$FT9_BARE" --order T2w=3,2,1 --order FLAIR=1,3,2
  link_cases "$WORK/d9_bare" "$WORK/$D9" 9
  link_cases "$WORK/$D8" "$WORK/$D9" 8
  synth_labels "$KMEANS" T2w,FLAIR "$WORK/$D9" 8 --brain-image "$ICBM_T1" "${HEADS[@]}" \
    --subjects "$FT9_HEADS" --order T2w=5,3,2,1 --order FLAIR=5,4,1,3,2
}

make_neck() {             # D10: D8's cases + real-texture T1w heads down to the neck
  fresh "$WORK/$D10"
  link_cases "$WORK/$D8" "$WORK/$D10" 8
  synth_labels "$KMEANS" T1w "$WORK/$D10" 10 --brain-image "$ICBM_T1" "${HEADS[@]}" \
    --neck-mm "$FT11_NECK_MM" --subjects "$FT11_HEADS" "${NECK_ORDER[@]}"
}

# --- run the recipe ------------------------------------------------------------------------
WORK=${1:?usage: $0 WORK}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
ICBM_T1="$WORK/src/icbm152/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
KMEANS="$WORK/icbm152_kmeans.nii.gz"
if [ -z "${BRAINFM:-}" ]; then
  (cd "$ROOT" && cargo build -j2 -p brainfm-trainer --bin brainfm)
  BRAINFM="${CARGO_TARGET_DIR:-$ROOT/target}/debug/brainfm"
fi
export BRAINFM
start=$(date +%s)
stage() { [ -z "$1" ] || echo "== $1 ($(( $(date +%s) - start )) s)"; }

for row in "${RECIPE[@]}"; do
  read -r -a f <<< "${row%%|*}"
  read -r title <<< "${row#*|}"
  case ${f[0]:-#} in
    \#*) ;;
    data)     stage "$title"
              case ${f[1]} in
                */) [ -d "$WORK/${f[1]}" ] || "${f[2]}" ;;
                *)  [ -f "$WORK/${f[1]}" ] || "${f[2]}" ;;
              esac ;;
    pretrain) stage "$title"; pretrain "${f[@]:1}" ;;
    finetune) n=${f[1]#ft}; stage "finetune ${n:-1} ($title; ${f[4]} steps)"
              finetune "${f[@]:1}" ;;
    export)   stage "$title"; export_web "${f[@]:1}" ;;
    eval)     stage "$title"; evaluate ;;
    *)        echo "train.sh: unknown stage kind in RECIPE: $row" >&2; exit 1 ;;
  esac
done
echo "train.sh: wall time $(( $(date +%s) - start )) s"
