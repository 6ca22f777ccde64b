//! AMF0 command bodies: decoding never panics or recurses deep, and what decodes encodes to
//! bytes that decode to the same encoding again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel_media::amf0;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = amf0::decode_all(data) {
        let bytes = amf0::encode_all(&values);
        let again = amf0::decode_all(&bytes).expect("our own encoding must decode");
        assert_eq!(amf0::encode_all(&again), bytes);
    }
});
