//! RTMP ingest with the real ffmpeg CLI as the publisher and as the player, and hostile or
//! broken publishers, each failing alone while a good stream goes on.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use m3u8_rs::Playlist;
use reel_media::hls::{HlsSettings, parse_playlist};
use reel_media::rtmp::chunk::{self, types};
use reel_media::server::HttpSettings;
use reel_media::{
    HlsStore, IngestEvent, LocalTranscoder, MediaError, PipelineSettings, RtmpServer, RtmpSettings,
    SegmentHandler, SegmenterSettings, run_pipeline,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::net::{http, rtmp_handshake, start_http_with, wait_closed};
use crate::session::test_settings;
use reel_testkit::Wait;

use crate::support::{lavfi_av, probe, video_frames_bytes};

/// ffmpeg publishing a test pattern with a tone: H.264 (with B-frames) + AAC over RTMP,
/// as fast as it can or (`realtime`) at the speed of the clock.
fn publisher(url: &str, seconds: f64, realtime: bool) -> Command {
    let mut inputs = lavfi_av(320, 180, seconds);
    if realtime {
        // -re is an input option: one for each of the two inputs.
        inputs.insert(0, "-re".into());
        inputs.insert(5, "-re".into());
    }
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(inputs)
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "60",
            "-keyint_min",
            "60",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "flv",
        ])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run_ok(mut c: Command) {
    let out = tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Rtmp {
    server: RtmpServer,
    events: mpsc::Receiver<IngestEvent>,
    shutdown: CancellationToken,
}

impl Rtmp {
    fn url(&self, key: &str) -> String {
        format!("rtmp://{}/live/{key}", self.server.local_addr())
    }

    /// Events until `stream` ends; returns (segments seen, the end's error).
    async fn until_end(&mut self, stream: &str) -> (usize, Option<MediaError>) {
        let mut segments = 0;
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(60), self.events.recv())
                .await
                .expect("no event for 60 s")
                .expect("event channel closed");
            match ev {
                IngestEvent::Segment { stream: s, .. } if s.as_str() == stream => segments += 1,
                IngestEvent::Ended { stream: s, error } if s.as_str() == stream => {
                    return (segments, error);
                }
                _ => {}
            }
        }
    }
}

