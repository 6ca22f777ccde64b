//! FLV audio/video tag bodies from an RTMP publisher: a sequence of tags, each prefixed by
//! a kind byte and a length byte, through one depacketizer (so configs and frames meet).
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_media::flv::{FlvDepacketizer, parse_audio_tag, parse_video_tag};

fuzz_target!(|data: &[u8]| {
    let mut d = FlvDepacketizer::new();
    let mut rest = data;
    let mut ts = 0u32;
    while let [kind, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (tag, next) = tail.split_at(n);
        ts = ts.wrapping_add(u32::from(*kind));
        if kind & 1 == 0 {
            let _ = parse_video_tag(tag);
            let _ = d.video(ts, tag);
        } else {
            let _ = parse_audio_tag(tag);
            let _ = d.audio(ts, tag);
        }
        rest = next;
    }
    let _ = reel_media::h264::AvcConfig::parse(data);
    let _ = reel_media::aac::AacConfig::parse(data);
});
