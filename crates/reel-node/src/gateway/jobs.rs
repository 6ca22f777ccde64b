//! Request/response kinds on the gateway: a job is checked by its kind (a bad request costs
//! nothing and goes nowhere), then dispatched from the pool of its (capability, model)
//! through the same path as a segment: orchestrators that advertise the model at a price
//! under the ceiling, warm ones first, paid before (the fee of the units the kind admits),
//! the result's signature and the kind's own check verified, the units it reports debited.

use std::time::{Duration, Instant};

use reel_jobs::{Admission, CapabilityKey, JobError, JobKind, JobOutput, JobRequest, wire};
use reel_net::capabilities::{Capabilities, CapabilitySet, ModelConstraint};
use reel_net::http as net_wire;
use reel_net::proto;
use reel_pm::{PricePerUnit, PriceProto, Scope};
use reel_types::Wei;

use super::core::{Core, JobRunner};
use super::dispatch::Work;
use super::kinds::JobReceipt;
use super::pool::OrchSession;
use crate::{FailureKind, NodeError};

/// One job, as dispatched work.
struct JobWork<'a> {
    kind: &'a dyn JobKind,
    key: CapabilityKey,
    caps: Capabilities,
    request: &'a JobRequest,
    admission: &'a Admission,
    max_price: Option<PricePerUnit>,
    timeout: Duration,
}

/// What came back from one orchestrator, verified.
struct JobDone {
    output: JobOutput,
    units: u64,
}

/// The price an orchestrator's answer names for `key`.
fn advertised_price(s: &OrchSession, key: &CapabilityKey) -> Option<PricePerUnit> {
    s.d.info
        .capabilities_prices
        .iter()
        .find(|p| p.capability == key.capability && p.constraint == key.model)
        .and_then(|p| PricePerUnit::from_proto(p).ok())
}

fn warm(s: &OrchSession, key: &CapabilityKey) -> bool {
    s.d.info
        .capabilities
        .as_ref()
        .and_then(|c| Capabilities::from_proto(c).ok())
        .and_then(|c| {
            c.models
                .get(&key.capability)?
                .get(&key.model)
                .map(|m| m.warm)
        })
        .unwrap_or(false)
}

