//! H.264 byte-stream helpers: Annex B NAL unit iteration, keyframe detection, and the
//! `avcC` record and length-prefixed form that FLV and MP4 carry. Pure; fuzzed through the
//! FLV and TS targets.

use crate::MediaError;

/// Access unit delimiter NAL (primary_pic_type 7: any slice type), with its start code.
pub(crate) const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];

/// NAL unit types we look at.
pub(crate) mod nal {
    pub(crate) const IDR: u8 = 5;
    pub(crate) const SPS: u8 = 7;
    pub(crate) const AUD: u8 = 9;
}

/// The NAL units of an Annex B byte stream (without start codes).
pub(crate) fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = find_start(data, 0);
    std::iter::from_fn(move || {
        let (_, body_start) = pos?;
        let next = find_start(data, body_start);
        let end = next.map_or(data.len(), |(s, _)| s);
        pos = next;
        let mut unit = &data[body_start..end];
        // Trailing zero bytes belong to the next start code (0x00000001) or are padding.
        while let [rest @ .., 0] = unit {
            unit = rest;
        }
        Some(unit)
    })
}

/// Finds the next start code at or after `from`: (index of its first byte, index after it).
fn find_start(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 {
            if data[i + 2] == 1 {
                return Some((i, i + 3));
            }
            if data[i + 2] == 0 && i + 4 <= data.len() && data[i + 3] == 1 {
                return Some((i, i + 4));
            }
        }
        i += 1;
    }
    None
}

/// The NAL unit type of a unit (low 5 bits of its first byte).
pub(crate) fn nal_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| b & 0x1F)
}

/// Whether an Annex B access unit holds an IDR slice.
pub(crate) fn is_keyframe(annexb: &[u8]) -> bool {
    nal_units(annexb).any(|u| nal_type(u) == Some(nal::IDR))
}

/// An HEVC access unit delimiter (NAL type 35, any picture type), which MPEG-TS wants
/// before every HEVC access unit as it does for H.264.
pub(crate) const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

/// An HEVC NAL unit's type.
fn hevc_nal_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| (b >> 1) & 0x3F)
}

/// Whether an HEVC Annex B access unit is a random access point (BLA, IDR or CRA: NAL
/// types 16 to 21).
pub(crate) fn hevc_is_keyframe(annexb: &[u8]) -> bool {
    nal_units(annexb).any(|u| hevc_nal_type(u).is_some_and(|t| (16..=21).contains(&t)))
}

/// Whether an HEVC Annex B access unit starts with an access unit delimiter.
pub(crate) fn hevc_starts_with_aud(annexb: &[u8]) -> bool {
    nal_units(annexb).next().and_then(hevc_nal_type) == Some(35)
}

/// Whether an Annex B access unit starts with an access unit delimiter.
pub(crate) fn starts_with_aud(annexb: &[u8]) -> bool {
    nal_units(annexb).next().and_then(nal_type) == Some(nal::AUD)
}

/// An `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 `avcC`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// Bytes in each NAL length prefix (1, 2 or 4).
    pub nal_length_size: usize,
    /// Sequence parameter sets.
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets.
    pub pps: Vec<Vec<u8>>,
}

