//! Cuts a live packet stream into segments at keyframes. Sans-IO: packets in, [`Segment`]s
//! out; the RTMP server and `reel transcode` drive it.
//!
//! Output timestamps form one continuous timeline: the first packet lands at
//! `timestamp_offset` and a publisher's jump (a restart, a clock going back) only starts a
//! new segment marked as a discontinuity, it never makes time go backwards.

use std::time::Duration;

use crate::MediaError;
use crate::media::{AudioCodec, Packet, Segment, SegmentMedia, Track, duration_to_ticks};

/// Segmenter settings. Immutable for a stream.
#[derive(Debug, Clone)]
pub struct SegmenterSettings {
    /// Target duration: a segment ends at the first keyframe at or after it.
    pub target: Duration,
    /// A segment that reaches this length without a keyframe fails the stream.
    pub max_duration: Duration,
    /// Audio without any video for this long means an audio-only stream: an error.
    pub max_audio_only: Duration,
    /// Largest segment in payload bytes.
    pub max_bytes: usize,
    /// A timestamp jump forward larger than this starts a discontinuity.
    pub max_jump: Duration,
    /// Where the output timeline starts (90 kHz ticks). Leaves room for encoders' decode
    /// timestamps to sit before presentation without going negative, like ffmpeg's
    /// 1.4 s.
    pub timestamp_offset: i64,
}

impl Default for SegmenterSettings {
    fn default() -> Self {
        Self {
            target: Duration::from_secs(2),
            max_duration: Duration::from_secs(30),
            max_audio_only: Duration::from_secs(5),
            max_bytes: 64 << 20,
            max_jump: Duration::from_secs(10),
            timestamp_offset: 126_000,
        }
    }
}

/// The segmenter's state for one stream.
#[derive(Debug)]
pub struct Segmenter {
    settings: SegmenterSettings,
    /// Next sequence number.
    seq: u64,
    /// The segment being filled.
    open: Option<Open>,
    /// Added to input timestamps to place them on the output timeline.
    shift: Option<i64>,
    /// Last input video dts (before shifting).
    last_video_in: Option<i64>,
    /// Last output video dts and the step before it (to close the final segment).
    last_video_out: Option<i64>,
    last_video_step: i64,
    /// End of the last closed segment on the output timeline.
    timeline_end: Option<i64>,
    /// Drop packets until the next keyframe, then start a discontinuity.
    await_keyframe_discontinuity: bool,
    /// First audio pts seen while no video has arrived yet.
    audio_only_since: Option<i64>,
    seen_video: bool,
    audio: Option<AudioCodec>,
    warned_long: bool,
    dropped: u64,
}

#[derive(Debug)]
struct Open {
    start: i64,
    packets: Vec<Packet>,
    bytes: usize,
    discontinuity: bool,
}

impl Segmenter {
    /// A segmenter for a new stream.
    pub fn new(settings: SegmenterSettings) -> Self {
        Self {
            settings,
            seq: 0,
            open: None,
            shift: None,
            last_video_in: None,
            last_video_out: None,
            last_video_step: 3000,
            timeline_end: None,
            await_keyframe_discontinuity: false,
            audio_only_since: None,
            seen_video: false,
            audio: None,
            warned_long: false,
            dropped: 0,
        }
    }

    /// Sets the audio codec (known once the publisher's audio config arrives).
    pub fn set_audio_codec(&mut self, codec: Option<AudioCodec>) {
        self.audio = codec;
    }

    /// Packets dropped so far (before the first keyframe, after a jump, audio without a
    /// known codec).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Adds a packet; returns the segment it closed, if any.
    pub fn push(&mut self, packet: Packet) -> Result<Option<Segment>, MediaError> {
        match packet.track {
            Track::Video => self.push_video(packet),
            Track::Audio => self.push_audio(packet).map(|()| None),
        }
    }

