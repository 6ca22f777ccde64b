//! BYOC ("bring your own container", capability 37): go-livepeer's wire for external
//! workers that register with an orchestrator over HTTP and are paid per second of compute.
//! The orchestrator's side is `orchestrator/byoc.rs` (its registry of workers is
//! [`registry`]), the gateway's `gateway/byoc.rs`; this module is what both ends (and
//! tests) share: header and path names, and the JSON documents in go-livepeer's field
//! names.
//!
//! - A worker: `POST /capability/register` with the orchestrator's secret as the whole
//!   `Authorization` header and a [`Registration`]; `POST /capability/unregister` with the
//!   capability name as the body.
//! - The gateway asks each orchestrator `GET /process/token` with [`ETH_ADDRESS_HEADER`]
//!   (base64 JSON [`JobSender`]: its address, signed) and [`CAPABILITY_HEADER`] (the name);
//!   the answer is a [`JobToken`]: ticket params, price per second, the gateway's credit and
//!   free capacity.
//! - A client's `POST /process/request/<subpath>` carries [`JOB_HEADER`] (base64 JSON
//!   [`JobRequest`]); the gateway signs `request || parameters`, adds `Livepeer-Payment`
//!   and sends the same path to the orchestrator, which proxies the body to the worker's
//!   URL + `/<subpath>` and debits ⌈elapsed seconds⌉ × price. Answers carry
//!   [`BALANCE_HEADER`], the credit left.

use base64::Engine as _;
use reel_net::proto;
use serde::{Deserialize, Serialize};

pub mod registry;

/// go-livepeer's capability id for BYOC work (`Capability_BYOC`).
pub const CAPABILITY: u32 = 37;

/// The job request (base64 JSON [`JobRequest`]).
pub const JOB_HEADER: &str = "Livepeer";
/// The gateway's signed address on `/process/token` (base64 JSON [`JobSender`]).
pub const ETH_ADDRESS_HEADER: &str = "Livepeer-Eth-Address";
/// The capability name on `/process/token`.
pub const CAPABILITY_HEADER: &str = "Livepeer-Capability";
/// Tickets (base64 protobuf `Payment`), as for every other kind.
pub const PAYMENT_HEADER: &str = "Livepeer-Payment";
/// The gateway's credit with the orchestrator for the capability, in wei, after the job.
pub const BALANCE_HEADER: &str = "Livepeer-Balance";
/// Which orchestrator served a job (gateway → client).
pub const ORCHESTRATOR_URL_HEADER: &str = "X-Orchestrator-Url";
/// Worker metadata passed through both hops unchanged.
pub const METADATA_HEADER: &str = "X-Metadata";

pub const REGISTER_PATH: &str = "/capability/register";
pub const UNREGISTER_PATH: &str = "/capability/unregister";
pub const TOKEN_PATH: &str = "/process/token";
/// Followed by `/<subpath>`, which goes on to the worker.
pub const REQUEST_PREFIX: &str = "/process/request";

/// Largest `Livepeer` or `Livepeer-Eth-Address` header accepted.
pub const MAX_JOB_HEADER_BYTES: usize = 64 * 1024;
/// Largest registration body.
pub const MAX_REGISTRATION_BYTES: usize = 64 * 1024;

/// Size bounds of BYOC bodies, at each end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByocLimits {
    /// Largest request body (413 above it).
    pub max_request_bytes: usize,
    /// Largest worker answer relayed.
    pub max_response_bytes: usize,
}

impl Default for ByocLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: 32 << 20,
            max_response_bytes: 64 << 20,
        }
    }
}

