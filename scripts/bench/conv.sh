#!/usr/bin/env bash
# One 3x3x3 convolution (padding 1, stride 1 or 2) on the CPU, forward and backward (input +
# weight gradients): brainfm's kernels, burn-flex's stock conv3d and PyTorch, same shape, same run, 2 threads each.
# Usage: scripts/bench/conv.sh [c_in] [c_out] [edge] [reps] [stride]
set -euo pipefail
cd "$(dirname "$0")/../.."
cin="${1:-32}"; cout="${2:-32}"; edge="${3:-64}"; reps="${4:-3}"; stride="${5:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brainfm-target}"
export RAYON_NUM_THREADS=2
python3 -c "import torch" 2>/dev/null || pip install -q torch numpy
cargo build -q -j2 -p brainfm-trainer --example conv_bench
"$CARGO_TARGET_DIR/debug/examples/conv_bench" "$cin" "$cout" "$edge" "$reps" "$stride"
python3 - "$cin" "$cout" "$edge" "$reps" "$stride" <<'PY'
import json, sys, time, torch
cin, cout, edge, reps, stride = map(int, sys.argv[1:])
torch.set_num_threads(2)
x = torch.sin(torch.arange(cin * edge**3, dtype=torch.float64) * 0.7548).float().reshape(1, cin, edge, edge, edge).requires_grad_()
w = torch.sin(torch.arange(cout * cin * 27, dtype=torch.float64) * 0.7548 + 1).float().reshape(cout, cin, 3, 3, 3).requires_grad_()
fwd, bwd = [], []
for rep in range(reps + 1):
    x.grad = w.grad = None
    t = time.perf_counter(); loss = torch.nn.functional.conv3d(x, w, stride=stride, padding=1).sum(); f = time.perf_counter() - t
    t = time.perf_counter(); loss.backward(); b = time.perf_counter() - t
    if rep:
        fwd.append(f * 1e3); bwd.append(b * 1e3)
f, b = sorted(fwd)[reps // 2], sorted(bwd)[reps // 2]
gflop = 2 * cin * cout * 27 * ((edge - 1) // stride + 1)**3 / 1e9
print(json.dumps({"impl": f"pytorch {torch.__version__}", "c_in": cin, "c_out": cout, "edge": edge, "stride": stride, "forward_ms": round(f, 1),
                  "backward_ms": round(b, 1), "forward_gflops": round(gflop / (f / 1e3), 2), "backward_gflops": round(2 * gflop / (b / 1e3), 2)}))
PY
