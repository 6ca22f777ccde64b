//! A remote job worker: the process side of the orchestrator's worker registry for
//! request/response kinds (AI inference, compute). It dials the orchestrator's gRPC
//! `AIWorker.RegisterAIWorker` (go-livepeer's) with the orchestrator's secret and its
//! capabilities — per capability the models it serves, each with a capacity and a warm
//! flag — and keeps the server stream open. Each `NotifyAIJob` names the kind (its
//! `pipeline`), the model and an input URL on the orchestrator (fetched with the secret as
//! `Credentials`); the worker runs it on its local [`JobWorker`] and posts the output to
//! `POST /jobResults` with the units it took (`Livepeer-Units`), or an error with its
//! status.
//!
//! A wrong secret or refused capabilities are fatal; anything else — the orchestrator
//! restarting, the network dropping — is retried with exponential backoff.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reel_jobs::{CapabilityKey, JobError, JobKind, JobRequest, JobWorker};
use reel_net::capabilities::{Capabilities, Capability, ModelConstraint};
use reel_net::proto;
use reel_net::proto::ai_worker_client::AiWorkerClient;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::NodeError;
use crate::rpc::ServiceUri;

/// One (kind, model) this worker serves.
#[derive(Clone)]
pub struct WorkerOffer {
    pub kind: Arc<dyn JobKind>,
    pub model: String,
    /// Jobs of this model at once.
    pub capacity: u32,
    pub warm: bool,
    pub worker: Arc<dyn JobWorker>,
}

impl std::fmt::Debug for WorkerOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerOffer")
            .field("kind", &self.kind.name())
            .field("model", &self.model)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Job worker settings. `Debug` never shows the secret.
#[derive(Clone)]
pub struct JobWorkerSettings {
    /// The orchestrator (`-orchAddr`).
    pub orch: ServiceUri,
    /// Its secret (`-orchSecret`).
    pub secret: String,
    pub offers: Vec<WorkerOffer>,
    /// Backoff bounds for reconnecting.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Longest a job may run here.
    pub job_timeout: Duration,
}

impl std::fmt::Debug for JobWorkerSettings {
    // Hand-written so that the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobWorkerSettings")
            .field("orch", &self.orch)
            .field("secret", &"<redacted>")
            .field("offers", &self.offers)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .field("job_timeout", &self.job_timeout)
            .finish()
    }
}

impl JobWorkerSettings {
    pub fn new(orch: ServiceUri, secret: String, offers: Vec<WorkerOffer>) -> Self {
        Self {
            orch,
            secret,
            offers,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            job_timeout: Duration::from_secs(300),
        }
    }

    /// What the worker announces: per capability its models, with capacity and warmth.
    pub fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities {
            version: crate::caps::VERSION.to_owned(),
            ..Capabilities::default()
        };
        caps.offered.insert(Capability::AuthToken);
        for o in &self.offers {
            let cap = o.kind.capability();
            caps.offered.insert_id(cap);
            caps.models.entry(cap).or_default().insert(
                o.model.clone(),
                ModelConstraint {
                    warm: o.warm,
                    capacity: o.capacity,
                    runner_version: crate::caps::VERSION.to_owned(),
                    capacity_in_use: 0,
                },
            );
        }
        caps
    }
}

struct State {
    settings: JobWorkerSettings,
    http: reqwest::Client,
    /// By (capability, model): its worker and a semaphore of its capacity.
    offers: BTreeMap<CapabilityKey, (WorkerOffer, Arc<Semaphore>)>,
}

/// Runs the worker until `shutdown`, or until the orchestrator refuses it for good.
pub async fn run(
    settings: JobWorkerSettings,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    if settings.offers.is_empty() {
        return Err(NodeError::Config(
            "a job worker needs at least one model".into(),
        ));
    }
    let offers = settings
        .offers
        .iter()
        .map(|o| {
            (
                CapabilityKey::new(o.kind.capability(), o.model.clone()),
                (
                    o.clone(),
                    Arc::new(Semaphore::new(o.capacity.max(1) as usize)),
                ),
            )
        })
        .collect();
    let state = Arc::new(State {
        http: crate::rpc::http_client()?,
        offers,
        settings,
    });
    let tasks = TaskTracker::new();
    let mut backoff = state.settings.backoff_min;
    let result = loop {
        let started = Instant::now();
        match session(&state, &tasks, &shutdown).await {
            Ok(()) => break Ok(()),
            Err(e @ NodeError::RegistrationRefused { .. }) => break Err(e),
            Err(e) => {
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = state.settings.backoff_min;
                }
                tracing::warn!(target: "node::worker", orch = %state.settings.orch, error = %e, retry_in = ?backoff, "lost the orchestrator; reconnecting");
                tokio::select! {
                    () = shutdown.cancelled() => break Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(state.settings.backoff_max);
            }
        }
    };
    tasks.close();
    tokio::select! {
        () = tasks.wait() => {}
        // Jobs still running at shutdown are dropped: the orchestrator fails them over.
        () = tokio::time::sleep(Duration::from_secs(3)) => {}
    }
    result
}

