//! HLS output: a master playlist per stream and a live media playlist per rendition (a
//! sliding window with an advancing media sequence, discontinuity tags, `ENDLIST` at the
//! end), segments kept in memory for the window, and optionally the whole recording on
//! disk with an event/VOD playlist. Playlists are written and read with `m3u8-rs`.
//!
//! Layout, both over HTTP (under `/stream/`) and on disk:
//!
//! ```text
//! <stream>.m3u8                    master (over HTTP)     <stream>/index.m3u8 on disk
//! <stream>/<rendition>.m3u8        live media playlist    <stream>/<rendition>/index.m3u8 on disk (all segments)
//! <stream>/<rendition>/<seq>.ts    segments (H.264 and HEVC renditions)
//! <stream>/<rendition>/<seq>.m4s   fragmented MP4 segments (VP8, VP9 and AV1 renditions)
//! <stream>/<rendition>/init-<n>.mp4  their init segment, from segment n on (EXT-X-MAP)
//! ```
//!
//! A rendition arrives as one self-contained file either way. A fragmented MP4 one is split
//! here into its init segment (kept once, while it stays the same) and its media fragment,
//! as HLS wants. Each variant's `CODECS` attribute is read from its first keyframe.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use m3u8_rs::{MediaPlaylist, MediaPlaylistType, Playlist};

use crate::MediaError;
use crate::stream::StreamName;

mod container;
mod render;

use container::{Split, codecs_of, split};
pub use render::{FMP4_INIT_CONTENT_TYPE, FMP4_SEGMENT_CONTENT_TYPE, SEGMENT_CONTENT_TYPE};
use render::{FileKind, Variant, parse_file, render_master, segments, version, write_media};

/// Content type of playlists.
pub const PLAYLIST_CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";
/// Largest playlist [`parse_playlist`] reads.
const MAX_PLAYLIST: usize = 1 << 20;

/// A whole rendition's content type: `video/mp4` for a fragmented MP4 one, else MPEG-TS's.
pub fn rendition_content_type(data: &[u8]) -> &'static str {
    if container::is_mp4(data) {
        FMP4_INIT_CONTENT_TYPE
    } else {
        SEGMENT_CONTENT_TYPE
    }
}

/// A whole rendition's file extension: `mp4` or `ts`.
pub fn rendition_extension(data: &[u8]) -> &'static str {
    if container::is_mp4(data) { "mp4" } else { "ts" }
}

/// HLS settings.
#[derive(Debug, Clone)]
pub struct HlsSettings {
    /// Segments listed in a live playlist.
    pub window: usize,
    /// Segments kept in memory per rendition (at least the window; a few more so that a
    /// player still fetching a segment that just left the window gets it).
    pub keep_in_memory: usize,
    /// Where to record every segment and a full playlist; `None` records nothing.
    pub record_dir: Option<PathBuf>,
}

impl Default for HlsSettings {
    fn default() -> Self {
        Self {
            window: 6,
            keep_in_memory: 10,
            record_dir: None,
        }
    }
}

/// One rendition of one segment, ready to publish.
#[derive(Debug, Clone)]
pub struct RenditionOut {
    /// Rendition name (profile name, or `source`).
    pub name: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Declared bitrate (bit/s) for the master playlist's BANDWIDTH.
    pub bitrate: u64,
    /// The segment: MPEG-TS, or a whole fragmented MP4 (init and fragment).
    pub data: Bytes,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    duration: f64,
    discontinuity: bool,
    data: Option<Bytes>,
    /// For a fragmented MP4 segment, the id of its init segment.
    init: Option<u64>,
}

#[derive(Debug)]
struct RenditionState {
    name: String,
    width: u32,
    height: u32,
    bitrate: u64,
    /// Peak measured bit rate.
    peak: u64,
    /// The live window and the few segments after it still in memory (newest last).
    recent: VecDeque<Entry>,
    /// Every segment (for the recording's playlist).
    all: Vec<(u64, f64, bool)>,
    /// Discontinuities that slid out of the live window.
    discontinuity_sequence: u64,
    target_duration: u64,
    /// Init segments still referenced by `recent`, by id (the seq that brought each).
    inits: VecDeque<(u64, Bytes)>,
    /// Every segment's init id (for the recording's playlist).
    all_inits: Vec<Option<u64>>,
    /// The `CODECS` attribute, once a keyframe was read.
    codecs: Option<String>,
}

