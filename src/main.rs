//! The `duckmarc` binary: everything is in the library and, for flags, in `cli`.

mod cli;

/// Ingest allocates and frees millions of small buffers across threads (parsed values, Arrow
/// columns); mimalloc does that markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
