#!/usr/bin/env python3
"""Brain mask of one scan with deepbet 1.0.2 on the CPU, offline (run in deepbet's venv).

  deepbet_mask.py INPUT.nii.gz OUTPUT_MASK.nii.gz [--threshold 0.5] [--n-dilate 0] [--threads 1]

Prints one JSON line: seconds without / with the model load, mask volume (ml), versions.
The mask is written on the input's grid (deepbet keeps the input affine and header).
"""
import argparse
import json
import time
from importlib.metadata import version

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output_mask")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--n-dilate", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    t0 = time.time()
    from deepbet import BrainExtraction

    # BrainExtraction directly, not run_bet: run_bet silently skips files under 100 kB,
    # which drops the small low-resolution scans. The weights ship in the wheel.
    bet = BrainExtraction(no_gpu=True)
    t1 = time.time()
    _, mask, tiv = bet.run(a.input, mask_path=a.output_mask,
                           threshold=a.threshold, n_dilate=a.n_dilate)
    t2 = time.time()
    vox_ml = float(np.prod(mask.header.get_zooms()[:3])) / 1000.0
    print(json.dumps({
        "input": a.input, "mask": a.output_mask,
        "infer_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2),
        "mask_ml": round(float((np.asarray(mask.dataobj) > 0).sum()) * vox_ml, 1),
        "deepbet_tiv_ml": round(float(tiv), 1),
        "threshold": a.threshold, "n_dilate": a.n_dilate, "threads": a.threads,
        "deepbet": version("deepbet"), "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
