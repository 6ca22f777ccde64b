//! `POST /segment` and `POST /payment` (see docs/compatibility.md#segment-and-payment-requests) as
//! pure functions over headers and bytes.
//!
//! The gateway sends the segment's metadata in `Livepeer-Segment` and its tickets in
//! `Livepeer-Payment`, each a standard-base64 protobuf (`SegData`, `Payment`). The body is
//! the raw segment (`Content-Type: video/MP2T`, also for MP4) or a URL to fetch it from
//! (`application/vnd+livepeer.uri`). The orchestrator answers a protobuf `TranscodeResult`
//! (or `PaymentResult` for `/payment`). Everything read from the network is bounded by
//! [`Limits`] before it is decoded, and every failure maps to the HTTP status go-livepeer
//! answers with ([`NetError::status`]).

use crate::{NetError, proto};
use alloy_primitives::B256;
use base64::Engine as _;
pub use http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE};
use prost::Message;

/// Header carrying base64(protobuf `SegData`).
pub const SEGMENT_HEADER: &str = "livepeer-segment";
/// Header carrying base64(protobuf `Payment`).
pub const PAYMENT_HEADER: &str = "livepeer-payment";
/// Content type of a segment sent inline (go-livepeer uses it for MP4 too).
pub const CONTENT_TYPE_SEGMENT: &str = "video/MP2T";
/// Content type of a body that is a URL to download the segment from.
pub const CONTENT_TYPE_URI: &str = "application/vnd+livepeer.uri";
/// Content type of our protobuf answers (go-livepeer sets none; clients ignore it).
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// Path of segment submission.
pub const SEGMENT_PATH: &str = "/segment";
/// Path of payment-only submission.
pub const PAYMENT_PATH: &str = "/payment";

/// The longest segment go-livepeer accepts, 5 minutes, in milliseconds.
pub const MAX_SEGMENT_DURATION_MS: i32 = 5 * 60 * 1000;

/// Size bounds for everything read from the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest base64 header value (`Livepeer-Segment`, `Livepeer-Payment`).
    pub max_header_bytes: usize,
    /// Largest inline segment body. go-livepeer allows 5 min × 8 Mbps = 300 MB.
    pub max_segment_bytes: usize,
    /// Longest URL body.
    pub max_uri_bytes: usize,
    /// Largest `TranscodeResult` / `PaymentResult` body a gateway reads.
    pub max_result_bytes: usize,
    /// Longest manifest id.
    pub max_manifest_id_bytes: usize,
    /// Most profiles in one segment request.
    pub max_profiles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // 100 tickets of ~75 bytes each plus parameters is ~8 KiB; leave room.
            max_header_bytes: 64 * 1024,
            max_segment_bytes: 300_000_000,
            max_uri_bytes: 2048,
            max_result_bytes: 1024 * 1024,
            max_manifest_id_bytes: 256,
            max_profiles: 32,
        }
    }
}

/// How the segment body is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// The segment bytes themselves.
    Inline,
    /// A URL to download the segment from.
    Uri,
}

/// A decoded and bounded `POST /segment` request (the body is read separately).
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRequest {
    pub seg_data: proto::SegData,
    /// `None` when the header is absent or empty: the orchestrator then serves only if the
    /// session's credit covers the segment (otherwise 400 "Insufficient balance").
    pub payment: Option<proto::Payment>,
    pub body: BodyKind,
}

/// Encodes a message as a header value: standard base64 of its protobuf bytes.
pub fn encode_header(msg: &impl Message) -> HeaderValue {
    let b64 = base64::engine::general_purpose::STANDARD.encode(msg.encode_to_vec());
    // Standard base64 is always a valid header value; `from_maybe_shared` cannot fail on it.
    HeaderValue::from_str(&b64).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Decodes a base64 protobuf header value, refusing anything longer than `max` bytes.
pub fn decode_header<M: Message + Default>(
    header: &'static str,
    value: &[u8],
    max: usize,
) -> Result<M, NetError> {
    if value.len() > max {
        return Err(NetError::TooLarge {
            what: header,
            len: value.len(),
            max,
        });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim_ascii())
        .map_err(|e| NetError::Base64 {
            header,
            reason: e.to_string(),
        })?;
    M::decode(bytes.as_slice()).map_err(|e| NetError::Protobuf {
        what: header,
        reason: e.to_string(),
    })
}

/// Headers of a `POST /segment` (gateway side).
pub fn segment_request_headers(
    seg_data: &proto::SegData,
    payment: &proto::Payment,
    body: BodyKind,
) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(3);
    h.insert(SEGMENT_HEADER, encode_header(seg_data));
    h.insert(PAYMENT_HEADER, encode_header(payment));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(match body {
            BodyKind::Inline => CONTENT_TYPE_SEGMENT,
            BodyKind::Uri => CONTENT_TYPE_URI,
        }),
    );
    h
}

