//! The capabilities reel's video roles offer and ask for (see docs/compatibility.md#capabilities).

use reel_media::VideoProfile;
use reel_media::profile::{Gop, H264Profile};
use reel_net::capabilities::{Capabilities, Capability, CapabilitySet};

/// reel's version string in `Capabilities.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What an orchestrator (or transcoder) running the media engine can do for video.
pub fn node_capabilities(capacity: u32) -> Capabilities {
    use Capability as C;
    let offered = CapabilitySet::from_iter([
        C::H264,
        C::Mpegts,
        C::FractionalFramerates,
        C::StorageDirect,
        C::ProfileH264Baseline,
        C::ProfileH264Main,
        C::ProfileH264High,
        C::ProfileH264ConstrainedHigh,
        C::GopSize,
        C::AuthToken,
    ]);
    let mut caps = Capabilities {
        offered,
        mandatory: CapabilitySet::from_iter([C::AuthToken]),
        version: VERSION.to_owned(),
        ..Capabilities::default()
    };
    for c in [C::H264, C::Mpegts] {
        caps.capacities.insert(c.id(), capacity);
    }
    caps
}

/// What a gateway's job needs for a ladder.
pub fn job_capabilities(ladder: &[VideoProfile]) -> Capabilities {
    use Capability as C;
    let mut offered = CapabilitySet::from_iter([C::H264, C::Mpegts, C::AuthToken]);
    for p in ladder {
        match p.profile {
            H264Profile::Baseline => offered.insert(C::ProfileH264Baseline),
            H264Profile::Main => offered.insert(C::ProfileH264Main),
            H264Profile::High => offered.insert(C::ProfileH264High),
            H264Profile::ConstrainedHigh => offered.insert(C::ProfileH264ConstrainedHigh),
            _ => {}
        }
        if !matches!(p.gop, Gop::Default) {
            offered.insert(C::GopSize);
        }
        if p.fps_den > 1 {
            offered.insert(C::FractionalFramerates);
        }
    }
    Capabilities {
        offered,
        version: VERSION.to_owned(),
        ..Capabilities::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_jobs_fit_our_nodes() {
        let mut ladder = vec![VideoProfile::standard("P144p30fps16x9").unwrap()];
        ladder[0].profile = H264Profile::Main;
        ladder[0].gop = Gop::Millis(2000);
        let job = job_capabilities(&ladder);
        job.fits(Some(&node_capabilities(4))).unwrap();
        let back = Capabilities::from_proto(&node_capabilities(4).to_proto()).unwrap();
        assert_eq!(back, node_capabilities(4));
        // A node without AuthToken is refused by the job, and an HEVC job by the node.
        let mut weak = node_capabilities(1);
        weak.offered = CapabilitySet::from_iter([Capability::H264]);
        assert!(job.fits(Some(&weak)).is_err());
    }
}
