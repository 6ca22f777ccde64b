//! Plain media data shared by the demuxer, segmenter, session and muxer: compressed packets
//! on the MPEG-TS 90 kHz clock, and a segment of them.

use bytes::Bytes;
use std::time::Duration;

use crate::codec::VideoCodec;

/// The MPEG-TS clock: every timestamp in this crate counts 1/90000 s.
pub const TS_HZ: i64 = 90_000;

pub use crate::codec::AudioCodec;

/// Which track a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// The video track (H.264 in ingest; any [`VideoCodec`] in renditions).
    Video,
    /// The audio track.
    Audio,
}

/// One compressed packet. Video data is one access unit: Annex B for H.264 and HEVC (start
/// codes, parameter sets in band before keyframes), a raw frame for VP8 and VP9, a temporal
/// unit of OBUs for AV1; audio data is whole ADTS (AAC) or MP3 frames.
#[derive(Debug, Clone)]
pub struct Packet {
    /// The track.
    pub track: Track,
    /// Presentation time, 90 kHz.
    pub pts: i64,
    /// Decode time, 90 kHz (equal to `pts` for audio).
    pub dts: i64,
    /// A video IDR access unit (always `true` for audio).
    pub keyframe: bool,
    /// The payload.
    pub data: Bytes,
}

/// The compressed content of one segment, packets in decode order.
#[derive(Debug, Clone, Default)]
pub struct SegmentMedia {
    /// Whether the segment has a video track.
    pub has_video: bool,
    /// The video track's codec (H.264 for every ingest).
    pub video_codec: VideoCodec,
    /// The audio track's codec, if any.
    pub audio: Option<AudioCodec>,
    /// Packets of both tracks interleaved by dts.
    pub packets: Vec<Packet>,
}

impl SegmentMedia {
    /// The video packets.
    pub fn video(&self) -> impl Iterator<Item = &Packet> {
        self.packets.iter().filter(|p| p.track == Track::Video)
    }

    /// The audio packets.
    pub fn audio_packets(&self) -> impl Iterator<Item = &Packet> {
        self.packets.iter().filter(|p| p.track == Track::Audio)
    }

    /// Earliest presentation time of any video packet.
    pub fn first_video_pts(&self) -> Option<i64> {
        self.video().map(|p| p.pts).min()
    }

    /// Total payload bytes.
    pub fn payload_bytes(&self) -> usize {
        self.packets.iter().map(|p| p.data.len()).sum()
    }
}

/// A segment cut by the [`crate::Segmenter`] or received over HTTP. Its MPEG-TS bytes,
/// [`Segment::to_ts`], are written next to the muxer in `ts/mux.rs`.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Sequence number within the stream, from 0.
    pub seq: u64,
    /// Duration in 90 kHz ticks.
    pub duration_ticks: i64,
    /// Timestamps do not continue from the previous segment (a restart, a jump back).
    pub discontinuity: bool,
    /// The packets.
    pub media: SegmentMedia,
}

impl Segment {
    /// The duration.
    pub fn duration(&self) -> Duration {
        ticks_to_duration(self.duration_ticks)
    }
}

/// 90 kHz ticks to a `Duration` (negative counts as zero).
pub fn ticks_to_duration(ticks: i64) -> Duration {
    let ticks = u64::try_from(ticks).unwrap_or(0);
    // One tick is 100000/9 ns.
    Duration::from_nanos(ticks.saturating_mul(100_000) / 9)
}

/// A `Duration` to 90 kHz ticks.
pub fn duration_to_ticks(d: Duration) -> i64 {
    i64::try_from(d.as_micros() * 9 / 100).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_conversions() {
        assert_eq!(ticks_to_duration(90_000), Duration::from_secs(1));
        assert_eq!(ticks_to_duration(3_000), Duration::from_nanos(33_333_333));
        assert_eq!(ticks_to_duration(-5), Duration::ZERO);
        assert_eq!(duration_to_ticks(Duration::from_secs(2)), 180_000);
        assert_eq!(duration_to_ticks(Duration::from_millis(33)), 2_970);
    }
}
