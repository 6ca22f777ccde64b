//! Opus from a WHIP publisher into AAC for MPEG-TS and HLS: FFmpeg's Opus decoder, its AAC
//! encoder at 48 kHz stereo, 128 kbit/s, and ADTS framing. Timestamps are the 90 kHz
//! clock of the session; AAC frames (1024 samples) are timed from the first Opus packet's
//! time on, sample by sample.

use bytes::Bytes;
use ffmpeg_next as ff;

use crate::MediaError;
use crate::aac::AacConfig;
use crate::media::{Packet, TS_HZ, Track};

const RATE: u32 = 48_000;
const AAC_FRAME: usize = 1024;

/// One session's audio converter.
pub(super) struct OpusToAac {
    decoder: ff::decoder::Audio,
    encoder: ff::encoder::audio::Encoder,
    adts: AacConfig,
    /// Decoded samples waiting for a whole AAC frame, per channel.
    pending: [Vec<f32>; 2],
    /// The 90 kHz time of `pending`'s first sample, and samples encoded so far.
    start: Option<i64>,
    encoded: i64,
}

fn audio_err(what: &str, e: ff::Error) -> MediaError {
    MediaError::Encode {
        rendition: "audio".into(),
        reason: format!("{what}: {e}"),
    }
}

impl OpusToAac {
    pub(super) fn new() -> Result<Self, MediaError> {
        crate::transcode::init_ffmpeg();
        let layout = ff::ChannelLayout::STEREO;
        let codec = ff::decoder::find(ff::codec::Id::OPUS).ok_or_else(|| {
            MediaError::EncoderUnavailable {
                name: "opus (decoder)".into(),
            }
        })?;
        // Without extradata (WebRTC sends none) FFmpeg's Opus decoder assumes 48 kHz stereo,
        // which is how WebRTC declares every Opus stream; mono packets decode to both.
        let decoder = ff::codec::Context::new_with_codec(codec)
            .decoder()
            .audio()
            .map_err(|e| audio_err("opening the Opus decoder", e))?;
        let aac = ff::encoder::find(ff::codec::Id::AAC)
            .ok_or_else(|| MediaError::EncoderUnavailable { name: "aac".into() })?;
        let mut enc = ff::codec::Context::new_with_codec(aac)
            .encoder()
            .audio()
            .map_err(|e| audio_err("creating the AAC encoder", e))?;
        enc.set_rate(RATE as i32);
        enc.set_channel_layout(layout);
        enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
        enc.set_bit_rate(128_000);
        enc.set_time_base(ff::Rational::new(1, RATE as i32));
        let encoder = enc
            .open_as(aac)
            .map_err(|e| audio_err("opening the AAC encoder", e))?;
        // What this encoder makes: AAC LC (object type 2), 48 kHz (index 3), stereo.
        let adts = AacConfig {
            object_type: 2,
            sampling_index: 3,
            channels: 2,
        };
        Ok(Self {
            decoder,
            encoder,
            adts,
            pending: [Vec::new(), Vec::new()],
            start: None,
            encoded: 0,
        })
    }

    /// Converts one Opus packet at `pts` (90 kHz); returns the AAC frames now complete.
    pub(super) fn push(&mut self, opus: &[u8], pts: i64) -> Result<Vec<Packet>, MediaError> {
        self.start.get_or_insert(pts);
        let packet = ff::Packet::copy(opus);
        // A packet the decoder refuses (loss, corruption) is a moment of silence, not an error.
        if self.decoder.send_packet(&packet).is_err() {
            return Ok(Vec::new());
        }
        let mut frame = ff::frame::Audio::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            let n = frame.samples();
            for (ch, pending) in self.pending.iter_mut().enumerate() {
                let plane = ch.min(frame.planes().saturating_sub(1));
                let data: &[f32] = frame.plane(plane);
                pending.extend_from_slice(&data[..n.min(data.len())]);
            }
        }
        let mut out = Vec::new();
        while self.pending[0].len() >= AAC_FRAME && self.pending[1].len() >= AAC_FRAME {
            let mut f = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                AAC_FRAME,
                ff::ChannelLayout::STEREO,
            );
            f.set_rate(RATE);
            for (ch, pending) in self.pending.iter_mut().enumerate() {
                f.plane_mut::<f32>(ch)[..AAC_FRAME].copy_from_slice(&pending[..AAC_FRAME]);
                pending.drain(..AAC_FRAME);
            }
            f.set_pts(Some(self.encoded));
            self.encoded += AAC_FRAME as i64;
            self.encoder
                .send_frame(&f)
                .map_err(|e| audio_err("encoding AAC", e))?;
            self.drain(&mut out)?;
        }
        Ok(out)
    }

    fn drain(&mut self, out: &mut Vec<Packet>) -> Result<(), MediaError> {
        let start = self.start.unwrap_or(0);
        let mut p = ff::Packet::empty();
        while self.encoder.receive_packet(&mut p).is_ok() {
            let Some(data) = p.data() else { continue };
            let header = self.adts.adts_header(data.len())?;
            let samples = p.pts().unwrap_or(0);
            let pts = start + samples * TS_HZ / i64::from(RATE);
            let mut frame = Vec::with_capacity(header.len() + data.len());
            frame.extend_from_slice(&header);
            frame.extend_from_slice(data);
            out.push(Packet {
                track: Track::Audio,
                pts,
                dts: pts,
                keyframe: true,
                data: Bytes::from(frame),
            });
        }
        Ok(())
    }
}
