//! MPEG-TS (ISO/IEC 13818-1) reading and writing for segments: just what HLS and Livepeer
//! segments use (one program, H.264 video (HEVC in renditions), AAC or MP3 audio). Both directions are pure
//! functions over bytes; [`demux`] is fuzzed.
//!
//! Reading is strict where a sloppy reader would hide damage: a segment must be a whole
//! number of 188-byte packets, each starting with 0x47; PSI sections must pass their CRC;
//! video decode timestamps must not go backwards.
//!
//! Files: `demux.rs` reads a segment, `mux.rs` writes one; both build on `psi.rs` (packet
//! constants, PAT and PMT sections, their CRC) and `timestamp.rs` (33-bit PTS, DTS and PCR).

mod demux;
mod mux;
mod psi;
#[cfg(test)]
mod tests;
mod timestamp;

pub use demux::{demux, demux_rendition};
pub(crate) use mux::TsMuxer;
pub use psi::PACKET_SIZE;
