//! FLV audio and video tag bodies, as RTMP carries them in its audio (8) and video (9)
//! messages, turned into [`Packet`]s: H.264 in Annex B with the parameter sets in band before
//! every keyframe, AAC with ADTS headers. The tag parsers are pure functions; fuzzed.

use bytes::Bytes;

use crate::MediaError;
use crate::aac::AacConfig;
use crate::h264::{self, AvcConfig};
use crate::media::{AudioCodec, Packet, Track};

/// A parsed FLV video tag body.
#[derive(Debug, PartialEq, Eq)]
pub enum VideoTag<'a> {
    /// `AVCDecoderConfigurationRecord`.
    AvcConfig(&'a [u8]),
    /// Length-prefixed NAL units of one access unit.
    AvcFrame {
        /// The FLV frame type says keyframe.
        keyframe: bool,
        /// Composition time offset (pts − dts) in milliseconds.
        cts_ms: i32,
        /// The NAL units.
        data: &'a [u8],
    },
    /// End of sequence.
    AvcEnd,
    /// Video info/command frame (frame type 5): no picture.
    Info,
}

/// A parsed FLV audio tag body.
#[derive(Debug, PartialEq, Eq)]
pub enum AudioTag<'a> {
    /// `AudioSpecificConfig`.
    AacConfig(&'a [u8]),
    /// One raw AAC frame.
    AacFrame(&'a [u8]),
    /// MP3 frames.
    Mp3(&'a [u8]),
}

/// Parses a video tag body. Codecs other than H.264 are an error. Pure; fuzzed.
pub fn parse_video_tag(body: &[u8]) -> Result<VideoTag<'_>, MediaError> {
    let bad = |reason| MediaError::Flv {
        kind: "video",
        reason,
    };
    let [first, rest @ ..] = body else {
        return Err(bad("empty video tag"));
    };
    if first & 0x80 != 0 {
        // Enhanced RTMP: a FOURCC follows.
        let fourcc = rest.get(..4).ok_or(bad("enhanced RTMP header cut short"))?;
        return Err(MediaError::UnsupportedCodec {
            kind: "video",
            codec: format!("{} (enhanced RTMP)", String::from_utf8_lossy(fourcc)),
        });
    }
    let frame_type = first >> 4;
    let codec_id = first & 0x0F;
    if frame_type == 5 {
        return Ok(VideoTag::Info);
    }
    if codec_id != 7 {
        let codec = match codec_id {
            2 => "Sorenson H.263",
            3 => "Screen video",
            4 => "On2 VP6",
            5 => "On2 VP6 with alpha",
            6 => "Screen video v2",
            12 => "HEVC (FLV codec id 12)",
            _ => "unknown",
        };
        return Err(MediaError::UnsupportedCodec {
            kind: "video",
            codec: format!("{codec} (FLV codec id {codec_id})"),
        });
    }
    let [packet_type, c0, c1, c2, data @ ..] = rest else {
        return Err(bad("AVC video tag shorter than its 5-byte header"));
    };
    // SI24 composition time.
    let cts = i32::from_be_bytes([*c0, *c1, *c2, 0]) >> 8;
    match packet_type {
        0 => Ok(VideoTag::AvcConfig(data)),
        1 => Ok(VideoTag::AvcFrame {
            keyframe: frame_type == 1,
            cts_ms: cts,
            data,
        }),
        2 => Ok(VideoTag::AvcEnd),
        _ => Err(bad("unknown AVC packet type")),
    }
}

/// Parses an audio tag body. Returns `Ok(None)` for codecs reel does not carry (the stream
/// goes on without audio). Pure; fuzzed.
pub fn parse_audio_tag(body: &[u8]) -> Result<Option<AudioTag<'_>>, MediaError> {
    let bad = |reason| MediaError::Flv {
        kind: "audio",
        reason,
    };
    let [first, rest @ ..] = body else {
        return Err(bad("empty audio tag"));
    };
    match first >> 4 {
        10 => {
            let [packet_type, data @ ..] = rest else {
                return Err(bad("AAC audio tag without a packet type"));
            };
            match packet_type {
                0 => Ok(Some(AudioTag::AacConfig(data))),
                1 => Ok(Some(AudioTag::AacFrame(data))),
                _ => Err(bad("unknown AAC packet type")),
            }
        }
        2 | 14 => Ok(Some(AudioTag::Mp3(rest))),
        _ => Ok(None),
    }
}

/// Turns a publisher's FLV tags into packets, remembering the codec configuration records.
#[derive(Debug, Default)]
pub struct FlvDepacketizer {
    avc: Option<AvcConfig>,
    aac: Option<AacConfig>,
    audio_codec: Option<AudioCodec>,
    unsupported_audio_seen: bool,
}

impl FlvDepacketizer {
    /// A depacketizer with no configuration yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The audio codec seen so far.
    pub fn audio_codec(&self) -> Option<AudioCodec> {
        self.audio_codec
    }