#[derive(Debug, Default)]
struct StreamState {
    renditions: Vec<RenditionState>,
    last_seq: Option<u64>,
    ended: bool,
}

/// Every stream's playlists and recent segments.
#[derive(Debug)]
pub struct HlsStore {
    settings: HlsSettings,
    streams: RwLock<HashMap<StreamName, Arc<Mutex<StreamState>>>>,
}

impl HlsStore {
    /// An empty store.
    pub fn new(settings: HlsSettings) -> Self {
        Self {
            settings,
            streams: RwLock::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &HlsSettings {
        &self.settings
    }

    fn stream(&self, name: &StreamName) -> Option<Arc<Mutex<StreamState>>> {
        self.streams.read().ok()?.get(name).cloned()
    }

    /// Adds a segment's renditions. Blocking when recording to disk: call it from a
    /// blocking thread there.
    pub fn publish(
        &self,
        stream: &StreamName,
        seq: u64,
        duration: Duration,
        discontinuity: bool,
        renditions: &[RenditionOut],
    ) -> Result<(), MediaError> {
        let state = {
            let mut streams = self.streams.write().map_err(|_| poisoned())?;
            Arc::clone(streams.entry(stream.clone()).or_default())
        };
        let mut st = state.lock().map_err(|_| poisoned())?;
        if let Some(last) = st.last_seq
            && seq <= last
        {
            return Err(MediaError::StaleSegment {
                stream: stream.to_string(),
                seq,
                last,
            });
        }
        // A stream that ended and starts again continues after a discontinuity.
        let discontinuity = discontinuity || st.ended;
        st.ended = false;
        st.last_seq = Some(seq);
        let secs = duration.as_secs_f64();
        for r in renditions {
            let idx = match st.renditions.iter().position(|x| x.name == r.name) {
                Some(i) => i,
                None => {
                    st.renditions.push(RenditionState {
                        name: r.name.clone(),
                        width: r.width,
                        height: r.height,
                        bitrate: r.bitrate,
                        peak: 0,
                        recent: VecDeque::new(),
                        all: Vec::new(),
                        discontinuity_sequence: 0,
                        target_duration: 1,
                        inits: VecDeque::new(),
                        all_inits: Vec::new(),
                        codecs: None,
                    });
                    st.renditions.len() - 1
                }
            };
            let rs = &mut st.renditions[idx];
            rs.width = r.width;
            rs.height = r.height;
            if secs > 0.0 {
                let bits = (r.data.len() as f64 * 8.0 / secs) as u64;
                rs.peak = rs.peak.max(bits);
            }
            // EXT-X-TARGETDURATION never shrinks and is at least every EXTINF (RFC 8216
            // only asks for the rounded value; whole seconds up is what players expect).
            rs.target_duration = rs.target_duration.max(secs.ceil().max(1.0) as u64);
            let Split { data, init } = split(&r.data)?;
            let mut new_init = None;
            let init_id = init.map(|init| match rs.inits.back() {
                Some((id, last)) if *last == init => *id,
                _ => {
                    rs.inits.push_back((seq, init.clone()));
                    new_init = Some(init);
                    seq
                }
            });
            if rs.codecs.is_none() || discontinuity || new_init.is_some() {
                // Renditions of a codec reel cannot read keep no CODECS attribute rather
                // than a wrong one.
                rs.codecs = codecs_of(&r.data);
            }
            rs.recent.push_back(Entry {
                seq,
                duration: secs,
                discontinuity,
                data: Some(data.clone()),
                init: init_id,
            });
            rs.all.push((seq, secs, discontinuity));
            rs.all_inits.push(init_id);
            while rs.recent.len() > self.settings.keep_in_memory.max(self.settings.window) {
                if let Some(old) = rs.recent.pop_front()
                    && old.discontinuity
                {
                    rs.discontinuity_sequence += 1;
                }
            }
            let oldest_init = rs.recent.iter().find_map(|e| e.init);
            while rs.inits.len() > 1 && rs.inits.front().map(|i| i.0) < oldest_init {
                rs.inits.pop_front();
            }
            if let Some(dir) = &self.settings.record_dir {
                let rdir = dir.join(stream.as_str()).join(&r.name);
                std::fs::create_dir_all(&rdir)
                    .map_err(|e| MediaError::io(format!("creating {}", rdir.display()), e))?;
                let ext = if init_id.is_some() { "m4s" } else { "ts" };
                let path = rdir.join(format!("{seq}.{ext}"));
                std::fs::write(&path, &data)
                    .map_err(|e| MediaError::io(format!("writing {}", path.display()), e))?;
                if let Some(init) = new_init {
                    let path = rdir.join(format!("init-{seq}.mp4"));
                    std::fs::write(&path, &init)
                        .map_err(|e| MediaError::io(format!("writing {}", path.display()), e))?;
                }
            }
        }
        if self.settings.record_dir.is_some() {
            self.write_recording(stream, &st)?;
        }
        Ok(())
    }

    /// Whether [`HlsStore::publish`] would take segment `seq` (it must come after the last).
    pub fn accepts(&self, stream: &StreamName, seq: u64) -> Result<(), MediaError> {
        let Some(state) = self.stream(stream) else {
            return Ok(());
        };
        let st = state.lock().map_err(|_| poisoned())?;
        match st.last_seq {
            Some(last) if seq <= last => Err(MediaError::StaleSegment {
                stream: stream.to_string(),
                seq,
                last,
            }),
            _ => Ok(()),
        }
    }

    /// Marks a stream as ended: its playlists get `EXT-X-ENDLIST`.
    pub fn end(&self, stream: &StreamName) -> Result<(), MediaError> {
        let Some(state) = self.stream(stream) else {
            return Ok(());
        };
        let mut st = state.lock().map_err(|_| poisoned())?;
        st.ended = true;
        if self.settings.record_dir.is_some() {
            self.write_recording(stream, &st)?;
        }
        Ok(())
    }

    /// Forgets a stream (its recording on disk stays).
    pub fn remove(&self, stream: &StreamName) {
        if let Ok(mut streams) = self.streams.write() {
            streams.remove(stream);
        }
    }

    /// Whether a stream has ended.
    pub fn is_ended(&self, stream: &StreamName) -> Option<bool> {
        let state = self.stream(stream)?;
        let st = state.lock().ok()?;
        Some(st.ended)
    }

    /// The master playlist served at `/stream/<stream>.m3u8`.
    pub fn master_playlist(&self, stream: &StreamName) -> Option<String> {
        let state = self.stream(stream)?;
        let st = state.lock().ok()?;
        if st.renditions.is_empty() {
            return None;
        }
        let prefix = format!("{stream}/");
        Some(render_master(&variants(&st), |r| {
            format!("{prefix}{r}.m3u8")
        }))
    }

    /// The live media playlist served at `/stream/<stream>/<rendition>.m3u8`.
    pub fn media_playlist(&self, stream: &StreamName, rendition: &str) -> Option<String> {
        let state = self.stream(stream)?;
        let st = state.lock().ok()?;
        let r = st.renditions.iter().find(|r| r.name == rendition)?;
        let skip = r.recent.len().saturating_sub(self.settings.window);
        // Discontinuities between the memory margin and the window also left the window.
        let hidden_disc = r
            .recent
            .iter()
            .take(skip)
            .filter(|e| e.discontinuity)
            .count() as u64;
        let window: Vec<&Entry> = r.recent.iter().skip(skip).collect();
        let playlist = MediaPlaylist {
            version: Some(version(window.iter().map(|e| e.init))),
            target_duration: r.target_duration,
            media_sequence: window.first().map_or(0, |e| e.seq),
            discontinuity_sequence: r.discontinuity_sequence + hidden_disc,
            end_list: st.ended,
            segments: segments(
                window
                    .iter()
                    .map(|e| (e.seq, e.duration, e.discontinuity, e.init)),
                &format!("{rendition}/"),
            ),
            ..Default::default()
        };
        Some(write_media(&playlist))
    }

    /// A file of a rendition (`<seq>.ts`, `<seq>.m4s` or `init-<n>.mp4`) still in memory, or
    /// from the recording on disk, with its content type.
    pub fn file(
        &self,
        stream: &StreamName,
        rendition: &str,
        file: &str,
    ) -> Option<(Bytes, &'static str)> {
        let (kind, id) = parse_file(file)?;
        if let Some(state) = self.stream(stream) {
            let st = state.lock().ok()?;
            let r = st.renditions.iter().find(|r| r.name == rendition);
            let found = match kind {
                FileKind::Init => r
                    .and_then(|r| r.inits.iter().find(|(i, _)| *i == id))
                    .map(|(_, b)| b.clone()),
                FileKind::Ts | FileKind::Fragment => r
                    .and_then(|r| r.recent.iter().find(|e| e.seq == id))
                    .filter(|e| e.init.is_some() == (kind == FileKind::Fragment))
                    .and_then(|e| e.data.clone()),
            };
            if let Some(found) = found {
                return Some((found, kind.content_type()));
            }
        }
        let dir = self.settings.record_dir.as_ref()?;
        if !valid_rendition(rendition) {
            return None;
        }
        std::fs::read(dir.join(stream.as_str()).join(rendition).join(file))
            .ok()
            .map(|b| (Bytes::from(b), kind.content_type()))
    }

    /// A rendition's segments still in memory after `after` (all of them for `None`),
    /// oldest first, as they are served: MPEG-TS, or fragmented MP4 fragments.
    pub fn segments_after(
        &self,
        stream: &StreamName,
        rendition: &str,
        after: Option<u64>,
    ) -> Vec<(u64, Bytes)> {
        let Some(state) = self.stream(stream) else {
            return Vec::new();
        };
        let Ok(st) = state.lock() else {
            return Vec::new();
        };
        st.renditions
            .iter()
            .find(|r| r.name == rendition)
            .map(|r| {
                r.recent
                    .iter()
                    .filter(|e| after.is_none_or(|a| e.seq > a))
                    .filter_map(|e| Some((e.seq, e.data.clone()?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An MPEG-TS segment still in memory, or from the recording on disk.
    pub fn segment(&self, stream: &StreamName, rendition: &str, seq: u64) -> Option<Bytes> {
        self.file(stream, rendition, &format!("{seq}.ts"))
            .map(|(b, _)| b)
    }

    fn write_recording(&self, stream: &StreamName, st: &StreamState) -> Result<(), MediaError> {
        let Some(dir) = &self.settings.record_dir else {
            return Ok(());
        };
        let sdir = dir.join(stream.as_str());
        for r in &st.renditions {
            let playlist = MediaPlaylist {
                version: Some(version(r.all_inits.iter().copied())),
                target_duration: r.target_duration,
                media_sequence: r.all.first().map_or(0, |e| e.0),
                end_list: st.ended,
                playlist_type: Some(if st.ended {
                    MediaPlaylistType::Vod
                } else {
                    MediaPlaylistType::Event
                }),
                segments: segments(
                    r.all
                        .iter()
                        .zip(&r.all_inits)
                        .map(|(&(seq, d, disc), &init)| (seq, d, disc, init)),
                    "",
                ),
                ..Default::default()
            };
            write_atomically(
                &sdir.join(&r.name).join("index.m3u8"),
                write_media(&playlist).as_bytes(),
            )?;
        }
        let master = render_master(&variants(st), |r| format!("{r}/index.m3u8"));
        write_atomically(&sdir.join("index.m3u8"), master.as_bytes())
    }
}

/// What the master playlist lists of each rendition.
fn variants(st: &StreamState) -> Vec<Variant<'_>> {
    st.renditions
        .iter()
        .map(|r| Variant {
            name: &r.name,
            bandwidth: r.bitrate.max(r.peak).max(1),
            size: (r.width, r.height),
            codecs: r.codecs.as_deref(),
            fmp4: !r.inits.is_empty(),
        })
        .collect()
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), MediaError> {
    let tmp = path.with_extension("m3u8.tmp");
    let io = |e| MediaError::io(format!("writing {}", path.display()), e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(data).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn valid_rendition(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn poisoned() -> MediaError {
    MediaError::Playlist {
        reason: "playlist state lock poisoned by an earlier panic".into(),
    }
}

/// Parses a master or media playlist. Pure; fuzzed.
pub fn parse_playlist(bytes: &[u8]) -> Result<Playlist, MediaError> {
    if bytes.len() > MAX_PLAYLIST {
        return Err(MediaError::TooLarge {
            what: "playlist",
            limit: MAX_PLAYLIST as u64,
        });
    }
    if !bytes.starts_with(b"#EXTM3U") {
        return Err(MediaError::Playlist {
            reason: "does not start with #EXTM3U".into(),
        });
    }
    m3u8_rs::parse_playlist_res(bytes).map_err(|e| MediaError::Playlist {
        reason: format!("{:.200}", format!("{e:?}")),
    })
}

#[cfg(test)]
mod tests;
