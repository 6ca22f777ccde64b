//! MPEG-TS segments as pushed over HTTP, and renditions (which may also be HEVC): demux must
//! never panic, and what it accepts must mux and demux again to the same packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_media::ts;

fuzz_target!(|data: &[u8]| {
    let readers: [fn(&[u8]) -> Result<reel_media::SegmentMedia, reel_media::MediaError>; 2] =
        [ts::demux, ts::demux_rendition];
    for demux in readers {
        if let Ok(media) = demux(data) {
            let again = demux(
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
    }
});
