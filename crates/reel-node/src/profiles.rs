//! Ladder profiles on the wire (`SegData.fullProfiles3`, go-livepeer's `VideoProfile`
//! message) and in the media engine, both ways. Profiles from the network are bounded
//! before the media engine sees them.

use reel_media::VideoProfile;
use reel_media::profile::{Gop, H264Profile, Hardware, VideoCodec};
use reel_net::proto;
use reel_net::proto::video_profile::{
    Format as WireFormat, Profile as WireProfile, VideoCodec as WireCodec,
};

use crate::NodeError;

/// Largest width or height accepted from the wire.
const MAX_DIMENSION: i32 = 8192;
/// Largest bitrate accepted from the wire (bit/s).
const MAX_BITRATE: i32 = 200_000_000;

/// The wire form of a profile. H.264 and HEVC travel in MPEG-TS, VP8, VP9 and AV1 in
/// fragmented MP4 (`format` says which, as in go-livepeer); the hardware (software or
/// NVENC) is the orchestrator's choice, not the gateway's.
pub fn to_wire(p: &VideoProfile) -> proto::VideoProfile {
    proto::VideoProfile {
        name: p.name.clone(),
        width: i32::try_from(p.width).unwrap_or(i32::MAX),
        height: i32::try_from(p.height).unwrap_or(i32::MAX),
        bitrate: i32::try_from(p.bitrate).unwrap_or(i32::MAX),
        fps: p.fps,
        fps_den: p.fps_den,
        profile: match p.profile {
            H264Profile::Baseline => WireProfile::H264Baseline,
            H264Profile::Main => WireProfile::H264Main,
            H264Profile::High => WireProfile::H264High,
            H264Profile::ConstrainedHigh => WireProfile::H264ConstrainedHigh,
            _ => WireProfile::EncoderDefault,
        } as i32,
        // go-livepeer sends the GOP in milliseconds; a negative value means intra-only.
        gop: match p.gop {
            Gop::Intra => -1,
            Gop::Millis(ms) => i32::try_from(ms).unwrap_or(i32::MAX),
            _ => 0,
        },
        encoder: wire_codec(p.codec) as i32,
        format: if p.codec.needs_fmp4() {
            WireFormat::Mp4
        } else {
            WireFormat::Mpegts
        } as i32,
        ..Default::default()
    }
}

fn wire_codec(codec: VideoCodec) -> WireCodec {
    match codec {
        VideoCodec::H264 => WireCodec::H264,
        VideoCodec::Hevc => WireCodec::H265,
        VideoCodec::Vp8 => WireCodec::Vp8,
        VideoCodec::Vp9 => WireCodec::Vp9,
        VideoCodec::Av1 => WireCodec::Av1,
    }
}

/// A profile from the wire, checked: a safe name (it becomes a path), sane dimensions,
/// bitrate and frame rate, a codec reel encodes in the container it uses for it.
pub fn from_wire(p: &proto::VideoProfile) -> Result<VideoProfile, NodeError> {
    let bad = |why: String| NodeError::Config(format!("profile {:?}: {why}", p.name));
    let name_ok = !p.name.is_empty()
        && p.name.len() <= 64
        && p.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !name_ok {
        return Err(bad("name must be 1 to 64 of A-Z a-z 0-9 _ -".into()));
    }
    for (side, v) in [("width", p.width), ("height", p.height)] {
        if !(2..=MAX_DIMENSION).contains(&v) {
            return Err(bad(format!("{side} {v} outside 2..={MAX_DIMENSION}")));
        }
    }
    if !(1..=MAX_BITRATE).contains(&p.bitrate) {
        return Err(bad(format!(
            "bitrate {} outside 1..={MAX_BITRATE}",
            p.bitrate
        )));
    }
    if p.fps > 240 || (p.fps > 0 && p.fps_den > 1000) {
        return Err(bad(format!("frame rate {}/{}", p.fps, p.fps_den)));
    }
    let codec = match WireCodec::try_from(p.encoder) {
        Ok(WireCodec::H264) => VideoCodec::H264,
        Ok(WireCodec::H265) => VideoCodec::Hevc,
        Ok(WireCodec::Vp8) => VideoCodec::Vp8,
        Ok(WireCodec::Vp9) => VideoCodec::Vp9,
        Ok(WireCodec::Av1) => VideoCodec::Av1,
        Err(_) => return Err(bad(format!("unknown video codec {}", p.encoder))),
    };
    let (want, container) = if codec.needs_fmp4() {
        (WireFormat::Mp4, "fragmented MP4")
    } else {
        (WireFormat::Mpegts, "MPEG-TS")
    };
    if p.format != want as i32 {
        return Err(bad(format!(
            "{} renditions come in {container} only",
            codec.name()
        )));
    }
    let profile = match WireProfile::try_from(p.profile) {
        Ok(WireProfile::H264Baseline) => H264Profile::Baseline,
        Ok(WireProfile::H264Main) => H264Profile::Main,
        Ok(WireProfile::H264High) => H264Profile::High,
        Ok(WireProfile::H264ConstrainedHigh) => H264Profile::ConstrainedHigh,
        Ok(WireProfile::EncoderDefault) => H264Profile::EncoderDefault,
        Err(_) => return Err(bad(format!("unknown H.264 profile {}", p.profile))),
    };
    if codec != VideoCodec::H264 && profile != H264Profile::EncoderDefault {
        return Err(bad(format!(
            "an H.264 profile cannot apply to {}",
            codec.name()
        )));
    }
    let gop = match p.gop {
        0 => Gop::Default,
        g if g < 0 => Gop::Intra,
        g => Gop::Millis(u32::try_from(g).unwrap_or(u32::MAX)),
    };
    Ok(VideoProfile {
        name: p.name.clone(),
        width: u32::try_from(p.width).unwrap_or(2),
        height: u32::try_from(p.height).unwrap_or(2),
        bitrate: u64::try_from(p.bitrate).unwrap_or(1),
        fps: p.fps,
        fps_den: if p.fps > 0 {
            p.fps_den.max(1)
        } else {
            p.fps_den
        },
        gop,
        profile,
        codec,
        hardware: Hardware::Software,
    })
}

