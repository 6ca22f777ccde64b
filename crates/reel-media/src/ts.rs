//! MPEG-TS (ISO/IEC 13818-1) reading and writing for segments: just what HLS and Livepeer
//! segments use (one program, H.264 video, AAC or MP3 audio). Both directions are pure
//! functions over bytes; [`demux`] is fuzzed.
//!
//! Reading is strict where a sloppy reader would hide damage: a segment must be a whole
//! number of 188-byte packets, each starting with 0x47; PSI sections must pass their CRC;
//! video decode timestamps must not go backwards.

use bytes::Bytes;

use crate::MediaError;
use crate::h264;
use crate::media::{AudioCodec, Packet, SegmentMedia, Track};

/// Bytes in a transport packet.
pub const PACKET_SIZE: usize = 188;
const SYNC: u8 = 0x47;
const PID_PAT: u16 = 0;
const PID_PMT: u16 = 0x1000;
const PID_VIDEO: u16 = 0x100;
const PID_AUDIO: u16 = 0x101;
const STREAM_TYPE_H264: u8 = 0x1B;
/// Largest PSI section (ISO/IEC 13818-1 2.4.4.11: section_length ≤ 1021).
const MAX_SECTION: usize = 1024;
/// Largest PES we assemble; a single access unit never comes near it.
const MAX_PES: usize = 32 << 20;
const TS_WRAP: i64 = 1 << 33;

// ---------------------------------------------------------------------------------------
// Reading

/// Demuxes a whole MPEG-TS segment into its H.264 access units and audio frames.
/// Pure; fuzzed.
pub fn demux(data: &[u8]) -> Result<SegmentMedia, MediaError> {
    if data.is_empty() {
        return Err(MediaError::EmptySegment);
    }
    let rest = data.len() % PACKET_SIZE;
    if rest != 0 {
        return Err(MediaError::TruncatedTs {
            len: data.len(),
            rest,
        });
    }
    let mut d = Demuxer::default();
    for (i, packet) in data.chunks_exact(PACKET_SIZE).enumerate() {
        d.packet(i * PACKET_SIZE, packet)?;
    }
    d.finish(data.len())
}

#[derive(Default)]
struct Demuxer {
    pat: Section,
    pmt_pid: Option<u16>,
    pmt: Section,
    streams: Option<Streams>,
    video_pes: Option<Pes>,
    audio_pes: Option<Pes>,
    media: SegmentMedia,
    last_video_dts: Option<i64>,
    last_audio_pts: Option<i64>,
}

#[derive(Default)]
struct Section {
    buf: Vec<u8>,
    active: bool,
}

struct Streams {
    video: Option<u16>,
    audio: Option<(u16, AudioCodec)>,
}

struct Pes {
    offset: usize,
    buf: Vec<u8>,
}

impl Demuxer {
    fn packet(&mut self, offset: usize, p: &[u8]) -> Result<(), MediaError> {
        if p[0] != SYNC {
            return Err(MediaError::NotTs {
                offset,
                found: p[0],
            });
        }
        let malformed = |reason| MediaError::MalformedTs { offset, reason };
        if p[1] & 0x80 != 0 {
            // transport_error_indicator: the sender's own demodulator flagged it; skip.
            return Ok(());
        }
        let pusi = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
        let afc = (p[3] >> 4) & 0x03;
        let mut payload = &p[4..];
        match afc {
            0 => return Ok(()), // reserved: no payload
            2 | 3 => {
                let af_len = usize::from(payload[0]);
                if af_len > payload.len() - 1 || (afc == 2 && af_len != 183) {
                    return Err(malformed("adaptation field longer than the packet"));
                }
                payload = &payload[1 + af_len..];
                if afc == 2 {
                    return Ok(());
                }
            }
            _ => {}
        }
        if pid == PID_PAT {
            if let Some(section) = psi_input(&mut self.pat, pusi, payload, offset)? {
                self.on_pat(&section, offset)?;
            }
        } else if Some(pid) == self.pmt_pid {
            if let Some(section) = psi_input(&mut self.pmt, pusi, payload, offset)? {
                self.on_pmt(&section, offset)?;
            }
        } else if let Some(streams) = &self.streams {
            let track = if Some(pid) == streams.video {
                Track::Video
            } else if streams.audio.is_some_and(|(a, _)| a == pid) {
                Track::Audio
            } else {
                return Ok(());
            };
            if pusi {
                if let Some(done) = self.slot(track).take() {
                    self.on_pes(track, &done)?;
                }
                *self.slot(track) = Some(Pes {
                    offset,
                    buf: payload.to_vec(),
                });
            } else if let Some(pes) = self.slot(track) {
                if pes.buf.len() + payload.len() > MAX_PES {
                    return Err(MediaError::TooLarge {
                        what: "PES packet",
                        limit: MAX_PES as u64,
                    });
                }
                pes.buf.extend_from_slice(payload);
            }
        }
        Ok(())
    }

