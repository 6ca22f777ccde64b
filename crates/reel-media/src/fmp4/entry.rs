//! Sample entries: the codec configuration boxes (`avcC`, `hvcC`, `vpcC`, `av1C`, `esds`)
//! built from the bitstream when writing, and read back into in-band headers when reading.

use super::boxes::{BoxWriter, Reader};
use super::types::{VideoTrack, mp4_err};
use crate::MediaError;
use crate::aac::AacConfig;
use crate::codec::av1_sequence_header;
use crate::codec::{
    VideoCodec, bitstream, hevc_nal_type, hevc_sps, vp8_header, vp9_header, vp9_level,
};
use crate::h264::nal_units;
use crate::media::Packet;

/// AAC sampling frequencies by index (ISO/IEC 14496-3 table 1.18).
pub(super) const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The parameter sets carried in the sample entry of an H.264 or HEVC track, which the
/// samples then need not repeat.
#[derive(Debug, Default, Clone)]
pub(super) struct ParamSets {
    pub(super) units: Vec<Vec<u8>>,
}

impl ParamSets {
    pub(super) fn contains(&self, unit: &[u8]) -> bool {
        self.units.iter().any(|u| u == unit)
    }
}

/// Writes the visual sample entry for `video`, with its configuration read from the first
/// packet that carries one. Returns the parameter sets it holds (H.264/HEVC).
pub(super) fn write_video_entry(
    w: &mut BoxWriter,
    video: &VideoTrack,
    packets: &[&Packet],
) -> Result<ParamSets, MediaError> {
    let kind: &[u8; 4] = match video.codec {
        VideoCodec::H264 => b"avc1",
        VideoCodec::Hevc => b"hvc1",
        VideoCodec::Vp8 => b"vp08",
        VideoCodec::Vp9 => b"vp09",
        VideoCodec::Av1 => b"av01",
    };
    let width = u16::try_from(video.width).map_err(|_| mp4_err("width above 65535"))?;
    let height = u16::try_from(video.height).map_err(|_| mp4_err("height above 65535"))?;
    let entry = w.start(kind);
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16);
    w.u16(width);
    w.u16(height);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018);
    w.u16(0xFFFF);
    let sets = match video.codec {
        VideoCodec::H264 => write_avcc(w, packets)?,
        VideoCodec::Hevc => write_hvcc(w, packets)?,
        VideoCodec::Vp8 | VideoCodec::Vp9 => {
            write_vpcc(w, video.codec, packets)?;
            ParamSets::default()
        }
        VideoCodec::Av1 => {
            write_av1c(w, packets)?;
            ParamSets::default()
        }
    };
    w.end(entry)?;
    Ok(sets)
}

fn write_avcc(w: &mut BoxWriter, packets: &[&Packet]) -> Result<ParamSets, MediaError> {
    let nal_type = |u: &[u8]| u.first().map(|b| b & 0x1F);
    let (sps, pps) = packets
        .iter()
        .find_map(|p| {
            let sps: Vec<&[u8]> = nal_units(&p.data)
                .filter(|u| nal_type(u) == Some(7))
                .collect();
            let pps: Vec<&[u8]> = nal_units(&p.data)
                .filter(|u| nal_type(u) == Some(8))
                .collect();
            (!sps.is_empty() && !pps.is_empty()).then_some((sps, pps))
        })
        .ok_or_else(|| bitstream("H.264", "no access unit in the segment carries SPS and PPS"))?;
    let [_, profile, compat, level, ..] = *sps[0] else {
        return Err(bitstream("H.264", "SPS cut short"));
    };
    let at = w.start(b"avcC");
    w.bytes(&[1, profile, compat, level, 0xFF]);
    let sps = &sps[..sps.len().min(31)];
    let pps = &pps[..pps.len().min(255)];
    w.u8(0xE0 | sps.len() as u8);
    let mut sets = ParamSets::default();
    for (i, list) in [sps, pps].into_iter().enumerate() {
        if i == 1 {
            w.u8(list.len() as u8);
        }
        for unit in list {
            let len = u16::try_from(unit.len()).map_err(|_| bitstream("H.264", "huge SPS/PPS"))?;
            w.u16(len);
            w.bytes(unit);
            sets.units.push(unit.to_vec());
        }
    }
    w.end(at)?;
    Ok(sets)
}

