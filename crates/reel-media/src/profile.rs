//! Rendition profiles: Livepeer's standard table, JSON ladder files, and how a profile's
//! box maps onto a source's aspect ratio.

use serde::Deserialize;

use crate::MediaError;

/// H.264 profile asked of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum H264Profile {
    /// The encoder's default (High for libx264).
    #[default]
    EncoderDefault,
    /// Constrained Baseline-compatible Baseline.
    Baseline,
    /// Main.
    Main,
    /// High.
    High,
    /// High without B-frames (Livepeer's "constrained high").
    ConstrainedHigh,
}

impl H264Profile {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "" | "None" => Self::EncoderDefault,
            "H264Baseline" => Self::Baseline,
            "H264Main" => Self::Main,
            "H264High" => Self::High,
            "H264ConstrainedHigh" => Self::ConstrainedHigh,
            _ => return None,
        })
    }

    /// The libx264 `profile` option, if any.
    pub(crate) fn x264_name(self) -> Option<&'static str> {
        match self {
            Self::EncoderDefault => None,
            Self::Baseline => Some("baseline"),
            Self::Main => Some("main"),
            Self::High | Self::ConstrainedHigh => Some("high"),
        }
    }
}

/// Keyframe spacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Gop {
    /// One IDR at the start of every segment, the encoder decides the rest.
    #[default]
    Default,
    /// Every frame a keyframe.
    Intra,
    /// A keyframe every this many milliseconds (and at every segment start).
    Millis(u32),
}

pub use crate::codec::VideoCodec;

/// Where a rendition is encoded. The codec is the gateway's choice; the hardware is the
/// encoding node's, so it never travels on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Hardware {
    /// Software encoders: libx264, libx265, libvpx, libvpx-vp9, libsvtav1.
    #[default]
    Software,
    /// NVIDIA NVENC (`h264_nvenc`, `hevc_nvenc`, `av1_nvenc`), when present.
    Nvenc,
}

impl Hardware {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "" | "software" | "Software" | "sw" => Self::Software,
            "nvenc" | "NVENC" | "Nvenc" => Self::Nvenc,
            _ => return None,
        })
    }
}

/// FFmpeg's encoder for a codec on a kind of hardware; `None` where there is none (NVENC
/// has no VP8 or VP9 encoder).
pub fn encoder_name(codec: VideoCodec, hardware: Hardware) -> Option<&'static str> {
    Some(match (codec, hardware) {
        (VideoCodec::H264, Hardware::Software) => "libx264",
        (VideoCodec::Hevc, Hardware::Software) => "libx265",
        (VideoCodec::Vp8, Hardware::Software) => "libvpx",
        (VideoCodec::Vp9, Hardware::Software) => "libvpx-vp9",
        (VideoCodec::Av1, Hardware::Software) => "libsvtav1",
        (VideoCodec::H264, Hardware::Nvenc) => "h264_nvenc",
        (VideoCodec::Hevc, Hardware::Nvenc) => "hevc_nvenc",
        (VideoCodec::Av1, Hardware::Nvenc) => "av1_nvenc",
        (VideoCodec::Vp8 | VideoCodec::Vp9, Hardware::Nvenc) => return None,
    })
}

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoProfile {
    /// Name; also the rendition's directory and URL segment.
    pub name: String,
    /// Box width in pixels (even).
    pub width: u32,
    /// Box height in pixels (even).
    pub height: u32,
    /// Target bitrate in bits per second.
    pub bitrate: u64,
    /// Output frame rate numerator; 0 keeps the source's frames and timestamps.
    pub fps: u32,
    /// Output frame rate denominator (1 for whole rates).
    pub fps_den: u32,
    /// Keyframe spacing.
    pub gop: Gop,
    /// H.264 profile (H.264 renditions only).
    pub profile: H264Profile,
    /// The rendition's codec.
    pub codec: VideoCodec,
    /// The hardware that encodes it.
    pub hardware: Hardware,
}

