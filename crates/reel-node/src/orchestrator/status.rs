//! The `/status` document of an orchestrator.

use super::registry;
use super::state::{Inner, SessionStatus};

/// The status document at `/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrchestratorStatus {
    pub role: &'static str,
    pub version: &'static str,
    pub address: String,
    pub service_uri: String,
    pub uptime_seconds: u64,
    pub max_sessions: usize,
    pub price: String,
    pub local_transcoding: bool,
    /// Local work runs in worker processes (`--transcode-in-child`).
    pub transcode_in_child: bool,
    pub sessions: Vec<SessionStatus>,
    pub transcoders: Vec<registry::RemoteStatus>,
    /// Request/response work offered: kind, model, unit, price, capacity and use.
    pub jobs: Vec<crate::jobs::OfferStatus>,
    /// BYOC capabilities registered by external workers: URL, capacity, use, price per
    /// second.
    pub byoc: Vec<crate::byoc::registry::ByocStatus>,
    pub payments: Option<serde_json::Value>,
    /// The background tasks (keeper, redeemer, watchers, pollers, probes): runs, failures
    /// in a row, last error, raised conditions.
    pub tasks: serde_json::Value,
}

pub(super) fn status(inner: &Inner) -> OrchestratorStatus {
    OrchestratorStatus {
        role: "orchestrator",
        version: crate::caps::VERSION,
        address: inner.signer.address().to_checksum(None),
        service_uri: inner.uri.base(),
        uptime_seconds: inner.started.elapsed().as_secs(),
        max_sessions: inner.settings.max_sessions,
        price: inner.settings.price.to_string(),
        local_transcoding: inner.settings.local_transcode,
        transcode_in_child: inner.work.workers.is_some(),
        sessions: inner.sessions_status(),
        transcoders: inner.work.remotes.status(),
        jobs: inner.offers.status(),
        byoc: inner.byoc.status(),
        payments: inner.payments.as_ref().map(|p| p.status()),
        tasks: inner.tasks.health().json(),
    }
}
