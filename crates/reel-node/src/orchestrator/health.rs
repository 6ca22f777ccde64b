//! `GET /healthz` on the CLI port, and how a payment the ticket store could not take is
//! refused (see docs/faults.md#ticket-store-unavailable).
//!
//! The orchestrator is healthy while its ticket store takes writes. When a write fails
//! (disk full, database locked past the busy timeout, I/O error) payments are refused with
//! **503** and a message naming the store, nothing is credited, the tickets' nonces are
//! released so the gateway can send the same payment again, and `/healthz` answers 503 with
//! the reason until a write succeeds again (the next payment, or the probe every
//! [`crate::payments::STORE_PROBE_EVERY`]). Requests that store nothing — `GetOrchestrator`,
//! unpaid sessions, `/status`, `/metrics` — are served throughout.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::state::Inner;
use crate::NodeError;

/// `/healthz`: 200 `{"healthy":true,…}`, or 503 with `reason` while the ticket store is
/// refusing writes or a background task is failing (see [`crate::tasks`]).
pub(super) async fn healthz(State(inner): State<Arc<Inner>>) -> Response {
    let (store_ok, mut doc) = match &inner.payments {
        Some(p) => p.health_json(),
        None => (true, serde_json::json!({ "healthy": true })),
    };
    let problems = inner.tasks.health().problems();
    let healthy = store_ok && problems.is_empty();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("healthy".into(), healthy.into());
        obj.insert("tasks".into(), inner.tasks.health().json());
        if !problems.is_empty() {
            let mut reasons: Vec<String> = obj
                .get("reason")
                .and_then(|r| r.as_str())
                .map(str::to_owned)
                .into_iter()
                .collect();
            reasons.extend(problems);
            obj.insert("reason".into(), reasons.join("; ").into());
        }
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(doc)).into_response()
}

/// How a failed payment is answered: status, metric label, message. A store that cannot
/// take the tickets is the orchestrator's trouble, not the gateway's: 503, and the message
/// says that the same payment can be sent again.
pub(super) fn payment_refusal(e: &NodeError) -> (StatusCode, &'static str, String) {
    match e {
        NodeError::Pm(pm) if pm.is_store_unavailable() => {
            let after = pm.retry_after().map_or(5, |d| d.as_secs());
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "ticket_store",
                format!("{e}; nothing was credited: send the same payment again in {after} s"),
            )
        }
        _ => (StatusCode::BAD_REQUEST, "payment", e.to_string()),
    }
}

/// [`payment_refusal`] as a response, with `Retry-After` on a 503.
pub(super) fn payment_refusal_response(e: &NodeError) -> Response {
    let (status, _, message) = payment_refusal(e);
    let mut r = (status, format!("{message}\n")).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE
        && let NodeError::Pm(pm) = e
        && let Some(after) = pm.retry_after()
        && let Ok(v) = header::HeaderValue::from_str(&after.as_secs().to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_that_cannot_write_is_a_503_naming_the_store() {
        let e = NodeError::Pm(reel_pm::PmError::StoreUnavailable {
            op: "store ticket",
            fault: reel_pm::StoreFault::Full,
            reason: "database or disk is full".into(),
        });
        let (status, label, msg) = payment_refusal(&e);
        assert_eq!(
            (status, label),
            (StatusCode::SERVICE_UNAVAILABLE, "ticket_store")
        );
        assert!(
            msg.contains("ticket store unavailable (disk or database full)"),
            "{msg}"
        );
        assert!(msg.contains("nothing was credited"), "{msg}");
        assert!(e.is_retryable());
        let r = payment_refusal_response(&e);
        assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "5");
        let other = NodeError::Pm(reel_pm::PmError::ZeroSender);
        assert_eq!(payment_refusal(&other).0, StatusCode::BAD_REQUEST);
    }
}
