//! BYOC on the orchestrator (go-livepeer's `byoc/job_orchestrator.go`; the wire is
//! [`crate::byoc`]): external workers register a capability name with a URL, a capacity
//! and a price per second; gateways ask `/process/token` for ticket params, price and free
//! capacity; `/process/request/<subpath>` is proxied to the worker.
//!
//! A request's path: rate limit → the `Livepeer` header decoded, its signature by the
//! sender checked → a slot of the capability reserved (404 unknown, 503 full: nothing is
//! credited yet, so the gateway can go elsewhere at no cost) → the payment credited to the
//! sender's account for (37, name), which must then cover `price × timeout` → the body read
//! (413 over the limit) → proxied to the worker within the timeout → ⌈elapsed s⌉ × price
//! debited → the worker's status and body, with `Livepeer-Balance`. Every answer after the
//! payment was credited states the credit left, so the gateway's ledger stays in step.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reel_pm::{AccountKey, PriceProto, Scope};
use reel_types::Wei;
use tracing::Instrument as _;

use super::admission::{balance_text, credit_payment, json_error, read_body};
use super::state::Inner;
use crate::byoc::registry::Reserve;
use crate::byoc::{self as wire, JobRequest, JobSender, JobToken, Registration};

pub(super) fn routes(inner: &Arc<Inner>) -> Router {
    Router::new()
        .route(wire::REGISTER_PATH, post(register))
        .route(wire::UNREGISTER_PATH, post(unregister))
        .route(wire::TOKEN_PATH, get(token))
        .route(&format!("{}/", wire::REQUEST_PREFIX), post(process))
        .route(
            &format!("{}/{{*subpath}}", wire::REQUEST_PREFIX),
            post(process),
        )
        .with_state(Arc::clone(inner))
}

/// A refusal: status and message, answered as `{"error":{"message":…}}`.
#[derive(Debug)]
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        json_error(self.0, &self.1)
    }
}

/// The orchestrator secret, as the whole `Authorization` header (go-livepeer's form),
/// compared in constant time.
fn authorize(inner: &Inner, headers: &HeaderMap) -> Result<(), Refusal> {
    use subtle::ConstantTimeEq;
    let Some(secret) = &inner.settings.orch_secret else {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "this orchestrator takes no capability registrations (no -orchSecret)".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if bool::from(secret.as_bytes().ct_eq(given)) {
        Ok(())
    } else {
        Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "invalid authorization".into(),
        ))
    }
}

/// The body of a worker's (un)registration, once the orchestrator secret checks out.
async fn registration_body(
    inner: &Inner,
    headers: &HeaderMap,
    body: Body,
) -> Result<bytes::Bytes, Response> {
    authorize(inner, headers).map_err(IntoResponse::into_response)?;
    read_body(
        body,
        wire::MAX_REGISTRATION_BYTES,
        inner.settings.upload_timeout,
    )
    .await
}

async fn register(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match registration_body(&inner, &headers, body).await {
        Ok(b) => b,
        Err(r) => {
            tracing::info!(target: "node::orchestrator", %peer, "capability registration refused");
            return r;
        }
    };
    let reg = match Registration::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("Error registering capability: {e}"),
            );
        }
    };
    match inner.byoc.register(&reg) {
        Ok(r) => {
            tracing::info!(target: "node::orchestrator", %peer, capability = %reg.name, url = %r.url,
                           capacity = r.capacity, price = %r.price, auth_token = r.token.is_some(), "registered capability");
            (StatusCode::OK, "ok").into_response()
        }
        Err(e) => json_error(
            StatusCode::BAD_REQUEST,
            &format!("Error registering capability: {e}"),
        ),
    }
}

