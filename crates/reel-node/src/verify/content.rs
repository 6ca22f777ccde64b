//! Content checks: does a rendition show the source, all of it, at the quality its profile
//! pays for? A few pictures per segment are compared with the source's at the same times
//! (see `Decoded::samples`), on the luma plane:
//!
//! - **Content.** Both are shrunk to an eighth of the rendition's size (area average) and
//!   compared by PSNR. Encoding keeps a picture's broad shapes at any bitrate, even for noise
//!   (whose block means are all mid-grey), so an honest rendition scores high; a different
//!   or rearranged picture scores low.
//! - **Frozen pictures.** Where the source changes between two sampled times, the rendition
//!   must change too.
//! - **Frame count.** As many frames as the profile's rate gives over the segment's span (the
//!   source's count where the profile keeps the source's rate).
//! - **Starved encodes.** A rendition far under its profile's bitrate must look like the
//!   source at full size: an honest encoder spends less only where the picture is easy.
//!
//! The thresholds come from honest encodes over varied content (see
//! `honest_renditions_of_varied_content_pass` in `tests.rs` and docs/faults.md).

use ffmpeg_next as ff;
use reel_media::VideoProfile;
use reel_media::media::TS_HZ;

use super::decode::{Decoded, Luma};

/// Lowest PSNR of a rendition's shrunk pictures against the source's, in dB.
pub const CONTENT_FLOOR_DB: f64 = 14.0;
/// The source "changes" between two samples when their shrunk pictures differ by more
/// than this (PSNR below it)...
pub const SOURCE_CHANGE_DB: f64 = 30.0;
/// ...and the rendition "stands still" when its two pictures agree to within this.
pub const FROZEN_DB: f64 = 48.0;
/// A rendition under 1/`STARVED_SHARE` of its profile's bitrate...
pub const STARVED_SHARE: u64 = 5;
/// ...must reach this full-size PSNR on average.
pub const STARVED_FLOOR_DB: f64 = 36.0;
/// PSNR of identical pictures (the formula's infinity).
const IDENTICAL_DB: f64 = 99.0;

/// What a content check found wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Finding {
    #[error(
        "ContentMismatch: rendition {rendition} at {at_ms} ms is {psnr_db:.1} dB from the source \
         (shrunk), under the {CONTENT_FLOOR_DB} dB floor"
    )]
    Content {
        rendition: String,
        at_ms: i64,
        psnr_db: f64,
    },
    #[error(
        "FrozenFrames: rendition {rendition} stands still ({rendition_db:.1} dB between \
         {from_ms} and {to_ms} ms) where the source moves ({source_db:.1} dB)"
    )]
    Frozen {
        rendition: String,
        from_ms: i64,
        to_ms: i64,
        source_db: f64,
        rendition_db: f64,
    },
    #[error("FrameCount: rendition {rendition} has {got} frames, its profile gives {expected}")]
    FrameCount {
        rendition: String,
        got: u64,
        expected: u64,
    },
    #[error(
        "Starved: rendition {rendition} is {kbps} kbit/s against its profile's {profile_kbps} \
         and {psnr_db:.1} dB from the source, under the {STARVED_FLOOR_DB} dB floor"
    )]
    Starved {
        rendition: String,
        kbps: u64,
        profile_kbps: u64,
        psnr_db: f64,
    },
}

/// What the checks measured of one rendition (for the record and for calibration).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measured {
    /// Lowest shrunk-picture PSNR against the source, dB.
    pub content_db: f64,
    /// Mean full-size PSNR against the source scaled to the rendition's size, dB: measured
    /// only under the starved bitrate (99 otherwise).
    pub full_db: f64,
    /// Video bitrate, kbit/s.
    pub kbps: u64,
}

