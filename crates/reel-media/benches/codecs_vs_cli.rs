//! Benchmark: the encode cost of each codec reel renders (H.264, HEVC, VP8, VP9, AV1), in
//! reel's transcode session against the ffmpeg CLI with the same settings.
//!
//! The same input (10 s of 1280x720 30 fps H.264 + AAC, cut into 2-s MPEG-TS segments)
//! goes to one P360p30fps16x9 rung (640x360, 1.2 Mbit/s) per codec:
//!
//! - (a) reel: one `TranscodeSession` for the stream, segment after segment, muxed into
//!   MPEG-TS (H.264, HEVC) or fragmented MP4 (VP8, VP9, AV1) as a gateway receives them;
//! - (b) ffmpeg: one process for the whole stream (the segments concatenated), the same
//!   encoder and options (`encoder_options` in `transcode/worker.rs`), a keyframe forced
//!   every 2 s where reel starts each segment, the output thrown away. One process is the
//!   stronger anchor: it pays no per-segment start-up and no muxing.
//!
//! The two alternate codec by codec, so load from elsewhere falls on both alike. Prints wall
//! and CPU seconds, the realtime factor, and the ratio (a/b) per codec. Run:
//! `scripts/bench-codecs.sh` (or `cargo bench -p reel-media --bench codecs_vs_cli`).
//! Environment: REEL_BENCH_SECONDS (default 10), REEL_BENCH_RUNS (median of; default 1).

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use reel_media::profile::VideoCodec;
use reel_media::{SessionSettings, TranscodeSession, VideoProfile};
use reel_testkit::bench::median_by;

/// Each codec with the CLI's encoder and options, as `encoder_options` sets them.
const CODECS: [(VideoCodec, &[&str]); 5] = [
    (
        VideoCodec::H264,
        &["-c:v", "libx264", "-preset", "veryfast"],
    ),
    (
        VideoCodec::Hevc,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "veryfast",
            "-x265-params",
            "log-level=error",
        ],
    ),
    (
        VideoCodec::Vp8,
        &[
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-lag-in-frames",
            "0",
        ],
    ),
    (
        VideoCodec::Vp9,
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-lag-in-frames",
            "0",
            "-row-mt",
            "1",
        ],
    ),
    (
        VideoCodec::Av1,
        &[
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-svtav1-params",
            "pred-struct=1",
        ],
    ),
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let seconds: u32 = env_or("REEL_BENCH_SECONDS", 10);
    let runs: usize = env_or("REEL_BENCH_RUNS", 1).max(1);
    let dir = std::env::temp_dir().join("reel-bench-codecs");
    std::fs::create_dir_all(&dir)?;
    let segments = reel_testkit::bench::segments_once(&dir, (1280, 720), seconds, "3000k")?;
    let data: Vec<Vec<u8>> = segments
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<_>>()?;
    let joined = dir.join(format!("joined-{seconds}s.ts"));
    std::fs::write(&joined, data.concat())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "input: {seconds} s 1280x720 30 fps H.264 + AAC in {} segments; one 640x360 1.2 Mbit/s rung per \
         codec; encoders choose their threads; {cores} cores; {runs} run(s), median",
        segments.len()
    );
    println!(
        "{:<6} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>11}",
        "codec", "reel wall", "reel CPU", "CLI wall", "CLI CPU", "reel ×RT", "CLI ×RT", "wall a/b"
    );
    for (codec, cli_args) in CODECS {
        let mut reel = Vec::with_capacity(runs);
        let mut cli = Vec::with_capacity(runs);
        for _ in 0..runs {
            reel.push(measure(|| run_reel(codec, &segments))?);
            cli.push(measure(|| run_cli(&joined, cli_args))?);
        }
        let (a, b) = (median_by(reel), median_by(cli));
        let media = f64::from(seconds);
        println!(
            "{:<6} {:>9.2}s {:>9.2}s {:>9.2}s {:>9.2}s {:>7.2}× {:>7.2}× {:>11.2}",
            codec.name(),
            a.wall,
            a.cpu,
            b.wall,
            b.cpu,
            media / a.wall,
            media / b.wall,
            a.wall / b.wall
        );
    }
    Ok(())
}

fn profile(codec: VideoCodec) -> Result<VideoProfile> {
    let mut p = VideoProfile::standard("P360p30fps16x9").context("standard profile")?;
    p.codec = codec;
    p.name = codec.name().to_lowercase();
    Ok(p)
}

fn run_reel(codec: VideoCodec, segments: &[PathBuf]) -> Result<()> {
    let mut session = TranscodeSession::new(SessionSettings::new(vec![profile(codec)?]))?;
    for (seq, path) in segments.iter().enumerate() {
        let media = reel_media::ts::demux(&std::fs::read(path)?)?;
        let r = session.transcode(&reel_media::Segment {
            seq: seq as u64,
            duration_ticks: 180_000,
            discontinuity: false,
            media,
        })?;
        ensure!(
            r.renditions.first().is_some_and(|r| !r.data.is_empty()),
            "{codec:?}: empty rendition"
        );
    }
    Ok(())
}

fn run_cli(input: &Path, encoder: &[&str]) -> Result<()> {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-nostdin", "-i"])
        .arg(input)
        .args([
            "-map",
            "0:v",
            "-vf",
            "scale=640:360",
            "-r",
            "30",
            "-b:v",
            "1200k",
        ])
        .args(encoder)
        .args([
            "-force_key_frames",
            "expr:gte(t,n_forced*2)",
            "-f",
            "null",
            "-",
        ])
        .env("SVT_LOG", "1")
        .status()
        .context("running ffmpeg")?;
    ensure!(status.success(), "ffmpeg {encoder:?} failed");
    Ok(())
}

/// [`reel_testkit::bench::measure`] for this file's anyhow closures.
fn measure(f: impl FnOnce() -> Result<()>) -> Result<reel_testkit::bench::Measure> {
    reel_testkit::bench::measure(f)
}
