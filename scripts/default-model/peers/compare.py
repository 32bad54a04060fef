#!/usr/bin/env python3
"""Compare brainfm's brain mask with deepbet's on the real head scans of fetch.sh.

  compare.py --scans OUT/scans --ref OUT/ref --brainfm BIN --model MODEL.bfm \
             --deepbet-python PY --out RESULT_PREFIX [--only NAME,NAME] [--threads 1]

Per scan: brainfm predict (brain = labels 1-3: CSF, GM, WM) and deepbet (deepbet_mask.py
in PY's venv), both timed as whole processes with --threads threads each. deepbet masks
are cached in OUT/deepbet/ (keyed by the scan's sha256), brainfm predictions go to
OUT/brainfm/MODEL_STEM/. Writes RESULT_PREFIX.json (every number) and RESULT_PREFIX.md.

Without a reference mask deepbet stands in for one, so the key numbers are the Dice with
deepbet and the false positives outside deepbet's brain: "neck FP" is brainfm mask lying
more than 20 mm below deepbet's lowest voxel (world S-I, RAS z), "face FP" more than 20 mm
anterior to deepbet's most anterior voxel (RAS y).
"""
import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

try:
    import nibabel as nib
    import numpy as np
except ImportError:  # they live in deepbet's venv: main() reruns this script there
    nib = None

HERE = Path(__file__).resolve().parent
MARGIN_MM = 20.0


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load3d(path):
    img = nib.load(str(path))
    d = np.asarray(img.dataobj)
    return (d[..., 0] if d.ndim == 4 and d.shape[3] == 1 else d), img.affine


def on_grid(data, aff, shape, target_aff):
    """data (voxel -> world by aff) resampled nearest-neighbour onto the target grid."""
    if data.shape == tuple(shape) and np.allclose(aff, target_aff, atol=1e-3):
        return data, False
    m = np.linalg.inv(aff) @ target_aff
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    out = np.zeros(shape, data.dtype)
    for k in range(shape[2]):  # slice by slice: whole-volume index arrays are ~GB
        ijk = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k)])
        src = np.rint(m[:3, :3] @ ijk + m[:3, 3:]).astype(int)
        inside = np.all((src >= 0) & (src < np.array(data.shape)[:, None]), axis=0)
        sl = np.zeros(ii.size, data.dtype)
        sl[inside] = data[tuple(src[:, inside])]
        out[:, :, k] = sl.reshape(shape[:2])
    return out, True


def dice(a, b):
    s = int(a.sum()) + int(b.sum())
    return round(2.0 * int((a & b).sum()) / s, 4) if s else None


def world(mask, aff):
    return np.argwhere(mask) @ aff[:3, :3].T + aff[:3, 3]


def run_brainfm(a, scan, pred, env):
    cmd = [a.brainfm, "predict", "--quiet", "--model", a.model, "--input", str(scan), "--output", str(pred)]
    t = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    except OSError as e:
        return {"brainfm_error": str(e)}
    res = {"brainfm_wall_s": round(time.time() - t, 2)}
    if p.returncode or not pred.exists():
        res["brainfm_error"] = f"exit {p.returncode}: " + (p.stderr or p.stdout).strip()[-800:]
    return res


def run_deepbet(a, scan, cache, env):
    mask, meta = cache / f"{scan.name[:-7]}_mask.nii.gz", cache / f"{scan.name[:-7]}.json"
    digest = sha256(scan)
    if mask.exists() and meta.exists():
        info = json.loads(meta.read_text())
        if info.get("scan_sha256") == digest:
            return mask, dict(info, cached=True)
    cmd = [a.deepbet_python, str(HERE / "deepbet_mask.py"), str(scan), str(mask), "--threads", str(a.threads)]
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = round(time.time() - t, 2)
    if p.returncode or not mask.exists():
        return None, {"error": f"exit {p.returncode}: " + (p.stderr or p.stdout).strip()[-800:]}
    info = dict(json.loads(p.stdout.strip().splitlines()[-1]), wall_s=wall, scan_sha256=digest)
    meta.write_text(json.dumps(info) + "\n")
    return mask, dict(info, cached=False)


