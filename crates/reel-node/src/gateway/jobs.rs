//! Request/response kinds on the gateway: a job is checked by its kind (a bad request costs
//! nothing and goes nowhere), then dispatched from the pool of its (capability, model)
//! through the same path as a segment: orchestrators that advertise the model at a price
//! under the ceiling, warm ones first, paid before (the fee of the units the kind admits),
//! the result's signature and the kind's own check verified, the units it reports debited.

use std::time::{Duration, Instant};

use reel_jobs::{
    Admission, CapabilityKey, Content, JobError, JobKind, JobOutput, JobRequest, wire,
};
use reel_net::capabilities::{Capabilities, CapabilitySet, ModelConstraint};
use reel_net::http as net_wire;
use reel_net::proto;
use reel_pm::{PricePerUnit, PriceProto, Scope};
use reel_types::Wei;

use super::core::{Core, JobRunner};
use super::dispatch::Work;
use super::kinds::{JobReceipt, Verification};
use super::pool::OrchSession;
use crate::rpc::ServiceUri;
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
    /// Parts the orchestrator keeps by hash: uploaded once per orchestrator.
    content: &'a [Content],
    /// Orchestrators not to use (those whose result is being checked).
    avoid: Vec<ServiceUri>,
}

/// What came back from one orchestrator, verified.
struct JobDone {
    output: JobOutput,
    units: u64,
    /// The orchestrator's signature over the output (evidence if a re-run disagrees).
    signature: Vec<u8>,
}

/// An orchestrator's answer to a job, read and bounded.
struct Answer {
    status: reqwest::StatusCode,
    balance: Option<String>,
    units: Option<String>,
    signature: Option<String>,
    content_type: String,
    body: bytes::Bytes,
}

impl JobWork<'_> {
    /// Posts the job with `payment` (an empty one: none) and reads the answer.
    async fn post(
        &self,
        core: &Core,
        s: &OrchSession,
        payment: &proto::Payment,
    ) -> Result<Answer, NodeError> {
        let uri = s.d.service.to_string();
        let fail = |kind: FailureKind, detail: String| NodeError::orchestrator(&uri, kind, detail);
        let seg = signed_seg(
            core,
            s,
            self.kind.name(),
            &self.request.body,
            Some(&self.caps),
        )?;
        let mut headers =
            net_wire::segment_request_headers(&seg, payment, net_wire::BodyKind::Inline);
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
        let (balance, units, signature, content_type) = (
            header(wire::BALANCE),
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
        Ok(Answer {
            status,
            balance,
            units,
            signature,
            content_type,
            body,
        })
    }
}

/// The path where an orchestrator takes content by hash.
pub(crate) fn content_path(sha256: &[u8; 32]) -> String {
    format!("/job/content/{}", alloy_primitives::hex::encode(sha256))
}

/// A `SegData` for `body` in this orchestrator session, signed by the gateway: what
/// authenticates a job or an upload.
fn signed_seg(
    core: &Core,
    s: &OrchSession,
    name: &str,
    body: &[u8],
    caps: Option<&Capabilities>,
) -> Result<proto::SegData, NodeError> {
    let mut seg = proto::SegData {
        manifest_id: name.as_bytes().to_vec(),
        hash: net_wire::segment_hash(body).to_vec(),
        capabilities: caps.map(Capabilities::to_proto),
        auth_token: s.d.info.auth_token.clone(),
        ..Default::default()
    };
    reel_net::signed::sign_seg_data(&core.signer, &mut seg)?;
    Ok(seg)
}

