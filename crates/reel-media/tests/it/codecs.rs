//! Renditions in every codec reel encodes (H.264, HEVC, VP8, VP9, AV1), checked against
//! ffprobe and ffmpeg: the codec, size, frames and pixels of each segment, a keyframe first,
//! audio carried, and HLS (MPEG-TS, or fragmented MP4 with EXT-X-MAP) that ffmpeg's own HLS
//! reader plays to the last frame, with a `CODECS` attribute per variant.

use std::time::Duration;

use bytes::Bytes;
use reel_media::hls::{HlsSettings, HlsStore};
use reel_media::media::ticks_to_duration;
use reel_media::pipeline::hls_renditions;
use reel_media::profile::VideoCodec;
use reel_media::{SessionSettings, StreamName, TranscodeSession};

use crate::support::{decode_errors, fixtures, probe, probe_bytes, video_frames_bytes};

/// One 256x144 rung per codec, named after it, and ffprobe's name for each.
const RUNGS: [(&str, &str, &str); 5] = [
    ("h264", "H264", "h264"),
    ("hevc", "HEVC", "hevc"),
    ("vp8", "VP8", "vp8"),
    ("vp9", "VP9", "vp9"),
    ("av1", "AV1", "av1"),
];

fn settings() -> SessionSettings {
    let json: Vec<String> = RUNGS
        .iter()
        .map(|(name, encoder, _)| {
            format!(
                r#"{{"name":"{name}","width":256,"height":144,"bitrate":300000,"fps":30,"encoder":"{encoder}"}}"#
            )
        })
        .collect();
    let ladder = reel_media::parse_ladder_json(format!("[{}]", json.join(",")).as_bytes())
        .expect("the ladder parses");
    let mut s = SessionSettings::new(ladder);
    s.x264_preset = "ultrafast".into();
    s.encoder_threads = 1;
    s.decoder_threads = 1;
    s
}

#[test]
fn every_codec_gives_segments_ffprobe_reads_as_that_codec() {
    let mut session = TranscodeSession::new(settings()).unwrap();
    for path in &fixtures().small {
        let segment = reel_media::ts::demux(&std::fs::read(path).unwrap()).unwrap();
        let segment = reel_media::Segment {
            seq: 0,
            duration_ticks: 180_000,
            discontinuity: false,
            media: segment,
        };
        let r = session.transcode(&segment).unwrap();
        assert_eq!(r.renditions.len(), RUNGS.len());
        for (rendition, (name, _, ffprobe_name)) in r.renditions.iter().zip(RUNGS) {
            let p = probe_bytes(&rendition.data).unwrap();
            let v = p.video().unwrap();
            assert_eq!(v.codec_name, ffprobe_name, "{name}");
            assert_eq!((v.width, v.height), (256, 144), "{name}");
            assert_eq!(v.frames, rendition.frames, "{name}: frames");
            assert_eq!(rendition.pixels, p.video_pixels(), "{name}: pixels");
            assert!(p.has_audio(), "{name}: the AAC track is carried");
            let frames = video_frames_bytes(&rendition.data).unwrap();
            assert!(frames[0].key, "{name}: the segment starts on a keyframe");
            let errors = decode_errors(&rendition.data).unwrap();
            assert!(errors.is_empty(), "{name}: {errors}");
            let fmp4 = rendition.data.get(4..8) == Some(b"ftyp");
            let codec = VideoCodec::parse(name).unwrap();
            assert_eq!(fmp4, codec.needs_fmp4(), "{name}: container");
        }
    }
}

