//! BYOC on the gateway (go-livepeer's `byoc/job_gateway.go`; the wire is
//! [`crate::byoc`]): `POST /process/request/<subpath>` with the `Livepeer` header.
//!
//! Each candidate orchestrator is asked `GET /process/token` at once; those that offer the
//! capability with free capacity, at a price under the cap, with ticket params this gateway
//! accepts, are tried cheapest first. Each try signs the job, pays so that the credit covers
//! `price × timeout_seconds` (and one ticket's EV: the orchestrator serves no less), and
//! sends the body on the same path. A 503 (no capacity), a 502 (its worker gone) or an
//! orchestrator that cannot be reached moves on to the next; any other answer is the
//! client's, with the orchestrator's `Livepeer-Balance`. The seconds the orchestrator
//! debited (`Livepeer-Units`) are debited here too, so that both ledgers stay equal; before
//! paying, this gateway's count of the credit follows the token's statement down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, I256};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use reel_jobs::CapabilityKey;
use reel_pm::{PricePerUnit, PriceProto, Scope, TicketParams};
use reel_types::Wei;
use tracing::Instrument as _;

use super::core::{Core, json_error as error};
use crate::byoc::{self as wire, JobParameters, JobRequest, JobSender, JobToken};
use crate::rpc::ServiceUri;

pub(super) fn routes(core: Arc<Core>) -> Router {
    Router::new()
        .route(&format!("{}/", wire::REQUEST_PREFIX), post(submit))
        .route(
            &format!("{}/{{*subpath}}", wire::REQUEST_PREFIX),
            post(submit),
        )
        .with_state(core)
}

/// An orchestrator that offers the capability now.
struct Offer {
    uri: ServiceUri,
    order: usize,
    price: PricePerUnit,
    params: Option<TicketParams>,
    address: Address,
    /// The credit the orchestrator states for this gateway; `None` when saturated.
    balance: Option<I256>,
}

/// Why a try did not give the client an answer.
enum Miss {
    /// Another orchestrator may do better (503, unreachable, cannot pay it).
    Next(String),
    /// The answer to give.
    Answer(Response),
}

async fn submit(
    State(core): State<Arc<Core>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, &m);
    let Some(h) = headers.get(wire::JOB_HEADER) else {
        return bad("no Livepeer header: the job request is required".into());
    };
    let mut job = match JobRequest::from_header(h.as_bytes()) {
        Ok(j) => j,
        Err(e) => return bad(format!("Unable to parse job request, err={e}")),
    };
    let params: JobParameters = if job.parameters.trim().is_empty() {
        JobParameters::default()
    } else {
        match serde_json::from_str(&job.parameters) {
            Ok(p) => p,
            Err(e) => return bad(format!("Unable to unmarshal job parameters err={e}")),
        }
    };
    if job.request.trim().is_empty() {
        // go-livepeer's orchestrator reads `request` as JSON: an empty one would be refused
        // there. The gateway signs what it sends, so it may fill it in.
        job.request = "{}".into();
    } else if let Err(e) = serde_json::from_str::<serde_json::Value>(&job.request) {
        return bad(format!("Unable to unmarshal job request err={e}"));
    }
    job.capability = job.capability.trim().to_owned();
    if job.id.is_empty() {
        // An id for the logs at both ends (go-livepeer's gateway leaves it to the client).
        job.id = crate::util::random_hex(8);
    }
    let max = core.settings.byoc.max_request_bytes;
    if let Some(n) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && n > max
    {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body of {n} bytes is over the limit of {max}"),
        );
    }
    let Ok(body) = axum::body::to_bytes(body, max).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over the limit of {max} bytes"),
        );
    };
    let span = tracing::info_span!("byoc", job = %job.id, capability = %job.capability);
    let content_type = headers.get(header::CONTENT_TYPE).cloned();
    core.run_byoc(job, &params, uri.path(), content_type, body)
        .instrument(span)
        .await
}

/// A balance as `(magnitude, negative)` → signed.
fn signed((m, negative): (Wei, bool)) -> Option<I256> {
    let v = I256::try_from(m.base_units()).ok()?;
    Some(if negative { -v } else { v })
}

