//! `reel gateway`: buys work from orchestrators. Every kind of work takes the same path
//! (`dispatch.rs`): discover → filter by capability, model and price → select → pay →
//! submit → verify → debit → score → fail over.
//!
//! - Transcoding (`transcode.rs`): RTMP and HTTP push come in through the media engine's
//!   ingest (`reel_media::RtmpServer`, `MediaServer`); each segment goes to the
//!   [`Handler`], which dispatches it from its stream's pool and hands the verified
//!   renditions back to HLS. The wire is `submit.rs`.
//! - Request/response kinds (`jobs.rs`): [`RunningGateway::run_job`] checks the request
//!   with the kind, then dispatches it from the pool of its (capability, model).
//!
//! A pool (`pool.rs`) holds, as go-livepeer's session pool does, the orchestrators that
//! answered `GetOrchestrator`, each with its own auth token, price and ticket params; a
//! latency score per (orchestrator, capability); which one is current; and which are
//! suspended (for a number of pool refreshes after a failure) or banned (a verification
//! failure: never again in that pool). See `docs/architecture.md`.

pub mod discovery;
mod dispatch;
mod jobs;
mod pool;
pub mod selection;
pub mod submit;
mod transcode;

pub use jobs::{JobKinds, JobPoolStatus, JobReceipt, JobRunner, RouteFactory, error_status};
pub use transcode::Handler;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use reel_media::hls::HlsSettings;
use reel_media::server::HttpSettings;
use reel_media::{
    HlsStore, MediaServer, PipelineSettings, RtmpServer, RtmpSettings, SegmentHandler,
    SegmenterSettings, StreamName, VideoProfile,
};
use reel_net::EthSigner;
use reel_net::capabilities::Capabilities;
use reel_pm::PricePerPixel;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::NodeError;
use crate::metrics::{Counter, CounterVec, FloatCounter, Gauge, Histogram, Registry};
use crate::payments::GatewayPayments;
use crate::service::Served;
use discovery::{Candidate, OrchestratorSource};
use pool::Pool;
use selection::Weights;

/// Gateway settings (go-livepeer flag names in the CLI).
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// RTMP ingest (`-rtmpAddr`); `None` turns RTMP off.
    pub rtmp_addr: Option<SocketAddr>,
    /// HTTP push and HLS (`-httpAddr`).
    pub http_addr: SocketAddr,
    /// `/status` and `/metrics` (`-cliAddr`).
    pub cli_addr: Option<SocketAddr>,
    /// The ladder (`-transcodingOptions`).
    pub ladder: Vec<VideoProfile>,
    pub segment_length: Duration,
    /// Streams at once.
    pub max_streams: usize,
    /// Largest pushed segment.
    pub max_segment_bytes: usize,
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
    pub jobs: jobs::JobKinds,
    /// Highest acceptable price per (capability, model); model "default" covers the
    /// capability's other models (`--max-price-per-capability`).
    pub max_price_per_capability:
        std::collections::BTreeMap<reel_jobs::CapabilityKey, reel_pm::PricePerUnit>,
    /// Longest a job may take at one orchestrator.
    pub job_timeout: Duration,
    /// Public APIs of kinds, mounted on the HTTP port next to `POST /job/{kind}`.
    pub http_routes: Vec<jobs::RouteFactory>,
}

