//! `reel transcode`: a file (or a finished stream's URL) to an HLS ladder on disk, with the
//! same segmenter and transcode session a live stream goes through.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reel_media::hls::HlsSettings;
use reel_media::input::FileInput;
use reel_media::media::ticks_to_duration;
use reel_media::pipeline::hls_renditions;
use reel_media::{
    HlsStore, Segmenter, SegmenterSettings, SessionSettings, StreamName, TranscodeSession,
    VideoProfile,
};

#[derive(Debug, Args)]
pub(crate) struct TranscodeArgs {
    /// Input file or URL (anything FFmpeg reads with H.264 video)
    input: String,
    /// Ladder: standard profile names separated by commas, or a JSON ladder file
    #[arg(long, default_value = reel_media::profile::DEFAULT_LADDER, value_name = "NAMES|FILE")]
    profiles: String,
    /// Output directory; the HLS goes to <out>/<name>/
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Stream name (the subdirectory) [default: the input's file stem]
    #[arg(long)]
    name: Option<String>,
    /// Target segment length in seconds (segments end at the next keyframe)
    #[arg(long, default_value_t = 2.0)]
    segment_length: f64,
    /// libx264 preset
    #[arg(long, default_value = "veryfast")]
    preset: String,
    /// Threads per encoder (0: the encoder decides)
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Reads a ladder from a file when the argument names one, else parses it as names.
pub(crate) fn load_ladder(arg: &str) -> anyhow::Result<Vec<VideoProfile>> {
    let path = std::path::Path::new(arg);
    if path.is_file() {
        let text = std::fs::read(path)
            .with_context(|| format!("reading the ladder {}", path.display()))?;
        return reel_media::parse_ladder_json(&text)
            .with_context(|| format!("ladder file {}", path.display()));
    }
    reel_media::parse_ladder(arg).context("--profiles")
}

pub(crate) async fn run(args: TranscodeArgs) -> anyhow::Result<()> {
    let ladder = load_ladder(&args.profiles)?;
    anyhow::ensure!(
        args.segment_length > 0.0 && args.segment_length <= 60.0,
        "--segment-length must be between 0 and 60 seconds"
    );
    let name = match &args.name {
        Some(n) => n.clone(),
        None => std::path::Path::new(&args.input)
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            })
            .filter(|s: &String| !s.is_empty() && !s.starts_with('.'))
            .unwrap_or_else(|| "stream".into()),
    };
    let stream = StreamName::new(&name).context("--name")?;
    let mut settings = SessionSettings::new(ladder);
    settings.x264_preset = args.preset.clone();
    settings.encoder_threads = args.threads;
    let segment_length = Duration::from_secs_f64(args.segment_length);
    let out = args.out.clone();
    let input = args.input.clone();
    // Demuxing, decoding and encoding all block: one blocking thread drives them.
    let summary = tokio::task::spawn_blocking(move || {
        transcode_file(&input, &out, &stream, settings, segment_length)
    })
    .await
    .context("the transcode thread panicked")??;
    summary.print(&args.out.join(&name));
    Ok(())
}

struct Summary {
    segments: u64,
    media: Duration,
    wall: Duration,
    frames: u64,
    decoded_pixels: u64,
    renditions: Vec<(String, u32, u32, u64, u64)>,
}

impl Summary {
    fn print(&self, dir: &std::path::Path) {
        let speed = self.media.as_secs_f64() / self.wall.as_secs_f64().max(1e-9);
        println!(
            "transcoded {:.1} s of video in {:.1} s ({speed:.2}× realtime): {} segments, {} frames",
            self.media.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.segments,
            self.frames
        );
        println!("  decoded pixels  {}", self.decoded_pixels);
        for (name, w, h, frames, pixels) in &self.renditions {
            println!("  {name:<18} {w}x{h}  {frames} frames  {pixels} pixels");
        }
        println!("  playlist        {}", dir.join("index.m3u8").display());
    }
}

fn transcode_file(
    url: &str,
    out: &std::path::Path,
    stream: &StreamName,
    settings: SessionSettings,
    segment_length: Duration,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut input = FileInput::open(url)?;
    let total = input.duration();
    let mut session = TranscodeSession::new(settings)?;
    let mut segmenter = Segmenter::new(SegmenterSettings {
        target: segment_length,
        ..Default::default()
    });
    segmenter.set_audio_codec(input.audio_codec());
    let hls = Arc::new(HlsStore::new(HlsSettings {
        window: 6,
        keep_in_memory: 0,
        record_dir: Some(out.to_path_buf()),
    }));
    let bar = match total {
        Some(d) => ProgressBar::new(d.as_millis() as u64).with_style(
            ProgressStyle::with_template("{bar:40} {percent:>3}% {msg} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    let mut summary = Summary {
        segments: 0,
        media: Duration::ZERO,
        wall: Duration::ZERO,
        frames: 0,
        decoded_pixels: 0,
        renditions: session
            .settings()
            .profiles
            .iter()
            .map(|p| (p.name.clone(), 0, 0, 0, 0))
            .collect(),
    };
    let mut handle = |segment: reel_media::Segment, summary: &mut Summary| -> anyhow::Result<()> {
        let r = session
            .transcode(&segment)
            .with_context(|| format!("segment {}", segment.seq))?;
        let duration = ticks_to_duration(segment.duration_ticks);
        hls.publish(
            stream,
            segment.seq,
            duration,
            segment.discontinuity || (r.reset.is_some() && segment.seq > 0),
            &hls_renditions(&r, None, duration),
        )?;
        summary.segments += 1;
        summary.media += duration;
        summary.frames += r.decoded_frames;
        summary.decoded_pixels += r.decoded_pixels;
        for (acc, rend) in summary.renditions.iter_mut().zip(&r.renditions) {
            acc.1 = rend.width;
            acc.2 = rend.height;
            acc.3 += rend.frames;
            acc.4 += rend.pixels;
        }
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        bar.set_position(summary.media.as_millis() as u64);
        bar.set_message(format!(
            "{} frames, {:.0} fps, {:.2}× realtime",
            summary.frames,
            summary.frames as f64 / secs,
            summary.media.as_secs_f64() / secs
        ));
        Ok(())
    };
    while let Some(packet) = input.next_packet()? {
        if let Some(segment) = segmenter.push(packet)? {
            handle(segment, &mut summary)?;
        }
    }
    if let Some(segment) = segmenter.finish() {
        handle(segment, &mut summary)?;
    }
    hls.end(stream)?;
    bar.finish_and_clear();
    anyhow::ensure!(summary.segments > 0, "{url}: no video frames found");
    summary.wall = started.elapsed();
    Ok(summary)
}
