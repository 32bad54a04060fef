//! Keeping freed tensor memory in the process instead of handing it back to the OS.
//!
//! Every op of the CPU backend allocates its output afresh, and a 32-channel 64^3 activation
//! is 32 MiB: at glibc's largest automatic mmap threshold, so each one was mapped, faulted in
//! page by page (zeroed by the kernel) and unmapped when freed. Serving large blocks from the
//! heap and never trimming it reuses the same pages step after step: a `small` forward pass
//! at 64^3 went from 181,817 to 43,910 page faults and about 5 % faster (docs/BENCHMARKS.md).
//! The cost is that the process keeps its peak size until it exits, which is what a training
//! or inference run does anyway.

/// Call once at start-up, before the first large allocation. Only glibc on Linux needs it;
/// elsewhere (musl, macOS, Windows, wasm32) it does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; both values are in range.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