/// The ladder a segment asks for: the newest profile list that is set.
pub fn ladder_of(seg: &proto::SegData) -> Result<Vec<VideoProfile>, NodeError> {
    let list = [&seg.full_profiles3, &seg.full_profiles2, &seg.full_profiles]
        .into_iter()
        .find(|l| !l.is_empty())
        .ok_or_else(|| NodeError::Config("the segment names no profiles".into()))?;
    list.iter().map(from_wire).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_the_standard_table() {
        for name in VideoProfile::standard_names() {
            let p = VideoProfile::standard(name).unwrap();
            assert_eq!(from_wire(&to_wire(&p)).unwrap(), p, "{name}");
        }
        let mut p = VideoProfile::standard("P144p30fps16x9").unwrap();
        p.gop = Gop::Millis(2000);
        p.profile = H264Profile::Main;
        assert_eq!(from_wire(&to_wire(&p)).unwrap(), p);
        p.gop = Gop::Intra;
        assert_eq!(from_wire(&to_wire(&p)).unwrap(), p);
        p.profile = H264Profile::EncoderDefault;
        for codec in [
            VideoCodec::Hevc,
            VideoCodec::Vp8,
            VideoCodec::Vp9,
            VideoCodec::Av1,
        ] {
            p.codec = codec;
            let wire = to_wire(&p);
            assert_eq!(wire.format == WireFormat::Mp4 as i32, codec.needs_fmp4());
            assert_eq!(from_wire(&wire).unwrap(), p, "{codec:?}");
        }
    }

    #[test]
    fn hostile_profiles_are_refused() {
        let good = to_wire(&VideoProfile::standard("P144p30fps16x9").unwrap());
        let cases: Vec<proto::VideoProfile> = vec![
            proto::VideoProfile {
                name: "../etc".into(),
                ..good.clone()
            },
            proto::VideoProfile {
                name: String::new(),
                ..good.clone()
            },
            proto::VideoProfile {
                width: 100_000,
                ..good.clone()
            },
            proto::VideoProfile {
                height: -4,
                ..good.clone()
            },
            proto::VideoProfile {
                bitrate: 0,
                ..good.clone()
            },
            proto::VideoProfile {
                fps: 100_000,
                ..good.clone()
            },
            proto::VideoProfile {
                format: 1,
                ..good.clone()
            },
            proto::VideoProfile {
                encoder: 2,
                ..good.clone()
            },
            proto::VideoProfile {
                encoder: 9,
                ..good.clone()
            },
            proto::VideoProfile {
                encoder: 1,
                profile: 2,
                ..good.clone()
            },
            proto::VideoProfile {
                profile: 99,
                ..good
            },
        ];
        for c in cases {
            assert!(from_wire(&c).is_err(), "{c:?}");
        }
        let seg = proto::SegData::default();
        assert!(ladder_of(&seg).is_err());
    }
}
