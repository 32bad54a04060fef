//! f32 3D convolution on the CPU: forward, input gradient and weight gradient.
//!
//! Each is one GEMM per tile of output rows, fed by a gather of contiguous runs from the
//! polyphase input (see `shape`), so there is no im2col of the whole volume: the scratch of
//! a task is bounded by `GATHER_BUDGET` whatever the volume. The GEMM micro-kernels are the
//! `gemm` crate's (the ones burn-flex uses), vectorised for AVX2/AVX-512/NEON natively and
//! SIMD128 in wasm32; tiles run on all threads natively.
//!
//! Tile sizes depend on the shape only, never on the thread count, and weight-gradient
//! partial sums are added in a fixed order, so results are identical from run to run.

use super::super::parallel::{self, SharedMut};
use super::shape::{ConvShape, Tap};
use gemm::{gemm, Parallelism};

/// Floats one task gathers at most (1 MiB): half of a 2 MiB per-core L2, so the gathered
/// block stays there beside the GEMM's packed weights and output tile (a single-thread run
/// of the 32->32 conv on 64^3 measured 177-215 ms forward at 1 MiB against 258 at 2 MiB).
const GATHER_BUDGET: usize = 1 << 18;
/// Columns per tile: enough to amortise a GEMM call, few enough to share work out.
const MIN_COLUMNS: usize = 256;
const MAX_COLUMNS: usize = 4096;

/// Output rows per tile for rows of `row_len` voxels and `gathered_rows` gathered rows.
fn rows_per_tile(row_len: usize, gathered_rows: usize, total_rows: usize) -> usize {
    let columns = (GATHER_BUDGET / gathered_rows.max(1)).clamp(MIN_COLUMNS, MAX_COLUMNS);
    (columns / row_len.max(1)).clamp(1, total_rows.max(1))
}

/// `dst := (read_dst ? dst : 0) + lhs * rhs`, single-threaded (tasks are the parallel unit).
/// Strides are in elements: `*_rs` between rows, `*_cs` between columns.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f32(
    [m, n, k]: [usize; 3],
    dst: *mut f32,
    [dst_rs, dst_cs]: [usize; 2],
    read_dst: bool,
    lhs: *const f32,
    [lhs_rs, lhs_cs]: [usize; 2],
    rhs: *const f32,
    [rhs_rs, rhs_cs]: [usize; 2],
) {
    gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        read_dst,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        1.0f32,
        1.0f32,
        false,
        false,
        false,
        Parallelism::None,
    )
}

/// The zero-padded polyphase copy of the input, planes `[batch][phase][c_in][P0][P1][P2]`.
fn build_phases(s: &ConvShape, x: &[f32]) -> Vec<f32> {
    let pv = s.phase_voxels();
    let [_, p1, p2] = s.phase_dims();
    let [_, i1, i2] = s.input;
    let iv = s.input_voxels();
    let phases = s.phases();
    let mut out = vec![0.0f32; s.batch * s.phase_item_len()];
    parallel::for_each_chunk(&mut out, pv, |plane, q| {
        let ci = q % s.c_in;
        let p = (q / s.c_in) % phases;
        let b = q / (s.c_in * phases);
        let src = &x[(b * s.c_in + ci) * iv..][..iv];
        let res = s.phase_residue(p);
        // Only the box of phase voxels inside the input is copied; the rest stays zero.
        let [(d_lo, d_len), (h_lo, h_len), (w_lo, w_len)] =
            [0, 1, 2].map(|a| s.phase_run(a, res[a]));
        if w_len == 0 {
            return;
        }
        let first = s.input_coord(2, res[2], w_lo);
        for i in d_lo..d_lo + d_len {
            let d = s.input_coord(0, res[0], i);
            for j in h_lo..h_lo + h_len {
                let h = s.input_coord(1, res[1], j);
                let src_row = &src[(d * i1 + h) * i2..][..i2];
                let dst_run = &mut plane[(i * p1 + j) * p2 + w_lo..][..w_len];
                if s.stride[2] == 1 {
                    dst_run.copy_from_slice(&src_row[first..first + w_len]);
                } else if s.stride[2] == 2 {
                    // Every other voxel, as pairs: a constant stride the compiler vectorises
                    // (the generic `step_by` loop below runs one scalar at a time).
                    let pairs = src_row[first..].chunks_exact(2);
                    let paired = pairs.len().min(w_len);
                    for (v, pair) in dst_run.iter_mut().zip(pairs) {
                        *v = pair[0];
                    }
                    if paired < w_len {
                        dst_run[paired] = src_row[first + 2 * paired];
                    }
                } else {
                    let src_run = src_row[first..].iter().step_by(s.stride[2]);
                    for (v, &x) in dst_run.iter_mut().zip(src_run) {
                        *v = x;
                    }
                }
            }
        }
    });
    out
}

