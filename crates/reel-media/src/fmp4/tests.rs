//! Round trips on synthetic bitstreams, codec strings, and malformed input.

use super::*;
use crate::aac::AacConfig;
use crate::codec::VideoCodec;
use crate::codec::{audio_codecs_attribute, video_codecs_attribute};
use crate::media::{TS_HZ, Track};

/// MSB-first bit writer for building headers.
#[derive(Default)]
pub(super) struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    pub(super) fn put(&mut self, n: u32, v: u64) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((v >> i) & 1) as u8;
            *self.bytes.last_mut().unwrap() |= bit << (7 - self.bits % 8);
            self.bits += 1;
        }
    }

    fn ue(&mut self, v: u32) {
        let v = u64::from(v) + 1;
        let len = 64 - v.leading_zeros();
        self.put(len - 1, 0);
        self.put(len, v);
    }

    /// Pads with a stop bit and zeros (RBSP trailing bits).
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.put(1, 1);
        while !self.bits.is_multiple_of(8) {
            self.put(1, 0);
        }
        self.bytes
    }
}

/// Inserts emulation-prevention bytes.
fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn annexb(units: &[&[u8]]) -> Vec<u8> {
    units
        .iter()
        .flat_map(|u| [&[0, 0, 0, 1][..], u].concat())
        .collect()
}

fn h264_au(key: bool, n: u8) -> Vec<u8> {
    if key {
        annexb(&[
            &[0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9],
            &[0x68, 0xEB, 0xE3],
            &[0x65, 0x88, n, 1],
        ])
    } else {
        annexb(&[&[0x41, 0x9A, n, 2]])
    }
}

pub(super) fn hevc_sps() -> Vec<u8> {
    let mut b = BitWriter::default();
    b.put(4, 0);
    b.put(3, 0);
    b.put(1, 1);
    for byte in [0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93] {
        b.put(8, byte);
    }
    b.ue(0); // sps id
    b.ue(1); // 4:2:0
    b.ue(320);
    b.ue(240);
    b.put(1, 0);
    b.ue(0);
    b.ue(0);
    [&[0x42, 0x01][..], &escape(&b.finish())].concat()
}

fn hevc_au(key: bool, n: u8) -> Vec<u8> {
    if key {
        let sps = hevc_sps();
        annexb(&[
            &[0x40, 0x01, 0x0C, 0x01],
            &sps,
            &[0x44, 0x01, 0xC1],
            &[0x26, 0x01, n, 7],
        ])
    } else {
        annexb(&[&[0x02, 0x01, n, 8]])
    }
}

fn vp9_frame(key: bool, n: u8) -> Vec<u8> {
    if !key {
        return vec![0x86, n, 0x11, 0x22];
    }
    let mut b = BitWriter::default();
    b.put(2, 2);
    b.put(2, 0); // profile 0
    b.put(1, 0);
    b.put(1, 0); // KEY_FRAME
    b.put(2, 0b10); // show_frame, no error resilience
    b.put(24, 0x49_83_42);
    b.put(3, 2); // BT.709
    b.put(1, 0);
    b.put(16, 319);
    b.put(16, 239);
    [b.finish(), vec![n, 0x55]].concat()
}

fn vp8_frame(key: bool, n: u8) -> Vec<u8> {
    if key {
        vec![
            0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00, n,
        ]
    } else {
        vec![0x31, 0x01, 0x00, n]
    }
}

fn obu(kind: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 128);
    [&[(kind << 3) | 2, payload.len() as u8][..], payload].concat()
}

pub(super) fn av1_sequence_payload() -> Vec<u8> {
    av1_sequence(false)
}