async fn unregister(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match registration_body(&inner, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let name = String::from_utf8_lossy(&body).trim().to_owned();
    if inner.byoc.unregister(&name) {
        tracing::info!(target: "node::orchestrator", %peer, capability = %name, "removed capability");
        (StatusCode::OK, "ok").into_response()
    } else {
        json_error(
            StatusCode::NOT_FOUND,
            &format!("Error removing capability: {name:?} is not registered"),
        )
    }
}

fn scope(name: &str) -> Scope {
    Scope::new(wire::CAPABILITY, name)
}

/// An account's credit as go-livepeer writes it: whole wei, `-` when owed.
fn balance_i64(inner: &Inner, account: &AccountKey) -> i64 {
    let Some(p) = &inner.payments else {
        return 0;
    };
    let (b, negative) = p.balance(account);
    let v = i64::try_from(b.base_units()).unwrap_or(i64::MAX);
    if negative { -v } else { v }
}

async fn token(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !inner.limiter.allow(peer.ip(), Instant::now()) {
        inner.metrics.rate_limited.inc();
        return json_error(StatusCode::TOO_MANY_REQUESTS, "rate limit: slow down");
    }
    let Some(sender_hdr) = headers.get(wire::ETH_ADDRESS_HEADER) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "Must have eth address and signature on address in Livepeer-Eth-Address header",
        );
    };
    let (js, sender) = match JobSender::from_header(sender_hdr.as_bytes())
        .and_then(|js| js.verify().map(|a| (js, a)))
    {
        Ok(v) => v,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid eth address header: {e}"),
            );
        }
    };
    let name = headers
        .get(wire::CAPABILITY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if name.is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "Job capabilities not provided, must provide the capability in the Livepeer-Capability header",
        );
    }
    let Some(reg) = inner.byoc.get(&name) else {
        return json_error(
            StatusCode::NOT_FOUND,
            &format!("capability {name:?} is not registered here"),
        );
    };
    let price = match reg.price.to_proto() {
        Ok(p) => p,
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let ticket_params = match &inner.payments {
        Some(p) if !reg.price.is_zero() => match p.issue_params(sender, reg.price).await {
            Ok(tp) => Some(wire::TicketParamsJson::from_proto(&tp.to_proto())),
            Err(e) => {
                return json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("Could not get ticket params err={e}"),
                );
            }
        },
        _ => None,
    };
    let tok = JobToken {
        sender_address: Some(js),
        ticket_params,
        balance: balance_i64(&inner, &scope(&name).account(sender)),
        price: Some(wire::PriceInfoJson::from_proto(&price)),
        service_addr: inner.uri.base(),
        available_capacity: i64::try_from(inner.byoc.free(&name)).unwrap_or(i64::MAX),
    };
    axum::Json(tok).into_response()
}

/// The request as checked before anything is credited.
struct Checked {
    job: JobRequest,
    sender: Address,
    timeout: Duration,
}

fn check(inner: &Inner, headers: &HeaderMap) -> Result<Checked, Refusal> {
    let bad = |m: String| Refusal(StatusCode::BAD_REQUEST, m);
    let h = headers
        .get(wire::JOB_HEADER)
        .ok_or_else(|| bad("no Livepeer header: the job request is required".into()))?;
    let job = JobRequest::from_header(h.as_bytes()).map_err(|e| bad(e.to_string()))?;
    let sender = wire::parse_address(&job.sender)
        .map_err(|e| bad(format!("Could not verify job creds: sender: {e}")))?;
    let sig =
        wire::parse_sig(&job.sig).map_err(|e| bad(format!("Could not verify job creds: {e}")))?;
    reel_net::sig::verify_personal(sender, &job.signed_message(), &sig)
        .map_err(|e| bad(format!("Could not verify job creds: {e}")))?;
    let asked = Duration::from_secs(u64::try_from(job.timeout_seconds).unwrap_or(0));
    Ok(Checked {
        timeout: asked.min(inner.settings.job_timeout),
        job,
        sender,
    })
}

/// Compute being metered. ⌈elapsed s⌉ × price is debited once: when the answer is made, or
/// when the request is dropped first (the gateway hung up), so that hanging up just before
/// the answer does not make the work free.
struct Meter {
    payments: Option<Arc<crate::payments::OrchPayments>>,
    account: AccountKey,
    price: reel_pm::PricePerUnit,
    t0: Instant,
    /// Charged, or nothing to charge.
    done: bool,
}

