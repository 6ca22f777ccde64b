//! The capabilities reel's video roles offer and ask for (see docs/compatibility.md#capabilities).

use reel_media::VideoProfile;
use reel_media::profile::{Gop, H264Profile, VideoCodec};
use reel_net::capabilities::{Capabilities, Capability, CapabilitySet};

/// AV1 encoding: reel's own capability id (go-livepeer has no AV1 encoder), next to WebAssembly
/// compute's 64.
pub const AV1_ENCODE: u32 = 65;

/// What a ladder in `codec` needs of an orchestrator, beyond H.264 in MPEG-TS.
fn codec_needs(codec: VideoCodec, set: &mut CapabilitySet) {
    match codec {
        VideoCodec::H264 => {}
        VideoCodec::Hevc => set.insert(Capability::HevcEncode),
        VideoCodec::Vp8 => set.insert(Capability::Vp8Encode),
        VideoCodec::Vp9 => set.insert(Capability::Vp9Encode),
        VideoCodec::Av1 => set.insert_id(AV1_ENCODE),
    }
    if codec.needs_fmp4() {
        set.insert(Capability::Mp4);
    }
}

/// reel's version string in `Capabilities.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What an orchestrator (or transcoder) running the media engine can do for video: H.264,
/// and each other codec this FFmpeg build can encode.
pub fn node_capabilities(capacity: u32) -> Capabilities {
    node_capabilities_for(capacity, &reel_media::encodable_codecs())
}

/// [`node_capabilities`] for a node that encodes `codecs`.
pub fn node_capabilities_for(capacity: u32, codecs: &[VideoCodec]) -> Capabilities {
    use Capability as C;
    let mut offered = CapabilitySet::from_iter([
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
    for &codec in codecs {
        codec_needs(codec, &mut offered);
    }
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
        codec_needs(p.codec, &mut offered);
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

    #[test]
    fn a_ladder_goes_only_where_its_codecs_can_be_encoded() {
        let mut ladder = vec![VideoProfile::standard("P144p30fps16x9").unwrap()];
        ladder[0].codec = VideoCodec::Av1;
        let job = job_capabilities(&ladder);
        let h264_only = node_capabilities_for(4, &[VideoCodec::H264]);
        let err = job.fits(Some(&h264_only)).unwrap_err().to_string();
        assert!(err.contains("65") || err.contains("Mp4"), "{err}");
        let all = node_capabilities_for(
            4,
            &[
                VideoCodec::H264,
                VideoCodec::Hevc,
                VideoCodec::Vp9,
                VideoCodec::Av1,
            ],
        );
        job.fits(Some(&all)).unwrap();
        ladder[0].codec = VideoCodec::Vp8;
        assert!(job_capabilities(&ladder).fits(Some(&all)).is_err());
        ladder[0].codec = VideoCodec::Hevc;
        job_capabilities(&ladder).fits(Some(&all)).unwrap();
        // This machine's FFmpeg encodes every codec reel knows.
        job_capabilities(&ladder)
            .fits(Some(&node_capabilities(1)))
            .unwrap();
    }
}