/// Gathers, for output rows `r0..r0 + rows` of one batch item, every tap's input:
/// `col[(ci * taps + t) * n + r * O2 + o2]`, `n = rows * O2`.
fn gather_input(
    s: &ConvShape,
    taps: &[Tap],
    phases: &[f32],
    r0: usize,
    rows: usize,
    col: &mut Vec<f32>,
) {
    let [_, o1, o2] = s.output;
    let [_, p1, p2] = s.phase_dims();
    let pv = s.phase_voxels();
    let n = rows * o2;
    col.resize(s.c_in * taps.len() * n, 0.0);
    for ci in 0..s.c_in {
        for (t, tap) in taps.iter().enumerate() {
            let plane = &phases[(tap.phase * s.c_in + ci) * pv..][..pv];
            let dst = &mut col[(ci * taps.len() + t) * n..][..n];
            let [f0, f1, f2] = tap.offset;
            for r in 0..rows {
                let (a, b) = ((r0 + r) / o1, (r0 + r) % o1);
                let start = ((a + f0) * p1 + b + f1) * p2 + f2;
                dst[r * o2..][..o2].copy_from_slice(&plane[start..start + o2]);
            }
        }
    }
}

/// `[rows][cols]` -> `[cols][rows]`.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; a.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
}

fn taps(s: &ConvShape) -> Vec<Tap> {
    (0..s.taps()).map(|t| s.tap(t)).collect()
}

/// The input side of the forward pass and the weight gradient: the polyphase copy and the
/// split of the output rows into tasks (batch item, first row, rows).
struct GatheredInput<'a> {
    s: &'a ConvShape,
    x: &'a [f32],
    taps: Vec<Tap>,
    phases: Option<Vec<f32>>,
    rows_per: usize,
    tiles: usize,
}

/// One task's tile: `n` output voxels from row `r0` of batch item `b`, and its gathered
/// input `[Ci * K][n]` at `data`, `row_stride` apart (the input itself for pointwise convs).
struct Tile {
    b: usize,
    r0: usize,
    n: usize,
    data: *const f32,
    row_stride: usize,
}

impl<'a> GatheredInput<'a> {
    fn new(s: &'a ConvShape, x: &'a [f32]) -> Self {
        let total_rows = s.output_rows();
        let rows_per = rows_per_tile(s.output[2], s.c_in * s.taps(), total_rows);
        Self {
            s,
            x,
            taps: taps(s),
            phases: (!s.is_pointwise()).then(|| build_phases(s, x)),
            rows_per,
            tiles: total_rows.div_ceil(rows_per),
        }
    }

    fn tasks(&self) -> usize {
        self.s.batch * self.tiles
    }

    fn gather(&self, task: usize, col: &mut Vec<f32>) -> Tile {
        let s = self.s;
        let (b, r0) = (task / self.tiles, (task % self.tiles) * self.rows_per);
        let rows = self.rows_per.min(s.output_rows() - r0);
        let n = rows * s.output[2];
        let (data, row_stride) = match &self.phases {
            None => (
                self.x[b * s.c_in * s.output_voxels() + r0 * s.output[2]..].as_ptr(),
                s.output_voxels(),
            ),
            Some(ph) => {
                let len = s.phase_item_len();
                gather_input(s, &self.taps, &ph[b * len..][..len], r0, rows, col);
                (col.as_ptr(), n)
            }
        };
        Tile {
            b,
            r0,
            n,
            data,
            row_stride,
        }
    }
}

/// `y = conv(x, w) + bias`: x `[B, Ci, I]`, w `[Co, Ci, K]`, bias `[Co]`, y `[B, Co, O]`.
pub fn forward(s: &ConvShape, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let ov = s.output_voxels();
    let k = s.c_in * s.taps();
    let mut y = vec![0.0f32; s.batch * s.c_out * ov];
    // [k][Co]: the GEMM broadcasts a few output channels at a time for each k; contiguous
    // they come from one cache line (as [Co][k] they would stride through the weights).
    let wt = transpose(w, s.c_out, k);
    let input = GatheredInput::new(s, x);
    let out = SharedMut(y.as_mut_ptr());
    parallel::for_each(input.tasks(), Vec::new, |col, task| {
        let tile = input.gather(task, col);
        let out = out;
        // SAFETY: this task alone writes these columns of batch item b's output rows.
        let dst = unsafe { out.0.add(tile.b * s.c_out * ov + tile.r0 * s.output[2]) };
        if let Some(bias) = bias {
            for (co, &v) in bias.iter().enumerate() {
                unsafe { std::slice::from_raw_parts_mut(dst.add(co * ov), tile.n) }.fill(v);
            }
        }
        // SAFETY: all pointers cover the m x k, k x n and m x n blocks at these strides.
        unsafe {
            gemm_f32(
                [s.c_out, tile.n, k],
                dst,
                [ov, 1],
                bias.is_some(),
                wt.as_ptr(),
                [1, s.c_out],
                tile.data,
                [tile.row_stride, 1],
            )
        }
    });
    y
}

