//! Lets glibc keep freed memory for reuse instead of handing it back to the kernel.
//!
//! The flex backend allocates a fresh buffer for most tensor operations. A DCGAN activation is
//! several MiB, above glibc's default threshold for `mmap`, so each one was mapped, zeroed page by
//! page by the kernel and unmapped again; the 2D model's largest buffers (`[200, 1000]` Maxout
//! outputs, 800 KB) cross that threshold too. `docs/performance.md` measures what this setting
//! gains. Only the examples, tools and benches make it: the process-wide allocator is the
//! program's choice, not a library's.

/// Raises glibc's `mmap` threshold to 32 MiB and stops trimming the heap.
/// Does nothing where the C library is not glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; it is called before any thread
    // is started and the values are in the documented ranges (threshold <= 32 MiB on 64-bit).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
