//! Writing playlists (media and master) and naming a rendition's files: the pure half of
//! the HLS store.

use m3u8_rs::{Map, MasterPlaylist, MediaPlaylist, MediaSegment, Resolution, VariantStream};

/// Content type of TS segments.
pub const SEGMENT_CONTENT_TYPE: &str = "video/mp2t";
/// Content type of fragmented MP4 media segments.
pub const FMP4_SEGMENT_CONTENT_TYPE: &str = "video/iso.segment";
/// Content type of fragmented MP4 init segments.
pub const FMP4_INIT_CONTENT_TYPE: &str = "video/mp4";

/// One rendition as the master playlist lists it.
pub(super) struct Variant<'a> {
    pub(super) name: &'a str,
    pub(super) bandwidth: u64,
    pub(super) size: (u32, u32),
    pub(super) codecs: Option<&'a str>,
    /// Its segments are fragmented MP4.
    pub(super) fmp4: bool,
}

/// Which file of a rendition a name asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    Ts,
    Fragment,
    Init,
}

impl FileKind {
    pub(super) fn content_type(self) -> &'static str {
        match self {
            Self::Ts => SEGMENT_CONTENT_TYPE,
            Self::Fragment => FMP4_SEGMENT_CONTENT_TYPE,
            Self::Init => FMP4_INIT_CONTENT_TYPE,
        }
    }
}

/// `<seq>.ts`, `<seq>.m4s` or `init-<n>.mp4`: the kind and the number.
pub(super) fn parse_file(file: &str) -> Option<(FileKind, u64)> {
    let (kind, num) = if let Some(n) = file.strip_suffix(".ts") {
        (FileKind::Ts, n)
    } else if let Some(n) = file.strip_suffix(".m4s") {
        (FileKind::Fragment, n)
    } else {
        (
            FileKind::Init,
            file.strip_prefix("init-")?.strip_suffix(".mp4")?,
        )
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((kind, num.parse().ok()?))
}

/// The playlist version: 7 where fragmented MP4 (EXT-X-MAP in a live playlist) is used,
/// 3 otherwise.
pub(super) fn version(mut inits: impl Iterator<Item = Option<u64>>) -> usize {
    if inits.any(|i| i.is_some()) { 7 } else { 3 }
}

/// Media segments with their URIs under `prefix`, and an `EXT-X-MAP` wherever the init
/// segment changes (and on the first fragmented MP4 segment).
pub(super) fn segments(
    entries: impl Iterator<Item = (u64, f64, bool, Option<u64>)>,
    prefix: &str,
) -> Vec<MediaSegment> {
    let mut current = None;
    entries
        .map(|(seq, d, disc, init)| {
            let map = init.filter(|&i| current != Some(i)).map(|i| Map {
                uri: format!("{prefix}init-{i}.mp4"),
                ..Default::default()
            });
            current = init;
            let ext = if init.is_some() { "m4s" } else { "ts" };
            MediaSegment {
                uri: format!("{prefix}{seq}.{ext}"),
                duration: d as f32,
                discontinuity: disc,
                map,
                ..Default::default()
            }
        })
        .collect()
}

pub(super) fn render_master(variants: &[Variant<'_>], uri: impl Fn(&str) -> String) -> String {
    let playlist = MasterPlaylist {
        version: Some(if variants.iter().any(|v| v.fmp4) {
            7
        } else {
            3
        }),
        variants: variants
            .iter()
            .map(|v| VariantStream {
                uri: uri(v.name),
                bandwidth: v.bandwidth,
                resolution: Some(Resolution {
                    width: u64::from(v.size.0),
                    height: u64::from(v.size.1),
                }),
                codecs: v.codecs.map(str::to_owned),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = playlist.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn write_media(p: &MediaPlaylist) -> String {
    let mut out = Vec::new();
    let _ = p.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
