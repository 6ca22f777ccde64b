//! Fragmented MP4 renditions read back: `read` and `split` must never panic, and what
//! `read` accepts must mux and read again to the same packets' count.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_media::fmp4;

fuzz_target!(|data: &[u8]| {
    let _ = fmp4::split(data);
    let Ok(found) = fmp4::read(data) else {
        return;
    };
    let Some(video) = found.video else {
        return;
    };
    // The muxer may refuse what it cannot package (no parameter sets, say), but whatever
    // it writes must read back whole. The one allowed refusal is the output budget, which
    // scales with the file's size, and a rewritten file can be much smaller.
    if let Ok(seg) = fmp4::write(&video, found.media.audio, 1, &found.media.packets) {
        match fmp4::read(&seg.to_file()) {
            Ok(again) => assert_eq!(again.media.packets.len(), found.media.packets.len()),
            Err(e) => assert!(e.to_string().contains("far more bytes"), "{e}"),
        }
    }
});
