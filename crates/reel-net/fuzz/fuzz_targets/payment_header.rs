//! `Livepeer-Payment` header bytes → base64 → protobuf `Payment` → ticket batch, as the
//! orchestrator decodes them. Must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_net::http::{self, HeaderMap, HeaderValue, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    // As a header value (when the bytes are a legal one)...
    if let Ok(v) = HeaderValue::from_bytes(data) {
        let mut h = HeaderMap::new();
        h.insert(http::PAYMENT_HEADER, v);
        if let Ok(Some(p)) = http::parse_payment_header(&h, &limits) {
            let _ = reel_pm::PaymentBatch::from_proto(&p, 600);
        }
    }
    // ...and as the protobuf bytes themselves, which base64 would carry.
    if let Ok(p) = <reel_net::proto::Payment as prost::Message>::decode(data) {
        if let Ok(batch) = reel_pm::PaymentBatch::from_proto(&p, 600) {
            for (nonce, sig) in batch.tickets.iter().take(4) {
                let t = batch.params.ticket(batch.sender, *nonce);
                if let Ok(sig) = reel_net::Signature::from_slice(sig) {
                    let _ = t.recover_signer(&sig);
                }
            }
        }
    }
});