/// `dL/dw` for `y = conv(x, w)`: `[Co, Ci, K]` from x `[B, Ci, I]` and dy `[B, Co, O]`.
pub fn weight_grad(s: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let ov = s.output_voxels();
    let k = s.c_in * s.taps();
    let input = GatheredInput::new(s, x);
    // Accumulated as dw^T `[k][Co]`, a column-major Co x k, so the GEMM runs with Co (16-128)
    // as its vector dimension: it then packs only dy's tile (Co x n) and broadcasts straight
    // from the gathered input, whose voxels (the reduction) are contiguous. With dw `[Co][k]`
    // it would transpose the whole gathered tile (27 Ci x n) into panels first.
    let dw_t = parallel::sum(input.tasks(), k * s.c_out, Vec::new, |col, acc, task| {
        let tile = input.gather(task, col);
        // SAFETY: acc is Co x k at strides (1, Co); dy's tile is Co x n at strides (O, 1);
        // the gathered input is n x k at strides (1, row stride).
        unsafe {
            gemm_f32(
                [s.c_out, k, tile.n],
                acc.as_mut_ptr(),
                [1, s.c_out],
                true,
                dy[tile.b * s.c_out * ov + tile.r0 * s.output[2]..].as_ptr(),
                [ov, 1],
                tile.data,
                [1, tile.row_stride],
            )
        }
    });
    transpose(&dw_t, k, s.c_out)
}

/// What one input phase needs for the input gradient: its taps, the weights they use laid
/// out as `[Co * taps, Ci]` (contiguous in the GEMM's broadcast dimension), and the box of
/// phase voxels that land inside the input.
struct PhaseGrad {
    residue: [usize; 3],
    taps: Vec<Tap>,
    weights: Vec<f32>,
    lo: [usize; 3],
    len: [usize; 3],
}

fn phase_grads(s: &ConvShape, w: &[f32]) -> Vec<PhaseGrad> {
    let all = taps(s);
    (0..s.phases())
        .filter_map(|p| {
            let ids: Vec<usize> = (0..all.len()).filter(|&t| all[t].phase == p).collect();
            let residue = s.phase_residue(p);
            let runs = [0, 1, 2].map(|a| s.phase_run(a, residue[a]));
            let (lo, len) = (runs.map(|r| r.0), runs.map(|r| r.1));
            if ids.is_empty() || len.contains(&0) {
                return None;
            }
            let tp = ids.len();
            let mut weights = vec![0.0f32; s.c_in * s.c_out * tp];
            for ci in 0..s.c_in {
                for co in 0..s.c_out {
                    for (tt, &t) in ids.iter().enumerate() {
                        weights[(co * tp + tt) * s.c_in + ci] =
                            w[(co * s.c_in + ci) * s.taps() + t];
                    }
                }
            }
            Some(PhaseGrad {
                residue,
                taps: ids.iter().map(|&t| all[t]).collect(),
                weights,
                lo,
                len,
            })
        })
        .collect()
}

/// `dy` with `margin` zero voxels before and after every axis, planes `[B][Co][Q0][Q1][Q2]`.
fn pad_output_grad(s: &ConvShape, dy: &[f32], margin: [usize; 3]) -> Vec<f32> {
    let [o0, o1, o2] = s.output;
    let q = [0, 1, 2].map(|a| s.output[a] + 2 * margin[a]);
    let qv: usize = q.iter().product();
    let ov = s.output_voxels();
    let mut out = vec![0.0f32; s.batch * s.c_out * qv];
    parallel::for_each_chunk(&mut out, qv, |plane, p| {
        let src = &dy[p * ov..][..ov];
        for a in 0..o0 {
            for b in 0..o1 {
                let start = ((a + margin[0]) * q[1] + b + margin[1]) * q[2] + margin[2];
                plane[start..start + o2].copy_from_slice(&src[(a * o1 + b) * o2..][..o2]);
            }
        }
    });
    out
}

