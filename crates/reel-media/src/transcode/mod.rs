//! The per-stream transcode session: one decoder, one worker thread per rendition.
//!
//! ```text
//!  segment ─▶ decoder (caller's thread) ──Arc<frame>──▶ worker "P360p": fps ▶ scale ▶ x264 ▶ TS ─┐
//!                                        ├─Arc<frame>──▶ worker "P240p": fps ▶ scale ▶ x264 ▶ TS ─┤─▶ renditions
//!                                        └─ …                                                     ┘
//! ```
//!
//! The decoder, the scalers, the frame-rate converters, the encoders and the TS continuity
//! counters live as long as the session. Each segment must still be complete and decodable
//! on its own, so at a segment's end every frame of it has to come out of the encoders.
//! FFmpeg 5.1's libx264 and h264_nvenc cannot be flushed and reused (no
//! `AV_CODEC_CAP_ENCODER_FLUSH`), so, as LPMS does, the workers push the last frames out
//! with sentinel frames instead: repeats of the last picture (itself forced to a P frame)
//! at timestamps one tick apart right after it, whose packets are dropped; the next
//! segment's first frame is forced to an IDR. See [`EncoderReuse`], which can also
//! reopen the encoders at every segment instead. An encoder is reopened only on a reset, a new output size
//! or frame rate, or timestamps that do not move forward. Pixel counts are exact:
//! Σ width×height over every decoded frame, and over every real frame each encoder
//! received.
//!
//! All of this is blocking work: call [`TranscodeSession::transcode`] from a blocking thread
//! (`tokio::task::spawn_blocking`), never from an async worker.

mod fps;
mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Once};
use std::thread::JoinHandle;

use bytes::Bytes;
use ffmpeg_next as ff;

use crate::MediaError;
use crate::media::{AudioCodec, Packet, Segment, SegmentMedia, TS_HZ};
use crate::profile::VideoProfile;

/// Frames buffered between the decoder and each rendition worker.
const FRAME_QUEUE: usize = 8;

/// Session settings; fixed for the life of a session.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The ladder, one rendition per profile, in this order.
    pub profiles: Vec<VideoProfile>,
    /// libx264 preset (`ultrafast` … `veryslow`).
    pub x264_preset: String,
    /// Threads per encoder; 0 lets the encoder choose.
    pub encoder_threads: usize,
    /// Decoder threads; 0 lets the decoder choose.
    pub decoder_threads: usize,
    /// libx264 tune (`zerolatency`, `film`, …); `None` for none. `zerolatency` makes the
    /// encoder delay-free (no B-frames, no lookahead, sliced threads), so nothing is left
    /// inside it at a segment's end and [`EncoderReuse::Sentinel`] feeds no sentinel frames.
    pub x264_tune: Option<String>,
    /// How encoders carry over from one segment to the next.
    pub encoder_reuse: EncoderReuse,
}

/// How a rendition's encoder carries over from one segment to the next.
///
/// FFmpeg 5.1's libx264 and h264_nvenc cannot be flushed and reused (they lack
/// `AV_CODEC_CAP_ENCODER_FLUSH`): once drained with end-of-stream they are finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncoderReuse {
    /// Keep every encoder open for the life of the session, as Livepeer's LPMS does. A
    /// segment's last frame is forced to a P frame, so that no frame of the segment
    /// references what follows; then the worker feeds the encoder repeats of that frame,
    /// each with a sentinel timestamp one tick later, until every real frame's packet is
    /// out, and drops the sentinel packets (some come out during the next segment). The
    /// next segment's first frame is forced to an IDR. The encoder is reopened only when
    /// the input changes (size, frame rate, a reset, timestamps that do not move forward).
    /// h264_nvenc cannot be forced to a P frame, so here it runs without B frames.
    #[default]
    Sentinel,
    /// Drain each encoder with end-of-stream at every segment end and open a new one at the
    /// next segment's first frame.
    Reopen,
}

impl SessionSettings {
    /// Settings for a ladder with libx264 `veryfast` and automatic threading.
    pub fn new(profiles: Vec<VideoProfile>) -> Self {
        Self {
            profiles,
            x264_preset: "veryfast".into(),
            encoder_threads: 0,
            decoder_threads: 0,
            x264_tune: None,
            encoder_reuse: EncoderReuse::Sentinel,
        }
    }
}

