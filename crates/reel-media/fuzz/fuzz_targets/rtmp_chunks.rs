//! Bytes after the RTMP handshake, fed in uneven pieces to the chunk reader and the publish
//! session: no panic, and nothing buffered beyond the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_media::rtmp::chunk::{ChunkLimits, ChunkReader};
use reel_media::rtmp::session::PublishSession;

fuzz_target!(|data: &[u8]| {
    let mut reader = ChunkReader::new(ChunkLimits::default());
    let mut session = PublishSession::new();
    let mut rest = data;
    let mut step = 1usize;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        reader.push(&rest[..n]);
        rest = &rest[n..];
        step = step * 3 % 997 + 1;
        loop {
            match reader.next_message() {
                Ok(Some(msg)) => {
                    assert!(msg.payload.len() <= 0x00FF_FFFF);
                    if session.handle(msg).is_err() {
                        return;
                    }
                    let _ = session.take_output();
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // Whatever is buffered is at most what was pushed.
        assert!(reader.buffered() <= data.len());
    }
});
