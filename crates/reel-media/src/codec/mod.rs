//! Video codecs a rendition can be encoded in, and the RFC 6381 `CODECS` strings that HLS
//! playlists and MSE need, read from the bitstream itself. Also the bitstream headers the
//! fragmented MP4 muxer needs for its sample entries (HEVC SPS, VP9/VP8 keyframe headers,
//! the AV1 sequence header, whose parser lives in `fmp4/av1.rs`). Pure and bounded;
//! fuzzed through the fMP4 target.

use crate::MediaError;

mod av1;
mod bits;

use crate::h264::nal_units;
pub(crate) use av1::{av1_obus, av1_sequence_header};
pub(crate) use bits::{Bits, bitstream};

/// A video codec a rendition can be encoded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VideoCodec {
    /// H.264 / AVC.
    #[default]
    H264,
    /// H.265 / HEVC.
    Hevc,
    /// VP8.
    Vp8,
    /// VP9.
    Vp9,
    /// AV1.
    Av1,
}

impl VideoCodec {
    /// The name go-livepeer uses in its JSON ("AV1" is reel's extension).
    pub fn name(self) -> &'static str {
        match self {
            Self::H264 => "H264",
            Self::Hevc => "HEVC",
            Self::Vp8 => "VP8",
            Self::Vp9 => "VP9",
            Self::Av1 => "AV1",
        }
    }

    /// Parses a name as [`VideoCodec::name`] writes it, case-insensitive; "H265" is HEVC.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::H264, Self::Hevc, Self::Vp8, Self::Vp9, Self::Av1]
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s))
            .or_else(|| s.eq_ignore_ascii_case("H265").then_some(Self::Hevc))
    }

    /// The FFmpeg codec id.
    pub fn ffmpeg_id(self) -> ffmpeg_next::codec::Id {
        use ffmpeg_next::codec::Id;
        match self {
            Self::H264 => Id::H264,
            Self::Hevc => Id::HEVC,
            Self::Vp8 => Id::VP8,
            Self::Vp9 => Id::VP9,
            Self::Av1 => Id::AV1,
        }
    }

    /// Whether renditions in this codec must be packaged as fragmented MP4, because
    /// MPEG-TS has no standard mapping for it.
    pub fn needs_fmp4(self) -> bool {
        matches!(self, Self::Vp8 | Self::Vp9 | Self::Av1)
    }
}

/// Audio codecs carried through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioCodec {
    /// AAC in ADTS frames (TS stream type 0x0F).
    Aac,
    /// MPEG-1/2 layer III (TS stream type 0x03).
    Mp3,
}

impl AudioCodec {
    /// The PMT stream type.
    pub fn stream_type(self) -> u8 {
        match self {
            Self::Aac => 0x0F,
            Self::Mp3 => 0x03,
        }
    }

    /// The codec for a PMT stream type, if it is one we carry.
    pub fn from_stream_type(stream_type: u8) -> Option<Self> {
        match stream_type {
            0x0F => Some(Self::Aac),
            0x03 | 0x04 => Some(Self::Mp3),
            _ => None,
        }
    }
}

/// RFC 6381 `CODECS` value for a video stream, read from its first keyframe's access unit.
///
/// VP9 levels are chosen from the picture size alone (see `vp9_level`); VP8 is `vp8`,
/// the form browsers accept.
pub fn video_codecs_attribute(codec: VideoCodec, keyframe: &[u8]) -> Result<String, MediaError> {
    match codec {
        VideoCodec::H264 => {
            let sps = nal_units(keyframe)
                .find(|u| u.first().map(|b| b & 0x1F) == Some(7))
                .ok_or_else(|| bitstream("H.264", "no SPS in the keyframe"))?;
            match sps {
                [_, profile, constraints, level, ..] => {
                    Ok(format!("avc1.{profile:02X}{constraints:02X}{level:02X}"))
                }
                _ => Err(bitstream("H.264", "SPS cut short")),
            }
        }
        VideoCodec::Hevc => {
            let sps = hevc_sps(keyframe)?;
            Ok(sps.codecs_attribute())
        }
        VideoCodec::Vp8 => {
            vp8_header(keyframe)?;
            Ok("vp8".to_owned())
        }
        VideoCodec::Vp9 => {
            let h = vp9_header(keyframe)?;
            Ok(format!(
                "vp09.{:02}.{:02}.{:02}",
                h.profile,
                vp9_level(h.width, h.height),
                h.bit_depth
            ))
        }
        VideoCodec::Av1 => {
            let (seq, _) = av1_sequence_header(keyframe)?;
            Ok(format!(
                "av01.{}.{:02}{}.{:02}",
                seq.profile,
                seq.level,
                if seq.tier == 1 { 'H' } else { 'M' },
                seq.bit_depth
            ))
        }
    }
}

