//! Test media made with the ffmpeg CLI, and ffprobe as the independent judge of outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// Media generated once per test binary.
pub(crate) struct Fixtures {
    _dir: tempfile::TempDir,
    /// 320x180 30 fps H.264 + AAC, 6 s, keyframe every 2 s, as three 2-s TS segments.
    pub(crate) small: Vec<PathBuf>,
    /// 640x360 30 fps H.264 + AAC, one 2-s TS segment, timestamps continuing `small`.
    pub(crate) medium: PathBuf,
    /// MPEG-2 video TS, 1 s.
    pub mpeg2: PathBuf,
    /// AAC-only TS, 1 s.
    pub(crate) audio_only: PathBuf,
}

pub(crate) fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| make_fixtures().expect("generating test media with the ffmpeg CLI"))
}

fn make_fixtures() -> Result<Fixtures> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().to_path_buf();
    let x264 = [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "60",
        "-keyint_min",
        "60",
        "-sc_threshold",
        "0",
        "-pix_fmt",
        "yuv420p",
    ];
    let aac = ["-c:a", "aac", "-b:a", "64k"];
    let mut args = lavfi_av(320, 180, 6.0);
    args.extend(x264.iter().map(|s| s.to_string()));
    args.extend(aac.iter().map(|s| s.to_string()));
    args.extend(
        [
            "-f",
            "segment",
            "-segment_time",
            "2",
            "-segment_format",
            "mpegts",
        ]
        .map(String::from),
    );
    args.push(dir.join("small%d.ts").display().to_string());
    ffmpeg(&args)?;
    let small: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("small{i}.ts"))).collect();
    for s in &small {
        ensure!(s.exists(), "ffmpeg did not write {}", s.display());
    }

    let medium = dir.join("medium.ts");
    let mut args = lavfi_av(640, 360, 2.0);
    args.extend(x264.iter().map(|s| s.to_string()));
    args.extend(aac.iter().map(|s| s.to_string()));
    // Continue after small's 6 s (which start at 1.4 s).
    args.extend(["-output_ts_offset", "6", "-f", "mpegts"].map(String::from));
    args.push(medium.display().to_string());
    ffmpeg(&args)?;

    let mpeg2 = dir.join("mpeg2.ts");
    let mut args = lavfi_av(320, 180, 1.0);
    args.extend(["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "mpegts"].map(String::from));
    args.push(mpeg2.display().to_string());
    ffmpeg(&args)?;

    let audio_only = dir.join("audio_only.ts");
    let args: Vec<String> = [
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=1",
        "-c:a",
        "aac",
        "-f",
        "mpegts",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([audio_only.display().to_string()])
    .collect();
    ffmpeg(&args)?;

    Ok(Fixtures {
        _dir: tmp,
        small,
        medium,
        mpeg2,
        audio_only,
    })
}

/// ffmpeg input arguments for a test pattern with a tone.
pub(crate) fn lavfi_av(w: u32, h: u32, seconds: f64) -> Vec<String> {
    vec![
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("testsrc2=size={w}x{h}:rate=30:duration={seconds}"),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("sine=frequency=440:sample_rate=44100:duration={seconds}"),
    ]
}

pub(crate) fn ffmpeg(args: &[String]) -> Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running ffmpeg (apt install ffmpeg)")?;
    if !out.status.success() {
        bail!(
            "ffmpeg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// What ffprobe says about one stream.
#[derive(Debug, Clone)]
pub(crate) struct StreamFacts {
    pub(crate) codec_type: String,
    pub(crate) codec_name: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Frames counted by decoding (`-count_frames`).
    pub(crate) frames: u64,
}

/// What ffprobe says about a file.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) streams: Vec<StreamFacts>,
    pub(crate) duration: f64,
}

impl Probe {
    pub(crate) fn video(&self) -> &StreamFacts {
        self.streams
            .iter()
            .find(|s| s.codec_type == "video")
            .expect("a video stream")
    }

    pub(crate) fn has_audio(&self) -> bool {
        self.streams.iter().any(|s| s.codec_type == "audio")
    }

    /// Σ w×h by ffprobe's own frame count.
    pub(crate) fn video_pixels(&self) -> u64 {
        let v = self.video();
        v.frames * u64::from(v.width) * u64::from(v.height)
    }
}

pub(crate) fn probe_bytes(data: &[u8]) -> Result<Probe> {
    let f = tempfile::NamedTempFile::with_suffix(".ts")?;
    std::fs::write(f.path(), data)?;
    probe(f.path())
}

pub(crate) fn probe(path: &Path) -> Result<Probe> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg("stream=codec_type,codec_name,width,height,nb_read_frames:format=duration")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    ensure!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let streams = v["streams"]
        .as_array()
        .context("no streams")?
        .iter()
        .map(|s| StreamFacts {
            codec_type: s["codec_type"].as_str().unwrap_or_default().into(),
            codec_name: s["codec_name"].as_str().unwrap_or_default().into(),
            width: s["width"].as_u64().unwrap_or(0) as u32,
            height: s["height"].as_u64().unwrap_or(0) as u32,
            frames: s["nb_read_frames"]
                .as_str()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
        .collect();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    Ok(Probe { streams, duration })
}

/// One decoded video frame as ffprobe reports it.
#[derive(Debug, Clone)]
pub(crate) struct FrameFacts {
    pub(crate) key: bool,
    pub(crate) pict_type: String,
    pub(crate) pts_time: f64,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// `data` in a temporary `.ts` file, removed when dropped.
fn ts_file(data: &[u8]) -> Result<tempfile::NamedTempFile> {
    let f = tempfile::NamedTempFile::with_suffix(".ts")?;
    std::fs::write(f.path(), data)?;
    Ok(f)
}

/// ffprobe's JSON for `entries` (`-show_entries`) of the first video stream of `path`.
fn probe_video_entries(path: &Path, entries: &str) -> Result<Value> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg(entries)
        .args(["-of", "json"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    ensure!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub(crate) fn video_frames_bytes(data: &[u8]) -> Result<Vec<FrameFacts>> {
    video_frames(ts_file(data)?.path())
}

pub(crate) fn video_frames(path: &Path) -> Result<Vec<FrameFacts>> {
    let v = probe_video_entries(path, "frame=key_frame,pict_type,pts_time,width,height")?;
    Ok(v["frames"]
        .as_array()
        .context("no frames")?
        .iter()
        .map(|f| FrameFacts {
            key: f["key_frame"].as_u64() == Some(1),
            pict_type: f["pict_type"].as_str().unwrap_or_default().into(),
            pts_time: f["pts_time"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(f64::NAN),
            width: f["width"].as_u64().unwrap_or(0) as u32,
            height: f["height"].as_u64().unwrap_or(0) as u32,
        })
        .collect())
}

/// One video packet as ffprobe reports it (90 kHz ticks).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketFacts {
    pub(crate) pts: i64,
    pub(crate) dts: i64,
    pub(crate) key: bool,
}

/// The video packets of a TS, in file (decode) order.
pub(crate) fn video_packets_bytes(data: &[u8]) -> Result<Vec<PacketFacts>> {
    let v = probe_video_entries(ts_file(data)?.path(), "packet=pts,dts,flags")?;
    v["packets"]
        .as_array()
        .context("no packets")?
        .iter()
        .map(|p| {
            Ok(PacketFacts {
                pts: p["pts"].as_i64().context("packet without pts")?,
                dts: p["dts"].as_i64().context("packet without dts")?,
                key: p["flags"].as_str().unwrap_or_default().starts_with('K'),
            })
        })
        .collect()
}

/// What the ffmpeg CLI's decoder complains about when it decodes a TS on its own (empty
/// when the stream decodes cleanly, with no missing references).
pub(crate) fn decode_errors(data: &[u8]) -> Result<String> {
    let f = ts_file(data)?;
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-nostdin", "-i"])
        .arg(f.path())
        .args(["-map", "0:v", "-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .context("running ffmpeg")?;
    ensure!(out.status.success(), "ffmpeg could not decode the stream");
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}
