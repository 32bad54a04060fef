#!/usr/bin/env python3
"""Tables, verdicts, a plot and the representation probes of few-label.sh (stdlib only).

    few_label_report.py OUT --objectives swap mae swap+anat --labelled 1 2 4 8 --seeds 0 1 2

Reads OUT/runs/n{N}-{START}-{TRAINABLE}-seed{S}/ (eval.sh's Colin27 JSON, `seconds`) and
OUT/embed-{MODEL}.tsv (brainfm embed on the held-out probe subjects); writes OUT/runs.tsv,
OUT/probes.tsv, OUT/dice-vs-labels.svg and OUT/summary.md (also printed).
"""
import argparse
import json
import math
import os
import re
import statistics as st

TRAINABLE = ["all", "decoder"]
TISSUE = ["CSF", "GM", "WM"]
# A pre-training "helps" (or "hurts") a cell when the 95 % confidence interval of the mean
# of its paired differences to the random start (same seed: same labelled heads and
# patches; Student's t) lies above (below) zero and the mean is beyond this much Dice;
# otherwise the two tie.
MIN_EFFECT = 0.01
# Two-sided 95 % quantiles of Student's t by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228}


def dice(path, label):
    with open(path) as f:
        for row in json.load(f)["summary"]:
            if row["label"] == label:
                d = row["mean_dice"]
                return 0.0 if d is None or (isinstance(d, float) and math.isnan(d)) else d
    return 0.0  # the class was never predicted


def load_run(run):
    scores = {}
    for tag, suffix in (("skull", ""), ("stripped", "-stripped")):
        t = f"{run}/colin27{suffix}-tissue.json"
        m = f"{run}/colin27{suffix}-brain-mask.json"
        if not (os.path.exists(t) and os.path.exists(m)):
            return None
        for i, name in enumerate(TISSUE, 1):
            scores[f"{tag}_{name}"] = dice(t, i)
        scores[f"{tag}_tissue"] = st.mean(scores[f"{tag}_{n}"] for n in TISSUE)
        scores[f"{tag}_mask"] = dice(m, 1)
    robex = f"{run}/robex-brain-mask.json"
    scores["robex_mask"] = dice(robex, 1) if os.path.exists(robex) else None
    with open(f"{run}/seconds") as f:
        secs = [int(x) for x in f.read().split()]
    scores["train_s"], scores["eval_s"] = secs[0], sum(secs[1:])
    return scores


def mean_sd(values):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    m = st.mean(values)
    return f"{m:.3f} ± {st.stdev(values):.3f}" if len(values) > 1 else f"{m:.3f}"


def verdict(pre, scratch):
    """Paired by seed; returns (mean difference, standard error, word)."""
    pairs = [(pre[s], scratch[s]) for s in pre if s in scratch]
    if not pairs:
        return None
    diffs = [a - b for a, b in pairs]
    d = st.mean(diffs)
    se = st.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("inf")
    t = T95.get(len(diffs) - 1, 1.96)
    if abs(d) > t * se and abs(d) > MIN_EFFECT:
        word = "helps" if d > 0 else "hurts"
    else:
        word = "ties"
    return d, se, word


# --- the plot (hand-written SVG: no plotting library on a fresh machine) ---------------
COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#444444", "#e7298a"]