impl Core {
    /// The orchestrators that offer `name` now, cheapest first.
    async fn byoc_offers(&self, name: &str, params: &JobParameters) -> Result<Vec<Offer>, String> {
        let cands = self.candidates().await.map_err(|e| e.to_string())?;
        let listed = |f: &[String], u: &ServiceUri| {
            f.iter()
                .any(|s| s.trim_end_matches('/') == u.base() || *s == u.to_string())
        };
        let f = &params.orchestrators;
        let sender = JobSender::signed(&self.signer).to_header();
        let wait = self.settings.discovery_timeout.max(Duration::from_secs(2));
        let mut asks = tokio::task::JoinSet::new();
        for (order, c) in cands.iter().enumerate() {
            if listed(&f.exclude, &c.uri) || (!f.include.is_empty() && !listed(&f.include, &c.uri))
            {
                continue;
            }
            let (http, uri, sender, name) = (
                self.http.clone(),
                c.uri.clone(),
                sender.clone(),
                name.to_owned(),
            );
            asks.spawn(async move {
                let got = tokio::time::timeout(wait, async {
                    let resp = http
                        .get(format!("{}{}", uri.base(), wire::TOKEN_PATH))
                        .header(wire::ETH_ADDRESS_HEADER, sender)
                        .header(wire::CAPABILITY_HEADER, name)
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let status = resp.status();
                    let body =
                        crate::rpc::read_body(resp, 64 * 1024, tokio::time::Instant::now() + wait)
                            .await
                            .map_err(|e| e.to_string())?;
                    if !status.is_success() {
                        return Err(format!(
                            "HTTP {status}: {}",
                            reel_jobs::wire::error_message(&body)
                        ));
                    }
                    serde_json::from_slice::<JobToken>(&body).map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|_| Err("no token in time".into()));
                (order, uri, got)
            });
        }
        let key = CapabilityKey::new(wire::CAPABILITY, name);
        let cap = self.settings.price_cap(&key);
        let mut offers = Vec::new();
        while let Some(joined) = asks.join_next().await {
            let Ok((order, uri, got)) = joined else {
                continue;
            };
            let skip = |why: String| {
                tracing::info!(target: "node::gateway", orch = %uri, error = %why, "not offering the capability");
            };
            let tok = match got {
                Ok(t) => t,
                Err(e) => {
                    self.metrics.discovery_errors.inc();
                    skip(e);
                    continue;
                }
            };
            if tok.available_capacity <= 0 {
                skip("no free capacity".into());
                continue;
            }
            let Some(price) = tok
                .price
                .as_ref()
                .and_then(|p| PricePerUnit::from_proto(&p.to_proto()).ok())
            else {
                skip("no valid price".into());
                continue;
            };
            if cap.is_some_and(|max| price > max) {
                skip(format!("price {price} over the cap"));
                continue;
            }
            let mut address = Address::ZERO;
            let mut params = None;
            if let Some(pay) = &self.payments
                && !price.is_zero()
            {
                let checked = tok
                    .ticket_params
                    .as_ref()
                    .ok_or_else(|| "no ticket params".to_owned())
                    .and_then(|tp| {
                        TicketParams::from_proto(&tp.to_proto(), None, price)
                            .map_err(|e| e.to_string())
                    })
                    .and_then(|p| pay.validate(&p).map(|()| p).map_err(|e| e.to_string()));
                match checked {
                    Ok(p) => {
                        address = p.recipient;
                        params = Some(p);
                    }
                    Err(e) => {
                        skip(format!("ticket params refused: {e}"));
                        continue;
                    }
                }
            }
            let balance = (tok.balance != i64::MAX && tok.balance != i64::MIN)
                .then(|| I256::try_from(tok.balance).ok())
                .flatten();
            offers.push(Offer {
                uri,
                order,
                price,
                params,
                address,
                balance,
            });
        }
        offers.sort_by(|a, b| {
            a.price
                .partial_cmp(&b.price)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.order.cmp(&b.order))
        });
        Ok(offers)
    }