/// Headers of a `POST /payment` (gateway side; the body is empty).
pub fn payment_request_headers(seg_data: &proto::SegData, payment: &proto::Payment) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(2);
    h.insert(SEGMENT_HEADER, encode_header(seg_data));
    h.insert(PAYMENT_HEADER, encode_header(payment));
    h
}

/// Decodes the `Livepeer-Payment` header; absent or empty means no payment.
pub fn parse_payment_header(
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<Option<proto::Payment>, NetError> {
    match headers.get(PAYMENT_HEADER) {
        None => Ok(None),
        Some(v) if v.as_bytes().trim_ascii().is_empty() => Ok(None),
        Some(v) => decode_header(PAYMENT_HEADER, v.as_bytes(), limits.max_header_bytes).map(Some),
    }
}

/// Decodes and bounds the `Livepeer-Segment` header (not yet its signature: that needs the
/// payment's sender, see [`crate::signed::verify_seg_data`]).
pub fn parse_seg_data_header(
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<proto::SegData, NetError> {
    let v = headers.get(SEGMENT_HEADER).ok_or(NetError::MissingHeader {
        header: SEGMENT_HEADER,
    })?;
    let seg: proto::SegData = decode_header(SEGMENT_HEADER, v.as_bytes(), limits.max_header_bytes)?;
    validate_seg_data(&seg, limits)?;
    Ok(seg)
}

/// The field bounds of a segment's metadata.
pub fn validate_seg_data(seg: &proto::SegData, limits: &Limits) -> Result<(), NetError> {
    if seg.manifest_id.is_empty() || seg.manifest_id.len() > limits.max_manifest_id_bytes {
        return Err(NetError::Invalid {
            field: "SegData.manifestId",
            reason: format!(
                "{} bytes; must be 1..={}",
                seg.manifest_id.len(),
                limits.max_manifest_id_bytes
            ),
        });
    }
    if seg.seq < 0 {
        return Err(NetError::Invalid {
            field: "SegData.seq",
            reason: format!("{} is negative", seg.seq),
        });
    }
    if seg.hash.len() != 32 {
        return Err(NetError::FieldLength {
            field: "SegData.hash",
            expected: 32,
            got: seg.hash.len(),
        });
    }
    if !(0..=MAX_SEGMENT_DURATION_MS).contains(&seg.duration) {
        return Err(NetError::Invalid {
            field: "SegData.duration",
            reason: format!("{} ms; must be 0..={MAX_SEGMENT_DURATION_MS}", seg.duration),
        });
    }
    let profiles = [&seg.full_profiles, &seg.full_profiles2, &seg.full_profiles3]
        .iter()
        .map(|p| p.len())
        .max()
        .unwrap_or(0)
        .max(seg.profiles.len() / 4);
    if profiles > limits.max_profiles {
        return Err(NetError::TooLarge {
            what: "SegData profiles",
            len: profiles,
            max: limits.max_profiles,
        });
    }
    Ok(())
}

/// Decodes the headers of a `POST /segment` (orchestrator side).
pub fn parse_segment_request(
    headers: &HeaderMap,
    limits: &Limits,
) -> Result<SegmentRequest, NetError> {
    // Payment first: go-livepeer answers a bad payment header before anything else (402).
    let payment = parse_payment_header(headers, limits)?;
    let seg_data = parse_seg_data_header(headers, limits)?;
    let body = match headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes) {
        Some(ct) if ct.eq_ignore_ascii_case(CONTENT_TYPE_URI.as_bytes()) => BodyKind::Uri,
        _ => BodyKind::Inline,
    };
    Ok(SegmentRequest {
        seg_data,
        payment,
        body,
    })
}

/// Refuses a body longer than the limit for its kind (call with the Content-Length before
/// reading, and again with the bytes read so far while streaming).
pub fn check_body_len(kind: BodyKind, len: usize, limits: &Limits) -> Result<(), NetError> {
    let max = match kind {
        BodyKind::Inline => limits.max_segment_bytes,
        BodyKind::Uri => limits.max_uri_bytes,
    };
    if len > max {
        return Err(NetError::TooLarge {
            what: "segment body",
            len,
            max,
        });
    }
    Ok(())
}

/// Checks `keccak256(body) == SegData.hash` (go-livepeer answers 403 on mismatch).
pub fn verify_body_hash(seg: &proto::SegData, body: &[u8]) -> Result<(), NetError> {
    let want = B256::try_from(seg.hash.as_slice()).map_err(|_| NetError::FieldLength {
        field: "SegData.hash",
        expected: 32,
        got: seg.hash.len(),
    })?;
    let got = segment_hash(body);
    if got == want {
        Ok(())
    } else {
        Err(NetError::BodyHashMismatch { want, got })
    }
}

/// Parses a URL body: bounded, UTF-8, `http` or `https` with a host. Which hosts may be
/// fetched (no loopback or private targets) is the fetcher's policy.
pub fn parse_segment_uri(body: &[u8], limits: &Limits) -> Result<http::Uri, NetError> {
    check_body_len(BodyKind::Uri, body.len(), limits)?;
    let s = std::str::from_utf8(body.trim_ascii()).map_err(|_| NetError::Invalid {
        field: "segment URI",
        reason: "not UTF-8".into(),
    })?;
    let uri: http::Uri = s
        .parse()
        .map_err(|e: http::uri::InvalidUri| NetError::Invalid {
            field: "segment URI",
            reason: e.to_string(),
        })?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(uri),
        _ => Err(NetError::Invalid {
            field: "segment URI",
            reason: "must be an absolute http(s) URL".into(),
        }),
    }
}

