//! Request/response work on the orchestrator (AI inference, compute, test kinds): one route
//! per offered kind, every request through the same admission steps as a segment.
//!
//! 1. credentials: [`check_request`] (rate, auth token, session, the gateway's signature
//!    over the `SegData`, whose hash must be the body's);
//! 2. the kind's own check of the request ([`JobKind::admit`]): a bad request is refused
//!    with its 4xx before anything is credited;
//! 3. payment: the tickets are stored and their EV credited to the gateway's account for
//!    (capability, model), which must then cover the fee of the units admitted;
//! 4. capacity: a slot of the (capability, model), or 503 "insufficient capacity";
//!    from here on every refusal carries `Livepeer-Balance`: the payment stays credited;
//! 5. run: the offer's worker, within the job timeout;
//! 6. debit: the units used at the offer's price; the answer states units, price, fee,
//!    the credit left, and the orchestrator's signature over the result body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reel_jobs::{CapabilityKey, JobError, JobKind, JobRequest, wire};
use reel_net::http as net_wire;
use reel_pm::Scope;

use super::admission::{
    Reject, balance_text, check_request, credit_payment, json_error, read_body,
};
use super::state::Inner;

/// One route per offered kind, and the content upload they share.
pub(super) fn routes(inner: &Arc<Inner>) -> Router {
    let mut r = Router::new().route(
        "/job/content/{sha256}",
        axum::routing::put(upload).with_state(Arc::clone(inner)),
    );
    for kind in inner.offers.kinds() {
        let path = kind.path();
        let state = (Arc::clone(inner), kind);
        r = r.route(&path, post(handle).with_state(state));
    }
    r
}

fn job_error(e: &JobError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_error(status, &e.to_string())
}

impl From<Reject> for Response {
    fn from(r: Reject) -> Self {
        json_error(r.status, &r.message)
    }
}

/// `PUT /job/content/{sha256}`: content a gateway's jobs will name by hash. Authenticated
/// like a job (session, signed `SegData` over the body), unpaid, bounded and rate limited.
async fn upload(
    State(inner): State<Arc<Inner>>,
    axum::extract::Path(hash): axum::extract::Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let c = match check_request(&inner, peer, &headers) {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let mut sha256 = [0u8; 32];
    if alloy_primitives::hex::decode_to_slice(&hash, &mut sha256).is_err() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the path must end in a sha256 in hex",
        );
    }
    let max = super::settings::MAX_CONTENT_UPLOAD;
    let bytes = match read_body(body, max, inner.settings.upload_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(e) = net_wire::verify_body_hash(&c.seg, &bytes) {
        return json_error(StatusCode::FORBIDDEN, &e.to_string());
    }
    let len = bytes.len();
    match inner.settings.content.put(sha256, bytes) {
        Ok(new) => {
            tracing::debug!(target: "node::orchestrator", session = %c.session, %hash, bytes = len, new, "content stored");
            let status = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()
        }
        Err(e @ reel_jobs::ContentError::TooLarge { .. }) => {
            json_error(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string())
        }
        Err(e) => json_error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

async fn handle(
    State((inner, kind)): State<(Arc<Inner>, Arc<dyn JobKind>)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let name = kind.name().to_owned();
    match run(&inner, kind.as_ref(), peer, &headers, body).await {
        Ok(r) => r,
        Err(r) => {
            inner.metrics.rejected.inc(&["job"]);
            tracing::info!(target: "node::orchestrator", %peer, kind = %name, status = r.status().as_u16(), "job refused");
            r
        }
    }
}

async fn run(
    inner: &Arc<Inner>,
    kind: &dyn JobKind,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Response> {
    let c = check_request(inner, peer, headers)?;
    let max = kind.max_request_bytes();
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && n > max
    {
        return Err(job_error(&JobError::TooLarge { size: n, max }));
    }
    let bytes = read_body(body, max, inner.settings.upload_timeout).await?;
    net_wire::verify_body_hash(&c.seg, &bytes)
        .map_err(|e| json_error(StatusCode::FORBIDDEN, &e.to_string()))?;
    let request = JobRequest::new(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
        bytes,
    );
    let admission = kind.admit(&request).map_err(|e| job_error(&e))?;
    let key = CapabilityKey::new(kind.capability(), admission.model.clone());
    let offer = inner.offers.get(&key).cloned().ok_or_else(|| {
        job_error(&JobError::UnknownModel {
            kind: kind.name().to_owned(),
            model: admission.model.clone(),
        })
    })?;
    let scope = Scope::new(key.capability, key.model.clone());
    let account = scope.account(c.gateway);
    let price = offer.price;
    let fee = price
        .fee_ceil(admission.units)
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, &e.to_string()))?;
    if inner.payments.is_some()
        && !price.is_zero()
        && let Some(p) = &c.payment
    {
        credit_payment(inner, p, c.gateway, &scope, price).await?;
    }
    // From here on the payment is credited whatever happens: every refusal states the credit
    // left, so that the gateway books the payment as spent and its ledger stays in step.
    let with_balance = |mut r: Response| {
        if !price.is_zero()
            && let Some(b) = balance_text(inner, &account)
            && let Ok(v) = HeaderValue::from_str(&b)
        {
            r.headers_mut().insert(wire::BALANCE, v);
        }
        r
    };
    if let Some(payments) = &inner.payments
        && !price.is_zero()
        && !payments.sufficient_balance(&account, &price, reel_types::Wei::from_base_units(fee))
    {
        return Err(with_balance(json_error(
            StatusCode::PAYMENT_REQUIRED,
            &format!(
                "Insufficient balance: {} {}s at {price} need {fee} wei of credit",
                admission.units,
                kind.unit()
            ),
        )));
    }
    let _slot = inner
        .offers
        .acquire(&key)
        .map_err(|e| with_balance(job_error(&e)))?;
    let t0 = Instant::now();
    let output = tokio::time::timeout(
        inner.settings.job_timeout,
        offer.worker.run(&key.model, request.clone()),
    )
    .await
    .map_err(|_| {
        with_balance(job_error(&JobError::Failed(format!(
            "no result within {:?}",
            inner.settings.job_timeout
        ))))
    })?
    .map_err(|e| with_balance(job_error(&e)))?;
    let units = kind
        .units_used(&request, &admission, &output)
        .map_err(|e| with_balance(job_error(&e)))?;
    let charged = price.fee_ceil(units).map_err(|e| {
        with_balance(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &e.to_string(),
        ))
    })?;
    let balance = match &inner.payments {
        Some(p) if !price.is_zero() => {
            if let Err(e) = p.debit(&account, units, price) {
                tracing::warn!(target: "node::orchestrator", %account, error = %e, "debit failed");
            }
            balance_text(inner, &account).unwrap_or_default()
        }
        _ => "0".to_owned(),
    };
    let sig = reel_net::signed::sign_transcode_result(
        &inner.signer,
        &[net_wire::segment_hash(&output.body)],
    );
    tracing::info!(target: "node::orchestrator", session = %c.session, kind = %kind.name(),
                   model = %key.model, units, fee = %charged, ms = t0.elapsed().as_millis() as u64, "job done");
    let mut r = (StatusCode::OK, output.body).into_response();
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE.as_str(), output.content_type);
    set(wire::UNITS, units.to_string());
    set(wire::PRICE, format!("{}/{}", price.num(), price.den()));
    set(wire::FEE, charged.to_string());
    set(wire::BALANCE, balance);
    set(wire::MODEL, key.model.clone());
    set(
        wire::SIGNATURE,
        format!("0x{}", alloy_primitives::hex::encode(sig.to_vec())),
    );
    Ok(r)
}