/// Runs every check of one rendition against the source.
pub fn check(
    profile: &VideoProfile,
    source: &Decoded,
    rendition: &Decoded,
) -> Result<Measured, Finding> {
    let name = || profile.name.clone();
    let expected = expected_frames(profile, source);
    // An honest frame-rate conversion lands within a frame of the span's count.
    if rendition.frames + 1 < expected * 9 / 10 || rendition.frames > expected * 11 / 10 + 1 {
        return Err(Finding::FrameCount {
            rendition: name(),
            got: rendition.frames,
            expected,
        });
    }
    let span = source.span_ticks().unwrap_or(0).max(1);
    let kbps = rendition.video_bytes * 8 * TS_HZ as u64 / span as u64 / 1000;
    let mut measured = Measured {
        content_db: IDENTICAL_DB,
        full_db: IDENTICAL_DB,
        kbps,
    };
    // Sampling fails only for pictures that are not 8-bit YUV: then counts are all we check.
    if source.samples.is_empty() || source.samples.len() != rendition.samples.len() {
        return Ok(measured);
    }
    let (w, h) = (rendition.size.0.max(1), rendition.size.1.max(1));
    let small = ((w / 8).max(4), (h / 8).max(4));
    let area = ff::software::scaling::Flags::AREA;
    let mut shrunk = Vec::with_capacity(source.samples.len());
    for (s, r) in source.samples.iter().zip(&rendition.samples) {
        let (Some(s_small), Some(r_small)) = (resize(s, small, area), resize(r, small, area))
        else {
            return Ok(measured);
        };
        let content = psnr(&s_small.data, &r_small.data);
        if content < CONTENT_FLOOR_DB {
            return Err(Finding::Content {
                rendition: name(),
                at_ms: s.pts * 1000 / TS_HZ,
                psnr_db: content,
            });
        }
        measured.content_db = measured.content_db.min(content);
        shrunk.push((s_small, r));
    }
    if let (Some((s0, r0)), Some((s1, r1))) = (shrunk.first(), shrunk.last()) {
        let source_db = psnr(&s0.data, &s1.data);
        let rendition_db = if r0.data.len() == r1.data.len() {
            psnr(&r0.data, &r1.data)
        } else {
            0.0
        };
        if source_db < SOURCE_CHANGE_DB && rendition_db > FROZEN_DB {
            return Err(Finding::Frozen {
                rendition: name(),
                from_ms: s0.pts * 1000 / TS_HZ,
                to_ms: s1.pts * 1000 / TS_HZ,
                source_db,
                rendition_db,
            });
        }
    }
    // Full-size quality is measured only where it decides something: scaling the source to
    // every rendition's size is most of the checks' cost.
    let profile_kbps = profile.bitrate / 1000;
    if kbps * STARVED_SHARE < profile_kbps {
        measured.full_db = full_size_psnr(source, rendition).unwrap_or(IDENTICAL_DB);
        if measured.full_db < STARVED_FLOOR_DB {
            return Err(Finding::Starved {
                rendition: name(),
                kbps,
                profile_kbps,
                psnr_db: measured.full_db,
            });
        }
    }
    Ok(measured)
}

/// Mean PSNR of the rendition's sampled pictures against the source's scaled to their size
/// (bicubic, as the encoding side scales).
pub fn full_size_psnr(source: &Decoded, rendition: &Decoded) -> Option<f64> {
    let mut sum = 0.0;
    for (s, r) in source.samples.iter().zip(&rendition.samples) {
        let scaled = resize(
            s,
            (r.width, r.height),
            ff::software::scaling::Flags::BICUBIC,
        )?;
        sum += psnr(&scaled.data, &r.data);
    }
    (!rendition.samples.is_empty()).then(|| sum / rendition.samples.len() as f64)
}

/// Frames a profile gives over the source's span: the source's own count where it keeps the
/// source's rate.
pub fn expected_frames(profile: &VideoProfile, source: &Decoded) -> u64 {
    let Some((num, den)) = profile.frame_rate() else {
        return source.frames;
    };
    let span = source.span_ticks().unwrap_or(0).max(0) as u64;
    let den = u64::from(den) * TS_HZ as u64;
    (span * u64::from(num) + den / 2) / den
}

/// PSNR of two equally long 8-bit planes, in dB ([`IDENTICAL_DB`] when equal, 0 when their
/// lengths differ).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let sse: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = u64::from(x.abs_diff(y));
            d * d
        })
        .sum();
    if sse == 0 {
        return IDENTICAL_DB;
    }
    let mse = sse as f64 / a.len() as f64;
    (10.0 * (255.0 * 255.0 / mse).log10()).min(IDENTICAL_DB)
}

/// A luma plane scaled to `size` with FFmpeg's scaler.
pub fn resize(l: &Luma, size: (u32, u32), flags: ff::software::scaling::Flags) -> Option<Luma> {
    use ff::format::Pixel;
    let mut ctx = ff::software::scaling::Context::get(
        Pixel::GRAY8,
        l.width,
        l.height,
        Pixel::GRAY8,
        size.0,
        size.1,
        flags,
    )
    .ok()?;
    let mut input = ff::frame::Video::new(Pixel::GRAY8, l.width, l.height);
    let stride = input.stride(0);
    let w = l.width as usize;
    for (row, line) in l.data.chunks_exact(w).enumerate() {
        input
            .data_mut(0)
            .get_mut(row * stride..row * stride + w)?
            .copy_from_slice(line);
    }
    let mut output = ff::frame::Video::new(Pixel::GRAY8, size.0, size.1);
    ctx.run(&input, &mut output).ok()?;
    let (ow, oh) = (size.0 as usize, size.1 as usize);
    let stride = output.stride(0);
    let plane = output.data(0);
    let mut data = Vec::with_capacity(ow * oh);
    for row in 0..oh {
        data.extend_from_slice(plane.get(row * stride..row * stride + ow)?);
    }
    Some(Luma {
        pts: l.pts,
        width: size.0,
        height: size.1,
        data,
    })
}
