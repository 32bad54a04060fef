#!/usr/bin/env python3
"""Regenerate www/sample/colin27_t1_2mm.nii.gz, the app's sample scan.

Source: Colin27 T1 ("ch2.nii.gz", 181x217x181, 1 mm, uint8) from the Debian package
mricron-data (/usr/share/mricron/templates/ch2.nii.gz). Derived by 2x2x2 block averaging
(the last odd plane is padded by repetition) to 91x109x91 at 2 mm; the affine is the
source's with the voxel size doubled and the origin moved to the centre of the first block,
so the sample stays aligned with the source in world (scanner) coordinates.
Data preparation only: numpy + gzip, no NIfTI library.

Usage: python3 scripts/make-sample.py [SOURCE] [OUTPUT]
"""
import gzip
import struct
import sys

import numpy as np

src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/mricron/templates/ch2.nii.gz"
out = sys.argv[2] if len(sys.argv) > 2 else "www/sample/colin27_t1_2mm.nii.gz"

raw = gzip.open(src, "rb").read()
hdr = bytearray(raw[:348])
assert struct.unpack("<i", hdr[0:4])[0] == 348, "little-endian NIfTI-1 expected"
dim = struct.unpack("<8h", hdr[40:56])
datatype, bitpix = struct.unpack("<hh", hdr[70:74])
pixdim = list(struct.unpack("<8f", hdr[76:108]))
vox_offset = int(struct.unpack("<f", hdr[108:112])[0])
slope, inter = struct.unpack("<ff", hdr[112:120])
qform_code, sform_code = struct.unpack("<hh", hdr[252:256])
srow = np.array(struct.unpack("<12f", hdr[280:328]), dtype=np.float64).reshape(3, 4)
assert datatype == 2 and bitpix == 8, f"uint8 expected, got datatype {datatype}"
assert sform_code > 0, "an sform is expected"
nx, ny, nz = dim[1:4]
data = np.frombuffer(raw, dtype=np.uint8, count=nx * ny * nz, offset=vox_offset)
vol = data.reshape(nz, ny, nx).astype(np.float64)  # [k][j][i], x fastest on disk

# Pad each axis to an even length by repeating the last plane, then average 2x2x2 blocks.
pad = [(0, s % 2) for s in vol.shape]
vol = np.pad(vol, pad, mode="edge")
k2, j2, i2 = (s // 2 for s in vol.shape)
small = vol.reshape(k2, 2, j2, 2, i2, 2).mean(axis=(1, 3, 5))
small = np.clip(np.rint(small), 0, 255).astype(np.uint8)

# New affine: voxel (i, j, k) of the 2 mm grid is centred on old voxel (2i+0.5, 2j+0.5, 2k+0.5).
lin = srow[:, :3]
new = np.zeros((3, 4))
new[:, :3] = lin * 2.0
new[:, 3] = srow[:, 3] + lin @ np.array([0.5, 0.5, 0.5])

h = bytearray(348)
h[0:4] = struct.pack("<i", 348)
h[40:56] = struct.pack("<8h", 3, i2, j2, k2, 1, 1, 1, 1)
h[70:74] = struct.pack("<hh", 2, 8)
h[76:108] = struct.pack("<8f", 1.0, pixdim[1] * 2, pixdim[2] * 2, pixdim[3] * 2, 0, 0, 0, 0)
h[108:112] = struct.pack("<f", 352.0)
h[112:120] = struct.pack("<ff", 1.0, 0.0)
h[123] = 10  # xyzt_units: mm, s
h[148:228] = b"Colin27 T1 (mricron ch2) at 2 mm, block-averaged".ljust(80, b"\0")
h[252:256] = struct.pack("<hh", 0, sform_code)  # sform only: the affine above
h[280:328] = struct.pack("<12f", *new.reshape(-1))
h[344:348] = b"n+1\0"
body = bytes(h) + b"\0\0\0\0" + small.tobytes()
with gzip.GzipFile(out, "wb", mtime=0) as f:  # mtime 0: byte-identical reruns
    f.write(body)
print(f"{out}: {i2}x{j2}x{k2} at {pixdim[1]*2:g}x{pixdim[2]*2:g}x{pixdim[3]*2:g} mm")
print("affine:\n", np.vstack([new, [0, 0, 0, 1]]))
