//! One worker thread for the 2D model, unless `RAYON_NUM_THREADS` says otherwise.
//!
//! The 2D networks are small (batch 100, width 400). Most of a step's operations last
//! microseconds, so waking a second rayon thread for each one costs more than it saves. On the
//! 2-core development machine the ring example ran at 22.6 ms per iteration on one thread against
//! 24.9-25.3 ms on two, with identical results (README, "Speed against PyTorch"). The image
//! models keep every core: their DCGAN-shallow step took 850 ms on two threads and 1168 ms on
//! one. Like the allocator setting, the thread count is the program's choice, so only the
//! examples make it.

/// Makes rayon's global pool a single thread when `RAYON_NUM_THREADS` is unset (flex only;
/// wgpu does not use rayon for its kernels). Call it before any parallel work starts.
pub fn one_thread_unless_configured() {
    #[cfg(feature = "flex")]
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Fails only if the pool already exists, and then it keeps its size: harmless.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
    }
}
