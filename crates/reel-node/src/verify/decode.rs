//! Decoding for the gateway's checks: count what is really in a segment (frames,
//! Σ width×height, the frame size, the video's bytes and time span) and keep a few of its
//! pictures' luma for the content checks. Blocking FFmpeg work: call from a blocking thread.

use ffmpeg_next as ff;
use reel_media::profile::VideoCodec;
use reel_media::{MediaError, SegmentMedia};

/// Pictures compared per rendition: the first, the middle and the last.
pub const SAMPLES: usize = 3;

/// One picture's luma plane, tightly packed (`width` bytes a row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luma {
    /// Presentation time, 90 kHz.
    pub pts: i64,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// What a decoded segment holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    pub frames: u64,
    /// Σ width×height over every decoded frame.
    pub pixels: u64,
    /// Size of the first frame.
    pub size: (u32, u32),
    /// Whether every frame had that size.
    pub uniform: bool,
    /// Bytes of compressed video (audio left out).
    pub video_bytes: u64,
    /// Earliest and latest presentation times of the decoded frames, 90 kHz.
    pub first_pts: Option<i64>,
    pub last_pts: Option<i64>,
    /// The sampled pictures, in the order they were asked for (see [`Sampling`]); empty
    /// where a picture is not 8-bit planar YUV.
    pub samples: Vec<Luma>,
}

impl Decoded {
    /// The video's time span: first to last frame, plus one frame at the segment's rate.
    pub fn span_ticks(&self) -> Option<i64> {
        let (first, last) = (self.first_pts?, self.last_pts?);
        let step = if self.frames > 1 {
            (last - first) / (self.frames as i64 - 1)
        } else {
            3000
        };
        Some(last - first + step)
    }
}

/// Which pictures to keep.
#[derive(Debug, Clone)]
pub enum Sampling {
    /// None.
    None,
    /// `n` spread evenly over the segment in presentation order, first and last included.
    Spread(usize),
    /// For each of these times (90 kHz), the picture nearest to it.
    Nearest(Vec<i64>),
}

fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Error);
    });
}

fn decode_err(reason: impl Into<String>) -> MediaError {
    MediaError::Decode {
        reason: reason.into(),
    }
}

/// Decodes the first frame of an H.264 MPEG-TS source: its size.
pub fn decode_first(ts: &[u8]) -> Result<Decoded, MediaError> {
    let media = reel_media::ts::demux(ts)?;
    decode_media(&media, VideoCodec::H264, true, Sampling::None)
}

/// Decodes a whole H.264 MPEG-TS source, keeping `samples` pictures spread over it.
pub fn decode_source(ts: &[u8], samples: usize) -> Result<Decoded, MediaError> {
    let media = reel_media::ts::demux(ts)?;
    decode_media(&media, VideoCodec::H264, false, Sampling::Spread(samples))
}

/// Decodes a rendition, MPEG-TS or fragmented MP4, which must be in the codec its profile
/// asks for: an orchestrator that returns a cheaper codec is caught here.
pub fn decode_rendition(
    data: &[u8],
    want: VideoCodec,
    sampling: Sampling,
) -> Result<Decoded, MediaError> {
    let (codec, media) = if data.get(4..8) == Some(b"ftyp") {
        let read = reel_media::fmp4::read(data)?;
        let codec = read.video.map(|v| v.codec).ok_or(MediaError::NoVideo)?;
        (codec, read.media)
    } else {
        let media = reel_media::ts::demux_rendition(data)?;
        (media.video_codec, media)
    };
    if codec != want {
        return Err(decode_err(format!(
            "the rendition is {}, its profile asks for {}",
            codec.name(),
            want.name()
        )));
    }
    decode_media(&media, codec, false, sampling)
}

/// The pictures kept so far, by slot.
struct Keeper {
    /// The output index (Spread) or presentation time (Nearest) each slot keeps: known from
    /// the packets before decoding, so that each picture is copied once.
    want: Vec<Want>,
    slots: Vec<Option<Luma>>,
}

#[derive(Clone, Copy)]
enum Want {
    Index(u64),
    Pts(i64),
}

