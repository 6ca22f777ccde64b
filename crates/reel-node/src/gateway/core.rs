//! What a gateway is started with ([`GatewaySettings`]) and the shared state every part of
//! it holds ([`Core`]): settings, key, orchestrator source, payments, metrics, the pools
//! of its streams and kinds, and the segment events; with [`JobRunner`], the handle on it
//! that kinds' HTTP APIs get.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use reel_jobs::{JobKind, JobRequest};
use reel_media::{StreamName, VideoProfile};
use reel_net::EthSigner;
use reel_net::capabilities::Capabilities;
use reel_pm::PricePerPixel;
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

use super::discovery::{Candidate, OrchestratorSource};
use super::kinds::{JobKinds, JobReceipt, Jobs};
use super::metrics::Metrics;
use super::pool::Pool;
use super::selection::Weights;
use crate::NodeError;
use crate::payments::GatewayPayments;

/// Gateway settings (go-livepeer flag names in the CLI).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// RTMP ingest (`-rtmpAddr`); `None` turns RTMP off.
    pub rtmp_addr: Option<SocketAddr>,
    /// WHIP ingest at `POST /whip/<stream>` and WHEP playback at
    /// `POST /whep/<stream>/<rendition>` on the HTTP port (`--whip`).
    pub whip: bool,
    /// The token WHIP publishers must send as `Authorization: Bearer` (`--whip-token`).
    pub whip_token: Option<String>,
    /// The address WHIP and WHEP media go through, offered to peers as the ICE candidate
    /// (`--whip-ip`); by default the HTTP address's, or loopback when that is unspecified.
    pub whip_ip: Option<std::net::IpAddr>,
    /// HTTP push and HLS (`-httpAddr`).
    pub http_addr: SocketAddr,
    /// `/status` and `/metrics` (`-cliAddr`).
    pub cli_addr: Option<SocketAddr>,
    /// Serve `cli_addr` on an address other than loopback (`--cli-public`).
    pub cli_public: bool,
    /// Dial orchestrators whose service address (on chain, or in their answer) is not
    /// public: loopback, private, link-local and the like (`--allow-private-orchestrators`).
    /// `None` decides by where orchestrators come from: allowed for an `--orch-addr` list
    /// and on a development chain ([`DEVNET_CHAIN_IDS`](super::discovery::DEVNET_CHAIN_IDS)),
    /// refused on any other chain.
    pub allow_private_peers: Option<bool>,
    /// The ladder (`-transcodingOptions`).
    pub ladder: Vec<VideoProfile>,
    pub segment_length: Duration,
    /// Streams at once.
    pub max_streams: usize,
    /// Largest pushed segment.
    pub max_segment_bytes: usize,
    /// Body limits of BYOC requests (`POST /process/request/…`) and their answers.
    pub byoc: crate::byoc::ByocLimits,
    /// Tries per segment (`-maxAttempts`).
    pub max_attempts: u32,
    /// First discovery wait (`-discoveryTimeout`).
    pub discovery_timeout: Duration,
    /// Orchestrators asked per pool refresh.
    pub pool_size: usize,
    pub weights: Weights,
    /// Highest acceptable price (`-maxPricePerUnit` / `-pixelsPerUnit`); `None` = any.
    pub max_price: Option<PricePerPixel>,
    /// Decode and count every rendition (`-localVerify`).
    pub local_verify: bool,
    /// Keep every segment and a VOD playlist here.
    pub record_dir: Option<PathBuf>,
    /// Publish the source as a rendition too.
    pub include_source: bool,
    /// Request/response kinds of work this gateway buys.
    pub jobs: JobKinds,
    /// Highest acceptable price per (capability, model); model "default" covers the
    /// capability's other models (`--max-price-per-capability`).
    pub max_price_per_capability:
        std::collections::BTreeMap<reel_jobs::CapabilityKey, reel_pm::PricePerUnit>,
    /// Longest a job may take at one orchestrator.
    pub job_timeout: Duration,
    /// Public APIs of kinds, mounted on the HTTP port next to `POST /job/{kind}`.
    pub http_routes: Vec<RouteFactory>,
    /// Share of jobs whose kind can be checked by running them again (WebAssembly) that
    /// are re-run on a second orchestrator, and with a [`Self::verifier`], of segments it
    /// transcodes again (`--verify-rate`, 0 to 1).
    pub verify_rate: f64,
    /// An orchestrator this gateway trusts to transcode a sampled share of segments again
    /// (`--verifier`): a rendition whose pictures differ from the verifier's bans its
    /// orchestrator from the stream.
    pub verifier: Option<crate::rpc::ServiceUri>,
    /// Where the signed results of a disagreement are kept.
    pub evidence_dir: Option<PathBuf>,
}

