//! MPEG-TS segments as pushed over HTTP, and renditions: demux must never panic, and what it accepts must
//! mux and demux again to the same packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_media::ts;

fuzz_target!(|data: &[u8]| {
    if let Ok(media) = ts::demux(data) {
        let again = ts::demux(
            &reel_media::Segment {
                seq: 0,
                duration_ticks: 0,
                discontinuity: false,
                media: media.clone(),
            }
            .to_ts(),
        )
        .expect("our own TS must demux");
        assert_eq!(again.packets.len(), media.packets.len());
    }
    // A rendition may also be HEVC; whatever it accepts muxes and demuxes again too.
    if let Ok(media) = ts::demux_rendition(data) {
        let again = ts::demux_rendition(
            &reel_media::Segment {
                seq: 0,
                duration_ticks: 0,
                discontinuity: false,
                media: media.clone(),
            }
            .to_ts(),
        )
        .expect("our own TS must demux");
        assert_eq!(again.video_codec, media.video_codec);
        assert_eq!(again.packets.len(), media.packets.len());
    }
});
