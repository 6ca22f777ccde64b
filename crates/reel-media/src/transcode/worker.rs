//! One rendition's worker thread: frame-rate selection, scaling, encoding and TS muxing.
//! Settings (the profile) are fixed; the state (scaler, converter, muxer) outlives segments.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};

use bytes::Bytes;
use ffmpeg_next as ff;

use super::fps::FpsSelector;
use super::{Job, Rendition, SessionSettings, rendition_media};
use crate::MediaError;
use crate::media::{AudioCodec, Packet, Track};
use crate::profile::{EncoderKind, Gop, H264Profile, VideoProfile};
use crate::ts::TsMuxer;

/// The worker loop: runs until the session drops its sender.
pub(super) fn run(
    mut state: RenditionState,
    jobs: &Receiver<Job>,
    results: &SyncSender<Result<Rendition, MediaError>>,
) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Begin {
                seq,
                input,
                source_rate,
                duration,
                reset,
            } => state.begin(seq, input, source_rate, duration, reset),
            Job::Frame(frame) => state.frame(&frame),
            Job::End {
                audio,
                audio_codec,
                abort,
            } => {
                let result = state.end(&audio, audio_codec);
                if !abort && results.send(result).is_err() {
                    return;
                }
            }
        }
    }
}

/// The worker's state.
pub(super) struct RenditionState {
    /// The rung this worker produces (settings).
    profile: VideoProfile,
    settings: Arc<SessionSettings>,
    /// Scaler for the current input size and format; rebuilt when they change.
    scaler: Option<Scaler>,
    /// Frame-rate converter; reset at discontinuities.
    fps: FpsSelector,
    /// TS writer; its continuity counters run on across segments.
    muxer: TsMuxer,
    /// The segment in progress.
    seg: Option<SegmentState>,
}

struct Scaler {
    input: (ff::format::Pixel, u32, u32),
    output: (u32, u32),
    ctx: ff::software::scaling::Context,
}

struct SegmentState {
    seq: u64,
    size: (u32, u32),
    rate: (u32, u32),
    encoder: Option<ff::encoder::video::Encoder>,
    frames: u64,
    packets: Vec<Packet>,
    error: Option<MediaError>,
}

impl RenditionState {
    pub(super) fn new(profile: VideoProfile, settings: Arc<SessionSettings>) -> Self {
        Self {
            fps: FpsSelector::new(profile.frame_rate()),
            profile,
            settings,
            scaler: None,
            muxer: TsMuxer::default(),
            seg: None,
        }
    }

    fn begin(
        &mut self,
        seq: u64,
        input: (u32, u32),
        source_rate: (u32, u32),
        duration: i64,
        reset: bool,
    ) {
        if reset {
            tracing::debug!(target: "media::transcode", rendition = %self.profile.name, seq, "reset");
        }
        self.fps.begin_segment(duration);
        self.seg = Some(SegmentState {
            seq,
            size: self.profile.output_size(input.0, input.1),
            rate: self.profile.frame_rate().unwrap_or(source_rate),
            encoder: None,
            frames: 0,
            packets: Vec::new(),
            error: None,
        });
    }

    fn frame(&mut self, frame: &ff::frame::Video) {
        let Some(seg) = self.seg.as_mut() else {
            return;
        };
        if seg.error.is_some() {
            return;
        }
        let slots = self.fps.select(frame.pts().unwrap_or(0));
        if slots.is_empty() {
            return;
        }
        let result =
            scale(&mut self.scaler, frame, seg.size, &self.profile.name).and_then(|mut scaled| {
                for pts in slots {
                    // The encoder keeps its own reference with its own timestamp, so one
                    // picture can go in several times.
                    scaled.set_pts(Some(pts));
                    encode(seg, &self.profile, &self.settings, &scaled)?;
                }
                Ok(())
            });
        if let Err(e) = result {
            seg.error = Some(e);
        }
    }

    fn end(
        &mut self,
        audio: &[Packet],
        audio_codec: Option<AudioCodec>,
    ) -> Result<Rendition, MediaError> {
        let mut seg = self.seg.take().ok_or_else(|| MediaError::Encode {
            rendition: self.profile.name.clone(),
            reason: "segment ended before it began".into(),
        })?;
        if let Some(e) = seg.error.take() {
            return Err(e);
        }
        if let Some(mut encoder) = seg.encoder.take() {
            encoder
                .send_eof()
                .map_err(|e| enc_err(&self.profile.name, "draining", e))?;
            drain(&mut encoder, &mut seg.packets, &self.profile.name)?;
        }
        if seg.frames == 0 || seg.packets.is_empty() {
            return Err(MediaError::Encode {
                rendition: self.profile.name.clone(),
                reason: format!("segment {} gave no frames at this frame rate", seg.seq),
            });
        }
        let media = rendition_media(seg.packets, audio, audio_codec);
        let mut out = Vec::with_capacity(media.payload_bytes() * 105 / 100 + 376);
        self.muxer.write_segment(&media, &mut out);
        let (w, h) = seg.size;
        Ok(Rendition {
            name: self.profile.name.clone(),
            width: w,
            height: h,
            bitrate: self.profile.bitrate,
            frames: seg.frames,
            pixels: seg.frames * u64::from(w) * u64::from(h),
            data: Bytes::from(out),
        })
    }
}

