//! The crate's one error type. Every variant says which input was wrong and, where there is
//! one, what the sender should change.

use std::time::Duration;

/// Everything that can go wrong in ingest, segmenting, transcoding and HLS.
///
/// Callers branch on [`MediaError::is_bad_input`] (the stream's own fault: reject, don't
/// retry elsewhere) and [`MediaError::http_status`], never on the message text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A segment with no bytes at all.
    #[error("empty segment: 0 bytes received; send a whole MPEG-TS segment")]
    EmptySegment,
    /// A segment whose length is not a whole number of 188-byte TS packets.
    #[error(
        "truncated MPEG-TS: {len} bytes is not a whole number of 188-byte packets \
         ({rest} bytes of a last packet); was the upload cut off?"
    )]
    TruncatedTs {
        /// Bytes received.
        len: usize,
        /// Bytes of the incomplete last packet.
        rest: usize,
    },
    /// Bytes that are not MPEG-TS at all.
    #[error("not MPEG-TS: expected sync byte 0x47 at offset {offset}, found {found:#04x}")]
    NotTs {
        /// Offset of the first bad packet.
        offset: usize,
        /// The byte found there.
        found: u8,
    },
    /// MPEG-TS that breaks the format's rules.
    #[error("malformed MPEG-TS at offset {offset}: {reason}")]
    MalformedTs {
        /// Offset of the packet at fault.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input carries no video (for example an audio-only stream).
    #[error("no video in the input (audio-only?): reel transcodes H.264 video; add a video track")]
    NoVideo,
    /// A codec reel cannot take in.
    #[error("unsupported {kind} codec: {codec}; send H.264 video with AAC or MP3 audio")]
    UnsupportedCodec {
        /// "video" or "audio".
        kind: &'static str,
        /// The codec as the input names it.
        codec: String,
    },
    /// Decode timestamps that go backwards inside one segment.
    #[error(
        "timestamps go backwards inside the segment: video dts {dts} after {previous} \
         (90 kHz ticks); cut a new segment at a discontinuity instead"
    )]
    TimestampsBackwards {
        /// The dts before.
        previous: i64,
        /// The dts that went back.
        dts: i64,
    },
    /// More bytes than allowed.
    #[error("{what} too large: more than {limit} bytes")]
    TooLarge {
        /// What was too large ("segment", "RTMP message", …).
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The decoder could not produce a single frame, or failed hard.
    #[error("decoding failed: {reason}")]
    Decode {
        /// What happened.
        reason: String,
    },
    /// An encoder failed.
    #[error("encoding rendition {rendition} failed: {reason}")]
    Encode {
        /// The profile name.
        rendition: String,
        /// What happened.
        reason: String,
    },
    /// The FFmpeg build lacks an encoder that a profile asks for.
    #[error("encoder {name} is not available in this FFmpeg build or on this machine")]
    EncoderUnavailable {
        /// FFmpeg's encoder name.
        name: String,
    },
    /// A profile or ladder that cannot be used.
    #[error("invalid profile {name:?}: {reason}")]
    InvalidProfile {
        /// The profile name (or the text that failed to parse).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A ladder file that is not valid JSON of the expected shape.
    #[error("invalid ladder JSON: {0}")]
    LadderJson(#[source] serde_json::Error),
    /// A malformed FLV audio or video tag from an RTMP publisher.
    #[error("malformed FLV {kind} tag: {reason}")]
    Flv {
        /// "audio" or "video".
        kind: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// An RTMP peer broke the protocol.
    #[error("RTMP protocol error: {reason}")]
    Rtmp {
        /// What is wrong.
        reason: String,
    },
    /// An RTMP peer announced a chunk size outside what we accept.
    #[error("RTMP peer announced chunk size {size}; accepted range is 1..={limit}")]
    RtmpChunkSize {
        /// The announced size.
        size: u32,
        /// The largest size accepted.
        limit: u32,
    },
    /// Malformed AMF0 in an RTMP command.
    #[error("malformed AMF0: {reason}")]
    Amf0 {
        /// What is wrong.
        reason: &'static str,
    },
    /// A peer took too long.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// A stream key or manifest id that cannot be used.
    #[error(
        "invalid stream name {name:?}: use 1 to 128 of A-Z a-z 0-9 _ - . (not starting with .)"
    )]
    InvalidStreamName {
        /// The name received.
        name: String,
    },
    /// A pushed segment's file name that is not `<seq>.ts`.
    #[error("segment name {name:?} is not <sequence number>.ts")]
    BadSegmentName {
        /// The name received.
        name: String,
    },
    /// A playlist that does not parse.
    #[error("invalid playlist: {reason}")]
    Playlist {
        /// What is wrong.
        reason: String,
    },
    /// A multipart body that does not parse.
    #[error("invalid multipart body: {reason}")]
    Multipart {
        /// What is wrong.
        reason: &'static str,
    },
    /// A segment number at or below one already published for the stream.
    #[error("segment {seq} of stream {stream} is not after the last published segment {last}")]
    StaleSegment {
        /// The stream.
        stream: String,
        /// The sequence number received.
        seq: u64,
        /// The last one published.
        last: u64,
    },
    /// No keyframe for longer than the segmenter allows.
    #[error(
        "no keyframe for {seconds:.1} s (limit {limit_seconds:.1} s): set the encoder's \
         keyframe interval to 2 s"
    )]
    NoKeyframe {
        /// Seconds since the segment started.
        seconds: f64,
        /// The limit.
        limit_seconds: f64,
    },
    /// Too many concurrent streams.
    #[error("too many streams: {limit} already active; try again later or raise the limit")]
    TooManyStreams {
        /// The configured limit.
        limit: usize,
    },
    /// A transcode worker thread died (a bug or a crash in FFmpeg); the session resets.
    #[error("transcode worker for rendition {rendition} stopped unexpectedly")]
    WorkerGone {
        /// The rendition.
        rendition: String,
    },
    /// Opening or reading an input file or URL failed.
    #[error("input {input}: {reason}")]
    Input {
        /// The path or URL.
        input: String,
        /// What happened.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A fragmented MP4 file or segment that breaks the format's rules or reel's limits.
    #[error("malformed fragmented MP4: {reason}")]
    Mp4 {
        /// What is wrong.
        reason: String,
    },
    /// A video or audio bitstream that lacks what packaging needs (parameter sets, a
    /// keyframe header, a sequence header) or does not parse.
    #[error("malformed {codec} bitstream: {reason}; send whole access units with in-band headers")]
    Bitstream {
        /// The codec ("H.264", "HEVC", "VP9", "AV1", "AAC", …).
        codec: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A WebRTC session (WHIP) that failed: ICE, DTLS, SRTP or RTP.
    #[error("WebRTC session failed: {reason}")]
    WebRtc {
        /// What failed.
        reason: String,
    },
}

impl MediaError {
    /// The input itself is at fault: retrying the same bytes elsewhere will fail the same way.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::EmptySegment
                | Self::TruncatedTs { .. }
                | Self::NotTs { .. }
                | Self::MalformedTs { .. }
                | Self::NoVideo
                | Self::UnsupportedCodec { .. }
                | Self::TimestampsBackwards { .. }
                | Self::TooLarge { .. }
                | Self::Decode { .. }
                | Self::Flv { .. }
                | Self::Rtmp { .. }
                | Self::RtmpChunkSize { .. }
                | Self::Amf0 { .. }
                | Self::InvalidStreamName { .. }
                | Self::BadSegmentName { .. }
                | Self::Playlist { .. }
                | Self::Multipart { .. }
                | Self::StaleSegment { .. }
                | Self::NoKeyframe { .. }
                | Self::Mp4 { .. }
                | Self::Bitstream { .. }
        )
    }

    /// Worth retrying later (capacity, a crashed worker), as opposed to bad input.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::TooManyStreams { .. } | Self::WorkerGone { .. } | Self::Timeout { .. }
        )
    }

    /// The HTTP status an ingest endpoint answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => 413,
            Self::UnsupportedCodec { .. } => 415,
            Self::Timeout { .. } => 408,
            Self::StaleSegment { .. } => 409,
            Self::TooManyStreams { .. } => 503,
            Self::InvalidStreamName { .. } | Self::BadSegmentName { .. } => 404,
            e if e.is_bad_input() => 422,
            _ => 500,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn rtmp(reason: impl Into<String>) -> Self {
        Self::Rtmp {
            reason: reason.into(),
        }
    }
}
