//! The test media this crate's tests share, made once per test binary with the ffmpeg CLI;
//! the ffmpeg and ffprobe plumbing is `reel_testkit::media`.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Result, ensure};
use reel_testkit::media::{Clip, ffmpeg};
pub(crate) use reel_testkit::media::{
    FrameFacts, Probe, decode_errors, lavfi_av, probe, probe_bytes, video_frames,
    video_frames_bytes, video_packets_bytes,
};

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
    let clip = |w, h, seconds| {
        Clip::new(w, h, seconds)
            .pix_fmt("yuv420p")
            .audio_bitrate("64k")
    };
    let mut small = clip(320, 180, 6.0).write_segments(&dir, "small", 2)?;
    ensure!(small.len() >= 3, "ffmpeg wrote {small:?}");
    small.truncate(3);

    let medium = dir.join("medium.ts");
    // Continue after small's 6 s (which start at 1.4 s).
    clip(640, 360, 2.0).write_ts(&medium, &["-output_ts_offset", "6"])?;

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
