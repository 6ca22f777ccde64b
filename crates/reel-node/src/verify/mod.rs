//! The gateway's local verification (go-livepeer's `-localVerify`, done further): decode
//! every rendition and check it against its claim, its profile and the source.
//!
//! - **Claims:** the codec the profile asks, the pixels the orchestrator reports (Σ
//!   width×height of every frame), the size the profile gives the source.
//! - **Content** (`content.rs`): a few pictures compared with the source's at the same
//!   times, a frozen rendition, the frame count, a starved encode.
//! - **The trusted re-transcode** (`phash.rs`): a rendition's pictures against a trusted
//!   verifier's, by perceptual hash (the gateway's side: `gateway/verifier.rs`).
//!
//! Any failure bans the orchestrator from the stream (docs/faults.md#tampered-renditions).
//! `decode.rs` does the decoding; all of it blocks, so call it from a blocking thread.

pub mod content;
pub mod decode;
pub mod phash;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use reel_media::VideoProfile;

pub use content::{Finding, Measured};
pub use decode::{Decoded, Luma, SAMPLES, Sampling, decode_first, decode_rendition, decode_source};
pub use phash::same_pictures;

/// Decodes the source as the checks need it: whole, with [`SAMPLES`] pictures, when the
/// renditions will be checked; only its first frame (for its size) when not.
pub fn decode_source_for(ts: &[u8], local_verify: bool) -> Result<Decoded, reel_media::MediaError> {
    if local_verify {
        decode_source(ts, SAMPLES)
    } else {
        decode_first(ts)
    }
}

/// Decodes every rendition and checks it; returns the input size and what was decoded.
/// `source` is the source as [`decode_source_for`] decoded it. Without local verification
/// the claims are taken as they are.
pub fn check_renditions(
    source: Result<Decoded, reel_media::MediaError>,
    ladder: &[VideoProfile],
    blobs: &[Bytes],
    reported: &[u64],
    local_verify: bool,
) -> Result<((u32, u32), Vec<Decoded>), String> {
    let src = source.map_err(|e| format!("the source: {e}"))?;
    if !local_verify {
        return Ok((
            src.size,
            ladder
                .iter()
                .zip(reported)
                .map(|(p, claimed)| Decoded {
                    pixels: *claimed,
                    size: p.output_size(src.size.0, src.size.1),
                    uniform: true,
                    ..Decoded::default()
                })
                .collect(),
        ));
    }
    let targets: Vec<i64> = src.samples.iter().map(|s| s.pts).collect();
    let src = &src;
    // One thread per rendition, decode and checks, in parallel: the check adds the slowest
    // rendition's, not the sum.
    let checked: Vec<Result<Decoded, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ladder
            .iter()
            .zip(blobs)
            .zip(reported)
            .map(|((p, blob), claimed)| {
                let sampling = Sampling::Nearest(targets.clone());
                scope.spawn(move || check_one(src, p, blob, *claimed, sampling))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("the decoder thread panicked".into()))
            })
            .collect()
    });
    let out = checked.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok((src.size, out))
}

/// Decodes one rendition and checks it against its claim, its profile and the source.
fn check_one(
    src: &Decoded,
    p: &VideoProfile,
    blob: &[u8],
    claimed: u64,
    sampling: Sampling,
) -> Result<Decoded, String> {
    let d = decode_rendition(blob, p.codec, sampling)
        .map_err(|e| format!("rendition {}: {e}", p.name))?;
    let expected = p.output_size(src.size.0, src.size.1);
    if d.pixels != claimed {
        return Err(format!(
            "PixelMismatch: rendition {} decodes to {} pixels, the orchestrator claims {claimed}",
            p.name, d.pixels
        ));
    }
    if d.size != expected || !d.uniform {
        return Err(format!(
            "rendition {} is {}x{}, expected {}x{} for a {}x{} source",
            p.name, d.size.0, d.size.1, expected.0, expected.1, src.size.0, src.size.1
        ));
    }
    content::check(p, src, &d).map_err(|f| f.to_string())?;
    Ok(d)
}
