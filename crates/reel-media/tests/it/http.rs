//! HTTP push ingest and HLS serving on loopback: renditions back as multipart/mixed, HLS
//! playlists and segments with CORS, every bad upload rejected alone with the server still
//! serving.

use std::time::Duration;

use m3u8_rs::Playlist;
use reel_media::hls::parse_playlist;
use reel_media::multipart;
use reel_media::server::HttpSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::net::{HttpResponse, TestHttp, http, start_http};
use reel_testkit::Wait;

use crate::support::{fixtures, probe_bytes, video_frames_bytes};

fn read(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

async fn push(
    srv: &TestHttp,
    stream: &str,
    seq: u64,
    body: &[u8],
    multipart: bool,
) -> HttpResponse {
    let mut headers = vec![("Content-Duration", "2000"), ("Content-Type", "video/mp2t")];
    if multipart {
        headers.push(("Accept", "multipart/mixed"));
    }
    http(
        srv.addr,
        "PUT",
        &format!("/live/{stream}/{seq}.ts"),
        &headers,
        body,
    )
    .await
    .unwrap()
}

/// The server still takes a good segment (on a fresh stream) after whatever came before.
async fn still_serving(srv: &TestHttp) {
    let r = push(srv, "healthy", 0, &read(&fixtures().small[0]), false).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_returns_renditions_and_serves_hls_with_cors() {
    let f = fixtures();
    let srv = start_http(HttpSettings::default()).await.unwrap();
    let mut last_parts = Vec::new();
    for (seq, path) in f.small.iter().enumerate() {
        let r = push(&srv, "cam1", seq as u64, &read(path), true).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let ct = r.header("content-type").unwrap();
        let boundary = multipart::boundary(ct).expect("multipart/mixed");
        let parts = multipart::parse(boundary, &r.body).unwrap();
        let names: Vec<&str> = parts
            .iter()
            .map(|p| p.header("Rendition-Name").unwrap())
            .collect();
        assert_eq!(names, vec!["P144p30fps16x9", "low15"]);
        for (p, (w, h)) in parts.iter().zip([(256, 144), (160, 90)]) {
            assert!(p.header("Content-Type").unwrap().starts_with("video/mp2t"));
            assert_eq!(
                p.header("Content-Length").unwrap(),
                p.body.len().to_string()
            );
            let facts = probe_bytes(&p.body).unwrap();
            assert_eq!(
                (facts.video().unwrap().width, facts.video().unwrap().height),
                (w, h)
            );
            assert_eq!(facts.video().unwrap().codec_name, "h264");
            assert_eq!(
                p.header("Pixels").unwrap(),
                facts.video_pixels().to_string(),
                "pixels vs ffprobe"
            );
        }
        last_parts = parts;
    }

    // Master playlist: source plus both renditions.
    let m = http(srv.addr, "GET", "/stream/cam1.m3u8", &[], b"")
        .await
        .unwrap();
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(m.header("access-control-allow-origin"), Some("*"));
    let Playlist::MasterPlaylist(master) = parse_playlist(&m.body).unwrap() else {
        panic!("not a master playlist: {}", m.text());
    };
    let uris: Vec<&str> = master.variants.iter().map(|v| v.uri.as_str()).collect();
    assert_eq!(
        uris,
        vec![
            "cam1/source.m3u8",
            "cam1/P144p30fps16x9.m3u8",
            "cam1/low15.m3u8"
        ]
    );
    let res = master.variants[1].resolution.unwrap();
    assert_eq!((res.width, res.height), (256, 144));

    // Media playlist: three segments, target duration covering each.
    let p = http(srv.addr, "GET", "/stream/cam1/low15.m3u8", &[], b"")
        .await
        .unwrap();
    assert_eq!(p.status, 200);
    let Playlist::MediaPlaylist(media) = parse_playlist(&p.body).unwrap() else {
        panic!("not a media playlist");
    };
    assert_eq!(media.media_sequence, 0);
    assert_eq!(media.segments.len(), 3);
    assert!(!media.end_list);
    for s in &media.segments {
        assert!(
            (f64::from(s.duration) - 2.0).abs() < 0.04,
            "EXTINF {}",
            s.duration
        );
        assert!(f64::from(s.duration) <= media.target_duration as f64);
    }

    // The segment served is the one returned in the multipart response.
    let seg = http(
        srv.addr,
        "GET",
        &format!("/stream/cam1/{}", media.segments[2].uri),
        &[],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));
    assert_eq!(seg.body, last_parts[1].body);
    let frames = video_frames_bytes(&seg.body).unwrap();
    assert!(frames[0].key && frames.iter().all(|f| (f.width, f.height) == (160, 90)));

    // CORS preflight; unknown things are 404.
    let pre = http(
        srv.addr,
        "OPTIONS",
        "/stream/cam1.m3u8",
        &[("Origin", "http://x")],
        b"",
    )
    .await
    .unwrap();
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    for path in [
        "/stream/nope.m3u8",
        "/stream/cam1/nope.m3u8",
        "/stream/cam1/low15/99.ts",
        "/stream/cam1/low15/x.ts",
    ] {
        assert_eq!(
            http(srv.addr, "GET", path, &[], b"").await.unwrap().status,
            404,
            "{path}"
        );
    }

    // Without Accept: multipart/mixed the renditions only go to HLS.
    let plain = push(&srv, "cam1", 3, &read(&f.small[0]), false).await;
    assert_eq!((plain.status, plain.body.len()), (200, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pushed_stream_ends_with_endlist_and_a_vod_recording() {
    let f = fixtures();
    let srv = start_http(HttpSettings {
        stream_idle_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    for (seq, path) in f.small.iter().enumerate() {
        assert_eq!(
            push(&srv, "vod", seq as u64, &read(path), false)
                .await
                .status,
            200
        );
    }
    let ended = Wait::new("ENDLIST after the stream went idle", Duration::from_secs(5))
        .every(Duration::from_millis(100))
        .until_ok(async || {
            let p = http(srv.addr, "GET", "/stream/vod/P144p30fps16x9.m3u8", &[], b"")
                .await
                .unwrap();
            match p.text() {
                t if t.contains("#EXT-X-ENDLIST") => Ok(()),
                t => Err(t),
            }
        })
        .await;
    assert!(
        ended.is_ok(),
        "no ENDLIST after the stream went idle: {ended:?}"
    );
    let name = reel_media::StreamName::new("vod").unwrap();
    assert_eq!(srv.hls.is_ended(&name), Some(true));
    // The recording plays to the end with ffmpeg as the player: every frame of the three
    // segments, nothing else.
    let vod = srv.record_dir.path().join("vod/P144p30fps16x9/index.m3u8");
    let Playlist::MediaPlaylist(p) = parse_playlist(&std::fs::read(&vod).unwrap()).unwrap() else {
        panic!("media playlist");
    };
    assert_eq!(p.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
    assert_eq!(p.segments.len(), 3);
    let facts = crate::support::probe(&vod).unwrap();
    assert_eq!(facts.video().unwrap().frames, 180);
    assert!(
        (facts.duration - 6.0).abs() <= 1.0 / 30.0 + 0.05,
        "duration {}",
        facts.duration
    );
}

/// A bad upload gets `status` with an explanation; the server goes on.
async fn rejects(body: &[u8], status: u16, needle: &str) {
    let srv = start_http(HttpSettings::default()).await.unwrap();
    // A good segment first, so the stream has a session to lose.
    assert_eq!(
        push(&srv, "s", 0, &read(&fixtures().small[0]), false)
            .await
            .status,
        200
    );
    let r = push(&srv, "s", 1, body, true).await;
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.text().contains(needle), "{:?} lacks {needle:?}", r.text());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // The same stream continues, and other streams are served.
    assert_eq!(
        push(&srv, "s", 2, &read(&fixtures().small[1]), false)
            .await
            .status,
        200
    );
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_zero_bytes() {
    rejects(&[], 422, "empty segment").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_truncated_ts() {
    let mut data = read(&fixtures().small[0]);
    data.truncate(data.len() * 2 / 3 + 5);
    rejects(&data, 422, "truncated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_random_bytes() {
    let data: Vec<u8> = (0..188 * 266u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    rejects(&data, 422, "not MPEG-TS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_audio_only() {
    rejects(&read(&fixtures().audio_only), 422, "no video").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_unsupported_codec() {
    rejects(&read(&fixtures().mpeg2), 415, "MPEG-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_timestamps_backwards() {
    let f = fixtures();
    let mut data = read(&f.small[2]);
    data.extend(read(&f.small[1]));
    rejects(&data, 422, "backwards").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_resolution_change_is_a_discontinuity() {
    let f = fixtures();
    let srv = start_http(HttpSettings::default()).await.unwrap();
    assert_eq!(
        push(&srv, "rc", 0, &read(&f.small[0]), false).await.status,
        200
    );
    let r = push(&srv, "rc", 1, &read(&f.medium), true).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let p = http(srv.addr, "GET", "/stream/rc/P144p30fps16x9.m3u8", &[], b"")
        .await
        .unwrap();
    let Playlist::MediaPlaylist(media) = parse_playlist(&p.body).unwrap() else {
        panic!("media");
    };
    assert_eq!(media.segments.len(), 2);
    assert!(!media.segments[0].discontinuity);
    assert!(media.segments[1].discontinuity, "{}", p.text());
    // The source rendition now says 640x360.
    let m = http(srv.addr, "GET", "/stream/rc.m3u8", &[], b"")
        .await
        .unwrap();
    assert!(m.text().contains("RESOLUTION=640x360"), "{}", m.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_stale_sequence_number() {
    let srv = start_http(HttpSettings::default()).await.unwrap();
    let seg = read(&fixtures().small[0]);
    assert_eq!(push(&srv, "st", 5, &seg, false).await.status, 200);
    let r = push(&srv, "st", 5, &seg, false).await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(
        push(&srv, "st", 6, &read(&fixtures().small[1]), false)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_bad_names() {
    let srv = start_http(HttpSettings::default()).await.unwrap();
    let seg = read(&fixtures().small[0]);
    for path in [
        "/live/.hidden/0.ts",
        "/live/a%20b/0.ts",
        "/live/ok/zero.ts",
        "/live/ok/1.mp4",
    ] {
        let r = http(srv.addr, "PUT", path, &[], &seg).await.unwrap();
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    let r = http(srv.addr, "GET", "/live/ok/0.ts", &[], b"")
        .await
        .unwrap();
    assert_eq!(r.status, 405);
    still_serving(&srv).await;
}

/// Streams `total` zero bytes as the request body while reading the response; returns the
/// response and how many body bytes got out before it came.
async fn upload_zeros(srv: &TestHttp, total: u64, declare_length: bool) -> (HttpResponse, u64) {
    let sock = TcpStream::connect(srv.addr).await.unwrap();
    sock.set_nodelay(true).unwrap();
    let (mut rd, mut wr) = sock.into_split();
    let mut head = "PUT /live/big/0.ts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_owned();
    if declare_length {
        head.push_str(&format!("Content-Length: {total}\r\n\r\n"));
    } else {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    }
    wr.write_all(head.as_bytes()).await.unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent2 = std::sync::Arc::clone(&sent);
    let writer = tokio::spawn(async move {
        let chunk = vec![0u8; 64 << 10];
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        let mut n = 0u64;
        while n < total {
            let r = if declare_length {
                wr.write_all(&chunk).await
            } else {
                wr.write_all(&framed).await
            };
            if r.is_err() {
                break;
            }
            n += chunk.len() as u64;
            sent2.store(n, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the headers and the (short) body are in.
    let resp = loop {
        let n = tokio::time::timeout(Duration::from_secs(60), rd.read(&mut buf))
            .await
            .expect("no response to an oversized upload")
            .unwrap_or(0);
        raw.extend_from_slice(&buf[..n]);
        if let Ok(r) = crate::net::parse_response(&raw)
            && r.header("content-length")
                .and_then(|l| l.parse::<usize>().ok())
                == Some(r.body.len())
        {
            break r;
        }
        assert!(
            n > 0,
            "closed without a complete response: {:?}",
            String::from_utf8_lossy(&raw)
        );
    };
    let before = sent.load(std::sync::atomic::Ordering::Relaxed);
    writer.abort();
    (resp, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_of_300_mb_with_content_length_is_refused_at_once() {
    let srv = start_http(HttpSettings::default()).await.unwrap();
    let (r, sent) = upload_zeros(&srv, 300_000_000, true).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("too large"), "{}", r.text());
    assert!(
        sent < 300_000_000,
        "the server read the whole body first ({sent} bytes)"
    );
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_of_300_mb_is_cut_off_at_the_limit() {
    let srv = start_http(HttpSettings {
        max_segment_bytes: 8 << 20,
        ..Default::default()
    })
    .await
    .unwrap();
    let (r, sent) = upload_zeros(&srv, 300_000_000, false).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("more than 8388608 bytes"), "{}", r.text());
    assert!(sent < 100_000_000, "{sent} bytes went out before the 413");
    still_serving(&srv).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upload_times_out() {
    let srv = start_http(HttpSettings {
        upload_timeout: Duration::from_millis(500),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut sock = TcpStream::connect(srv.addr).await.unwrap();
    sock.write_all(
        b"PUT /live/slow/0.ts HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789",
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut raw))
        .await
        .unwrap()
        .ok();
    let r = crate::net::parse_response(&raw).unwrap();
    assert_eq!(r.status, 408, "{}", r.text());
    still_serving(&srv).await;
}