impl GatewaySettings {
    pub fn new(http_addr: SocketAddr, ladder: Vec<VideoProfile>) -> Self {
        Self {
            rtmp_addr: None,
            http_addr,
            cli_addr: None,
            ladder,
            segment_length: Duration::from_secs(2),
            max_streams: 10,
            max_segment_bytes: 64 << 20,
            max_attempts: 3,
            discovery_timeout: Duration::from_millis(500),
            pool_size: 8,
            weights: Weights::default(),
            max_price: None,
            local_verify: true,
            record_dir: None,
            include_source: true,
            jobs: jobs::JobKinds::default(),
            max_price_per_capability: std::collections::BTreeMap::new(),
            job_timeout: Duration::from_secs(60),
            http_routes: Vec::new(),
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

#[derive(Debug)]
struct Metrics {
    registry: Arc<Registry>,
    source_appeared: Arc<Counter>,
    transcoded: Arc<Counter>,
    failed: Arc<Counter>,
    overall_latency: Arc<Histogram>,
    swaps: Arc<Counter>,
    discovery_errors: Arc<Counter>,
    attempt_failures: Arc<CounterVec>,
    verification_failures: Arc<Counter>,
    tickets_sent: Arc<Counter>,
    ticket_value_sent: Arc<FloatCounter>,
    streams: Arc<Gauge>,
    segments_by_orch: Arc<CounterVec>,
}

pub(crate) struct Core {
    settings: GatewaySettings,
    signer: EthSigner,
    source: Arc<dyn OrchestratorSource>,
    payments: Option<Arc<GatewayPayments>>,
    http: reqwest::Client,
    metrics: Metrics,
    job_caps: Capabilities,
    streams: Mutex<HashMap<StreamName, Arc<tokio::sync::Mutex<Pool>>>>,
    /// Request/response kinds this gateway buys, and a pool per (capability, model).
    jobs: jobs::Jobs,
    candidates: tokio::sync::Mutex<Option<(Instant, Vec<Candidate>)>>,
    events: broadcast::Sender<SegmentEvent>,
    /// Per-segment work, waited for at stop.
    tasks: TaskTracker,
    /// The node's background tasks (own deposit, chain facts), for `/status` and `/healthz`.
    health: Arc<crate::tasks::TaskHealth>,
    started: Instant,
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

/// What `/status` shows of a stream.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamStatus {
    pub stream: String,
    pub segments: u64,
    pub current: Option<String>,
    pub orchestrators: Vec<OrchStatus>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OrchStatus {
    pub uri: String,
    pub address: String,
    pub price: String,
    pub latency_score: Option<f64>,
    pub suspended: bool,
    pub banned: bool,
}

fn orch_status(pool: &Pool, capability: u32) -> Vec<OrchStatus> {
    pool.known()
        .into_iter()
        .map(|u| {
            let s = pool.sessions.get(u);
            OrchStatus {
                uri: u.to_string(),
                address: s.map(|s| s.d.address.to_checksum(None)).unwrap_or_default(),
                price: s.map(|s| s.d.price.to_string()).unwrap_or_default(),
                latency_score: pool.score(u, capability),
                suspended: pool.is_suspended(u),
                banned: pool.banned.contains(u),
            }
        })
        .collect()
}

/// The gateway's `/status` document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GatewayStatus {
    pub role: &'static str,
    pub version: &'static str,
    pub address: String,
    pub uptime_seconds: u64,
    pub payments: bool,
    pub ladder: Vec<String>,
    pub streams: Vec<StreamStatus>,
    /// Request/response work bought, per (capability, model).
    pub jobs: Vec<jobs::JobPoolStatus>,
    /// The background tasks: runs, failures in a row, last error.
    pub tasks: serde_json::Value,
}

impl Core {
    async fn status(&self) -> GatewayStatus {
        let slots: Vec<(StreamName, Arc<tokio::sync::Mutex<Pool>>)> = self
            .streams
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect())
            .unwrap_or_default();
        let mut streams = Vec::new();
        for (name, slot) in slots {
            // A stream busy with a segment is shown by what is known without waiting.
            let Ok(st) = slot.try_lock() else {
                streams.push(StreamStatus {
                    stream: name.to_string(),
                    segments: 0,
                    current: None,
                    orchestrators: Vec::new(),
                });
                continue;
            };
            streams.push(StreamStatus {
                stream: name.to_string(),
                segments: st.jobs,
                current: st.current.as_ref().map(ToString::to_string),
                orchestrators: orch_status(&st, crate::jobs::transcode::CAPABILITY),
            });
        }
        GatewayStatus {
            role: "gateway",
            version: crate::caps::VERSION,
            address: self.signer.address().to_checksum(None),
            uptime_seconds: self.started.elapsed().as_secs(),
            payments: self.payments.is_some(),
            ladder: self
                .settings
                .ladder
                .iter()
                .map(|p| p.name.clone())
                .collect(),
            streams,
            jobs: self.jobs.status().await,
            tasks: self.health.json(),
        }
    }
}

/// A running gateway.
#[derive(Debug)]
pub struct RunningGateway {
    core: Arc<Core>,
    rtmp: Option<RtmpServer>,
    http: reel_media::HttpServer,
    cli: Option<Served>,
    pipeline: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

impl RunningGateway {
    pub fn rtmp_addr(&self) -> Option<SocketAddr> {
        self.rtmp.as_ref().map(RtmpServer::local_addr)
    }
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }
    pub fn cli_addr(&self) -> Option<SocketAddr> {
        self.cli.as_ref().map(Served::local_addr)
    }
    pub fn address(&self) -> Address {
        self.core.signer.address()
    }
    /// Every segment's outcome, as it happens.
    pub fn events(&self) -> broadcast::Receiver<SegmentEvent> {
        self.core.events.subscribe()
    }
    /// The segment handler (for tests that drive segments directly).
    pub fn handler(&self) -> Handler {
        Handler(Arc::clone(&self.core))
    }
    pub async fn status(&self) -> GatewayStatus {
        self.core.status().await
    }
    pub fn metrics(&self) -> String {
        self.core.metrics.registry.render()
    }
    /// Stops ingest, finishes the streams and waits.
    pub async fn stop(self) {
        self.shutdown.cancel();
        if let Some(r) = self.rtmp {
            r.join().await;
        }
        let _ = self.pipeline.await;
        self.http.join().await;
        if let Some(c) = self.cli {
            c.join().await;
        }
        self.core.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.core.tasks.wait()).await;
    }
}

/// Starts a gateway: ingest, the segment handler, HLS, and the CLI port.
pub async fn start(
    settings: GatewaySettings,
    signer: EthSigner,
    source: Arc<dyn OrchestratorSource>,
    payments: Option<Arc<GatewayPayments>>,
    registry: Arc<Registry>,
    tasks: impl Into<crate::tasks::Tasks>,
) -> Result<RunningGateway, NodeError> {
    let tasks: crate::tasks::Tasks = tasks.into();
    let shutdown = tasks.shutdown_token().clone();
    tasks.health().register_metrics(&registry);
    if settings.ladder.is_empty() {
        return Err(NodeError::Config(
            "the ladder is empty (--transcoding-options)".into(),
        ));
    }
    if settings.max_attempts == 0 {
        return Err(NodeError::Config(
            "--max-attempts must be at least 1".into(),
        ));
    }
    let r = &registry;
    let metrics = Metrics {
        source_appeared: r.counter(
            "livepeer_segment_source_appeared_total",
            "Segments ingested",
        ),
        transcoded: r.counter(
            "livepeer_segment_transcoded_total",
            "Segments transcoded and verified",
        ),
        failed: r.counter(
            "livepeer_segment_transcode_failed_total",
            "Segments that failed every attempt",
        ),
        overall_latency: r.histogram(
            "livepeer_transcode_overall_latency_seconds",
            "Segment in to renditions verified",
            crate::metrics::LATENCY_BUCKETS,
        ),
        swaps: r.counter(
            "livepeer_orchestrator_swaps",
            "Times a stream moved to another orchestrator",
        ),
        discovery_errors: r.counter(
            "livepeer_discovery_errors_total",
            "GetOrchestrator failures",
        ),
        attempt_failures: r.counter_vec(
            "reel_segment_attempt_failures_total",
            "Failed attempts, by kind",
            &["kind"],
        ),
        verification_failures: r.counter(
            "reel_verification_failures_total",
            "Results refused by signature or pixel checks",
        ),
        tickets_sent: r.counter("livepeer_tickets_sent", "Tickets sent"),
        ticket_value_sent: r.float_counter(
            "livepeer_ticket_value_sent",
            "Expected value of tickets sent (wei)",
        ),
        streams: r.gauge(
            "livepeer_current_sessions_total",
            "Streams being transcoded",
        ),
        segments_by_orch: r.counter_vec(
            "reel_segments_by_orchestrator_total",
            "Segments delivered, by orchestrator",
            &["orchestrator"],
        ),
        registry: Arc::clone(&registry),
    };
    let (events, _) = broadcast::channel(256);
    let core = Arc::new(Core {
        job_caps: crate::caps::job_capabilities(&settings.ladder),
        jobs: jobs::Jobs::new(settings.jobs.clone()),
        http: crate::rpc::http_client()?,
        settings,
        signer,
        source,
        payments,
        metrics,
        streams: Mutex::default(),
        candidates: tokio::sync::Mutex::default(),
        events,
        tasks: TaskTracker::new(),
        health: Arc::clone(tasks.health()),
        started: Instant::now(),
    });
    let handler: Arc<dyn SegmentHandler> = Arc::new(Handler(Arc::clone(&core)));
    let s = &core.settings;
    let hls = Arc::new(HlsStore::new(HlsSettings {
        record_dir: s.record_dir.clone(),
        ..Default::default()
    }));
    let http_listener = crate::service::bind(s.http_addr, "--http-addr").await?;
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(64);
    let rtmp = match s.rtmp_addr {
        Some(addr) => {
            let l = crate::service::bind(addr, "--rtmp-addr").await?;
            Some(RtmpServer::spawn(
                l,
                RtmpSettings {
                    segmenter: SegmenterSettings {
                        target: s.segment_length,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                events_tx,
                shutdown.clone(),
            )?)
        }
        None => {
            drop(events_tx);
            None
        }
    };
    let pipeline = tokio::spawn(reel_media::run_pipeline(
        events_rx,
        Arc::clone(&handler),
        Arc::clone(&hls),
        PipelineSettings {
            include_source: s.include_source,
            ..PipelineSettings::default()
        },
        shutdown.clone(),
    ));
    let http = MediaServer::new(
        HttpSettings {
            max_segment_bytes: s.max_segment_bytes,
            include_source: s.include_source,
            ..Default::default()
        },
        handler,
        hls,
    )
    .spawn_with(http_listener, shutdown.clone(), {
        let runner = jobs::JobRunner(Arc::clone(&core));
        let mut extra = jobs::routes(runner.clone());
        for f in &core.settings.http_routes {
            extra = extra.merge((f.0)(runner.clone()));
        }
        extra
    })?;
    let cli = match s.cli_addr {
        Some(addr) => {
            let l = crate::service::bind(addr, "--cli-addr").await?;
            Some(
                crate::service::serve(
                    l,
                    cli_routes(Arc::clone(&core)),
                    Default::default(),
                    shutdown.clone(),
                )
                .map_err(|e| NodeError::io("serving the CLI port", e))?,
            )
        }
        None => None,
    };
    tracing::info!(target: "node::gateway", address = %core.signer.address(), http = %http.local_addr(), "gateway serving");
    Ok(RunningGateway {
        core,
        rtmp,
        http,
        cli,
        pipeline,
        shutdown,
    })
}

fn cli_routes(core: Arc<Core>) -> axum::Router {
    use axum::extract::State;
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/status",
            get(|State(c): State<Arc<Core>>| async move { axum::Json(c.status().await) }),
        )
        .route(
            "/metrics",
            get(|State(c): State<Arc<Core>>| async move { c.metrics.registry.render() }),
        )
        .route(
            "/healthz",
            get(|State(c): State<Arc<Core>>| async move {
                let problems = c.health.problems();
                let doc = serde_json::json!({
                    "healthy": problems.is_empty(),
                    "reason": (!problems.is_empty()).then(|| problems.join("; ")),
                    "tasks": c.health.json(),
                });
                let status = if problems.is_empty() {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                };
                (status, axum::Json(doc))
            }),
        )
        .with_state(core)
}
