//! Benchmark: reel's transcode session against one ffmpeg CLI process per segment.
//!
//! The same 1080p30 input (10 s, cut into 2-s MPEG-TS segments) goes to P720p30fps16x9,
//! P576p30fps16x9, P360p30fps16x9 and P240p30fps16x9 with identical libx264 settings
//! (preset, bitrate, threads; an IDR at every segment start; audio copied):
//!
//! - (a) reel: one `TranscodeSession` for the stream, segment after segment, its encoders
//!   kept open with sentinel frames ([`EncoderReuse::Sentinel`]); and (a') the same with an
//!   encoder opened per segment ([`EncoderReuse::Reopen`]);
//! - (b) ffmpeg: a process per segment, one decode split four ways (`split`, `scale`,
//!   `fps`), what a transcoder that shells out does;
//! - (c) the encode-only bound: the same four encoders fed frames that were decoded and
//!   scaled beforehand, in parallel as the session runs them. No pipeline that has to
//!   decode and scale can beat it.
//!
//! They run segment by segment in turn, so load from elsewhere on the machine falls on
//! all of them alike. Prints the throughput ratio (b/a), the realtime factors, how close
//! each comes to the bound, and CPU seconds (a fairer measure on a shared machine). Run: `scripts/bench-media.sh` (or `cargo bench -p reel-media --bench
//! session_vs_cli`). Environment: REEL_BENCH_THREADS (x264 threads per encoder, default 1),
//! REEL_BENCH_PRESET (default veryfast), REEL_BENCH_SECONDS (default 10), REEL_BENCH_RUNS
//! (repetitions, median reported; default 1), REEL_BENCH_BOUND (0 skips the encode-only
//! bound; default 1).

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use ffmpeg_next as ff;
use reel_media::{EncoderReuse, SessionSettings, TranscodeSession, VideoProfile};
use reel_testkit::bench::{Measure, median_by};

const LADDER: [&str; 4] = [
    "P720p30fps16x9",
    "P576p30fps16x9",
    "P360p30fps16x9",
    "P240p30fps16x9",
];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    // `cargo bench` passes --bench; nothing else to parse.
    let threads: usize = env_or("REEL_BENCH_THREADS", 1);
    let preset: String = env_or("REEL_BENCH_PRESET", "veryfast".to_owned());
    let seconds: u32 = env_or("REEL_BENCH_SECONDS", 10);
    let runs: usize = env_or("REEL_BENCH_RUNS", 1).max(1);
    let with_bound = env_or("REEL_BENCH_BOUND", 1u8) != 0;
    ff::init()?;
    ff::util::log::set_level(ff::util::log::Level::Error);
    let dir = std::env::temp_dir().join("reel-bench-media");
    std::fs::create_dir_all(&dir)?;
    let segments = reel_testkit::bench::segments_once(&dir, (1920, 1080), seconds, "6000k")?;
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

    let data: Vec<Vec<u8>> = segments
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<_>>()?;
    let out = dir.join("cli-out");
    std::fs::create_dir_all(&out)?;
    let graph = cli_graph(&ladder);
    let modes = [
        ("(a) reel, sentinel     ", EncoderReuse::Sentinel),
        ("(a') reel, reopen      ", EncoderReuse::Reopen),
    ];
    let (mut reel, mut cli, mut bound) = (vec![Vec::new(); modes.len()], Vec::new(), Vec::new());
    for run in 0..runs {
        // All go segment by segment in turn, so that whatever else the machine is doing
        // falls on all of them alike.
        let mut a = vec![Measure::ZERO; modes.len()];
        let (mut b, mut c) = (Measure::ZERO, Measure::ZERO);
        let mut sessions = Vec::new();
        for ((_, reuse), a) in modes.iter().zip(&mut a) {
            *a += measure(|| {
                let mut settings = SessionSettings::new(ladder.clone());
                settings.x264_preset = preset.clone();
                settings.encoder_threads = threads;
                settings.encoder_reuse = *reuse;
                sessions.push(TranscodeSession::new(settings)?);
                Ok(())
            })?;
        }
        let mut frames = vec![vec![0u64; ladder.len()]; modes.len()];
        for (seq, (path, ts)) in segments.iter().zip(&data).enumerate() {
            for ((session, a), frames) in sessions.iter_mut().zip(&mut a).zip(&mut frames) {
                *a += measure(|| {
                    let r = session.transcode_ts(seq as u64, ts)?;
                    for (f, rend) in frames.iter_mut().zip(&r.renditions) {
                        *f += rend.frames;
                    }
                    Ok(())
                })?;
            }
            b += measure(|| run_cli_segment(path, &out, seq, &graph, &ladder, &preset, threads))?;
            if with_bound {
                let scaled = decode_and_scale(path, &ladder)?;
                c += measure(|| encode_parallel(&ladder, &scaled, &preset, threads))?;
            }
        }
        for ((label, _), (frames, session)) in modes.iter().zip(frames.iter().zip(&sessions)) {
            ensure!(
                frames.iter().all(|f| *f == u64::from(seconds) * 30),
                "{label}: frames per rendition {frames:?}"
            );
            let stats = session.encoder_stats();
            eprintln!(
                "run {}: {} encoder opens {:?}, sentinel frames {:?}",
                run + 1,
                label.trim(),
                stats.iter().map(|s| s.opens).collect::<Vec<_>>(),
                stats.iter().map(|s| s.sentinel_frames).collect::<Vec<_>>()
            );
        }
        let bound_wall = if with_bound {
            format!("{:.2} s", c.wall)
        } else {
            "skipped".to_owned()
        };
        eprintln!(
            "run {}: reel sentinel {:.2} s, reel reopen {:.2} s, ffmpeg CLI {:.2} s, encode-only {bound_wall}",
            run + 1,
            a[0].wall,
            a[1].wall,
            b.wall,
        );
        for (all, a) in reel.iter_mut().zip(a) {
            all.push(a);
        }
        cli.push(b);
        bound.push(c);
    }
    let a: Vec<Measure> = reel.into_iter().map(median_by).collect();
    let (b, c) = (median_by(cli), median_by(bound));
    let media = f64::from(seconds);
    println!();
    println!("                          wall      realtime   % of encode-only bound   CPU");
    let rows = modes
        .iter()
        .map(|(label, _)| *label)
        .zip(a.iter().copied())
        .chain([("(b) ffmpeg per segment ", b)]);
    for (label, m) in rows {
        let of_bound = if with_bound {
            format!("{:>5.1} %", 100.0 * c.wall / m.wall)
        } else {
            "    – ".to_owned()
        };
        println!(
            "{label}{:>7.2} s   {:>6.2}×     {of_bound}                 {:>6.1} s",
            m.wall,
            media / m.wall,
            m.cpu
        );
    }
    if with_bound {
        println!(
            "(c) encode-only bound   {:>7.2} s   {:>6.2}×     100.0 %                 {:>6.1} s",
            c.wall,
            media / c.wall,
            c.cpu
        );
    }
    println!();
    for ((label, _), m) in modes.iter().zip(&a) {
        println!(
            "throughput ratio ffmpeg CLI / {}: {:.2}× (target ≥ 1.15×); CPU {:.2} s per second of video",
            label.trim_start_matches(|ch: char| ch != ' ').trim(),
            b.wall / m.wall,
            m.cpu / media
        );
    }
    println!(
        "sentinel vs reopen: reopen / sentinel wall {:.2}×, CPU {:.2}×; ffmpeg CLI CPU {:.2} s per second of video",
        a[1].wall / a[0].wall,
        a[1].cpu / a[0].cpu,
        b.cpu / media
    );
    Ok(())
}