async fn session(
    state: &Arc<State>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<(), NodeError> {
    let s = &state.settings;
    let channel = crate::rpc::grpc_channel(&s.orch, Duration::from_secs(365 * 24 * 3600))?;
    let mut client = AiWorkerClient::new(channel);
    let req = proto::RegisterAiWorkerRequest {
        secret: s.secret.clone(),
        capabilities: Some(s.capabilities().to_proto()),
        hardware: Vec::new(),
    };
    let mut stream = match client.register_ai_worker(req).await {
        Ok(r) => r.into_inner(),
        Err(st) => {
            return Err(match st.code() {
                tonic::Code::Unauthenticated
                | tonic::Code::PermissionDenied
                | tonic::Code::InvalidArgument
                | tonic::Code::Unimplemented => NodeError::RegistrationRefused {
                    orch: s.orch.to_string(),
                    reason: st.message().to_owned(),
                },
                _ => NodeError::orchestrator(
                    &s.orch.to_string(),
                    crate::FailureKind::Connect,
                    st.message().to_owned(),
                ),
            });
        }
    };
    tracing::info!(target: "node::worker", orch = %s.orch, models = s.offers.len(), "registered with the orchestrator");
    loop {
        let msg = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            m = stream.message() => m,
        };
        match msg {
            Ok(Some(n)) => {
                let state = Arc::clone(state);
                tasks.spawn(async move { handle(state, n).await });
            }
            Ok(None) => {
                return Err(NodeError::orchestrator(
                    &s.orch.to_string(),
                    crate::FailureKind::Connect,
                    "the orchestrator closed the task stream",
                ));
            }
            Err(st) => {
                return Err(NodeError::orchestrator(
                    &s.orch.to_string(),
                    crate::FailureKind::Connect,
                    st.message().to_owned(),
                ));
            }
        }
    }
}

async fn handle(state: Arc<State>, n: proto::NotifyAiJob) {
    let task = n.task_id;
    let result = job(&state, &n).await;
    let (ct, body, units) = match result {
        Ok(out) => (out.content_type, out.body, out.units),
        Err(e) => {
            tracing::warn!(target: "node::worker", task, error = %e, "job failed");
            let body = serde_json::json!({ "status": e.status(), "message": e.to_string() });
            (
                crate::orchestrator::JOB_ERROR.to_owned(),
                Bytes::from(body.to_string()),
                0,
            )
        }
    };
    let url = format!(
        "{}{}",
        state.settings.orch.base(),
        crate::orchestrator::JOB_RESULTS_PATH
    );
    let sent = state
        .http
        .post(url)
        .header("Authorization", crate::orchestrator::TRANSCODER_AUTH)
        .header("Credentials", &state.settings.secret)
        .header("TaskId", task.to_string())
        .header(reel_jobs::wire::UNITS, units.to_string())
        .header("Content-Type", ct)
        .timeout(Duration::from_secs(30))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => {
            tracing::warn!(target: "node::worker", task, status = %r.status(), "the orchestrator refused the result")
        }
        Err(e) => {
            tracing::warn!(target: "node::worker", task, error = %e, "posting the result failed")
        }
    }
}

async fn job(state: &Arc<State>, n: &proto::NotifyAiJob) -> Result<reel_jobs::JobOutput, JobError> {
    let data = n
        .ai_job_data
        .as_ref()
        .ok_or_else(|| JobError::BadRequest("the task has no job data".into()))?;
    let v: serde_json::Value = serde_json::from_slice(&data.request_data)
        .map_err(|e| JobError::BadRequest(format!("task data: {e}")))?;
    let key = CapabilityKey::new(
        v["capability"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .ok_or_else(|| JobError::BadRequest("task data without a capability".into()))?,
        v["model"].as_str().unwrap_or_default(),
    );
    let (offer, slots) = state
        .offers
        .get(&key)
        .ok_or_else(|| JobError::UnknownModel {
            kind: data.pipeline.clone(),
            model: key.model.clone(),
        })?;
    if offer.kind.name() != data.pipeline {
        return Err(JobError::BadRequest(format!(
            "task for {} sent to the worker of {}",
            data.pipeline,
            offer.kind.name()
        )));
    }
    let url = v["input"].as_str().unwrap_or_default();
    // Inputs come only from the orchestrator we registered with.
    if !state.settings.orch.owns(url) {
        return Err(JobError::BadRequest(format!(
            "input URL {url} is not on the orchestrator {}",
            state.settings.orch
        )));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let resp = tokio::time::timeout_at(
        deadline,
        state
            .http
            .get(url)
            .header("Credentials", &state.settings.secret)
            .send(),
    )
    .await
    .map_err(|_| JobError::Failed("downloading the input timed out".into()))?
    .map_err(|e| JobError::Failed(format!("downloading the input: {e}")))?;
    if !resp.status().is_success() {
        return Err(JobError::Failed(format!(
            "downloading the input: HTTP {}",
            resp.status()
        )));
    }
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = crate::rpc::read_body(resp, offer.kind.max_request_bytes(), deadline)
        .await
        .map_err(|e| JobError::Failed(format!("downloading the input: {e}")))?;
    let _slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(|_| JobError::Busy("the worker is stopping".into()))?;
    let t0 = Instant::now();
    let out = tokio::time::timeout(
        state.settings.job_timeout,
        offer.worker.run(&key.model, JobRequest::new(ct, body)),
    )
    .await
    .map_err(|_| {
        JobError::Failed(format!("no result within {:?}", state.settings.job_timeout))
    })??;
    tracing::info!(target: "node::worker", kind = %offer.kind.name(), model = %key.model, units = out.units, ms = t0.elapsed().as_millis() as u64, "job done");
    Ok(out)
}