def svg_plot(path, panels, starts, labelled, metric_name):
    w, h, pad = 360, 260, 48
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * len(panels)}" '
           f'height="{h + 40}" font-family="sans-serif" font-size="11">',
           f'<rect width="100%" height="100%" fill="white"/>']
    xs = {n: pad + i * (w - 2 * pad) / (len(labelled) - 1) for i, n in enumerate(labelled)}
    for p, (title, data) in enumerate(panels):
        ox = p * w
        y = lambda v: h - pad + 20 - v * (h - 2 * pad)  # noqa: E731  Dice 0..1
        out.append(f'<text x="{ox + w / 2}" y="16" text-anchor="middle" font-weight="bold">'
                   f'{title}</text>')
        out.append(f'<line x1="{ox + pad}" y1="{y(0)}" x2="{ox + w - pad}" y2="{y(0)}" stroke="black"/>')
        out.append(f'<line x1="{ox + pad}" y1="{y(0)}" x2="{ox + pad}" y2="{y(1)}" stroke="black"/>')
        for t in (0, 0.25, 0.5, 0.75, 1):
            out.append(f'<text x="{ox + pad - 6}" y="{y(t) + 4}" text-anchor="end">{t}</text>')
            out.append(f'<line x1="{ox + pad}" y1="{y(t)}" x2="{ox + w - pad}" y2="{y(t)}" '
                       f'stroke="#ddd"/>')
        for n in labelled:
            out.append(f'<text x="{ox + xs[n]}" y="{y(0) + 16}" text-anchor="middle">{n}</text>')
        out.append(f'<text x="{ox + w / 2}" y="{y(0) + 32}" text-anchor="middle">'
                   f'labelled volumes</text>')
        out.append(f'<text transform="translate({ox + 12},{h / 2 + 20}) rotate(-90)" '
                   f'text-anchor="middle">{metric_name}</text>')
        for k, start in enumerate(starts):
            c = COLOURS[k % len(COLOURS)]
            pts = []
            for n in labelled:
                v = data.get((n, start), [])
                if not v:
                    continue
                m = st.mean(v)
                sd = st.stdev(v) if len(v) > 1 else 0
                px = ox + xs[n] + (k - len(starts) / 2) * 3
                pts.append(f"{px:.1f},{y(m):.1f}")
                out.append(f'<line x1="{px:.1f}" y1="{y(m - sd):.1f}" x2="{px:.1f}" '
                           f'y2="{y(m + sd):.1f}" stroke="{c}"/>')
                out.append(f'<circle cx="{px:.1f}" cy="{y(m):.1f}" r="2.5" fill="{c}"/>')
            if pts:
                out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{c}" '
                           f'stroke-width="1.5"/>')
            if p == 0:
                out.append(f'<text x="{ox + w - pad - 70}" y="{y(1) + 14 + 13 * k}" '
                           f'fill="{c}">{start}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# --- probes ----------------------------------------------------------------------------
SCAN = re.compile(r"sub-([A-Za-z0-9]+)_([A-Za-z0-9]+)\.(nii|nii\.gz|mgz|mgh)$")


def read_embedding(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    parts = {}
    for i, col in enumerate(header[2:], 2):
        parts.setdefault(col.rsplit("_", 1)[0], []).append(i)
    scans = []
    for r in rows:
        m = SCAN.search(os.path.basename(r[0]))
        if not m:
            raise SystemExit(f"{path}: cannot tell subject and contrast from {r[0]}")
        feats = {p: [float(r[i]) for i in idx] for p, idx in parts.items()}
        feats["all"] = [float(x) for x in r[2:]]
        scans.append((m.group(1), m.group(2), feats))
    return scans


def standardise(train, test):
    d = len(train[0])
    mu = [st.mean(x[j] for x in train) for j in range(d)]
    sd = [st.pstdev([x[j] for x in train]) or 1.0 for j in range(d)]
    f = lambda x: [(x[j] - mu[j]) / sd[j] for j in range(d)]  # noqa: E731
    return [f(x) for x in train], [f(x) for x in test]


def solve(a, b):
    """Gaussian elimination with partial pivoting: a x = b (b has several columns)."""
    n = len(a)
    m = [row[:] + brow[:] for row, brow in zip(a, b)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[r][c] != 0:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [[x / m[i][i] for x in m[i][n:]] for i in range(n)]


def ridge_classifier(train_x, train_y, test_x, classes, lam=1.0):
    """One-vs-rest least squares with an L2 penalty (a linear probe), on standardised
    features; solved in the dual, since there are fewer scans than features."""
    tr, te = standardise(train_x, test_x)
    n = len(tr)
    targets = [[1.0 if y == c else -1.0 for c in classes] for y in train_y]
    mean_t = [st.mean(t[k] for t in targets) for k in range(len(classes))]
    centred = [[t[k] - mean_t[k] for k in range(len(classes))] for t in targets]
    gram = [[sum(p * q for p, q in zip(tr[i], tr[j])) + (lam if i == j else 0.0)
             for j in range(n)] for i in range(n)]
    alpha = solve(gram, centred)
    out = []
    for x in te:
        k = [sum(p * q for p, q in zip(x, t)) for t in tr]
        scores = [mean_t[c] + sum(k[i] * alpha[i][c] for i in range(n))
                  for c in range(len(classes))]
        out.append(classes[max(range(len(classes)), key=lambda c: scores[c])])
    return out


def probe_contrast(scans, part, train_subjects):
    """Accuracy of telling the contrast of the other subjects' scans."""
    classes = sorted({c for _, c, _ in scans})
    train = [(f[part], c) for s, c, f in scans if s in train_subjects]
    test = [(f[part], c) for s, c, f in scans if s not in train_subjects]
    pred = ridge_classifier([x for x, _ in train], [y for _, y in train],
                            [x for x, _ in test], classes)
    return st.mean(1.0 if p == y else 0.0 for p, (_, y) in zip(pred, test))


def retrieval(scans, part):
    """Top-1 retrieval of the same subject among the scans of other contrasts, by cosine
    similarity after removing the mean over all scans."""
    vecs = [f[part] for _, _, f in scans]
    mu = [st.mean(v[j] for v in vecs) for j in range(len(vecs[0]))]
    cen = [[x - m for x, m in zip(v, mu)] for v in vecs]
    norm = [math.sqrt(sum(x * x for x in v)) or 1.0 for v in cen]
    hits = []
    for i, (s, c, _) in enumerate(scans):
        best = max((j for j, (_, c2, _) in enumerate(scans) if c2 != c),
                   key=lambda j: sum(a * b for a, b in zip(cen[i], cen[j])) / norm[j])
        hits.append(1.0 if scans[best][0] == s else 0.0)
    return st.mean(hits)


def probes(out, models):
    rows, lines = [], []
    for model in models:
        path = f"{out}/embed-{model}.tsv"
        if not os.path.exists(path):
            continue
        scans = read_embedding(path)
        subjects = sorted({s for s, _, _ in scans})
        for part in [p for p in ("zs", "zm", "deep", "all") if p in scans[0][2]]:
            # Leave one subject out: the contrast probe with every other subject labelled.
            loso = st.mean(probe_contrast(scans, part, set(subjects) - {s}) for s in subjects)
            rows.append((model, part, "contrast, leave-one-subject-out", loso, ""))
            rows.append((model, part, "same-subject top-1 retrieval", retrieval(scans, part), ""))
            # The few-label classification task: k labelled subjects, every rotation.
            for k in (1, 2, 4):
                accs = [probe_contrast(scans, part, {subjects[(i + j) % len(subjects)]
                                                      for j in range(k)})
                        for i in range(len(subjects))]
                rows.append((model, part, f"contrast from {k} labelled subjects",
                             st.mean(accs), st.stdev(accs)))
    with open(f"{out}/probes.tsv", "w") as f:
        f.write("model\tfeatures\tprobe\tmean\tsd\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    if rows:
        lines += ["| model | features | probe | score |", "|---|---|---|---|"]
        for m, p, what, v, sd in rows:
            lines.append(f"| {m} | {p} | {what} | {v:.3f}" + (f" ± {sd:.3f}" if sd != "" else "")
                         + " |")
    return lines


def pretraining_row(out, objective):
    """Steps, wall time and the mean reconstruction loss at the start and the end of a
    pre-training run."""
    run = f"{out}/pre-{objective}"
    losses = {}
    try:
        with open(f"{run}/metrics.jsonl") as f:
            for line in f:
                m = json.loads(line)
                # The reconstruction term: the total has ramped weights (KL, cosine).
                recon = m.get("terms", {}).get("recon")
                if "step" in m and recon is not None:
                    losses[m["step"]] = recon  # a resumed run logs some steps again
    except FileNotFoundError:
        return f"| {objective} | — | — | — | — |"
    steps = [losses[k] for k in sorted(losses)]
    try:
        with open(f"{run}.seconds") as f:
            secs = f"{int(f.read().split()[0]) / 60:.1f} min"
    except (FileNotFoundError, IndexError, ValueError):
        secs = "—"
    return (f"| {objective} | {len(steps)} | {secs} | {st.mean(steps[:50]):.3f} | "
            f"{st.mean(steps[-50:]):.3f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--objectives", nargs="+", required=True)
    ap.add_argument("--labelled", nargs="+", type=int, required=True)
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    a = ap.parse_args()
    starts = a.objectives + ["scratch"]
    runs = {}
    for n in a.labelled:
        for s in starts:
            for t in TRAINABLE:
                for seed in a.seeds:
                    r = load_run(f"{a.out}/runs/n{n}-{s}-{t}-seed{seed}")
                    if r:
                        runs[(n, s, t, seed)] = r
    keys = ["skull_CSF", "skull_GM", "skull_WM", "skull_tissue", "skull_mask",
            "stripped_CSF", "stripped_GM", "stripped_WM", "stripped_tissue", "stripped_mask",
            "robex_mask"]
    with open(f"{a.out}/runs.tsv", "w") as f:
        f.write("labelled\tstart\ttrainable\tseed\t" + "\t".join(keys) + "\ttrain_s\teval_s\n")
        for (n, s, t, seed), r in sorted(runs.items()):
            f.write(f"{n}\t{s}\t{t}\t{seed}\t"
                    + "\t".join("" if r[k] is None else f"{r[k]:.4f}" for k in keys)
                    + f"\t{r['train_s']}\t{r['eval_s']}\n")
    md = ["### Pre-training", "",
          "| objective | steps | wall time | reconstruction loss, first 50 steps | last 50 steps |",
          "|---|---|---|---|---|"]
    for o in a.objectives:
        md.append(pretraining_row(a.out, o))
    md.append("")
    for t in TRAINABLE:
        md += [f"### Fine-tuning: {'all layers' if t == 'all' else 'decoder only (encoder frozen)'}",
               "",
               "Colin27 Dice, mean ± sd over seeds (runs). With skull: CSF, GM, WM, their mean, "
               "brain mask; brain-extracted: mean tissue, brain mask.",
               "",
               "| labelled | start | runs | CSF | GM | WM | tissue | mask | stripped tissue | "
               "stripped mask | robex_atlas mask |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for n in a.labelled:
            for s in starts:
                rs = [runs[(n, s, t, seed)] for seed in a.seeds if (n, s, t, seed) in runs]
                if not rs:
                    continue
                cells = [mean_sd([r[k] for r in rs]) for k in
                         ("skull_CSF", "skull_GM", "skull_WM", "skull_tissue", "skull_mask",
                          "stripped_tissue", "stripped_mask", "robex_mask")]
                md.append(f"| {n} | {s} | {len(rs)} | " + " | ".join(cells) + " |")
        md += ["", "Verdicts against the random start, paired by seed (mean difference ± "
                   "standard error; 'helps'/'hurts' when the 95 % t interval excludes 0 and "
                   f"the difference exceeds {MIN_EFFECT}):", "",
               "| labelled | start | tissue, skull | mask, skull | tissue, stripped | mask, stripped "
               "| mask, robex_atlas |",
               "|---|---|---|---|---|---|---|"]
        for n in a.labelled:
            for s in a.objectives:
                cells = []
                for k in ("skull_tissue", "skull_mask", "stripped_tissue", "stripped_mask",
                          "robex_mask"):
                    def scores(start):
                        return {seed: runs[(n, start, t, seed)][k] for seed in a.seeds
                                if (n, start, t, seed) in runs
                                and runs[(n, start, t, seed)][k] is not None}
                    pre, scr = scores(s), scores("scratch")
                    v = verdict(pre, scr)
                    cells.append("—" if v is None else f"{v[2]} ({v[0]:+.3f} ± {v[1]:.3f})")
                if any(c != "—" for c in cells):
                    md.append(f"| {n} | {s} | " + " | ".join(cells) + " |")
        # Every labelled count together: more pairs, so a smaller effect shows.
        for s in a.objectives:
            cells = []
            for k in ("skull_tissue", "skull_mask", "stripped_tissue", "stripped_mask",
                      "robex_mask"):
                def pooled(start):
                    return {(n, seed): runs[(n, start, t, seed)][k] for n in a.labelled
                            for seed in a.seeds if (n, start, t, seed) in runs
                            and runs[(n, start, t, seed)][k] is not None}
                v = verdict(pooled(s), pooled("scratch"))
                cells.append("—" if v is None else f"{v[2]} ({v[0]:+.3f} ± {v[1]:.3f})")
            if any(c != "—" for c in cells):
                md.append(f"| all | {s} | " + " | ".join(cells) + " |")
        md.append("")
    panels = []
    for t in TRAINABLE:
        data = {}
        for (n, s, tt, seed), r in runs.items():
            if tt == t:
                data.setdefault((n, s), []).append(r["skull_tissue"])
        panels.append(("all layers" if t == "all" else "decoder only (encoder frozen)", data))
    svg_plot(f"{a.out}/dice-vs-labels.svg", panels, starts, a.labelled,
             "Colin27 mean tissue Dice")
    train = [r["train_s"] for r in runs.values()]
    ev = [r["eval_s"] for r in runs.values()]
    if train:
        md += [f"Compute: {len(train)} runs, fine-tuning {st.mean(train):.0f} s a run "
               f"({min(train)}–{max(train)} s), scoring {st.mean(ev):.0f} s a run; "
               f"{(sum(train) + sum(ev)) / 3600:.2f} h in all.", ""]
    md += ["### Probes of the representation (held-out synthetic subjects)", ""]
    md += probes(a.out, a.objectives + ["untrained"])
    text = "\n".join(md) + "\n"
    with open(f"{a.out}/summary.md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
