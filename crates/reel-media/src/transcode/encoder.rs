//! Opening a rendition's encoder: FFmpeg's encoder for the profile's codec and hardware,
//! the session's threading, and each encoder's options for live work.

use ffmpeg_next as ff;

use super::types::{EncoderReuse, SessionSettings};
use crate::MediaError;
use crate::codec::VideoCodec;
use crate::profile::{Gop, H264Profile, Hardware, VideoProfile};

pub(super) fn open_encoder(
    profile: &VideoProfile,
    settings: &SessionSettings,
    (w, h): (u32, u32),
    (num, den): (u32, u32),
) -> Result<ff::encoder::video::Encoder, MediaError> {
    let name = profile.ffmpeg_encoder()?;
    let codec = ff::encoder::find_by_name(name)
        .ok_or_else(|| MediaError::EncoderUnavailable { name: name.into() })?;
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    // libx264's wrapper lets the threading type override the tune's: frame threads would
    // delay `zerolatency` output by threads − 1 frames, so it gets slice threads.
    let zerolatency = settings
        .x264_tune
        .as_deref()
        .is_some_and(|t| t.split(',').any(|t| t == "zerolatency"));
    ctx.set_threading(ff::threading::Config {
        kind: if zerolatency {
            ff::threading::Type::Slice
        } else {
            ff::threading::Type::Frame
        },
        count: settings.encoder_threads,
        ..Default::default()
    });
    let mut enc = ctx
        .encoder()
        .video()
        .map_err(|e| enc_err(&profile.name, "creating the encoder", e))?;
    enc.set_width(w);
    enc.set_height(h);
    enc.set_format(ff::format::Pixel::YUV420P);
    enc.set_time_base(ff::Rational::new(1, 90_000));
    enc.set_frame_rate(Some(ff::Rational::new(num as i32, den as i32)));
    enc.set_bit_rate(usize::try_from(profile.bitrate).unwrap_or(usize::MAX));
    match profile.gop {
        Gop::Default => {}
        Gop::Intra => enc.set_gop(1),
        Gop::Millis(ms) => {
            let frames = u64::from(ms) * u64::from(num) / (1000 * u64::from(den.max(1)));
            enc.set_gop(u32::try_from(frames.max(1)).unwrap_or(u32::MAX));
        }
    }
    if profile.profile == H264Profile::ConstrainedHigh
        // NVENC ignores a forced P frame, so with B frames a segment's last frame could
        // reference a dropped sentinel (see `RenditionState::send_held`).
        || (profile.hardware == Hardware::Nvenc
            && settings.encoder_reuse == EncoderReuse::Sentinel)
    {
        enc.set_max_b_frames(0);
    }
    let opts = encoder_options(profile, settings);
    enc.open_with(opts).map_err(|e| match profile.hardware {
        Hardware::Nvenc => MediaError::EncoderUnavailable {
            name: format!("{name} ({e})"),
        },
        _ => enc_err(&profile.name, "opening the encoder", e),
    })
}

/// Each encoder's options. The software encoders other than libx264 are set for live
/// work: the x264 preset name for libx265 (it shares them), libvpx's real-time mode with
/// no look-ahead (so a segment's frames are out as soon as they are in, and no sentinel is
/// needed), and SVT-AV1's fastest presets that still keep its quality ahead of VP9's.
fn encoder_options(profile: &VideoProfile, settings: &SessionSettings) -> ff::Dictionary<'static> {
    let mut opts = ff::Dictionary::new();
    // A frame marked I (each segment's first) becomes an IDR, not an open-GOP I frame:
    // libx264's, libx265's and NVENC's option.
    opts.set("forced-idr", "1");
    match (profile.codec, profile.hardware) {
        (VideoCodec::H264, Hardware::Software) => {
            opts.set("preset", &settings.x264_preset);
            if let Some(tune) = &settings.x264_tune {
                opts.set("tune", tune);
            }
        }
        (VideoCodec::Hevc, Hardware::Software) => {
            opts.set("preset", &settings.x264_preset);
            if let Some(tune) = &settings.x264_tune {
                opts.set("tune", tune);
            }
            opts.set("x265-params", "log-level=error");
        }
        (VideoCodec::Vp8 | VideoCodec::Vp9, _) => {
            opts.set("deadline", "realtime");
            opts.set("cpu-used", "8");
            opts.set("lag-in-frames", "0");
            if profile.codec == VideoCodec::Vp9 {
                opts.set("row-mt", "1");
            }
        }
        (VideoCodec::Av1, Hardware::Software) => {
            opts.set("preset", "12");
            // Low-delay prediction: no frame reordering, so decode and presentation order
            // agree and a segment's frames come out without waiting on the next segment's.
            opts.set("svtav1-params", "pred-struct=1");
        }
        _ => {}
    }
    if let Some(p) = profile.profile.x264_name() {
        opts.set("profile", p);
    }
    opts
}

pub(super) fn enc_err(rendition: &str, what: &str, e: ff::Error) -> MediaError {
    MediaError::Encode {
        rendition: rendition.to_owned(),
        reason: format!("{what}: {e}"),
    }
}
