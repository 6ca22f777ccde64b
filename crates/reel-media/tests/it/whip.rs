//! WHIP ingest from a real browser: headless Chromium publishes its fake camera and
//! microphone over WebRTC (H.264 and Opus, with a Bearer token as OBS sends it), the stream
//! is cut, transcoded (the Opus to AAC) and served as HLS, which plays in a second Chromium
//! page. And every bad publisher is refused with a
//! clear status, or timed out, without touching other sessions.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use reel_media::hls::HlsSettings;
use reel_media::server::HttpSettings;
use reel_media::whep::{WhepServer, WhepSettings};
use reel_media::whip::{WhipServer, WhipSettings};
use reel_media::{
    HlsStore, LocalTranscoder, MediaServer, PipelineSettings, SegmentHandler, SegmenterSettings,
    StreamName, run_pipeline,
};
use reel_testkit::Wait;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::session::test_settings;

struct Served {
    http: std::net::SocketAddr,
    hls: Arc<HlsStore>,
    whip: Arc<WhipServer>,
    shutdown: CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn serve(settings: WhipSettings) -> Served {
    let shutdown = CancellationToken::new();
    let hls = Arc::new(HlsStore::new(HlsSettings::default()));
    let handler: Arc<dyn SegmentHandler> =
        Arc::new(Arc::new(LocalTranscoder::new(test_settings(), 4).unwrap()));
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(run_pipeline(
        rx,
        Arc::clone(&handler),
        Arc::clone(&hls),
        PipelineSettings::default(),
        shutdown.clone(),
    ));
    let whip = WhipServer::new(settings, tx, shutdown.clone());
    let whep = WhepServer::new(WhepSettings::default(), Arc::clone(&hls), shutdown.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = MediaServer::new(HttpSettings::default(), handler, Arc::clone(&hls))
        .spawn_with(
            listener,
            shutdown.clone(),
            whip.router().merge(whep.router()),
        )
        .unwrap()
        .local_addr();
    Served {
        http,
        hls,
        whip,
        shutdown,
    }
}

fn node(script: &str, args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(script);
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .expect("running node (./x setup installs it with Chromium and the npm packages)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_publishes_over_whip_and_the_hls_plays() {
    let srv = serve(WhipSettings {
        segmenter: SegmenterSettings {
            target: Duration::from_secs(1),
            ..Default::default()
        },
        bearer: Some("obs-token".into()),
        ..Default::default()
    })
    .await;
    let url = format!("http://{}/whip/cam", srv.http);
    let publishing = tokio::task::spawn_blocking({
        let url = url.clone();
        move || node("publish-whip.mjs", &[&url, "9", "obs-token"])
    });
    // While it publishes, a second page plays a rendition over WHEP.
    let stream = StreamName::new("cam").unwrap();
    let hls = Arc::clone(&srv.hls);
    Wait::new("a first segment in HLS", Duration::from_secs(20))
        .until_ok(
            async || match hls.segments_after(&stream, "P144p30fps16x9", None).len() {
                0 => Err("none"),
                _ => Ok(()),
            },
        )
        .await
        .unwrap();
    let whep = format!("http://{}/whep/cam/P144p30fps16x9", srv.http);
    let watched = tokio::task::spawn_blocking(move || node("play-whep.mjs", &[&whep, "2"]))
        .await
        .unwrap();
    assert_eq!(watched["status"], 201, "{watched}");
    assert_eq!(
        (watched["width"].as_u64(), watched["height"].as_u64()),
        (Some(256), Some(144)),
        "{watched}"
    );
    assert!(watched["decoded"].as_u64().unwrap_or(0) >= 15, "{watched}");
    assert!(
        watched["brightness"].as_f64().unwrap_or(0.0) > 20.0,
        "{watched}"
    );
    assert_eq!(watched["deleted"], 200, "{watched}");
    println!(
        "WHEP: first frame {} ms after the offer",
        watched["first_frame_ms"]
    );
    let published = publishing.await.unwrap();
    assert_eq!(published["status"], 201, "{published}");
    assert_eq!(published["connected"], "connected", "{published}");
    assert_eq!(published["codec"], "video/H264", "{published}");
    assert_eq!(published["deleted"], 200, "{published}");
    let sent = published["frames"].as_u64().unwrap_or(0);
    assert!(sent >= 45, "{published}");

    // The DELETE ended the stream: its playlists close.
    Wait::new("the WHIP stream to end in HLS", Duration::from_secs(20))
        .until_ok(async || match hls.is_ended(&stream) {
            Some(true) => Ok(()),
            other => Err(format!("{other:?}")),
        })
        .await
        .unwrap();
    assert_eq!(srv.whip.sessions(), 0);
    // Five seconds and more of the camera, at the rung's size, every frame decodable.
    let playlist = format!("http://{}/stream/cam/P144p30fps16x9.m3u8", srv.http);
    let probe = tokio::task::spawn_blocking(move || reel_testkit::media::probe(&playlist))
        .await
        .unwrap()
        .unwrap();
    let video = probe.video().unwrap();
    assert_eq!((video.width, video.height), (256, 144));
    // Frames depend on the rate Chromium keeps up under load; the span does not.
    assert!(probe.duration >= 5.0, "{:.2} s", probe.duration);
    assert!(video.frames >= 50, "{} frames of {sent} sent", video.frames);
    // The microphone's Opus, carried as AAC, over the same span.
    let audio = probe
        .streams
        .iter()
        .find(|s| s.codec_type == "audio")
        .expect("an audio track");
    assert_eq!(audio.codec_name, "aac");
    assert!(
        audio.frames >= 5 * 48_000 / 1024,
        "{} AAC frames",
        audio.frames
    );

    // The HLS plays in a browser.
    let master = format!("http://{}/stream/cam.m3u8", srv.http);
    let seen = tokio::task::spawn_blocking(move || {
        node("play-hls.mjs", &[&master, "2", "/P144p30fps16x9.m3u8"])
    })
    .await
    .unwrap();
    assert_eq!(seen["errors"].as_array().map_or(1, Vec::len), 0, "{seen}");
    assert_eq!(seen["width"], 256, "{seen}");
    assert!(seen["brightness"].as_f64().unwrap_or(0.0) > 20.0, "{seen}");
}

/// A plausible offer from no one: H.264 video, no ICE peer will ever answer.
/// (Malformed SDP, no H.264, a wrong token or type, too big: refused; a peer that never
/// connects, or floods the media port with junk: timed out, the endpoint unaffected.)
const SILENT_OFFER: &str = "v=0\r\n\
o=- 1 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=msid-semantic: WMS\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 102\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:102 H264/90000\r\n\
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=ssrc:1 cname:x\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_publishers_are_refused_or_timed_out() {
    let srv = serve(WhipSettings {
        bearer: Some("secret".into()),
        stall: Duration::from_secs(1),
        max_sessions: 1,
        max_offer_bytes: 4096,
        ..Default::default()
    })
    .await;
    let client = reel_testkit::http::Http::new().unwrap();
    let url = format!("http://{}/whip/bad", srv.http);
    let post = |ctype: &'static str, token: &'static str, body: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let mut req = client
                .client()
                .post(&url)
                .header("content-type", ctype)
                .body(body);
            if !token.is_empty() {
                req = req.header("authorization", format!("Bearer {token}"));
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let sdp = "application/sdp";
    let cases = [
        (post(sdp, "", SILENT_OFFER.into()).await, 401, "Bearer"),
        (post(sdp, "wrong", SILENT_OFFER.into()).await, 401, "Bearer"),
        (
            post("text/plain", "secret", SILENT_OFFER.into()).await,
            415,
            "application/sdp",
        ),
        (
            post(sdp, "secret", "v=0\r\nnonsense".into()).await,
            400,
            "SDP",
        ),
        (
            post(sdp, "secret", SILENT_OFFER.replace("H264", "VP8")).await,
            400,
            "no H.264",
        ),
        (post(sdp, "secret", "x".repeat(10_000)).await, 413, ""),
    ];
    for ((status, body), want, needle) in cases {
        assert_eq!(status, want, "{body}");
        assert!(body.contains(needle), "{status}: {body}");
    }
    // A publisher that never connects holds its session until the stall time, then loses
    // it; while it holds the only slot, a second one is told to come back later.
    let (status, answer) = post(sdp, "secret", SILENT_OFFER.into()).await;
    assert_eq!(status, 201, "{answer}");
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert_eq!(srv.whip.sessions(), 1);
    // A flood of junk at the session's media port (the candidate in the answer) is
    // dropped datagram by datagram: the endpoint answers at once all the while.
    let port: u16 = answer
        .lines()
        .find_map(|l| l.strip_prefix("a=candidate:"))
        .and_then(|c| c.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no candidate port in {answer}"));
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let flood = std::thread::spawn(move || {
        let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let _ = junk.send_to(&rng.to_le_bytes().repeat(100), ("127.0.0.1", port));
        }
    });
    let t0 = std::time::Instant::now();
    let (status, body) = post(sdp, "secret", SILENT_OFFER.into()).await;
    assert_eq!(status, 503, "{body}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    flood.join().unwrap();
    let whip = Arc::clone(&srv.whip);
    Wait::new("the silent session to time out", Duration::from_secs(10))
        .until_ok(async || match whip.sessions() {
            0 => Ok(()),
            n => Err(format!("{n} sessions")),
        })
        .await
        .unwrap();
    // Nothing reached HLS.
    assert!(
        srv.hls
            .master_playlist(&StreamName::new("bad").unwrap())
            .is_none()
    );
}

/// Glass-to-glass from WHIP in to WHEP out, read from the picture itself: a canvas showing
/// the clock is published and the clock read back from the rendition on screen. It is the
/// segment (1 s here) plus its transcode plus the WebRTC legs; printed for the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_to_glass_from_whip_to_whep_is_measured() {
    let srv = serve(WhipSettings {
        segmenter: SegmenterSettings {
            target: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let whip = format!("http://{}/whip/clock", srv.http);
    let whep = format!("http://{}/whep/clock/P144p30fps16x9", srv.http);
    let seen = tokio::task::spawn_blocking(move || node("latency.mjs", &[&whip, &whep, "3"]))
        .await
        .unwrap();
    let ms: Vec<u64> = seen["latencies"]
        .as_array()
        .unwrap_or_else(|| panic!("{seen}"))
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert!(ms.len() >= 10, "{seen}");
    let mut sorted = ms.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    // More than the segment, less than a few of them: the clock was read back whole.
    assert!((1000..6000).contains(&median), "{seen}");
    println!(
        "glass to glass, WHIP in to WHEP out (1-s segments): median {median} ms, {} to {} ms over {} frames",
        sorted[0],
        sorted[sorted.len() - 1],
        ms.len()
    );
}