/// Why a session started over before a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetReason {
    /// The segment was marked as a discontinuity by its sender.
    Discontinuity,
    /// The input resolution or pixel format changed.
    InputChanged {
        /// Width and height before.
        from: (u32, u32),
        /// Width and height now.
        to: (u32, u32),
    },
    /// Timestamps went backwards, or jumped far ahead, from the previous segment.
    TimestampJump,
    /// The previous segment failed; the session starts clean.
    AfterError,
    /// [`TranscodeSession::reset`] was called.
    Requested,
}

/// One transcoded rendition of one segment.
#[derive(Debug, Clone)]
pub struct Rendition {
    /// The profile's name.
    pub name: String,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// The profile's target bitrate (bit/s).
    pub bitrate: u64,
    /// Frames encoded.
    pub frames: u64,
    /// Encoded pixels: Σ width×height over the encoded frames (the billing unit).
    pub pixels: u64,
    /// The MPEG-TS segment.
    pub data: Bytes,
}

/// The outcome of transcoding one segment.
#[derive(Debug, Clone)]
pub struct TranscodeResult {
    /// The segment's sequence number.
    pub seq: u64,
    /// Input width and height (of the first decoded frame).
    pub input_size: (u32, u32),
    /// Frames decoded.
    pub decoded_frames: u64,
    /// Decoded pixels: Σ width×height over the decoded frames.
    pub decoded_pixels: u64,
    /// Input duration measured from its video timestamps, 90 kHz.
    pub duration_ticks: i64,
    /// Renditions in ladder order.
    pub renditions: Vec<Rendition>,
    /// Set when the session reset before this segment (the output starts a discontinuity).
    pub reset: Option<ResetReason>,
}

impl TranscodeResult {
    /// Σ encoded pixels over every rendition.
    pub fn encoded_pixels(&self) -> u64 {
        self.renditions.iter().map(|r| r.pixels).sum()
    }
}

/// One rendition's encoder statistics over a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncoderStats {
    /// Encoders opened. With [`EncoderReuse::Sentinel`] this stays at one for as long as
    /// the input keeps its size and timeline; every reset and input change adds one.
    pub opens: u64,
    /// Sentinel frames fed to push segment ends out (not counted in any segment's frames
    /// or pixels); zero for a delay-free encoder.
    pub sentinel_frames: u64,
}

/// A worker's counters behind [`EncoderStats`].
#[derive(Debug, Default)]
struct Counters {
    opens: AtomicU64,
    sentinel_frames: AtomicU64,
}

/// What the session remembers of the previous segment.
#[derive(Debug, Clone, Copy)]
struct LastInput {
    size: (u32, u32),
    format: ff::format::Pixel,
    end_dts: i64,
}

/// A message from the decoder to a rendition worker.
enum Job {
    /// A segment starts; its first decoded frame has this size.
    Begin {
        seq: u64,
        input: (u32, u32),
        source_rate: (u32, u32),
        /// The segment's duration from its video timestamps (90 kHz).
        duration: i64,
        reset: bool,
    },
    Frame(Arc<ff::frame::Video>),
    /// The segment's frames are all sent; mux with this audio and reply (unless aborted).
    End {
        audio: Arc<Vec<Packet>>,
        audio_codec: Option<AudioCodec>,
        abort: bool,
    },
}

struct Worker {
    name: String,
    counters: Arc<Counters>,
    jobs: SyncSender<Job>,
    results: Receiver<Result<Rendition, MediaError>>,
    thread: Option<JoinHandle<()>>,
}

/// A per-stream transcode session. See the module documentation.
pub struct TranscodeSession {
    settings: Arc<SessionSettings>,
    decoder: Option<ff::decoder::Video>,
    workers: Vec<Worker>,
    last: Option<LastInput>,
    pending_reset: Option<ResetReason>,
}

impl std::fmt::Debug for TranscodeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscodeSession")
            .field("profiles", &self.settings.profiles.len())
            .field("workers", &self.workers.len())
            .field("last", &self.last)
            .finish()
    }
}

/// Initialises the FFmpeg libraries once and keeps their logging to errors.
pub(crate) fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Error);
    });
}

impl TranscodeSession {
    /// A session for a ladder. Fails if the ladder is empty or an encoder is missing.
    pub fn new(settings: SessionSettings) -> Result<Self, MediaError> {
        init_ffmpeg();
        if settings.profiles.is_empty() {
            return Err(MediaError::InvalidProfile {
                name: String::new(),
                reason: "the ladder is empty".into(),
            });
        }
        for p in &settings.profiles {
            let name = p.encoder.ffmpeg_name();
            if ff::encoder::find_by_name(name).is_none() {
                return Err(MediaError::EncoderUnavailable { name: name.into() });
            }
        }
        Ok(Self {
            settings: Arc::new(settings),
            decoder: None,
            workers: Vec::new(),
            last: None,
            pending_reset: None,
        })
    }

