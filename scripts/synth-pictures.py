#!/usr/bin/env python3
"""Render mid-slices of `brainfm synth` subjects to PNG (docs/images/synth-*.png).

For each subject: one row per plane (axial, coronal, sagittal through the volume centre),
one column per contrast plus the label map (derivatives/synth/.../*_dseg), colour-coded
with a fixed pseudo-random palette. Images are reoriented to RAS with the NIfTI sform (or
qform) axis signs and shown in neurological convention (the subject's right on the
right of the picture; anterior up in axial slices, superior up in the others).
Intensities are windowed per image at the 1st/99.5th percentile of non-zero voxels.

numpy + zlib only (no NIfTI or imaging library). Reads NIfTI-1 and NIfTI-2, .nii[.gz].

Usage:
  python3 scripts/synth-pictures.py BIDS_DIR OUT_DIR [SUBJECT ...] [--scale N]  (N: pixels
  per voxel, default 1)
  e.g. python3 scripts/synth-pictures.py synth docs/images sub-01 sub-02 sub-03
"""
import gzip
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

DTYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64,
          256: np.int8, 512: np.uint16, 768: np.uint32}


def read_nifti(path):
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    size = struct.unpack("<i", raw[:4])[0]
    if size == 348:
        dims = struct.unpack("<8h", raw[40:56])
        dtype = struct.unpack("<h", raw[70:72])[0]
        offset = int(struct.unpack("<f", raw[108:112])[0])
        slope, inter = struct.unpack("<ff", raw[112:120])
        qcode, scode = struct.unpack("<hh", raw[252:256])
        srow = np.array(struct.unpack("<12f", raw[280:328])).reshape(3, 4)
        pixdim = struct.unpack("<8f", raw[76:108])
    elif size == 540:
        dtype = struct.unpack("<h", raw[12:14])[0]
        dims = struct.unpack("<8q", raw[16:80])
        pixdim = struct.unpack("<8d", raw[104:168])
        offset = struct.unpack("<q", raw[168:176])[0]
        slope, inter = struct.unpack("<dd", raw[176:192])
        qcode, scode = struct.unpack("<ii", raw[344:352])
        srow = np.array(struct.unpack("<12d", raw[400:496])).reshape(3, 4)
    else:
        raise SystemExit(f"{path}: not a little-endian NIfTI-1/2 file")
    shape = tuple(int(d) for d in dims[1:1 + dims[0]])[:3]
    data = np.frombuffer(raw, DTYPES[dtype], int(np.prod(shape)), offset)
    data = data.reshape(shape, order="F").astype(np.float32)
    if slope not in (0.0, 1.0) or inter != 0.0:
        data = data * (slope or 1.0) + inter
    # Axis signs: sform if set, else qform's pixdim[0] (qfac) handles only z; good enough
    # for the diagonal (axis-aligned) grids brainfm synth writes.
    if scode > 0:
        signs = [np.sign(srow[a, a]) or 1.0 for a in range(3)]
    else:
        signs = [1.0, 1.0, (pixdim[0] if pixdim[0] in (-1.0, 1.0) else 1.0)]
    for a, s in enumerate(signs):
        if s < 0:
            data = np.flip(data, a)
    return data


def planes(vol):
    """Axial, coronal, sagittal mid-slices as 2D arrays (row 0 at the top)."""
    x, y, z = (n // 2 for n in vol.shape)
    return [np.flipud(vol[:, :, z].T), np.flipud(vol[:, y, :].T), np.flipud(vol[x, :, :].T)]


def window(img, ref):
    nz = ref[ref != 0]
    lo, hi = (np.percentile(nz, [1, 99.5]) if nz.size else (0.0, 1.0))
    g = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
    return np.repeat((g * 255).astype(np.uint8)[..., None], 3, axis=2)


def palette(n):
    rng = np.random.default_rng(7)
    pal = rng.integers(40, 256, size=(n + 1, 3)).astype(np.uint8)
    pal[0] = 0
    return pal


def write_png(path, rgb):
    h, w, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))
    chunk = lambda t, d: (struct.pack(">I", len(d)) + t + d
                          + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    Path(path).write_bytes(png)


def pad_to(img, h, w):
    out = np.zeros((h, w, 3), np.uint8)
    y0, x0 = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
    out[y0:y0 + img.shape[0], x0:x0 + img.shape[1]] = img
    return out


def render(bids, sub, out, scale):
    anat = bids / sub / "anat"
    scans = sorted(anat.glob(f"{sub}_*.nii*"))
    order = {"T1w": 0, "T2w": 1, "FLAIR": 2, "PDw": 3}
    scans.sort(key=lambda p: order.get(p.name.split("_")[-1].split(".")[0], 9))
    cols = []
    for p in scans:
        v = read_nifti(p)
        cols.append([window(img, v) for img in planes(v)])
    dseg = sorted((bids / "derivatives").glob(f"*/{sub}/anat/{sub}*_dseg.nii*"))
    if dseg:
        lab = read_nifti(dseg[0]).astype(np.int64)
        pal = palette(int(lab.max()))
        cols.append([pal[img] for img in planes(lab)])
    h = max(c[i].shape[0] for c in cols for i in range(3))
    w = max(c[i].shape[1] for c in cols for i in range(3))
    gap = 2
    rows = []
    for i in range(3):
        cells = []
        for c in cols:
            cells += [pad_to(c[i], h, w), np.zeros((h, gap, 3), np.uint8)]
        rows += [np.concatenate(cells[:-1], axis=1), np.zeros((gap, len(cols) * (w + gap) - gap, 3), np.uint8)]
    grid = np.concatenate(rows[:-1], axis=0)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = out / f"synth-{sub}.png"
    write_png(path, grid)
    names = [p.name.split("_")[-1].split(".")[0] for p in scans] + (["dseg"] if dseg else [])
    print(f"{path}: {grid.shape[1]}x{grid.shape[0]} columns {names}")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    scale = 1
    if "--scale" in sys.argv:
        scale = int(sys.argv[sys.argv.index("--scale") + 1])
        args.remove(str(scale))
    if len(args) < 2:
        raise SystemExit(__doc__)
    bids, out = Path(args[0]), Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    subs = args[2:] or sorted(p.name for p in bids.glob("sub-*") if p.is_dir())
    for sub in subs:
        render(bids, sub, out, scale)


if __name__ == "__main__":
    main()