impl Drop for Rtmp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start_rtmp(settings: RtmpSettings) -> Rtmp {
    let shutdown = CancellationToken::new();
    let (tx, events) = mpsc::channel(64);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = RtmpServer::spawn(listener, settings, tx, shutdown.clone()).unwrap();
    Rtmp {
        server,
        events,
        shutdown,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_publishes_rtmp_and_ffmpeg_plays_the_hls() {
    let shutdown = CancellationToken::new();
    let hls = Arc::new(HlsStore::new(HlsSettings::default()));
    let handler: Arc<dyn SegmentHandler> =
        Arc::new(Arc::new(LocalTranscoder::new(test_settings(), 4).unwrap()));
    let (tx, rx) = mpsc::channel(16);
    let rtmp = RtmpServer::spawn(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        RtmpSettings::default(),
        tx,
        shutdown.clone(),
    )
    .unwrap();
    let pipeline = tokio::spawn(run_pipeline(
        rx,
        Arc::clone(&handler),
        Arc::clone(&hls),
        PipelineSettings::default(),
        shutdown.clone(),
    ));
    let web = start_http_with(
        HttpSettings::default(),
        handler,
        Arc::clone(&hls),
        tempfile::tempdir().unwrap(),
    )
    .await
    .unwrap();

    run_ok(publisher(
        &format!("rtmp://{}/live/e2e", rtmp.local_addr()),
        6.0,
        false,
    ))
    .await;

    // The stream ends once the last segment is through.
    let ended = Wait::new("the HLS stream to end", Duration::from_secs(30))
        .every(Duration::from_millis(100))
        .until_ok(async || {
            let p = http(web.addr, "GET", "/stream/e2e/low15.m3u8", &[], b"")
                .await
                .unwrap();
            match p.status == 200 && p.text().contains("#EXT-X-ENDLIST") {
                true => Ok(()),
                false => Err((p.status, p.text())),
            }
        })
        .await;
    assert!(ended.is_ok(), "the HLS stream never ended: {ended:?}");

    // ffmpeg as the player, over HTTP: every frame, the right size, audio along.
    let base = format!("http://{}/stream/e2e", web.addr);
    for (rendition, frames, size) in [
        ("source", 180, (320, 180)),
        ("P144p30fps16x9", 180, (256, 144)),
        ("low15", 90, (160, 90)),
    ] {
        let facts = probe(std::path::Path::new(&format!("{base}/{rendition}.m3u8"))).unwrap();
        let v = facts.video().unwrap();
        assert_eq!(v.codec_name, "h264", "{rendition}");
        assert_eq!((v.width, v.height), size, "{rendition}");
        assert_eq!(v.frames, frames, "{rendition} frame count");
        assert!(facts.has_audio(), "{rendition} has no audio");
    }
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(format!("{base}.m3u8"))
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Three 2-s segments, each starting with a keyframe.
    let p = http(web.addr, "GET", "/stream/e2e/P144p30fps16x9.m3u8", &[], b"")
        .await
        .unwrap();
    let Playlist::MediaPlaylist(media) = parse_playlist(&p.body).unwrap() else {
        panic!("media playlist");
    };
    assert_eq!(media.segments.len(), 3);
    for s in &media.segments {
        assert!(
            (f64::from(s.duration) - 2.0).abs() < 0.04,
            "EXTINF {}",
            s.duration
        );
        let seg = http(web.addr, "GET", &format!("/stream/e2e/{}", s.uri), &[], b"")
            .await
            .unwrap();
        let frames = video_frames_bytes(&seg.body).unwrap();
        assert!(frames[0].key, "{} does not start with a keyframe", s.uri);
        assert_eq!(frames.len(), 60);
    }

    shutdown.cancel();
    rtmp.join().await;
    pipeline.await.unwrap();
}

/// A good 3-s publish on `key`; returns its segment count after it ended cleanly.
async fn good_publish(rtmp: &mut Rtmp, key: &str) -> usize {
    let child = publisher(&rtmp.url(key), 3.0, false).spawn().unwrap();
    let (segments, error) = rtmp.until_end(key).await;
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(error.is_none(), "{error:?}");
    assert_eq!(segments, 2, "3 s with a keyframe every 2 s");
    segments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_announcing_a_2_gib_chunk_size_is_dropped_alone() {
    let mut rtmp = start_rtmp(RtmpSettings::default()).await;
    let mut bad = rtmp_handshake(rtmp.server.local_addr()).await.unwrap();
    let mut wire = Vec::new();
    chunk::write_message(
        &mut wire,
        2,
        types::SET_CHUNK_SIZE,
        0,
        0,
        &0x8000_0000u32.to_be_bytes(),
        128,
    );
    // Then a message that would need the huge size.
    chunk::write_message(&mut wire, 4, types::VIDEO, 1, 0, &[0x17; 5000], 0x7FFF_FFFF);
    bad.write_all(&wire).await.unwrap();
    let took = wait_closed(&mut bad, Duration::from_secs(5)).await.unwrap();
    assert!(took < Duration::from_secs(5));
    good_publish(&mut rtmp, "after-bad").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_time_out_while_others_publish() {
    let mut rtmp = start_rtmp(RtmpSettings {
        handshake_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .await;
    // Connects and sends nothing at all.
    let mut silent = tokio::net::TcpStream::connect(rtmp.server.local_addr())
        .await
        .unwrap();
    // Completes the handshake, then goes quiet.
    let mut quiet = rtmp_handshake(rtmp.server.local_addr()).await.unwrap();
    let publish = good_publish(&mut rtmp, "busy");
    let (segments, silent_closed, quiet_closed) = tokio::join!(
        publish,
        wait_closed(&mut silent, Duration::from_secs(5)),
        wait_closed(&mut quiet, Duration::from_secs(5))
    );
    assert_eq!(segments, 2);
    assert!(silent_closed.unwrap() >= Duration::from_millis(250));
    assert!(quiet_closed.unwrap() >= Duration::from_millis(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_only_publish_fails_alone() {
    let mut rtmp = start_rtmp(RtmpSettings {
        segmenter: SegmenterSettings {
            max_audio_only: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let mut c = Command::new("ffmpeg");
    c.args([
        "-hide_banner",
        "-loglevel",
        "quiet",
        "-nostdin",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=4",
        "-c:a",
        "aac",
        "-f",
        "flv",
    ])
    .arg(rtmp.url("radio"))
    .kill_on_drop(true);
    let child = c.spawn().unwrap();
    let (segments, error) = rtmp.until_end("radio").await;
    assert_eq!(segments, 0);
    assert!(matches!(error, Some(MediaError::NoVideo)), "{error:?}");
    drop(child);
    good_publish(&mut rtmp, "after-radio").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_codec_publish_fails_alone() {
    let mut rtmp = start_rtmp(RtmpSettings::default()).await;
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-loglevel", "quiet", "-nostdin"])
        .args(lavfi_av(320, 180, 2.0))
        .args(["-c:v", "flv1", "-c:a", "aac", "-f", "flv"])
        .arg(rtmp.url("sorenson"))
        .kill_on_drop(true);
    let child = c.spawn().unwrap();
    let (_, error) = rtmp.until_end("sorenson").await;
    match error {
        Some(MediaError::UnsupportedCodec {
            kind: "video",
            codec,
        }) => assert!(codec.contains("H.263"), "{codec}"),
        other => panic!("{other:?}"),
    }
    drop(child);
    good_publish(&mut rtmp, "after-sorenson").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_publisher_of_a_live_stream_is_refused() {
    let mut rtmp = start_rtmp(RtmpSettings::default()).await;
    let url = rtmp.url("dup");
    let first = publisher(&url, 4.0, true).spawn().unwrap();
    // Wait until the first one is live.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rtmp.events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            IngestEvent::Started { stream, .. } if stream.as_str() == "dup" => break,
            _ => {}
        }
    }
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        publisher(&url, 1.0, false).output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!out.status.success(), "the second publisher was accepted");
    let (segments, error) = rtmp.until_end("dup").await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(segments, 2);
    first.wait_with_output().await.unwrap();
}