def score(a, name, scan, refdir, preddir, cache, env):
    r = {"scan": name}
    data, aff = load3d(scan)
    shape, vox_ml = data.shape[:3], abs(np.linalg.det(aff[:3, :3])) / 1000.0

    def ml(m):
        return round(float(m.sum()) * vox_ml, 1)

    dmask_path, dinfo = run_deepbet(a, scan, cache, env)
    r["deepbet_wall_s"] = dinfo.get("wall_s")
    r["deepbet_infer_s"] = dinfo.get("infer_s")
    r["deepbet_cached"] = dinfo.get("cached")
    if "error" in dinfo:
        r["deepbet_error"] = dinfo["error"]
    pred = preddir / f"{name}.nii.gz"
    pred.unlink(missing_ok=True)  # a stale prediction must not pass for a fresh one
    r.update(run_brainfm(a, scan, pred, env))

    masks = {}
    if "brainfm_error" not in r:
        labels, r["brainfm_resampled"] = on_grid(*load3d(pred), shape, aff)
        masks["brainfm"] = np.isin(labels, (1, 2, 3))
        for lab, cls in ((1, "csf"), (2, "gm"), (3, "wm")):
            r[f"brainfm_{cls}_ml"] = ml(labels == lab)
    if dmask_path is not None:
        d, r["deepbet_resampled"] = on_grid(*load3d(dmask_path), shape, aff)
        masks["deepbet"] = d > 0
    ref = refdir / f"{name}_mask.nii.gz"
    if ref.exists():
        d, _ = on_grid(*load3d(ref), shape, aff)
        masks["ref"] = d > 0
        r["ref_ml"] = ml(masks["ref"])
    for k in ("brainfm", "deepbet"):
        if k in masks:
            r[f"{k}_ml"] = ml(masks[k])
            if "ref" in masks:
                r[f"dice_{k}_ref"] = dice(masks[k], masks["ref"])
    if "brainfm" in masks and "deepbet" in masks:
        b, d = masks["brainfm"], masks["deepbet"]
        r["dice_brainfm_deepbet"] = dice(b, d)
        r["brainfm_only_ml"], r["deepbet_only_ml"] = ml(b & ~d), ml(d & ~b)
        if d.any() and b.any():
            wb, wd = world(b, aff), world(d, aff)
            r["neck_fp_ml"] = round(float((wb[:, 2] < wd[:, 2].min() - MARGIN_MM).sum()) * vox_ml, 1)
            r["face_fp_ml"] = round(float((wb[:, 1] > wd[:, 1].max() + MARGIN_MM).sum()) * vox_ml, 1)
            r["brainfm_below_deepbet_mm"] = round(float(wd[:, 2].min() - wb[:, 2].min()), 1)
            r["brainfm_anterior_of_deepbet_mm"] = round(float(wb[:, 1].max() - wd[:, 1].max()), 1)
    return r


