//! The session's public data: the settings it is built with, and what a segment yields.

use bytes::Bytes;

use crate::profile::VideoProfile;

/// Session settings; fixed for the life of a session.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The ladder, one rendition per profile, in this order.
    pub profiles: Vec<VideoProfile>,
    /// libx264 preset (`ultrafast` … `veryslow`).
    pub x264_preset: String,
    /// Threads per encoder; 0 lets the encoder choose.
    pub encoder_threads: usize,
    /// Decoder threads; 0 lets the decoder choose.
    pub decoder_threads: usize,
    /// libx264 tune (`zerolatency`, `film`, …); `None` for none. `zerolatency` makes the
    /// encoder delay-free (no B-frames, no lookahead, sliced threads), so nothing is left
    /// inside it at a segment's end and [`EncoderReuse::Sentinel`] feeds no sentinel frames.
    pub x264_tune: Option<String>,
    /// How encoders carry over from one segment to the next.
    pub encoder_reuse: EncoderReuse,
    /// A dishonest encode on purpose, for the gateway's checks to catch (tests only).
    #[cfg(feature = "test-hooks")]
    pub fault: Option<MediaFault>,
}

/// Ways a test makes the session encode the wrong picture, for the gateway's content checks
/// to catch. Compiled only with the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaFault {
    /// Every rendition shows the picture turned half a circle: the right size and frame
    /// count, the wrong content.
    WrongContent,
    /// Every rendition repeats its segment's first picture.
    Frozen,
}

/// How a rendition's encoder carries over from one segment to the next.
///
/// FFmpeg 5.1's libx264 and h264_nvenc cannot be flushed and reused (they lack
/// `AV_CODEC_CAP_ENCODER_FLUSH`): once drained with end-of-stream they are finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncoderReuse {
    /// Keep every encoder open for the life of the session, as Livepeer's LPMS does. A
    /// segment's last frame is forced to a P frame, so that no frame of the segment
    /// references what follows; then the worker feeds the encoder repeats of that frame,
    /// each with a sentinel timestamp one tick later, until every real frame's packet is
    /// out, and drops the sentinel packets (some come out during the next segment). The
    /// next segment's first frame is forced to an IDR. The encoder is reopened only when
    /// the input changes (size, frame rate, a reset, timestamps that do not move forward).
    /// h264_nvenc cannot be forced to a P frame, so here it runs without B frames.
    #[default]
    Sentinel,
    /// Drain each encoder with end-of-stream at every segment end and open a new one at the
    /// next segment's first frame.
    Reopen,
}

impl SessionSettings {
    /// Settings for a ladder with libx264 `veryfast` and automatic threading.
    pub fn new(profiles: Vec<VideoProfile>) -> Self {
        Self {
            profiles,
            x264_preset: "veryfast".into(),
            encoder_threads: 0,
            decoder_threads: 0,
            x264_tune: None,
            encoder_reuse: EncoderReuse::Sentinel,
            #[cfg(feature = "test-hooks")]
            fault: None,
        }
    }
}

/// Why a session started over before a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetReason {
    /// The segment was marked as a discontinuity by its sender.
    Discontinuity,
    /// The input resolution or pixel format changed.
    InputChanged {
        /// Width and height before.
        from: (u32, u32),
        /// Width and height now.
        to: (u32, u32),
    },
    /// Timestamps went backwards, or jumped far ahead, from the previous segment.
    TimestampJump,
    /// The previous segment failed; the session starts clean.
    AfterError,
    /// [`super::TranscodeSession::reset`] was called.
    Requested,
}

/// One transcoded rendition of one segment.
#[derive(Debug, Clone)]
pub struct Rendition {
    /// The profile's name.
    pub name: String,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// The profile's target bitrate (bit/s).
    pub bitrate: u64,
    /// Frames encoded.
    pub frames: u64,
    /// Encoded pixels: Σ width×height over the encoded frames (the billing unit).
    pub pixels: u64,
    /// The MPEG-TS segment.
    pub data: Bytes,
}

/// The outcome of transcoding one segment.
#[derive(Debug, Clone)]
pub struct TranscodeResult {
    /// The segment's sequence number.
    pub seq: u64,
    /// Input width and height (of the first decoded frame).
    pub input_size: (u32, u32),
    /// Frames decoded.
    pub decoded_frames: u64,
    /// Decoded pixels: Σ width×height over the decoded frames.
    pub decoded_pixels: u64,
    /// Input duration measured from its video timestamps, 90 kHz.
    pub duration_ticks: i64,
    /// Renditions in ladder order.
    pub renditions: Vec<Rendition>,
    /// Set when the session reset before this segment (the output starts a discontinuity).
    pub reset: Option<ResetReason>,
}

impl TranscodeResult {
    /// Σ encoded pixels over every rendition.
    pub fn encoded_pixels(&self) -> u64 {
        self.renditions.iter().map(|r| r.pixels).sum()
    }
}

/// One rendition's encoder statistics over a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncoderStats {
    /// Encoders opened. With [`EncoderReuse::Sentinel`] this stays at one for as long as
    /// the input keeps its size and timeline; every reset and input change adds one.
    pub opens: u64,
    /// Sentinel frames fed to push segment ends out (not counted in any segment's frames
    /// or pixels); zero for a delay-free encoder.
    pub sentinel_frames: u64,
}