    pub(super) async fn run_byoc(
        &self,
        job: JobRequest,
        params: &JobParameters,
        path: &str,
        content_type: Option<HeaderValue>,
        body: bytes::Bytes,
    ) -> Response {
        let name = job.capability.clone();
        let offers = match self.byoc_offers(&name, params).await {
            Ok(o) => o,
            Err(e) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("No orchestrators found for capability {name}: {e}"),
                );
            }
        };
        if offers.is_empty() {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "No orchestrators found for capability {name} (with free capacity, at a price under the cap)"
                ),
            );
        }
        let mut job = job;
        job.sender = self.signer.address().to_checksum(None);
        job.sig = format!(
            "0x{}",
            alloy_primitives::hex::encode(
                self.signer.sign_personal(&job.signed_message()).to_vec()
            )
        );
        let header = job.to_header();
        let mut last = String::new();
        let mut last_busy: Option<Response> = None;
        let tries = usize::try_from(self.settings.max_attempts.max(1)).unwrap_or(usize::MAX);
        for offer in offers.iter().take(tries) {
            match self
                .byoc_try(&job, &header, offer, path, content_type.as_ref(), &body)
                .await
            {
                Ok(r) => return r,
                Err(Miss::Answer(r)) => return r,
                Err(Miss::Next(why)) => {
                    tracing::warn!(target: "node::gateway", orch = %offer.uri, error = %why, "byoc attempt failed");
                    self.metrics.attempt_failures.inc(&["byoc"]);
                    last = format!("{}: {why}", offer.uri);
                    if why.starts_with("HTTP 503") {
                        last_busy = Some(error(StatusCode::SERVICE_UNAVAILABLE, &last));
                    }
                }
            }
        }
        last_busy.unwrap_or_else(|| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("no orchestrator could take the job for capability {name}; last: {last}"),
            )
        })
    }

    async fn byoc_try(
        &self,
        job: &JobRequest,
        header: &str,
        offer: &Offer,
        path: &str,
        content_type: Option<&HeaderValue>,
        body: &bytes::Bytes,
    ) -> Result<Response, Miss> {
        let timeout = Duration::from_secs(u64::try_from(job.timeout_seconds).unwrap_or(0));
        let scope = Scope::new(wire::CAPABILITY, job.capability.clone());
        self.byoc_align(offer, &scope);
        let pay = match (&self.payments, &offer.params) {
            (Some(pay), Some(params)) => {
                let fee = offer
                    .price
                    .fee_ceil(timeout.as_secs())
                    .map_err(|e| Miss::Next(format!("fee: {e}")))?;
                pay.pay(offer.address, &scope, params, Wei::from_base_units(fee))
                    .map_err(|e| Miss::Next(format!("cannot pay: {e}")))?
            }
            _ => None,
        };
        let mut req = self
            .http
            .post(format!("{}{path}", offer.uri.base()))
            .header(wire::JOB_HEADER, header)
            .body(body.clone());
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct.clone());
        }
        if let Some(p) = &pay {
            req = req.header(
                wire::PAYMENT_HEADER,
                reel_net::http::encode_header(&p.payment),
            );
        }
        // The orchestrator's own timeout runs first: 5 s more here, as go-livepeer.
        let deadline = tokio::time::Instant::now() + timeout + Duration::from_secs(5);
        let t0 = Instant::now();
        let resp = tokio::time::timeout_at(deadline, req.send())
            .await
            .map_err(|_| Miss::Next("no answer in time".into()))?
            .map_err(|e| Miss::Next(format!("unreachable: {e}")))?;
        let status = resp.status();
        let get = |n: &str| resp.headers().get(n).cloned();
        let balance = get(wire::BALANCE_HEADER);
        let units = get(reel_jobs::wire::UNITS);
        let kept: Vec<(&'static str, HeaderValue)> = [
            (
                header::CONTENT_TYPE.as_str(),
                get(header::CONTENT_TYPE.as_str()),
            ),
            (wire::METADATA_HEADER, get(wire::METADATA_HEADER)),
            (wire::BALANCE_HEADER, balance.clone()),
            (reel_jobs::wire::UNITS, units.clone()),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect();
        // An answer that states the credit came after the payment was credited: it is spent
        // at the orchestrator, so it is here too.
        if let (Some(p), Some(gp), Some(_)) = (&pay, &self.payments, &balance) {
            self.metrics.tickets_sent.add(u64::from(p.tickets));
            self.metrics
                .ticket_value_sent
                .add(crate::payments::wei_f64(p.value));
            if let Err(e) = gp.credit(offer.address, &scope, p.value, offer.price) {
                tracing::warn!(target: "node::gateway", error = %e, "crediting the account failed");
            }
        }
        let out =
            crate::rpc::read_body(resp, self.settings.byoc.max_response_bytes, deadline).await;
        self.byoc_debit(
            offer,
            &scope,
            balance.as_ref(),
            units.as_ref(),
            t0.elapsed(),
        );
        let out = out.map_err(|e| {
            Miss::Answer(error(
                StatusCode::BAD_GATEWAY,
                &format!("reading the orchestrator's answer: {e}"),
            ))
        })?;
        // 503: no capacity there; 502: its worker could not be reached (nothing ran) or
        // broke its answer. Another orchestrator may do better. A timeout (504) or the
        // worker's own error is the job's: trying again elsewhere would bill it twice.
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE
            || status == reqwest::StatusCode::BAD_GATEWAY
        {
            return Err(Miss::Next(format!(
                "HTTP {}: {}",
                status.as_u16(),
                reel_jobs::wire::error_message(&out)
            )));
        }
        tracing::info!(target: "node::gateway", orch = %offer.uri, status = status.as_u16(),
                       balance = ?balance, ms = t0.elapsed().as_millis() as u64, "byoc job answered");
        let mut r = (
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            out,
        )
            .into_response();
        let h = r.headers_mut();
        for (n, v) in kept {
            h.insert(n, v);
        }
        if let Ok(v) = HeaderValue::from_str(&offer.uri.base()) {
            h.insert(wire::ORCHESTRATOR_URL_HEADER, v);
        }
        Ok(r)
    }

    /// Follows the orchestrator's statement of the credit down (go-livepeer's
    /// `compareAndUpdateBalance`, one way only): credit this gateway counts and the
    /// orchestrator does not (it restarted, or a job's debit crossed a token) would
    /// otherwise go unpaid for good. Credit it states above ours is not taken on its word.
    fn byoc_align(&self, offer: &Offer, scope: &Scope) {
        let (Some(pay), Some(theirs)) = (&self.payments, offer.balance) else {
            return;
        };
        if offer.price.is_zero() || offer.params.is_none() {
            return;
        }
        let Some(ours) = signed(pay.balance(offer.address, scope)) else {
            return;
        };
        let secs = seconds_of(ours.saturating_sub(theirs), &offer.price);
        if secs > 0 {
            tracing::info!(target: "node::gateway", orch = %offer.uri, %ours, %theirs, secs,
                           "credit brought down to the orchestrator's statement");
            if let Err(e) = pay.debit(offer.address, scope, secs, offer.price) {
                tracing::warn!(target: "node::gateway", error = %e, "debiting the account failed");
            }
        }
    }

    /// Debits what the orchestrator charged: the seconds it states (`Livepeer-Units`);
    /// from an orchestrator that does not state them, the seconds the job took here, as
    /// go-livepeer's gateway counts. An answer without `Livepeer-Balance` came before any
    /// credit there: nothing ran, nothing is debited.
    fn byoc_debit(
        &self,
        offer: &Offer,
        scope: &Scope,
        balance: Option<&HeaderValue>,
        units: Option<&HeaderValue>,
        took: Duration,
    ) {
        let Some(pay) = &self.payments else {
            return;
        };
        if offer.price.is_zero() || offer.params.is_none() || balance.is_none() {
            return;
        }
        let secs = match units {
            Some(u) => u
                .to_str()
                .ok()
                .and_then(|u| u.trim().parse::<u64>().ok())
                .unwrap_or_else(|| ceil_secs(took)),
            None => ceil_secs(took),
        };
        if secs > 0
            && let Err(e) = pay.debit(offer.address, scope, secs, offer.price)
        {
            tracing::warn!(target: "node::gateway", error = %e, "debiting the account failed");
        }
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// ⌈wei / price⌉ = ⌈wei × den / num⌉ seconds; 0 for no wei.
fn seconds_of(wei: I256, price: &PricePerUnit) -> u64 {
    if wei <= I256::ZERO || price.is_zero() {
        return 0;
    }
    let n = wei
        .unsigned_abs()
        .saturating_mul(price.den())
        .div_ceil(price.num());
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        let p = PricePerUnit::new(
            alloy_primitives::U256::from(10u64),
            alloy_primitives::U256::from(3u64),
        )
        .unwrap();
        assert_eq!(seconds_of(I256::try_from(10).unwrap(), &p), 3);
        assert_eq!(seconds_of(I256::try_from(11).unwrap(), &p), 4);
        assert_eq!(seconds_of(I256::try_from(-5).unwrap(), &p), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1001)), 2);
    }
}
