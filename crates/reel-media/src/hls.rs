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
//! <stream>/<rendition>/<seq>.ts    segments
//! ```

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use m3u8_rs::{
    MasterPlaylist, MediaPlaylist, MediaPlaylistType, MediaSegment, Playlist, Resolution,
    VariantStream,
};

use crate::MediaError;
use crate::stream::StreamName;

/// Content type of playlists.
pub const PLAYLIST_CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";
/// Content type of TS segments.
pub const SEGMENT_CONTENT_TYPE: &str = "video/mp2t";
/// Largest playlist [`parse_playlist`] reads.
const MAX_PLAYLIST: usize = 1 << 20;

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
    /// The TS segment.
    pub data: Bytes,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    duration: f64,
    discontinuity: bool,
    data: Option<Bytes>,
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
            rs.recent.push_back(Entry {
                seq,
                duration: secs,
                discontinuity,
                data: Some(r.data.clone()),
            });
            rs.all.push((seq, secs, discontinuity));
            while rs.recent.len() > self.settings.keep_in_memory.max(self.settings.window) {
                if let Some(old) = rs.recent.pop_front()
                    && old.discontinuity
                {
                    rs.discontinuity_sequence += 1;
                }
            }
            if let Some(dir) = &self.settings.record_dir {
                let rdir = dir.join(stream.as_str()).join(&r.name);
                std::fs::create_dir_all(&rdir)
                    .map_err(|e| MediaError::io(format!("creating {}", rdir.display()), e))?;
                let path = rdir.join(format!("{seq}.ts"));
                std::fs::write(&path, &r.data)
                    .map_err(|e| MediaError::io(format!("writing {}", path.display()), e))?;
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
        Some(render_master(&st, |r| format!("{prefix}{r}.m3u8")))
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
            version: Some(3),
            target_duration: r.target_duration,
            media_sequence: window.first().map_or(0, |e| e.seq),
            discontinuity_sequence: r.discontinuity_sequence + hidden_disc,
            end_list: st.ended,
            segments: window
                .iter()
                .map(|e| MediaSegment {
                    uri: format!("{rendition}/{}.ts", e.seq),
                    duration: e.duration as f32,
                    discontinuity: e.discontinuity,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        Some(write_media(&playlist))
    }

    /// A segment still in memory, or from the recording on disk.
    pub fn segment(&self, stream: &StreamName, rendition: &str, seq: u64) -> Option<Bytes> {
        if let Some(state) = self.stream(stream) {
            let st = state.lock().ok()?;
            let found = st
                .renditions
                .iter()
                .find(|r| r.name == rendition)
                .and_then(|r| r.recent.iter().find(|e| e.seq == seq))
                .and_then(|e| e.data.clone());
            if found.is_some() {
                return found;
            }
        }
        let dir = self.settings.record_dir.as_ref()?;
        if !valid_rendition(rendition) {
            return None;
        }
        std::fs::read(
            dir.join(stream.as_str())
                .join(rendition)
                .join(format!("{seq}.ts")),
        )
        .ok()
        .map(Bytes::from)
    }

    fn write_recording(&self, stream: &StreamName, st: &StreamState) -> Result<(), MediaError> {
        let Some(dir) = &self.settings.record_dir else {
            return Ok(());
        };
        let sdir = dir.join(stream.as_str());
        for r in &st.renditions {
            let playlist = MediaPlaylist {
                version: Some(3),
                target_duration: r.target_duration,
                media_sequence: r.all.first().map_or(0, |e| e.0),
                end_list: st.ended,
                playlist_type: Some(if st.ended {
                    MediaPlaylistType::Vod
                } else {
                    MediaPlaylistType::Event
                }),
                segments: r
                    .all
                    .iter()
                    .map(|&(seq, d, disc)| MediaSegment {
                        uri: format!("{seq}.ts"),
                        duration: d as f32,
                        discontinuity: disc,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            write_atomically(
                &sdir.join(&r.name).join("index.m3u8"),
                write_media(&playlist).as_bytes(),
            )?;
        }
        let master = render_master(st, |r| format!("{r}/index.m3u8"));
        write_atomically(&sdir.join("index.m3u8"), master.as_bytes())
    }
}

fn render_master(st: &StreamState, uri: impl Fn(&str) -> String) -> String {
    let playlist = MasterPlaylist {
        version: Some(3),
        variants: st
            .renditions
            .iter()
            .map(|r| VariantStream {
                uri: uri(&r.name),
                bandwidth: r.bitrate.max(r.peak).max(1),
                resolution: Some(Resolution {
                    width: u64::from(r.width),
                    height: u64::from(r.height),
                }),
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

fn write_media(p: &MediaPlaylist) -> String {
    let mut out = Vec::new();
    let _ = p.write_to(&mut out);
    String::from_utf8_lossy(&out).into_owned()
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
mod tests {
    use super::*;

    fn out(name: &str, len: usize) -> RenditionOut {
        RenditionOut {
            name: name.into(),
            width: 256,
            height: 144,
            bitrate: 400_000,
            data: Bytes::from(vec![0x47; len]),
        }
    }

    fn media(store: &HlsStore, s: &StreamName, r: &str) -> MediaPlaylist {
        match parse_playlist(store.media_playlist(s, r).unwrap().as_bytes()).unwrap() {
            Playlist::MediaPlaylist(p) => p,
            Playlist::MasterPlaylist(_) => panic!("expected a media playlist"),
        }
    }

    #[test]
    fn sliding_window_with_discontinuities_and_endlist() {
        let store = HlsStore::new(HlsSettings {
            window: 3,
            keep_in_memory: 4,
            record_dir: None,
        });
        let s = StreamName::new("abc").unwrap();
        for seq in 0..8u64 {
            let d = Duration::from_millis(if seq == 5 { 2_600 } else { 2_000 });
            store
                .publish(
                    &s,
                    seq,
                    d,
                    seq == 2 || seq == 6,
                    &[out("P144p", 1000), out("low", 500)],
                )
                .unwrap();
        }
        let p = media(&store, &s, "P144p");
        assert_eq!(p.media_sequence, 5);
        assert_eq!(p.segments.len(), 3);
        assert_eq!(p.segments[0].uri, "P144p/5.ts");
        // seq 2 left the window: one discontinuity before it.
        assert_eq!(p.discontinuity_sequence, 1);
        assert!(p.segments[1].discontinuity, "seq 6");
        assert!(p.target_duration >= 3, "2.6 s rounds to 3");
        for seg in &p.segments {
            assert!(f64::from(seg.duration) <= p.target_duration as f64);
        }
        assert!(!p.end_list);
        store.end(&s).unwrap();
        assert!(media(&store, &s, "P144p").end_list);

        // In memory: 4 newest; older ones are gone (nothing recorded).
        assert!(store.segment(&s, "low", 7).is_some());
        assert!(store.segment(&s, "low", 4).is_some());
        assert!(store.segment(&s, "low", 3).is_none());
        assert!(store.media_playlist(&s, "nope").is_none());

        let master = store.master_playlist(&s).unwrap();
        let Playlist::MasterPlaylist(m) = parse_playlist(master.as_bytes()).unwrap() else {
            panic!("master");
        };
        assert_eq!(m.variants.len(), 2);
        assert_eq!(m.variants[0].uri, "abc/P144p.m3u8");
        assert_eq!(m.variants[0].bandwidth, 400_000);
        assert_eq!(
            m.variants[0].resolution,
            Some(Resolution {
                width: 256,
                height: 144
            })
        );

        assert!(matches!(
            store.publish(&s, 7, Duration::from_secs(2), false, &[out("P144p", 10)]),
            Err(MediaError::StaleSegment {
                seq: 7,
                last: 7,
                ..
            })
        ));
    }

    #[test]
    fn records_a_vod_playlist_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = HlsStore::new(HlsSettings {
            window: 2,
            keep_in_memory: 2,
            record_dir: Some(dir.path().to_path_buf()),
        });
        let s = StreamName::new("rec").unwrap();
        for seq in 0..5u64 {
            store
                .publish(&s, seq, Duration::from_secs(2), false, &[out("low", 100)])
                .unwrap();
        }
        store.end(&s).unwrap();
        let text = std::fs::read(dir.path().join("rec/low/index.m3u8")).unwrap();
        let Playlist::MediaPlaylist(p) = parse_playlist(&text).unwrap() else {
            panic!("media");
        };
        assert_eq!(p.segments.len(), 5);
        assert_eq!(p.playlist_type, Some(MediaPlaylistType::Vod));
        assert!(p.end_list);
        assert!(dir.path().join("rec/low/0.ts").exists());
        assert!(dir.path().join("rec/index.m3u8").exists());
        // Old segments come back from disk.
        assert_eq!(store.segment(&s, "low", 0).unwrap().len(), 100);
        assert!(store.segment(&s, "../x", 0).is_none());
    }

    #[test]
    fn rejects_bad_playlists() {
        assert!(parse_playlist(b"").is_err());
        assert!(parse_playlist(b"hello").is_err());
        assert!(parse_playlist(&vec![b'#'; MAX_PLAYLIST + 1]).is_err());
    }
}
