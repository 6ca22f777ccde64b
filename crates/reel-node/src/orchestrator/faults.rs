//! Faults a test switches on to play a dishonest orchestrator. Compiled only with the
//! `test-hooks` feature: a release binary cannot misbehave on purpose.

use reel_media::VideoProfile;
use reel_net::proto;

use super::output::Output;

/// Faults a test can switch on to play a dishonest orchestrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Encode every rendition at half the asked size but report the pixels of the full
    /// size (the gateway must catch it by decoding; see docs/faults.md).
    WrongRenditions,
}

/// The variable that switches a fault on in a `reel orchestrator` process (the tests set it).
pub const FAULT_ENV: &str = "REEL_TEST_FAULT";

/// The fault `REEL_TEST_FAULT` names (`wrong-renditions`), if any.
pub(super) fn from_env() -> Option<Fault> {
    match std::env::var(FAULT_ENV).ok()?.as_str() {
        "wrong-renditions" => {
            tracing::warn!(target: "node::orchestrator", "{FAULT_ENV} is set: this orchestrator cheats on purpose");
            Some(Fault::WrongRenditions)
        }
        _ => None,
    }
}

/// Before the work: the ladder actually encoded.
pub(super) fn before(
    fault: Option<Fault>,
    mut seg: proto::SegData,
    ladder: Vec<VideoProfile>,
) -> (proto::SegData, Vec<VideoProfile>) {
    if fault != Some(Fault::WrongRenditions) {
        return (seg, ladder);
    }
    let half: Vec<VideoProfile> = ladder
        .iter()
        .map(|p| {
            let mut q = p.clone();
            q.width = (p.width / 2).max(2) & !1;
            q.height = (p.height / 2).max(2) & !1;
            q
        })
        .collect();
    seg.full_profiles3 = half.iter().map(crate::profiles::to_wire).collect();
    seg.full_profiles.clear();
    seg.full_profiles2.clear();
    (seg, half)
}

/// After the work: the pixels claimed.
pub(super) fn after(fault: Option<Fault>, mut out: Output) -> Output {
    if fault == Some(Fault::WrongRenditions) {
        // Claim the pixels a full-size rendition would have had.
        for r in &mut out.renditions {
            r.pixels = r.pixels.saturating_mul(4);
        }
    }
    out
}
