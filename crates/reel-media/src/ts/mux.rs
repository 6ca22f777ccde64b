//! Writing: segments with PAT and PMT first, continuity counters kept across the segments
//! of a rendition. Video is H.264 or HEVC, the codecs reel encodes that MPEG-TS carries
//! (the others go in fragmented MP4: `crate::fmp4`).

use bytes::Bytes;

use super::psi::{
    PACKET_SIZE, PID_AUDIO, PID_PAT, PID_PMT, PID_VIDEO, SYNC, pat_section, pmt_section,
};
use super::timestamp::{TS_WRAP, write_pcr, write_timestamp};
use crate::codec::VideoCodec;
use crate::h264;
use crate::media::{Segment, SegmentMedia, Track};

impl Segment {
    /// The segment as MPEG-TS bytes (PAT and PMT first, a keyframe first in the video).
    pub fn to_ts(&self) -> Bytes {
        mux_segment(&self.media)
    }
}

/// Muxes one segment: PAT and PMT, then every packet in the given order.
pub(crate) fn mux_segment(media: &SegmentMedia) -> Bytes {
    let mut out = Vec::with_capacity(media.payload_bytes() * 105 / 100 + 2 * PACKET_SIZE);
    TsMuxer::default().write_segment(media, &mut out);
    Bytes::from(out)
}

/// A TS writer that keeps continuity counters across the segments of one rendition.
#[derive(Debug, Default)]
pub(crate) struct TsMuxer {
    cc: [u8; 4],
}

impl TsMuxer {
    pub(crate) fn write_segment(&mut self, media: &SegmentMedia, out: &mut Vec<u8>) {
        let audio = media.audio;
        self.write_psi(out, PID_PAT, &pat_section());
        let hevc = media.video_codec == VideoCodec::Hevc;
        self.write_psi(
            out,
            PID_PMT,
            &pmt_section(media.has_video.then_some(media.video_codec), audio),
        );
        for p in &media.packets {
            match p.track {
                Track::Video => {
                    let aud: &[u8] = match hevc {
                        false if h264::starts_with_aud(&p.data) => &[],
                        false => &h264::AUD,
                        true if h264::hevc_starts_with_aud(&p.data) => &[],
                        true => &h264::HEVC_AUD,
                    };
                    // PCR runs a little ahead of decoding, as a real multiplexer's would.
                    let pcr = (p.dts - 9_000).rem_euclid(TS_WRAP);
                    self.write_pes(
                        out,
                        PID_VIDEO,
                        0xE0,
                        p.pts,
                        (p.dts != p.pts).then_some(p.dts),
                        &[aud, &p.data],
                        Some(pcr),
                        p.keyframe,
                    );
                }
                Track::Audio if audio.is_some() => {
                    let pcr = (!media.has_video).then(|| (p.pts - 9_000).rem_euclid(TS_WRAP));
                    self.write_pes(out, PID_AUDIO, 0xC0, p.pts, None, &[&p.data], pcr, true);
                }
                Track::Audio => {}
            }
        }
    }

    fn next_cc(&mut self, pid: u16) -> u8 {
        let i = match pid {
            PID_PAT => 0,
            PID_PMT => 1,
            PID_VIDEO => 2,
            _ => 3,
        };
        let cc = self.cc[i];
        self.cc[i] = (cc + 1) & 0x0F;
        cc
    }

    pub(super) fn write_psi(&mut self, out: &mut Vec<u8>, pid: u16, section: &[u8]) {
        let start = out.len();
        out.extend_from_slice(&[
            SYNC,
            0x40 | (pid >> 8) as u8,
            pid as u8,
            0x10 | self.next_cc(pid),
            0, // pointer_field
        ]);
        out.extend_from_slice(section);
        out.resize(start + PACKET_SIZE, 0xFF);
    }

    #[allow(clippy::too_many_arguments)] // one call site per track; a struct would only rename them
    fn write_pes(
        &mut self,
        out: &mut Vec<u8>,
        pid: u16,
        stream_id: u8,
        pts: i64,
        dts: Option<i64>,
        parts: &[&[u8]],
        pcr: Option<i64>,
        random_access: bool,
    ) {
        let payload_len: usize = parts.iter().map(|p| p.len()).sum();
        let header_data_len = if dts.is_some() { 10 } else { 5 };
        let pes_len = 3 + header_data_len + payload_len;
        let mut header = Vec::with_capacity(19);
        header.extend_from_slice(&[0, 0, 1, stream_id]);
        // 0 = unbounded, allowed for video only; audio PES always fit.
        let declared = u16::try_from(pes_len).unwrap_or(0);
        header.extend_from_slice(&declared.to_be_bytes());
        header.push(0x84); // '10', data_alignment_indicator
        match dts {
            Some(dts) => {
                header.push(0xC0);
                header.push(10);
                header.extend_from_slice(&write_timestamp(0x3, pts));
                header.extend_from_slice(&write_timestamp(0x1, dts));
            }
            None => {
                header.push(0x80);
                header.push(5);
                header.extend_from_slice(&write_timestamp(0x2, pts));
            }
        }
        let mut chunks = std::iter::once(&header[..]).chain(parts.iter().copied());
        let mut current: &[u8] = chunks.next().unwrap_or(&[]);
        let mut remaining = header.len() + payload_len;
        let mut first = true;
        while remaining > 0 {
            let start = out.len();
            out.extend_from_slice(&[
                SYNC,
                if first { 0x40 } else { 0 } | (pid >> 8) as u8,
                pid as u8,
                0, // flags and cc below
            ]);
            let cc = self.next_cc(pid);
            // Adaptation field contents for the first packet.
            let mut af: Vec<u8> = Vec::new();
            if first && (pcr.is_some() || random_access) {
                let mut flags = 0u8;
                if random_access {
                    flags |= 0x40;
                }
                if pcr.is_some() {
                    flags |= 0x10;
                }
                af.push(flags);
                if let Some(pcr) = pcr {
                    af.extend_from_slice(&write_pcr(pcr));
                }
            }
            let af_total = if af.is_empty() { 0 } else { 1 + af.len() };
            let space = PACKET_SIZE - 4 - af_total;
            let take = remaining.min(space);
            let stuffing = space - take;
            let af_total = if stuffing > 0 {
                if af.is_empty() {
                    // A field of `stuffing` bytes: the length byte, then flags and 0xFF.
                    if stuffing >= 2 {
                        af.push(0);
                        af.resize(stuffing - 1, 0xFF);
                    }
                    stuffing
                } else {
                    af.resize(af.len() + stuffing, 0xFF);
                    af_total + stuffing
                }
            } else {
                af_total
            };
            let afc = if af_total > 0 { 0x30 } else { 0x10 };
            out[start + 3] = afc | cc;
            if af_total > 0 {
                out.push((af_total - 1) as u8);
                out.extend_from_slice(&af);
            }
            let mut need = take;
            while need > 0 {
                if current.is_empty() {
                    current = chunks.next().unwrap_or(&[]);
                    continue;
                }
                let n = need.min(current.len());
                out.extend_from_slice(&current[..n]);
                current = &current[n..];
                need -= n;
            }
            debug_assert_eq!(out.len() - start, PACKET_SIZE);
            remaining -= take;
            first = false;
        }
    }
}