fn write_hvcc(w: &mut BoxWriter, packets: &[&Packet]) -> Result<ParamSets, MediaError> {
    let units_of = |p: &Packet, t: u8| -> Vec<Vec<u8>> {
        nal_units(&p.data)
            .filter(|u| hevc_nal_type(u) == Some(t))
            .map(<[u8]>::to_vec)
            .collect()
    };
    let (p, arrays) = packets
        .iter()
        .find_map(|p| {
            let arrays = [32, 33, 34].map(|t| (t, units_of(p, t)));
            arrays
                .iter()
                .all(|(_, a)| !a.is_empty())
                .then_some((p, arrays))
        })
        .ok_or_else(|| {
            bitstream(
                "HEVC",
                "no access unit in the segment carries VPS, SPS and PPS",
            )
        })?;
    let sps = hevc_sps(&p.data)?;
    let at = w.start(b"hvcC");
    w.u8(1);
    w.bytes(&sps.ptl);
    w.bytes(&[0xF0, 0x00, 0xFC]); // min_spatial_segmentation_idc 0, parallelismType 0
    w.u8(0xFC | sps.chroma_format_idc);
    w.u8(0xF8 | sps.bit_depth_luma_minus8);
    w.u8(0xF8 | sps.bit_depth_chroma_minus8);
    w.u16(0); // avgFrameRate unknown
    w.u8((sps.max_sub_layers.min(7) << 3) | (u8::from(sps.temporal_id_nesting) << 2) | 3);
    w.u8(3);
    let mut sets = ParamSets::default();
    for (t, units) in arrays {
        w.u8(0x80 | t);
        let count = units.len().min(usize::from(u16::MAX));
        w.u16(count as u16);
        for unit in units.into_iter().take(count) {
            let len =
                u16::try_from(unit.len()).map_err(|_| bitstream("HEVC", "huge parameter set"))?;
            w.u16(len);
            w.bytes(&unit);
            sets.units.push(unit);
        }
    }
    w.end(at)?;
    Ok(sets)
}

fn write_vpcc(w: &mut BoxWriter, codec: VideoCodec, packets: &[&Packet]) -> Result<(), MediaError> {
    let parse = if codec == VideoCodec::Vp8 {
        vp8_header
    } else {
        vp9_header
    };
    let h = packets
        .iter()
        .filter(|p| p.keyframe)
        .find_map(|p| parse(&p.data).ok())
        .ok_or_else(|| bitstream(codec.name(), "no keyframe in the segment"))?;
    let at = w.start_full(b"vpcC", 1, 0);
    w.u8(h.profile);
    w.u8(vp9_level(h.width, h.height));
    w.u8((h.bit_depth << 4) | (h.chroma_subsampling << 1) | u8::from(h.full_range));
    w.bytes(&[2, 2, 2]); // colour primaries, transfer, matrix: unspecified
    w.u16(0);
    w.end(at)
}

fn write_av1c(w: &mut BoxWriter, packets: &[&Packet]) -> Result<(), MediaError> {
    let (seq, obu) = packets
        .iter()
        .find_map(|p| av1_sequence_header(&p.data).ok())
        .ok_or_else(|| {
            bitstream(
                "AV1",
                "no temporal unit in the segment carries a sequence header",
            )
        })?;
    let at = w.start(b"av1C");
    w.u8(0x81);
    w.u8((seq.profile << 5) | (seq.level & 0x1F));
    w.u8((seq.tier << 7)
        | (u8::from(seq.bit_depth > 8) << 6)
        | (u8::from(seq.bit_depth == 12) << 5)
        | (u8::from(seq.monochrome) << 4)
        | (u8::from(seq.subsampling_x) << 3)
        | (u8::from(seq.subsampling_y) << 2)
        | (seq.chroma_sample_position & 3));
    w.u8(0);
    w.bytes(obu);
    w.end(at)
}

/// Parses an ADTS header: (config, header length, frame length).
pub(super) fn adts(frame: &[u8]) -> Result<(AacConfig, usize, usize), MediaError> {
    let [0xFF, b1, b2, b3, b4, b5, b6, ..] = *frame else {
        return Err(bitstream("AAC", "ADTS frame header missing or cut short"));
    };
    if b1 & 0xF6 != 0xF0 {
        return Err(bitstream("AAC", "bad ADTS sync word or layer"));
    }
    if b6 & 3 != 0 {
        return Err(bitstream("AAC", "ADTS frames with several raw data blocks"));
    }
    let header = if b1 & 1 == 1 { 7 } else { 9 };
    let len = (usize::from(b3 & 3) << 11) | (usize::from(b4) << 3) | usize::from(b5 >> 5);
    let config = AacConfig {
        object_type: (b2 >> 6) + 1,
        sampling_index: (b2 >> 2) & 0xF,
        channels: ((b2 & 1) << 2) | (b3 >> 6),
    };
    if usize::from(config.sampling_index) >= AAC_RATES.len() {
        return Err(bitstream("AAC", "reserved ADTS sampling frequency index"));
    }
    if len < header || len > frame.len() {
        return Err(bitstream("AAC", "ADTS frame length outside the packet"));
    }
    Ok((config, header, len))
}

