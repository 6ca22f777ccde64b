//! multipart/mixed rendition bodies: the first byte picks the boundary's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_media::multipart;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (b, body) = rest.split_at(n);
    let Ok(boundary) = std::str::from_utf8(b) else {
        return;
    };
    if let Ok(parts) = multipart::parse(boundary, body) {
        assert!(parts.iter().map(|p| p.body.len()).sum::<usize>() <= body.len());
    }
    if let Ok(ct) = std::str::from_utf8(data) {
        let _ = multipart::boundary(ct);
    }
});
