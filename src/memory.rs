//! How long freed memory stays with the process. The binary allocates with mimalloc, which
//! keeps freed pages for a while (a second by default) before giving them back to the system;
//! these calls tune that. Under any other allocator they change nothing.

/// mimalloc's `mi_option_purge_delay` (mimalloc.h, v3), which the Rust bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with a `duckmarc` process (src/main.rs). mimalloc's default
/// is a second; ingest frees parsed batches all the time, so that second is most of its
/// peak: returned after 100 ms, the peak on 10,000 reports falls by about 50 MB for about
/// 0.1 s (scripts/bench.sh).
pub const PURGE_DELAY_MS: std::os::raw::c_long = 100;

/// Freed memory goes back to the system after `milliseconds` (0: at once), unless the user
/// chose with MIMALLOC_PURGE_DELAY.
pub fn give_back_freed_memory_after(milliseconds: std::os::raw::c_long) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one option value; mimalloc reads it when it next purges.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, milliseconds) };
    }
}

/// Gives back now what this thread's allocator holds free.
pub fn give_back_freed_memory() {
    // SAFETY: mi_collect only returns mimalloc's free pages; any thread may call it any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
