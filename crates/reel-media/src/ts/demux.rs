//! Reading: a whole segment into video access units and audio frames.

use bytes::Bytes;

use super::psi::{
    MAX_PES, MAX_SECTION, PACKET_SIZE, PID_PAT, STREAM_TYPE_H264, STREAM_TYPE_HEVC, SYNC,
    crc32_mpeg2,
};
use super::timestamp::{read_timestamp, unwrap_ts};
use crate::MediaError;
use crate::codec::VideoCodec;
use crate::h264;
use crate::media::{AudioCodec, Packet, SegmentMedia, Track};

/// Demuxes a whole MPEG-TS segment into its H.264 access units and audio frames: what
/// ingest takes. Pure; fuzzed.
pub fn demux(data: &[u8]) -> Result<SegmentMedia, MediaError> {
    demux_with(data, false)
}

/// Demuxes a rendition, whose video may also be HEVC ([`SegmentMedia::video_codec`] says
/// which). Pure; fuzzed.
pub fn demux_rendition(data: &[u8]) -> Result<SegmentMedia, MediaError> {
    demux_with(data, true)
}

fn demux_with(data: &[u8], accept_hevc: bool) -> Result<SegmentMedia, MediaError> {
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
    let mut d = Demuxer {
        accept_hevc,
        ..Demuxer::default()
    };
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
    accept_hevc: bool,
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
                video.get_or_insert((pid, VideoCodec::H264));
            } else if stream_type == STREAM_TYPE_HEVC && self.accept_hevc {
                video.get_or_insert((pid, VideoCodec::Hevc));
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
        self.media.video_codec = video.map_or(VideoCodec::H264, |(_, c)| c);
        self.media.audio = audio.map(|(_, c)| c);
        self.streams = Some(Streams {
            video: video.map(|(pid, _)| pid),
            audio,
        });
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
        let hevc = self.media.video_codec == VideoCodec::Hevc;
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
            last.keyframe = is_keyframe(hevc, &joined);
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
            keyframe: is_keyframe(hevc, data),
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

fn is_keyframe(hevc: bool, access_unit: &[u8]) -> bool {
    if hevc {
        h264::hevc_is_keyframe(access_unit)
    } else {
        h264::is_keyframe(access_unit)
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
