//! `reel transcode` and `reel ingest-test` run as a user runs them, judged by ffprobe.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reel_testkit::{Wait, wait_until_blocking};

fn ffmpeg(args: &[&str]) {
    reel_testkit::media::ffmpeg(args).unwrap();
}

/// (codec, width, height, frames) of the video stream, by decoding.
fn probe(target: &str) -> (String, u64, u64, u64) {
    let v = reel_testkit::media::probe_video(target).unwrap();
    (
        v.codec_name,
        u64::from(v.width),
        u64::from(v.height),
        v.frames,
    )
}

#[test]
fn transcode_a_file_to_an_hls_ladder() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("clip.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=640x360:rate=30:duration=4",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-c:a",
        "aac",
        input.to_str().unwrap(),
    ]);
    let out_dir = dir.path().join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "transcode",
            input.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .args([
            "--profiles",
            "P144p30fps16x9,P240p30fps16x9",
            "--preset",
            "ultrafast",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("× realtime"), "{stdout}");
    assert!(stdout.contains("120 frames"), "{stdout}");
    // The summary's pixel counts are ffprobe's frame count times the size.
    for (name, w, h) in [
        ("P144p30fps16x9", 256u64, 144u64),
        ("P240p30fps16x9", 426, 240),
    ] {
        let playlist = out_dir.join("clip").join(name).join("index.m3u8");
        let (codec, pw, ph, frames) = probe(playlist.to_str().unwrap());
        assert_eq!(
            (codec.as_str(), pw, ph, frames),
            ("h264", w, h, 120),
            "{name}"
        );
        let line = stdout.lines().find(|l| l.contains(name)).unwrap();
        assert!(
            line.contains(&format!("{} pixels", frames * w * h)),
            "{line}"
        );
    }
    assert!(Path::new(&out_dir.join("clip/index.m3u8")).exists());

    // A missing input is a clear error, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "transcode",
            "/nonexistent.mp4",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn ingest_test_takes_rtmp_and_serves_hls_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args([
            "ingest-test",
            "--rtmp-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(["--profiles", "P144p30fps16x9", "--preset", "ultrafast"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut rtmp, mut http) = (String::new(), String::new());
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if let Some(rest) = line.trim().strip_prefix("publish   rtmp://") {
            rtmp = rest.split('/').next().unwrap().to_owned();
        }
        if let Some(rest) = line.trim().strip_prefix("play      http://") {
            http = rest.split('/').next().unwrap().to_owned();
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert!(!rtmp.is_empty() && !http.is_empty(), "no addresses printed");

    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=30:duration=4",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-c:a",
        "aac",
        "-f",
        "flv",
        &format!("rtmp://{rtmp}/live/cli"),
    ]);
    Wait::new("a finished playlist", Duration::from_secs(60))
        .every(Duration::from_millis(100))
        .until_ok_blocking(|| {
            let (status, body) = http_get(&http, "/stream/cli/P144p30fps16x9.m3u8");
            match status == 200 && body.contains("#EXT-X-ENDLIST") {
                true => Ok(()),
                false => Err(format!("{status} {body}")),
            }
        })
        .unwrap_or_else(|e| panic!("no finished playlist: {e}"));
    let (codec, w, h, frames) = probe(&format!("http://{http}/stream/cli/P144p30fps16x9.m3u8"));
    assert_eq!((codec.as_str(), w, h, frames), ("h264", 256, 144, 120));

    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_until_blocking("reel ingest-test to stop", Duration::from_secs(20), || {
        child.try_wait().unwrap()
    })
    .expect("reel ingest-test did not stop on SIGTERM");
    assert!(status.success(), "{status:?}");
}