#[test]
fn hls_of_every_codec_plays_in_ffmpeg_with_codecs_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let hls = HlsStore::new(HlsSettings {
        record_dir: Some(dir.path().to_path_buf()),
        ..HlsSettings::default()
    });
    let stream = StreamName::new("codecs").unwrap();
    let mut session = TranscodeSession::new(settings()).unwrap();
    let mut frames = vec![0u64; RUNGS.len()];
    for (seq, path) in fixtures().small.iter().enumerate() {
        let media = reel_media::ts::demux(&std::fs::read(path).unwrap()).unwrap();
        let segment = reel_media::Segment {
            seq: seq as u64,
            duration_ticks: 180_000,
            discontinuity: false,
            media,
        };
        let r = session.transcode(&segment).unwrap();
        for (n, rendition) in frames.iter_mut().zip(&r.renditions) {
            *n += rendition.frames;
        }
        let duration: Duration = ticks_to_duration(segment.duration_ticks);
        let source = Bytes::from(std::fs::read(path).unwrap());
        hls.publish(
            &stream,
            seq as u64,
            duration,
            false,
            &hls_renditions(&r, Some(&source), duration),
        )
        .unwrap();
    }

    // The live master playlist names every variant's codecs, the source's too.
    let master = hls.master_playlist(&stream).unwrap();
    assert!(master.contains("#EXT-X-VERSION:7"), "{master}");
    for (rendition, prefix) in [
        ("source", "avc1.42"),
        ("h264", "avc1.42"),
        ("hevc", "hvc1.1."),
        ("vp8", "vp8"),
        ("vp9", "vp09.00."),
        ("av1", "av01.0."),
    ] {
        let line = master
            .lines()
            .find(|l| l.contains("CODECS") && next_uri(&master, l).contains(rendition))
            .unwrap_or_else(|| panic!("no variant line for {rendition}:\n{master}"));
        assert!(
            line.contains(&format!("CODECS=\"{prefix}")) && line.contains(",mp4a.40.2\""),
            "{rendition}: {line}"
        );
    }

    // Fragmented MP4 renditions list .m4s segments after one EXT-X-MAP; TS ones do not.
    let vp9 = hls.media_playlist(&stream, "vp9").unwrap();
    assert!(vp9.contains("#EXT-X-MAP:URI=\"vp9/init-0.mp4\""), "{vp9}");
    assert_eq!(vp9.matches("#EXT-X-MAP").count(), 1, "{vp9}");
    assert!(vp9.contains("vp9/2.m4s"), "{vp9}");
    let hevc = hls.media_playlist(&stream, "hevc").unwrap();
    assert!(
        !hevc.contains("EXT-X-MAP") && hevc.contains("hevc/2.ts"),
        "{hevc}"
    );

    // Served over the store: the init segment and a fragment make a playable file.
    let (init, init_type) = hls.file(&stream, "av1", "init-0.mp4").unwrap();
    let (frag, frag_type) = hls.file(&stream, "av1", "1.m4s").unwrap();
    assert_eq!((init_type, frag_type), ("video/mp4", "video/iso.segment"));
    let joined = [init.as_ref(), frag.as_ref()].concat();
    assert_eq!(
        probe_bytes(&joined).unwrap().video().unwrap().codec_name,
        "av1"
    );
    assert!(hls.file(&stream, "av1", "1.ts").is_none());
    assert!(hls.file(&stream, "av1", "init-9.mp4").is_none());

    // The recording on disk, read by ffmpeg's HLS demuxer, holds every frame.
    hls.end(&stream).unwrap();
    for ((name, _, ffprobe_name), want) in RUNGS.iter().zip(frames) {
        let playlist = dir.path().join("codecs").join(name).join("index.m3u8");
        let p = probe(&playlist).unwrap();
        let v = p.video().unwrap();
        assert_eq!(v.codec_name, *ffprobe_name, "{name}");
        assert_eq!(v.frames, want, "{name}: frames through HLS");
    }
}

/// The URI line after a variant's `EXT-X-STREAM-INF` line.
fn next_uri<'a>(playlist: &'a str, line: &str) -> &'a str {
    let mut lines = playlist.lines().skip_while(|l| *l != line);
    lines.nth(1).unwrap_or_default()
}
