//! What reading and writing share: transport packet constants and PIDs, and the PSI
//! sections (PAT, PMT) with their CRC-32/MPEG-2.

use crate::codec::VideoCodec;
use crate::media::AudioCodec;

/// Bytes in a transport packet.
pub const PACKET_SIZE: usize = 188;
pub(super) const SYNC: u8 = 0x47;
pub(super) const PID_PAT: u16 = 0;
pub(super) const PID_PMT: u16 = 0x1000;
pub(super) const PID_VIDEO: u16 = 0x100;
pub(super) const PID_AUDIO: u16 = 0x101;
pub(super) const STREAM_TYPE_H264: u8 = 0x1B;
pub(super) const STREAM_TYPE_HEVC: u8 = 0x24;
/// Largest PSI section (ISO/IEC 13818-1 2.4.4.11: section_length ≤ 1021).
pub(super) const MAX_SECTION: usize = 1024;
/// Largest PES we assemble; a single access unit never comes near it.
pub(super) const MAX_PES: usize = 32 << 20;
pub(super) fn pat_section() -> Vec<u8> {
    let mut s = vec![0x00, 0xB0, 0, 0x00, 0x01, 0xC1, 0x00, 0x00];
    s.extend_from_slice(&[0x00, 0x01, 0xE0 | (PID_PMT >> 8) as u8, PID_PMT as u8]);
    finish_section(s)
}

pub(super) fn pmt_section(video: Option<VideoCodec>, audio: Option<AudioCodec>) -> Vec<u8> {
    let pcr_pid = if video.is_some() {
        PID_VIDEO
    } else {
        PID_AUDIO
    };
    let mut s = vec![0x02, 0xB0, 0, 0x00, 0x01, 0xC1, 0x00, 0x00];
    s.extend_from_slice(&[0xE0 | (pcr_pid >> 8) as u8, pcr_pid as u8, 0xF0, 0x00]);
    if let Some(codec) = video {
        let stream_type = if codec == VideoCodec::Hevc {
            STREAM_TYPE_HEVC
        } else {
            STREAM_TYPE_H264
        };
        s.extend_from_slice(&[
            stream_type,
            0xE0 | (PID_VIDEO >> 8) as u8,
            PID_VIDEO as u8,
            0xF0,
            0,
        ]);
    }
    if let Some(codec) = audio {
        s.extend_from_slice(&[
            codec.stream_type(),
            0xE0 | (PID_AUDIO >> 8) as u8,
            PID_AUDIO as u8,
            0xF0,
            0,
        ]);
    }
    finish_section(s)
}

/// Fills in section_length and appends the CRC.
pub(super) fn finish_section(mut s: Vec<u8>) -> Vec<u8> {
    let section_len = s.len() - 3 + 4;
    s[1] = 0xB0 | ((section_len >> 8) as u8 & 0x0F);
    s[2] = section_len as u8;
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32/MPEG-2; over a section including its CRC it is 0.
pub(super) fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize]
    })
}