/// Encodes the orchestrator's answer to `/segment`.
pub fn encode_transcode_result(result: &proto::TranscodeResult) -> Vec<u8> {
    result.encode_to_vec()
}

/// Decodes the orchestrator's answer to `/segment` (gateway side), bounded.
pub fn decode_transcode_result(
    body: &[u8],
    limits: &Limits,
) -> Result<proto::TranscodeResult, NetError> {
    decode_body("TranscodeResult", body, limits.max_result_bytes)
}

/// Encodes the orchestrator's answer to `/payment`.
pub fn encode_payment_result(result: &proto::PaymentResult) -> Vec<u8> {
    result.encode_to_vec()
}

/// Decodes the orchestrator's answer to `/payment` (gateway side), bounded.
pub fn decode_payment_result(
    body: &[u8],
    limits: &Limits,
) -> Result<proto::PaymentResult, NetError> {
    decode_body("PaymentResult", body, limits.max_result_bytes)
}

fn decode_body<M: Message + Default>(
    what: &'static str,
    body: &[u8],
    max: usize,
) -> Result<M, NetError> {
    if body.len() > max {
        return Err(NetError::TooLarge {
            what,
            len: body.len(),
            max,
        });
    }
    M::decode(body).map_err(|e| NetError::Protobuf {
        what,
        reason: e.to_string(),
    })
}

/// Builds a `TranscodeResult` carrying an error string (go-livepeer puts errors that happen
/// after the early 200 inside the body).
pub fn error_result(
    seq: i64,
    error: impl Into<String>,
    info: Option<proto::OrchestratorInfo>,
) -> proto::TranscodeResult {
    proto::TranscodeResult {
        seq,
        result: Some(proto::transcode_result::Result::Error(error.into())),
        info,
    }
}

/// keccak-256 of a segment body: the hash in `SegData.hash`. Uses the assembly keccak
/// (`keccak-asm`), the fastest implementation measured for megabyte inputs (reel-pm benches).
pub fn segment_hash(body: &[u8]) -> B256 {
    let out: [u8; 32] = keccak_asm::Keccak256::digest(body).into();
    B256::from(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests;
