//! HLS playlists (master or media) as read back from a server.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = reel_media::hls::parse_playlist(data);
});
