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

/// Whether a request says it carries SDP.
pub(crate) fn is_sdp(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/sdp"))
}

/// A refusal, boxed: the error side of the helpers below stays small.
pub(crate) type Refused = Box<Response>;

/// An offer's text and its parse, or the refusal.
pub(crate) fn parse_offer(body: &[u8]) -> Result<(&str, str0m::change::SdpOffer), Refused> {
    let text = std::str::from_utf8(body).map_err(|_| {
        Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "the SDP offer is not UTF-8",
        ))
    })?;
    let offer = str0m::change::SdpOffer::from_sdp_string(text).map_err(|e| {
        Box::new(refuse(
            StatusCode::BAD_REQUEST,
            format!("malformed SDP offer: {e}"),
        ))
    })?;
    Ok((text, offer))
}

/// An ICE-lite session for `offer` on a UDP port of its own at `ip`, its codecs set by
/// `codecs`: the session, its socket and the answer, or the refusal.
pub(crate) async fn accept(
    ip: std::net::IpAddr,
    offer: str0m::change::SdpOffer,
    codecs: impl FnOnce(str0m::RtcConfig) -> str0m::RtcConfig,
) -> Result<(str0m::Rtc, tokio::net::UdpSocket, str0m::change::SdpAnswer), Refused> {
    let unavailable = |e: String| Box::new(refuse(StatusCode::SERVICE_UNAVAILABLE, e));
    let socket = tokio::net::UdpSocket::bind((ip, 0))
        .await
        .map_err(|e| unavailable(format!("no UDP port for media: {e}")))?;
    let local = socket
        .local_addr()
        .map_err(|e| unavailable(e.to_string()))?;
    let mut rtc = codecs(str0m::Rtc::builder().clear_codecs())
        .set_ice_lite(true)
        .build(std::time::Instant::now());
    let candidate = str0m::Candidate::host(local, "udp").map_err(|e| unavailable(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| {
        Box::new(refuse(
            StatusCode::BAD_REQUEST,
            format!("offer refused: {e}"),
        ))
    })?;
    Ok((rtc, socket, answer))
}

/// The 201 that starts a session: its `Location` and the SDP answer.
pub(crate) fn created(location: String, answer: &str0m::change::SdpAnswer) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::CONTENT_TYPE, "application/sdp".to_owned()),
            (header::LOCATION, location),
        ],
        answer.to_sdp_string(),
    )
        .into_response()
}

/// A received datagram as str0m's input; `None` for one that is not STUN, DTLS or RTP.
pub(crate) fn datagram(
    data: &[u8],
    source: std::net::SocketAddr,
    destination: std::net::SocketAddr,
) -> Option<str0m::Input<'_>> {
    Some(str0m::Input::Receive(
        std::time::Instant::now(),
        str0m::net::Receive {
            proto: str0m::net::Protocol::Udp,
            source,
            destination,
            contents: data.try_into().ok()?,
        },
    ))
}
