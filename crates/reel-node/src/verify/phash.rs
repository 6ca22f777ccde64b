//! Perceptual hashes for the trusted re-transcode: two encodes of the same source, by
//! different orchestrators, encoders or settings, give pictures that differ in their noise
//! but not in their shapes. Each picture's luma is shrunk to 9×8 (area average) and each of
//! its 64 horizontal neighbour pairs gives a trit: brighter to the right by a clear step,
//! darker by one, or neither. A difference hash with plain bits flips coins wherever
//! neighbours are nearly equal (flat pictures, or busy ones whose blocks average out the
//! same); with the middle value those pairs cost at most one, and only a gradient turned
//! the other way costs two.
//!
//! Busy pictures starved of bits (cellular patterns at 0.06 bit per pixel, measured) still
//! put two honest encodes up to ~31 apart, near a turned picture's ~34. So a distance over
//! [`MAX_DISTANCE`] is confirmed by the content check's measure, the PSNR of the two
//! pictures shrunk to an eighth, before it counts: honest encodes stay far above
//! [`super::content::CONTENT_FLOOR_DB`] there, other pictures far below.

use bytes::Bytes;
use reel_media::VideoProfile;

use super::content::resize;
use super::decode::{Luma, Sampling, decode_rendition};

/// Largest distance (of 128) between two honest encodes' hashes taken without a second
/// look.
pub const MAX_DISTANCE: u32 = 24;
/// Brightness step (of 255) a neighbour pair must show to count.
const STEP: u8 = 10;

/// A picture's difference hash: the pairs brighter to the right, and those darker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hash {
    pub brighter: u64,
    pub darker: u64,
}

impl Hash {
    /// 0 for the same trits, 1 per pair where one side saw no step, 2 per pair turned.
    pub fn distance(self, other: Self) -> u32 {
        (self.brighter ^ other.brighter).count_ones() + (self.darker ^ other.darker).count_ones()
    }
}

/// The difference hash of a picture.
pub fn dhash(l: &Luma) -> Option<Hash> {
    let small = resize(l, (9, 8), ffmpeg_next::software::scaling::Flags::AREA)?;
    let mut h = Hash {
        brighter: 0,
        darker: 0,
    };
    for row in small.data.chunks_exact(9) {
        for pair in row.windows(2) {
            h.brighter = (h.brighter << 1) | u64::from(pair[1] > pair[0].saturating_add(STEP));
            h.darker = (h.darker << 1) | u64::from(pair[0] > pair[1].saturating_add(STEP));
        }
    }
    Some(h)
}

/// Checks that two sets of renditions of one segment (the ladder's, in order) show the same
/// pictures: three pictures of each of the first set's, against the second set's nearest in
/// time. Returns the largest hash distance seen; the error names the rendition, the time and
/// the distance.
pub fn same_pictures(
    ladder: &[VideoProfile],
    first: &[Bytes],
    trusted: &[Bytes],
) -> Result<u32, String> {
    let mut largest = 0;
    for ((p, a), b) in ladder.iter().zip(first).zip(trusted) {
        let a = decode_rendition(a, p.codec, Sampling::Spread(super::decode::SAMPLES))
            .map_err(|e| format!("rendition {}: {e}", p.name))?;
        let times = a.samples.iter().map(|s| s.pts).collect();
        let b = decode_rendition(b, p.codec, Sampling::Nearest(times))
            .map_err(|e| format!("the verifier's rendition {}: {e}", p.name))?;
        // Frame-rate conversions of one source by two encoders agree to a frame or two.
        if a.frames.abs_diff(b.frames) > 2.max(b.frames / 10) {
            return Err(format!(
                "ReTranscodeMismatch: rendition {} has {} frames, the verifier's {}",
                p.name, a.frames, b.frames
            ));
        }
        for (x, y) in a.samples.iter().zip(&b.samples) {
            let (Some(hx), Some(hy)) = (dhash(x), dhash(y)) else {
                continue;
            };
            let distance = hx.distance(hy);
            largest = largest.max(distance);
            if distance <= MAX_DISTANCE {
                continue;
            }
            let small = ((x.width / 8).max(4), (x.height / 8).max(4));
            let area = ffmpeg_next::software::scaling::Flags::AREA;
            let (Some(sx), Some(sy)) = (resize(x, small, area), resize(y, small, area)) else {
                continue;
            };
            let db = super::content::psnr(&sx.data, &sy.data);
            if db < super::content::CONTENT_FLOOR_DB {
                return Err(format!(
                    "ReTranscodeMismatch: rendition {} at {} ms is {distance} of 128 from the \
                     verifier's by perceptual hash (at most {MAX_DISTANCE}) and {db:.1} dB \
                     shrunk (at least {})",
                    p.name,
                    x.pts * 1000 / reel_media::TS_HZ,
                    super::content::CONTENT_FLOOR_DB
                ));
            }
        }
    }
    Ok(largest)
}