    fn slot(&mut self, track: Track) -> &mut Option<Pes> {
        match track {
            Track::Video => &mut self.video_pes,
            Track::Audio => &mut self.audio_pes,
        }
    }

    fn on_pat(&mut self, s: &[u8], offset: usize) -> Result<(), MediaError> {
        let malformed = |reason| MediaError::MalformedTs { offset, reason };
        if s[0] != 0x00 {
            return Err(malformed("PAT with a table id other than 0"));
        }
        let entries = &s[8..s.len() - 4];
        let pmt = entries
            .chunks_exact(4)
            .find(|e| u16::from_be_bytes([e[0], e[1]]) != 0)
            .map(|e| (u16::from(e[2] & 0x1F) << 8) | u16::from(e[3]))
            .ok_or(malformed("PAT lists no program"))?;
        if pmt == PID_PAT {
            return Err(malformed("PAT points the PMT at PID 0"));
        }
        if self.pmt_pid.is_none() {
            self.pmt_pid = Some(pmt);
        }
        Ok(())
    }

    fn on_pmt(&mut self, s: &[u8], offset: usize) -> Result<(), MediaError> {
        let malformed = |reason| MediaError::MalformedTs { offset, reason };
        if self.streams.is_some() {
            return Ok(()); // a repeat
        }
        if s[0] != 0x02 {
            return Err(malformed("PMT with a table id other than 2"));
        }
        if s.len() < 16 {
            return Err(malformed("PMT too short"));
        }
        let info_len = usize::from(u16::from_be_bytes([s[10], s[11]]) & 0x0FFF);
        let end = s.len() - 4;
        let mut pos = 12 + info_len;
        let mut video = None;
        let mut unsupported_video = None;
        let mut audio = None;
        while pos + 5 <= end {
            let stream_type = s[pos];
            let pid = (u16::from(s[pos + 1] & 0x1F) << 8) | u16::from(s[pos + 2]);
            let es_len = usize::from(u16::from_be_bytes([s[pos + 3], s[pos + 4]]) & 0x0FFF);
            pos += 5 + es_len;
            if stream_type == STREAM_TYPE_H264 {
                video.get_or_insert(pid);
            } else if let Some(codec) = video_codec_name(stream_type) {
                unsupported_video.get_or_insert(codec);
            } else if let Some(codec) = AudioCodec::from_stream_type(stream_type) {
                audio.get_or_insert((pid, codec));
            } else if audio.is_none() {
                tracing::debug!(
                    target: "media::ts",
                    stream_type,
                    "dropping an elementary stream reel does not carry"
                );
            }
        }
        if pos > end {
            return Err(malformed("PMT stream entry runs past the section"));
        }
        if video.is_none() {
            if let Some(codec) = unsupported_video {
                return Err(MediaError::UnsupportedCodec {
                    kind: "video",
                    codec: codec.to_owned(),
                });
            }
            return Err(MediaError::NoVideo);
        }
        self.media.has_video = true;
        self.media.audio = audio.map(|(_, c)| c);
        self.streams = Some(Streams { video, audio });
        Ok(())
    }