/// Writes the `mp4a` sample entry for AAC with this configuration.
pub(super) fn write_mp4a(
    w: &mut BoxWriter,
    cfg: &AacConfig,
    track_id: u16,
) -> Result<(), MediaError> {
    let rate = AAC_RATES[usize::from(cfg.sampling_index).min(AAC_RATES.len() - 1)];
    let entry = w.start(b"mp4a");
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(u16::from(cfg.channels.max(1)));
    w.u16(16);
    w.u32(0);
    w.u32(rate << 16);
    let esds = w.start_full(b"esds", 0, 0);
    let asc = ((u16::from(cfg.object_type) & 0x1F) << 11)
        | (u16::from(cfg.sampling_index) << 7)
        | (u16::from(cfg.channels) << 3);
    // Descriptor lengths all stay below 128, so each takes one byte.
    w.bytes(&[3, 25]);
    w.u16(track_id);
    w.u8(0);
    w.bytes(&[4, 17, 0x40, 0x15, 0, 0, 0]);
    w.u32(0); // maxBitrate unknown
    w.u32(0);
    w.bytes(&[5, 2]);
    w.u16(asc);
    w.bytes(&[6, 1, 2]);
    w.end(esds)?;
    w.end(entry)
}

/// Reads the AAC configuration from an `mp4a` sample entry body.
pub(super) fn read_mp4a(body: &[u8], body_offset: usize) -> Result<AacConfig, MediaError> {
    let children = body
        .get(28..)
        .ok_or_else(|| mp4_err("mp4a sample entry cut short"))?;
    for b in super::boxes::boxes(children, body_offset + 28) {
        let b = b?;
        if &b.kind == b"esds" {
            let mut r = Reader::new(b.body, "esds");
            r.full()?;
            let es = descriptor(&mut r, 3)?;
            let mut es = Reader::new(es, "esds");
            es.u16()?;
            let flags = es.u8()?;
            if flags & 0x80 != 0 {
                es.u16()?;
            }
            if flags & 0x40 != 0 {
                let n = es.u8()?;
                es.take(usize::from(n))?;
            }
            if flags & 0x20 != 0 {
                es.u16()?;
            }
            let dc = descriptor(&mut es, 4)?;
            let mut dc = Reader::new(dc, "esds");
            let oti = dc.u8()?;
            if oti != 0x40 && !(0x66..=0x68).contains(&oti) {
                return Err(MediaError::UnsupportedCodec {
                    kind: "audio",
                    codec: format!("MP4 object type {oti:#04x}"),
                });
            }
            dc.take(12)?;
            let asc = descriptor(&mut dc, 5)?;
            return AacConfig::parse(asc).map_err(|e| mp4_err(format!("esds: {e}")));
        }
    }
    Err(mp4_err("mp4a sample entry without esds"))
}

/// Skips descriptors until one with `tag`; returns its payload.
fn descriptor<'a>(r: &mut Reader<'a>, tag: u8) -> Result<&'a [u8], MediaError> {
    loop {
        let t = r.u8()?;
        let mut len = 0usize;
        for _ in 0..4 {
            let b = r.u8()?;
            len = (len << 7) | usize::from(b & 0x7F);
            if b & 0x80 == 0 {
                break;
            }
        }
        let body = r.take(len)?;
        if t == tag {
            return Ok(body);
        }
    }
}

/// Reads the parameter sets (Annex B, each behind a 4-byte start code) and NAL length size
/// from an `avcC` or `hvcC` box.
pub(super) fn read_param_sets(kind: &[u8; 4], body: &[u8]) -> Result<(Vec<u8>, usize), MediaError> {
    let mut out = Vec::new();
    if kind == b"avcC" {
        let cfg = crate::h264::AvcConfig::parse(body).map_err(|e| mp4_err(format!("avcC: {e}")))?;
        cfg.write_parameter_sets(&mut out);
        return Ok((out, cfg.nal_length_size));
    }
    let mut r = Reader::new(body, "hvcC");
    r.take(21)?;
    let length_size = usize::from(r.u8()? & 3) + 1;
    if length_size == 3 {
        return Err(mp4_err("hvcC NAL length size 3"));
    }
    for _ in 0..r.u8()? {
        r.u8()?;
        for _ in 0..r.u16()? {
            let len = usize::from(r.u16()?);
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(r.take(len)?);
        }
    }
    Ok((out, length_size))
}