    fn push_video(&mut self, mut p: Packet) -> Result<Option<Segment>, MediaError> {
        self.seen_video = true;
        let jump_ticks = duration_to_ticks(self.settings.max_jump);
        let jumped = self
            .last_video_in
            .is_some_and(|last| p.dts < last || p.dts > last + jump_ticks);
        let mut closed = None;
        if jumped {
            tracing::info!(
                target: "media::segmenter",
                from = self.last_video_in,
                to = p.dts,
                "publisher timestamps jumped: starting a discontinuity"
            );
            closed = self.close_open();
            self.await_keyframe_discontinuity = true;
        }
        if self.await_keyframe_discontinuity || self.shift.is_none() {
            if !p.keyframe {
                self.dropped += 1;
                self.last_video_in = Some(p.dts);
                return Ok(closed);
            }
            let start = self.timeline_end.unwrap_or(self.settings.timestamp_offset);
            self.shift = Some(start - p.dts);
        }
        self.last_video_in = Some(p.dts);
        let shift = self.shift.unwrap_or(0);
        p.dts += shift;
        p.pts += shift;
        if let Some(last) = self.last_video_out
            && p.dts > last
        {
            self.last_video_step = p.dts - last;
        }
        self.last_video_out = Some(p.dts);

        let target = duration_to_ticks(self.settings.target);
        let cut = match &self.open {
            None => true,
            Some(open) => p.keyframe && p.dts - open.start >= target,
        };
        if cut {
            if let Some(seg) = self.close_at(p.dts) {
                debug_assert!(closed.is_none());
                closed = Some(seg);
            }
            self.open = Some(Open {
                start: p.dts,
                packets: Vec::new(),
                bytes: 0,
                discontinuity: std::mem::take(&mut self.await_keyframe_discontinuity),
            });
        }
        let max = duration_to_ticks(self.settings.max_duration);
        let open = self.open.as_mut().ok_or(MediaError::NoVideo)?;
        if p.dts - open.start > max {
            return Err(MediaError::NoKeyframe {
                seconds: (p.dts - open.start) as f64 / 90_000.0,
                limit_seconds: self.settings.max_duration.as_secs_f64(),
            });
        }
        open.bytes += p.data.len();
        if open.bytes > self.settings.max_bytes {
            return Err(MediaError::TooLarge {
                what: "segment",
                limit: self.settings.max_bytes as u64,
            });
        }
        open.packets.push(p);
        Ok(closed)
    }

    fn push_audio(&mut self, mut p: Packet) -> Result<(), MediaError> {
        if !self.seen_video {
            let since = *self.audio_only_since.get_or_insert(p.pts);
            if p.pts - since > duration_to_ticks(self.settings.max_audio_only) {
                return Err(MediaError::NoVideo);
            }
        }
        let (Some(open), Some(shift), Some(_)) = (&mut self.open, self.shift, self.audio) else {
            self.dropped += 1;
            return Ok(());
        };
        if self.await_keyframe_discontinuity {
            self.dropped += 1;
            return Ok(());
        }
        p.pts += shift;
        p.dts = p.pts;
        // Audio from before this segment's start or far beyond it belongs to a jump.
        let slack = duration_to_ticks(self.settings.max_jump);
        if p.pts < open.start - slack
            || p.pts > open.start + slack + duration_to_ticks(self.settings.max_duration)
        {
            self.dropped += 1;
            return Ok(());
        }
        open.bytes += p.data.len();
        open.packets.push(p);
        Ok(())
    }

    /// Closes the open segment at `end` (the next keyframe's dts).
    fn close_at(&mut self, end: i64) -> Option<Segment> {
        let open = self.open.take()?;
        let duration = end - open.start;
        if duration > 2 * duration_to_ticks(self.settings.target) && !self.warned_long {
            self.warned_long = true;
            tracing::warn!(
                target: "media::segmenter",
                seconds = duration as f64 / 90_000.0,
                target = self.settings.target.as_secs_f64(),
                "keyframe interval longer than twice the segment target: segments get \
                 longer; set the encoder's keyframe interval to the target (e.g. 2 s)"
            );
        }
        self.timeline_end = Some(end);
        Some(self.make_segment(open, duration))
    }

    /// Closes the open segment at its last video frame plus one frame.
    fn close_open(&mut self) -> Option<Segment> {
        let end = self.last_video_out? + self.last_video_step;
        self.close_at(end)
    }

    fn make_segment(&mut self, open: Open, duration: i64) -> Segment {
        let seq = self.seq;
        self.seq += 1;
        Segment {
            seq,
            duration_ticks: duration,
            discontinuity: open.discontinuity,
            media: SegmentMedia {
                has_video: true,
                video_codec: crate::codec::VideoCodec::H264,
                audio: self.audio,
                packets: open.packets,
            },
        }
    }

