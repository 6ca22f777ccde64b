//! The HLS store's playlists, windows, recordings and containers.
use super::*;
use m3u8_rs::Resolution;

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
