//! The muxer: packets in the crate's forms to an init segment and one `moof` + `mdat`.

use super::boxes::BoxWriter;
use super::entry::{AAC_RATES, ParamSets, adts, write_mp4a, write_video_entry};
use super::types::{AUDIO_ID, Fmp4, MAX_SAMPLES, VIDEO_ID, VideoTrack, mp4_err};
use crate::MediaError;
use crate::aac::AacConfig;
use crate::codec::av1_obus;
use crate::codec::{VideoCodec, hevc_nal_type};
use crate::h264::nal_units;
use crate::media::{AudioCodec, Packet, TS_HZ, Track};
use bytes::Bytes;

/// One sample ready for a `trun`.
struct Sample {
    /// Decode time in the track's timescale.
    dts: i64,
    /// Composition offset in the track's timescale.
    cto: i64,
    sync: bool,
    data: Vec<u8>,
}

/// A track's samples and timescale.
struct TrackSamples {
    id: u32,
    samples: Vec<Sample>,
    /// Duration of the last sample, which no later dts gives.
    last_duration: i64,
}

pub(super) fn write(
    video: &VideoTrack,
    audio: Option<AudioCodec>,
    sequence: u32,
    packets: &[Packet],
) -> Result<Fmp4, MediaError> {
    if audio == Some(AudioCodec::Mp3) {
        return Err(MediaError::UnsupportedCodec {
            kind: "audio",
            codec: "MP3 in fragmented MP4 (reel packages AAC only)".to_owned(),
        });
    }
    if packets.len() > MAX_SAMPLES {
        return Err(mp4_err(format!(
            "more than {MAX_SAMPLES} packets in one segment"
        )));
    }
    // tfdt is unsigned: a segment starting before zero moves as a whole, so both tracks
    // keep their relative timing.
    let shift = packets
        .iter()
        .map(|p| p.dts.min(p.pts))
        .min()
        .unwrap_or(0)
        .min(0)
        .saturating_neg();
    let video_packets: Vec<&Packet> = packets.iter().filter(|p| p.track == Track::Video).collect();
    let audio_packets: Vec<&Packet> = packets
        .iter()
        .filter(|p| p.track == Track::Audio && audio.is_some())
        .collect();

    let mut init = BoxWriter::default();
    let ftyp = init.start(b"ftyp");
    init.bytes(b"iso6");
    init.u32(0);
    init.bytes(b"iso6cmfcmp41");
    init.end(ftyp)?;
    let moov = init.start(b"moov");
    write_mvhd(&mut init)?;

    let vtrak = start_trak(&mut init, VIDEO_ID, video, TS_HZ as u32, b"vide")?;
    let params = write_video_entry(&mut init, video, &video_packets)?;
    end_trak(&mut init, vtrak)?;
    let vsamples = video_samples(video.codec, &video_packets, &params, shift)?;

    let mut tracks = vec![vsamples];
    if let Some(first) = audio_packets.first() {
        let (cfg, _, _) = adts(&first.data)?;
        let rate = AAC_RATES[usize::from(cfg.sampling_index)];
        let none = VideoTrack {
            codec: VideoCodec::H264,
            width: 0,
            height: 0,
        };
        let atrak = start_trak(&mut init, AUDIO_ID, &none, rate, b"soun")?;
        write_mp4a(&mut init, &cfg, AUDIO_ID as u16)?;
        end_trak(&mut init, atrak)?;
        tracks.push(audio_samples(&cfg, rate, &audio_packets, shift)?);
    }
    let mvex = init.start(b"mvex");
    for t in &tracks {
        let trex = init.start_full(b"trex", 0, 0);
        init.u32(t.id);
        init.u32(1); // sample_description_index
        init.zeros(12);
        init.end(trex)?;
    }
    init.end(mvex)?;
    init.end(moov)?;

    Ok(Fmp4 {
        init: Bytes::from(init.buf),
        fragment: Bytes::from(write_fragment(sequence, &tracks)?),
    })
}

fn write_mvhd(w: &mut BoxWriter) -> Result<(), MediaError> {
    let at = w.start_full(b"mvhd", 0, 0);
    w.zeros(8);
    w.u32(TS_HZ as u32);
    w.u32(0); // duration: fragmented
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    write_matrix(w);
    w.zeros(24);
    w.u32(3); // next_track_ID
    w.end(at)
}

fn write_matrix(w: &mut BoxWriter) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        w.u32(v);
    }
}

