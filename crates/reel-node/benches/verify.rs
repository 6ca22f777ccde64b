//! Benchmark: what the gateway's checks cost per segment, the content checks against the
//! claims-only check they extend.
//!
//! 10 s of 1280x720 30 fps H.264 (2-s segments) is transcoded once to P720p30fps16x9,
//! P576p30fps16x9, P360p30fps16x9 and P240p30fps16x9 (libx264 veryfast); then, segment by
//! segment, in turn:
//!
//! - (a) the claims-only check (go-livepeer's `-localVerify`, reel's before the content
//!   checks): the source's first frame for its size, every rendition decoded in parallel
//!   to count its frames and pixels;
//! - (b) reel's full check (`verify::check_renditions`): the whole source decoded with
//!   three pictures kept, every rendition decoded in parallel keeping the three nearest
//!   pictures, then the content, frozen, frame-count and bitrate checks.
//!
//! The gateway runs the source's decode while the segment is away being transcoded, so (b)'s
//! source decode is printed apart: what lands on a segment's path is the rest. Run:
//! `cargo bench -p reel-node --bench verify`. REEL_BENCH_RUNS repeats (median; default 3).

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use reel_media::{SessionSettings, TranscodeSession, VideoProfile};
use reel_node::verify::{self, Sampling};
use reel_testkit::media::Clip;

const LADDER: [&str; 4] = [
    "P720p30fps16x9",
    "P576p30fps16x9",
    "P360p30fps16x9",
    "P240p30fps16x9",
];

fn main() -> Result<()> {
    let runs: usize = std::env::var("REEL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let dir = tempfile::tempdir()?;
    let paths = Clip::new(1280, 720, 10.0)
        .preset("veryfast")
        .video_bitrate("3000k")
        .pix_fmt("yuv420p")
        .write_segments(dir.path(), "in", 2)
        .context("making the input")?;
    let ladder: Vec<VideoProfile> = LADDER
        .iter()
        .map(|n| VideoProfile::standard(n).context("standard profile"))
        .collect::<Result<_>>()?;
    let mut session = TranscodeSession::new(SessionSettings::new(ladder.clone()))?;
    let mut segments = Vec::new();
    for (seq, path) in paths.iter().enumerate() {
        let ts = std::fs::read(path)?;
        let r = session.transcode(&reel_media::Segment {
            seq: seq as u64,
            duration_ticks: 180_000,
            discontinuity: false,
            media: reel_media::ts::demux(&ts)?,
        })?;
        let pixels: Vec<u64> = r.renditions.iter().map(|r| r.pixels).collect();
        let blobs: Vec<Bytes> = r.renditions.into_iter().map(|r| r.data).collect();
        segments.push((ts, blobs, pixels));
    }
    println!(
        "{} segments of 2 s 1280x720 30 fps, ladder {}, {runs} run(s), median per segment",
        segments.len(),
        LADDER.join(", ")
    );
    let (mut claims, mut source, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        for (ts, blobs, pixels) in &segments {
            let t0 = Instant::now();
            let first = verify::decode_first(ts)?;
            std::thread::scope(|s| {
                let handles: Vec<_> = ladder
                    .iter()
                    .zip(blobs)
                    .map(|(p, b)| {
                        s.spawn(move || verify::decode_rendition(b, p.codec, Sampling::None))
                    })
                    .collect();
                for h in handles {
                    let d = h
                        .join()
                        .map_err(|_| anyhow::anyhow!("decoder panicked"))??;
                    anyhow::ensure!(d.frames > 0 && first.size.0 > 0, "nothing decoded");
                }
                Ok::<(), anyhow::Error>(())
            })?;
            claims.push(t0.elapsed().as_secs_f64());

            let t1 = Instant::now();
            let src = verify::decode_source_for(ts, true)?;
            source.push(t1.elapsed().as_secs_f64());
            let t2 = Instant::now();
            verify::check_renditions(Ok(src), &ladder, blobs, pixels, true)
                .map_err(|e| anyhow::anyhow!(e))?;
            rest.push(t2.elapsed().as_secs_f64());
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] * 1000.0
    };
    let (a, s, r) = (median(claims), median(source), median(rest));
    println!("(a) claims only:                    {a:7.1} ms");
    println!("(b) full check, source decode:      {s:7.1} ms (while the segment is away)");
    println!("(b) full check, renditions + checks: {r:7.1} ms (on the segment's path)");
    println!(
        "on the segment's path (b)/(a) = {:.2}; all of (b)/(a) = {:.2}",
        r / a,
        (s + r) / a
    );
    Ok(())
}
