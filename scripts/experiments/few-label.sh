#!/usr/bin/env bash
# The few-label experiment (issue 4): does self-supervised pre-training pay off when only
# 1, 2 or 4 labelled volumes exist? Fine-tune the same network from the pre-trained
# encoder and from scratch at equal steps, and score both on Colin27 (real T1 with skull,
# never used in training or pre-training) for CSF / GM / WM and the brain mask.
#
#   scripts/experiments/few-label.sh WORK [PRETRAINED.bfm]
#
# WORK holds scripts/default-model/inputs.sh's output (made here when missing). Without
# PRETRAINED.bfm, WORK/pre/pretrained.bfm (from scripts/default-model/train.sh) is used.
# Writes WORK/few-label/results.tsv and prints it as a Markdown table.
set -euo pipefail
STEPS=200         # fine-tuning steps, the same for every run
PATCH=32          # voxels at 2 mm
LR=2e-3
SEED=0
# Labelled volumes, one per synthetic subject and a different contrast each.
CASES=(sub-01_T1w sub-02_T2w sub-03_FLAIR sub-04_T1w)

WORK=${1:?usage: $0 WORK [PRETRAINED.bfm]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
PRE=${2:-$WORK/pre/pretrained.bfm}
if [ -z "${BRAINFM:-}" ]; then
  (cd "$ROOT" && cargo build -j2 -p brainfm-trainer --bin brainfm)
  BRAINFM="${CARGO_TARGET_DIR:-$ROOT/target}/debug/brainfm"
fi
export BRAINFM
[ -d "$WORK/Dataset002_Colin27" ] || bash "$ROOT/scripts/default-model/inputs.sh" "$WORK"
[ -f "$PRE" ] || { echo "no pre-trained bundle at $PRE: run scripts/default-model/train.sh $WORK first" >&2; exit 1; }
SRC="$WORK/Dataset001_BrainTissue"
OUT="$WORK/few-label"
mkdir -p "$OUT"
start=$(date +%s)

mean_dice() {  # eval JSON (pretty) -> "label:dice ..." from its summary
  awk '/"summary"/ {s = 1}
       s && /"label":/ {l = $2; gsub(/[^0-9]/, "", l)}
       s && /"mean_dice":/ {d = $2; gsub(/,/, "", d); printf "%s:%s ", l, d}' "$1"
}

printf "labelled\tinit\tCSF\tGM\tWM\tbrain_mask\n" > "$OUT/results.tsv"
for n in 1 2 4; do
  ds="$OUT/Dataset1${n}0_Few$n"
  rm -rf "$ds"; mkdir -p "$ds/imagesTr" "$ds/labelsTr"
  for c in "${CASES[@]:0:$n}"; do
    ln -s "$SRC/imagesTr/${c}_0000.nii.gz" "$ds/imagesTr/"
    ln -s "$SRC/labelsTr/$c.nii.gz" "$ds/labelsTr/"
  done
  sed "s/\"numTraining\": *[0-9]*/\"numTraining\": $n/" "$SRC/dataset.json" > "$ds/dataset.json"
  for init in pretrained scratch; do
    run="$OUT/n$n-$init"
    flags=(--init "$PRE"); [ "$init" = scratch ] && flags+=(--from-scratch)
    [ -f "$run/last.bfm" ] || "$BRAINFM" finetune --quiet "${flags[@]}" --data "$ds" \
      --steps "$STEPS" --patch "$PATCH" --spacing 2 --lr "$LR" --val-fraction 0 \
      --seed "$SEED" --output "$run" >/dev/null
    bash "$ROOT/scripts/default-model/eval.sh" "$WORK" "$run/last.bfm" "$run/colin27" >/dev/null
    t=$(mean_dice "$run/colin27-tissue.json"); m=$(mean_dice "$run/colin27-brain-mask.json")
    get() { echo "$1" | tr ' ' '\n' | grep "^$2:" | cut -d: -f2 | cut -c1-5; }
    printf "%s\t%s\t%s\t%s\t%s\t%s\n" "$n" "$init" "$(get "$t" 1)" "$(get "$t" 2)" "$(get "$t" 3)" \
      "$(get "$m" 1)" >> "$OUT/results.tsv"
    echo "done: $n labelled, $init ($(( $(date +%s) - start )) s)" >&2
  done
done
echo "| labelled volumes | init | CSF | GM | WM | brain mask |"
echo "|---|---|---|---|---|---|"
tail -n +2 "$OUT/results.tsv" | while IFS=$'\t' read -r n init a b c d; do
  echo "| $n | $init | $a | $b | $c | $d |"
done
echo "few-label.sh: wall time $(( $(date +%s) - start )) s" >&2
