//! The wire of request/response kinds (AI inference, compute, test kinds), shared by the
//! gateway's client and the orchestrator's endpoint.
//!
//! Request: `POST <kind path>` on the orchestrator's service port with the client's body
//! and `Content-Type`, plus go-livepeer's `Livepeer-Segment` (base64 protobuf `SegData`:
//! the session's auth token, signed by the gateway) and `Livepeer-Payment` (base64 protobuf
//! `Payment`) headers.
//!
//! Answer 200: the result body with its `Content-Type`, and the headers below: the units
//! billed, the price and fee, the credit left (`Livepeer-Balance`, as BYOC answers), and the
//! orchestrator's signature over the body. Any other status carries
//! `{"error":{"message":"…"}}`, and `Livepeer-Balance` too when the refusal came after the
//! payment was credited (no capacity, a failed run): the gateway then counts the payment as
//! spent.

/// Units of work debited for the result.
pub const UNITS: &str = "Livepeer-Units";
/// Wei per unit, `num/den`.
pub const PRICE: &str = "Livepeer-Price";
/// Units × price, in wei (rounded up).
pub const FEE: &str = "Livepeer-Fee";
/// The gateway's credit with the orchestrator for this (capability, model) after the job,
/// in wei; negative as `-N`.
pub const BALANCE: &str = "Livepeer-Balance";
/// The orchestrator's EIP-191 signature (hex) over keccak-256 of the result body.
pub const SIGNATURE: &str = "Livepeer-Signature";
/// The capability's constraint (model) the job ran with.
pub const MODEL: &str = "Livepeer-Model";

/// The JSON error body both ends use: `{"error":{"message":"…"}}`.
pub fn error_body(message: &str) -> String {
    serde_json::json!({ "error": { "message": message } }).to_string()
}

/// The message of an error body, or the body itself when it is not one.
pub fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_round_trip() {
        let b = error_body("model `x` is not served");
        assert_eq!(b, r#"{"error":{"message":"model `x` is not served"}}"#);
        assert_eq!(error_message(b.as_bytes()), "model `x` is not served");
        assert_eq!(error_message(b"plain"), "plain");
    }
}
