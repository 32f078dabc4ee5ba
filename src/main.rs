//! The `duckmarc` binary: everything is in the library and, for flags, in `cli`.

mod cli;

/// Ingest allocates and frees millions of small buffers across threads (parsed values, Arrow
/// columns); mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // mimalloc keeps freed memory for a second before giving it back. Ingest frees parsed
    // batches all the time, so that second is most of its peak: returned after 100 ms, the
    // peak on 10,000 reports falls by about 50 MB for about 0.1 s (scripts/bench.sh). The
    // usual MIMALLOC_PURGE_DELAY still decides when it is set.
    duckmarc::memory::give_back_freed_memory_after(100);
    cli::main()
}