/// One decode split four ways: `split`, then `scale` and `fps` per rung.
fn cli_graph(ladder: &[VideoProfile]) -> String {
    let mut graph = format!("[0:v]split={}", ladder.len());
    for i in 0..ladder.len() {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, p) in ladder.iter().enumerate() {
        let (w, h) = p.output_size(1920, 1080);
        graph.push_str(&format!(";[s{i}]scale={w}:{h},fps={}[o{i}]", p.fps));
    }
    graph
}

/// One ffmpeg process for one segment, four outputs with the session's x264 settings.
fn run_cli_segment(
    seg: &Path,
    out: &Path,
    seq: usize,
    graph: &str,
    ladder: &[VideoProfile],
    preset: &str,
    threads: usize,
) -> Result<()> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(seg)
        .args(["-filter_complex", graph]);
    for (i, p) in ladder.iter().enumerate() {
        cmd.args([
            "-map",
            &format!("[o{i}]"),
            "-map",
            "0:a",
            "-c:v",
            "libx264",
            "-preset",
            preset,
        ])
        .args([
            "-threads",
            &threads.to_string(),
            "-b:v",
            &p.bitrate.to_string(),
            "-c:a",
            "copy",
        ])
        .args(["-f", "mpegts"])
        .arg(out.join(format!("{}_{seq}.ts", p.name)));
    }
    let status = cmd.status().context("running ffmpeg")?;
    ensure!(status.success(), "ffmpeg failed on segment {seq}");
    Ok(())
}

/// The encoders alone on frames decoded and scaled beforehand, one thread per rendition as
/// the session runs them.
fn encode_parallel(
    ladder: &[VideoProfile],
    frames: &[Vec<ff::frame::Video>],
    preset: &str,
    threads: usize,
) -> Result<()> {
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = ladder
            .iter()
            .zip(frames)
            .map(|(p, fs)| s.spawn(move || encode_all(p, fs, preset, threads)))
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("encoder thread panicked"))??;
        }
        Ok(())
    })
}

fn decode_and_scale(seg: &Path, ladder: &[VideoProfile]) -> Result<Vec<Vec<ff::frame::Video>>> {
    let mut input = ff::format::input(seg)?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .context("no video")?;
    let index = stream.index();
    let mut decoder = ff::codec::Context::from_parameters(stream.parameters())?
        .decoder()
        .video()?;
    let mut scalers: Vec<ff::software::scaling::Context> = Vec::new();
    let mut out: Vec<Vec<ff::frame::Video>> = vec![Vec::new(); ladder.len()];
    let mut handle =
        |frame: &ff::frame::Video, out: &mut Vec<Vec<ff::frame::Video>>| -> Result<()> {
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
fn encode_all(
    p: &VideoProfile,
    frames: &[ff::frame::Video],
    preset: &str,
    threads: usize,
) -> Result<()> {
    let Some(first) = frames.first() else {
        return Ok(());
    };
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

/// [`reel_testkit::bench::measure`] for this file's anyhow closures.
fn measure(f: impl FnOnce() -> Result<()>) -> Result<Measure> {
    reel_testkit::bench::measure(f)
}
