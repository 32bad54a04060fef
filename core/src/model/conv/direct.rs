//! Direct convolution rows for x86-64 with AVX2 and FMA: the GEMM of `kernel` without its
//! gather and without the `gemm` crate's packing.
//!
//! Every tap of a convolution reads a contiguous run of the (polyphase, padded) input, so
//! one output row is `dst[i][l] = init[i] + sum_k w[k][i] * src[offsets[k] + l]`: the
//! reduction index `k` walks (channel, tap) pairs through a table of offsets and the kernel
//! loads each run straight from the input. With few channels (16 or 32 in the presets'
//! full-resolution stages) the copies that the gather-and-GEMM path makes cost as much as
//! the arithmetic; here each input value is read from cache once per block of output
//! channels and written nowhere.
//!
//! Other targets (wasm32, aarch64) and CPUs without AVX2 keep the gather-and-GEMM path.

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    static DISABLED: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread's convolutions use the direct rows: AVX2 and FMA present, not
/// switched off by [`with_direct_rows`] or, for a whole run, by `BRAINFM_DIRECT_CONV=0`.
pub fn enabled() -> bool {
    static ENV_OFF: OnceLock<bool> = OnceLock::new();
    let env_off =
        *ENV_OFF.get_or_init(|| std::env::var("BRAINFM_DIRECT_CONV").is_ok_and(|v| v == "0"));
    !env_off && !DISABLED.with(Cell::get) && cpu_has_it()
}

/// Whether rows of `len` voxels fill the kernel's 16-voxel blocks well enough: shorter rows
/// (the coarse stages, 4-16 voxels) leave lanes idle, where the GEMM path packs several
/// rows into one (base at 64^3 ran 1.5x slower with direct rows on every layer).
pub fn suits(len: usize) -> bool {
    len >= MIN_ROW
}

/// Shortest row the direct path takes: at 32 a row is two full blocks.
const MIN_ROW: usize = 32;

/// Runs `f` with the direct rows allowed (`true`, the default) or with the gather-and-GEMM
/// path that wasm32 and aarch64 run (`false`) on this thread: tests cover both paths on one
/// machine and benchmarks compare them in one run.
pub fn with_direct_rows<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = DISABLED.with(|d| d.replace(!on));
    let result = f();
    DISABLED.with(|d| d.set(before));
    result
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_it() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_it() -> bool {
    false
}

