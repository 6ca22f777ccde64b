//! The parser: a fragmented MP4 (init and fragments) back to packets in the crate's forms.
//! Bounded: every size is checked against the input before use, sample counts are capped,
//! and the bytes produced are capped at a multiple of the input's size.

use super::boxes::{Mp4Box, Reader, boxes, child, path};
use super::entry::{read_mp4a, read_param_sets};
use super::types::{Fmp4Media, MAX_SAMPLES, VideoTrack, mp4_err};
use super::write::rescale;
use crate::MediaError;
use crate::aac::AacConfig;
use crate::codec::VideoCodec;
use crate::h264::length_prefixed_to_annexb;
use crate::media::{AudioCodec, Packet, SegmentMedia, TS_HZ, Track};
use bytes::Bytes;

/// What a track's sample entry says.
#[derive(Debug, Clone)]
enum Kind {
    Video {
        track: VideoTrack,
        /// Annex B parameter sets to put before keyframes (H.264/HEVC).
        params: Vec<u8>,
        /// NAL length size (H.264/HEVC).
        length_size: usize,
    },
    Audio(AacConfig),
}

#[derive(Debug, Clone)]
struct TrackInfo {
    id: u32,
    timescale: u32,
    kind: Kind,
    /// trex defaults: duration, size, flags.
    defaults: (u32, u32, u32),
    /// Where the next fragment continues when it has no tfdt.
    next_dts: u64,
}

pub(super) fn read(file: &[u8]) -> Result<Fmp4Media, MediaError> {
    if file.is_empty() {
        return Err(mp4_err("empty input"));
    }
    let budget = file.len().saturating_mul(8).max(1 << 20);
    let mut out = Output {
        packets: Vec::new(),
        bytes: 0,
        budget,
    };
    let mut tracks: Vec<TrackInfo> = Vec::new();
    let mut seen_moov = false;
    for b in boxes(file, 0) {
        let b = b?;
        match &b.kind {
            b"moov" => {
                if seen_moov {
                    return Err(mp4_err("more than one moov"));
                }
                seen_moov = true;
                tracks = read_moov(&b)?;
            }
            b"moof" if !seen_moov => return Err(mp4_err("moof before moov")),
            b"moof" => read_moof(file, &b, &mut tracks, &mut out)?,
            _ => {}
        }
    }
    if !seen_moov {
        return Err(mp4_err("no moov box: not an MP4 init segment"));
    }
    // Interleave by dts, video first on ties, as the rest of the crate does.
    out.packets
        .sort_by_key(|p| (p.dts, p.track == Track::Audio));
    let video = tracks.iter().find_map(|t| match &t.kind {
        Kind::Video { track, .. } => Some(track.clone()),
        Kind::Audio(_) => None,
    });
    let has_audio = tracks.iter().any(|t| matches!(t.kind, Kind::Audio(_)));
    Ok(Fmp4Media {
        media: SegmentMedia {
            has_video: video.is_some(),
            video_codec: video.as_ref().map_or(VideoCodec::H264, |v| v.codec),
            audio: has_audio.then_some(AudioCodec::Aac),
            packets: out.packets,
        },
        video,
    })
}

struct Output {
    packets: Vec<Packet>,
    bytes: usize,
    budget: usize,
}

fn read_moov(moov: &Mp4Box<'_>) -> Result<Vec<TrackInfo>, MediaError> {
    let mut tracks: Vec<TrackInfo> = Vec::new();
    for b in boxes(moov.body, moov.body_offset) {
        let b = b?;
        if &b.kind != b"trak" {
            continue;
        }
        if let Some(t) = read_trak(&b)? {
            let wanted = match t.kind {
                Kind::Video { .. } => !tracks.iter().any(|x| matches!(x.kind, Kind::Video { .. })),
                Kind::Audio(_) => !tracks.iter().any(|x| matches!(x.kind, Kind::Audio(_))),
            };
            if wanted && !tracks.iter().any(|x| x.id == t.id) {
                tracks.push(t);
            }
        }
    }
    if let Some(mvex) = child(moov, b"mvex")? {
        for b in boxes(mvex.body, mvex.body_offset) {
            let b = b?;
            if &b.kind == b"trex" {
                let mut r = Reader::new(b.body, "trex");
                r.full()?;
                let id = r.u32()?;
                r.u32()?;
                let defaults = (r.u32()?, r.u32()?, r.u32()?);
                if let Some(t) = tracks.iter_mut().find(|t| t.id == id) {
                    t.defaults = defaults;
                }
            }
        }
    }
    Ok(tracks)
}

