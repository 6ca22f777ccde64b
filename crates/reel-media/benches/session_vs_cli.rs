//! Benchmark: reel's transcode session against one ffmpeg CLI process per segment.
//!
//! The same 1080p30 input (10 s, cut into 2-s MPEG-TS segments) goes to P720p30fps16x9,
//! P576p30fps16x9, P360p30fps16x9 and P240p30fps16x9 with identical libx264 settings
//! (preset, bitrate, threads; an IDR at every segment start; audio copied):
//!
//! - (a) reel: one `TranscodeSession` for the stream, segment after segment;
//! - (b) ffmpeg: a process per segment, one decode split four ways (`split`, `scale`,
//!   `fps`), what a transcoder that shells out does;
//! - (c) the encode-only bound: the same four encoders fed frames that were decoded and
//!   scaled beforehand, in parallel as the session runs them. No pipeline that has to
//!   decode and scale can beat it.
//!
//! Prints the throughput ratio (b/a), the realtime factors and how close each comes to the
//! bound. Run: `scripts/bench-media.sh` (or `cargo bench -p reel-media --bench
//! session_vs_cli`). Environment: REEL_BENCH_THREADS (x264 threads per encoder, default 1),
//! REEL_BENCH_PRESET (default veryfast), REEL_BENCH_SECONDS (default 10), REEL_BENCH_RUNS
//! (repetitions, median reported; default 1).

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use ffmpeg_next as ff;
use reel_media::{SessionSettings, TranscodeSession, VideoProfile};

const LADDER: [&str; 4] = ["P720p30fps16x9", "P576p30fps16x9", "P360p30fps16x9", "P240p30fps16x9"];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> Result<()> {
    // `cargo bench` passes --bench; nothing else to parse.
    let threads: usize = env_or("REEL_BENCH_THREADS", 1);
    let preset: String = env_or("REEL_BENCH_PRESET", "veryfast".to_owned());
    let seconds: u32 = env_or("REEL_BENCH_SECONDS", 10);
    let runs: usize = env_or("REEL_BENCH_RUNS", 1).max(1);
    let dir = std::env::temp_dir().join("reel-bench-media");
    std::fs::create_dir_all(&dir)?;
    let segments = make_input(&dir, seconds)?;
    let ladder: Vec<VideoProfile> = LADDER
        .iter()
        .map(|n| VideoProfile::standard(n).context("standard profile"))
        .collect::<Result<_>>()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "input: {seconds} s 1920x1080 30 fps H.264 + AAC in {} segments; ladder {}; libx264 preset {preset}, \
         {threads} thread(s) per encoder; {cores} cores; {runs} run(s), median",
        segments.len(),
        LADDER.join(", ")
    );

    let mut reel = Vec::new();
    let mut cli = Vec::new();
    let mut bound = Vec::new();
    for _ in 0..runs {
        reel.push(run_reel(&segments, &ladder, &preset, threads)?);
        cli.push(run_cli(&dir, &segments, &ladder, &preset, threads)?);
        bound.push(run_encode_only(&segments, &ladder, &preset, threads)?);
    }
    let (a, b, c) = (median(reel), median(cli), median(bound));
    let media = f64::from(seconds);
    println!();
    println!("                          wall      realtime   % of encode-only bound");
    println!("(a) reel session       {:>7.2} s   {:>6.2}×     {:>5.1} %", a, media / a, 100.0 * c / a);
    println!("(b) ffmpeg per segment {:>7.2} s   {:>6.2}×     {:>5.1} %", b, media / b, 100.0 * c / b);
    println!("(c) encode-only bound  {:>7.2} s   {:>6.2}×     100.0 %", c, media / c);
    println!();
    println!("throughput ratio reel / ffmpeg CLI: {:.2}× (target ≥ 1.15×)", b / a);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Makes (once) the 1080p input and its 2-s TS segments.
fn make_input(dir: &Path, seconds: u32) -> Result<Vec<PathBuf>> {
    let stamp = dir.join(format!("segments-{seconds}s.done"));
    let count = seconds.div_ceil(2) as usize;
    let segments: Vec<PathBuf> = (0..count).map(|i| dir.join(format!("in{seconds}s-{i}.ts"))).collect();
    if stamp.exists() && segments.iter().all(|s| s.exists()) {
        return Ok(segments);
    }
    eprintln!("making the 1080p test input (once)…");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size=1920x1080:rate=30:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=48000:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "veryfast", "-b:v", "6000k", "-g", "60", "-keyint_min", "60"])
        .args(["-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"])
        .args(["-f", "segment", "-segment_time", "2", "-segment_format", "mpegts"])
        .arg(dir.join(format!("in{seconds}s-%d.ts")))
        .status()
        .context("running ffmpeg")?;
    ensure!(status.success(), "ffmpeg could not make the input");
    for s in &segments {
        ensure!(s.exists(), "missing {}", s.display());
    }
    std::fs::write(&stamp, b"")?;
    Ok(segments)
}

