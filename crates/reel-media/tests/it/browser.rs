//! A real browser plays reel's HLS: headless Chromium with hls.js, from a page on another
//! origin, plays the H.264 (MPEG-TS), VP9 and AV1 (fragmented MP4) renditions of one
//! stream to two seconds in, at their size, with a real picture on screen. HEVC and VP8
//! are left out: Chromium decodes HEVC only in hardware, and plays VP8 only in WebM.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use reel_media::media::ticks_to_duration;
use reel_media::pipeline::hls_renditions;
use reel_media::{HttpSettings, SessionSettings, StreamName, TranscodeSession};

use crate::net::start_http;
use crate::support::fixtures;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_plays_h264_vp9_and_av1_through_hls_js() {
    let srv = start_http(HttpSettings::default()).await.unwrap();
    let ladder = reel_media::parse_ladder_json(
        br#"[{"name":"h264","width":256,"height":144,"bitrate":300000,"fps":30},
             {"name":"vp9","width":256,"height":144,"bitrate":300000,"fps":30,"encoder":"VP9"},
             {"name":"av1","width":256,"height":144,"bitrate":300000,"fps":30,"encoder":"AV1"}]"#,
    )
    .unwrap();
    let mut settings = SessionSettings::new(ladder);
    settings.x264_preset = "ultrafast".into();
    let stream = StreamName::new("browser").unwrap();
    let hls = srv.hls.clone();
    let publish = stream.clone();
    tokio::task::spawn_blocking(move || {
        let mut session = TranscodeSession::new(settings).unwrap();
        for (seq, path) in fixtures().small.iter().enumerate() {
            let source = std::fs::read(path).unwrap();
            let segment = reel_media::Segment {
                seq: seq as u64,
                duration_ticks: 180_000,
                discontinuity: false,
                media: reel_media::ts::demux(&source).unwrap(),
            };
            let r = session.transcode(&segment).unwrap();
            let duration: Duration = ticks_to_duration(segment.duration_ticks);
            let out = hls_renditions(&r, Some(&Bytes::from(source)), duration);
            hls.publish(&publish, seq as u64, duration, false, &out)
                .unwrap();
        }
        hls.end(&publish).unwrap();
    })
    .await
    .unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/play-hls.mjs");
    for (rendition, codecs) in [("h264", "avc1."), ("vp9", "vp09."), ("av1", "av01.")] {
        let url = format!("http://{}/stream/{stream}.m3u8", srv.addr);
        let variant = format!("/{rendition}.m3u8");
        let seen = tokio::task::spawn_blocking({
            let (script, variant) = (script.clone(), variant.clone());
            move || play(&script, &url, &variant)
        })
        .await
        .unwrap();
        let errors = seen["errors"].as_array().map_or(0, Vec::len);
        assert_eq!(errors, 0, "{rendition}: {seen}");
        assert_eq!(
            (seen["width"].as_u64(), seen["height"].as_u64()),
            (Some(256), Some(144)),
            "{rendition}: {seen}"
        );
        assert!(
            seen["current_time"].as_f64().unwrap_or(0.0) >= 2.0,
            "{rendition} stopped early: {seen}"
        );
        assert!(
            seen["decoded"].as_u64().unwrap_or(0) >= 60,
            "{rendition}: {seen}"
        );
        // testsrc2's colour bars, not a black or empty picture.
        assert!(
            seen["brightness"].as_f64().unwrap_or(0.0) > 40.0,
            "{rendition}: {seen}"
        );
        assert!(
            seen["codecs"].as_str().unwrap_or("").starts_with(codecs),
            "{rendition}: {seen}"
        );
        assert!(
            seen["playing"].as_str().unwrap_or("").ends_with(&variant),
            "{rendition}: {seen}"
        );
    }
}

/// Runs the player script on the master playlist `url`, held on `variant`, and parses its
/// one JSON line.
fn play(script: &Path, url: &str, variant: &str) -> serde_json::Value {
    let out = Command::new("node")
        .arg(script)
        .args([url, "2", variant])
        .output()
        .expect("running node (./x setup installs it with Chromium and the npm packages)");
    assert!(
        out.status.success(),
        "the player failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
