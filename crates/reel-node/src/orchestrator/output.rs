//! What a transcode produces ([`Output`]: renditions with their pixel counts, and which
//! worker made them) or why it failed ([`WorkError`]), whoever did it: a remote transcoder
//! ([`super::registry`]), a worker process or this one ([`super::work`]). Below both, so
//! that the registry and the work dispatch need not know each other for it.

use std::time::Duration;

use bytes::Bytes;

/// One transcoded rendition, as the orchestrator hands it back.
#[derive(Debug, Clone)]
pub struct OutRendition {
    pub name: String,
    pub data: Bytes,
    /// Encoded pixels (the billing unit).
    pub pixels: u64,
}

/// A transcoded segment.
#[derive(Debug, Clone)]
pub struct Output {
    pub decoded_pixels: u64,
    pub renditions: Vec<OutRendition>,
    /// Which worker did it: `local` or `transcoder-<id>`.
    pub worker: String,
}

/// Why a transcode failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkError {
    #[error("no transcoders available")]
    NoTranscoders,
    #[error("transcoder {id} disconnected during the task")]
    TranscoderGone { id: u64 },
    #[error("transcoder {id} did not answer within {after:?}")]
    TranscoderTimeout { id: u64, after: Duration },
    #[error("transcoder {id}: {message}")]
    TranscoderFailed { id: u64, message: String },
    #[error("{0}")]
    Media(String),
    #[error("the segment is unusable: {0}")]
    BadInput(String),
    /// A transcode worker process died with this segment in flight (see
    /// docs/faults.md#poison-streams).
    #[error(
        "transcode worker {id} crashed on this segment (crash {crashes} of {refuse_after} \
         before the stream is refused here)"
    )]
    WorkerCrashed {
        id: u64,
        crashes: u32,
        refuse_after: u32,
    },
    /// A transcode worker process did not answer in time: it is killed and restarted, and
    /// the hang counts as a crash.
    #[error(
        "transcode worker {id} hung on this segment for {after:?} and was killed (crash \
         {crashes} of {refuse_after} before the stream is refused here)"
    )]
    WorkerHung {
        id: u64,
        after: Duration,
        crashes: u32,
        refuse_after: u32,
    },
}