/// "mp4a.40.<object type>" for AAC (from the first ADTS header), "mp4a.40.34" for MP3.
pub fn audio_codecs_attribute(codec: AudioCodec, first_frame: &[u8]) -> Result<String, MediaError> {
    match codec {
        AudioCodec::Aac => match first_frame {
            [0xFF, b1, b2, ..] if b1 & 0xF6 == 0xF0 => Ok(format!("mp4a.40.{}", (b2 >> 6) + 1)),
            _ => Err(bitstream("AAC", "first frame has no ADTS header")),
        },
        AudioCodec::Mp3 => Ok("mp4a.40.34".to_owned()),
    }
}

/// Removes emulation-prevention bytes (00 00 03 → 00 00) from a NAL unit.
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// The HEVC NAL unit type (6 bits after the forbidden bit).
pub(crate) fn hevc_nal_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| (b >> 1) & 0x3F)
}

/// What `hvcC` and the `CODECS` string need from an HEVC SPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HevcSps {
    /// The 12 bytes of general profile_tier_level, as `hvcC` stores them.
    pub(crate) ptl: [u8; 12],
    pub(crate) max_sub_layers: u8,
    pub(crate) temporal_id_nesting: bool,
    pub(crate) chroma_format_idc: u8,
    pub(crate) bit_depth_luma_minus8: u8,
    pub(crate) bit_depth_chroma_minus8: u8,
}

