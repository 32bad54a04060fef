//! Work splitting for brainfm's CPU kernels (convolution, normalisation): rayon's threads natively, the calling thread in
//! wasm32 (the browser's worker has no threads), with per-task scratch reused across tasks.

/// A raw output pointer shared by tasks that write disjoint elements.
#[derive(Clone, Copy)]
pub struct SharedMut(pub *mut f32);
// SAFETY: every kernel hands each task a disjoint set of elements behind this pointer.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

/// Runs `task(scratch, i)` for every `i < n`, each worker with its own scratch.
pub fn for_each<S, I, F>(n: usize, init: I, task: F)
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize) + Sync + Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().for_each_init(init, task);
    }
    #[cfg(target_arch = "wasm32")]
    {
        let mut scratch = init();
        for i in 0..n {
            task(&mut scratch, i);
        }
    }
}

/// Runs `task(scratch, chunk, i)` on consecutive `chunk_len` pieces of `data`.
pub fn for_each_chunk<F>(data: &mut [f32], chunk_len: usize, task: F)
where
    F: Fn(&mut [f32], usize) + Sync + Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, chunk)| task(chunk, i));
    }
    #[cfg(target_arch = "wasm32")]
    {
        for (i, chunk) in data.chunks_mut(chunk_len).enumerate() {
            task(chunk, i);
        }
    }
}

/// [`for_each_chunk`] that also hands each chunk's task its own element of `out`.
pub fn for_each_chunk_with<T, F>(data: &mut [f32], chunk_len: usize, out: &mut [T], task: F)
where
    T: Send,
    F: Fn(&mut [f32], &mut T, usize) + Sync + Send,
{
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        data.par_chunks_mut(chunk_len)
            .zip(out.par_iter_mut())
            .enumerate()
            .for_each(|(i, (chunk, o))| task(chunk, o, i));
    }
    #[cfg(target_arch = "wasm32")]
    {
        for (i, (chunk, o)) in data.chunks_mut(chunk_len).zip(out.iter_mut()).enumerate() {
            task(chunk, o, i);
        }
    }
}

/// Partial sums per group: fixed, so a sum's rounding never depends on the thread count
/// or on work stealing (training on the CPU is reproducible bit for bit).
const SUM_GROUPS: usize = 8;

/// Sums `len`-long accumulators that `task(scratch, acc, i)` adds into, over every `i < n`.
/// Tasks are split into at most `SUM_GROUPS` fixed contiguous groups, each summed in order,
/// and the groups are added in order.
pub fn sum<S, I, F>(n: usize, len: usize, init: I, task: F) -> Vec<f32>
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, &mut [f32], usize) + Sync + Send,
{
    let groups = n.clamp(1, SUM_GROUPS);
    let group = |g: usize| {
        let mut acc = vec![0.0f32; len];
        let mut scratch = init();
        for i in g * n / groups..(g + 1) * n / groups {
            task(&mut scratch, &mut acc, i);
        }
        acc
    };
    #[cfg(not(target_arch = "wasm32"))]
    let partials: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        (0..groups).into_par_iter().map(group).collect()
    };
    #[cfg(target_arch = "wasm32")]
    let partials: Vec<Vec<f32>> = (0..groups).map(group).collect();
    let mut parts = partials.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![0.0; len]);
    for part in parts {
        total.iter_mut().zip(&part).for_each(|(x, y)| *x += y);
    }
    total
}
