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
    /// Encode every rendition in H.264, the cheapest codec, whatever its profile asks, and
    /// report honest pixels (the gateway must catch the codec by reading the rendition).
    CheaperCodec,
    /// Encode every rendition turned half a circle: the right size, frames and pixels, the
    /// wrong content.
    WrongContent,
    /// Encode every rendition as its segment's first picture, repeated.
    FrozenFrames,
    /// Encode at a tenth of each profile's bitrate.
    Starved,
    /// Encode half the frames each profile asks for (and report them honestly).
    DroppedFrames,
    /// Return the first two renditions in each other's place, with their honest claims.
    SwappedRenditions,
}

impl Fault {
    /// What the fault makes the media engine do, where it is a matter of pictures.
    pub fn media(self) -> Option<reel_media::transcode::MediaFault> {
        use reel_media::transcode::MediaFault;
        match self {
            Self::WrongContent => Some(MediaFault::WrongContent),
            Self::FrozenFrames => Some(MediaFault::Frozen),
            _ => None,
        }
    }
}

/// The variable that switches a fault on in a `reel orchestrator` process (the tests set it).
pub const FAULT_ENV: &str = "REEL_TEST_FAULT";

/// The fault `REEL_TEST_FAULT` names (`wrong-renditions`, `cheaper-codec`,
/// `wrong-content`, `frozen-frames`, `starved`, `dropped-frames`, `swapped-renditions`), if
/// any.
pub(super) fn from_env() -> Option<Fault> {
    let fault = match std::env::var(FAULT_ENV).ok()?.as_str() {
        "wrong-renditions" => Fault::WrongRenditions,
        "cheaper-codec" => Fault::CheaperCodec,
        "wrong-content" => Fault::WrongContent,
        "frozen-frames" => Fault::FrozenFrames,
        "starved" => Fault::Starved,
        "dropped-frames" => Fault::DroppedFrames,
        "swapped-renditions" => Fault::SwappedRenditions,
        _ => return None,
    };
    tracing::warn!(target: "node::orchestrator", ?fault, "{FAULT_ENV} is set: this orchestrator cheats on purpose");
    Some(fault)
}

/// Before the work: the ladder actually encoded.
pub(super) fn before(
    fault: Option<Fault>,
    mut seg: proto::SegData,
    ladder: Vec<VideoProfile>,
) -> (proto::SegData, Vec<VideoProfile>) {
    let change: fn(&mut VideoProfile) = match fault {
        Some(Fault::WrongRenditions) => |q| {
            q.width = (q.width / 2).max(2) & !1;
            q.height = (q.height / 2).max(2) & !1;
        },
        Some(Fault::CheaperCodec) => |q| q.codec = reel_media::profile::VideoCodec::H264,
        Some(Fault::Starved) => |q| q.bitrate = (q.bitrate / 10).max(1),
        Some(Fault::DroppedFrames) => |q| {
            // Half the frames: a profile that keeps the source's rate gets a fixed 15.
            (q.fps, q.fps_den) = if q.fps == 0 {
                (15, 1)
            } else {
                (q.fps, q.fps_den.max(1) * 2)
            };
        },
        _ => return (seg, ladder),
    };
    let cheat: Vec<VideoProfile> = ladder
        .iter()
        .map(|p| {
            let mut q = p.clone();
            change(&mut q);
            q
        })
        .collect();
    seg.full_profiles3 = cheat.iter().map(crate::profiles::to_wire).collect();
    seg.full_profiles.clear();
    seg.full_profiles2.clear();
    (seg, cheat)
}

/// After the work: the renditions returned and the pixels claimed.
pub(super) fn after(fault: Option<Fault>, mut out: Output) -> Output {
    match fault {
        Some(Fault::WrongRenditions) => {
            // Claim the pixels a full-size rendition would have had.
            for r in &mut out.renditions {
                r.pixels = r.pixels.saturating_mul(4);
            }
        }
        Some(Fault::SwappedRenditions) if out.renditions.len() >= 2 => {
            out.renditions.swap(0, 1);
        }
        _ => {}
    }
    out
}
