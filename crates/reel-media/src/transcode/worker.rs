//! One rendition's worker thread: frame-rate selection, scaling, encoding and TS muxing.
//! Settings (the profile) are fixed; the state (scaler, converter, encoder, muxer) outlives
//! segments.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};

use bytes::Bytes;
use ffmpeg_next as ff;

use super::encoder::{enc_err, open_encoder};
use super::fps::FpsSelector;
use super::job::{Counters, Job, rendition_media};
use super::types::{EncoderReuse, Rendition, SessionSettings};
use crate::MediaError;
use crate::codec::VideoCodec;
use crate::media::{AudioCodec, Packet, Track};
use crate::profile::VideoProfile;
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
    /// The encoder, kept across segments (see [`EncoderReuse`]).
    encoder: Option<LiveEncoder>,
    /// Shared with the session for its statistics.
    counters: Arc<Counters>,
    /// The segment in progress.
    seg: Option<SegmentState>,
}

struct Scaler {
    input: (ff::format::Pixel, u32, u32),
    output: (u32, u32),
    ctx: ff::software::scaling::Context,
}

/// An open encoder and what is inside it.
struct LiveEncoder {
    enc: ff::encoder::video::Encoder,
    size: (u32, u32),
    rate: (u32, u32),
    /// The timestamp of the last frame sent, real or sentinel: the next must be later.
    last_pts: i64,
    /// Real frames sent whose packets have not come out yet.
    in_flight: u64,
    /// Timestamps of sentinel frames whose packets have not come out yet; those packets
    /// are dropped. No real frame ever has one of these: sentinels sit in the tick after
    /// the last real frame, and the next real frame must come later still.
    sentinels: VecDeque<i64>,
    /// The last real picture sent, repeated as the sentinel.
    last_frame: Option<ff::frame::Video>,
}

struct SegmentState {
    seq: u64,
    size: (u32, u32),
    rate: (u32, u32),
    /// Output frames so far, the held one included.
    frames: u64,
    /// The latest output frame (timestamp and forced type set), not yet sent: see
    /// `RenditionState::send_held`.
    held: Option<ff::frame::Video>,
    packets: Vec<Packet>,
    error: Option<MediaError>,
    /// The segment's first picture, for [`super::MediaFault::Frozen`].
    #[cfg(feature = "test-hooks")]
    first: Option<ff::frame::Video>,
}