impl Work for JobWork<'_> {
    type Done = JobDone;

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn capability(&self) -> u32 {
        self.key.capability
    }

    fn price(&self, s: &OrchSession) -> Option<PricePerUnit> {
        advertised_price(s, &self.key)
    }

    fn max_price(&self) -> Option<PricePerUnit> {
        self.max_price
    }

    fn preferred(&self, s: &OrchSession) -> bool {
        warm(s, &self.key)
    }

    fn scope(&self, _s: &OrchSession) -> Scope {
        Scope::new(self.key.capability, self.key.model.clone())
    }

    fn fee(&self, price: &PricePerUnit) -> Result<Wei, NodeError> {
        Ok(Wei::from_base_units(
            price
                .fee_ceil(self.admission.units)
                .map_err(reel_pm::PmError::from)?,
        ))
    }

    fn expected(&self) -> Duration {
        // Scored against the time budget: a job in a tenth of its timeout scores 0.1.
        self.timeout
    }

    async fn submit<F: FnOnce() + Send>(
        &self,
        core: &Core,
        s: &OrchSession,
        payment: proto::Payment,
        accepted: F,
    ) -> Result<JobDone, NodeError> {
        let uri = s.d.service.to_string();
        let fail = |kind: FailureKind, detail: String| NodeError::orchestrator(&uri, kind, detail);
        let mut seg = proto::SegData {
            manifest_id: self.kind.name().as_bytes().to_vec(),
            hash: net_wire::segment_hash(&self.request.body).to_vec(),
            capabilities: Some(self.caps.to_proto()),
            auth_token: s.d.info.auth_token.clone(),
            ..Default::default()
        };
        reel_net::signed::sign_seg_data(&core.signer, &mut seg)?;
        let mut headers =
            net_wire::segment_request_headers(&seg, &payment, net_wire::BodyKind::Inline);
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&self.request.content_type) {
            headers.insert(reqwest::header::CONTENT_TYPE, v);
        }
        let url = format!("{}{}", s.d.service.base(), self.kind.path());
        let deadline = tokio::time::Instant::now() + self.timeout;
        let resp = tokio::time::timeout(
            self.timeout,
            core.http
                .post(&url)
                .headers(headers)
                .body(self.request.body.clone())
                .send(),
        )
        .await
        .map_err(|_| fail(FailureKind::Timeout, "no answer in time".into()))?
        .map_err(|e| fail(FailureKind::Connect, e.to_string()))?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let resp_balance = header(wire::BALANCE);
        let (units, sig, content_type) = (
            header(wire::UNITS),
            header(wire::SIGNATURE),
            header(reqwest::header::CONTENT_TYPE.as_str()).unwrap_or_default(),
        );
        let body = crate::rpc::read_body(
            resp,
            reel_net::http::Limits::default().max_result_bytes,
            deadline,
        )
        .await
        .map_err(|e| fail(FailureKind::Connect, format!("reading the result: {e}")))?;
        if !status.is_success() {
            // A refusal that states our credit came after the payment was credited (no
            // capacity, a failed run): the payment is spent, as it is at the orchestrator.
            if resp_balance.is_some() {
                accepted();
            }
            let message = wire::error_message(&body);
            let kind = match status.as_u16() {
                402 => FailureKind::Payment,
                503 => FailureKind::Busy,
                400 | 404 | 413 | 415 | 422 => FailureKind::Refused,
                _ => FailureKind::Refused,
            };
            return Err(fail(kind, format!("HTTP {status}: {message}")));
        }
        // Past a 200 the payment is spent.
        accepted();
        let units: u64 = units
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| fail(FailureKind::BadResult, format!("no {} header", wire::UNITS)))?;
        let sig = sig
            .and_then(|h| alloy_primitives::hex::decode(h.trim_start_matches("0x")).ok())
            .ok_or_else(|| {
                fail(
                    FailureKind::BadResult,
                    format!("no {} header", wire::SIGNATURE),
                )
            })?;
        reel_net::signed::verify_transcode_result(
            s.d.address,
            &[net_wire::segment_hash(&body)],
            &sig,
        )
        .map_err(|e| fail(FailureKind::Verification, format!("result signature: {e}")))?;
        let output = JobOutput {
            content_type,
            body,
            units,
        };
        self.kind
            .verify(self.request, &output)
            .map_err(|e| fail(FailureKind::Verification, e.to_string()))?;
        let units = self
            .kind
            .units_used(self.request, self.admission, &output)
            .map_err(|e| fail(FailureKind::BadResult, e.to_string()))?;
        if units != output.units {
            return Err(fail(
                FailureKind::Verification,
                format!(
                    "billed {} units where the kind allows {units}",
                    output.units
                ),
            ));
        }
        Ok(JobDone { output, units })
    }

    fn units(&self, done: &JobDone) -> u64 {
        done.units
    }
}