/// Writes a `trak` up to and including the `stsd` header; the caller adds the sample
/// entry and calls [`end_trak`].
fn start_trak(
    w: &mut BoxWriter,
    id: u32,
    video: &VideoTrack,
    timescale: u32,
    handler: &[u8; 4],
) -> Result<[usize; 6], MediaError> {
    let is_video = handler == b"vide";
    let trak = w.start(b"trak");
    let tkhd = w.start_full(b"tkhd", 0, 3); // enabled, in movie
    w.zeros(8);
    w.u32(id);
    w.zeros(16); // reserved, duration, reserved[2]
    w.u16(0); // layer
    w.u16(u16::from(!is_video)); // alternate group
    w.u16(if is_video { 0 } else { 0x0100 });
    w.u16(0);
    write_matrix(w);
    w.u32(video.width.min(0xFFFF) << 16);
    w.u32(video.height.min(0xFFFF) << 16);
    w.end(tkhd)?;
    let mdia = w.start(b"mdia");
    let mdhd = w.start_full(b"mdhd", 0, 0);
    w.zeros(8);
    w.u32(timescale);
    w.u32(0);
    w.u16(0x55C4); // language "und"
    w.u16(0);
    w.end(mdhd)?;
    let hdlr = w.start_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(handler);
    w.zeros(12);
    w.bytes(if is_video { b"Video\0" } else { b"Sound\0" });
    w.end(hdlr)?;
    let minf = w.start(b"minf");
    if is_video {
        let vmhd = w.start_full(b"vmhd", 0, 1);
        w.zeros(8);
        w.end(vmhd)?;
    } else {
        let smhd = w.start_full(b"smhd", 0, 0);
        w.zeros(4);
        w.end(smhd)?;
    }
    let dinf = w.start(b"dinf");
    let dref = w.start_full(b"dref", 0, 0);
    w.u32(1);
    let url = w.start_full(b"url ", 0, 1); // self-contained
    w.end(url)?;
    w.end(dref)?;
    w.end(dinf)?;
    let stbl = w.start(b"stbl");
    let stsd = w.start_full(b"stsd", 0, 0);
    w.u32(1);
    Ok([trak, mdia, minf, stbl, stsd, 0])
}

fn end_trak(w: &mut BoxWriter, open: [usize; 6]) -> Result<(), MediaError> {
    let [trak, mdia, minf, stbl, stsd, _] = open;
    w.end(stsd)?;
    for kind in [b"stts", b"stsc", b"stco"] {
        let at = w.start_full(kind, 0, 0);
        w.u32(0);
        w.end(at)?;
    }
    let stsz = w.start_full(b"stsz", 0, 0);
    w.zeros(8);
    w.end(stsz)?;
    for at in [stbl, minf, mdia, trak] {
        w.end(at)?;
    }
    Ok(())
}

fn video_samples(
    codec: VideoCodec,
    packets: &[&Packet],
    params: &ParamSets,
    shift: i64,
) -> Result<TrackSamples, MediaError> {
    let mut samples: Vec<Sample> = Vec::with_capacity(packets.len());
    for p in packets {
        let dts = p.dts.saturating_add(shift);
        if let Some(prev) = samples.last().filter(|s| s.dts > dts) {
            return Err(MediaError::TimestampsBackwards {
                previous: prev.dts - shift,
                dts: p.dts,
            });
        }
        samples.push(Sample {
            dts,
            cto: p.pts.saturating_sub(p.dts),
            sync: p.keyframe,
            data: video_sample(codec, &p.data, params)?,
        });
    }
    let last_duration = match samples.as_slice() {
        [.., a, b] => b.dts - a.dts,
        _ => TS_HZ / 30,
    };
    Ok(TrackSamples {
        id: VIDEO_ID,
        samples,
        last_duration,
    })
}