/// Scales a frame to the rendition's size in YUV 4:2:0, bicubic (what ffmpeg's `scale`
/// filter does by default). Always a fresh frame: the encoder may still hold a reference to
/// the last one, and the decoder's frame is shared with the other renditions.
fn scale(
    scaler: &mut Option<Scaler>,
    frame: &ff::frame::Video,
    size: (u32, u32),
    rendition: &str,
) -> Result<ff::frame::Video, MediaError> {
    let input = (frame.format(), frame.width(), frame.height());
    if input == (ff::format::Pixel::YUV420P, size.0, size.1) {
        let mut copy = frame.clone();
        // The decoder's picture type would force the encoder's frame type.
        copy.set_kind(ff::picture::Type::None);
        return Ok(copy);
    }
    if scaler
        .as_ref()
        .is_none_or(|s| s.input != input || s.output != size)
    {
        let ctx = ff::software::scaling::Context::get(
            input.0,
            input.1,
            input.2,
            ff::format::Pixel::YUV420P,
            size.0,
            size.1,
            ff::software::scaling::Flags::BICUBIC,
        )
        .map_err(|e| enc_err(rendition, "creating the scaler", e))?;
        *scaler = Some(Scaler {
            input,
            output: size,
            ctx,
        });
    }
    let Some(s) = scaler.as_mut() else {
        unreachable!("scaler set above");
    };
    let mut out = ff::frame::Video::new(ff::format::Pixel::YUV420P, size.0, size.1);
    s.ctx
        .run(frame, &mut out)
        .map_err(|e| enc_err(rendition, "scaling", e))?;
    Ok(out)
}

fn encode(
    seg: &mut SegmentState,
    profile: &VideoProfile,
    settings: &SessionSettings,
    frame: &ff::frame::Video,
) -> Result<(), MediaError> {
    if seg.encoder.is_none() {
        seg.encoder = Some(open_encoder(profile, settings, seg.size, seg.rate)?);
    }
    let Some(encoder) = seg.encoder.as_mut() else {
        unreachable!("encoder opened above");
    };
    encoder
        .send_frame(frame)
        .map_err(|e| enc_err(&profile.name, "sending a frame", e))?;
    seg.frames += 1;
    drain(encoder, &mut seg.packets, &profile.name)
}

fn drain(
    encoder: &mut ff::encoder::video::Encoder,
    out: &mut Vec<Packet>,
    rendition: &str,
) -> Result<(), MediaError> {
    loop {
        let mut packet = ff::Packet::empty();
        match encoder.receive_packet(&mut packet) {
            Ok(()) => {
                let Some(data) = packet.data() else { continue };
                let pts = packet.pts().unwrap_or(0);
                out.push(Packet {
                    track: Track::Video,
                    pts,
                    dts: packet.dts().unwrap_or(pts),
                    keyframe: packet.is_key(),
                    data: Bytes::copy_from_slice(data),
                });
            }
            Err(ff::Error::Eof) => return Ok(()),
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => return Ok(()),
            Err(e) => return Err(enc_err(rendition, "receiving a packet", e)),
        }
    }
}

fn open_encoder(
    profile: &VideoProfile,
    settings: &SessionSettings,
    (w, h): (u32, u32),
    (num, den): (u32, u32),
) -> Result<ff::encoder::video::Encoder, MediaError> {
    let name = profile.encoder.ffmpeg_name();
    let codec = ff::encoder::find_by_name(name)
        .ok_or_else(|| MediaError::EncoderUnavailable { name: name.into() })?;
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    ctx.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
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
    if profile.profile == H264Profile::ConstrainedHigh {
        enc.set_max_b_frames(0);
    }
    let mut opts = ff::Dictionary::new();
    if profile.encoder == EncoderKind::X264 {
        opts.set("preset", &settings.x264_preset);
    }
    if let Some(p) = profile.profile.x264_name() {
        opts.set("profile", p);
    }
    enc.open_with(opts).map_err(|e| match profile.encoder {
        EncoderKind::Nvenc => MediaError::EncoderUnavailable {
            name: format!("{name} ({e})"),
        },
        EncoderKind::X264 => enc_err(&profile.name, "opening the encoder", e),
    })
}

fn enc_err(rendition: &str, what: &str, e: ff::Error) -> MediaError {
    MediaError::Encode {
        rendition: rendition.to_owned(),
        reason: format!("{what}: {e}"),
    }
}
