//! The `duckmarc` binary: everything is in the library and, for flags, in `cli`.

mod cli;

/// Ingest allocates and frees millions of small buffers across threads (parsed values, Arrow
/// columns); mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (mimalloc.h, v3), which the Rust bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // mimalloc keeps freed memory for a second before giving it back. Ingest frees parsed
    // batches all the time, so that second is most of its peak: returned after 100 ms, the
    // peak on 10,000 reports falls by about 50 MB for about 0.1 s (scripts/bench.sh). The
    // usual MIMALLOC_PURGE_DELAY still decides when it is set.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one option value; mimalloc reads it when it next purges.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
    }
    cli::main()
}
