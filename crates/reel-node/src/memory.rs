//! How a reel process keeps its memory from creeping. A node frees big blocks all the time
//! (a session's encoders, tens of MiB, when it ends or moves; renditions once fetched) on
//! whichever thread it happens to be. glibc gives threads their own arenas, up to eight
//! per core, and an arena returns memory to the system only from its top: over an hour of
//! sessions coming and going, the resident set grew by hundreds of MiB that were free but
//! never given back (the soak, `soak_across_hosts`, measured it). So a process running a
//! node uses two arenas and gives its free pages back every half minute.
#![allow(unsafe_code)]

use std::sync::Once;
use std::time::Duration;

/// How often free pages are given back.
const TRIM_EVERY: Duration = Duration::from_secs(30);

/// Arenas for the whole process: two, however many threads (the runtimes', the
/// transcoders' blocking pools, FFmpeg's own).
const ARENAS: i32 = 2;

static TUNED: Once = Once::new();

/// Sets the allocator up for a long-running node and starts the thread that gives free
/// memory back. Best called first thing in `main`, before other threads exist (a thread
/// keeps the arena it already has); later calls do nothing.
pub fn tune_allocator() {
    TUNED.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            // SAFETY: mallopt only changes glibc's allocator parameters; M_ARENA_MAX takes
            // any positive count.
            unsafe { nix::libc::mallopt(nix::libc::M_ARENA_MAX, ARENAS) };
            let spawned = std::thread::Builder::new()
                .name("reel-trim".into())
                .spawn(|| {
                    loop {
                        std::thread::sleep(TRIM_EVERY);
                        // SAFETY: malloc_trim walks the arenas under their locks and
                        // returns whole free pages to the system; 0 keeps no pad.
                        unsafe { nix::libc::malloc_trim(0) };
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "could not start the memory trimmer");
            }
        }
    });
}
