#!/usr/bin/env bash
# Make the Python venv that runs deepbet (the peer brain extractor compare.py measures
# brainfm against) and that fetch.sh / compare.py use for nibabel.
#
#   scripts/default-model/peers/setup_deepbet.sh DIR
#
# deepbet's weights ship inside its wheel, so it runs offline afterwards. PyPI's default
# torch wheel pulls CUDA libraries (the venv is ~5.6 GB); deepbet runs on the CPU here.
set -euo pipefail
DIR=${1:?usage: $0 DIR}
python3 -m venv "$DIR"
"$DIR/bin/pip" install deepbet==1.0.2 torch nibabel numpy
"$DIR/bin/python" -c 'import deepbet, nibabel; print("deepbet venv ready:", deepbet.__file__)'