/// A sequence header; `rich` adds timing and decoder model info, two operating points
/// (the first at level 5.1, high tier) and 10-bit colour.
fn av1_sequence(rich: bool) -> Vec<u8> {
    let mut b = BitWriter::default();
    b.put(3, 0); // profile
    b.put(2, 0); // still, reduced
    if rich {
        b.put(1, 1); // timing info
        b.put(64, 0x0000_0001_0000_001E);
        b.put(1, 1); // equal picture interval
        b.put(5, 0b00100); // uvlc 3
        b.put(1, 1); // decoder model info
        b.put(5, 31); // 32-bit buffer delays
        b.put(32, 1);
        b.put(10, 0);
        b.put(1, 1); // initial display delay present
        b.put(5, 1); // two operating points
        for (level, tier) in [(13, 1), (4, 0)] {
            b.put(12, 0x101);
            b.put(5, level);
            if level > 7 {
                b.put(1, tier);
            }
            b.put(1, 1); // decoder model present for this op
            b.put(64, 0xDEAD_BEEF_0000_0001);
            b.put(1, 1);
            b.put(1, 1); // initial display delay present for this op
            b.put(4, 9);
        }
    } else {
        b.put(1, 0); // timing info
        b.put(1, 0); // initial display delay
        b.put(5, 0); // one operating point
        b.put(12, 0);
        b.put(5, 8); // level 4.0, so a tier bit follows
        b.put(1, 0);
    }
    b.put(8, 0xFF); // 16-bit frame size fields
    b.put(32, (319 << 16) | 239);
    b.put(1, 0); // frame ids
    b.put(3, 0b011);
    b.put(4, 0b1111);
    b.put(1, 1); // order hint
    b.put(2, 0b11);
    b.put(1, 1); // choose screen content tools
    b.put(1, 1); // choose integer mv
    b.put(3, 6);
    b.put(3, 0b011);
    b.put(1, u64::from(rich)); // 8-bit, or 10-bit
    b.put(1, 0); // not mono
    b.put(1, 1); // colour description
    b.put(24, 0x01_01_01);
    b.put(1, 0); // limited range
    b.put(2, 0); // chroma sample position
    b.put(1, 0);
    b.put(1, 0); // film grain
    b.finish()
}

fn av1_tu(key: bool, n: u8) -> Vec<u8> {
    let mut tu = obu(2, &[]);
    if key {
        tu.extend(obu(1, &av1_sequence_payload()));
    }
    tu.extend(obu(6, &[if key { 0x10 } else { 0x30 }, n, 3]));
    tu
}

fn adts_frame(n: u8) -> Vec<u8> {
    let cfg = AacConfig {
        object_type: 2,
        sampling_index: 3,
        channels: 2,
    };
    let payload = [0x21, n, 0x40, 0x07];
    [&cfg.adts_header(payload.len()).unwrap()[..], &payload].concat()
}

/// 12 video frames (keyframes at 0 and 6, B-frame-like pts) and 1 s of AAC at 48 kHz,
/// interleaved by dts, video first.
fn packets(codec: VideoCodec) -> Vec<Packet> {
    let mut out = Vec::new();
    let reorder = [6000, 12000, 3000, 3000, 9000, 3000];
    for i in 0..12u8 {
        let key = i % 6 == 0;
        let data = match codec {
            VideoCodec::H264 => h264_au(key, i),
            VideoCodec::Hevc => hevc_au(key, i),
            VideoCodec::Vp8 => vp8_frame(key, i),
            VideoCodec::Vp9 => vp9_frame(key, i),
            VideoCodec::Av1 => av1_tu(key, i),
        };
        let dts = 1000 + i64::from(i) * 3000;
        let reordered = matches!(codec, VideoCodec::H264 | VideoCodec::Hevc);
        let pts = dts
            + if reordered {
                reorder[usize::from(i % 6)]
            } else {
                0
            };
        out.push(Packet {
            track: Track::Video,
            pts,
            dts,
            keyframe: key,
            data: data.into(),
        });
    }
    for i in 0..18u8 {
        // Multiples of 15 ticks are whole 48 kHz samples, so they survive the sample-rate clock.
        let t = 510 + i64::from(i) * 1920;
        out.push(Packet {
            track: Track::Audio,
            pts: t,
            dts: t,
            keyframe: true,
            data: adts_frame(i).into(),
        });
    }
    out.sort_by_key(|p| (p.dts, p.track == Track::Audio));
    out
}