/// A track we can turn back into packets, or `None` for any other kind.
fn read_trak(trak: &Mp4Box<'_>) -> Result<Option<TrackInfo>, MediaError> {
    let missing = |what: &str| mp4_err(format!("trak without {what}"));
    let tkhd = child(trak, b"tkhd")?.ok_or_else(|| missing("tkhd"))?;
    let mut r = Reader::new(tkhd.body, "tkhd");
    let (version, _) = r.full()?;
    r.take(if version == 1 { 16 } else { 8 })?;
    let id = r.u32()?;
    let mdhd = path(trak, &[b"mdia", b"mdhd"])?.ok_or_else(|| missing("mdhd"))?;
    let mut r = Reader::new(mdhd.body, "mdhd");
    let (version, _) = r.full()?;
    r.take(if version == 1 { 16 } else { 8 })?;
    let timescale = r.u32()?;
    if timescale == 0 {
        return Err(mp4_err("track timescale 0"));
    }
    let stsd = path(trak, &[b"mdia", b"minf", b"stbl", b"stsd"])?.ok_or_else(|| missing("stsd"))?;
    let entries = stsd
        .body
        .get(8..)
        .ok_or_else(|| mp4_err("stsd box cut short"))?;
    let Some(entry) = boxes(entries, stsd.body_offset + 8).next().transpose()? else {
        return Err(mp4_err("stsd without a sample entry"));
    };
    let codec = match &entry.kind {
        b"avc1" | b"avc3" => VideoCodec::H264,
        b"hvc1" | b"hev1" => VideoCodec::Hevc,
        b"vp08" => VideoCodec::Vp8,
        b"vp09" => VideoCodec::Vp9,
        b"av01" => VideoCodec::Av1,
        b"mp4a" => {
            let cfg = read_mp4a(entry.body, entry.body_offset)?;
            return Ok(Some(TrackInfo {
                id,
                timescale,
                kind: Kind::Audio(cfg),
                defaults: (0, 0, 0),
                next_dts: 0,
            }));
        }
        _ => return Ok(None),
    };
    let mut r = Reader::new(entry.body, "visual sample entry");
    r.take(24)?;
    let (width, height) = (u32::from(r.u16()?), u32::from(r.u16()?));
    r.take(50)?;
    let mut params = Vec::new();
    let mut length_size = 4;
    for b in boxes(r.remaining(), entry.body_offset + 78) {
        let b = b?;
        if &b.kind == b"avcC" || &b.kind == b"hvcC" {
            (params, length_size) = read_param_sets(&b.kind, b.body)?;
        }
    }
    Ok(Some(TrackInfo {
        id,
        timescale,
        kind: Kind::Video {
            track: VideoTrack {
                codec,
                width,
                height,
            },
            params,
            length_size,
        },
        defaults: (0, 0, 0),
        next_dts: 0,
    }))
}