/// One output row block: `dst[i * ld_dst + l] = init_i + sum_k w[k * ldw + i] * src[offsets[k] + l]`
/// for `i < m`, `l < n`, where `init_i` is `bias[i]` or 0.
///
/// # Safety
/// [`enabled`] returned true; `src + offsets[k] .. + n` is readable for every k, `w` holds
/// `offsets.len()` rows of at least `m` floats `ldw` apart, `bias` (if any) holds `m` floats,
/// and `dst` rows `i < m`, `ld_dst` apart, have `n` writable floats no other thread touches.
#[allow(clippy::too_many_arguments)]
pub unsafe fn rows(
    src: *const f32,
    offsets: &[usize],
    w: *const f32,
    ldw: usize,
    m: usize,
    n: usize,
    bias: Option<*const f32>,
    dst: *mut f32,
    ld_dst: usize,
) {
    #[cfg(target_arch = "x86_64")]
    avx2::rows(src, offsets, w, ldw, m, n, bias, dst, ld_dst);
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("direct convolution rows need x86-64 ({src:?}, {offsets:?}, {w:?}, {ldw}, {m}, {n}, {bias:?}, {dst:?}, {ld_dst})");
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Output channels per block: 6 x 2 accumulators + 2 input vectors + 1 broadcast fit the
    /// 16 ymm registers.
    const MR: usize = 6;
    /// Voxels per block: two 8-lane vectors.
    const NR: usize = 16;
    /// Reduction steps per chunk: 128 runs of 16 floats, straddling up to 256 cache lines,
    /// fill half of a 32 KiB L1.
    const KC: usize = 128;

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows(
        src: *const f32,
        offsets: &[usize],
        w: *const f32,
        ldw: usize,
        m: usize,
        n: usize,
        bias: Option<*const f32>,
        dst: *mut f32,
        ld_dst: usize,
    ) {
        let mut l0 = 0;
        while l0 < n {
            let nv = (n - l0).min(NR);
            // The reduction in chunks whose input runs stay in L1 while every channel block
            // reads them; later chunks add to what the earlier ones stored.
            for (chunk, part) in offsets.chunks(KC).enumerate() {
                let k0 = chunk * KC;
                // Channel blocks of near-equal size (16 = 6 + 5 + 5, not 6 + 6 + 4): a short
                // block spends as many loads as a full one on fewer FMAs.
                let blocks = m.div_ceil(MR);
                let mut i0 = 0;
                for blk in 0..blocks {
                    let mr = m / blocks + usize::from(blk < m % blocks);
                    let args = Block {
                        src: src.add(l0),
                        offsets: part,
                        w: w.add(k0 * ldw + i0),
                        ldw,
                        nv,
                        init: if chunk > 0 {
                            Init::Accumulate
                        } else if let Some(b) = bias {
                            Init::Bias(b.add(i0))
                        } else {
                            Init::Zero
                        },
                        dst: dst.add(i0 * ld_dst + l0),
                        ld_dst,
                    };
                    match mr {
                        6 => block::<6>(&args),
                        5 => block::<5>(&args),
                        4 => block::<4>(&args),
                        3 => block::<3>(&args),
                        2 => block::<2>(&args),
                        _ => block::<1>(&args),
                    }
                    i0 += mr;
                }
            }
            l0 += NR;
        }
    }

    struct Block<'a> {
        src: *const f32,
        offsets: &'a [usize],
        w: *const f32,
        ldw: usize,
        nv: usize,
        init: Init,
        dst: *mut f32,
        ld_dst: usize,
    }

    /// What a block's sums start from.
    enum Init {
        Zero,
        Bias(*const f32),
        /// The values already in `dst` (an earlier chunk of the reduction).
        Accumulate,
    }

    /// Lane masks for the first `nv` of 16 voxels (all set when the block is full).
    #[target_feature(enable = "avx2,fma")]
    unsafe fn masks(nv: usize) -> [__m256i; 2] {
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let limit = |first: usize| _mm256_set1_epi32(nv.saturating_sub(first).min(8) as i32);
        [
            _mm256_cmpgt_epi32(limit(0), lanes),
            _mm256_cmpgt_epi32(limit(8), lanes),
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const M: usize>(b: &Block) {
        let full = b.nv == NR;
        let mask = masks(b.nv);
        let mut acc = [[_mm256_setzero_ps(); 2]; M];
        match b.init {
            Init::Zero => {}
            Init::Bias(bias) => {
                for (i, a) in acc.iter_mut().enumerate() {
                    let v = _mm256_set1_ps(*bias.add(i));
                    *a = [v, v];
                }
            }
            Init::Accumulate => {
                for (i, a) in acc.iter_mut().enumerate() {
                    let d = b.dst.add(i * b.ld_dst);
                    *a = [
                        _mm256_maskload_ps(d, mask[0]),
                        _mm256_maskload_ps(d.add(8), mask[1]),
                    ];
                }
            }
        }
        let mut wk = b.w;
        for &off in b.offsets {
            let p = b.src.add(off);
            let (x0, x1) = if full {
                (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
            } else {
                // Masked lanes are not read, so a short last block stays inside the row.
                (
                    _mm256_maskload_ps(p, mask[0]),
                    _mm256_maskload_ps(p.add(8), mask[1]),
                )
            };
            for (i, a) in acc.iter_mut().enumerate() {
                let wv = _mm256_broadcast_ss(&*wk.add(i));
                a[0] = _mm256_fmadd_ps(wv, x0, a[0]);
                a[1] = _mm256_fmadd_ps(wv, x1, a[1]);
            }
            wk = wk.add(b.ldw);
        }
        for (i, a) in acc.iter().enumerate() {
            let d = b.dst.add(i * b.ld_dst);
            if full {
                _mm256_storeu_ps(d, a[0]);
                _mm256_storeu_ps(d.add(8), a[1]);
            } else {
                // Masked stores are slow on some AMD cores; the tail goes through the stack.
                let mut tail = [0.0f32; NR];
                _mm256_storeu_ps(tail.as_mut_ptr(), a[0]);
                _mm256_storeu_ps(tail.as_mut_ptr().add(8), a[1]);
                std::ptr::copy_nonoverlapping(tail.as_ptr(), d, b.nv);
            }
        }
    }
}
