//! The decoder side of a segment: one decoder per session, every picture fanned out to the
//! rendition workers, resets detected, the source frame rate measured.

use std::sync::Arc;

use ffmpeg_next as ff;

use super::job::{Job, Worker};
use super::types::ResetReason;
use crate::MediaError;
use crate::media::{Packet, TS_HZ};

/// What the session remembers of the previous segment.
#[derive(Debug, Clone, Copy)]
pub(super) struct LastInput {
    pub(super) size: (u32, u32),
    pub(super) format: ff::format::Pixel,
    pub(super) end_dts: i64,
}

/// State of decoding one segment.
pub(super) struct DecodeRun {
    pub(super) seq: u64,
    /// Input size once the first frame is out (and the workers were told).
    pub(super) began: Option<(u32, u32)>,
    pub(super) frames: u64,
    pub(super) pixels: u64,
    pub(super) errors: u64,
    pub(super) first_error: Option<ff::Error>,
    pub(super) last_pts: Option<i64>,
    pub(super) step: i64,
    pub(super) last_format: Option<((u32, u32), ff::format::Pixel)>,
    pub(super) reset: Option<ResetReason>,
    pub(super) last_input: Option<LastInput>,
    pub(super) source_rate: (u32, u32),
    pub(super) duration: i64,
}

impl DecodeRun {
    pub(super) fn note_error(&mut self, e: ff::Error) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    pub(super) fn receive(
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

pub(super) fn open_decoder(threads: usize) -> Result<ff::decoder::Video, MediaError> {
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
pub(super) fn median_step(video: &[&Packet]) -> i64 {
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
pub(super) fn rate_from_step(step: i64) -> (u32, u32) {
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