fn read_moof(
    file: &[u8],
    moof: &Mp4Box<'_>,
    tracks: &mut [TrackInfo],
    out: &mut Output,
) -> Result<(), MediaError> {
    let mut data_end = moof.start;
    for traf in boxes(moof.body, moof.body_offset) {
        let traf = traf?;
        if &traf.kind != b"traf" {
            continue;
        }
        let tfhd = child(&traf, b"tfhd")?.ok_or_else(|| mp4_err("traf without tfhd"))?;
        let mut r = Reader::new(tfhd.body, "tfhd");
        let (_, flags) = r.full()?;
        let id = r.u32()?;
        let Some(track) = tracks.iter_mut().find(|t| t.id == id) else {
            continue;
        };
        let mut base = if flags & 0x01 != 0 {
            usize::try_from(r.u64()?).map_err(|_| mp4_err("base data offset out of range"))?
        } else if flags & 0x02_0000 != 0 {
            moof.start
        } else {
            data_end
        };
        if flags & 0x02 != 0 {
            r.u32()?;
        }
        let (mut dur, mut size, mut sflags) = track.defaults;
        if flags & 0x08 != 0 {
            dur = r.u32()?;
        }
        if flags & 0x10 != 0 {
            size = r.u32()?;
        }
        if flags & 0x20 != 0 {
            sflags = r.u32()?;
        }
        let mut dts = match child(&traf, b"tfdt")? {
            Some(tfdt) => {
                let mut r = Reader::new(tfdt.body, "tfdt");
                match r.full()?.0 {
                    1 => r.u64()?,
                    _ => u64::from(r.u32()?),
                }
            }
            None => track.next_dts,
        };
        for trun in boxes(traf.body, traf.body_offset) {
            let trun = trun?;
            if &trun.kind != b"trun" {
                continue;
            }
            let mut r = Reader::new(trun.body, "trun");
            let (version, tf) = r.full()?;
            let count = r.u32()? as usize;
            let per_sample = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|f| tf & **f != 0)
                .count()
                * 4;
            if out.packets.len().saturating_add(count) > MAX_SAMPLES
                || count.saturating_mul(per_sample) > r.remaining().len()
            {
                return Err(mp4_err(format!("trun claims {count} samples")));
            }
            let mut pos = base;
            if tf & 0x01 != 0 {
                let off = i64::from(r.u32()? as i32);
                pos = i64::try_from(base)
                    .ok()
                    .and_then(|b| b.checked_add(off))
                    .and_then(|p| usize::try_from(p).ok())
                    .ok_or_else(|| mp4_err("trun data offset before the file"))?;
            }
            let first_flags = if tf & 0x04 != 0 { Some(r.u32()?) } else { None };
            for i in 0..count {
                let d = if tf & 0x100 != 0 { r.u32()? } else { dur };
                let s = if tf & 0x200 != 0 { r.u32()? } else { size } as usize;
                let mut f = if tf & 0x400 != 0 { r.u32()? } else { sflags };
                if i == 0 {
                    f = first_flags.unwrap_or(f);
                }
                let cto = match tf & 0x800 {
                    0 => 0,
                    _ if version == 0 => i64::from(r.u32()?),
                    _ => i64::from(r.u32()? as i32),
                };
                let data = pos
                    .checked_add(s)
                    .and_then(|end| file.get(pos..end))
                    .ok_or_else(|| mp4_err("sample data outside the file"))?;
                pos += s;
                push_sample(track, data, dts, cto, f & 0x0001_0000 == 0, out)?;
                dts = dts.saturating_add(u64::from(d));
            }
            base = pos;
            data_end = pos;
        }
        track.next_dts = dts;
    }
    Ok(())
}

fn push_sample(
    track: &TrackInfo,
    data: &[u8],
    dts: u64,
    cto: i64,
    sync: bool,
    out: &mut Output,
) -> Result<(), MediaError> {
    let scale = i64::from(track.timescale);
    let dts = rescale(i64::try_from(dts).unwrap_or(i64::MAX), scale, TS_HZ);
    let cto = rescale(cto, scale, TS_HZ);
    let (kind, payload, keyframe) = match &track.kind {
        Kind::Audio(cfg) => {
            let header = cfg
                .adts_header(data.len())
                .map_err(|_| mp4_err("AAC sample too long for ADTS"))?;
            (Track::Audio, [&header[..], data].concat(), true)
        }
        Kind::Video {
            track: v,
            params,
            length_size,
        } => {
            let mut au = Vec::with_capacity(data.len() + params.len() + 8);
            match v.codec {
                VideoCodec::H264 | VideoCodec::Hevc => {
                    let mut body = Vec::with_capacity(data.len() + 16);
                    length_prefixed_to_annexb(data, *length_size, &mut body)
                        .map_err(|e| mp4_err(format!("video sample: {e}")))?;
                    if sync && !has_sps(v.codec, &body) {
                        au.extend_from_slice(params);
                    }
                    au.extend_from_slice(&body);
                }
                VideoCodec::Av1 => {
                    // Samples drop temporal delimiters; the low-overhead form starts with one.
                    if data.first().map(|b| (b >> 3) & 0xF) != Some(2) {
                        au.extend_from_slice(&[0x12, 0x00]);
                    }
                    au.extend_from_slice(data);
                }
                VideoCodec::Vp8 | VideoCodec::Vp9 => au.extend_from_slice(data),
            }
            (Track::Video, au, sync)
        }
    };
    out.bytes = out.bytes.saturating_add(payload.len());
    if out.bytes > out.budget {
        return Err(mp4_err(
            "samples add up to far more bytes than the file holds",
        ));
    }
    out.packets.push(Packet {
        track: kind,
        pts: dts.saturating_add(cto),
        dts,
        keyframe,
        data: Bytes::from(payload),
    });
    Ok(())
}

fn has_sps(codec: VideoCodec, annexb: &[u8]) -> bool {
    crate::h264::nal_units(annexb).any(|u| match codec {
        VideoCodec::Hevc => crate::codec::hevc_nal_type(u) == Some(33),
        _ => u.first().map(|b| b & 0x1F) == Some(7),
    })
}