    fn on_pes(&mut self, track: Track, pes: &Pes) -> Result<(), MediaError> {
        let offset = pes.offset;
        let malformed = |reason| MediaError::MalformedTs { offset, reason };
        let b = &pes.buf;
        if b.len() < 9 || b[..3] != [0, 0, 1] {
            return Err(malformed("PES without a start code"));
        }
        let declared = usize::from(u16::from_be_bytes([b[4], b[5]]));
        if b[6] & 0xC0 != 0x80 {
            return Err(malformed("PES header marker bits are not '10'"));
        }
        let flags = b[7] >> 6;
        let header_end = 9 + usize::from(b[8]);
        if header_end > b.len() {
            return Err(malformed("PES header longer than the PES"));
        }
        let mut data = &b[header_end..];
        if declared != 0 {
            let total = 6 + declared;
            if total < header_end {
                return Err(malformed("PES length shorter than its header"));
            }
            if total > b.len() {
                return Err(malformed(
                    "PES packet cut short: the segment ends inside it",
                ));
            }
            data = &b[header_end..total];
        }
        let pts = match flags {
            2 | 3 => Some(read_timestamp(&b[9..]).ok_or(malformed("bad PTS marker bits"))?),
            1 => return Err(malformed("PES flags say DTS without PTS")),
            _ => None,
        };
        let dts = if flags == 3 {
            Some(read_timestamp(&b[14..]).ok_or(malformed("bad DTS marker bits"))?)
        } else {
            None
        };
        match track {
            Track::Video => self.on_video(pts, dts, data, offset),
            Track::Audio => {
                let Some(pts) = pts.or(self.last_audio_pts) else {
                    return Ok(()); // audio before any timestamp: nothing to place it at
                };
                let pts = unwrap_ts(pts, self.last_audio_pts);
                self.last_audio_pts = Some(pts);
                self.media.packets.push(Packet {
                    track: Track::Audio,
                    pts,
                    dts: pts,
                    keyframe: true,
                    data: Bytes::copy_from_slice(data),
                });
                Ok(())
            }
        }
    }

    fn on_video(
        &mut self,
        pts: Option<i64>,
        dts: Option<i64>,
        data: &[u8],
        offset: usize,
    ) -> Result<(), MediaError> {
        let Some(pts) = pts else {
            // A PES without timestamps continues the previous access unit.
            let Some(last) = self
                .media
                .packets
                .iter_mut()
                .rev()
                .find(|p| p.track == Track::Video)
            else {
                return Err(MediaError::MalformedTs {
                    offset,
                    reason: "video PES without a timestamp",
                });
            };
            let mut joined = Vec::with_capacity(last.data.len() + data.len());
            joined.extend_from_slice(&last.data);
            joined.extend_from_slice(data);
            last.keyframe = h264::is_keyframe(&joined);
            last.data = Bytes::from(joined);
            return Ok(());
        };
        let dts = unwrap_ts(dts.unwrap_or(pts), self.last_video_dts);
        // pts is at or after dts, within one wrap.
        let pts = unwrap_ts(pts, Some(dts));
        if let Some(previous) = self.last_video_dts
            && dts < previous
        {
            return Err(MediaError::TimestampsBackwards { previous, dts });
        }
        self.last_video_dts = Some(dts);
        self.media.packets.push(Packet {
            track: Track::Video,
            pts,
            dts,
            keyframe: h264::is_keyframe(data),
            data: Bytes::copy_from_slice(data),
        });
        Ok(())
    }

    fn finish(mut self, len: usize) -> Result<SegmentMedia, MediaError> {
        if let Some(pes) = self.video_pes.take() {
            self.on_pes(Track::Video, &pes)?;
        }
        if let Some(pes) = self.audio_pes.take() {
            self.on_pes(Track::Audio, &pes)?;
        }
        if self.streams.is_none() {
            return Err(MediaError::MalformedTs {
                offset: len,
                reason: "no PAT and PMT found: not a complete segment",
            });
        }
        if !self.media.packets.iter().any(|p| p.track == Track::Video) {
            return Err(MediaError::NoVideo);
        }
        // A PES is complete only when the next one on its PID starts, so tracks come out of
        // the loop skewed; put them back in decode order.
        self.media.packets.sort_by_key(|p| p.dts);
        Ok(self.media)
    }
}

/// Names of video stream types other than H.264.
fn video_codec_name(stream_type: u8) -> Option<&'static str> {
    Some(match stream_type {
        0x01 => "MPEG-1 video",
        0x02 => "MPEG-2 video",
        0x10 => "MPEG-4 part 2 video",
        0x1F | 0x20 => "H.264 SVC/MVC",
        0x24 => "HEVC",
        0x42 => "AVS",
        0xD1 => "Dirac",
        0xEA => "VC-1",
        _ => return None,
    })
}

