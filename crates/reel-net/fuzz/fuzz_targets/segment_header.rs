//! `Livepeer-Segment` (+ payment, content type) headers → `SegData` → bounds → the signed
//! message and signature check, as the orchestrator runs them before reading a body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_net::http::{self, HeaderMap, HeaderValue, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(a) {
        h.insert(http::SEGMENT_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(b) {
        h.insert(http::CONTENT_TYPE, v);
    }
    if let Ok(req) = http::parse_segment_request(&h, &limits) {
        let _ = reel_net::signed::verify_seg_data(&req.seg_data, reel_net::Address::ZERO);
        let _ = http::verify_body_hash(&req.seg_data, b);
        let _ = http::check_body_len(req.body, b.len(), &limits);
        if req.body == http::BodyKind::Uri {
            let _ = http::parse_segment_uri(b, &limits);
        }
    }
    if let Ok(seg) = <reel_net::proto::SegData as prost::Message>::decode(data) {
        if http::validate_seg_data(&seg, &limits).is_ok() {
            let _ = reel_net::signed::seg_data_message(&seg);
        }
        if let Some(caps) = &seg.capabilities {
            if let Ok(c) = reel_net::capabilities::Capabilities::from_proto(caps) {
                let _ = c.fits(Some(&c));
            }
        }
    }
});
