//! Fragmented MP4 (CMAF-style) renditions: the container for codecs MPEG-TS cannot carry
//! (VP8, VP9, AV1), and usable for H.264 and HEVC too.
//!
//! A segment is an init segment (`ftyp` + `moov`, the sample entries built from the
//! bitstream's own headers) and one media fragment (`moof` + `mdat`, video samples then
//! audio samples). [`write`] muxes packets in the crate's forms ([`crate::media`]);
//! [`read`] turns any such file, or an init followed by several fragments, back into them.
//! Both are pure; `read` is bounded and fuzzed (`fuzz/fuzz_targets/fmp4_read.rs`).
//!
//! Files: `types.rs` (what the others share), `boxes.rs` (box writing and bounded
//! reading), `entry.rs` (sample entries and codec configuration boxes), `write.rs` (the
//! muxer), `read.rs` (the parser). AV1's OBUs are read in `crate::codec`.

mod boxes;
mod entry;
mod read;
mod types;
mod write;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ffmpeg;

use crate::MediaError;
use crate::media::{AudioCodec, Packet};
use bytes::Bytes;
use types::mp4_err;
pub use types::{Fmp4, Fmp4Media, MAX_SAMPLES, VideoTrack};

/// Muxes one segment.
///
/// `packets` are in decode order, interleaved by dts, as in [`SegmentMedia`] (video: Annex
/// B for H.264/HEVC, raw frames for VP8/VP9, OBU temporal units for AV1; audio: ADTS AAC
/// frames when `audio` is `Some(AudioCodec::Aac)`, otherwise audio packets are left out).
/// `sequence` goes in `mfhd`.
///
/// - The sample entry's configuration comes from the first access unit that carries one
///   (SPS/PPS, VPS/SPS/PPS, a VP8/VP9 keyframe, an AV1 sequence header); without one the
///   segment is refused with [`MediaError::Bitstream`].
/// - Samples drop access unit delimiters, in-band parameter sets identical to the sample
///   entry's, and AV1 temporal delimiters: `read` puts them back, except the delimiters
///   of H.264/HEVC (the TS muxer writes its own).
/// - Each ADTS frame becomes one sample (CRC-protected headers included), timed from its
///   packet's dts plus 1024 samples per earlier frame in that packet. Audio timestamps
///   are on the sample-rate clock, so rates that do not divide 90 kHz round by a tick.
/// - A segment whose earliest timestamp is negative is shifted as a whole so that it
///   starts at 0 (`tfdt` is unsigned); `read` gives back the shifted timestamps.
/// - MP3 audio is refused with [`MediaError::UnsupportedCodec`]: reel packages only AAC.
/// - With `audio` set but no audio packets, the file has no audio track.
pub fn write(
    video: &VideoTrack,
    audio: Option<AudioCodec>,
    sequence: u32,
    packets: &[Packet],
) -> Result<Fmp4, MediaError> {
    write::write(video, audio, sequence, packets)
}

/// Splits a file made by [`write`] (or any `ftyp`/`moov`/`moof`/`mdat` file) into init and
/// fragment: the init is everything before the first `moof`.
pub fn split(file: &[u8]) -> Result<Fmp4, MediaError> {
    for b in boxes::boxes(file, 0) {
        let b = b?;
        if &b.kind == b"moof" {
            if b.start == 0 {
                return Err(mp4_err("moof before any init segment"));
            }
            return Ok(Fmp4 {
                init: Bytes::copy_from_slice(&file[..b.start]),
                fragment: Bytes::copy_from_slice(&file[b.start..]),
            });
        }
    }
    Err(mp4_err("no moof box: not a fragmented MP4"))
}

/// Parses a fragmented MP4 (init and one or more fragments). Bounded and panic-free on any
/// input; fuzzed. Tracks other than the first video and the first AAC audio track are
/// ignored; at most [`MAX_SAMPLES`] samples are read.
pub fn read(file: &[u8]) -> Result<Fmp4Media, MediaError> {
    read::read(file)
}
