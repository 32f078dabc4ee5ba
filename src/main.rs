//! The `duckmarc` binary: everything is in the library and, for flags, in `cli`.

mod cli;

/// Ingest allocates and frees millions of small buffers across threads (parsed values, Arrow
/// columns); mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // The usual MIMALLOC_PURGE_DELAY still decides when it is set.
    duckmarc::memory::give_back_freed_memory_after(duckmarc::memory::PURGE_DELAY_MS);
    cli::main()
}
