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
//!
//! Files: `types.rs` holds the settings in and the results out; `decode.rs` the decoder
//! side of a segment; `job.rs` what the decoder sends each rendition worker; `worker.rs`,
//! `encoder.rs` and `fps.rs` the rendition workers; this file the session that ties them together.

mod decode;
mod encoder;
mod fps;
mod job;
mod types;
mod worker;

#[cfg(feature = "test-hooks")]
pub use types::MediaFault;
pub use types::{
    EncoderReuse, EncoderStats, Rendition, ResetReason, SessionSettings, TranscodeResult,
};

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Once};
use std::thread::JoinHandle;

use ffmpeg_next as ff;

use crate::MediaError;
use crate::media::{Packet, Segment, TS_HZ};
use decode::{DecodeRun, LastInput, median_step, open_decoder, rate_from_step};
use job::{Counters, Job, Worker};
/// Frames buffered between the decoder and each rendition worker.
const FRAME_QUEUE: usize = 8;

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

/// The codecs this FFmpeg build has a software encoder for, in [`VideoCodec`] order: what
/// an orchestrator can offer. Looked up once: the capabilities are built for every
/// orchestrator info, and the build's encoders do not change while it runs.
pub fn encodable_codecs() -> Vec<crate::codec::VideoCodec> {
    use crate::codec::VideoCodec as C;
    static FOUND: std::sync::OnceLock<Vec<C>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            init_ffmpeg();
            [C::H264, C::Hevc, C::Vp8, C::Vp9, C::Av1]
                .into_iter()
                .filter(|&c| {
                    crate::profile::encoder_name(c, crate::profile::Hardware::Software)
                        .is_some_and(|name| ff::encoder::find_by_name(name).is_some())
                })
                .collect()
        })
        .clone()
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
            let name = p.ffmpeg_encoder()?;
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