/// Livepeer's standard profiles (`lpms/ffmpeg/videoprofile.go`): name, width, height,
/// fps, bitrate in kbit/s.
const STANDARD: &[(&str, u32, u32, u32, u64)] = &[
    ("P720p60fps16x9", 1280, 720, 60, 6000),
    ("P720p30fps16x9", 1280, 720, 30, 4000),
    ("P720p25fps16x9", 1280, 720, 25, 3500),
    ("P720p30fps4x3", 960, 720, 30, 3500),
    ("P576p30fps16x9", 1024, 576, 30, 1500),
    ("P576p25fps16x9", 1024, 576, 25, 1500),
    ("P360p30fps16x9", 640, 360, 30, 1200),
    ("P360p25fps16x9", 640, 360, 25, 1000),
    ("P360p30fps4x3", 480, 360, 30, 1000),
    ("P240p30fps16x9", 426, 240, 30, 600),
    ("P240p25fps16x9", 426, 240, 25, 600),
    ("P240p30fps4x3", 320, 240, 30, 600),
    ("P144p30fps16x9", 256, 144, 30, 400),
    ("P144p25fps16x9", 256, 144, 25, 400),
];

/// go-livepeer's default `-transcodingOptions`.
pub const DEFAULT_LADDER: &str = "P240p30fps16x9,P360p30fps16x9";

/// Largest width or height accepted in a profile.
const MAX_DIMENSION: u32 = 8192;
/// Largest bitrate accepted in a profile (bits per second).
const MAX_BITRATE: u64 = 200_000_000;

impl VideoProfile {
    /// A standard profile by its Livepeer name, e.g. `P360p30fps16x9`.
    pub fn standard(name: &str) -> Option<Self> {
        STANDARD
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|&(name, width, height, fps, kbps)| Self {
                name: name.to_owned(),
                width,
                height,
                bitrate: kbps * 1000,
                fps,
                fps_den: 1,
                gop: Gop::Default,
                profile: H264Profile::EncoderDefault,
                codec: VideoCodec::H264,
                hardware: Hardware::Software,
            })
    }

    /// Every standard profile name.
    pub fn standard_names() -> impl Iterator<Item = &'static str> {
        STANDARD.iter().map(|(n, ..)| *n)
    }

    /// The output size for a source of `src_w`×`src_h`: the largest size with the source's
    /// aspect ratio that fits in the profile's box, with even sides (what H.264 4:2:0
    /// needs). A portrait source turns a landscape box on its side, so a 9:16 phone stream
    /// at `P720p30fps16x9` comes out 720 wide and 1280 high, not 405×720.
    pub fn output_size(&self, src_w: u32, src_h: u32) -> (u32, u32) {
        let (mut box_w, mut box_h) = (self.width, self.height);
        if src_h > src_w && box_w > box_h {
            std::mem::swap(&mut box_w, &mut box_h);
        }
        if src_w == 0 || src_h == 0 {
            return (even(box_w), even(box_h));
        }
        // Compare box_w/box_h with src_w/src_h in integers: which side binds.
        let (w, h) = if u64::from(box_w) * u64::from(src_h) <= u64::from(box_h) * u64::from(src_w) {
            let h = div_round(u64::from(box_w) * u64::from(src_h), u64::from(src_w));
            (u64::from(box_w), h)
        } else {
            let w = div_round(u64::from(box_h) * u64::from(src_w), u64::from(src_h));
            (w, u64::from(box_h))
        };
        let clamp = |v: u64| u32::try_from(v).unwrap_or(MAX_DIMENSION).max(2);
        (even(clamp(w)), even(clamp(h)))
    }

    /// FFmpeg's encoder for this rung (see [`encoder_name`]).
    pub fn ffmpeg_encoder(&self) -> Result<&'static str, MediaError> {
        encoder_name(self.codec, self.hardware).ok_or_else(|| MediaError::InvalidProfile {
            name: self.name.clone(),
            reason: format!("NVENC has no {} encoder; use software", self.codec.name()),
        })
    }

    /// The output frame rate as (num, den), or `None` to keep the source's timing.
    pub fn frame_rate(&self) -> Option<(u32, u32)> {
        (self.fps > 0).then_some((self.fps, self.fps_den.max(1)))
    }

    fn validate(&self) -> Result<(), MediaError> {
        let bad = |reason: String| MediaError::InvalidProfile {
            name: self.name.clone(),
            reason,
        };
        if !valid_name(&self.name) {
            return Err(bad(
                "name must be 1 to 64 of A-Z a-z 0-9 _ - (it becomes a path and a URL)".into(),
            ));
        }
        for (side, v) in [("width", self.width), ("height", self.height)] {
            if !(2..=MAX_DIMENSION).contains(&v) {
                return Err(bad(format!("{side} {v} outside 2..={MAX_DIMENSION}")));
            }
        }
        if self.bitrate == 0 || self.bitrate > MAX_BITRATE {
            return Err(bad(format!(
                "bitrate {} outside 1..={MAX_BITRATE} bit/s",
                self.bitrate
            )));
        }
        if self.fps > 240 || (self.fps > 0 && self.fps_den == 0) {
            return Err(bad(format!("frame rate {}/{}", self.fps, self.fps_den)));
        }
        if self.codec != VideoCodec::H264 && self.profile != H264Profile::EncoderDefault {
            return Err(bad(format!(
                "an H.264 profile cannot apply to a {} rendition",
                self.codec.name()
            )));
        }
        self.ffmpeg_encoder()?;
        Ok(())
    }
}