    /// Ends the stream: returns the last, partial segment.
    pub fn finish(&mut self) -> Option<Segment> {
        self.close_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn v(ms: i64, key: bool) -> Packet {
        Packet {
            track: Track::Video,
            pts: ms * 90,
            dts: ms * 90,
            keyframe: key,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        }
    }

    fn a(ms: i64) -> Packet {
        Packet {
            track: Track::Audio,
            pts: ms * 90,
            dts: ms * 90,
            keyframe: true,
            data: Bytes::from_static(&[0xFF, 0xF1]),
        }
    }

    /// 30 fps video with a keyframe every `gop` frames, for `frames` frames.
    fn feed(s: &mut Segmenter, start_frame: i64, frames: i64, gop: i64) -> Vec<Segment> {
        let mut out = Vec::new();
        for f in start_frame..start_frame + frames {
            let ms = f * 100 / 3;
            if let Some(seg) = s.push(v(ms, f % gop == 0)).unwrap() {
                out.push(seg);
            }
            if let Some(seg) = s.push(a(ms)).unwrap() {
                out.push(seg);
            }
        }
        out
    }

    #[test]
    fn cuts_at_keyframes_after_the_target() {
        let mut s = Segmenter::new(SegmenterSettings::default());
        s.set_audio_codec(Some(AudioCodec::Aac));
        let mut segs = feed(&mut s, 0, 300, 30); // 10 s, keyframe every second
        segs.extend(s.finish());
        assert_eq!(segs.len(), 5);
        for (i, seg) in segs.iter().enumerate() {
            assert_eq!(seg.seq, i as u64);
            assert!(!seg.discontinuity);
            let first = seg.media.packets.first().unwrap();
            assert!(first.keyframe && first.track == Track::Video);
            assert!(
                (seg.duration_ticks - 180_000).abs() <= 90,
                "{}",
                seg.duration_ticks
            );
            assert_eq!(seg.media.video().count(), 60);
            assert!(seg.media.audio_packets().count() >= 59);
        }
        // Continuous timeline from the offset.
        assert_eq!(segs[0].media.packets[0].dts, 126_000);
        assert_eq!(
            segs[1].media.packets[0].dts,
            126_000 + segs[0].duration_ticks
        );
    }

    #[test]
    fn long_gop_gives_longer_segments_not_failure() {
        let mut s = Segmenter::new(SegmenterSettings::default());
        let mut segs = feed(&mut s, 0, 300, 150); // keyframe every 5 s
        segs.extend(s.finish());
        assert_eq!(segs.len(), 2);
        assert!((segs[0].duration_ticks - 450_000).abs() <= 90);
    }

    #[test]
    fn no_keyframe_for_too_long_fails() {
        let mut s = Segmenter::new(SegmenterSettings {
            max_duration: Duration::from_secs(3),
            ..Default::default()
        });
        s.push(v(0, true)).unwrap();
        let err = (1..200).find_map(|f| s.push(v(f * 33, false)).err());
        assert!(matches!(err, Some(MediaError::NoKeyframe { .. })));
    }

    #[test]
    fn audio_only_is_an_error() {
        let mut s = Segmenter::new(SegmenterSettings::default());
        s.set_audio_codec(Some(AudioCodec::Aac));
        let err = (0..1000).find_map(|i| s.push(a(i * 23)).err());
        assert!(matches!(err, Some(MediaError::NoVideo)));
    }

    #[test]
    fn jumps_back_make_a_discontinuity_on_a_continuous_timeline() {
        let mut s = Segmenter::new(SegmenterSettings::default());
        let mut segs = feed(&mut s, 1000, 90, 30); // 3 s starting at 33 s
        // The publisher restarts at 0: a non-keyframe first, which is dropped.
        segs.push(
            s.push(v(0, false))
                .unwrap()
                .expect("the jump closes the open segment"),
        );
        segs.extend(feed(&mut s, 1, 89, 30));
        segs.extend(s.finish());
        let disc: Vec<bool> = segs.iter().map(|x| x.discontinuity).collect();
        assert_eq!(disc, vec![false, false, true]);
        assert_eq!(segs[1].media.video().count(), 10);
        let mut end = 126_000;
        for seg in &segs {
            assert_eq!(seg.media.packets[0].dts, end, "segment {}", seg.seq);
            end += seg.duration_ticks;
        }
        assert!(s.dropped() >= 2);
    }
}