fn run_reel(segments: &[PathBuf], ladder: &[VideoProfile], preset: &str, threads: usize) -> Result<f64> {
    let data: Vec<Vec<u8>> = segments.iter().map(std::fs::read).collect::<std::io::Result<_>>()?;
    let start = Instant::now();
    let mut settings = SessionSettings::new(ladder.to_vec());
    settings.x264_preset = preset.to_owned();
    settings.encoder_threads = threads;
    let mut session = TranscodeSession::new(settings)?;
    let mut frames = vec![0u64; ladder.len()];
    for (seq, ts) in data.iter().enumerate() {
        let r = session.transcode_ts(seq as u64, ts)?;
        for (f, rend) in frames.iter_mut().zip(&r.renditions) {
            *f += rend.frames;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    eprintln!("(a) reel: {wall:.2} s, frames per rendition {frames:?}");
    Ok(wall)
}

fn run_cli(dir: &Path, segments: &[PathBuf], ladder: &[VideoProfile], preset: &str, threads: usize) -> Result<f64> {
    let out = dir.join("cli-out");
    std::fs::create_dir_all(&out)?;
    let mut graph = format!("[0:v]split={}", ladder.len());
    for i in 0..ladder.len() {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, p) in ladder.iter().enumerate() {
        let (w, h) = p.output_size(1920, 1080);
        graph.push_str(&format!(";[s{i}]scale={w}:{h},fps={}[o{i}]", p.fps));
    }
    let start = Instant::now();
    for (seq, seg) in segments.iter().enumerate() {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
            .arg(seg)
            .args(["-filter_complex", &graph]);
        for (i, p) in ladder.iter().enumerate() {
            cmd.args(["-map", &format!("[o{i}]"), "-map", "0:a", "-c:v", "libx264", "-preset", preset])
                .args(["-threads", &threads.to_string(), "-b:v", &p.bitrate.to_string(), "-c:a", "copy"])
                .args(["-f", "mpegts"])
                .arg(out.join(format!("{}_{seq}.ts", p.name)));
        }
        let status = cmd.status().context("running ffmpeg")?;
        ensure!(status.success(), "ffmpeg failed on segment {seq}");
    }
    let wall = start.elapsed().as_secs_f64();
    eprintln!("(b) ffmpeg CLI: {wall:.2} s");
    Ok(wall)
}

/// Decodes and scales each segment beforehand, then times only the encoders, one thread
/// per rendition as the session runs them, with the session's encoder settings.
fn run_encode_only(segments: &[PathBuf], ladder: &[VideoProfile], preset: &str, threads: usize) -> Result<f64> {
    ff::init()?;
    let mut total = Duration::ZERO;
    for seg in segments {
        let frames = decode_and_scale(seg, ladder)?;
        let start = Instant::now();
        std::thread::scope(|s| -> Result<()> {
            let handles: Vec<_> = ladder
                .iter()
                .zip(&frames)
                .map(|(p, fs)| s.spawn(move || encode_all(p, fs, preset, threads)))
                .collect();
            for h in handles {
                h.join().map_err(|_| anyhow::anyhow!("encoder thread panicked"))??;
            }
            Ok(())
        })?;
        total += start.elapsed();
    }
    let wall = total.as_secs_f64();
    eprintln!("(c) encode only: {wall:.2} s");
    Ok(wall)
}

fn decode_and_scale(seg: &Path, ladder: &[VideoProfile]) -> Result<Vec<Vec<ff::frame::Video>>> {
    let mut input = ff::format::input(seg)?;
    let stream = input.streams().best(ff::media::Type::Video).context("no video")?;
    let index = stream.index();
    let mut decoder = ff::codec::Context::from_parameters(stream.parameters())?.decoder().video()?;
    let mut scalers: Vec<ff::software::scaling::Context> = Vec::new();
    let mut out: Vec<Vec<ff::frame::Video>> = vec![Vec::new(); ladder.len()];
    let mut handle = |frame: &ff::frame::Video, out: &mut Vec<Vec<ff::frame::Video>>| -> Result<()> {
        if scalers.is_empty() {
            for p in ladder {
                let (w, h) = p.output_size(frame.width(), frame.height());
                scalers.push(ff::software::scaling::Context::get(
                    frame.format(),
                    frame.width(),
                    frame.height(),
                    ff::format::Pixel::YUV420P,
                    w,
                    h,
                    ff::software::scaling::Flags::BICUBIC,
                )?);
            }
        }
        for (i, sc) in scalers.iter_mut().enumerate() {
            let mut o = ff::frame::Video::empty();
            sc.run(frame, &mut o)?;
            o.set_pts(frame.timestamp());
            out[i].push(o);
        }
        Ok(())
    };
    let mut frame = ff::frame::Video::empty();
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        decoder.send_packet(&packet)?;
        while decoder.receive_frame(&mut frame).is_ok() {
            handle(&frame, &mut out)?;
        }
    }
    decoder.send_eof()?;
    while decoder.receive_frame(&mut frame).is_ok() {
        handle(&frame, &mut out)?;
    }
    Ok(out)
}

/// The session's encoder setup (see `transcode/worker.rs`), fed ready frames.
fn encode_all(p: &VideoProfile, frames: &[ff::frame::Video], preset: &str, threads: usize) -> Result<()> {
    let Some(first) = frames.first() else { return Ok(()) };
    let codec = ff::encoder::find_by_name("libx264").context("libx264")?;
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    ctx.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
    let mut enc = ctx.encoder().video()?;
    enc.set_width(first.width());
    enc.set_height(first.height());
    enc.set_format(ff::format::Pixel::YUV420P);
    enc.set_time_base(ff::Rational::new(1, 90_000));
    enc.set_frame_rate(Some(ff::Rational::new(p.fps as i32, 1)));
    enc.set_bit_rate(p.bitrate as usize);
    let mut opts = ff::Dictionary::new();
    opts.set("preset", preset);
    let mut enc = enc.open_with(opts)?;
    let mut packet = ff::Packet::empty();
    let mut bytes = 0usize;
    for f in frames {
        enc.send_frame(f)?;
        while enc.receive_packet(&mut packet).is_ok() {
            bytes += packet.size();
        }
    }
    enc.send_eof()?;
    while enc.receive_packet(&mut packet).is_ok() {
        bytes += packet.size();
    }
    ensure!(bytes > 0, "no output");
    Ok(())
}
