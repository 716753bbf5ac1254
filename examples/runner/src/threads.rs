//! One worker thread for the 2D model, unless `RAYON_NUM_THREADS` says otherwise.
//!
//! The 2D networks are small (batch 100, width 400). Most of a step's operations last
//! microseconds, so waking a second rayon thread for each one costs more than it saves
//! (`docs/performance.md` has the measurement); results are identical either way. The image
//! models keep every core. Like the allocator setting, the thread count is the program's
//! choice, so only the examples make it.

/// Makes rayon's global pool a single thread when `RAYON_NUM_THREADS` is unset. Only flex
/// runs its kernels on rayon's pool, so elsewhere this changes nothing. Call it before any
/// parallel work starts.
pub fn one_thread_unless_configured() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Fails only if the pool already exists, and then it keeps its size: harmless.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build_global();
    }
}