impl Keeper {
    fn new(sampling: Sampling, media: &SegmentMedia) -> Self {
        let total = media.video().count() as u64;
        let want: Vec<Want> = match sampling {
            Sampling::None => Vec::new(),
            Sampling::Spread(n) => {
                let n = n.min(usize::try_from(total).unwrap_or(usize::MAX));
                let last = total.saturating_sub(1);
                (0..n)
                    .map(|i| {
                        Want::Index(if n > 1 {
                            last * i as u64 / (n as u64 - 1)
                        } else {
                            0
                        })
                    })
                    .collect()
            }
            Sampling::Nearest(targets) => targets
                .iter()
                .filter_map(|&t| {
                    media
                        .video()
                        .map(|p| p.pts)
                        .min_by_key(|pts| pts.abs_diff(t))
                        .map(Want::Pts)
                })
                .collect(),
        };
        Self {
            slots: vec![None; want.len()],
            want,
        }
    }

    fn offer(&mut self, index: u64, frame: &ff::frame::Video) {
        let pts = frame.pts().or(frame.timestamp()).unwrap_or(0);
        let mut copy = None;
        for (want, slot) in self.want.iter().zip(&mut self.slots) {
            let hit = match *want {
                Want::Index(i) => i == index,
                Want::Pts(p) => p == pts,
            };
            if hit && slot.is_none() {
                if copy.is_none() {
                    copy = luma(frame, pts);
                }
                slot.clone_from(&copy);
            }
        }
    }

    fn into_samples(self) -> Vec<Luma> {
        // All or nothing: a check needs every sample to line up with the source's.
        self.slots
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default()
    }
}

/// The luma plane of an 8-bit planar YUV picture.
fn luma(frame: &ff::frame::Video, pts: i64) -> Option<Luma> {
    use ff::format::Pixel as P;
    if !matches!(
        frame.format(),
        P::YUV420P | P::YUVJ420P | P::YUV422P | P::YUVJ422P | P::YUV444P | P::YUVJ444P
    ) {
        return None;
    }
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let plane = frame.data(0);
    let mut data = Vec::with_capacity(w * h);
    for row in 0..h {
        data.extend_from_slice(plane.get(row * stride..row * stride + w)?);
    }
    Some(Luma {
        pts,
        width: frame.width(),
        height: frame.height(),
        data,
    })
}

fn decode_media(
    media: &SegmentMedia,
    codec: VideoCodec,
    first_only: bool,
    sampling: Sampling,
) -> Result<Decoded, MediaError> {
    init();
    let codec = ff::decoder::find(codec.ffmpeg_id())
        .ok_or_else(|| decode_err(format!("this FFmpeg build has no {} decoder", codec.name())))?;
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    ctx.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: 1,
        ..Default::default()
    });
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| decode_err(format!("opening the decoder: {e}")))?;
    let mut keeper = Keeper::new(sampling, media);
    let mut out = Decoded {
        uniform: true,
        video_bytes: media.video().map(|p| p.data.len() as u64).sum(),
        ..Decoded::default()
    };
    let mut frame = ff::frame::Video::empty();
    let mut take =
        |decoder: &mut ff::decoder::Video, out: &mut Decoded, keeper: &mut Keeper| -> bool {
            while decoder.receive_frame(&mut frame).is_ok() {
                let size = (frame.width(), frame.height());
                if size.0 == 0 || size.1 == 0 {
                    continue;
                }
                if out.frames == 0 {
                    out.size = size;
                } else if size != out.size {
                    out.uniform = false;
                }
                let pts = frame.pts().or(frame.timestamp());
                if let Some(pts) = pts {
                    out.first_pts = Some(out.first_pts.map_or(pts, |f| f.min(pts)));
                    out.last_pts = Some(out.last_pts.map_or(pts, |l| l.max(pts)));
                }
                keeper.offer(out.frames, &frame);
                out.frames = out.frames.saturating_add(1);
                out.pixels = out
                    .pixels
                    .saturating_add(u64::from(size.0) * u64::from(size.1));
                if first_only {
                    return true;
                }
            }
            false
        };
    for p in media.video() {
        let mut packet = ff::Packet::copy(&p.data);
        packet.set_pts(Some(p.pts));
        packet.set_dts(Some(p.dts));
        if p.keyframe {
            packet.set_flags(ff::packet::Flags::KEY);
        }
        // A packet the decoder refuses is skipped: a truncated rendition then shows as
        // missing pixels, which is what the check is for.
        let _ = decoder.send_packet(&packet);
        if take(&mut decoder, &mut out, &mut keeper) {
            out.samples = keeper.into_samples();
            return Ok(out);
        }
    }
    let _ = decoder.send_eof();
    take(&mut decoder, &mut out, &mut keeper);
    if out.frames == 0 {
        return Err(decode_err("no decodable video frame"));
    }
    out.samples = keeper.into_samples();
    Ok(out)
}
