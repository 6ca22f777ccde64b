//! Admission's first step, shared by `/segment`, `/payment` and the job kinds: rate
//! limit, headers decoded and bounded, auth token, session, segment signature and
//! capabilities ([`check_request`]); and how a refusal before the early 200 is told
//! ([`Reject`]). Also what the request/response routes (job kinds, content, BYOC) share:
//! JSON refusals, a bounded body read, crediting a payment, the credit as whole wei.

use std::net::SocketAddr;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reel_net::http::{self as wire, BodyKind, Limits};
use reel_net::proto;

use super::state::Inner;
use crate::util::unix_now;

/// A refusal before the early 200: status, a metric label, and the message for the peer.
#[derive(Debug)]
pub(super) struct Reject {
    pub(super) status: StatusCode,
    pub(super) reason: &'static str,
    pub(super) message: String,
}

impl Reject {
    pub(super) fn new(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        (self.status, format!("{}\n", self.message)).into_response()
    }
}

pub(super) fn net_reject(e: &reel_net::NetError, reason: &'static str) -> Reject {
    Reject::new(e.status(), reason, e.to_string())
}

pub(super) fn limits(inner: &Inner) -> Limits {
    Limits {
        max_segment_bytes: inner.settings.max_segment_bytes,
        ..Limits::default()
    }
}

/// The checks shared by `/segment` and `/payment`: rate, token, session, signature.
pub(super) struct Checked {
    pub(super) seg: proto::SegData,
    pub(super) payment: Option<proto::Payment>,
    pub(super) session: String,
    pub(super) gateway: alloy_primitives::Address,
    pub(super) kind: BodyKind,
}

/// Admission's first step, shared by every kind: rate, auth token, session, signature,
/// capabilities.
pub(super) fn check_request(
    inner: &Inner,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Checked, Reject> {
    if !inner.limiter.allow(peer.ip(), Instant::now()) {
        inner.metrics.rate_limited.inc();
        return Err(Reject::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "rate limit: slow down",
        ));
    }
    let req = wire::parse_segment_request(headers, &limits(inner))
        .map_err(|e| net_reject(&e, "bad_headers"))?;
    let seg = req.seg_data;
    reel_net::signed::verify_auth_token(&inner.auth_secret, seg.auth_token.as_ref(), unix_now())
        .map_err(|e| net_reject(&e, "auth_token"))?;
    let session = seg
        .auth_token
        .as_ref()
        .map(|t| t.session_id.clone())
        .unwrap_or_default();
    let gateway = inner
        .lock_sessions()
        .map
        .get(&session)
        .map(|s| s.gateway)
        .ok_or_else(|| {
            Reject::new(
                StatusCode::FORBIDDEN,
                "unknown_session",
                "unknown session: call GetOrchestrator for a fresh one",
            )
        })?;
    if let Some(p) = &req.payment
        && !p.sender.is_empty()
        && p.sender.as_slice() != gateway.as_slice()
    {
        return Err(Reject::new(
            StatusCode::FORBIDDEN,
            "wrong_sender",
            "the payment's sender is not the gateway this session was issued to",
        ));
    }
    // An anonymous (off-chain, unsigned) session has no key to check segments against; its
    // auth token is what binds the segments to it.
    if !gateway.is_zero() {
        reel_net::signed::verify_seg_data(&seg, gateway)
            .map_err(|e| net_reject(&e, "segment_signature"))?;
    }
    if let Some(caps) = &seg.capabilities {
        let job = reel_net::capabilities::Capabilities::from_proto(caps)
            .map_err(|e| net_reject(&e, "capabilities"))?;
        let (node, _) = inner.capabilities().map_err(|e| {
            Reject::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        job.fits(Some(&node))
            .map_err(|e| Reject::new(StatusCode::BAD_REQUEST, "capabilities", e.to_string()))?;
    }
    Ok(Checked {
        seg,
        payment: req.payment,
        session,
        gateway,
        kind: req.body,
    })
}

/// A refusal as `{"error":{"message":…}}`.
pub(super) fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        reel_jobs::wire::error_body(message),
    )
        .into_response()
}

/// The body, at most `max` bytes and within `timeout`; 408 or 413 otherwise.
pub(super) async fn read_body(
    body: axum::body::Body,
    max: usize,
    timeout: std::time::Duration,
) -> Result<bytes::Bytes, Response> {
    tokio::time::timeout(timeout, axum::body::to_bytes(body, max))
        .await
        .map_err(|_| json_error(StatusCode::REQUEST_TIMEOUT, "request upload too slow"))?
        .map_err(|_| {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body over the limit of {max} bytes"),
            )
        })
}

/// Stores the payment's tickets and credits their EV to (sender, scope); a payment that
/// cannot be read is the sender's (402), a store that cannot take it ours (503).
pub(super) async fn credit_payment(
    inner: &Inner,
    payment: &proto::Payment,
    sender: alloy_primitives::Address,
    scope: &reel_pm::Scope,
    price: reel_pm::PricePerUnit,
) -> Result<(), Response> {
    let Some(payments) = &inner.payments else {
        return Ok(());
    };
    let outcome = payments
        .receive(payment, sender, scope, price)
        .await
        .map_err(|e| {
            let (status, _, message) = super::health::payment_refusal(&e);
            let status = if status == StatusCode::BAD_REQUEST {
                StatusCode::PAYMENT_REQUIRED
            } else {
                status
            };
            json_error(status, &message)
        })?;
    inner.metrics.record_payment(&outcome);
    Ok(())
}

/// The credit of `account` in whole wei (go-livepeer's `FloatString(0)`), not `Wei`'s
/// display in ETH; `None` without payments.
pub(super) fn balance_text(inner: &Inner, account: &reel_pm::AccountKey) -> Option<String> {
    let p = inner.payments.as_ref()?;
    let (b, negative) = p.balance(account);
    Some(format!(
        "{}{}",
        if negative { "-" } else { "" },
        b.base_units()
    ))
}
