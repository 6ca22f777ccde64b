//! Files and URLs read with libavformat, for `reel transcode`: any container FFmpeg reads,
//! with H.264 video, turned into the crate's [`Packet`]s (Annex B video, ADTS AAC or MP3
//! audio) on the 90 kHz clock. Blocking.

use std::time::Duration;

use bytes::Bytes;
use ffmpeg_next as ff;

use crate::MediaError;
use crate::aac::AacConfig;
use crate::h264::{self, AvcConfig};
use crate::media::{AudioCodec, Packet, Track};

/// An opened input.
pub struct FileInput {
    label: String,
    input: ff::format::context::Input,
    video: VideoTrack,
    audio: Option<AudioTrack>,
    duration: Option<Duration>,
    size: (u32, u32),
}

impl std::fmt::Debug for FileInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileInput")
            .field("input", &self.label)
            .field("size", &self.size)
            .field("duration", &self.duration)
            .finish()
    }
}

struct VideoTrack {
    index: usize,
    time_base: ff::Rational,
    /// Set when the container carries length-prefixed NAL units (MP4, FLV, MKV).
    avc: Option<AvcConfig>,
}

struct AudioTrack {
    index: usize,
    time_base: ff::Rational,
    codec: AudioCodec,
    /// Set when frames come raw (MP4, FLV, MKV) and need ADTS headers.
    aac: Option<AacConfig>,
}

impl FileInput {
    /// Opens a file or URL and finds its H.264 video (and AAC/MP3 audio, if any).
    pub fn open(url: &str) -> Result<Self, MediaError> {
        crate::transcode::init_ffmpeg();
        let fail = |reason: String| MediaError::Input {
            input: url.to_owned(),
            reason,
        };
        let input = ff::format::input(url).map_err(|e| fail(format!("cannot open: {e}")))?;
        let vstream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or(MediaError::NoVideo)?;
        let vparams = vstream.parameters();
        if vparams.id() != ff::codec::Id::H264 {
            return Err(MediaError::UnsupportedCodec {
                kind: "video",
                codec: format!("{:?}", vparams.id()),
            });
        }
        let vextra = extradata(&vparams);
        let avc = if vextra.first() == Some(&1) {
            Some(AvcConfig::parse(&vextra)?)
        } else {
            None
        };
        let size = ff::codec::Context::from_parameters(vparams)
            .and_then(|c| c.decoder().video())
            .map(|d| (d.width(), d.height()))
            .unwrap_or((0, 0));
        let video = VideoTrack {
            index: vstream.index(),
            time_base: vstream.time_base(),
            avc,
        };
        let audio = input.streams().best(ff::media::Type::Audio).and_then(|a| {
            let p = a.parameters();
            let (codec, aac) = match p.id() {
                ff::codec::Id::AAC => {
                    let asc = extradata(&p);
                    let aac = if asc.is_empty() {
                        None
                    } else {
                        match AacConfig::parse(&asc) {
                            Ok(c) => Some(c),
                            Err(e) => {
                                tracing::warn!(target: "media::input", error = %e, "audio dropped");
                                return None;
                            }
                        }
                    };
                    (AudioCodec::Aac, aac)
                }
                ff::codec::Id::MP3 => (AudioCodec::Mp3, None),
                other => {
                    tracing::warn!(
                        target: "media::input",
                        codec = ?other,
                        "audio codec not carried (only AAC and MP3): the output has no audio"
                    );
                    return None;
                }
            };
            Some(AudioTrack {
                index: a.index(),
                time_base: a.time_base(),
                codec,
                aac,
            })
        });
        let duration = u64::try_from(input.duration())
            .ok()
            .filter(|d| *d > 0)
            .map(Duration::from_micros);
        Ok(Self {
            label: url.to_owned(),
            input,
            video,
            audio,
            duration,
            size,
        })
    }

    /// The container's duration, if known (live URLs have none).
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// Video width and height from the container.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The audio codec carried, if any.
    pub fn audio_codec(&self) -> Option<AudioCodec> {
        self.audio.as_ref().map(|a| a.codec)
    }