fn summary(packets: &[Packet]) -> Vec<(Track, i64, i64, bool, Vec<u8>)> {
    packets
        .iter()
        .map(|p| (p.track, p.pts, p.dts, p.keyframe, p.data.to_vec()))
        .collect()
}

const CODECS: [VideoCodec; 5] = [
    VideoCodec::H264,
    VideoCodec::Hevc,
    VideoCodec::Vp8,
    VideoCodec::Vp9,
    VideoCodec::Av1,
];

fn track(codec: VideoCodec) -> VideoTrack {
    VideoTrack {
        codec,
        width: 320,
        height: 240,
    }
}

#[test]
fn round_trip_every_codec_with_audio() {
    for codec in CODECS {
        let input = packets(codec);
        let seg = write(&track(codec), Some(AudioCodec::Aac), 7, &input).unwrap();
        assert_eq!(&seg.fragment[4..8], b"moof");
        assert_eq!(&seg.init[4..8], b"ftyp");
        let file = seg.to_file();
        assert_eq!(split(&file).unwrap(), seg);
        let back = read(&file).unwrap();
        assert_eq!(back.video, Some(track(codec)), "{codec:?}");
        assert_eq!(back.media.video_codec, codec);
        assert!(back.media.has_video);
        assert_eq!(back.media.audio, Some(AudioCodec::Aac));
        assert_eq!(summary(&back.media.packets), summary(&input), "{codec:?}");
    }
}

/// The size of the first box of `kind` in `file` (found by its four-character code).
fn box_size(file: &[u8], kind: &[u8; 4]) -> u32 {
    let at = file.windows(4).position(|w| w == kind).unwrap();
    u32::from_be_bytes(file[at - 4..at].try_into().unwrap())
}

#[test]
fn fixed_boxes_have_their_standard_sizes() {
    // Chromium's MP4 parser refuses an init segment whose version-0 `tkhd` is short: these
    // are the sizes ISO/IEC 14496-12 gives.
    let seg = write(
        &track(VideoCodec::Vp9),
        Some(AudioCodec::Aac),
        1,
        &packets(VideoCodec::Vp9),
    )
    .unwrap();
    for (kind, size) in [
        (b"mvhd", 108),
        (b"tkhd", 92),
        (b"mdhd", 32),
        (b"vmhd", 20),
        (b"smhd", 16),
        (b"trex", 32),
    ] {
        assert_eq!(
            box_size(&seg.init, kind),
            size,
            "{}",
            String::from_utf8_lossy(kind)
        );
    }
}

#[test]
fn delimiters_dropped_and_parameter_sets_restored() {
    // An AUD and 3-byte start codes: the NAL units come back, in canonical form.
    let key = [&crate::h264::AUD[..], &[0, 0, 1], &h264_au(true, 1)[4..]].concat();
    let p = |data: Vec<u8>, dts, keyframe| Packet {
        track: Track::Video,
        pts: dts,
        dts,
        keyframe,
        data: data.into(),
    };
    let input = vec![p(key, 0, true), p(h264_au(false, 2), 3000, false)];
    let seg = write(&track(VideoCodec::H264), None, 1, &input).unwrap();
    let back = read(&seg.to_file()).unwrap();
    assert_eq!(
        back.media.packets[0].data.as_ref(),
        h264_au(true, 1).as_slice()
    );
    assert_eq!(back.media.packets.len(), 2);
    assert_eq!(back.media.audio, None);
}