/// Why a BYOC document was refused.
#[derive(Debug, thiserror::Error)]
pub enum ByocError {
    #[error("{header} header over {max} bytes")]
    TooLarge { header: &'static str, max: usize },
    #[error("{header} header is not base64: {reason}")]
    Base64 {
        header: &'static str,
        reason: String,
    },
    #[error("{what} is not the expected JSON: {reason}")]
    Json { what: &'static str, reason: String },
    #[error("no timeout_seconds set with request, timeout_seconds is required")]
    NoTimeout,
    #[error("timeout_seconds must be positive, not {0}")]
    BadTimeout(i64),
    #[error("no capability named in the job request")]
    NoCapability,
    #[error("{0}")]
    Registration(String),
    #[error("{what} is not hex: {reason}")]
    Hex { what: &'static str, reason: String },
    #[error("signature: {0}")]
    Signature(#[from] reel_net::NetError),
}

/// The job request of the `Livepeer` header, as go-livepeer's `JobRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    #[serde(default)]
    pub id: String,
    /// The client's job description, a JSON document as a string.
    #[serde(default)]
    pub request: String,
    /// Gateway selection (`{"orchestrators":{"include":[…],"exclude":[…]}}`) and worker
    /// options, a JSON document as a string.
    #[serde(default)]
    pub parameters: String,
    /// The registered capability name.
    #[serde(default)]
    pub capability: String,
    #[serde(default)]
    pub capability_url: String,
    /// The gateway's address (checksum hex), set when it signs.
    #[serde(default)]
    pub sender: String,
    /// `0x` hex of the gateway's `personal_sign(request || parameters)`.
    #[serde(default)]
    pub sig: String,
    #[serde(default, rename = "timeout_seconds")]
    pub timeout_seconds: i64,
}

impl JobRequest {
    /// Decodes a `Livepeer` header value: base64 of the JSON, with a positive timeout and
    /// a capability.
    pub fn from_header(value: &[u8]) -> Result<Self, ByocError> {
        let json = decode_b64(JOB_HEADER, value)?;
        let r: Self = serde_json::from_slice(&json).map_err(|e| ByocError::Json {
            what: "the Livepeer header",
            reason: e.to_string(),
        })?;
        match r.timeout_seconds {
            0 => return Err(ByocError::NoTimeout),
            t if t < 0 => return Err(ByocError::BadTimeout(t)),
            _ => {}
        }
        if r.capability.trim().is_empty() {
            return Err(ByocError::NoCapability);
        }
        Ok(r)
    }

    /// The `Livepeer` header value.
    pub fn to_header(&self) -> String {
        // Serializing plain strings and an integer cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// What the gateway signs: `request || parameters`, as go-livepeer.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.request.len() + self.parameters.len());
        m.extend_from_slice(self.request.as_bytes());
        m.extend_from_slice(self.parameters.as_bytes());
        m
    }
}

/// The gateway-side selection options in `parameters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JobParameters {
    #[serde(default)]
    pub orchestrators: OrchestratorFilter,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OrchestratorFilter {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// The gateway's signed address (`Livepeer-Eth-Address`, and in [`JobToken`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSender {
    /// Checksum hex; the signed message is this string.
    pub addr: String,
    /// `0x` hex of `personal_sign(addr)`.
    pub sig: String,
}

impl JobSender {
    pub fn signed(signer: &reel_net::EthSigner) -> Self {
        let addr = signer.address().to_checksum(None);
        let sig = signer.sign_personal(addr.as_bytes());
        Self {
            addr,
            sig: format!("0x{}", alloy_primitives::hex::encode(sig.to_vec())),
        }
    }

    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    pub fn from_header(value: &[u8]) -> Result<Self, ByocError> {
        let json = decode_b64(ETH_ADDRESS_HEADER, value)?;
        serde_json::from_slice(&json).map_err(|e| ByocError::Json {
            what: "the Livepeer-Eth-Address header",
            reason: e.to_string(),
        })
    }

    /// The address this proves, signature checked.
    pub fn verify(&self) -> Result<alloy_primitives::Address, ByocError> {
        let addr = parse_address(&self.addr)?;
        reel_net::sig::verify_personal(addr, self.addr.as_bytes(), &parse_sig(&self.sig)?)?;
        Ok(addr)
    }
}

/// A hex address, `0x` optional.
pub fn parse_address(s: &str) -> Result<alloy_primitives::Address, ByocError> {
    let bytes = alloy_primitives::hex::decode(s.trim()).map_err(|e| ByocError::Hex {
        what: "address",
        reason: e.to_string(),
    })?;
    Ok(reel_net::signed::address_from_wire("address", &bytes)?)
}

/// A hex signature, `0x` optional.
pub fn parse_sig(s: &str) -> Result<Vec<u8>, ByocError> {
    alloy_primitives::hex::decode(s.trim()).map_err(|e| ByocError::Hex {
        what: "sig",
        reason: e.to_string(),
    })
}

/// What `/process/token` answers, as go-livepeer's `JobToken` (Go's JSON of the protobuf
/// structs: bytes as standard base64, zero fields left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobToken {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_address: Option<JobSender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_params: Option<TicketParamsJson>,
    /// The gateway's credit for the capability, whole wei (negative when owed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub balance: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<PriceInfoJson>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_addr: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub available_capacity: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// `net.PriceInfo` in Go's JSON: wei per `pixelsPerUnit` units (here seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceInfoJson {
    #[serde(rename = "pricePerUnit", default, skip_serializing_if = "is_zero")]
    pub price_per_unit: i64,
    #[serde(rename = "pixelsPerUnit", default, skip_serializing_if = "is_zero")]
    pub pixels_per_unit: i64,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub capability: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub constraint: String,
}

impl PriceInfoJson {
    pub fn from_proto(p: &proto::PriceInfo) -> Self {
        Self {
            price_per_unit: p.price_per_unit,
            pixels_per_unit: p.pixels_per_unit,
            capability: p.capability,
            constraint: p.constraint.clone(),
        }
    }

    /// The wire message; a left-out `pixelsPerUnit` (Go omits zeros) reads as 1.
    pub fn to_proto(&self) -> proto::PriceInfo {
        proto::PriceInfo {
            price_per_unit: self.price_per_unit,
            pixels_per_unit: if self.pixels_per_unit == 0 {
                1
            } else {
                self.pixels_per_unit
            },
            capability: self.capability,
            constraint: self.constraint.clone(),
        }
    }
}

/// `net.TicketParams` in Go's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketParamsJson {
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub recipient: Vec<u8>,
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub face_value: Vec<u8>,
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub win_prob: Vec<u8>,
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub recipient_rand_hash: Vec<u8>,
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub seed: Vec<u8>,
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub expiration_block: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_params: Option<ExpirationParamsJson>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpirationParamsJson {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub creation_round: i64,
    #[serde(default, with = "b64", skip_serializing_if = "Vec::is_empty")]
    pub creation_round_block_hash: Vec<u8>,
}

impl TicketParamsJson {
    pub fn from_proto(p: &proto::TicketParams) -> Self {
        Self {
            recipient: p.recipient.clone(),
            face_value: p.face_value.clone(),
            win_prob: p.win_prob.clone(),
            recipient_rand_hash: p.recipient_rand_hash.clone(),
            seed: p.seed.clone(),
            expiration_block: p.expiration_block.clone(),
            expiration_params: p.expiration_params.as_ref().map(|e| ExpirationParamsJson {
                creation_round: e.creation_round,
                creation_round_block_hash: e.creation_round_block_hash.clone(),
            }),
        }
    }

    pub fn to_proto(&self) -> proto::TicketParams {
        proto::TicketParams {
            recipient: self.recipient.clone(),
            face_value: self.face_value.clone(),
            win_prob: self.win_prob.clone(),
            recipient_rand_hash: self.recipient_rand_hash.clone(),
            seed: self.seed.clone(),
            expiration_block: self.expiration_block.clone(),
            expiration_params: self.expiration_params.as_ref().map(|e| {
                proto::TicketExpirationParams {
                    creation_round: e.creation_round,
                    creation_round_block_hash: e.creation_round_block_hash.clone(),
                }
            }),
        }
    }
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// What a worker registers, as go-livepeer's `ExternalCapability`: wei per
/// `price_scaling` seconds of compute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub url: String,
    #[serde(default)]
    pub capacity: i64,
    #[serde(default)]
    pub price_per_unit: i64,
    #[serde(default)]
    pub price_scaling: i64,
    /// Only wei (or empty): reel has no price feed to convert another currency with.
    #[serde(default)]
    pub currency: String,
    /// Sent to the worker as `Authorization: Bearer <token>` with each request.
    #[serde(default)]
    pub token: String,
}

impl Registration {
    /// Parses and checks a registration body.
    pub fn parse(body: &[u8]) -> Result<Self, ByocError> {
        let r: Self = serde_json::from_slice(body).map_err(|e| ByocError::Json {
            what: "the registration",
            reason: e.to_string(),
        })?;
        let bad = |m: String| Err(ByocError::Registration(m));
        if r.name.trim().is_empty() || r.name.len() > 256 {
            return bad("name must be 1 to 256 characters".into());
        }
        if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
            return bad(format!("url {:?} must be http:// or https://", r.url));
        }
        if r.capacity < 1 {
            return bad(format!("capacity must be at least 1, not {}", r.capacity));
        }
        if r.price_per_unit < 0 || r.price_scaling < 0 {
            return bad("price_per_unit and price_scaling must not be negative".into());
        }
        if !(r.currency.is_empty() || r.currency.eq_ignore_ascii_case("wei")) {
            return bad(format!(
                "currency {:?} is unsupported: reel has no price feed to convert it; give price_per_unit in wei",
                r.currency
            ));
        }
        Ok(r)
    }

    /// Wei per second; `price_scaling` 0 reads as 1, as in go-livepeer.
    pub fn price(&self) -> Result<reel_types::PricePerUnit, ByocError> {
        let num = u64::try_from(self.price_per_unit).unwrap_or(0);
        let den = u64::try_from(self.price_scaling).unwrap_or(0).max(1);
        reel_types::PricePerUnit::new(
            alloy_primitives::U256::from(num),
            alloy_primitives::U256::from(den),
        )
        .map_err(|e| ByocError::Registration(e.to_string()))
    }
}

fn decode_b64(header: &'static str, value: &[u8]) -> Result<Vec<u8>, ByocError> {
    if value.len() > MAX_JOB_HEADER_BYTES {
        return Err(ByocError::TooLarge {
            header,
            max: MAX_JOB_HEADER_BYTES,
        });
    }
    base64::engine::general_purpose::STANDARD
        .decode(value.trim_ascii())
        .map_err(|e| ByocError::Base64 {
            header,
            reason: e.to_string(),
        })
}

/// The JSON error body: `{"error":{"message":"…"}}`.
pub fn error_body(message: &str) -> String {
    reel_jobs::wire::error_body(message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_livepeer_documents_read_as_written() {
        // The header of go-livepeer's doc/byoc.md example.
        let h = "eyJyZXF1ZXN0IjogIntcInJ1blwiOiBcImVjaG9cIn0iLCAiY2FwYWJpbGl0eSI6ICJ0ZXh0LXJldmVyc2FsIiwgInRpbWVvdXRfc2Vjb25kcyI6IDMwfQ==";
        let r = JobRequest::from_header(h.as_bytes()).unwrap();
        assert_eq!(r.request, r#"{"run": "echo"}"#);
        assert_eq!(
            (r.capability.as_str(), r.timeout_seconds),
            ("text-reversal", 30)
        );
        let back = JobRequest::from_header(r.to_header().as_bytes()).unwrap();
        assert_eq!(back, r);

        let tok: JobToken = serde_json::from_str(
            r#"{"sender_address":{"addr":"0xabc","sig":"0x01"},"ticket_params":{"recipient":"AQI=","expiration_params":{"creation_round":5}},"balance":-3,"price":{"pricePerUnit":7,"pixelsPerUnit":2},"service_addr":"https://o:8935","available_capacity":1,"LastNonce":0}"#,
        )
        .unwrap();
        let tp = tok.ticket_params.as_ref().unwrap().to_proto();
        assert_eq!(tp.recipient, vec![1, 2]);
        assert_eq!(tp.expiration_params.unwrap().creation_round, 5);
        assert_eq!(tok.price.as_ref().unwrap().to_proto().pixels_per_unit, 2);
        assert_eq!((tok.balance, tok.available_capacity), (-3, 1));
        // Zero fields are left out, as Go's omitempty does.
        let s = serde_json::to_string(&JobToken {
            price: Some(PriceInfoJson {
                pixels_per_unit: 1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s, r#"{"price":{"pixelsPerUnit":1}}"#);
    }

    #[test]
    fn bad_headers_say_why() {
        let e = |h: &str| {
            JobRequest::from_header(h.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert!(e("%%%").contains("not base64"));
        let b = |j: &str| base64::engine::general_purpose::STANDARD.encode(j);
        assert!(e(&b("{")).contains("not the expected JSON"));
        assert!(e(&b(r#"{"capability":"x"}"#)).contains("timeout_seconds is required"));
        assert!(e(&b(r#"{"capability":"x","timeout_seconds":-1}"#)).contains("positive"));
        assert!(e(&b(r#"{"timeout_seconds":1}"#)).contains("no capability"));
    }

    #[test]
    fn registrations_are_checked() {
        let ok = Registration::parse(
            br#"{"name":"echo","url":"http://127.0.0.1:1","capacity":2,"price_per_unit":10,"price_scaling":4,"currency":"WEI"}"#,
        )
        .unwrap();
        assert_eq!(
            ok.price().unwrap(),
            reel_types::PricePerUnit::new(
                alloy_primitives::U256::from(5),
                alloy_primitives::U256::from(2)
            )
            .unwrap()
        );
        let e = |j: &str| Registration::parse(j.as_bytes()).unwrap_err().to_string();
        assert!(
            e(r#"{"name":"x","url":"http://a","capacity":1,"currency":"USD"}"#)
                .contains("\"USD\" is unsupported")
        );
        assert!(e(r#"{"name":"x","url":"ftp://a","capacity":1}"#).contains("http://"));
        assert!(e(r#"{"name":"x","url":"http://a","capacity":0}"#).contains("capacity"));
        assert!(e(r#"{"name":"","url":"http://a","capacity":1}"#).contains("name"));
        assert!(
            e(r#"{"name":"x","url":"http://a","capacity":1,"price_per_unit":-1}"#)
                .contains("negative")
        );
    }

    #[test]
    fn a_signed_sender_verifies_and_a_forged_one_does_not() {
        let s = reel_net::EthSigner::from_bytes(&[7u8; 32]).unwrap();
        let js = JobSender::signed(&s);
        assert_eq!(js.verify().unwrap(), s.address());
        let back = JobSender::from_header(js.to_header().as_bytes()).unwrap();
        assert_eq!(back, js);
        let other = reel_net::EthSigner::from_bytes(&[8u8; 32]).unwrap();
        let forged = JobSender {
            addr: other.address().to_checksum(None),
            sig: js.sig,
        };
        assert!(forged.verify().is_err());
    }
}
