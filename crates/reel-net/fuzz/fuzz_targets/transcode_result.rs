//! The orchestrator's answer body, as a gateway decodes it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_net::http::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = http::decode_transcode_result(data, &limits);
    let _ = http::decode_payment_result(data, &limits);
});