impl AvcConfig {
    /// Parses an `avcC` record. Pure; fuzzed.
    pub fn parse(record: &[u8]) -> Result<Self, MediaError> {
        let bad = |reason| MediaError::Flv {
            kind: "video",
            reason,
        };
        if record.len() < 7 {
            return Err(bad("AVC sequence header shorter than 7 bytes"));
        }
        if record[0] != 1 {
            return Err(bad("AVC sequence header version is not 1"));
        }
        let nal_length_size = usize::from(record[4] & 0x03) + 1;
        if nal_length_size == 3 {
            return Err(bad("NAL length size 3 is not allowed"));
        }
        let mut rest = &record[5..];
        let read_sets = |count: usize, rest: &mut &[u8]| -> Result<Vec<Vec<u8>>, MediaError> {
            let mut sets = Vec::with_capacity(count);
            for _ in 0..count {
                let [a, b, tail @ ..] = *rest else {
                    return Err(bad("parameter set length cut short"));
                };
                let len = usize::from(u16::from_be_bytes([*a, *b]));
                if len == 0 || tail.len() < len {
                    return Err(bad("parameter set longer than the record"));
                }
                sets.push(tail[..len].to_vec());
                *rest = &tail[len..];
            }
            Ok(sets)
        };
        let sps_count = usize::from(rest[0] & 0x1F);
        rest = &rest[1..];
        let sps = read_sets(sps_count, &mut rest)?;
        let [pps_count, tail @ ..] = rest else {
            return Err(bad("PPS count missing"));
        };
        let mut tail = tail;
        let pps = read_sets(usize::from(*pps_count), &mut tail)?;
        if sps.is_empty() || pps.is_empty() {
            return Err(bad("AVC sequence header without SPS or PPS"));
        }
        Ok(Self {
            nal_length_size,
            sps,
            pps,
        })
    }

    /// Appends the parameter sets in Annex B form.
    pub(crate) fn write_parameter_sets(&self, out: &mut Vec<u8>) {
        for set in self.sps.iter().chain(&self.pps) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(set);
        }
    }
}

/// Converts length-prefixed NAL units (FLV, MP4) to Annex B, appending to `out`. Returns
/// whether an IDR slice was seen. Pure; fuzzed.
pub(crate) fn length_prefixed_to_annexb(
    mut data: &[u8],
    nal_length_size: usize,
    out: &mut Vec<u8>,
) -> Result<bool, MediaError> {
    let bad = |reason| MediaError::Flv {
        kind: "video",
        reason,
    };
    let mut idr = false;
    while !data.is_empty() {
        if data.len() < nal_length_size {
            return Err(bad("NAL length prefix cut short"));
        }
        let (prefix, rest) = data.split_at(nal_length_size);
        let len = prefix
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len > rest.len() {
            return Err(bad("NAL unit longer than the packet"));
        }
        let (unit, rest) = rest.split_at(len);
        if !unit.is_empty() {
            idr |= nal_type(unit) == Some(nal::IDR);
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(unit);
        }
        data = rest;
    }
    Ok(idr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_annexb_units() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9,
        ];
        let units: Vec<&[u8]> = nal_units(&data).collect();
        assert_eq!(
            units,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 9, 9][..]]
        );
        assert!(is_keyframe(&data));
        assert!(!is_keyframe(&[0, 0, 1, 0x41, 1]));
        assert!(starts_with_aud(&AUD));
        assert_eq!(nal_units(&[1, 2, 3]).count(), 0);
    }

    #[test]
    fn parses_avcc_and_converts() {
        let record = [
            1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 0xaa, 0xbb, 1, 0, 2, 0x68, 0xcc,
        ];
        let cfg = AvcConfig::parse(&record).unwrap();
        assert_eq!(cfg.nal_length_size, 4);
        assert_eq!(cfg.sps, vec![vec![0x67, 0xaa, 0xbb]]);
        assert_eq!(cfg.pps, vec![vec![0x68, 0xcc]]);
        let mut out = Vec::new();
        cfg.write_parameter_sets(&mut out);
        assert_eq!(out, [0, 0, 0, 1, 0x67, 0xaa, 0xbb, 0, 0, 0, 1, 0x68, 0xcc]);

        let mut out = Vec::new();
        let idr = length_prefixed_to_annexb(&[0, 0, 0, 2, 0x65, 7, 0, 0, 0, 1, 0x41], 4, &mut out)
            .unwrap();
        assert!(idr);
        assert_eq!(out, [0, 0, 0, 1, 0x65, 7, 0, 0, 0, 1, 0x41]);
        assert!(length_prefixed_to_annexb(&[0, 0, 0, 9, 0x65], 4, &mut out).is_err());
        assert!(AvcConfig::parse(&record[..10]).is_err());
        assert!(AvcConfig::parse(&[2; 7]).is_err());
    }
}
