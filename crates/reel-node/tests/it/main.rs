//! The node roles on loopback: real sockets, real TLS, real FFmpeg, the ffmpeg CLI as the
//! broadcaster and ffprobe as the judge.

mod compute;
mod hosts;
mod jobs;
mod offchain;
mod onchain;
mod orchestrator;
mod support;
mod ticket_store;

// External workers of go-livepeer's BYOC (capability 37).
mod byoc;