    /// The next packet of the video or audio track; `None` at the end.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, MediaError> {
        loop {
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(None),
                Err(e) => {
                    return Err(MediaError::Input {
                        input: self.label.clone(),
                        reason: format!("reading: {e}"),
                    });
                }
            }
            let Some(data) = packet.data() else { continue };
            let index = packet.stream();
            if index == self.video.index {
                let tb = self.video.time_base;
                let (Some(pts), dts) = (packet.pts().or(packet.dts()), packet.dts()) else {
                    continue;
                };
                let mut au = Vec::with_capacity(data.len() + 64);
                let annexb = match &self.video.avc {
                    Some(cfg) => {
                        let mut converted = Vec::with_capacity(data.len() + 16);
                        let idr = h264::length_prefixed_to_annexb(
                            data,
                            cfg.nal_length_size,
                            &mut converted,
                        )?;
                        if idr
                            && !h264::nal_units(&converted)
                                .any(|u| h264::nal_type(u) == Some(h264::nal::SPS))
                        {
                            cfg.write_parameter_sets(&mut au);
                        }
                        converted
                    }
                    None => data.to_vec(),
                };
                au.extend_from_slice(&annexb);
                let pts = to_90k(pts, tb);
                return Ok(Some(Packet {
                    track: Track::Video,
                    pts,
                    dts: dts.map_or(pts, |d| to_90k(d, tb)),
                    keyframe: h264::is_keyframe(&au),
                    data: Bytes::from(au),
                }));
            }
            let Some(audio) = &self.audio else { continue };
            if index != audio.index {
                continue;
            }
            let Some(pts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            let framed = match (&audio.aac, audio.codec) {
                // Already ADTS (from TS, ADTS files).
                (_, AudioCodec::Aac)
                    if data.len() >= 2 && data[0] == 0xFF && data[1] & 0xF0 == 0xF0 =>
                {
                    data.to_vec()
                }
                (Some(cfg), AudioCodec::Aac) => {
                    let mut f = cfg.adts_header(data.len())?.to_vec();
                    f.extend_from_slice(data);
                    f
                }
                (None, AudioCodec::Aac) => continue,
                (_, AudioCodec::Mp3) => data.to_vec(),
            };
            let pts = to_90k(pts, audio.time_base);
            return Ok(Some(Packet {
                track: Track::Audio,
                pts,
                dts: pts,
                keyframe: true,
                data: Bytes::from(framed),
            }));
        }
    }
}

/// A timestamp in `tb` units on the 90 kHz clock.
fn to_90k(ts: i64, tb: ff::Rational) -> i64 {
    let (num, den) = (i128::from(tb.numerator()), i128::from(tb.denominator()));
    if den == 0 {
        return ts;
    }
    let v = i128::from(ts) * num * 90_000;
    i64::try_from(v.div_euclid(den)).unwrap_or(i64::MAX)
}

/// The codec's extradata (`avcC`, `AudioSpecificConfig`).
#[allow(unsafe_code)] // ffmpeg-next has no accessor for extradata
fn extradata(params: &ff::codec::Parameters) -> Vec<u8> {
    // SAFETY: `params` wraps an AVCodecParameters that stays valid while it lives; libavcodec
    // keeps `extradata` either null or pointing at `extradata_size` initialised bytes owned by
    // it, and we copy them out before returning.
    unsafe {
        let p = params.as_ptr();
        let (data, size) = ((*p).extradata, (*p).extradata_size);
        if data.is_null() || size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts(data, size as usize).to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescales_to_90k() {
        assert_eq!(to_90k(1, ff::Rational::new(1, 30)), 3000);
        assert_eq!(to_90k(1000, ff::Rational::new(1, 1000)), 90_000);
        assert_eq!(to_90k(-512, ff::Rational::new(1, 15360)), -3000);
        assert_eq!(to_90k(5, ff::Rational::new(1, 0)), 5);
    }
}
