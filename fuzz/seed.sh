#!/usr/bin/env bash
# Seed corpora for the fuzz targets, from real files: the committed NIfTI edge cases
# (seeds/nifti: the hostile files of docs/NIFTI_READER.md, under 20 KB) and the sample scan,
# the MGH/MGZ and DICOM fixtures of core's tests (nibabel's, pydicom's and our written
# series), the bundled models (whole, their header JSON, their safetensors weights), a checkpoint of
# a 3-step tiny fine-tuning (its spec set to the fuzz target's), and cache headers.
# Needs the brainfm CLI (BRAINFM_CLI, default ~/.cache/brainfm-target/debug/brainfm).
set -euo pipefail
cd "$(dirname "$0")"
cli="${BRAINFM_CLI:-$HOME/.cache/brainfm-target/debug/brainfm}"
mkdir -p corpus/{nifti,scan,dicom,bundle,weights,checkpoint,cache}
cp seeds/nifti/* ../www/sample/*.nii.gz corpus/nifti/
cp seeds/nifti/* ../core/src/volume/mgh/fixtures/*.mg? corpus/scan/
fixtures=../core/src/volume/dicom/fixtures
cp "$fixtures"/*.dcm corpus/dicom/
for f in "$fixtures"/series/S1IM0000 "$fixtures"/series/S2IM0000; do cp "$f" "corpus/dicom/$(basename "$f").dcm"; done
cp seeds/cache/* corpus/cache/
cp ../models/*.bfm corpus/bundle/
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$cli" synth --labels /usr/share/mricron/templates/aal.nii.gz --subjects 2 --spacing 4 --seed 1 \
  --format nnunet --classes background,a,b,c --contrasts T1w --output "$work/ds" >/dev/null
"$cli" finetune --data "$work/ds" --preset tiny --steps 3 --patch 16 --batch 1 --spacing 4 \
  --val-fraction 0 --checkpoint-every 3 --quiet --output "$work/run" >/dev/null 2>&1
python3 - "$work/run/checkpoint.bfck" <<'PY'
import hashlib, json, pathlib, struct, sys
for m in pathlib.Path("../models").glob("*.bfm"):
    b = m.read_bytes()
    n = struct.unpack("<I", b[12:16])[0]
    pathlib.Path(f"corpus/bundle/{m.stem}_header.json").write_bytes(b[16:16 + n])
    pathlib.Path(f"corpus/weights/{m.stem}.safetensors").write_bytes(b[16 + n:])
# The checkpoint with the spec the target passes ({"preset": "tiny"}) and its checksum
# redone (run.rs: SHA-256 of the header JSON without it, then the payload).
b = pathlib.Path(sys.argv[1]).read_bytes()
hl = struct.unpack("<Q", b[8:16])[0]
h = json.loads(b[16:16 + hl])
payload = b[16 + hl:]
h2 = {"step": h["step"], "spec": {"preset": "tiny"}, "model_len": h["model_len"],
      "extra": h["extra"], "sha256": None}
h2["sha256"] = hashlib.sha256(json.dumps(h2, separators=(",", ":")).encode() + payload).hexdigest()
j = json.dumps(h2, separators=(",", ":")).encode()
pathlib.Path("corpus/checkpoint/tiny.bfck").write_bytes(b"BFMCKPT\0" + struct.pack("<Q", len(j)) + j + payload)
PY
echo "seeded: $(ls corpus/* | wc -l) files in fuzz/corpus/"
