//! This process's memory, as the soak and the flood report it: what the kernel holds for it
//! (resident set) and what the allocator has handed out and not had back (live heap). When
//! the first grows and the second does not, the allocator is keeping freed memory, not the
//! program.
#![allow(unsafe_code)]

/// The resident set, in MiB (0 where `/proc` cannot be read).
pub fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// The live heap in MiB: bytes allocated and not freed, over every glibc arena and the
/// blocks it mapped on their own.
pub fn heap_mib() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value; glibc has
    // it since 2.33 and this workspace builds on 2.36.
    let m = unsafe { nix::libc::mallinfo2() };
    ((m.uordblks + m.hblkhd) / (1024 * 1024)) as u64
}