/// Feeds one packet's payload to a PSI section assembler; returns a complete, CRC-checked
/// section.
fn psi_input(
    sec: &mut Section,
    pusi: bool,
    payload: &[u8],
    offset: usize,
) -> Result<Option<Vec<u8>>, MediaError> {
    let malformed = |reason| MediaError::MalformedTs { offset, reason };
    if pusi {
        let Some((&pointer, rest)) = payload.split_first() else {
            return Err(malformed("PSI packet without a pointer field"));
        };
        let pointer = usize::from(pointer);
        if pointer > rest.len() {
            return Err(malformed("PSI pointer field past the packet"));
        }
        sec.buf.clear();
        sec.buf.extend_from_slice(&rest[pointer..]);
        sec.active = true;
    } else if sec.active {
        sec.buf.extend_from_slice(payload);
    } else {
        return Ok(None);
    }
    if sec.buf.len() < 3 {
        return Ok(None);
    }
    if sec.buf[0] == 0xFF {
        sec.active = false; // stuffing
        return Ok(None);
    }
    let section_len = usize::from(u16::from_be_bytes([sec.buf[1], sec.buf[2]]) & 0x0FFF);
    let total = 3 + section_len;
    if total > MAX_SECTION || section_len < 9 {
        return Err(malformed("PSI section length out of range"));
    }
    if sec.buf.len() < total {
        return Ok(None);
    }
    sec.active = false;
    let section = sec.buf[..total].to_vec();
    if crc32_mpeg2(&section) != 0 {
        return Err(malformed("PSI section CRC mismatch"));
    }
    Ok(Some(section))
}

fn read_timestamp(b: &[u8]) -> Option<i64> {
    let b: &[u8; 5] = b.get(..5)?.try_into().ok()?;
    if b[0] & 1 != 1 || b[2] & 1 != 1 || b[4] & 1 != 1 {
        return None;
    }
    let ts = (i64::from(b[0] >> 1) & 0x07) << 30
        | i64::from(b[1]) << 22
        | i64::from(b[2] >> 1) << 15
        | i64::from(b[3]) << 7
        | i64::from(b[4] >> 1);
    Some(ts)
}

/// Places a 33-bit timestamp nearest to `reference` (undoing wrap-around).
fn unwrap_ts(ts: i64, reference: Option<i64>) -> i64 {
    let Some(reference) = reference else {
        return ts;
    };
    let base = reference - reference.rem_euclid(TS_WRAP);
    [base - TS_WRAP, base, base + TS_WRAP]
        .into_iter()
        .map(|b| b + ts)
        .min_by_key(|c| (c - reference).abs())
        .unwrap_or(ts)
}

