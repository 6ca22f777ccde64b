//! Transcoding as a kind of work: billed per pixel of output, paid per segment
//! ([`reel_jobs::Cadence::PerJob`]: tickets for the segment's estimated pixels go with it,
//! its real output pixels are debited), verified by signature and decoded pixel counts,
//! run in process, in worker processes or on remote transcoders.

use reel_net::capabilities::Capability;
use reel_pm::Scope;

/// The capability transcoding is advertised and billed under.
pub const CAPABILITY: u32 = Capability::H264.id();

/// What a unit of the transcoding price buys.
pub const UNIT: &str = "pixel";

/// A stream's balance scope: its session, so that each stream keeps the price it started
/// at (go-livepeer keys transcoding credit by manifest).
pub fn scope(session: &str) -> Scope {
    Scope::new(CAPABILITY, session)
}
