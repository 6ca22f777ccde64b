//! The network roles of reel: **orchestrator**, remote **transcoder** and **gateway**,
//! wired from the wire crate (`reel-net`), the payment crate (`reel-pm`), the media engine
//! (`reel-media`) and the chain client (`reel-chain`).
//!
//! ```text
//!  RTMP / HTTP push ─▶ gateway ─ GetOrchestrator (gRPC) ──────────▶ orchestrator ─ NotifySegment (gRPC stream) ─▶ transcoder
//!                      │  selection: stake / price / random,       │  auth token, capacity,                    │  GET input,
//!                      │  latency score, suspension, 3 attempts    │  tickets → SQLite before credit,          │  media session,
//!                      │  POST /segment + Livepeer-Payment ───────▶│  local session or remote transcoder ◀─────┘  POST /transcodeResults
//!  HLS ◀───────────────┘◀── TranscodeResult (signed) + GET renditions; signature and decoded pixel counts verified
//! ```
//!
//! Where to look:
//! - [`orchestrator`]: the service port (gRPC + HTTP on one listener, TLS or h2c; routers in
//!   `orchestrator/routes.rs`), the `/segment` path (`orchestrator/segment.rs`), capacity and
//!   sessions (`orchestrator/state.rs`), rendition store, remote transcoder dispatch
//!   ([`orchestrator::work`]), local transcoding in supervised worker processes with
//!   poison-stream refusal ([`orchestrator::workers`], docs/faults.md#poison-streams),
//!   segment-URL policy against SSRF ([`orchestrator::fetch`]).
//! - [`transcoder`]: registers with an orchestrator, reconnects with backoff, transcodes
//!   tasks and posts results; [`worker`]: the same for job workers of request/response
//!   kinds (AI inference, compute), all in the orchestrator's one worker registry
//!   ([`orchestrator::registry`]: `registry/mod.rs` for transcoders, `registry/jobs.rs` for
//!   job workers).
//! - [`gateway`]: a `reel_media::SegmentHandler` that discovers orchestrators
//!   ([`gateway::discovery`]), selects one per segment ([`gateway::selection`]), pays,
//!   submits, verifies ([`verify`]) and fails over; its settings and shared state are in
//!   `gateway/core.rs`.
//! - [`payments`]: the seam to the TicketBroker ([`payments::BrokerHandle`],
//!   `payments/broker.rs`), the orchestrator's side (`payments/recipient.rs`, with the ticket
//!   store's health: probe, `/healthz`, docs/faults.md#ticket-store-unavailable) and its
//!   redemption (`payments/settlement.rs`), the gateway's side (`payments/sender.rs`);
//!   [`chain`]: chain facts, the on-chain orchestrator pool, service-URI registration and the
//!   round keeper.
//! - [`service`], [`tls`], [`rpc`]: listeners and clients; [`metrics`], [`ratelimit`]:
//!   Prometheus exposition and per-client limits.
//! - [`node`]: the builders that start a role with everything around it (payments, chain
//!   facts, watcher, redeemer, probe, keeper) and own its tasks; every command, the demo,
//!   the benches and the tests start roles through them.
//! - [`tasks`]: every background task of a node, named, cancellable at any await, its
//!   failures in `/status`, `/healthz` and the metrics.
//! - [`jobs`]: the kinds of work this node runs through the job pipeline; the gateway's
//!   dispatch path is `gateway/dispatch.rs` (jobs: `gateway/jobs.rs`, their pools
//!   `gateway/kinds.rs`), the orchestrator's admission path `orchestrator/admission.rs`
//!   (`check_request`) and `orchestrator/jobs.rs`.
//!
//! For a change, open:
//! - **a new kind of job**: a folder under `src/jobs/` with its `reel_jobs::JobKind` and
//!   `JobWorker` (see `jobs/transcode.rs` and the test kind in `tests/it/jobs.rs`), an
//!   `Offer` in `OrchestratorSettings::jobs` (`orchestrator/settings.rs`) and the kind in
//!   `GatewaySettings::jobs` (`gateway/core.rs`);
//! - **a new price unit**: the kind's `unit()` and `units_used()`; prices are
//!   `reel_types::PricePerUnit`, balances `reel_pm::balance` — nothing here changes;
//! - **a new background task**: `tasks.spawn(name, …)` in `node.rs`, which owns every task;
//! - **a new metric**: a field in `orchestrator/metrics.rs` (`OrchMetrics`) or
//!   `gateway/metrics.rs` (`Metrics`), registered in its `new`; the registry and the metric
//!   types are `metrics.rs` (go-livepeer's name where it has one);
//! - **a helper several modules share**: `util.rs` (below every module, so no cycle).

pub mod byoc;
pub mod caps;
pub mod chain;
mod error;
pub mod gateway;
pub mod jobs;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod orchestrator;
pub mod payments;
pub mod profiles;
pub mod ratelimit;
pub mod rpc;
pub mod service;
pub mod tasks;
pub mod tls;
pub mod transcoder;
mod util;
pub mod verify;
pub mod worker;

pub use error::{FailureKind, NodeError};

/// A fresh random signing key, for roles that run without an account (off-chain).
pub fn ephemeral_signer() -> Result<reel_net::EthSigner, NodeError> {
    for _ in 0..4 {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| NodeError::Config(format!("no randomness for a key: {e}")))?;
        if let Ok(s) = reel_net::EthSigner::from_bytes(&key) {
            return Ok(s);
        }
    }
    Err(NodeError::Config("could not draw a valid key".into()))
}