impl RenditionState {
    pub(super) fn new(
        profile: VideoProfile,
        settings: Arc<SessionSettings>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            fps: FpsSelector::new(profile.frame_rate()),
            profile,
            settings,
            scaler: None,
            muxer: TsMuxer::default(),
            encoder: None,
            counters,
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
        let size = self.profile.output_size(input.0, input.1);
        let rate = self.profile.frame_rate().unwrap_or(source_rate);
        if let Some(enc) = &self.encoder {
            let why = if reset {
                Some("session reset")
            } else if enc.size != size {
                Some("output size changed")
            } else if !similar_rate(enc.rate, rate) {
                Some("frame rate changed")
            } else {
                None
            };
            if let Some(why) = why {
                tracing::debug!(target: "media::transcode", rendition = %self.profile.name, seq, why, "reopening the encoder");
                self.encoder = None;
            }
        }
        self.fps.begin_segment(duration);
        self.seg = Some(SegmentState {
            seq,
            size,
            rate,
            frames: 0,
            held: None,
            packets: Vec::new(),
            error: None,
            #[cfg(feature = "test-hooks")]
            first: None,
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
        let scaled = scale(&mut self.scaler, frame, seg.size, &self.profile.name);
        #[cfg(feature = "test-hooks")]
        let scaled = scaled.map(|s| tamper(self.settings.fault, seg, s));
        let result = scaled.and_then(|mut scaled| {
            let Some((&last, rest)) = slots.split_last() else {
                return Ok(());
            };
            // The frame held back is not the segment's last after all.
            if let Some(prev) = seg.held.take() {
                send_real(
                    &mut self.encoder,
                    seg,
                    &prev,
                    &self.profile,
                    &self.settings,
                    &self.counters,
                )?;
            }
            // The encoder keeps its own reference with its own timestamp, so one
            // picture can go in several times.
            for &pts in rest {
                mark(&mut scaled, pts, seg.frames);
                send_real(
                    &mut self.encoder,
                    seg,
                    &scaled,
                    &self.profile,
                    &self.settings,
                    &self.counters,
                )?;
                seg.frames += 1;
            }
            // The last slot waits: only at the segment's end is it known to be the
            // last frame, which must go in as a P frame (see `send_held`).
            mark(&mut scaled, last, seg.frames);
            seg.frames += 1;
            seg.held = Some(scaled);
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
            // Whatever is inside the encoder now belongs to no segment.
            self.encoder = None;
            return Err(e);
        }
        let finished = self
            .send_held(&mut seg)
            .and_then(|()| self.finish_segment(&mut seg.packets));
        if let Err(e) = finished {
            self.encoder = None;
            return Err(e);
        }
        if seg.frames == 0 || seg.packets.is_empty() {
            return Err(MediaError::Encode {
                rendition: self.profile.name.clone(),
                reason: format!("segment {} gave no frames at this frame rate", seg.seq),
            });
        }
        let (w, h) = seg.size;
        let codec = self.profile.codec;
        let media = rendition_media(codec, seg.packets, audio, audio_codec);
        let data = if codec.needs_fmp4() {
            let track = crate::fmp4::VideoTrack {
                codec,
                width: w,
                height: h,
            };
            // MP3 has no place in reel's MP4 renditions: they go without audio.
            let audio = media.audio.filter(|a| *a == AudioCodec::Aac);
            let sequence = u32::try_from(seg.seq % (1 << 32)).unwrap_or(0);
            crate::fmp4::write(&track, audio, sequence, &media.packets)?.to_file()
        } else {
            let mut out = Vec::with_capacity(media.payload_bytes() * 105 / 100 + 376);
            self.muxer.write_segment(&media, &mut out);
            Bytes::from(out)
        };
        Ok(Rendition {
            name: self.profile.name.clone(),
            width: w,
            height: h,
            bitrate: self.profile.bitrate,
            frames: seg.frames,
            pixels: seg.frames * u64::from(w) * u64::from(h),
            data,
        })
    }

    /// Sends the segment's last frame, held back until now, as a P frame (or as the IDR if it
    /// is the only one). A B frame there would reference the first sentinel frame, whose
    /// packet is dropped, and the segment would not decode on its own. libx264 honours a
    /// forced P; h264_nvenc does not, so it runs without B frames (see `open_encoder`).
    fn send_held(&mut self, seg: &mut SegmentState) -> Result<(), MediaError> {
        let Some(mut last) = seg.held.take() else {
            return Ok(());
        };
        if last.kind() != ff::picture::Type::I {
            last.set_kind(ff::picture::Type::P);
        }
        send_real(
            &mut self.encoder,
            seg,
            &last,
            &self.profile,
            &self.settings,
            &self.counters,
        )?;
        if let Some(enc) = self.encoder.as_mut() {
            // Sentinels repeat this picture with no forced type.
            last.set_kind(ff::picture::Type::None);
            enc.last_frame = Some(last);
        }
        Ok(())
    }

    /// Gets every real frame's packet of the segment out of the encoder: with sentinel
    /// frames (the encoder stays open) or with end-of-stream (it is closed).
    fn finish_segment(&mut self, packets: &mut Vec<Packet>) -> Result<(), MediaError> {
        let name = &self.profile.name;
        let Some(enc) = self.encoder.as_mut() else {
            return Ok(());
        };
        // SVT-AV1 writes its sequence header only at the start of a stream, and a segment
        // must decode on its own: AV1 encoders never outlive a segment.
        let reopen = self.settings.encoder_reuse == EncoderReuse::Reopen
            || self.profile.codec == VideoCodec::Av1;
        if enc.in_flight == 0 && !reopen {
            return Ok(());
        }
        if !reopen {
            let mut fed = 0;
            while enc.in_flight > 0 && fed < MAX_SENTINELS {
                let Some(mut frame) = enc.last_frame.take() else {
                    break;
                };
                let pts = enc.last_pts + 1;
                frame.set_pts(Some(pts));
                let sent = enc.send(&frame, name);
                enc.last_frame = Some(frame);
                sent?;
                enc.sentinels.push_back(pts);
                fed += 1;
                self.counters
                    .sentinel_frames
                    .fetch_add(1, Ordering::Relaxed);
                enc.receive(packets, name)?;
            }
            if enc.in_flight == 0 {
                tracing::trace!(target: "media::transcode", rendition = %name, sentinels = fed, "segment drained");
                return Ok(());
            }
            tracing::debug!(
                target: "media::transcode",
                rendition = %name,
                sentinels = fed,
                in_flight = enc.in_flight,
                "the encoder holds more frames than sentinels may push out; closing it"
            );
        }
        enc.enc
            .send_eof()
            .map_err(|e| enc_err(name, "draining", e))?;
        enc.receive(packets, name)?;
        let left = enc.in_flight;
        self.encoder = None;
        if left > 0 {
            return Err(MediaError::Encode {
                rendition: name.clone(),
                reason: format!("the encoder lost {left} frame(s) at end of stream"),
            });
        }
        Ok(())
    }
}

/// The most sentinel frames one segment end may feed. x264's delay is its lookahead plus
/// B-frames plus frame threads (≈ 15 at `veryfast` with 4 threads, 60+ at `slower`); an
/// encoder that needs more is closed with end-of-stream instead.
const MAX_SENTINELS: u32 = 250;

/// Whether two frame rates are close enough for one encoder: RTMP's millisecond
/// timestamps make a 30-fps source measure 29.4 or 30.3 from one segment to the next.
fn similar_rate((n1, d1): (u32, u32), (n2, d2): (u32, u32)) -> bool {
    let a = u64::from(n1) * u64::from(d2);
    let b = u64::from(n2) * u64::from(d1);
    // |a − b| ≤ 10% of the larger.
    a.abs_diff(b) * 10 <= a.max(b)
}

/// Sets an output frame's timestamp and forced type: the segment's first frame (`index`
/// 0) is an IDR, so that the segment decodes on its own; the encoder chooses the others.
fn mark(frame: &mut ff::frame::Video, pts: i64, index: u64) {
    frame.set_pts(Some(pts));
    frame.set_kind(if index == 0 {
        ff::picture::Type::I
    } else {
        ff::picture::Type::None
    });
}

/// Sends one real frame of the segment to the rendition's encoder and collects what comes
/// out.
fn send_real(
    slot: &mut Option<LiveEncoder>,
    seg: &mut SegmentState,
    frame: &ff::frame::Video,
    profile: &VideoProfile,
    settings: &SessionSettings,
    counters: &Counters,
) -> Result<(), MediaError> {
    let pts = frame.pts().unwrap_or(0);
    let enc = live_encoder(slot, seg, pts, profile, settings, counters)?;
    enc.send(frame, &profile.name)?;
    enc.in_flight += 1;
    enc.receive(&mut seg.packets, &profile.name)
}

/// The rendition's encoder for a frame at `pts`, opened if there is none or if the frame
/// does not come after everything the encoder has seen (its output would go backwards).
fn live_encoder<'a>(
    slot: &'a mut Option<LiveEncoder>,
    seg: &SegmentState,
    pts: i64,
    profile: &VideoProfile,
    settings: &SessionSettings,
    counters: &Counters,
) -> Result<&'a mut LiveEncoder, MediaError> {
    let enc = match slot.take() {
        Some(enc) if pts > enc.last_pts => enc,
        old => {
            if let Some(old) = old {
                if old.in_flight > 0 {
                    // Only possible inside a segment; its frames would be lost.
                    return Err(MediaError::Encode {
                        rendition: profile.name.clone(),
                        reason: format!(
                            "segment {}: output timestamps went back to {pts}",
                            seg.seq
                        ),
                    });
                }
                tracing::debug!(target: "media::transcode", rendition = %profile.name, seq = seg.seq, "timestamps overlap the encoder's; reopening it");
            }
            let enc = open_encoder(profile, settings, seg.size, seg.rate)?;
            counters.opens.fetch_add(1, Ordering::Relaxed);
            LiveEncoder {
                enc,
                size: seg.size,
                rate: seg.rate,
                last_pts: i64::MIN,
                in_flight: 0,
                sentinels: VecDeque::new(),
                last_frame: None,
            }
        }
    };
    Ok(slot.insert(enc))
}

impl LiveEncoder {
    fn send(&mut self, frame: &ff::frame::Video, rendition: &str) -> Result<(), MediaError> {
        self.enc
            .send_frame(frame)
            .map_err(|e| enc_err(rendition, "sending a frame", e))?;
        self.last_pts = frame.pts().unwrap_or(self.last_pts);
        Ok(())
    }

