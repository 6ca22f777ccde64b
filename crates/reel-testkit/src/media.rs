//! Test media made with the ffmpeg CLI, and ffprobe as the independent judge of outputs.
//!
//! The CLI, not the libraries reel links: a bug in reel's use of the FFmpeg libraries must
//! not be able to make the input or the verdict agree with it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// ffmpeg or ffprobe could not be run, failed, or said something unreadable.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The tool is not installed or could not start.
    #[error("running {tool} (apt install ffmpeg): {source}")]
    Spawn {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// The tool exited with an error.
    #[error("{tool} {args} failed: {stderr}")]
    Failed {
        /// `ffmpeg` or `ffprobe`.
        tool: &'static str,
        /// Its arguments, space-separated.
        args: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// ffprobe's JSON did not parse or lacked what was asked for.
    #[error("ffprobe output: {0}")]
    Probe(String),
    /// A temporary or output file could not be written or read.
    #[error("{what}: {source}")]
    Io {
        /// Which file, doing what.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MediaError {
    let what = what.into();
    move |source| MediaError::Io { what, source }
}

/// Runs `tool` with `args` to completion, stdin closed; its stdout on success.
fn run<S: AsRef<OsStr>>(tool: &'static str, args: &[S]) -> Result<Vec<u8>, MediaError> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| MediaError::Spawn { tool, source })?;
    if !out.status.success() {
        return Err(MediaError::Failed {
            tool,
            args: args
                .iter()
                .map(|a| a.as_ref().to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out.stdout)
}

/// Runs `ffmpeg -hide_banner -loglevel error -nostdin -y <args>` to completion.
pub fn ffmpeg<S: AsRef<OsStr>>(args: &[S]) -> Result<(), MediaError> {
    let mut all: Vec<&OsStr> = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        .iter()
        .map(OsStr::new)
        .collect();
    all.extend(args.iter().map(AsRef::as_ref));
    run("ffmpeg", &all).map(drop)
}

/// ffmpeg input arguments for a test pattern (`testsrc2`, 30 fps) with a 440 Hz tone
/// (44.1 kHz), both `seconds` long.
pub fn lavfi_av(w: u32, h: u32, seconds: f64) -> Vec<String> {
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

/// A test clip: `testsrc2` and a tone, encoded H.264 + AAC with a fixed GOP (no scene-cut
/// keyframes), so segment boundaries fall where a test expects them.
#[derive(Debug, Clone)]
pub struct Clip {
    width: u32,
    height: u32,
    seconds: f64,
    sample_rate: u32,
    preset: String,
    gop: u32,
    video_bitrate: Option<String>,
    audio_bitrate: Option<String>,
    pix_fmt: Option<String>,
    audio: bool,
}

impl Clip {
    /// `width`x`height` at 30 fps for `seconds`, x264 `ultrafast`, a keyframe every 60
    /// frames (2 s), AAC at ffmpeg's default rate, 44.1 kHz.
    pub fn new(width: u32, height: u32, seconds: f64) -> Self {
        Self {
            width,
            height,
            seconds,
            sample_rate: 44_100,
            preset: "ultrafast".into(),
            gop: 60,
            video_bitrate: None,
            audio_bitrate: None,
            pix_fmt: None,
            audio: true,
        }
    }

    /// Video only, no tone.
    #[must_use]
    pub fn without_audio(mut self) -> Self {
        self.audio = false;
        self
    }

    /// The x264 preset.
    #[must_use]
    pub fn preset(mut self, preset: &str) -> Self {
        self.preset = preset.into();
        self
    }

    /// A keyframe every `frames` frames, and only there.
    #[must_use]
    pub fn gop(mut self, frames: u32) -> Self {
        self.gop = frames;
        self
    }

    /// The video bitrate (`-b:v`, e.g. `6M`).
    #[must_use]
    pub fn video_bitrate(mut self, rate: &str) -> Self {
        self.video_bitrate = Some(rate.into());
        self
    }

    /// The audio bitrate (`-b:a`, e.g. `64k`).
    #[must_use]
    pub fn audio_bitrate(mut self, rate: &str) -> Self {
        self.audio_bitrate = Some(rate.into());
        self
    }

    /// The tone's sample rate.
    #[must_use]
    pub fn sample_rate(mut self, hz: u32) -> Self {
        self.sample_rate = hz;
        self
    }

    /// The pixel format (`-pix_fmt`, e.g. `yuv420p`).
    #[must_use]
    pub fn pix_fmt(mut self, fmt: &str) -> Self {
        self.pix_fmt = Some(fmt.into());
        self
    }

    /// ffmpeg's input and codec arguments for this clip, without an output.
    pub fn args(&self) -> Vec<String> {
        let (w, h, s) = (self.width, self.height, self.seconds);
        let mut a: Vec<String> = vec![
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("testsrc2=size={w}x{h}:rate=30:duration={s}"),
        ];
        if self.audio {
            a.extend([
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!(
                    "sine=frequency=440:sample_rate={}:duration={s}",
                    self.sample_rate
                ),
            ]);
        }
        let gop = self.gop.to_string();
        a.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                &self.preset,
                "-g",
                &gop,
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
            ]
            .map(String::from),
        );
        if let Some(b) = &self.video_bitrate {
            a.extend(["-b:v".into(), b.clone()]);
        }
        if let Some(p) = &self.pix_fmt {
            a.extend(["-pix_fmt".into(), p.clone()]);
        }
        if self.audio {
            a.extend(["-c:a".into(), "aac".into()]);
            if let Some(b) = &self.audio_bitrate {
                a.extend(["-b:a".into(), b.clone()]);
            }
        }
        a
    }

    /// Writes the clip as one MPEG-TS file, with `extra` output options (e.g.
    /// `-output_ts_offset 6`).
    pub fn write_ts(&self, path: &Path, extra: &[&str]) -> Result<(), MediaError> {
        let mut a = self.args();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(["-f".into(), "mpegts".into(), path.display().to_string()]);
        ffmpeg(&a)
    }

    /// Cuts the clip into MPEG-TS segments of `segment_secs` (at keyframes) named
    /// `{stem}{n}.ts` in `dir`, n from 0; their paths in order.
    pub fn write_segments(
        &self,
        dir: &Path,
        stem: &str,
        segment_secs: u32,
    ) -> Result<Vec<PathBuf>, MediaError> {
        let mut a = self.args();
        a.extend(
            [
                "-f",
                "segment",
                "-segment_time",
                &segment_secs.to_string(),
                "-segment_format",
                "mpegts",
            ]
            .map(String::from),
        );
        a.push(dir.join(format!("{stem}%d.ts")).display().to_string());
        ffmpeg(&a)?;
        let files: Vec<PathBuf> = (0..)
            .map(|i| dir.join(format!("{stem}{i}.ts")))
            .take_while(|p| p.exists())
            .collect();
        if files.is_empty() {
            return Err(MediaError::Probe(format!(
                "ffmpeg wrote no {stem}0.ts in {}",
                dir.display()
            )));
        }
        Ok(files)
    }
}

/// `n` MPEG-TS segments of one second each (320x180, 30 fps, AAC), cut by ffmpeg at
/// keyframes, as bytes: what an HTTP-push client sends. The files stay in `dir`.
pub fn segments(dir: &Path, n: usize) -> Result<Vec<Vec<u8>>, MediaError> {
    let files = Clip::new(320, 180, n as f64)
        .gop(30)
        .write_segments(dir, "seg", 1)?;
    files
        .iter()
        .take(n)
        .map(|p| std::fs::read(p).map_err(io(format!("reading {}", p.display()))))
        .collect()
}

/// What ffprobe says about one stream.
#[derive(Debug, Clone)]
pub struct StreamFacts {
    /// `video` or `audio`.
    pub codec_type: String,
    /// e.g. `h264`.
    pub codec_name: String,
    /// Width (0 for audio).
    pub width: u32,
    /// Height (0 for audio).
    pub height: u32,
    /// Frames counted by decoding (`-count_frames`).
    pub frames: u64,
}

/// What ffprobe says about a file.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Every stream, in order.
    pub streams: Vec<StreamFacts>,
    /// The container's duration in seconds.
    pub duration: f64,
}

impl Probe {
    /// The first video stream.
    pub fn video(&self) -> Result<&StreamFacts, MediaError> {
        self.streams
            .iter()
            .find(|s| s.codec_type == "video")
            .ok_or_else(|| MediaError::Probe("no video stream".into()))
    }

    /// Whether there is an audio stream.
    pub fn has_audio(&self) -> bool {
        self.streams.iter().any(|s| s.codec_type == "audio")
    }

    /// Σ w×h by ffprobe's own frame count of the first video stream (0 without one).
    pub fn video_pixels(&self) -> u64 {
        self.video().map_or(0, |v| {
            v.frames
                .saturating_mul(u64::from(v.width))
                .saturating_mul(u64::from(v.height))
        })
    }
}

fn json(out: &[u8]) -> Result<Value, MediaError> {
    serde_json::from_slice(out).map_err(|e| MediaError::Probe(e.to_string()))
}

fn u32_of(v: &Value) -> u32 {
    v.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn count_of(v: &Value) -> u64 {
    v.as_str().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Every stream of `target` (a file or URL) with its frames counted by decoding.
pub fn probe(target: impl AsRef<OsStr>) -> Result<Probe, MediaError> {
    let mut args: Vec<&OsStr> = [
        "-v",
        "error",
        "-count_frames",
        "-show_entries",
        "stream=codec_type,codec_name,width,height,nb_read_frames:format=duration",
        "-of",
        "json",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    args.push(target.as_ref());
    let v = json(&run("ffprobe", &args)?)?;
    let streams = v["streams"]
        .as_array()
        .ok_or_else(|| MediaError::Probe("no streams".into()))?
        .iter()
        .map(|s| StreamFacts {
            codec_type: s["codec_type"].as_str().unwrap_or_default().into(),
            codec_name: s["codec_name"].as_str().unwrap_or_default().into(),
            width: u32_of(&s["width"]),
            height: u32_of(&s["height"]),
            frames: count_of(&s["nb_read_frames"]),
        })
        .collect();
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    Ok(Probe { streams, duration })
}

/// [`probe`] of bytes (MPEG-TS or MP4), written to a temporary file first.
pub fn probe_bytes(data: &[u8]) -> Result<Probe, MediaError> {
    probe(ts_file(data)?.path())
}

/// The first video stream of `target` (a file or URL) alone, frames counted by decoding:
/// cheaper than [`probe`] when the audio does not matter (zeros when there is no video).
pub fn probe_video(target: impl AsRef<OsStr>) -> Result<StreamFacts, MediaError> {
    let mut args: Vec<&OsStr> = [
        "-v",
        "error",
        "-count_frames",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_type,codec_name,width,height,nb_read_frames",
        "-of",
        "json",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    args.push(target.as_ref());
    let v = json(&run("ffprobe", &args)?)?;
    let s = &v["streams"][0];
    Ok(StreamFacts {
        codec_type: s["codec_type"].as_str().unwrap_or_default().into(),
        codec_name: s["codec_name"].as_str().unwrap_or_default().into(),
        width: u32_of(&s["width"]),
        height: u32_of(&s["height"]),
        frames: count_of(&s["nb_read_frames"]),
    })
}

/// One decoded video frame as ffprobe reports it.
#[derive(Debug, Clone)]
pub struct FrameFacts {
    /// A keyframe.
    pub key: bool,
    /// `I`, `P` or `B`.
    pub pict_type: String,
    /// Presentation time in seconds (NaN when ffprobe gives none).
    pub pts_time: f64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// `data` in a temporary `.ts` file (`.mp4` for ISO BMFF bytes), removed when dropped.
fn ts_file(data: &[u8]) -> Result<tempfile::NamedTempFile, MediaError> {
    let suffix = if data.get(4..8) == Some(b"ftyp") {
        ".mp4"
    } else {
        ".ts"
    };
    let f = tempfile::NamedTempFile::with_suffix(suffix).map_err(io("a temporary file"))?;
    std::fs::write(f.path(), data).map_err(io(format!("writing {}", f.path().display())))?;
    Ok(f)
}

/// ffprobe's JSON for `entries` (`-show_entries`) of the first video stream of `path`.
fn probe_video_entries(path: &Path, entries: &str) -> Result<Value, MediaError> {
    let args: Vec<&OsStr> = [
        OsStr::new("-v"),
        OsStr::new("error"),
        OsStr::new("-select_streams"),
        OsStr::new("v:0"),
        OsStr::new("-show_entries"),
        OsStr::new(entries),
        OsStr::new("-of"),
        OsStr::new("json"),
        path.as_os_str(),
    ]
    .to_vec();
    json(&run("ffprobe", &args)?)
}

/// The decoded video frames of a segment (MPEG-TS or MP4) in bytes.
pub fn video_frames_bytes(data: &[u8]) -> Result<Vec<FrameFacts>, MediaError> {
    video_frames(ts_file(data)?.path())
}

/// The decoded video frames of a file, in presentation order.
pub fn video_frames(path: &Path) -> Result<Vec<FrameFacts>, MediaError> {
    let v = probe_video_entries(path, "frame=key_frame,pict_type,pts_time,width,height")?;
    Ok(v["frames"]
        .as_array()
        .ok_or_else(|| MediaError::Probe("no frames".into()))?
        .iter()
        .map(|f| FrameFacts {
            key: f["key_frame"].as_u64() == Some(1),
            pict_type: f["pict_type"].as_str().unwrap_or_default().into(),
            pts_time: f["pts_time"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(f64::NAN),
            width: u32_of(&f["width"]),
            height: u32_of(&f["height"]),
        })
        .collect())
}

/// One video packet as ffprobe reports it (90 kHz ticks).
#[derive(Debug, Clone, Copy)]
pub struct PacketFacts {
    /// Presentation timestamp.
    pub pts: i64,
    /// Decode timestamp.
    pub dts: i64,
    /// A keyframe.
    pub key: bool,
}

/// The video packets of a TS, in file (decode) order.
pub fn video_packets_bytes(data: &[u8]) -> Result<Vec<PacketFacts>, MediaError> {
    let v = probe_video_entries(ts_file(data)?.path(), "packet=pts,dts,flags")?;
    v["packets"]
        .as_array()
        .ok_or_else(|| MediaError::Probe("no packets".into()))?
        .iter()
        .map(|p| {
            Ok(PacketFacts {
                pts: p["pts"]
                    .as_i64()
                    .ok_or_else(|| MediaError::Probe("packet without pts".into()))?,
                dts: p["dts"]
                    .as_i64()
                    .ok_or_else(|| MediaError::Probe("packet without dts".into()))?,
                key: p["flags"].as_str().unwrap_or_default().starts_with('K'),
            })
        })
        .collect()
}

/// What the ffmpeg CLI's decoder complains about when it decodes a TS on its own (empty
/// when the stream decodes cleanly, with no missing references).
pub fn decode_errors(data: &[u8]) -> Result<String, MediaError> {
    let f = ts_file(data)?;
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-nostdin", "-i"])
        .arg(f.path())
        .args(["-map", "0:v", "-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| MediaError::Spawn {
            tool: "ffmpeg",
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(MediaError::Failed {
            tool: "ffmpeg",
            args: format!("-i {} -map 0:v -f null -", f.path().display()),
            stderr,
        });
    }
    Ok(stderr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clip_is_cut_into_segments_that_ffprobe_agrees_with() {
        let dir = tempfile::tempdir().unwrap();
        let segs = segments(dir.path(), 2).unwrap();
        assert_eq!(segs.len(), 2);
        let p = probe_bytes(&segs[0]).unwrap();
        let v = p.video().unwrap();
        assert_eq!(
            (v.codec_name.as_str(), v.width, v.height),
            ("h264", 320, 180)
        );
        assert_eq!(v.frames, 30);
        assert!(p.has_audio());
        let only = probe_video(dir.path().join("seg1.ts")).unwrap();
        assert_eq!((only.width, only.height, only.frames), (320, 180, 30));
        assert!(video_frames_bytes(&segs[1]).unwrap()[0].key);
        assert_eq!(decode_errors(&segs[0]).unwrap(), "");
    }

    #[test]
    fn a_failing_ffmpeg_says_what_it_ran_and_why() {
        let err = ffmpeg(&["-i", "/nonexistent/input.ts", "-f", "null", "-"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/input.ts"), "{msg}");
        assert!(msg.contains("No such file"), "{msg}");
    }
}