/// `dL/dx` for `y = conv(x, w)`: `[B, Ci, I]` from w `[Co, Ci, K]` and dy `[B, Co, O]`.
pub fn input_grad(s: &ConvShape, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let iv = s.input_voxels();
    let [_, i1, i2] = s.input;
    let mut dx = vec![0.0f32; s.batch * s.c_in * iv];
    let out = SharedMut(dx.as_mut_ptr());
    if s.is_pointwise() {
        let total_rows = s.output_rows();
        let rows_per = rows_per_tile(i2, s.c_out, total_rows);
        let tiles = total_rows.div_ceil(rows_per);
        parallel::for_each(
            s.batch * tiles,
            || (),
            |_, task| {
                let (b, r0) = (task / tiles, (task % tiles) * rows_per);
                let n = rows_per.min(total_rows - r0) * i2;
                let out = out;
                // SAFETY: this task alone writes these columns; w^T is read at strides (1, Ci).
                unsafe {
                    gemm_f32(
                        [s.c_in, n, s.c_out],
                        out.0.add(b * s.c_in * iv + r0 * i2),
                        [iv, 1],
                        false,
                        w.as_ptr(),
                        [1, s.c_in],
                        dy[b * s.c_out * iv + r0 * i2..].as_ptr(),
                        [iv, 1],
                    )
                }
            },
        );
        return dx;
    }
    let margin = s.max_offset();
    let q = [0, 1, 2].map(|a| s.output[a] + 2 * margin[a]);
    let qv: usize = q.iter().product();
    let dyp = pad_output_grad(s, dy, margin);
    let plans = phase_grads(s, w);
    // Tasks: (phase plan, batch item, first row, rows) over the rows of each phase's box.
    let mut tasks = Vec::new();
    for (pi, plan) in plans.iter().enumerate() {
        let total_rows = plan.len[0] * plan.len[1];
        let rows_per = rows_per_tile(plan.len[2], s.c_out * plan.taps.len(), total_rows);
        for b in 0..s.batch {
            for r0 in (0..total_rows).step_by(rows_per) {
                tasks.push((pi, b, r0, rows_per.min(total_rows - r0)));
            }
        }
    }
    parallel::for_each(
        tasks.len(),
        || (Vec::new(), Vec::new()),
        |(col, tmp), task| {
            let (pi, b, r0, rows) = tasks[task];
            let plan = &plans[pi];
            let [_, n1, n2] = plan.len;
            let [lo0, lo1, lo2] = plan.lo;
            let tp = plan.taps.len();
            let n = rows * n2;
            let k = s.c_out * tp;
            col.resize(k * n, 0.0);
            tmp.resize(s.c_in * n, 0.0);
            for co in 0..s.c_out {
                let plane = &dyp[(b * s.c_out + co) * qv..][..qv];
                for (tt, tap) in plan.taps.iter().enumerate() {
                    let dst = &mut col[(co * tp + tt) * n..][..n];
                    let [f0, f1, f2] = tap.offset;
                    for r in 0..rows {
                        let (i, j) = (lo0 + (r0 + r) / n1, lo1 + (r0 + r) % n1);
                        // Output voxel (i, j, l) - offset, shifted by the margin (never negative).
                        let start = ((i + margin[0] - f0) * q[1] + j + margin[1] - f1) * q[2]
                            + lo2
                            + margin[2]
                            - f2;
                        dst[r * n2..][..n2].copy_from_slice(&plane[start..start + n2]);
                    }
                }
            }
            // SAFETY: col is k x n, tmp is Ci x n, the plan's weights are Ci x k (stored k x Ci).
            unsafe {
                gemm_f32(
                    [s.c_in, n, k],
                    tmp.as_mut_ptr(),
                    [n, 1],
                    false,
                    plan.weights.as_ptr(),
                    [1, s.c_in],
                    col.as_ptr(),
                    [n, 1],
                )
            }
            // Scatter back: each input voxel belongs to exactly one phase and one phase voxel.
            let res = plan.residue;
            let coord = |a: usize, i: usize| s.input_coord(a, res[a], i);
            let out = out;
            for ci in 0..s.c_in {
                let base = (b * s.c_in + ci) * iv;
                for r in 0..rows {
                    let (i, j) = (lo0 + (r0 + r) / n1, lo1 + (r0 + r) % n1);
                    let row = base + (coord(0, i) * i1 + coord(1, j)) * i2 + coord(2, lo2);
                    let src = &tmp[ci * n + r * n2..][..n2];
                    // SAFETY: distinct (phase, i, j, l) map to distinct input voxels.
                    unsafe {
                        let dst = out.0.add(row);
                        if s.stride[2] == 1 {
                            std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n2);
                        } else {
                            for (l, &v) in src.iter().enumerate() {
                                *dst.add(l * s.stride[2]) = v;
                            }
                        }
                    }
                }
            }
        },
    );
    dx
}
