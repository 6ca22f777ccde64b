//! AV1 in its low-overhead bitstream format (ISO/IEC AV1 section 5): OBU framing, and the
//! sequence header that `av1C` and the `CODECS` string are built from.

use super::bits::{Bits, bitstream};
use crate::MediaError;

/// An OBU of a low-overhead AV1 stream: (type, whole OBU bytes, payload).
pub(crate) fn av1_obus(
    mut data: &[u8],
) -> impl Iterator<Item = Result<(u8, &[u8], &[u8]), MediaError>> {
    std::iter::from_fn(move || {
        let whole = data;
        let &header = data.first()?;
        let mut pos = if header & 4 != 0 { 2 } else { 1 };
        let size = if header & 2 != 0 {
            let mut size = 0u64;
            let mut i = 0;
            loop {
                let Some(&b) = data.get(pos) else {
                    data = &[];
                    return Some(Err(bitstream("AV1", "OBU size cut short")));
                };
                pos += 1;
                size |= u64::from(b & 0x7F) << (7 * i);
                i += 1;
                if b & 0x80 == 0 || i == 8 {
                    break;
                }
            }
            size
        } else {
            data.len().saturating_sub(pos) as u64
        };
        let end = usize::try_from(size).ok().and_then(|s| pos.checked_add(s));
        match end {
            Some(end) if end <= data.len() && pos <= data.len() => {
                data = &data[end..];
                Some(Ok(((header >> 3) & 0xF, &whole[..end], &whole[pos..end])))
            }
            _ => {
                data = &[];
                Some(Err(bitstream("AV1", "OBU longer than the temporal unit")))
            }
        }
    })
}

/// What `av1C` and the `CODECS` string need from an AV1 sequence header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Av1Sequence {
    pub(crate) profile: u8,
    pub(crate) level: u8,
    pub(crate) tier: u8,
    pub(crate) bit_depth: u8,
    pub(crate) monochrome: bool,
    pub(crate) subsampling_x: bool,
    pub(crate) subsampling_y: bool,
    pub(crate) chroma_sample_position: u8,
}

/// Finds and parses the sequence header OBU (type 1) of a temporal unit; also returns the
/// whole OBU, which `av1C` carries as its config OBU.
pub(crate) fn av1_sequence_header(tu: &[u8]) -> Result<(Av1Sequence, &[u8]), MediaError> {
    for obu in av1_obus(tu) {
        let (kind, whole, payload) = obu?;
        if kind == 1 {
            let seq = parse_av1_sequence(payload)
                .ok_or_else(|| bitstream("AV1", "sequence header cut short or invalid"))?;
            return Ok((seq, whole));
        }
    }
    Err(bitstream("AV1", "no sequence header OBU in the keyframe"))
}

/// Reads a sequence header OBU (AV1 bitstream section 5.5.1) as far as `color_config`.
fn parse_av1_sequence(payload: &[u8]) -> Option<Av1Sequence> {
    let mut b = Bits::new(payload);
    let profile = b.u8(3)?;
    b.read(1)?; // still_picture
    let reduced = b.flag()?;
    let (level, tier);
    if reduced {
        level = b.u8(5)?;
        tier = 0;
    } else {
        let mut decoder_model = false;
        let mut buffer_delay_len = 0;
        if b.flag()? {
            // timing_info
            b.read(64)?;
            if b.flag()? {
                // uvlc num_ticks_per_picture_minus_1
                let mut zeros = 0;
                while !b.flag()? {
                    zeros += 1;
                    if zeros >= 32 {
                        return None;
                    }
                }
                b.read(zeros)?;
            }
            decoder_model = b.flag()?;
            if decoder_model {
                buffer_delay_len = b.read(5)? as u32 + 1;
                b.read(32 + 5 + 5)?;
            }
        }
        let initial_display_delay = b.flag()?;
        let ops = b.read(5)? + 1;
        let mut first = None;
        for _ in 0..ops {
            b.read(12)?; // operating_point_idc
            let lvl = b.u8(5)?;
            let t = if lvl > 7 { b.u8(1)? } else { 0 };
            first.get_or_insert((lvl, t));
            if decoder_model && b.flag()? {
                // decoder_buffer_delay, encoder_buffer_delay, low_delay_mode_flag.
                b.read(buffer_delay_len)?;
                b.read(buffer_delay_len + 1)?;
            }
            if initial_display_delay && b.flag()? {
                b.read(4)?;
            }
        }
        (level, tier) = first?;
    }
    let width_bits = b.read(4)? as u32 + 1;
    let height_bits = b.read(4)? as u32 + 1;
    b.read(width_bits + height_bits)?;
    if !reduced && b.flag()? {
        b.read(7)?; // frame id lengths
    }
    b.read(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced {
        b.read(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = b.flag()?;
        if order_hint {
            b.read(2)?; // jnt_comp, ref_frame_mvs
        }
        let force_screen_content = if b.flag()? { 2 } else { b.read(1)? };
        if force_screen_content > 0 && !b.flag()? {
            b.read(1)?; // seq_force_integer_mv
        }
        if order_hint {
            b.read(3)?;
        }
    }
    b.read(3)?; // superres, cdef, restoration
    // color_config
    let high_bitdepth = b.flag()?;
    let bit_depth = match (profile, high_bitdepth) {
        (2, true) if b.flag()? => 12,
        (_, true) => 10,
        (_, false) => 8,
    };
    let monochrome = profile != 1 && b.flag()?;
    let (cp, tc, mc) = if b.flag()? {
        (b.read(8)?, b.read(8)?, b.read(8)?)
    } else {
        (2, 2, 2)
    };
    let (mut ssx, mut ssy, mut csp) = (true, true, 0);
    if !monochrome {
        if cp == 1 && tc == 13 && mc == 0 {
            (ssx, ssy) = (false, false);
        } else {
            b.read(1)?; // color_range
            match profile {
                0 => {}
                1 => (ssx, ssy) = (false, false),
                _ if bit_depth == 12 => {
                    ssx = b.flag()?;
                    ssy = ssx && b.flag()?;
                }
                _ => (ssx, ssy) = (true, false),
            }
            if ssx && ssy {
                csp = b.u8(2)?;
            }
        }
    }
    Some(Av1Sequence {
        profile,
        level,
        tier,
        bit_depth,
        monochrome,
        subsampling_x: ssx,
        subsampling_y: ssy,
        chroma_sample_position: csp,
    })
}
