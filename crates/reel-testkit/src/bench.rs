//! What the benchmarks share: wall and CPU time of one measured step (this process and the
//! children it waited for, so an ffmpeg CLI run counts the same as work in process), and
//! the median of repeated runs.

use std::time::Instant;

/// CPU seconds used so far by this process and by its waited-for children (from
/// /proc/self/stat; Linux counts in 1/100 s).
pub fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let get = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    (get(11) + get(12), get(13) + get(14))
}

/// Wall and CPU seconds of one measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measure {
    /// Wall-clock seconds.
    pub wall: f64,
    /// CPU seconds, this process's and its children's.
    pub cpu: f64,
}

impl Measure {
    /// Nothing measured yet.
    pub const ZERO: Self = Self {
        wall: 0.0,
        cpu: 0.0,
    };
}

impl std::ops::AddAssign for Measure {
    fn add_assign(&mut self, o: Self) {
        self.wall += o.wall;
        self.cpu += o.cpu;
    }
}

/// Runs `f` and measures it.
pub fn measure<E>(f: impl FnOnce() -> Result<(), E>) -> Result<Measure, E> {
    let (own0, kids0) = cpu_seconds();
    let start = Instant::now();
    f()?;
    let wall = start.elapsed().as_secs_f64();
    let (own1, kids1) = cpu_seconds();
    Ok(Measure {
        wall,
        cpu: (own1 - own0) + (kids1 - kids0),
    })
}

/// The run with the median wall time (`Measure::ZERO` for none).
pub fn median_by(mut v: Vec<Measure>) -> Measure {
    v.sort_by(|a, b| a.wall.total_cmp(&b.wall));
    v.get(v.len() / 2).copied().unwrap_or(Measure::ZERO)
}

/// A benchmark's input, made once and kept in `dir` for the next run: `seconds` of a
/// `width`×`height` 30 fps H.264 (at `video_bitrate`) + AAC test clip, cut into 2-s MPEG-TS
/// segments. Their paths in order.
pub fn segments_once(
    dir: &std::path::Path,
    (width, height): (u32, u32),
    seconds: u32,
    video_bitrate: &str,
) -> Result<Vec<std::path::PathBuf>, crate::media::MediaError> {
    let stem = format!("in{width}x{height}-{seconds}s-");
    let stamp = dir.join(format!("{stem}done"));
    let count = seconds.div_ceil(2) as usize;
    let segments: Vec<std::path::PathBuf> = (0..count)
        .map(|i| dir.join(format!("{stem}{i}.ts")))
        .collect();
    if stamp.exists() && segments.iter().all(|s| s.exists()) {
        return Ok(segments);
    }
    eprintln!("making the {width}x{height} test input (once)…");
    crate::media::Clip::new(width, height, f64::from(seconds))
        .preset("veryfast")
        .video_bitrate(video_bitrate)
        .pix_fmt("yuv420p")
        .sample_rate(48_000)
        .audio_bitrate("128k")
        .write_segments(dir, &stem, 2)?;
    if let Some(missing) = segments.iter().find(|s| !s.exists()) {
        return Err(crate::media::MediaError::Probe(format!(
            "ffmpeg wrote no {}",
            missing.display()
        )));
    }
    std::fs::write(&stamp, b"").map_err(|e| {
        crate::media::MediaError::Probe(format!("writing {}: {e}", stamp.display()))
    })?;
    Ok(segments)
}