impl Meter {
    /// Debits `took` (once) and says how many seconds that was.
    fn charge(&mut self, took: Duration) -> u64 {
        let secs = ceil_secs(took);
        if !self.done
            && let Some(p) = &self.payments
            && let Err(e) = p.debit(&self.account, secs, self.price)
        {
            tracing::warn!(target: "node::orchestrator", account = %self.account, error = %e, "debit failed");
        }
        self.done = true;
        secs
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if !self.done {
            let secs = self.charge(self.t0.elapsed());
            tracing::info!(target: "node::orchestrator", account = %self.account, secs,
                           "byoc request dropped before its answer: the time used is charged");
        }
    }
}

/// Whole seconds, rounded up: go-livepeer's `ceil(took.Seconds())`, without a float.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

async fn process(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !inner.limiter.allow(peer.ip(), Instant::now()) {
        inner.metrics.rate_limited.inc();
        return json_error(StatusCode::TOO_MANY_REQUESTS, "rate limit: slow down");
    }
    let c = match check(&inner, &headers) {
        Ok(c) => c,
        Err(r) => {
            inner.metrics.rejected.inc(&["byoc"]);
            return r.into_response();
        }
    };
    let span = tracing::info_span!("byoc", job = %c.job.id, capability = %c.job.capability, sender = %c.sender);
    let subpath = uri
        .path()
        .strip_prefix(wire::REQUEST_PREFIX)
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    let r = run(&inner, c, &subpath, &headers, body)
        .instrument(span.clone())
        .await;
    let r = r.unwrap_or_else(|r| {
        inner.metrics.rejected.inc(&["byoc"]);
        r
    });
    span.in_scope(|| {
        tracing::info!(target: "node::orchestrator", %peer, status = r.status().as_u16(), "byoc request answered");
    });
    r
}