impl Core {
    /// Runs one request of `kind` on the network.
    pub(crate) async fn run_job(
        &self,
        kind_name: &str,
        request: JobRequest,
    ) -> Result<JobReceipt, NodeError> {
        let t0 = Instant::now();
        let kind = self.jobs.kinds.get(kind_name).cloned().ok_or_else(|| {
            NodeError::Job(JobError::BadRequest(format!(
                "no job kind `{kind_name}` here"
            )))
        })?;
        if request.body.len() > kind.max_request_bytes() {
            return Err(NodeError::Job(JobError::TooLarge {
                size: request.body.len(),
                max: kind.max_request_bytes(),
            }));
        }
        let admission = kind.admit(&request).map_err(NodeError::Job)?;
        let key = CapabilityKey::new(kind.capability(), admission.model.clone());
        let mut caps = Capabilities {
            offered: CapabilitySet::new(),
            version: crate::caps::VERSION.to_owned(),
            ..Capabilities::default()
        };
        caps.offered.insert_id(key.capability);
        // Sessions are bound by auth tokens, which orchestrators require.
        caps.offered
            .insert(reel_net::capabilities::Capability::AuthToken);
        caps.models
            .entry(key.capability)
            .or_default()
            .insert(key.model.clone(), ModelConstraint::default());
        let max_price = self
            .settings
            .max_price_per_capability
            .get(&key)
            .or_else(|| {
                self.settings
                    .max_price_per_capability
                    .get(&CapabilityKey::new(key.capability, "default"))
            })
            .copied();
        let work = JobWork {
            kind: kind.as_ref(),
            key: key.clone(),
            caps,
            request: &request,
            admission: &admission,
            max_price,
            timeout: self.settings.job_timeout,
        };
        let pool = self.jobs.pool(kind.name(), &key);
        let mut pool = pool.lock().await;
        pool.jobs = pool.jobs.saturating_add(1);
        let label = key.to_string();
        match self.dispatch(&label, &mut pool, &work).await {
            Ok(d) => {
                let fee = Wei::from_base_units(
                    d.price.fee_ceil(d.units).map_err(reel_pm::PmError::from)?,
                );
                tracing::info!(target: "node::gateway", kind = %kind.name(), %key, orch = %d.uri, units = d.units, %fee, attempts = d.attempts, "job done");
                Ok(JobReceipt {
                    output: d.done.output,
                    orchestrator: d.uri.to_string(),
                    address: d.address,
                    model: key.model,
                    units: d.units,
                    price: d.price,
                    fee,
                    tickets: d.tickets,
                    ticket_value: d.value,
                    attempts: d.attempts,
                    latency: t0.elapsed(),
                })
            }
            Err(f) => Err(NodeError::JobFailed {
                kind: kind.name().to_owned(),
                model: key.model,
                attempts: f.attempts,
                last: f.last,
            }),
        }
    }
}

/// The status and message of a job that did not run, for an HTTP answer.
pub fn error_status(e: &NodeError) -> (u16, String) {
    match e {
        NodeError::Job(j) => (j.status(), j.to_string()),
        NodeError::JobFailed { .. } | NodeError::NoOrchestrators { .. } => (503, e.to_string()),
        _ => (500, e.to_string()),
    }
}

/// `POST /job/{kind}`: the body is the request; the answer is the output with what it cost
/// (`Livepeer-Units`, `Livepeer-Price`, `Livepeer-Fee`, `Livepeer-Orchestrator`).
pub(crate) fn routes(runner: JobRunner) -> axum::Router {
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    async fn run(
        State(r): State<JobRunner>,
        Path(kind): Path<String>,
        headers: HeaderMap,
        body: axum::body::Body,
    ) -> axum::response::Response {
        let fail = |status: u16, message: &str| {
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [(header::CONTENT_TYPE, "application/json")],
                wire::error_body(message),
            )
                .into_response()
        };
        let Some(k) = r.kind(&kind) else {
            return fail(404, &format!("no job kind `{kind}` on this gateway"));
        };
        let Ok(bytes) = axum::body::to_bytes(body, k.max_request_bytes()).await else {
            return fail(
                413,
                &format!("request over the limit of {} bytes", k.max_request_bytes()),
            );
        };
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        match r.run_job(&kind, JobRequest::new(ct, bytes)).await {
            Ok(receipt) => {
                let mut resp = (StatusCode::OK, receipt.output.body).into_response();
                let h = resp.headers_mut();
                let mut set = |name: &'static str, value: String| {
                    if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                        h.insert(name, v);
                    }
                };
                set(header::CONTENT_TYPE.as_str(), receipt.output.content_type);
                set(wire::UNITS, receipt.units.to_string());
                set(
                    wire::PRICE,
                    format!("{}/{}", receipt.price.num(), receipt.price.den()),
                );
                set(wire::FEE, receipt.fee.base_units().to_string());
                set(wire::MODEL, receipt.model);
                set("Livepeer-Orchestrator", receipt.orchestrator);
                resp
            }
            Err(e) => {
                let (status, message) = error_status(&e);
                fail(status, &message)
            }
        }
    }
    axum::Router::new()
        .route("/job/{kind}", axum::routing::post(run))
        .with_state(runner)
}