    /// A video message at `timestamp_ms` (RTMP time). Returns the access unit, if the tag
    /// carried one.
    pub fn video(&mut self, timestamp_ms: u32, body: &[u8]) -> Result<Option<Packet>, MediaError> {
        match parse_video_tag(body)? {
            VideoTag::AvcConfig(record) => {
                self.avc = Some(AvcConfig::parse(record)?);
                Ok(None)
            }
            VideoTag::AvcFrame { cts_ms, data, .. } => {
                let Some(cfg) = &self.avc else {
                    return Err(MediaError::Flv {
                        kind: "video",
                        reason: "H.264 frame before the AVC sequence header",
                    });
                };
                let mut au = Vec::with_capacity(data.len() + 64);
                au.extend_from_slice(&h264::AUD);
                let mut converted = Vec::with_capacity(data.len() + 16);
                let idr =
                    h264::length_prefixed_to_annexb(data, cfg.nal_length_size, &mut converted)?;
                if converted.is_empty() {
                    return Ok(None);
                }
                let has_sps =
                    h264::nal_units(&converted).any(|u| h264::nal_type(u) == Some(h264::nal::SPS));
                if idr && !has_sps {
                    cfg.write_parameter_sets(&mut au);
                }
                au.extend_from_slice(&converted);
                let dts = i64::from(timestamp_ms) * 90;
                let pts = dts + i64::from(cts_ms) * 90;
                Ok(Some(Packet {
                    track: Track::Video,
                    pts,
                    dts,
                    keyframe: idr,
                    data: Bytes::from(au),
                }))
            }
            VideoTag::AvcEnd | VideoTag::Info => Ok(None),
        }
    }

    /// An audio message at `timestamp_ms`. Returns the frame, if the tag carried one.
    pub fn audio(&mut self, timestamp_ms: u32, body: &[u8]) -> Result<Option<Packet>, MediaError> {
        let pts = i64::from(timestamp_ms) * 90;
        let packet = |data: Vec<u8>| Packet {
            track: Track::Audio,
            pts,
            dts: pts,
            keyframe: true,
            data: Bytes::from(data),
        };
        match parse_audio_tag(body)? {
            Some(AudioTag::AacConfig(asc)) => {
                self.aac = Some(AacConfig::parse(asc)?);
                self.audio_codec = Some(AudioCodec::Aac);
                Ok(None)
            }
            Some(AudioTag::AacFrame(raw)) => {
                let Some(cfg) = &self.aac else {
                    return Err(MediaError::Flv {
                        kind: "audio",
                        reason: "AAC frame before the AAC sequence header",
                    });
                };
                if raw.is_empty() {
                    return Ok(None);
                }
                let mut frame = Vec::with_capacity(raw.len() + 7);
                frame.extend_from_slice(&cfg.adts_header(raw.len())?);
                frame.extend_from_slice(raw);
                Ok(Some(packet(frame)))
            }
            Some(AudioTag::Mp3(data)) => {
                self.audio_codec = Some(AudioCodec::Mp3);
                Ok((!data.is_empty()).then(|| packet(data.to_vec())))
            }
            None => {
                if !self.unsupported_audio_seen {
                    self.unsupported_audio_seen = true;
                    tracing::warn!(
                        target: "media::rtmp",
                        sound_format = body.first().map(|b| b >> 4),
                        "audio codec not carried (only AAC and MP3); the stream goes on without audio"
                    );
                }
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AVCC: [u8; 16] = [
        1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 0xaa, 0xbb, 1, 0, 2, 0x68, 0xcc,
    ];

    #[test]
    fn video_tags() {
        let mut d = FlvDepacketizer::new();
        let mut cfg = vec![0x17, 0, 0, 0, 0];
        cfg.extend_from_slice(&AVCC);
        assert!(d.video(0, &cfg).unwrap().is_none());
        // keyframe, cts = 66 ms
        let key = [0x17, 1, 0, 0, 66, 0, 0, 0, 2, 0x65, 0x88];
        let p = d.video(1000, &key).unwrap().unwrap();
        assert!(p.keyframe);
        assert_eq!((p.dts, p.pts), (90_000, 90_000 + 66 * 90));
        // AUD, SPS, PPS, IDR
        let types: Vec<u8> = h264::nal_units(&p.data)
            .filter_map(h264::nal_type)
            .collect();
        assert_eq!(types, vec![9, 7, 8, 5]);
        // negative cts
        let inter = [0x27, 1, 0xFF, 0xFF, 0xDF, 0, 0, 0, 2, 0x41, 0x9a];
        let p = d.video(2000, &inter).unwrap().unwrap();
        assert!(!p.keyframe);
        assert_eq!(p.pts - p.dts, -33 * 90);
    }

    #[test]
    fn bad_video_tags() {
        let mut d = FlvDepacketizer::new();
        assert!(matches!(
            d.video(0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]),
            Err(MediaError::Flv { .. })
        ));
        assert!(matches!(
            parse_video_tag(&[0x12, 0, 0]),
            Err(MediaError::UnsupportedCodec { .. })
        ));
        assert!(matches!(
            parse_video_tag(&[0x90, b'h', b'v', b'c', b'1']),
            Err(MediaError::UnsupportedCodec { .. })
        ));
        assert!(parse_video_tag(&[]).is_err());
        assert!(parse_video_tag(&[0x17, 1]).is_err());
    }

    #[test]
    fn audio_tags() {
        let mut d = FlvDepacketizer::new();
        assert!(d.audio(0, &[0xAF, 1, 1, 2]).is_err(), "frame before config");
        assert!(d.audio(0, &[0xAF, 0, 0x12, 0x10]).unwrap().is_none());
        let p = d.audio(23, &[0xAF, 1, 0xDE, 0xAD]).unwrap().unwrap();
        assert_eq!(p.pts, 23 * 90);
        assert_eq!(&p.data[..2], &[0xFF, 0xF1]);
        assert_eq!(&p.data[7..], &[0xDE, 0xAD]);
        assert_eq!(d.audio_codec(), Some(AudioCodec::Aac));
        // Speex: not carried, not an error.
        assert!(d.audio(0, &[0xB2, 1, 2]).unwrap().is_none());
        assert!(d.audio(0, &[]).is_err());
    }
}
