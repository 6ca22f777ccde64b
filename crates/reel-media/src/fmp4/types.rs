//! What the fragmented MP4 writer and reader share: the public types, limits, track ids.

use crate::MediaError;
use crate::codec::VideoCodec;
use crate::media::SegmentMedia;
use bytes::Bytes;

/// Most samples `write` and `read` take in one call, across all tracks and fragments.
pub const MAX_SAMPLES: usize = 100_000;

/// Track id of the video track in files `write` makes.
pub(super) const VIDEO_ID: u32 = 1;
/// Track id of the audio track in files `write` makes.
pub(super) const AUDIO_ID: u32 = 2;

/// The video track of a fragmented MP4 rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    /// The codec.
    pub codec: VideoCodec,
    /// Width in pixels, as the visual sample entry and `tkhd` state it.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// One self-contained fragmented MP4 segment: an init segment (`ftyp` + `moov`) and one
/// media fragment (`moof` + `mdat`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmp4 {
    /// `ftyp` and `moov`: what a player needs once per rendition (`EXT-X-MAP`).
    pub init: Bytes,
    /// `moof` and `mdat`: the segment's samples.
    pub fragment: Bytes,
}

impl Fmp4 {
    /// The init followed by the fragment: a complete playable `.mp4`.
    pub fn to_file(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.init.len() + self.fragment.len());
        out.extend_from_slice(&self.init);
        out.extend_from_slice(&self.fragment);
        Bytes::from(out)
    }
}

/// What [`read`] finds.
#[derive(Debug, Clone)]
pub struct Fmp4Media {
    /// The video track (the first one, if the file has several).
    pub video: Option<VideoTrack>,
    /// The packets, back in the crate's forms: Annex B with parameter sets before each
    /// keyframe for H.264/HEVC, raw frames for VP8/VP9, AV1 temporal units starting with a
    /// temporal delimiter; audio as ADTS frames; timestamps on the 90 kHz clock.
    pub media: SegmentMedia,
}

pub(super) fn mp4_err(reason: impl Into<String>) -> MediaError {
    MediaError::Mp4 {
        reason: reason.into(),
    }
}