async fn run(
    inner: &Arc<Inner>,
    c: Checked,
    subpath: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Response> {
    let name = c.job.capability.trim().to_owned();
    // Capacity before payment (go-livepeer's order): a busy or unknown capability is
    // refused before anything is credited, so the gateway loses nothing going elsewhere.
    let (reg, _slot) = inner.byoc.reserve(&name).map_err(|e| match e {
        Reserve::Unknown => json_error(
            StatusCode::NOT_FOUND,
            &format!("capability {name:?} is not registered here"),
        ),
        Reserve::Full => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("No capacity available for capability {name:?}"),
        ),
    })?;
    let price = reg.price;
    let account = scope(&name).account(c.sender);
    let paid = inner.payments.as_ref().filter(|_| !price.is_zero());
    if paid.is_some() {
        let payment =
            reel_net::http::parse_payment_header(headers, &reel_net::http::Limits::default())
                .map_err(|e| json_error(StatusCode::PAYMENT_REQUIRED, &e.to_string()))?;
        if let Some(p) = &payment {
            credit_payment(inner, p, c.sender, &scope(&name), price).await?;
        }
    }
    // From here on a payment is credited: every answer states the credit left.
    let with_balance = |mut r: Response| {
        if paid.is_some()
            && let Some(b) = balance_text(inner, &account)
            && let Ok(v) = HeaderValue::from_str(&b)
        {
            r.headers_mut().insert(wire::BALANCE_HEADER, v);
        }
        r
    };
    if let Some(payments) = paid {
        let need = price
            .fee_ceil(c.timeout.as_secs())
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, &e.to_string()))?;
        if !payments.sufficient_balance(&account, &price, Wei::from_base_units(need)) {
            return Err(with_balance(json_error(
                StatusCode::PAYMENT_REQUIRED,
                &format!(
                    "Insufficient balance for request: {} s at {}/{} wei/s need {need} wei of \
                     credit, and at least one ticket's EV",
                    c.timeout.as_secs(),
                    price.num(),
                    price.den()
                ),
            )));
        }
    }
    let max = inner.settings.byoc.max_request_bytes;
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && n > max
    {
        return Err(with_balance(json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body of {n} bytes is over the limit of {max}"),
        )));
    }
    let body = read_body(body, max, inner.settings.upload_timeout)
        .await
        .map_err(with_balance)?;
    let url = if subpath.is_empty() {
        reg.url.clone()
    } else {
        format!("{}/{subpath}", reg.url)
    };
    let mut req = inner.byoc.http.post(&url).body(body);
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        req = req.header(header::CONTENT_TYPE, ct.clone());
    }
    if let Some(t) = &reg.token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let mut meter = Meter {
        payments: paid.cloned(),
        account: account.clone(),
        price,
        t0: Instant::now(),
        done: false,
    };
    let deadline = tokio::time::Instant::now() + c.timeout;
    // Debits ⌈elapsed s⌉ × price and states the seconds (`Livepeer-Units`: the gateway
    // debits the same, whatever else ran on the account meanwhile) and the credit left.
    let charged = |m: &mut Meter, took: Duration, mut r: Response| {
        let secs = m.charge(took);
        if paid.is_some() {
            r.headers_mut()
                .insert(reel_jobs::wire::UNITS, HeaderValue::from(secs));
        }
        with_balance(r)
    };
    let timed_out = |m: &mut Meter| {
        let took = m.t0.elapsed();
        charged(
            m,
            took,
            json_error(
                StatusCode::GATEWAY_TIMEOUT,
                &format!("the worker gave no answer within {} s", c.timeout.as_secs()),
            ),
        )
    };
    let resp = match tokio::time::timeout_at(deadline, req.send()).await {
        Err(_) => return Err(timed_out(&mut meter)),
        Ok(Err(e)) => {
            // The worker is gone (go-livepeer removes it too): it registers again when back.
            // Nothing ran, so nothing is charged.
            meter.done = true;
            tracing::warn!(target: "node::orchestrator", %url, error = %e, "worker unreachable: capability removed");
            inner.byoc.remove_if(&name, &reg.url);
            return Err(with_balance(json_error(
                StatusCode::BAD_GATEWAY,
                &format!("job not able to be processed, removing capability err={e}"),
            )));
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        // The worker no longer takes its token: it must register again.
        inner.byoc.remove_if(&name, &reg.url);
        let took = meter.t0.elapsed();
        return Err(charged(
            &mut meter,
            took,
            json_error(
                StatusCode::BAD_GATEWAY,
                "job not able to be processed, removing capability err=worker auth token failed",
            ),
        ));
    }
    let keep = |n: header::HeaderName| resp.headers().get(&n).cloned().map(|v| (n, v));
    let kept: Vec<(header::HeaderName, HeaderValue)> = [
        keep(header::CONTENT_TYPE),
        keep(header::HeaderName::from_static("x-metadata")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let out =
        match crate::rpc::read_body(resp, inner.settings.byoc.max_response_bytes, deadline).await {
            Ok(b) => b,
            Err(crate::rpc::BodyError::Timeout) => return Err(timed_out(&mut meter)),
            Err(e) => {
                let took = meter.t0.elapsed();
                return Err(charged(
                    &mut meter,
                    took,
                    json_error(
                        StatusCode::BAD_GATEWAY,
                        &format!("reading the worker's answer: {e}"),
                    ),
                ));
            }
        };
    let took = meter.t0.elapsed();
    let secs = ceil_secs(took);
    tracing::info!(target: "node::orchestrator", status = status.as_u16(), secs,
                   fee = %price.fee_ceil(secs).unwrap_or(U256::MAX), bytes = out.len(), "byoc job done");
    let mut r = (
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        out,
    )
        .into_response();
    for (n, v) in kept {
        r.headers_mut().insert(n, v);
    }
    Ok(charged(&mut meter, took, r))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}
