//! What the benchmarks share: the binary's allocator, set up as the binary sets it, so the
//! halves of ingest they time alone allocate as they do inside it; and the CPU time they
//! print.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sets the allocator up as `duckmarc` does before it runs a command.
pub fn allocate_as_the_binary_does() {
    duckmarc::memory::give_back_freed_memory_after(duckmarc::memory::PURGE_DELAY_MS);
}

/// User and system CPU seconds this process has used so far, all threads.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