impl GatewaySettings {
    /// The most this gateway pays per unit for (capability, model): its own cap, else the
    /// capability's "default" one; `None`: any price.
    pub fn price_cap(&self, key: &reel_jobs::CapabilityKey) -> Option<reel_pm::PricePerUnit> {
        self.max_price_per_capability
            .get(key)
            .or_else(|| {
                self.max_price_per_capability
                    .get(&reel_jobs::CapabilityKey::new(key.capability, "default"))
            })
            .copied()
    }

    pub fn new(http_addr: SocketAddr, ladder: Vec<VideoProfile>) -> Self {
        Self {
            rtmp_addr: None,
            whip: true,
            whip_token: None,
            whip_ip: None,
            http_addr,
            cli_addr: None,
            cli_public: false,
            allow_private_peers: None,
            ladder,
            segment_length: Duration::from_secs(2),
            max_streams: 10,
            max_segment_bytes: 64 << 20,
            byoc: crate::byoc::ByocLimits::default(),
            max_attempts: 3,
            discovery_timeout: Duration::from_millis(500),
            pool_size: 8,
            weights: Weights::default(),
            max_price: None,
            local_verify: true,
            record_dir: None,
            include_source: true,
            jobs: JobKinds::default(),
            max_price_per_capability: std::collections::BTreeMap::new(),
            job_timeout: Duration::from_secs(60),
            http_routes: Vec::new(),
            verify_rate: 0.0,
            verifier: None,
            evidence_dir: None,
        }
    }
}

/// What happened to a segment, for dashboards and the demo.
#[derive(Debug, Clone)]
pub struct SegmentEvent {
    pub stream: String,
    pub seq: u64,
    /// The orchestrator that delivered it (or the last one tried).
    pub orchestrator: String,
    pub address: Address,
    /// Why it was chosen.
    pub reason: String,
    pub attempts: u32,
    /// Segment in → renditions verified.
    pub latency: Duration,
    pub tickets: u32,
    /// EV of the tickets sent with it (wei).
    pub value: reel_types::Wei,
    /// Σ output pixels it was charged.
    pub pixels: u64,
    /// `Err` when every attempt failed.
    pub outcome: Result<(), String>,
}

pub(crate) struct Core {
    pub(super) settings: GatewaySettings,
    pub(super) signer: EthSigner,
    pub(super) source: Arc<dyn OrchestratorSource>,
    pub(super) payments: Option<Arc<GatewayPayments>>,
    pub(super) http: reqwest::Client,
    pub(super) metrics: Metrics,
    pub(super) job_caps: Capabilities,
    pub(super) streams: Mutex<HashMap<StreamName, Arc<tokio::sync::Mutex<Pool>>>>,
    /// Each stream's session with the trusted verifier.
    pub(super) verifier_pools: Mutex<HashMap<StreamName, Arc<tokio::sync::Mutex<Pool>>>>,
    /// Request/response kinds this gateway buys, and a pool per (capability, model).
    pub(super) jobs: Jobs,
    pub(super) candidates: tokio::sync::Mutex<Option<(Instant, Vec<Candidate>)>>,
    pub(super) events: broadcast::Sender<SegmentEvent>,
    /// Per-segment work, waited for at stop.
    pub(super) tasks: TaskTracker,
    /// The node's background tasks (own deposit, chain facts), for `/status` and `/healthz`.
    pub(super) health: Arc<crate::tasks::TaskHealth>,
    pub(super) started: Instant,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

/// How long the candidate list is reused before asking the source again.
pub(crate) const CANDIDATE_TTL: Duration = Duration::from_secs(60);

/// A handle to run jobs through a running gateway, for the HTTP APIs built on it.
#[derive(Debug, Clone)]
pub struct JobRunner(pub(crate) Arc<Core>);

impl JobRunner {
    pub async fn run_job(&self, kind: &str, request: JobRequest) -> Result<JobReceipt, NodeError> {
        self.0.run_job(kind, request).await
    }

    /// The kind named `name`, if this gateway buys it.
    pub fn kind(&self, name: &str) -> Option<Arc<dyn JobKind>> {
        self.0.jobs.kinds.get(name).cloned()
    }
}

/// Builds extra routes on the gateway's HTTP port once it runs (a kind's public API, such as
/// the AI pipelines on go-livepeer's paths).
#[derive(Clone)]
pub struct RouteFactory(pub Arc<dyn Fn(JobRunner) -> axum::Router + Send + Sync>);

impl std::fmt::Debug for RouteFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteFactory")
    }
}

/// A refusal of the gateway's public APIs, as `{"error":{"message":…}}`.
pub(super) fn json_error(
    status: axum::http::StatusCode,
    message: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        reel_jobs::wire::error_body(message),
    )
        .into_response()
}
