//! RTMP publish ingest, compatible with OBS and the ffmpeg CLI:
//! `rtmp://host:1935/live/<streamKey>` (or `/stream/<key>`, or just `/<key>`), H.264 + AAC.
//!
//! Layers, each replaceable and testable alone:
//! - the handshake: `rml_rtmp`'s sans-IO [`rml_rtmp::handshake::Handshake`] (both the plain
//!   and the Flash-digest variants);
//! - [`chunk::ChunkReader`]: our own bounded, sans-IO chunk reassembly. `rml_rtmp`'s
//!   deserializer takes any chunk size up to 2^31 and shares one buffer across chunk
//!   streams, so interleaved chunks from a hostile peer make it underflow; ours checks
//!   every size and length before it buffers;
//! - [`session::PublishSession`]: the connect/createStream/publish conversation, replies
//!   serialized with `rml_rtmp`'s chunk serializer, AMF0 with our bounded [`crate::amf0`];
//! - [`RtmpServer`]: the tokio driver — one named task per connection, handshake and idle
//!   timeouts, a connection cap, a shutdown token — feeding [`crate::flv`] and the
//!   [`crate::Segmenter`] and sending [`IngestEvent`]s down a bounded channel.

pub mod chunk;
mod server;
pub mod session;

pub use server::{IngestEvent, RtmpServer, RtmpSettings};
