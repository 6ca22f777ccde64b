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
//!
//! Files, bottom-up: `pool.rs`, `discovery.rs`, `selection.rs`, `submit.rs`, `metrics.rs`;
//! `kinds.rs` (the kinds bought and their pools), `core.rs` ([`GatewaySettings`] and the
//! shared state every part holds), `status.rs` (`/status`); `dispatch.rs`, `transcode.rs`,
//! `jobs.rs`; this file starts it all ([`start`]) and holds the running gateway.

mod byoc;
mod core;
pub mod discovery;
mod dispatch;
mod jobs;
mod kinds;
mod metrics;
mod pool;
pub mod selection;
mod status;
pub mod submit;
mod transcode;
mod verifier;

pub use self::core::{GatewaySettings, JobRunner, RouteFactory, SegmentEvent};
pub use jobs::error_status;
pub use kinds::{JobKinds, JobPoolStatus, JobReceipt, Verification};
pub use pool::OrchStatus;
pub use status::{GatewayStatus, StreamStatus};
pub use transcode::Handler;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use reel_jobs::JobRequest;
use reel_media::hls::HlsSettings;
use reel_media::server::HttpSettings;
use reel_media::{
    HlsStore, MediaServer, PipelineSettings, RtmpServer, RtmpSettings, SegmentHandler,
    SegmenterSettings,
};
use reel_net::EthSigner;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::core::Core;
use crate::NodeError;
use crate::metrics::Registry;
use crate::payments::GatewayPayments;
use crate::service::Served;
use discovery::OrchestratorSource;
use kinds::Jobs;
use metrics::Metrics;

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
    /// Runs one request of the kind named `kind` through the network: checked by the kind,
    /// sent to an orchestrator that offers its model, paid, verified and debited.
    pub async fn run_job(&self, kind: &str, request: JobRequest) -> Result<JobReceipt, NodeError> {
        self.core.run_job(kind, request).await
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
    if let Some(addr) = settings.cli_addr {
        crate::service::check_cli_addr(addr, settings.cli_public)?;
    }
    let metrics = Metrics::new(&registry);
    let (events, _) = broadcast::channel(256);
    let core = Arc::new(Core {
        job_caps: crate::caps::job_capabilities(&settings.ladder),
        jobs: Jobs::new(settings.jobs.clone()),
        http: crate::rpc::http_client()?,
        settings,
        signer,
        source,
        payments,
        metrics,
        streams: Mutex::default(),
        verifier_pools: Mutex::default(),
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
    let media_ip = s.whip_ip.unwrap_or(match s.http_addr.ip() {
        ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    });
    let whep = s.whip.then(|| {
        reel_media::whep::WhepServer::new(
            reel_media::whep::WhepSettings {
                media_ip,
                ..Default::default()
            },
            Arc::clone(&hls),
            shutdown.clone(),
        )
    });
    let whip = s.whip.then(|| {
        reel_media::whip::WhipServer::new(
            reel_media::whip::WhipSettings {
                segmenter: SegmenterSettings {
                    target: s.segment_length,
                    ..Default::default()
                },
                media_ip,
                bearer: s.whip_token.clone(),
                max_sessions: s.max_streams,
                ..Default::default()
            },
            events_tx.clone(),
            shutdown.clone(),
        )
    });
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
        let runner = JobRunner(Arc::clone(&core));
        let mut extra = jobs::routes(runner.clone()).merge(byoc::routes(Arc::clone(&core)));
        for f in &core.settings.http_routes {
            extra = extra.merge((f.0)(runner.clone()));
        }
        if let Some(whip) = &whip {
            extra = extra.merge(whip.router());
        }
        if let Some(whep) = &whep {
            extra = extra.merge(whep.router());
        }
        extra
    })?;
    let cli = match s.cli_addr {
        Some(addr) => {
            let l = crate::service::bind_cli(addr, s.cli_public).await?;
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