/// Uploads each part the orchestrator is not known to hold.
async fn upload_content(
    core: &Core,
    s: &OrchSession,
    content: &[Content],
    timeout: Duration,
) -> Result<(), NodeError> {
    let uri = s.d.service.to_string();
    for c in content {
        if core.jobs.holds(&s.d.service, &c.sha256) {
            continue;
        }
        let seg = signed_seg(core, s, "content", &c.bytes, None)?;
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(net_wire::SEGMENT_HEADER, net_wire::encode_header(&seg));
        let url = format!("{}{}", s.d.service.base(), content_path(&c.sha256));
        let resp = tokio::time::timeout(
            timeout,
            core.http
                .put(&url)
                .headers(headers)
                .body(c.bytes.clone())
                .send(),
        )
        .await
        .map_err(|_| {
            NodeError::orchestrator(&uri, FailureKind::Timeout, "content upload timed out")
        })?
        .map_err(|e| NodeError::orchestrator(&uri, FailureKind::Connect, e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(NodeError::orchestrator(
                &uri,
                FailureKind::Refused,
                format!(
                    "content upload: HTTP {status}: {}",
                    wire::error_message(&body)
                ),
            ));
        }
        tracing::debug!(target: "node::gateway", orch = %uri, bytes = c.bytes.len(), "content uploaded");
        core.jobs.held(&s.d.service, c.sha256);
    }
    Ok(())
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
        upload_content(core, s, self.content, self.timeout).await?;
        let mut accepted = Some(accepted);
        let mut spend = || {
            if let Some(f) = accepted.take() {
                f();
            }
        };
        let mut answer = self.post(core, s, &payment).await?;
        if answer.status.as_u16() == 409 && !self.content.is_empty() {
            // It lost what we uploaded (a restart, an eviction): upload it again and ask
            // once more. The first request's payment was credited before the refusal (it
            // states our balance), so the credit pays for this one.
            if answer.balance.is_some() {
                spend();
            }
            core.jobs.forget(&s.d.service);
            upload_content(core, s, self.content, self.timeout).await?;
            answer = self.post(core, s, &proto::Payment::default()).await?;
        }
        let Answer {
            status,
            balance: resp_balance,
            units,
            signature: sig,
            content_type,
            body,
        } = answer;
        if !status.is_success() {
            // A refusal that states our credit came after the payment was credited (no
            // capacity, a failed run): the payment is spent, as it is at the orchestrator.
            if resp_balance.is_some() {
                spend();
            }
            if status.as_u16() == 409 {
                core.jobs.forget(&s.d.service);
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
        spend();
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
        Ok(JobDone {
            output,
            units,
            signature: sig,
        })
    }

    fn units(&self, done: &JobDone) -> u64 {
        done.units
    }

    fn avoid(&self) -> &[ServiceUri] {
        &self.avoid
    }

    fn uniform(&self) -> bool {
        // A re-run: the first run went where selection sends work.
        !self.avoid.is_empty()
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
        let (request, content) = kind.split(&request).map_err(NodeError::Job)?;
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
        let max_price = self.settings.price_cap(&key);
        let work = |avoid: Vec<ServiceUri>| JobWork {
            kind: kind.as_ref(),
            key: key.clone(),
            caps: caps.clone(),
            request: &request,
            admission: &admission,
            max_price,
            timeout: self.settings.job_timeout,
            content: &content,
            avoid,
        };
        let pool = self.jobs.pool(kind.name(), &key);
        let mut pool = pool.lock().await;
        pool.jobs = pool.jobs.saturating_add(1);
        let label = key.to_string();
        let d = self
            .dispatch(&label, &mut pool, &work(Vec::new()))
            .await
            .map_err(|f| NodeError::JobFailed {
                kind: kind.name().to_owned(),
                model: key.model.clone(),
                attempts: f.attempts,
                last: f.last,
            })?;
        let uri = d.uri.clone();
        let mut receipt = receipt_of(d, &key.model, t0)?;
        tracing::info!(target: "node::gateway", kind = %kind.name(), %key, orch = %uri, units = receipt.units, fee = %receipt.fee, attempts = receipt.attempts, "job done");
        let Some(first) = kind.fingerprint(&request, &receipt.output) else {
            return Ok(receipt);
        };
        if self.settings.verify_rate <= 0.0 || super::selection::draw() >= self.settings.verify_rate
        {
            return Ok(receipt);
        }
        // A second orchestrator runs the same job; a disagreement goes to a third if there is
        // one, and the odd one out is banned from this pool with the signed results kept.
        let mut runs = vec![(uri, first, receipt.clone())];
        let mut verification = Verification {
            by: Vec::new(),
            matched: None,
            banned: None,
            evidence: None,
            fee: Wei::ZERO,
            error: None,
        };
        while runs.len() < 3 {
            let avoid = runs.iter().map(|(u, ..)| u.clone()).collect();
            let v = match self.dispatch(&label, &mut pool, &work(avoid)).await {
                Ok(v) => v,
                Err(f) => {
                    tracing::info!(target: "node::gateway", kind = %kind.name(), error = %f.last, "no re-run");
                    verification.error = Some(f.last);
                    break;
                }
            };
            let vuri = v.uri.clone();
            let vr = receipt_of(v, &key.model, t0)?;
            verification.fee = verification
                .fee
                .checked_add(vr.fee)
                .unwrap_or(verification.fee);
            verification.by.push(vr.orchestrator.clone());
            let fp = kind.fingerprint(&request, &vr.output).unwrap_or_default();
            runs.push((vuri, fp, vr));
            let agree = |a: usize, b: usize| runs[a].1 == runs[b].1;
            match runs.len() {
                2 if agree(0, 1) => {
                    verification.matched = Some(true);
                    break;
                }
                2 => verification.matched = Some(false),
                _ => break,
            }
        }
        if verification.matched == Some(false) {
            // Without a third opinion the first is suspect, as the one sampled.
            let odd = match runs.len() {
                3 if runs[2].1 == runs[0].1 => 1,
                _ => 0,
            };
            let (bad, ..) = &runs[odd];
            pool.banned.insert(bad.clone());
            if pool.current.as_ref() == Some(bad) {
                pool.current = None;
            }
            self.metrics
                .job_verifications
                .inc(&[kind.name(), "mismatch"]);
            verification.banned = Some(bad.to_string());
            verification.evidence = self.keep_evidence(kind.name(), &request, &runs, odd);
            tracing::warn!(target: "node::gateway", kind = %kind.name(), orch = %bad, evidence = ?verification.evidence, "a re-run disagreed: orchestrator banned from this pool");
            let good = if odd == 0 { runs.len() - 1 } else { 0 };
            let mut out = runs.swap_remove(good).2;
            out.verification = Some(verification);
            return Ok(out);
        }
        if verification.matched == Some(true) {
            self.metrics.job_verifications.inc(&[kind.name(), "match"]);
        }
        receipt.verification = Some(verification);
        Ok(receipt)
    }

    /// Writes the signed results of a disagreement to the evidence folder, if there is one.
    fn keep_evidence(
        &self,
        kind: &str,
        request: &JobRequest,
        runs: &[(ServiceUri, String, JobReceipt)],
        odd: usize,
    ) -> Option<std::path::PathBuf> {
        let dir = self.settings.evidence_dir.as_ref()?;
        let hex = |b: &[u8]| alloy_primitives::hex::encode(b);
        let doc = serde_json::json!({
            "kind": kind,
            "request": {
                "content_type": request.content_type,
                "keccak256": hex(net_wire::segment_hash(&request.body).as_slice()),
                "body": hex(&request.body),
            },
            "suspect": runs[odd].0.to_string(),
            "results": runs.iter().map(|(uri, fp, r)| serde_json::json!({
                "orchestrator": uri.to_string(),
                "address": r.address.to_string(),
                "fingerprint": fp,
                "content_type": r.output.content_type,
                "body": hex(&r.output.body),
                "signature": hex(&r.signature),
            })).collect::<Vec<_>>(),
        });
        let name = format!(
            "{}-{}-{}.json",
            kind,
            crate::util::unix_now(),
            &hex(net_wire::segment_hash(&request.body).as_slice())[..16]
        );
        let path = dir.join(name);
        let write = std::fs::create_dir_all(dir).and_then(|()| {
            std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap_or_default())
        });
        match write {
            Ok(()) => Some(path),
            Err(e) => {
                tracing::warn!(target: "node::gateway", path = %path.display(), error = %e, "evidence not written");
                None
            }
        }
    }
}

/// What a dispatched job cost, with its output; `latency` from `t0`.
fn receipt_of(
    d: super::dispatch::Dispatched<JobDone>,
    model: &str,
    t0: Instant,
) -> Result<JobReceipt, NodeError> {
    let fee = Wei::from_base_units(d.price.fee_ceil(d.units).map_err(reel_pm::PmError::from)?);
    Ok(JobReceipt {
        output: d.done.output,
        orchestrator: d.uri.to_string(),
        address: d.address,
        model: model.to_owned(),
        units: d.units,
        price: d.price,
        fee,
        tickets: d.tickets,
        ticket_value: d.value,
        attempts: d.attempts,
        latency: t0.elapsed(),
        signature: d.done.signature,
        verification: None,
    })
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
            super::core::json_error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                message,
            )
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
                if let Some(v) = &receipt.verification {
                    set(
                        "Reel-Verification",
                        serde_json::to_string(v).unwrap_or_default(),
                    );
                }
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