fn even(v: u32) -> u32 {
    (v & !1).max(2)
}

fn div_round(num: u64, den: u64) -> u64 {
    (num + den / 2) / den
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a ladder: a comma-separated list of standard profile names
/// (`P240p30fps16x9,P360p30fps16x9`) or, if the text starts with `[` or `{`, a JSON ladder.
pub fn parse_ladder(text: &str) -> Result<Vec<VideoProfile>, MediaError> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        return parse_ladder_json(trimmed.as_bytes());
    }
    let mut ladder = Vec::new();
    for name in trimmed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let profile = VideoProfile::standard(name).ok_or_else(|| MediaError::InvalidProfile {
            name: name.to_owned(),
            reason: format!(
                "not a standard profile; known: {}",
                VideoProfile::standard_names()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
        ladder.push(profile);
    }
    check_ladder(&ladder)?;
    Ok(ladder)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LadderFile {
    List(Vec<JsonProfile>),
    Wrapped { profiles: Vec<JsonProfile> },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonProfile {
    name: String,
    width: u32,
    height: u32,
    bitrate: u64,
    #[serde(default)]
    fps: u32,
    #[serde(default)]
    fps_den: u32,
    #[serde(default)]
    gop: Option<GopJson>,
    #[serde(default)]
    profile: String,
    #[serde(default)]
    encoder: String,
    #[serde(default)]
    hardware: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum GopJson {
    Text(String),
    Seconds(f64),
}

/// Parses a JSON ladder in go-livepeer's format: an array (or `{"profiles": [...]}`) of
/// `{name, width, height, bitrate (bit/s), fps, fpsDen, gop ("intra" or seconds),
/// profile ("H264Baseline"…), encoder ("H264", "HEVC", "VP8", "VP9", or reel's "AV1")}`,
/// plus reel's `hardware` ("software" or "nvenc"). The older `"encoder": "nvenc"` still
/// means H.264 on NVENC. Pure; fuzzed.
pub fn parse_ladder_json(bytes: &[u8]) -> Result<Vec<VideoProfile>, MediaError> {
    let file: LadderFile = serde_json::from_slice(bytes).map_err(MediaError::LadderJson)?;
    let list = match file {
        LadderFile::List(l) | LadderFile::Wrapped { profiles: l } => l,
    };
    let mut ladder = Vec::with_capacity(list.len());
    for p in list {
        let bad = |reason: String| MediaError::InvalidProfile {
            name: p.name.clone(),
            reason,
        };
        let gop = match &p.gop {
            None => Gop::Default,
            Some(GopJson::Text(t)) if t == "intra" => Gop::Intra,
            Some(GopJson::Text(t)) if t.is_empty() => Gop::Default,
            Some(GopJson::Text(t)) => gop_seconds(t.trim().parse().map_err(|_| {
                bad(format!(
                    "gop {t:?} is neither \"intra\" nor a number of seconds"
                ))
            })?)
            .ok_or_else(|| bad(format!("gop {t} s outside 0..=60 s")))?,
            Some(GopJson::Seconds(s)) => {
                gop_seconds(*s).ok_or_else(|| bad(format!("gop {s} s outside 0..=60 s")))?
            }
        };
        let profile = H264Profile::parse(&p.profile)
            .ok_or_else(|| bad(format!("unknown H.264 profile {:?}", p.profile)))?;
        let mut hardware = Hardware::parse(&p.hardware).ok_or_else(|| {
            bad(format!(
                "hardware {:?} is not supported; use \"software\" or \"nvenc\"",
                p.hardware
            ))
        })?;
        let codec = match p.encoder.as_str() {
            "" | "libx264" => VideoCodec::H264,
            "nvenc" | "h264_nvenc" | "NVENC" => {
                hardware = Hardware::Nvenc;
                VideoCodec::H264
            }
            other => VideoCodec::parse(other).ok_or_else(|| {
                bad(format!(
                    "encoder {other:?} is not supported; use \"H264\", \"HEVC\", \"VP8\", \
                     \"VP9\" or \"AV1\" (and \"hardware\": \"nvenc\" for NVENC)"
                ))
            })?,
        };
        let profile = VideoProfile {
            name: p.name,
            width: p.width,
            height: p.height,
            bitrate: p.bitrate,
            fps: p.fps,
            fps_den: if p.fps_den == 0 { 1 } else { p.fps_den },
            gop,
            profile,
            codec,
            hardware,
        };
        ladder.push(profile);
    }
    check_ladder(&ladder)?;
    Ok(ladder)
}

fn gop_seconds(s: f64) -> Option<Gop> {
    if !(0.0..=60.0).contains(&s) {
        return None;
    }
    // Whole milliseconds; the range check above keeps the cast exact enough and in range.
    let ms = (s * 1000.0).round() as u32;
    Some(if ms == 0 {
        Gop::Default
    } else {
        Gop::Millis(ms)
    })
}

fn check_ladder(ladder: &[VideoProfile]) -> Result<(), MediaError> {
    if ladder.is_empty() {
        return Err(MediaError::InvalidProfile {
            name: String::new(),
            reason: "the ladder is empty; name at least one profile".into(),
        });
    }
    for (i, p) in ladder.iter().enumerate() {
        p.validate()?;
        if ladder[..i].iter().any(|q| q.name == p.name) {
            return Err(MediaError::InvalidProfile {
                name: p.name.clone(),
                reason: "two profiles share this name".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_table_matches_livepeer() {
        let p = VideoProfile::standard("P720p30fps16x9").unwrap();
        assert_eq!(
            (p.width, p.height, p.fps, p.bitrate),
            (1280, 720, 30, 4_000_000)
        );
        let p = VideoProfile::standard("P240p30fps16x9").unwrap();
        assert_eq!((p.width, p.height, p.bitrate), (426, 240, 600_000));
        assert_eq!(VideoProfile::standard_names().count(), 14);
        assert!(VideoProfile::standard("P1080p").is_none());
    }

    #[test]
    fn output_size_keeps_aspect_and_even_sides() {
        let p240 = VideoProfile::standard("P240p30fps16x9").unwrap();
        assert_eq!(p240.output_size(1920, 1080), (426, 240));
        assert_eq!(p240.output_size(320, 180), (426, 240));
        // 4:3 source in a 16:9 box: height binds.
        assert_eq!(p240.output_size(640, 480), (320, 240));
        // Portrait source: the box turns.
        let p720 = VideoProfile::standard("P720p30fps16x9").unwrap();
        assert_eq!(p720.output_size(1080, 1920), (720, 1280));
        // Odd results round down to even.
        let p144 = VideoProfile::standard("P144p30fps16x9").unwrap();
        assert_eq!(p144.output_size(1000, 563), (256, 144));
        assert_eq!(p144.output_size(0, 0), (256, 144));
    }

    #[test]
    fn parses_name_lists_and_json() {
        let l = parse_ladder(DEFAULT_LADDER).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].name, "P360p30fps16x9");
        assert!(parse_ladder("P240p30fps16x9,nope").is_err());
        assert!(parse_ladder("").is_err());
        assert!(parse_ladder("P240p30fps16x9,P240p30fps16x9").is_err());

        let json = br#"[{"name":"low","width":320,"height":180,"bitrate":300000,"fps":15,
            "gop":"2.5","profile":"H264Main"},
            {"name":"hi","width":640,"height":360,"bitrate":900000,"fps":0,"gop":"intra",
             "encoder":"nvenc"}]"#;
        let l = parse_ladder_json(json).unwrap();
        assert_eq!(l[0].gop, Gop::Millis(2500));
        assert_eq!(l[0].profile, H264Profile::Main);
        assert_eq!(l[0].frame_rate(), Some((15, 1)));
        assert_eq!(l[1].gop, Gop::Intra);
        assert_eq!(l[1].frame_rate(), None);
        assert_eq!(
            (l[1].codec, l[1].hardware),
            (VideoCodec::H264, Hardware::Nvenc)
        );
        let codecs = br#"[{"name":"h","width":320,"height":180,"bitrate":1,"encoder":"HEVC"},
            {"name":"v8","width":320,"height":180,"bitrate":1,"encoder":"VP8"},
            {"name":"v9","width":320,"height":180,"bitrate":1,"encoder":"VP9"},
            {"name":"a1","width":320,"height":180,"bitrate":1,"encoder":"AV1"},
            {"name":"a1n","width":320,"height":180,"bitrate":1,"encoder":"AV1",
             "hardware":"nvenc"}]"#;
        let l = parse_ladder_json(codecs).unwrap();
        let got: Vec<_> = l.iter().map(|p| p.ffmpeg_encoder().unwrap()).collect();
        assert_eq!(
            got,
            ["libx265", "libvpx", "libvpx-vp9", "libsvtav1", "av1_nvenc"]
        );
        let wrapped = br#"{"profiles":[{"name":"a","width":2,"height":2,"bitrate":1}]}"#;
        assert_eq!(parse_ladder_json(wrapped).unwrap().len(), 1);
    }

    #[test]
    fn rejects_bad_profiles() {
        for bad in [
            &br#"[{"name":"../x","width":320,"height":180,"bitrate":1}]"#[..],
            br#"[{"name":"a","width":0,"height":180,"bitrate":1}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":0}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":1,"gop":"x"}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":1,"gop":-1}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":1,"encoder":"MPEG2"}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":1,"encoder":"VP9",
                "hardware":"nvenc"}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":1,"hardware":"quicksync"}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":1,"encoder":"HEVC",
                "profile":"H264Main"}]"#,
            br#"[{"name":"a","width":320,"height":180,"bitrate":1,"profile":"x"}]"#,
            br#"[]"#,
            br#"{"#,
        ] {
            assert!(
                parse_ladder_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
