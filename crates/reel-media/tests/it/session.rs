//! The transcode session against ffprobe's independent facts, and every bad-input case on its
//! own, each followed by a good segment on the same session.

use reel_media::{
    EncoderReuse, MediaError, ResetReason, SessionSettings, TranscodeResult, TranscodeSession,
};

use crate::support::{
    Probe, decode_errors, fixtures, probe, probe_bytes, video_frames, video_frames_bytes,
    video_packets_bytes,
};

/// Two small rungs: one at the source's 30 fps, one converted to 15 fps.
pub(crate) fn test_ladder() -> Vec<reel_media::VideoProfile> {
    reel_media::parse_ladder_json(
        br#"[{"name":"P144p30fps16x9","width":256,"height":144,"bitrate":400000,"fps":30},
             {"name":"low15","width":160,"height":90,"bitrate":150000,"fps":15,"gop":"1"}]"#,
    )
    .unwrap()
}

pub(crate) fn test_settings() -> SessionSettings {
    let mut s = SessionSettings::new(test_ladder());
    s.x264_preset = "ultrafast".into();
    s.encoder_threads = 1;
    s.decoder_threads = 1;
    s
}

fn session() -> TranscodeSession {
    TranscodeSession::new(test_settings()).unwrap()
}

fn read(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

/// Checks a result against ffprobe's view of the input and of every rendition.
fn check_result(input: &Probe, input_frames: &[crate::support::FrameFacts], r: &TranscodeResult) {
    let iv = input.video().unwrap();
    assert_eq!(r.input_size, (iv.width, iv.height));
    assert_eq!(r.decoded_frames, iv.frames, "decoded frames vs ffprobe");
    assert_eq!(
        r.decoded_pixels,
        input.video_pixels(),
        "decoded pixels vs ffprobe"
    );
    assert_eq!(r.renditions.len(), 2);
    let in_first = input_frames.first().unwrap().pts_time;
    let in_last = input_frames.last().unwrap().pts_time;
    let in_span = in_last - in_first + 1.0 / 30.0;
    for (rendition, fps) in r.renditions.iter().zip([30.0, 15.0]) {
        let p = probe_bytes(&rendition.data).unwrap();
        let v = p.video().unwrap();
        assert_eq!(v.codec_name, "h264");
        assert_eq!((v.width, v.height), (rendition.width, rendition.height));
        assert_eq!(v.frames, rendition.frames, "{} frames", rendition.name);
        assert_eq!(
            rendition.pixels,
            p.video_pixels(),
            "{} pixels",
            rendition.name
        );
        assert!(p.has_audio(), "{} lost its audio", rendition.name);
        let frames = video_frames_bytes(&rendition.data).unwrap();
        assert!(
            frames[0].key && frames[0].pict_type == "I",
            "{} starts with {:?}",
            rendition.name,
            frames[0]
        );
        let first = frames.first().unwrap().pts_time;
        let last = frames.last().unwrap().pts_time;
        let span = last - first + 1.0 / fps;
        let frame = 1.0 / fps;
        assert!(
            (first - in_first).abs() <= frame + 1e-6,
            "{}: starts {first} vs {in_first}",
            rendition.name
        );
        assert!(
            (span - in_span).abs() <= frame + 1e-6,
            "{}: lasts {span} vs {in_span}",
            rendition.name
        );
        assert_eq!(
            frames.len() as u64,
            (in_span * fps).round() as u64,
            "{} frame count",
            rendition.name
        );
    }
}

#[test]
fn transcodes_segments_with_exact_pixel_counts() {
    let f = fixtures();
    let mut s = session();
    for (seq, path) in f.small.iter().enumerate() {
        let r = s.transcode_ts(seq as u64, &read(path)).unwrap();
        assert_eq!(r.seq, seq as u64);
        assert_eq!(r.reset, None, "segment {seq} should continue the session");
        assert_eq!(
            (
                r.renditions[0].width,
                r.renditions[0].height,
                r.renditions[1].width,
                r.renditions[1].height
            ),
            (256, 144, 160, 90)
        );
        check_result(&probe(path).unwrap(), &video_frames(path).unwrap(), &r);
        assert_eq!(
            r.encoded_pixels(),
            r.renditions.iter().map(|x| x.pixels).sum::<u64>()
        );
    }
}

/// Settings whose encoders hold frames back (veryfast: B frames and a 10-frame lookahead;
/// two frame threads), so that a persistent encoder needs sentinel frames at segment ends.
fn delaying_settings(reuse: EncoderReuse) -> SessionSettings {
    let mut s = test_settings();
    s.x264_preset = "veryfast".into();
    s.encoder_threads = 2;
    s.encoder_reuse = reuse;
    s
}

/// Transcodes the three small segments and checks each rendition segment on its own (IDR
/// first, exact frame count, clean decode, no stray timestamps) and the stream across them
/// (timestamps continue one frame apart, decode times only go forward).
fn stream_checks(settings: SessionSettings) -> TranscodeSession {
    let f = fixtures();
    let mut s = TranscodeSession::new(settings).unwrap();
    // Per rendition: the previous segment's last pts and last dts (90 kHz).
    let mut prev: Vec<Option<(i64, i64)>> = vec![None; 2];
    for (seq, path) in f.small.iter().enumerate() {
        let r = s.transcode_ts(seq as u64, &read(path)).unwrap();
        assert_eq!(r.reset, None);
        check_result(&probe(path).unwrap(), &video_frames(path).unwrap(), &r);
        for ((rendition, fps), prev) in r.renditions.iter().zip([30, 15]).zip(&mut prev) {
            let name = &rendition.name;
            let step = 90_000 / fps;
            assert_eq!(
                decode_errors(&rendition.data).unwrap(),
                "",
                "{name} segment {seq} does not decode cleanly on its own"
            );
            let packets = video_packets_bytes(&rendition.data).unwrap();
            assert_eq!(packets.len() as u64, rendition.frames, "{name} packets");
            assert!(
                packets[0].key,
                "{name} segment {seq} starts with {:?}",
                packets[0]
            );
            let mut pts: Vec<i64> = packets.iter().map(|p| p.pts).collect();
            pts.sort_unstable();
            // Every frame on the rendition's grid: a sentinel (one tick after a real
            // frame) would stand out.
            for w in pts.windows(2) {
                assert!(
                    (w[1] - w[0] - step).abs() <= 1,
                    "{name} segment {seq}: frames at {} and {}",
                    w[0],
                    w[1]
                );
            }
            for w in packets.windows(2) {
                assert!(w[1].dts > w[0].dts, "{name} segment {seq}: dts {w:?}");
            }
            assert!(
                packets.iter().all(|p| p.dts <= p.pts),
                "{name}: dts after pts"
            );
            let (first_pts, last_pts) = (pts[0], pts[pts.len() - 1]);
            if let Some((prev_pts, prev_dts)) = *prev {
                assert!(
                    (first_pts - prev_pts - step).abs() <= 1,
                    "{name}: segment {seq} starts at {first_pts}, the previous ended at {prev_pts}"
                );
                assert!(
                    packets[0].dts > prev_dts,
                    "{name}: segment {seq}'s decode times go back"
                );
            }
            *prev = Some((last_pts, packets[packets.len() - 1].dts));
        }
    }
    s
}

#[test]
fn sentinel_keeps_one_encoder_and_every_segment_stands_alone() {
    let s = stream_checks(delaying_settings(EncoderReuse::Sentinel));
    for stats in s.encoder_stats() {
        assert_eq!(stats.opens, 1, "{stats:?}");
        assert!(stats.sentinel_frames > 0, "{stats:?}");
    }
}

#[test]
fn reopen_opens_an_encoder_per_segment() {
    let s = stream_checks(delaying_settings(EncoderReuse::Reopen));
    for stats in s.encoder_stats() {
        assert_eq!(stats.opens, 3, "{stats:?}");
        assert_eq!(stats.sentinel_frames, 0, "{stats:?}");
    }
}

#[test]
fn zerolatency_needs_no_sentinels() {
    let mut settings = delaying_settings(EncoderReuse::Sentinel);
    settings.x264_tune = Some("zerolatency".into());
    let s = stream_checks(settings);
    for stats in s.encoder_stats() {
        assert_eq!(stats.opens, 1, "{stats:?}");
        assert_eq!(stats.sentinel_frames, 0, "{stats:?}");
    }
}

#[test]
fn input_size_change_reopens_the_encoder() {
    let f = fixtures();
    let mut s = TranscodeSession::new(delaying_settings(EncoderReuse::Sentinel)).unwrap();
    s.transcode_ts(0, &read(&f.small[0])).unwrap();
    let r = s.transcode_ts(1, &read(&f.medium)).unwrap();
    assert!(matches!(r.reset, Some(ResetReason::InputChanged { .. })));
    check_result(
        &probe(&f.medium).unwrap(),
        &video_frames(&f.medium).unwrap(),
        &r,
    );
    for rendition in &r.renditions {
        assert_eq!(decode_errors(&rendition.data).unwrap(), "");
    }
    for stats in s.encoder_stats() {
        assert_eq!(stats.opens, 2, "{stats:?}");
    }
    // Timestamps going back reopen it too.
    s.transcode_ts(2, &read(&f.small[0])).unwrap();
    for stats in s.encoder_stats() {
        assert_eq!(stats.opens, 3, "{stats:?}");
    }
}

#[test]
fn mid_stream_resolution_change_resets_the_session() {
    let f = fixtures();
    let mut s = session();
    s.transcode_ts(0, &read(&f.small[0])).unwrap();
    // The 640x360 segment continues the timeline; only its size changes.
    let r = s.transcode_ts(1, &read(&f.medium)).unwrap();
    assert_eq!(
        r.reset,
        Some(ResetReason::InputChanged {
            from: (320, 180),
            to: (640, 360)
        })
    );
    check_result(
        &probe(&f.medium).unwrap(),
        &video_frames(&f.medium).unwrap(),
        &r,
    );
    // And back.
    let r = s.transcode_ts(2, &read(&f.small[0])).unwrap();
    assert!(r.reset.is_some());
}

#[test]
fn timestamps_going_back_between_segments_reset_the_session() {
    let f = fixtures();
    let mut s = session();
    s.transcode_ts(0, &read(&f.small[2])).unwrap();
    let r = s.transcode_ts(1, &read(&f.small[0])).unwrap();
    assert_eq!(r.reset, Some(ResetReason::TimestampJump));
    check_result(
        &probe(&f.small[0]).unwrap(),
        &video_frames(&f.small[0]).unwrap(),
        &r,
    );
}

/// Runs a bad segment, checks its error, then proves the same session still works.
fn bad_then_good(bad: &[u8], check: impl FnOnce(&MediaError)) {
    let f = fixtures();
    let mut s = session();
    s.transcode_ts(0, &read(&f.small[0])).unwrap();
    let err = s.transcode_ts(1, bad).unwrap_err();
    check(&err);
    assert!(err.is_bad_input(), "{err}");
    let r = s.transcode_ts(2, &read(&f.small[1])).unwrap();
    assert_eq!(r.renditions.len(), 2);
}

#[test]
fn zero_byte_segment() {
    bad_then_good(&[], |e| {
        assert!(matches!(e, MediaError::EmptySegment), "{e}")
    });
}

#[test]
fn truncated_segment() {
    let mut data = read(&fixtures().small[0]);
    data.truncate(data.len() / 2 + 77);
    bad_then_good(&data, |e| {
        assert!(matches!(e, MediaError::TruncatedTs { .. }), "{e}")
    });
}

#[test]
fn random_bytes() {
    // A fixed xorshift stream: reproducible noise.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..188 * 200)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    bad_then_good(&data, |e| {
        assert!(matches!(e, MediaError::NotTs { .. }), "{e}")
    });
}

