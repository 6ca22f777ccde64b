//! What the WebRTC endpoints (WHIP here, WHEP next to it) share over HTTP: CORS for pages on
//! other origins, refusals with their reason, and unguessable session ids.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub(crate) async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                "POST, DELETE, OPTIONS",
            ),
            (
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "content-type, authorization",
            ),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

pub(crate) async fn cors(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::HeaderValue::from_static("location"),
    );
    response
}

/// A refusal with its reason as the body.
pub(crate) fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    let mut why = why.into();
    why.push('\n');
    (status, [(header::CONTENT_TYPE, "text/plain")], why).into_response()
}

/// 128 random bits in hex: unguessable, so a session can only be ended by its publisher.
pub(crate) fn session_id() -> String {
    let mut b = [0u8; 16];
    // getrandom is what std's HashMap seeds from; a failure leaves a time-based id.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = t.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
