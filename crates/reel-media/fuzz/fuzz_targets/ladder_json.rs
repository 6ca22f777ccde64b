//! Ladder files and `--profiles` text: every accepted profile is usable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ladder) = reel_media::parse_ladder_json(data) {
        for p in &ladder {
            let (w, h) = p.output_size(1920, 1080);
            assert!(w >= 2 && h >= 2 && w % 2 == 0 && h % 2 == 0);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = reel_media::parse_ladder(text);
    }
});
