//! AAC framing: the `AudioSpecificConfig` that FLV and MP4 carry once, and the 7-byte ADTS
//! header that MPEG-TS needs before every frame. Pure; fuzzed through the FLV target.

use crate::MediaError;

/// What ADTS needs from an `AudioSpecificConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// Audio object type of the core codec (2 = AAC LC).
    pub object_type: u8,
    /// Sampling frequency index of the core codec.
    pub sampling_index: u8,
    /// Channel configuration.
    pub channels: u8,
}

impl AacConfig {
    /// Parses an `AudioSpecificConfig` (ISO/IEC 14496-3 1.6.2.1). With explicit SBR/PS
    /// signalling the core object type and rate are kept, as ADTS wants. Pure; fuzzed.
    pub fn parse(asc: &[u8]) -> Result<Self, MediaError> {
        let bad = |reason| MediaError::Flv {
            kind: "audio",
            reason,
        };
        let mut bits = Bits { data: asc, pos: 0 };
        let mut object_type = read_object_type(&mut bits).ok_or(bad("AAC config cut short"))?;
        let sampling_index = bits.read(4).ok_or(bad("AAC config cut short"))?;
        if sampling_index == 15 {
            return Err(bad("explicit AAC sample rates cannot be carried in ADTS"));
        }
        if sampling_index > 12 {
            return Err(bad("reserved AAC sampling frequency index"));
        }
        let channels = bits.read(4).ok_or(bad("AAC config cut short"))?;
        if object_type == 5 || object_type == 29 {
            // SBR / PS: an extension rate, then the core object type.
            let ext = bits.read(4).ok_or(bad("AAC config cut short"))?;
            if ext == 15 {
                bits.read(24).ok_or(bad("AAC config cut short"))?;
            }
            object_type = read_object_type(&mut bits).ok_or(bad("AAC config cut short"))?;
        }
        if !(1..=4).contains(&object_type) {
            return Err(bad(
                "AAC object type cannot be carried in ADTS (only 1 to 4)",
            ));
        }
        if channels > 7 {
            return Err(bad("AAC channel configuration outside 0..=7"));
        }
        Ok(Self {
            object_type,
            sampling_index: u8::try_from(sampling_index).unwrap_or(0),
            channels: u8::try_from(channels).unwrap_or(0),
        })
    }

    /// The ADTS header for a raw frame of `payload_len` bytes.
    pub fn adts_header(&self, payload_len: usize) -> Result<[u8; 7], MediaError> {
        let frame_len = payload_len + 7;
        if frame_len > 0x1FFF {
            return Err(MediaError::Flv {
                kind: "audio",
                reason: "AAC frame longer than ADTS allows (8191 bytes)",
            });
        }
        // frame_len < 2^13 (checked above), so these casts keep every bit.
        let len = frame_len as u16;
        let profile = self.object_type - 1;
        Ok([
            0xFF,
            0xF1, // MPEG-4, layer 0, no CRC
            (profile << 6) | (self.sampling_index << 2) | (self.channels >> 2),
            ((self.channels & 3) << 6) | ((len >> 11) as u8 & 0x03),
            ((len >> 3) & 0xFF) as u8,
            (((len & 7) as u8) << 5) | 0x1F, // buffer fullness 0x7FF (VBR)
            0xFC,
        ])
    }
}

fn read_object_type(bits: &mut Bits<'_>) -> Option<u8> {
    let t = bits.read(5)?;
    let t = if t == 31 { 32 + bits.read(6)? } else { t };
    u8::try_from(t).ok()
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_stereo_44k1() {
        // AAC LC, 44.1 kHz (index 4), stereo: 0x12 0x10.
        let cfg = AacConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(
            cfg,
            AacConfig {
                object_type: 2,
                sampling_index: 4,
                channels: 2
            }
        );
        let h = cfg.adts_header(100).unwrap();
        assert_eq!(h, [0xFF, 0xF1, 0x50, 0x80, 0x0D, 0x7F, 0xFC]);
        assert!(cfg.adts_header(9000).is_err());
    }

    #[test]
    fn he_aac_keeps_core() {
        // AOT 5 (SBR), index 6 (24 kHz core), stereo, ext index 3 (48 kHz), core AOT 2.
        // bits: 00101 0110 0010 0011 00010 -> 0x2B 0x11 0x88
        let cfg = AacConfig::parse(&[0x2B, 0x11, 0x88]).unwrap();
        assert_eq!(
            (cfg.object_type, cfg.sampling_index, cfg.channels),
            (2, 6, 2)
        );
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(AacConfig::parse(&[]).is_err());
        assert!(AacConfig::parse(&[0x12]).is_err());
        // explicit frequency (index 15)
        assert!(AacConfig::parse(&[0x17, 0x80, 0, 0, 0]).is_err());
        // object type 6 is not ADTS-able
        assert!(AacConfig::parse(&[0x32, 0x10]).is_err());
    }
}