    /// Takes every packet the encoder has ready; real ones go to `out`, sentinels' are
    /// dropped.
    fn receive(&mut self, out: &mut Vec<Packet>, rendition: &str) -> Result<(), MediaError> {
        loop {
            let mut packet = ff::Packet::empty();
            match self.enc.receive_packet(&mut packet) {
                Ok(()) => {
                    let pts = packet.pts().unwrap_or(0);
                    if let Some(i) = self.sentinels.iter().position(|s| *s == pts) {
                        self.sentinels.remove(i);
                        continue;
                    }
                    self.in_flight = self.in_flight.saturating_sub(1);
                    let Some(data) = packet.data() else { continue };
                    out.push(Packet {
                        track: Track::Video,
                        pts,
                        dts: packet.dts().unwrap_or(pts),
                        keyframe: packet.is_key(),
                        data: Bytes::copy_from_slice(data),
                    });
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(());
                }
                Err(e) => return Err(enc_err(rendition, "receiving a packet", e)),
            }
        }
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

/// Applies a test's media fault to a scaled picture.
#[cfg(feature = "test-hooks")]
fn tamper(
    fault: Option<super::MediaFault>,
    seg: &mut SegmentState,
    mut scaled: ff::frame::Video,
) -> ff::frame::Video {
    match fault {
        Some(super::MediaFault::WrongContent) => {
            // Turned half a circle: every row reversed, and the rows in reverse order.
            for plane in 0..scaled.planes() {
                let stride = scaled.stride(plane);
                let (rows, cols) = (
                    scaled.plane_height(plane) as usize,
                    scaled.plane_width(plane) as usize,
                );
                let data = scaled.data_mut(plane);
                for row in 0..rows {
                    data[row * stride..row * stride + cols].reverse();
                }
                for row in 0..rows / 2 {
                    let (top, bottom) = data.split_at_mut((rows - 1 - row) * stride);
                    top[row * stride..row * stride + cols].swap_with_slice(&mut bottom[..cols]);
                }
            }
            scaled
        }
        Some(super::MediaFault::Frozen) => seg.first.get_or_insert(scaled).clone(),
        _ => scaled,
    }
}