#[test]
fn negative_timestamps_shift_the_whole_segment() {
    let mut input = packets(VideoCodec::Vp9);
    for p in &mut input {
        p.pts -= 10_000;
        p.dts -= 10_000;
    }
    let back = read(
        &write(&track(VideoCodec::Vp9), Some(AudioCodec::Aac), 0, &input)
            .unwrap()
            .to_file(),
    )
    .unwrap();
    let shift = 10_000 - 510; // the earliest packet, audio at -9490, lands on 0
    for (a, b) in back.media.packets.iter().zip(&input) {
        assert_eq!(a.dts, b.dts + shift);
        assert_eq!(a.pts, b.pts + shift);
    }
}

#[test]
fn refusals() {
    let input = packets(VideoCodec::H264);
    let err = write(&track(VideoCodec::H264), Some(AudioCodec::Mp3), 0, &input).unwrap_err();
    assert!(matches!(err, MediaError::UnsupportedCodec { .. }));
    // No parameter sets anywhere.
    let deltas: Vec<Packet> = input.iter().filter(|p| !p.keyframe).cloned().collect();
    let err = write(&track(VideoCodec::H264), None, 0, &deltas).unwrap_err();
    assert!(matches!(err, MediaError::Bitstream { .. }), "{err}");
    let mut backwards = input;
    backwards.retain(|p| p.track == Track::Video);
    backwards.swap(1, 2);
    let err = write(&track(VideoCodec::H264), None, 0, &backwards).unwrap_err();
    assert!(matches!(err, MediaError::TimestampsBackwards { .. }));
}

#[test]
fn codecs_attributes() {
    let attr = |c, d: &[u8]| video_codecs_attribute(c, d).unwrap();
    assert_eq!(attr(VideoCodec::H264, &h264_au(true, 0)), "avc1.64001F");
    assert_eq!(attr(VideoCodec::Hevc, &hevc_au(true, 0)), "hvc1.1.6.L93.B0");
    assert_eq!(attr(VideoCodec::Vp9, &vp9_frame(true, 0)), "vp09.00.20.08");
    assert_eq!(attr(VideoCodec::Vp8, &vp8_frame(true, 0)), "vp8");
    assert_eq!(attr(VideoCodec::Av1, &av1_tu(true, 0)), "av01.0.08M.08");
    let rich = [obu(2, &[]), obu(1, &av1_sequence(true))].concat();
    assert_eq!(attr(VideoCodec::Av1, &rich), "av01.0.13H.10");
    assert!(video_codecs_attribute(VideoCodec::H264, &h264_au(false, 0)).is_err());
    assert!(video_codecs_attribute(VideoCodec::Av1, &av1_tu(false, 0)).is_err());
    assert!(video_codecs_attribute(VideoCodec::Vp9, &vp9_frame(false, 0)).is_err());
    assert!(video_codecs_attribute(VideoCodec::Hevc, &[0, 0, 1, 0x42, 1]).is_err());
    assert_eq!(
        audio_codecs_attribute(AudioCodec::Aac, &adts_frame(0)).unwrap(),
        "mp4a.40.2"
    );
    assert_eq!(
        audio_codecs_attribute(AudioCodec::Mp3, &[]).unwrap(),
        "mp4a.40.34"
    );
    assert!(audio_codecs_attribute(AudioCodec::Aac, &[1, 2, 3]).is_err());
    assert_eq!(crate::codec::vp9_level(1920, 1080), 41);
    assert_eq!(crate::codec::vp9_level(1280, 720), 40);
    assert_eq!(crate::codec::vp9_level(640, 360), 30);
}