/// One access unit as an MP4 sample: NAL units behind 4-byte lengths without delimiters
/// and the sample entry's parameter sets; AV1 without temporal delimiters; VP8/VP9 as is.
fn video_sample(codec: VideoCodec, data: &[u8], params: &ParamSets) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut push_nal = |unit: &[u8]| -> Result<(), MediaError> {
        let len = u32::try_from(unit.len()).map_err(|_| mp4_err("NAL unit above 4 GiB"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(unit);
        Ok(())
    };
    match codec {
        VideoCodec::H264 => {
            for unit in nal_units(data) {
                let t = unit.first().map(|b| b & 0x1F);
                if !unit.is_empty() && t != Some(9) && !params.contains(unit) {
                    push_nal(unit)?;
                }
            }
        }
        VideoCodec::Hevc => {
            for unit in nal_units(data) {
                if !unit.is_empty() && hevc_nal_type(unit) != Some(35) && !params.contains(unit) {
                    push_nal(unit)?;
                }
            }
        }
        VideoCodec::Av1 => {
            for obu in av1_obus(data) {
                let (kind, whole, _) = obu?;
                if kind != 2 {
                    out.extend_from_slice(whole);
                }
            }
        }
        VideoCodec::Vp8 | VideoCodec::Vp9 => out.extend_from_slice(data),
    }
    Ok(out)
}

/// AAC packets to one sample per ADTS frame, on the sample-rate clock. Frames after the
/// first in a packet are spaced 1024 samples apart.
fn audio_samples(
    first: &AacConfig,
    rate: u32,
    packets: &[&Packet],
    shift: i64,
) -> Result<TrackSamples, MediaError> {
    let rate = i64::from(rate);
    let mut samples: Vec<Sample> = Vec::new();
    for p in packets {
        let start = rescale(p.dts.saturating_add(shift), TS_HZ, rate);
        let mut rest: &[u8] = &p.data;
        let mut n = 0;
        while !rest.is_empty() {
            let (cfg, header, len) = adts(rest)?;
            if cfg != *first {
                return Err(crate::codec::bitstream(
                    "AAC",
                    "configuration changes inside the segment",
                ));
            }
            samples.push(Sample {
                dts: start + 1024 * n,
                cto: 0,
                sync: true,
                data: rest[header..len].to_vec(),
            });
            if samples.len() > MAX_SAMPLES {
                return Err(mp4_err(format!("more than {MAX_SAMPLES} audio frames")));
            }
            n += 1;
            rest = &rest[len..];
        }
    }
    Ok(TrackSamples {
        id: AUDIO_ID,
        samples,
        last_duration: 1024,
    })
}

/// `t` ticks of a `from` Hz clock on a `to` Hz clock, rounded to nearest.
pub(super) fn rescale(t: i64, from: i64, to: i64) -> i64 {
    if from <= 0 {
        return 0;
    }
    let n = i128::from(t) * i128::from(to);
    let d = i128::from(from);
    let q = (2 * n + d).div_euclid(2 * d);
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

fn write_fragment(sequence: u32, tracks: &[TrackSamples]) -> Result<Vec<u8>, MediaError> {
    let mut w = BoxWriter::default();
    let moof = w.start(b"moof");
    let mfhd = w.start_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.end(mfhd)?;
    // Data offsets are known only once the moof's size is: remember where they go.
    let mut offset_slots = Vec::new();
    for t in tracks {
        let traf = w.start(b"traf");
        let tfhd = w.start_full(b"tfhd", 0, 0x02_0000); // default-base-is-moof
        w.u32(t.id);
        w.end(tfhd)?;
        let tfdt = w.start_full(b"tfdt", 1, 0);
        let base = t.samples.first().map_or(0, |s| s.dts);
        w.u64(u64::try_from(base).unwrap_or(0));
        w.end(tfdt)?;
        let video = t.id == VIDEO_ID;
        // data offset, duration, size, flags, and composition offsets for video.
        let flags = 0x01 | 0x100 | 0x200 | 0x400 | if video { 0x800 } else { 0 };
        let trun = w.start_full(b"trun", 1, flags);
        w.u32(t.samples.len() as u32);
        offset_slots.push(w.buf.len());
        w.u32(0);
        for (i, s) in t.samples.iter().enumerate() {
            let duration = t
                .samples
                .get(i + 1)
                .map_or(t.last_duration, |n| n.dts - s.dts);
            w.u32(u32::try_from(duration).map_err(|_| mp4_err("sample duration out of range"))?);
            w.u32(u32::try_from(s.data.len()).map_err(|_| mp4_err("sample above 4 GiB"))?);
            w.u32(match (video, s.sync) {
                (true, false) => 0x0101_0000,
                _ => 0x0200_0000,
            });
            if video {
                let cto = i32::try_from(s.cto).map_err(|_| mp4_err("pts too far from dts"))?;
                w.u32(cto as u32);
            }
        }
        w.end(trun)?;
        w.end(traf)?;
    }
    w.end(moof)?;
    let mut offset = w.buf.len() + 8;
    for (slot, t) in offset_slots.into_iter().zip(tracks) {
        let v = u32::try_from(offset).map_err(|_| mp4_err("fragment above 4 GiB"))?;
        w.buf[slot..slot + 4].copy_from_slice(&v.to_be_bytes());
        offset += t.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    let mdat = w.start(b"mdat");
    for t in tracks {
        for s in &t.samples {
            w.bytes(&s.data);
        }
    }
    w.end(mdat)?;
    Ok(w.buf)
}
