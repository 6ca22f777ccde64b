//! The orchestrator's gRPC services: `Orchestrator` for gateways, and for its remote
//! workers (all in one registry, `registry/`) `Transcoder` for transcoders and
//! `AIWorker` for job workers of request/response kinds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ConnectInfo;
use reel_net::proto;
use reel_net::proto::ai_worker_server::{AiWorker, AiWorkerServer};
use reel_net::proto::orchestrator_server::{Orchestrator, OrchestratorServer};
use reel_net::proto::transcoder_server::{Transcoder, TranscoderServer};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::state::Inner;
use crate::util::unix_now;

/// Largest gRPC message accepted from a peer.
const MAX_MESSAGE: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Service(Arc<Inner>);

pub(super) fn routes(inner: Arc<Inner>) -> axum::Router {
    let svc = Service(inner);
    tonic::service::Routes::new(
        OrchestratorServer::new(svc.clone()).max_decoding_message_size(MAX_MESSAGE),
    )
    .add_service(TranscoderServer::new(svc.clone()).max_decoding_message_size(MAX_MESSAGE))
    .add_service(AiWorkerServer::new(svc).max_decoding_message_size(MAX_MESSAGE))
    .into_axum_router()
}

fn peer<T>(req: &Request<T>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

impl Service {
    fn limit<T>(&self, req: &Request<T>) -> Result<(), Status> {
        if let Some(p) = peer(req)
            && !self.0.limiter.allow(p.ip(), Instant::now())
        {
            self.0.metrics.rate_limited.inc();
            return Err(Status::resource_exhausted("rate limit: slow down"));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl Orchestrator for Service {
    async fn get_orchestrator(
        &self,
        request: Request<proto::OrchestratorRequest>,
    ) -> Result<Response<proto::OrchestratorInfo>, Status> {
        self.limit(&request)?;
        let req = request.into_inner();
        // Off-chain gateways have no account (go-livepeer's send an empty address and
        // signature); without payments their sessions are anonymous. A signed request is
        // always checked, and with payments one is required.
        let anonymous = self.0.payments.is_none() && req.address.is_empty() && req.sig.is_empty();
        let gateway = if anonymous {
            alloy_primitives::Address::ZERO
        } else {
            reel_net::signed::verify_orchestrator_request(&req).map_err(|e| {
                Status::permission_denied(format!("invalid orchestrator request: {e}"))
            })?
        };
        // Transcoding sessions are capped; request/response work has its capacity per
        // (capability, model), checked per job.
        let mut transcoding = true;
        if let Some(caps) = &req.capabilities {
            let job = reel_net::capabilities::Capabilities::from_proto(caps)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let (ours, _) = self
                .0
                .capabilities()
                .map_err(|e| Status::internal(e.to_string()))?;
            job.fits(Some(&ours))
                .map_err(|e| Status::failed_precondition(format!("capabilities: {e}")))?;
            transcoding = job.offered.contains_id(crate::jobs::transcode::CAPABILITY);
        }
        if transcoding
            && !req.ignore_capacity_check
            && self.0.lock_sessions().active_count() >= self.0.settings.max_sessions
        {
            return Err(Status::resource_exhausted("OrchestratorCapped"));
        }
        let token = self.0.new_session(gateway);
        tracing::debug!(target: "node::orchestrator", %gateway, session = %token.session_id, "issued a session");
        let info = self
            .0
            .info(gateway, token)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(info))
    }

    async fn end_transcoding_session(
        &self,
        request: Request<proto::EndTranscodingSessionRequest>,
    ) -> Result<Response<proto::EndTranscodingSessionResponse>, Status> {
        self.limit(&request)?;
        let req = request.into_inner();
        reel_net::signed::verify_auth_token(
            &self.0.auth_secret,
            req.auth_token.as_ref(),
            unix_now(),
        )
        .map_err(|e| Status::permission_denied(e.to_string()))?;
        if let Some(t) = &req.auth_token {
            tracing::info!(target: "node::orchestrator", session = %t.session_id, "session ended by the gateway");
            self.0.end_session(&t.session_id);
        }
        Ok(Response::new(proto::EndTranscodingSessionResponse {}))
    }

    async fn ping(
        &self,
        request: Request<proto::PingPong>,
    ) -> Result<Response<proto::PingPong>, Status> {
        self.limit(&request)?;
        let req = request.into_inner();
        if req.value.len() > 1024 {
            return Err(Status::invalid_argument("ping value larger than 1 KiB"));
        }
        Ok(Response::new(reel_net::signed::ping_response(
            &self.0.signer,
            &req,
        )))
    }
}

#[tonic::async_trait]
impl Transcoder for Service {
    type RegisterTranscoderStream = ReceiverStream<Result<proto::NotifySegment, Status>>;

    async fn register_transcoder(
        &self,
        request: Request<proto::RegisterRequest>,
    ) -> Result<Response<Self::RegisterTranscoderStream>, Status> {
        self.limit(&request)?;
        let from = peer(&request).map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let req = request.into_inner();
        if self.0.settings.orch_secret.is_none() && self.0.worker_secrets.is_empty() {
            return Err(Status::unimplemented(
                "this orchestrator takes no remote transcoders (it has no --orch-secret)",
            ));
        }
        // Constant time: the comparison must not tell how many leading bytes matched.
        let Some(origin) = self.0.transcoder_kind(req.secret.as_bytes()) else {
            tracing::warn!(target: "node::orchestrator", peer = %from, "transcoder registration with a wrong secret");
            return Err(Status::unauthenticated("invalid secret"));
        };
        if req.capacity <= 0 || req.capacity > 10_000 {
            return Err(Status::invalid_argument(format!(
                "capacity {} must be 1..=10000",
                req.capacity
            )));
        }
        let capacity = u32::try_from(req.capacity).unwrap_or(1);
        let (id, rx) = self.0.work.remotes.register(from.clone(), capacity, origin);
        tracing::info!(target: "node::orchestrator", transcoder = id, peer = %from, capacity, ?origin, "transcoder registered");
        self.0.refresh_transcoder_metrics();
        self.watch_worker(id, "transcoder");
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

impl Service {
    /// When the worker goes away its stream is dropped and the sender closes: then it
    /// leaves the registry and its tasks fail over.
    fn watch_worker(&self, id: u64, what: &'static str) {
        if let Some(closed) = self.0.work.remotes.closed(id) {
            let inner = Arc::clone(&self.0);
            self.0.tasks.tracker().spawn(async move {
                closed.await;
                tracing::warn!(target: "node::orchestrator", worker = id, what, "worker disconnected");
                inner.work.remotes.unregister(id);
                inner.refresh_transcoder_metrics();
            });
        }
    }
}

#[tonic::async_trait]
impl AiWorker for Service {
    type RegisterAIWorkerStream = ReceiverStream<Result<proto::NotifyAiJob, Status>>;

    async fn register_ai_worker(
        &self,
        request: Request<proto::RegisterAiWorkerRequest>,
    ) -> Result<Response<Self::RegisterAIWorkerStream>, Status> {
        self.limit(&request)?;
        let from = peer(&request).map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let req = request.into_inner();
        if self.0.settings.orch_secret.is_none() {
            return Err(Status::unimplemented(
                "this orchestrator takes no remote workers (it has no --orch-secret)",
            ));
        }
        if self.0.transcoder_kind(req.secret.as_bytes()) != Some(super::registry::Origin::Remote) {
            tracing::warn!(target: "node::orchestrator", peer = %from, "worker registration with a wrong secret");
            return Err(Status::unauthenticated("invalid secret"));
        }
        let caps = reel_net::capabilities::Capabilities::from_proto(
            req.capabilities
                .as_ref()
                .unwrap_or(&proto::Capabilities::default()),
        )
        .map_err(|e| Status::invalid_argument(format!("capabilities: {e}")))?;
        let capacity: u32 = caps
            .models
            .values()
            .flat_map(|m| m.values())
            .map(|m| m.capacity.max(1))
            .sum();
        if capacity == 0 || capacity > 10_000 {
            return Err(Status::invalid_argument(format!(
                "a worker must announce 1..=10000 slots over its models, not {capacity}"
            )));
        }
        let models = caps.models.values().map(|m| m.len()).sum::<usize>();
        let (id, rx) = self
            .0
            .work
            .remotes
            .register_job_worker(from.clone(), capacity, caps);
        tracing::info!(target: "node::orchestrator", worker = id, peer = %from, capacity, models, "job worker registered");
        self.watch_worker(id, "job worker");
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
