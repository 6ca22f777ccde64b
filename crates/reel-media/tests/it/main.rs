//! reel-media integration tests: real FFmpeg libraries, real sockets on loopback, the ffmpeg
//! CLI to make media and ffprobe/ffmpeg to judge it.

mod browser;
mod codecs;
mod http;
mod net;
mod rtmp;
mod session;
mod support;
mod whip;