def versions(a):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout.strip()
        except OSError:
            return ""
    repo = HERE.parents[2]
    head = out(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"])
    return {
        "brainfm": out([a.brainfm, "--version"]) or "unknown",
        "brainfm_binary": a.brainfm,
        "model": a.model, "model_sha256": sha256(a.model),
        "deepbet": out([a.deepbet_python, "-c", "from importlib.metadata import version as v;"
                        "print('deepbet', v('deepbet'), 'torch', v('torch'))"]),
        "git": head + ("+dirty" if dirty else ""),
        "threads": a.threads,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt(v, nd):
    return "–" if v is None else f"{v:.{nd}f}"


def markdown(a, meta, rows):
    L = ["# brainfm vs deepbet brain masks on real head MRI (evaluation only)", "",
         f"- model `{meta['model']}` (sha256 {meta['model_sha256'][:16]}), brainfm `{meta['brainfm']}` "
         f"(`{meta['brainfm_binary']}`), repo {meta['git']}",
         f"- {meta['deepbet']}, threshold 0.5, CPU; {meta['threads']} thread(s) for each tool; {meta['date']}",
         "- brainfm mask = labels 1-3 (CSF, GM, WM). ref = reference brain mask (robex_atlas: ROBEX's own; "
         "colin27_ch2: ch2bet > 0, BET). neck/face FP = brainfm mask > 20 mm below / anterior to "
         "deepbet's mask (world RAS z / y). Times are whole-process wall seconds (model load "
         "included); * = deepbet mask from the cache, time of the run that made it.", "",
         "| scan | brainfm ml | deepbet ml | Dice bfm-deepbet | Dice bfm-ref | Dice deepbet-ref "
         "| neck FP ml | face FP ml | brainfm s | deepbet s |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ds = fmt(r.get("deepbet_wall_s"), 1) + ("*" if r.get("deepbet_cached") else "")
        L.append(f"| {r['scan']} | {fmt(r.get('brainfm_ml'), 1)} | {fmt(r.get('deepbet_ml'), 1)} "
                 f"| {fmt(r.get('dice_brainfm_deepbet'), 3)} | {fmt(r.get('dice_brainfm_ref'), 3)} "
                 f"| {fmt(r.get('dice_deepbet_ref'), 3)} | {fmt(r.get('neck_fp_ml'), 1)} "
                 f"| {fmt(r.get('face_fp_ml'), 1)} | {fmt(r.get('brainfm_wall_s'), 1)} | {ds} |")
    errs = [(r["scan"], k, r[k]) for r in rows for k in ("error", "brainfm_error", "deepbet_error") if k in r]
    if errs:
        L += ["", "## Errors", ""] + [f"- {s} ({k}): `{' '.join(e.split())}`" for s, k, e in errs]
    L += ["", "## Commands", "", "```",
          "python3 " + shlex.join(sys.argv),
          f"# per scan (RAYON_NUM_THREADS={a.threads} OMP_NUM_THREADS={a.threads}):",
          f"{a.brainfm} predict --quiet --model {a.model} --input SCAN --output PRED.nii.gz",
          f"{a.deepbet_python} {HERE / 'deepbet_mask.py'} SCAN MASK.nii.gz --threads {a.threads}",
          "```", ""]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scans", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--brainfm", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--deepbet-python", required=True)
    ap.add_argument("--out", required=True, help="result prefix: writes PREFIX.json and PREFIX.md")
    ap.add_argument("--only", default="", help="comma-separated scan names")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if nib is None:
        if os.environ.get("PEERS_COMPARE_REEXEC"):
            sys.exit("compare.py needs nibabel and numpy")
        os.environ["PEERS_COMPARE_REEXEC"] = "1"
        os.execv(a.deepbet_python, [a.deepbet_python, str(Path(__file__).resolve()), *sys.argv[1:]])

    scans = Path(a.scans)
    names = a.only.split(",") if a.only else sorted(p.name[:-7] for p in scans.glob("*.nii.gz"))
    work = scans.resolve().parent
    cache, preddir = work / "deepbet", work / "brainfm" / Path(a.model).stem
    cache.mkdir(parents=True, exist_ok=True)
    preddir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads),
               MKL_NUM_THREADS=str(a.threads))
    meta = versions(a)
    rows = []
    for n in names:  # one at a time: both tools are timed, and the CPU may be shared
        try:
            r = score(a, n, scans / f"{n}.nii.gz", Path(a.ref), preddir, cache, env)
        except Exception as e:  # an unreadable scan is a result too; the rest go on
            r = {"scan": n, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(r), flush=True)
        rows.append(r)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out + ".json").write_text(json.dumps({"meta": meta, "scans": rows}, indent=1) + "\n")
    md = markdown(a, meta, rows)
    Path(a.out + ".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
