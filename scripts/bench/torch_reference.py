"""PyTorch reference of brainfm's network family, built from a .bfm bundle.

It reads the bundle header (network configuration) and the safetensors weights, builds
the same network in PyTorch (module names mirror burn's parameter paths, so the weights
load by name), checks the logits against burn's on a deterministic input, and times the
forward pass in the same way as trainer/examples/forward_bench.rs.

With BENCH_MODE=train it times one training step instead (forward, loss mean(logits^2),
backward, AdamW lr 1e-4 weight decay 0.01), as trainer/examples/train_step_bench.rs does.

Usage: python3 torch_reference.py <bundle.bfm> <patch> <reps> [burn_logits.f32]
"""
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SLOPE = 0.01


def read_bundle(path):
    b = open(path, "rb").read()
    assert b[:8] == b"BRAINFM\0", "not a brainfm bundle"
    n = struct.unpack("<I", b[12:16])[0]
    header = json.loads(b[16:16 + n])
    w = b[16 + n:]
    m = struct.unpack("<Q", w[:8])[0]
    meta = json.loads(w[8:8 + m])
    data = w[8 + m:]
    tensors = {}
    for k, v in meta.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32"
        s, e = v["data_offsets"]
        tensors[k] = torch.from_numpy(np.frombuffer(data[s:e], dtype="<f4").copy()).reshape(v["shape"])
    return header, tensors


class Norm(nn.Module):
    """Affine InstanceNorm with burn's parameter names (gamma, beta)."""

    def __init__(self, c):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(c))
        self.beta = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return F.instance_norm(x, weight=self.gamma, bias=self.beta, eps=1e-5)


class ConvNormAct(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, stride=stride, padding=1)
        self.norm = Norm(cout)

    def forward(self, x):
        return F.leaky_relu(self.norm(self.conv(x)), SLOPE)


class Projection(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 1, stride=stride, bias=False)
        self.norm = Norm(cout)


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.first = ConvNormAct(cin, cout, stride)
        self.second_conv = nn.Conv3d(cout, cout, 3, padding=1)
        self.second_norm = Norm(cout)
        self.projection = Projection(cin, cout, stride) if (cin != cout or stride != 1) else None

    def forward(self, x):
        skip = self.projection.norm(self.projection.conv(x)) if self.projection is not None else x
        return F.leaky_relu(self.second_norm(self.second_conv(self.first(x))) + skip, SLOPE)


class Unit(nn.Module):
    """burn stores enum modules under the variant name."""

    def __init__(self, residual, cin, cout, stride):
        super().__init__()
        if residual:
            self.Residual = Residual(cin, cout, stride)
        else:
            self.Plain = ConvNormAct(cin, cout, stride)

    def forward(self, x):
        return self.Residual(x) if hasattr(self, "Residual") else self.Plain(x)


class Level(nn.Module):
    def __init__(self, units):
        super().__init__()
        self.units = nn.ModuleList(units)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        widths, res = cfg["widths"], cfg["residual"]
        self.stem = ConvNormAct(cfg["in_channels"], widths[0], 1) if res else None
        prev = widths[0] if res else cfg["in_channels"]
        levels = []
        for l, (w, n) in enumerate(zip(widths, cfg["units"])):
            units = []
            for u in range(n):
                units.append(Unit(res, prev, w, 2 if (l > 0 and u == 0) else 1))
                prev = w
            levels.append(Level(units))
        self.levels = nn.ModuleList(levels)

    def forward(self, x):
        if self.stem is not None:
            x = self.stem(x)
        feats = []
        for level in self.levels:
            for unit in level.units:
                x = unit(x)
            feats.append(x)
        return feats


class Latent(nn.Module):
    def __init__(self, cfg, widths):
        super().__init__()
        c = sum(widths)
        self.subject_mean = nn.Conv3d(c, cfg["subject_channels"], 1)
        self.subject_logvar = nn.Conv3d(c, cfg["subject_channels"], 1)
        self.modality_mean = nn.Conv3d(c, cfg["modality_channels"], 1)
        self.modality_logvar = nn.Conv3d(c, cfg["modality_channels"], 1)

    def forward(self, feats):
        L = len(feats)
        pooled = [f if L - 1 - l == 0 else F.avg_pool3d(f, 2 ** (L - 1 - l)) for l, f in enumerate(feats)]
        x = torch.cat(pooled, 1)
        return torch.cat([self.subject_mean(x), self.modality_mean(x)], 1)