// ---------------------------------------------------------------------------------------
// Writing

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
        self.write_psi(out, PID_PMT, &pmt_section(media.has_video, audio));
        for p in &media.packets {
            match p.track {
                Track::Video => {
                    let aud: &[u8] = if h264::starts_with_aud(&p.data) {
                        &[]
                    } else {
                        &h264::AUD
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

    fn write_psi(&mut self, out: &mut Vec<u8>, pid: u16, section: &[u8]) {
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

fn write_timestamp(prefix: u8, ts: i64) -> [u8; 5] {
    let ts = ts.rem_euclid(TS_WRAP);
    [
        (prefix << 4) | (((ts >> 30) & 0x07) as u8) << 1 | 1,
        (ts >> 22) as u8,
        (((ts >> 15) & 0x7F) as u8) << 1 | 1,
        (ts >> 7) as u8,
        ((ts & 0x7F) as u8) << 1 | 1,
    ]
}

fn write_pcr(base: i64) -> [u8; 6] {
    let base = base.rem_euclid(TS_WRAP);
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base & 1) as u8) << 7 | 0x7E,
        0,
    ]
}

fn pat_section() -> Vec<u8> {
    let mut s = vec![0x00, 0xB0, 0, 0x00, 0x01, 0xC1, 0x00, 0x00];
    s.extend_from_slice(&[0x00, 0x01, 0xE0 | (PID_PMT >> 8) as u8, PID_PMT as u8]);
    finish_section(s)
}

fn pmt_section(has_video: bool, audio: Option<AudioCodec>) -> Vec<u8> {
    let pcr_pid = if has_video { PID_VIDEO } else { PID_AUDIO };
    let mut s = vec![0x02, 0xB0, 0, 0x00, 0x01, 0xC1, 0x00, 0x00];
    s.extend_from_slice(&[0xE0 | (pcr_pid >> 8) as u8, pcr_pid as u8, 0xF0, 0x00]);
    if has_video {
        s.extend_from_slice(&[
            STREAM_TYPE_H264,
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
fn finish_section(mut s: Vec<u8>) -> Vec<u8> {
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
fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(pts: i64, dts: i64, key: bool, len: usize) -> Packet {
        let mut data = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }];
        data.extend((0..len).map(|i| (i % 251) as u8 | 1));
        Packet {
            track: Track::Video,
            pts,
            dts,
            keyframe: key,
            data: Bytes::from(data),
        }
    }

    fn audio(pts: i64, len: usize) -> Packet {
        Packet {
            track: Track::Audio,
            pts,
            dts: pts,
            keyframe: true,
            data: Bytes::from(vec![0xAB; len]),
        }
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
        let pat = pat_section();
        assert_eq!(crc32_mpeg2(&pat), 0);
    }

    #[test]
    fn mux_then_demux_round_trips() {
        let media = SegmentMedia {
            has_video: true,
            audio: Some(AudioCodec::Aac),
            packets: vec![
                video(129_000, 126_000, true, 5_000),
                audio(126_500, 300),
                audio(128_420, 1),
                video(135_000, 129_000, false, 100_000), // > 65535: unbounded PES
                video(132_000, 132_000, false, 170),
            ],
        };
        let ts = mux_segment(&media);
        assert_eq!(ts.len() % PACKET_SIZE, 0);
        let back = demux(&ts).unwrap();
        assert!(back.has_video);
        assert_eq!(back.audio, Some(AudioCodec::Aac));
        assert_eq!(back.packets.len(), media.packets.len());
        for (a, b) in media.packets.iter().zip(&back.packets) {
            assert_eq!(
                (a.track, a.pts, a.dts, a.keyframe),
                (b.track, b.pts, b.dts, b.keyframe)
            );
            if a.track == Track::Video {
                // the muxer adds an access unit delimiter
                assert_eq!(&b.data[..6], &h264::AUD);
                assert_eq!(&b.data[6..], &a.data[..]);
            } else {
                assert_eq!(a.data, b.data);
            }
        }
    }

    #[test]
    fn timestamps_wrap_at_33_bits() {
        let media = SegmentMedia {
            has_video: true,
            audio: None,
            packets: vec![
                video(TS_WRAP - 3000, TS_WRAP - 3000, true, 10),
                video(TS_WRAP, TS_WRAP, false, 10),
                video(TS_WRAP + 3000, TS_WRAP + 3000, false, 10),
            ],
        };
        let back = demux(&mux_segment(&media)).unwrap();
        let dts: Vec<i64> = back.video().map(|p| p.dts).collect();
        assert_eq!(dts, vec![TS_WRAP - 3000, TS_WRAP, TS_WRAP + 3000]);
    }

    #[test]
    fn rejects_bad_input_with_specific_errors() {
        assert!(matches!(demux(&[]), Err(MediaError::EmptySegment)));
        assert!(matches!(
            demux(&[0x47; 200]),
            Err(MediaError::TruncatedTs { len: 200, rest: 12 })
        ));
        assert!(matches!(
            demux(&[0u8; 376]),
            Err(MediaError::NotTs {
                offset: 0,
                found: 0
            })
        ));
        // Only padding packets: no PAT/PMT.
        let mut null = vec![0x47, 0x1F, 0xFF, 0x10];
        null.resize(188, 0xFF);
        assert!(matches!(demux(&null), Err(MediaError::MalformedTs { .. })));
        // Audio only.
        let media = SegmentMedia {
            has_video: false,
            audio: Some(AudioCodec::Aac),
            packets: vec![audio(0, 10)],
        };
        assert!(matches!(
            demux(&mux_segment(&media)),
            Err(MediaError::NoVideo)
        ));
        // Backwards dts.
        let media = SegmentMedia {
            has_video: true,
            audio: None,
            packets: vec![
                video(90_000, 90_000, true, 10),
                video(3000, 3000, false, 10),
            ],
        };
        assert!(matches!(
            demux(&mux_segment(&media)),
            Err(MediaError::TimestampsBackwards {
                previous: 90_000,
                dts: 3000
            })
        ));
        // A flipped PAT byte breaks the CRC.
        let good = mux_segment(&SegmentMedia {
            has_video: true,
            audio: None,
            packets: vec![video(0, 0, true, 10)],
        });
        let mut bad = good.to_vec();
        bad[10] ^= 0x01;
        assert!(matches!(demux(&bad), Err(MediaError::MalformedTs { .. })));
    }

    #[test]
    fn unsupported_video_codec_is_named() {
        let mut pmt = vec![
            0x02, 0xB0, 0, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0, 0x00,
        ];
        pmt.extend_from_slice(&[0x24, 0xE1, 0x00, 0xF0, 0x00]);
        let pmt = finish_section(pmt);
        let mut m = TsMuxer::default();
        let mut out = Vec::new();
        m.write_psi(&mut out, PID_PAT, &pat_section());
        m.write_psi(&mut out, PID_PMT, &pmt);
        match demux(&out) {
            Err(MediaError::UnsupportedCodec { codec, .. }) => assert_eq!(codec, "HEVC"),
            other => panic!("{other:?}"),
        }
    }
}