#[test]
fn audio_only_segment() {
    let data = read(&fixtures().audio_only);
    bad_then_good(&data, |e| assert!(matches!(e, MediaError::NoVideo), "{e}"));
}

#[test]
fn unsupported_video_codec() {
    let data = read(&fixtures().mpeg2);
    bad_then_good(&data, |e| match e {
        MediaError::UnsupportedCodec {
            kind: "video",
            codec,
        } => assert_eq!(codec, "MPEG-2 video"),
        other => panic!("{other}"),
    });
}

#[test]
fn timestamps_going_back_inside_a_segment() {
    let f = fixtures();
    let mut data = read(&f.small[1]);
    data.extend(read(&f.small[0]));
    bad_then_good(&data, |e| {
        assert!(matches!(e, MediaError::TimestampsBackwards { .. }), "{e}")
    });
}

#[test]
fn damaged_video_payload_is_survivable() {
    // Flip bytes inside the video payload (not the TS framing): the decoder conceals or
    // skips, the session reports or survives, and nothing panics.
    let f = fixtures();
    let mut data = read(&f.small[0]);
    for i in (40_000..data.len()).step_by(997) {
        if i % 188 > 20 {
            data[i] ^= 0x5A;
        }
    }
    let mut s = session();
    match s.transcode_ts(0, &data) {
        Ok(r) => assert!(r.decoded_frames > 0),
        Err(e) => assert!(e.is_bad_input(), "{e}"),
    }
    s.transcode_ts(1, &read(&f.small[1])).unwrap();
}

#[test]
fn nvenc_is_used_where_present_and_refused_clearly_where_not() {
    let ladder = reel_media::parse_ladder_json(
        br#"[{"name":"gpu","width":256,"height":144,"bitrate":400000,"fps":30,"encoder":"nvenc"}]"#,
    )
    .unwrap();
    let mut s = match TranscodeSession::new(SessionSettings::new(ladder)) {
        Ok(s) => s,
        // An FFmpeg build without NVENC at all.
        Err(MediaError::EncoderUnavailable { name }) => {
            assert!(name.contains("h264_nvenc"));
            return;
        }
        Err(e) => panic!("{e}"),
    };
    match s.transcode_ts(0, &read(&fixtures().small[0])) {
        // A machine with an NVENC-capable GPU.
        Ok(r) => {
            let p = probe_bytes(&r.renditions[0].data).unwrap();
            assert_eq!(
                (p.video().unwrap().width, p.video().unwrap().height),
                (256, 144)
            );
            assert_eq!(r.renditions[0].pixels, p.video_pixels());
        }
        // No GPU here: a clear error naming the encoder, not a crash.
        Err(MediaError::EncoderUnavailable { name }) => {
            assert!(name.contains("h264_nvenc"), "{name}")
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}
