//! reel's media engine: live ingest, segmenting, ABR transcoding and HLS. It knows nothing
//! of payments or the chain; the gateway and orchestrator roles (`reel-node`) drive it.
//!
//! Data flow:
//!
//! ```text
//!  OBS/ffmpeg ─RTMP─▶ RtmpServer ─FLV tags─▶ flv ─packets─▶ Segmenter ─Segment─▶ IngestEvent ─┐
//!  app ─PUT /live/<id>/<seq>.ts─▶ server (HTTP push) ─TS bytes─▶ ts::demux ─Segment───────────┤
//!                                                                                             ▼
//!                          SegmentHandler (LocalTranscoder here; a paid orchestrator in reel-node)
//!                                 │  TranscodeSession: 1 decode ▶ N × (fps ▶ scale ▶ encode ▶ TS or fMP4)
//!                                 ▼
//!                          HlsStore ─▶ GET /stream/<id>.m3u8, /stream/<id>/<rendition>.m3u8, …
//! ```
//!
//! Modules:
//! - [`transcode`]: [`TranscodeSession`], the per-stream decoder and rendition workers, and
//!   exact pixel counts. Blocking; run it on blocking threads.
//! - [`ts`], [`fmp4`], [`flv`], [`amf0`], [`rtmp::chunk`], [`multipart`], [`profile`],
//!   [`hls`]: the byte parsers, each a pure function with a `cargo fuzz` target in `fuzz/`.
//!   [`ts`] reads in `ts/demux.rs` and writes in `ts/mux.rs`; [`fmp4`] is the container of
//!   the VP8, VP9 and AV1 renditions.
//! - [`codec`]: the rendition codecs ([`codec::VideoCodec`]) and the `CODECS` strings read
//!   from their bitstreams.
//! - [`segmenter`]: keyframe segmenting of a live packet stream (sans-IO).
//! - [`rtmp`]: the RTMP publish server (handshake from `rml_rtmp`; our own bounded chunk
//!   reader and AMF0 codec), driven from tokio.
//! - [`pipeline`]: the [`SegmentHandler`] seam between ingest and transcoding, the
//!   [`LocalTranscoder`] behind it in local mode, and [`run_pipeline`] (RTMP events →
//!   handler → HLS, one task per stream, bounded queues).
//! - [`server`]: HTTP push ingest and HLS serving (axum), CORS `*`.
//! - [`input`]: files and URLs read with libavformat for `reel transcode`.
//!
//! Where to look:
//! - a new rendition option (an encoder setting, a GOP or H.264 profile rule): [`profile`]
//!   ([`VideoProfile`] and the ladder parsers), applied where `transcode/worker.rs` opens
//!   the encoder.
//! - a new reason for a session to start over: [`ResetReason`] in `transcode/types.rs`,
//!   detected in `transcode/mod.rs` (timestamps, discontinuities) or `transcode/decode.rs`
//!   (input changes).
//! - a new audio codec carried through: [`AudioCodec`] in [`media`] (with its TS stream
//!   type), then `ts/demux.rs` and [`flv`] to read it.
//! - a new ingest path: a server that cuts [`Segment`]s and hands them to a
//!   [`SegmentHandler`], as [`rtmp`] (through [`pipeline`]) and [`server`] do.
//! - a new playlist tag or HLS setting: [`hls`].
//! - a new rendition codec: [`codec`], then its encoder in [`profile`] and
//!   `transcode/worker.rs`, its container ([`ts`] or [`fmp4`]).
//! - a new error: [`MediaError`] (`error.rs`).

pub mod aac;
pub mod amf0;
pub mod codec;
mod error;
pub mod flv;
pub mod fmp4;
pub mod h264;
pub mod hls;
pub mod input;
pub mod media;
pub mod multipart;
pub mod pipeline;
pub mod profile;
pub mod rtmp;
pub mod segmenter;
pub mod server;
mod stream;
pub mod transcode;
pub mod ts;
pub mod whep;
pub mod whip;

pub use error::MediaError;

pub use hls::{HlsSettings, HlsStore, RenditionOut};
pub use media::{AudioCodec, Packet, Segment, SegmentMedia, TS_HZ, Track};
pub use pipeline::{LocalTranscoder, PipelineSettings, SegmentHandler, run_pipeline};
pub use profile::{VideoProfile, parse_ladder, parse_ladder_json};
pub use rtmp::{IngestEvent, RtmpServer, RtmpSettings};
pub use segmenter::{Segmenter, SegmenterSettings};
pub use server::{HttpServer, HttpSettings, MediaServer};
pub use stream::StreamName;

pub use transcode::{
    EncoderReuse, EncoderStats, Rendition, ResetReason, SessionSettings, TranscodeResult,
    TranscodeSession, encodable_codecs,
};
