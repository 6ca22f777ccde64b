//! What the store needs to know of a rendition's bytes: MPEG-TS or fragmented MP4 (split
//! into init and fragment), and the `CODECS` value its first keyframe gives.

use bytes::Bytes;

use crate::MediaError;
use crate::codec::{audio_codecs_attribute, video_codecs_attribute};
use crate::media::{SegmentMedia, Track};

/// A rendition as HLS serves it.
pub(super) struct Split {
    /// The media segment (the TS bytes, or the MP4 fragment).
    pub(super) data: Bytes,
    /// The init segment of a fragmented MP4 rendition.
    pub(super) init: Option<Bytes>,
}

/// Whether the bytes begin with an ISO BMFF `ftyp` box.
pub(super) fn is_mp4(data: &[u8]) -> bool {
    data.get(4..8) == Some(b"ftyp")
}

/// Splits a fragmented MP4 rendition; anything else is served as it came.
pub(super) fn split(data: &Bytes) -> Result<Split, MediaError> {
    if !is_mp4(data) {
        return Ok(Split {
            data: data.clone(),
            init: None,
        });
    }
    let f = crate::fmp4::split(data)?;
    Ok(Split {
        data: f.fragment,
        init: Some(f.init),
    })
}

/// The RFC 6381 `CODECS` value of a rendition (video, then audio), or `None` when its
/// bytes cannot be read.
pub(super) fn codecs_of(data: &[u8]) -> Option<String> {
    let (codec, media): (_, SegmentMedia) = if is_mp4(data) {
        let read = crate::fmp4::read(data).ok()?;
        (read.video?.codec, read.media)
    } else {
        let media = crate::ts::demux_rendition(data).ok()?;
        (media.video_codec, media)
    };
    let key = media.video().find(|p| p.keyframe)?;
    let mut codecs = video_codecs_attribute(codec, &key.data).ok()?;
    if let Some(codec) = media.audio
        && let Some(first) = media.packets.iter().find(|p| p.track == Track::Audio)
        && let Ok(audio) = audio_codecs_attribute(codec, &first.data)
    {
        codecs.push(',');
        codecs.push_str(&audio);
    }
    Some(codecs)
}