impl HevcSps {
    fn codecs_attribute(&self) -> String {
        let p = &self.ptl;
        let space = ["", "A", "B", "C"][usize::from(p[0] >> 6)];
        let compat = u32::from_be_bytes([p[1], p[2], p[3], p[4]]).reverse_bits();
        let tier = if p[0] & 0x20 != 0 { 'H' } else { 'L' };
        let mut s = format!("hvc1.{space}{}.{compat:X}.{tier}{}", p[0] & 0x1F, p[11]);
        let constraints = &p[5..11];
        let used = constraints
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in &constraints[..used] {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }
}

/// Parses the first SPS (NAL type 33) of an HEVC Annex B access unit.
pub(crate) fn hevc_sps(annexb: &[u8]) -> Result<HevcSps, MediaError> {
    let nal = nal_units(annexb)
        .find(|u| hevc_nal_type(u) == Some(33))
        .ok_or_else(|| bitstream("HEVC", "no SPS in the keyframe"))?;
    let rbsp = unescape(nal);
    parse_hevc_sps(rbsp.get(2..).unwrap_or_default())
        .ok_or_else(|| bitstream("HEVC", "SPS cut short or invalid"))
}

fn parse_hevc_sps(rbsp: &[u8]) -> Option<HevcSps> {
    let mut b = Bits::new(rbsp);
    b.read(4)?; // sps_video_parameter_set_id
    let sub_layers_minus1 = b.u8(3)?;
    let temporal_id_nesting = b.flag()?;
    let mut ptl = [0u8; 12];
    for byte in &mut ptl {
        *byte = b.u8(8)?;
    }
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(usize::from(sub_layers_minus1)) {
        *p = (b.flag()?, b.flag()?);
    }
    if sub_layers_minus1 > 0 {
        b.read(2 * (8 - u32::from(sub_layers_minus1)))?;
    }
    for &(profile, level) in present.iter().take(usize::from(sub_layers_minus1)) {
        if profile {
            b.read(88)?;
        }
        if level {
            b.read(8)?;
        }
    }
    b.ue()?; // sps_seq_parameter_set_id
    let chroma_format_idc = u8::try_from(b.ue()?).ok().filter(|c| *c <= 3)?;
    if chroma_format_idc == 3 {
        b.read(1)?;
    }
    b.ue()?; // pic_width_in_luma_samples
    b.ue()?; // pic_height_in_luma_samples
    if b.flag()? {
        for _ in 0..4 {
            b.ue()?;
        }
    }
    let bit_depth_luma_minus8 = u8::try_from(b.ue()?).ok().filter(|d| *d <= 8)?;
    let bit_depth_chroma_minus8 = u8::try_from(b.ue()?).ok().filter(|d| *d <= 8)?;
    Some(HevcSps {
        ptl,
        max_sub_layers: sub_layers_minus1 + 1,
        temporal_id_nesting,
        chroma_format_idc,
        bit_depth_luma_minus8,
        bit_depth_chroma_minus8,
    })
}

/// What `vpcC` and the `CODECS` string need from a VP8 or VP9 keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VpxHeader {
    pub(crate) profile: u8,
    pub(crate) bit_depth: u8,
    /// `vpcC` chromaSubsampling: 1 = 4:2:0, 2 = 4:2:2, 3 = 4:4:4.
    pub(crate) chroma_subsampling: u8,
    pub(crate) full_range: bool,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// Parses a VP8 keyframe's frame tag and start code.
pub(crate) fn vp8_header(frame: &[u8]) -> Result<VpxHeader, MediaError> {
    match frame {
        [tag, _, _, 0x9D, 0x01, 0x2A, w0, w1, h0, h1, ..] if tag & 1 == 0 => Ok(VpxHeader {
            profile: (tag >> 1) & 7,
            bit_depth: 8,
            chroma_subsampling: 1,
            full_range: false,
            width: u32::from(u16::from_le_bytes([*w0, *w1]) & 0x3FFF),
            height: u32::from(u16::from_le_bytes([*h0, *h1]) & 0x3FFF),
        }),
        _ => Err(bitstream("VP8", "not a VP8 keyframe")),
    }
}

/// The frames of a VP9 superframe (or the one frame of a plain frame).
fn vp9_frames(data: &[u8]) -> Vec<&[u8]> {
    let Some(&marker) = data.last() else {
        return Vec::new();
    };
    if marker & 0xE0 == 0xC0 {
        let count = usize::from(marker & 7) + 1;
        let size_bytes = usize::from((marker >> 3) & 3) + 1;
        let index_len = 2 + size_bytes * count;
        if data.len() >= index_len && data[data.len() - index_len] == marker {
            let index = &data[data.len() - index_len + 1..data.len() - 1];
            let mut frames = Vec::with_capacity(count);
            let mut rest = &data[..data.len() - index_len];
            for size in index.chunks_exact(size_bytes) {
                let size = size
                    .iter()
                    .rev()
                    .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
                if size > rest.len() {
                    break;
                }
                let (frame, tail) = rest.split_at(size);
                frames.push(frame);
                rest = tail;
            }
            return frames;
        }
    }
    vec![data]
}

/// Parses the uncompressed header of the keyframe in a VP9 frame or superframe.
pub(crate) fn vp9_header(data: &[u8]) -> Result<VpxHeader, MediaError> {
    vp9_frames(data)
        .into_iter()
        .find_map(parse_vp9_keyframe)
        .ok_or_else(|| bitstream("VP9", "no VP9 keyframe header"))
}

fn parse_vp9_keyframe(frame: &[u8]) -> Option<VpxHeader> {
    let mut b = Bits::new(frame);
    if b.read(2)? != 2 {
        return None;
    }
    let low = b.u8(1)?;
    let profile = (b.u8(1)? << 1) | low;
    if profile == 3 {
        b.read(1)?;
    }
    // show_existing_frame, then frame_type 0 = KEY_FRAME.
    if b.flag()? || b.flag()? {
        return None;
    }
    b.read(2)?; // show_frame, error_resilient_mode
    if b.read(24)? != 0x49_83_42 {
        return None;
    }
    let bit_depth = match profile >= 2 {
        true if b.flag()? => 12,
        true => 10,
        false => 8,
    };
    let color_space = b.read(3)?;
    let (full_range, subsampling) = if color_space != 7 {
        let full = b.flag()?;
        let ss = if profile & 1 == 1 {
            let (x, y) = (b.flag()?, b.flag()?);
            b.read(1)?;
            (x, y)
        } else {
            (true, true)
        };
        (full, ss)
    } else {
        if profile & 1 == 1 {
            b.read(1)?;
        }
        (true, (false, false))
    };
    let width = u32::try_from(b.read(16)? + 1).ok()?;
    let height = u32::try_from(b.read(16)? + 1).ok()?;
    Some(VpxHeader {
        profile,
        bit_depth,
        chroma_subsampling: match subsampling {
            (true, true) => 1,
            (true, false) => 2,
            _ => 3,
        },
        full_range,
        width,
        height,
    })
}

/// The VP9 level (times ten) for a picture size: the lowest level of the VP9 level table
/// whose maximum picture size and maximum width/height hold the picture, and whose luma
/// sample rate holds it at 60 frames per second. The frame rate is not in the bitstream,
/// so assuming 60 fps is the conservative choice.
pub(crate) fn vp9_level(width: u32, height: u32) -> u8 {
    // (level, max picture size, max sample rate, max dimension)
    const LEVELS: [(u8, u64, u64, u32); 14] = [
        (10, 36_864, 829_440, 512),
        (11, 73_728, 2_764_800, 768),
        (20, 122_880, 4_608_000, 960),
        (21, 245_760, 9_216_000, 1_344),
        (30, 552_960, 20_736_000, 2_048),
        (31, 983_040, 36_864_000, 2_752),
        (40, 2_228_224, 83_558_400, 4_160),
        (41, 2_228_224, 160_432_128, 4_160),
        (50, 8_912_896, 311_951_360, 8_384),
        (51, 8_912_896, 588_251_136, 8_384),
        (52, 8_912_896, 1_176_502_272, 8_384),
        (60, 35_651_584, 1_176_502_272, 16_832),
        (61, 35_651_584, 2_353_004_544, 16_832),
        (62, 35_651_584, 4_706_009_088, 16_832),
    ];
    let size = u64::from(width) * u64::from(height);
    LEVELS
        .iter()
        .find(|(_, pic, rate, dim)| size <= *pic && size * 60 <= *rate && width.max(height) <= *dim)
        .map_or(62, |l| l.0)
}
