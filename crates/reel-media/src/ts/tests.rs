use bytes::Bytes;

use super::mux::mux_segment;
use super::psi::{PACKET_SIZE, PID_PAT, PID_PMT, crc32_mpeg2, finish_section, pat_section};
use super::timestamp::TS_WRAP;
use super::*;
use crate::MediaError;
use crate::h264;
use crate::media::{AudioCodec, Packet, SegmentMedia, Track};

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
        video_codec: crate::codec::VideoCodec::H264,
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
        video_codec: crate::codec::VideoCodec::H264,
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
        video_codec: crate::codec::VideoCodec::H264,
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
        video_codec: crate::codec::VideoCodec::H264,
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
        video_codec: crate::codec::VideoCodec::H264,
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

#[test]
fn hevc_renditions_round_trip_but_ingest_refuses_them() {
    // An IDR_W_RADL (type 19) access unit, then a TRAIL_R (type 1) one.
    let idr = Bytes::from_static(&[0, 0, 0, 1, 0x26, 0x01, 0xAF, 0x00]);
    let trail = Bytes::from_static(&[0, 0, 0, 1, 0x02, 0x01, 0xD0, 0x00]);
    let media = SegmentMedia {
        has_video: true,
        video_codec: crate::codec::VideoCodec::Hevc,
        audio: None,
        packets: [(idr, 0), (trail, 3000)]
            .into_iter()
            .map(|(data, t)| Packet {
                track: Track::Video,
                pts: t,
                dts: t,
                keyframe: t == 0,
                data,
            })
            .collect(),
    };
    let ts = mux_segment(&media);
    let back = crate::ts::demux_rendition(&ts).unwrap();
    assert_eq!(back.video_codec, crate::codec::VideoCodec::Hevc);
    let keys: Vec<bool> = back.video().map(|p| p.keyframe).collect();
    assert_eq!(keys, [true, false]);
    // Each access unit gained an HEVC access unit delimiter, as H.222.0 wants.
    assert!(back.packets[0].data.starts_with(&crate::h264::HEVC_AUD));
    match demux(&ts) {
        Err(MediaError::UnsupportedCodec { codec, .. }) => assert_eq!(codec, "HEVC"),
        other => panic!("{other:?}"),
    }
}