    /// The session's settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Each rendition's encoder statistics, in ladder order (zeros before the first
    /// segment, and again after a worker had to be restarted).
    pub fn encoder_stats(&self) -> Vec<EncoderStats> {
        if self.workers.is_empty() {
            return vec![EncoderStats::default(); self.settings.profiles.len()];
        }
        self.workers
            .iter()
            .map(|w| EncoderStats {
                opens: w.counters.opens.load(Ordering::Relaxed),
                sentinel_frames: w.counters.sentinel_frames.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Starts over at the next segment: new decoder, and a discontinuity in the output.
    pub fn reset(&mut self) {
        self.decoder = None;
        self.last = None;
        self.pending_reset = Some(ResetReason::Requested);
    }

    /// Demuxes an MPEG-TS segment and transcodes it.
    pub fn transcode_ts(&mut self, seq: u64, ts: &[u8]) -> Result<TranscodeResult, MediaError> {
        let media = crate::ts::demux(ts)?;
        let segment = Segment {
            seq,
            duration_ticks: 0,
            discontinuity: false,
            media,
        };
        self.transcode(&segment)
    }

    /// Transcodes one segment into every rendition of the ladder. Blocking.
    pub fn transcode(&mut self, segment: &Segment) -> Result<TranscodeResult, MediaError> {
        let span = tracing::debug_span!(target: "media::transcode", "segment", seq = segment.seq);
        let _enter = span.enter();
        let result = self.transcode_inner(segment);
        if let Err(e) = &result {
            tracing::debug!(target: "media::transcode", error = %e, "segment failed");
            // Whatever the decoder saw is suspect now; start clean.
            self.decoder = None;
            self.last = None;
            self.pending_reset = Some(ResetReason::AfterError);
            if matches!(e, MediaError::WorkerGone { .. }) {
                self.workers.clear();
            }
        }
        result
    }

    fn transcode_inner(&mut self, segment: &Segment) -> Result<TranscodeResult, MediaError> {
        let media = &segment.media;
        let video: Vec<&Packet> = media.video().collect();
        let (Some(first), Some(last)) = (video.first(), video.last()) else {
            return Err(MediaError::NoVideo);
        };
        let step = median_step(&video);
        let duration_ticks = last.dts - first.dts + step;

        let mut reset = self.pending_reset.take();
        if segment.discontinuity {
            reset.get_or_insert(ResetReason::Discontinuity);
        }
        if let Some(prev) = self.last {
            // Up to half a second of overlap or ten seconds of gap is ordinary jitter.
            if first.dts < prev.end_dts - TS_HZ / 2 || first.dts > prev.end_dts + 10 * TS_HZ {
                reset.get_or_insert(ResetReason::TimestampJump);
            }
        }
        if reset.is_some()
            && let Some(decoder) = &mut self.decoder
        {
            decoder.flush();
        }
        self.ensure_workers()?;
        if self.decoder.is_none() {
            self.decoder = Some(open_decoder(self.settings.decoder_threads)?);
        }
        let source_rate = rate_from_step(step);

        let mut run = DecodeRun {
            seq: segment.seq,
            began: None,
            frames: 0,
            pixels: 0,
            errors: 0,
            first_error: None,
            last_pts: None,
            step,
            last_format: None,
            reset,
            last_input: self.last,
            source_rate,
            duration: duration_ticks,
        };
        let decoded = self.decode_all(&video, &mut run);
        let began = run.began.is_some();
        let audio: Arc<Vec<Packet>> = Arc::new(media.audio_packets().cloned().collect());
        let abort = decoded.is_err();
        if began {
            for w in &self.workers {
                // A closed channel shows up as a missing result below.
                let _ = w.jobs.send(Job::End {
                    audio: Arc::clone(&audio),
                    audio_codec: media.audio,
                    abort,
                });
            }
        }
        decoded?;
        let Some(input_size) = run.began else {
            return Err(MediaError::Decode {
                reason: format!(
                    "no picture decoded from {} video packets{}",
                    video.len(),
                    run.first_error
                        .map(|e| format!(" (first decoder error: {e})"))
                        .unwrap_or_default()
                ),
            });
        };
        if run.errors > 0 {
            tracing::warn!(
                target: "media::transcode",
                seq = segment.seq,
                errors = run.errors,
                "decoder reported errors; damaged frames were skipped"
            );
        }
        let mut renditions = Vec::with_capacity(self.workers.len());
        let mut failure = None;
        for w in &self.workers {
            match w.results.recv() {
                Ok(Ok(r)) => renditions.push(r),
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(_) => {
                    failure.get_or_insert(MediaError::WorkerGone {
                        rendition: w.name.clone(),
                    });
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        self.last = Some(LastInput {
            size: run.last_format.map_or(input_size, |(s, _)| s),
            format: run
                .last_format
                .map_or(ff::format::Pixel::YUV420P, |(_, f)| f),
            end_dts: last.dts + step,
        });
        tracing::debug!(
            target: "media::transcode",
            seq = segment.seq,
            frames = run.frames,
            decoded_pixels = run.pixels,
            "segment transcoded"
        );
        Ok(TranscodeResult {
            seq: segment.seq,
            input_size,
            decoded_frames: run.frames,
            decoded_pixels: run.pixels,
            duration_ticks,
            renditions,
            reset: run.reset,
        })
    }

    fn ensure_workers(&mut self) -> Result<(), MediaError> {
        if !self.workers.is_empty() {
            return Ok(());
        }
        for profile in &self.settings.profiles {
            let (jobs_tx, jobs_rx) = mpsc::sync_channel(FRAME_QUEUE);
            let (res_tx, res_rx) = mpsc::sync_channel(1);
            let counters = Arc::new(Counters::default());
            let (profile_, settings, counters_) = (
                profile.clone(),
                Arc::clone(&self.settings),
                Arc::clone(&counters),
            );
            let thread = std::thread::Builder::new()
                .name(format!("reel-enc-{}", profile.name))
                // The state (scaler included) is born and dies on its own thread.
                .spawn(move || {
                    worker::run(
                        worker::RenditionState::new(profile_, settings, counters_),
                        &jobs_rx,
                        &res_tx,
                    );
                })
                .map_err(|e| MediaError::io("starting a rendition worker thread", e))?;
            self.workers.push(Worker {
                name: profile.name.clone(),
                counters,
                jobs: jobs_tx,
                results: res_rx,
                thread: Some(thread),
            });
        }
        Ok(())
    }

    fn decode_all(&mut self, video: &[&Packet], run: &mut DecodeRun) -> Result<(), MediaError> {
        let Self {
            decoder, workers, ..
        } = self;
        let decoder = decoder.as_mut().ok_or(MediaError::Decode {
            reason: "decoder missing".into(),
        })?;
        for p in video {
            let mut packet = ff::Packet::copy(&p.data);
            packet.set_pts(Some(p.pts));
            packet.set_dts(Some(p.dts));
            if p.keyframe {
                packet.set_flags(ff::packet::Flags::KEY);
            }
            if let Err(e) = decoder.send_packet(&packet) {
                run.note_error(e);
                continue;
            }
            run.receive(decoder, workers)?;
        }
        if let Err(e) = decoder.send_eof() {
            run.note_error(e);
        }
        run.receive(decoder, workers)?;
        // Leave draining mode so the next segment can be decoded by the same decoder.
        decoder.flush();
        Ok(())
    }
}

impl Drop for TranscodeSession {
    fn drop(&mut self) {
        let threads: Vec<JoinHandle<()>> = self
            .workers
            .iter_mut()
            .filter_map(|w| w.thread.take())
            .collect();
        // Dropping the senders ends the workers' loops.
        self.workers.clear();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// State of decoding one segment.
struct DecodeRun {
    seq: u64,
    /// Input size once the first frame is out (and the workers were told).
    began: Option<(u32, u32)>,
    frames: u64,
    pixels: u64,
    errors: u64,
    first_error: Option<ff::Error>,
    last_pts: Option<i64>,
    step: i64,
    last_format: Option<((u32, u32), ff::format::Pixel)>,
    reset: Option<ResetReason>,
    last_input: Option<LastInput>,
    source_rate: (u32, u32),
    duration: i64,
}

impl DecodeRun {
    fn note_error(&mut self, e: ff::Error) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    fn receive(
        &mut self,
        decoder: &mut ff::decoder::Video,
        workers: &[Worker],
    ) -> Result<(), MediaError> {
        loop {
            let mut frame = ff::frame::Video::empty();
            match decoder.receive_frame(&mut frame) {
                Ok(()) => self.frame(frame, workers)?,
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(());
                }
                Err(e) => {
                    self.note_error(e);
                    return Ok(());
                }
            }
        }
    }

    fn frame(&mut self, mut frame: ff::frame::Video, workers: &[Worker]) -> Result<(), MediaError> {
        let size = (frame.width(), frame.height());
        let format = frame.format();
        if size.0 == 0 || size.1 == 0 || format == ff::format::Pixel::None {
            self.errors += 1;
            return Ok(());
        }
        if self.began.is_none() {
            if let Some(prev) = self.last_input
                && (prev.size != size || prev.format != format)
            {
                self.reset.get_or_insert(ResetReason::InputChanged {
                    from: prev.size,
                    to: size,
                });
            }
            if let Some(reason) = self.reset {
                tracing::info!(target: "media::transcode", seq = self.seq, ?reason, "session reset");
            }
            for w in workers {
                w.jobs
                    .send(Job::Begin {
                        seq: self.seq,
                        input: size,
                        source_rate: self.source_rate,
                        duration: self.duration,
                        reset: self.reset.is_some(),
                    })
                    .map_err(|_| MediaError::WorkerGone {
                        rendition: w.name.clone(),
                    })?;
            }
            self.began = Some(size);
        }
        let pts = frame
            .timestamp()
            .or(frame.pts())
            .or(self.last_pts.map(|p| p + self.step))
            .unwrap_or(0);
        frame.set_pts(Some(pts));
        self.last_pts = Some(pts);
        self.last_format = Some((size, format));
        self.frames += 1;
        self.pixels += u64::from(size.0) * u64::from(size.1);
        let frame = Arc::new(frame);
        for w in workers {
            w.jobs
                .send(Job::Frame(Arc::clone(&frame)))
                .map_err(|_| MediaError::WorkerGone {
                    rendition: w.name.clone(),
                })?;
        }
        Ok(())
    }
}

fn open_decoder(threads: usize) -> Result<ff::decoder::Video, MediaError> {
    let codec = ff::decoder::find(ff::codec::Id::H264).ok_or(MediaError::Decode {
        reason: "this FFmpeg build has no H.264 decoder".into(),
    })?;
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    ctx.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
    let mut decoder = ctx.decoder();
    decoder.set_packet_time_base(ff::Rational::new(1, 90_000));
    decoder.video().map_err(|e| MediaError::Decode {
        reason: format!("opening the H.264 decoder: {e}"),
    })
}

/// The most common positive dts step between video packets (one frame), default 1/30 s.
fn median_step(video: &[&Packet]) -> i64 {
    let mut steps: Vec<i64> = video
        .windows(2)
        .map(|w| w[1].dts - w[0].dts)
        .filter(|d| *d > 0)
        .collect();
    if steps.is_empty() {
        return 3000;
    }
    steps.sort_unstable();
    steps[steps.len() / 2]
}

/// A frame rate from a frame step in 90 kHz ticks, as a small fraction.
fn rate_from_step(step: i64) -> (u32, u32) {
    let step = step.clamp(1, TS_HZ);
    // Prefer the common rates when the step is one of theirs.
    for (num, den) in [(24_000, 1001), (30_000, 1001), (60_000, 1001)] {
        // Within half a tick of the exact step.
        if (step * num - TS_HZ * den).abs() * 2 <= num {
            return (num as u32, den as u32);
        }
    }
    let g = gcd(TS_HZ, step);
    ((TS_HZ / g) as u32, (step / g) as u32)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Merges encoded video with the input's audio by decode time.
fn merge_by_dts(video: Vec<Packet>, audio: &[Packet]) -> Vec<Packet> {
    let mut out = Vec::with_capacity(video.len() + audio.len());
    let mut a = audio.iter().peekable();
    for v in video {
        while let Some(p) = a.next_if(|p| p.dts < v.dts) {
            out.push(p.clone());
        }
        out.push(v);
    }
    out.extend(a.cloned());
    out
}

/// Builds a rendition's segment media.
fn rendition_media(
    video: Vec<Packet>,
    audio: &[Packet],
    codec: Option<AudioCodec>,
) -> SegmentMedia {
    SegmentMedia {
        has_video: true,
        audio: codec,
        packets: merge_by_dts(video, if codec.is_some() { audio } else { &[] }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_from_steps() {
        assert_eq!(rate_from_step(3000), (30, 1));
        assert_eq!(rate_from_step(3003), (30_000, 1001));
        assert_eq!(rate_from_step(3600), (25, 1));
        assert_eq!(rate_from_step(1500), (60, 1));
        assert_eq!(rate_from_step(1502), (60_000, 1001));
        assert_eq!(rate_from_step(3754), (24_000, 1001));
        assert_eq!(rate_from_step(0), (90_000, 1));
    }
}
