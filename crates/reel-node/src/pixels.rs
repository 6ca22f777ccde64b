//! The gateway's local verification (go-livepeer `-localVerify`): decode a rendition and
//! count what is really in it — frames, Σ width×height, and the frame size — so an
//! orchestrator that reports work it did not do, or hands back the wrong resolution, is
//! caught (see docs/faults.md#tampered-renditions). Blocking FFmpeg work: call from a blocking
//! thread.

use ffmpeg_next as ff;
use reel_media::MediaError;
use reel_media::profile::VideoCodec;

/// What a decoded segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoded {
    pub frames: u64,
    /// Σ width×height over every decoded frame.
    pub pixels: u64,
    /// Size of the first frame.
    pub size: (u32, u32),
    /// Whether every frame had that size.
    pub uniform: bool,
}

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Error);
    });
}

fn decode_err(reason: impl Into<String>) -> MediaError {
    MediaError::Decode {
        reason: reason.into(),
    }
}

/// Decodes the video of an MPEG-TS segment of H.264 (a source). With `first_only`, stops
/// after the first frame (enough to learn the input size).
pub fn decode_ts(ts: &[u8], first_only: bool) -> Result<Decoded, MediaError> {
    let media = reel_media::ts::demux(ts)?;
    decode_media(&media, VideoCodec::H264, first_only)
}

/// Decodes a rendition, MPEG-TS or fragmented MP4, which must be in the codec its profile
/// asks for: an orchestrator that returns a cheaper codec is caught here.
pub fn decode_rendition(data: &[u8], want: VideoCodec) -> Result<Decoded, MediaError> {
    let (codec, media) = if data.get(4..8) == Some(b"ftyp") {
        let read = reel_media::fmp4::read(data)?;
        let codec = read.video.map(|v| v.codec).ok_or(MediaError::NoVideo)?;
        (codec, read.media)
    } else {
        let media = reel_media::ts::demux_rendition(data)?;
        (media.video_codec, media)
    };
    if codec != want {
        return Err(decode_err(format!(
            "the rendition is {}, its profile asks for {}",
            codec.name(),
            want.name()
        )));
    }
    decode_media(&media, codec, false)
}

fn decode_media(
    media: &reel_media::SegmentMedia,
    codec: VideoCodec,
    first_only: bool,
) -> Result<Decoded, MediaError> {
    init();
    let codec = ff::decoder::find(codec.ffmpeg_id())
        .ok_or_else(|| decode_err(format!("this FFmpeg build has no {} decoder", codec.name())))?;
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    ctx.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: 1,
        ..Default::default()
    });
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| decode_err(format!("opening the decoder: {e}")))?;
    let mut out = Decoded {
        uniform: true,
        ..Decoded::default()
    };
    let mut frame = ff::frame::Video::empty();
    let mut take = |decoder: &mut ff::decoder::Video, out: &mut Decoded| -> bool {
        while decoder.receive_frame(&mut frame).is_ok() {
            let size = (frame.width(), frame.height());
            if size.0 == 0 || size.1 == 0 {
                continue;
            }
            if out.frames == 0 {
                out.size = size;
            } else if size != out.size {
                out.uniform = false;
            }
            out.frames = out.frames.saturating_add(1);
            out.pixels = out
                .pixels
                .saturating_add(u64::from(size.0) * u64::from(size.1));
            if first_only {
                return true;
            }
        }
        false
    };
    for p in media.video() {
        let mut packet = ff::Packet::copy(&p.data);
        packet.set_pts(Some(p.pts));
        packet.set_dts(Some(p.dts));
        if p.keyframe {
            packet.set_flags(ff::packet::Flags::KEY);
        }
        // A packet the decoder refuses is skipped: a truncated rendition then shows as
        // missing pixels, which is what the check is for.
        let _ = decoder.send_packet(&packet);
        if take(&mut decoder, &mut out) {
            return Ok(out);
        }
    }
    let _ = decoder.send_eof();
    take(&mut decoder, &mut out);
    if out.frames == 0 {
        return Err(decode_err("no decodable video frame"));
    }
    Ok(out)
}