#[test]
fn codec_names() {
    for c in CODECS {
        assert_eq!(VideoCodec::parse(c.name()), Some(c));
        assert_eq!(VideoCodec::parse(&c.name().to_lowercase()), Some(c));
    }
    assert_eq!(VideoCodec::parse("h265"), Some(VideoCodec::Hevc));
    assert_eq!(VideoCodec::parse("H265"), Some(VideoCodec::Hevc));
    assert_eq!(VideoCodec::parse("mpeg2"), None);
    assert_eq!(VideoCodec::default(), VideoCodec::H264);
    assert!(VideoCodec::Av1.needs_fmp4() && !VideoCodec::Hevc.needs_fmp4());
    assert_eq!(VideoCodec::Vp9.ffmpeg_id(), ffmpeg_next::codec::Id::VP9);
}

fn is_mp4_err(r: &Result<Fmp4Media, MediaError>) -> bool {
    matches!(r, Err(MediaError::Mp4 { .. }))
}

#[test]
fn malformed_input_is_an_mp4_error() {
    assert!(is_mp4_err(&read(&[])));
    assert!(is_mp4_err(&read(&[0, 0, 0])));
    assert!(matches!(split(&[]), Err(MediaError::Mp4 { .. })));
    let file = write(
        &track(VideoCodec::H264),
        Some(AudioCodec::Aac),
        1,
        &packets(VideoCodec::H264),
    )
    .unwrap()
    .to_file();
    let init_len = split(&file).unwrap().init.len();
    for len in (0..file.len()).filter(|l| *l != init_len) {
        assert!(is_mp4_err(&read(&file[..len])), "cut at {len}");
    }
    // A huge box size, and a 64-bit one.
    let mut huge = file.to_vec();
    huge[0..4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    assert!(is_mp4_err(&read(&huge)));
    huge[0..4].copy_from_slice(&1u32.to_be_bytes());
    assert!(is_mp4_err(&read(&huge)));
    // Only an init segment: no samples, but valid.
    let init = split(&file).unwrap().init;
    assert!(read(&init).unwrap().media.packets.is_empty());
    // A trun that claims a billion samples.
    let trun = file.windows(4).position(|w| w == b"trun").unwrap();
    let mut many = file.to_vec();
    many[trun + 8..trun + 12].copy_from_slice(&1_000_000_000u32.to_be_bytes());
    assert!(is_mp4_err(&read(&many)));
    // A fragment without its init.
    assert!(is_mp4_err(&read(&split(&file).unwrap().fragment)));
}

#[test]
fn mutated_files_never_panic() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for codec in CODECS {
        let file = write(&track(codec), Some(AudioCodec::Aac), 1, &packets(codec))
            .unwrap()
            .to_file()
            .to_vec();
        for _ in 0..400 {
            let mut f = file.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() % f.len() as u64) as usize;
                f[i] = next() as u8;
            }
            // As the fuzz target: what reads must write and read again to as many packets.
            if let Ok(found) = read(&f)
                && let Some(video) = &found.video
                && let Ok(seg) = write(video, found.media.audio, 1, &found.media.packets)
            {
                let again = read(&seg.to_file()).unwrap();
                assert_eq!(again.media.packets.len(), found.media.packets.len());
            }
            let _ = split(&f);
            let _ = video_codecs_attribute(codec, &f[f.len() / 2..]);
        }
    }
}

#[test]
fn segments_concatenate_after_one_init() {
    let input: Vec<Packet> = packets(VideoCodec::H264);
    // The second keyframe starts the second segment.
    let cut = (0..input.len())
        .filter(|i| input[*i].track == Track::Video && input[*i].keyframe)
        .nth(1)
        .unwrap();
    let first = write(
        &track(VideoCodec::H264),
        Some(AudioCodec::Aac),
        1,
        &input[..cut],
    )
    .unwrap();
    let second = write(
        &track(VideoCodec::H264),
        Some(AudioCodec::Aac),
        2,
        &input[cut..],
    )
    .unwrap();
    assert_eq!(first.init, second.init);
    let file = [&first.init[..], &first.fragment, &second.fragment].concat();
    let back = read(&file).unwrap();
    assert_eq!(summary(&back.media.packets), summary(&input));
    assert_eq!(TS_HZ, 90_000);
}