class Up(nn.Module):
    """1x1x1 conv to 8*C, voxel shuffle: channel c*8 + a*4 + b*2 + e -> offset (a, b, e)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv3d(cin, 8 * cout, 1)

    def forward(self, x):
        y = self.conv(x)
        b, c8, d, h, w = y.shape
        c = c8 // 8
        y = y.view(b, c, 2, 2, 2, d, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
        return y.reshape(b, c, 2 * d, 2 * h, 2 * w)


class Stage(nn.Module):
    def __init__(self, cin, w, convs):
        super().__init__()
        self.up = Up(cin, w)
        self.convs = nn.ModuleList(convs)


class SegDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        prev = cfg["in_channels"]
        stages = []
        for w in reversed(cfg["encoder_widths"][:-1]):
            convs = [ConvNormAct(2 * w, w, 1)] + [ConvNormAct(w, w, 1) for _ in range(1, max(1, cfg["convs_per_level"]))]
            stages.append(Stage(prev, w, convs))
            prev = w
        self.stages = nn.ModuleList(stages)
        self.output = nn.Conv3d(prev, cfg["out_channels"], 1)

    def forward(self, deep, skips):
        x = deep
        for stage, skip in zip(self.stages, list(reversed(skips))[1:]):
            x = torch.cat([stage.up(x), skip], 1)
            for conv in stage.convs:
                x = conv(x)
        return self.output(x)


class BrainNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.encoder = Encoder(cfg["encoder"])
        self.latent = Latent(cfg["latent"], cfg["encoder"]["widths"]) if cfg.get("latent") else None
        self.seg = SegDecoder(cfg["seg"])

    def forward(self, x):
        feats = self.encoder(x)
        deep = self.latent(feats) if self.latent is not None else feats[-1]
        return self.seg(deep, feats)


def deterministic_input(p):
    i = np.arange(p * p * p, dtype=np.float64)
    return torch.from_numpy((np.sin(i * 0.37) + 0.5 * np.cos(i * 0.011)).astype(np.float32)).reshape(1, 1, p, p, p)


def train_steps(model, x, header, reps):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-8)
    times, first = [], None
    for rep in range(reps + 1):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        ms = (time.perf_counter() - t) * 1e3
        first = loss.item() if first is None else first
        if rep > 0:
            times.append(ms)
    times.sort()
    return {"impl": "pytorch", "torch": torch.__version__, "preset": header["model"]["preset"],
            "patch": x.shape[-1], "reps": reps, "median_ms": round(times[len(times) // 2], 1),
            "min_ms": round(times[0], 1), "first_loss": first}


def main():
    path, patch, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    header, tensors = read_bundle(path)
    model = BrainNet(header["model"]).eval()
    wanted = {k for k in tensors}
    state = {k: v for k, v in model.state_dict().items()}
    # Only the parts a segmentation forward pass uses; others (recon decoder) are skipped.
    missing = [k for k in state if k not in tensors]
    assert not missing, f"weights missing for {missing[:5]}"
    model.load_state_dict({k: tensors[k] for k in state}, strict=True)
    unused = sorted(wanted - set(state))
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    x = deterministic_input(patch)
    if os.environ.get("BENCH_MODE") == "train":
        print(json.dumps(train_steps(model, x, header, reps)))
        return
    with torch.inference_mode():
        logits = model(x)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    result = {"impl": "pytorch", "torch": torch.__version__, "preset": header["model"]["preset"], "patch": patch,
              "reps": reps, "median_ms": round(times[len(times) // 2], 1), "min_ms": round(times[0], 1),
              "params_compared": len(state), "unused_tensors": len(unused)}
    if len(sys.argv) > 4:
        burn = torch.from_numpy(np.fromfile(sys.argv[4], dtype="<f4")).reshape(logits.shape)
        diff = (burn - logits).abs().max().item()
        scale = logits.abs().max().item()
        result["max_abs_diff_vs_burn"] = diff
        result["max_abs_logit"] = scale
    print(json.dumps(result))


if __name__ == "__main__":
    main()
