//! A compute job or result from the network: decoded or refused with a reason, never a
//! panic; what decodes survives a round trip, and a module matches its hash.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use reel_compute::job::{WasmJob, WasmResult, sha256, to_hex};

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    if let Ok(job) = WasmJob::decode(&body) {
        assert_eq!(WasmJob::decode(&job.encode()).as_ref(), Ok(&job));
        if let Some(m) = &job.module {
            assert_eq!(to_hex(&sha256(m)), job.spec.module);
        }
    }
    if let Ok(r) = WasmResult::decode(&body) {
        assert_eq!(r.receipt.output_len as usize, r.output.len());
        assert_eq!(WasmResult::decode(&r.encode()).as_ref(), Ok(&r));
    }
});
