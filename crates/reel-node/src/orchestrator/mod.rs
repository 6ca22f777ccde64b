//! `reel orchestrator`: sells transcoding.
//!
//! One service port (see [`crate::service`]) serves gRPC — `Orchestrator.GetOrchestrator`,
//! `EndTranscodingSession`, `Ping` for gateways and `Transcoder.RegisterTranscoder` for
//! remote transcoders — and HTTP: `POST /segment`, `POST /payment`, `POST
//! /transcodeResults` (transcoder callbacks), `GET /results/…` (renditions for the gateway)
//! and `GET /transcoder/input/…` (segments for transcoders). `/status`, `/metrics` and
//! `/healthz` (`health.rs`: red while the ticket store refuses writes,
//! docs/faults.md#ticket-store-unavailable) are on the separate CLI port (localhost by default), as
//! in go-livepeer.
//!
//! A segment's path: rate limit → headers decoded and bounded → auth token (HMAC, constant
//! time) → segment signature by the session's gateway → capabilities → capacity
//! (`OrchestratorCapped` / `OrchestratorBusy`) → a stream that crashed worker processes
//! refused (see docs/faults.md#poison-streams) → payment (tickets stored before credit) → balance →
//! body (inline, or fetched from an allowed public URL) → body hash → **200** → transcode
//! ([`work`]: remote transcoders, then locally, in supervised worker processes
//! ([`workers`]) or in this one) → renditions stored for download → result signed →
//! session debited → `TranscodeResult`.
//!
//! Files, bottom-up: `settings.rs` ([`OrchestratorSettings`]), `metrics.rs`, `output.rs`
//! (what a transcode yields, or why it failed), `state.rs` (the shared state every handler
//! holds: sessions, auth tokens, results), `status.rs` (`/status`); `admission.rs`
//! (`check_request`, shared by every kind), `segment.rs` (`/segment` and `/results`),
//! `payment.rs` (`/payment`), `callbacks.rs` (what transcoders and job workers call back),
//! `jobs.rs` (request/response kinds), `grpc.rs`, `health.rs`; `routes.rs` assembles the
//! routers; this file starts it all ([`start`]) and holds the running node.

mod admission;
mod byoc;
mod callbacks;
pub(crate) mod engines;
#[cfg(feature = "test-hooks")]
mod faults;
pub mod fetch;
mod grpc;
mod health;
mod jobs;
mod metrics;
mod output;
mod payment;
pub mod registry;
mod routes;
mod segment;
mod settings;
mod state;
mod status;
pub mod work;
pub mod workers;

pub use callbacks::{JOB_ERROR, JOB_RESULTS_PATH, TRANSCODER_AUTH, TRANSCODING_ERROR};
pub use settings::OrchestratorSettings;
pub use state::{AUTH_TOKEN_VALIDITY, SessionStatus};
pub use status::OrchestratorStatus;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use reel_net::EthSigner;
use tokio_util::sync::CancellationToken;

use crate::NodeError;
use crate::metrics::Registry;
use crate::payments::OrchPayments;
use crate::ratelimit::RateLimiter;
use crate::rpc::ServiceUri;
use crate::service::{ServeSettings, Served};
use crate::tasks::Tasks;
use crate::util::random_hex;
use metrics::OrchMetrics;
use state::Inner;
use status::status;
use work::{LocalPool, Work, WorkerPool};
use workers::{CrashBook, WorkerMetrics};

#[cfg(feature = "test-hooks")]
pub use faults::{FAULT_ENV, Fault};

/// How long `start` waits for the first worker process to register.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running orchestrator.
#[derive(Debug)]
pub struct RunningOrchestrator {
    inner: Arc<Inner>,
    service: Served,
    cli: Option<Served>,
    cert_sha256: Option<crate::tls::CertPin>,
    shutdown: CancellationToken,
}

impl RunningOrchestrator {
    /// The URI gateways and transcoders use.
    pub fn uri(&self) -> &ServiceUri {
        &self.inner.uri
    }
    /// The bound service address.
    pub fn local_addr(&self) -> SocketAddr {
        self.service.local_addr()
    }
    /// The bound CLI (status, metrics) address.
    pub fn cli_addr(&self) -> Option<SocketAddr> {
        self.cli.as_ref().map(Served::local_addr)
    }
    /// The SHA-256 fingerprint of the service port's certificate (`None` without TLS): what
    /// a remote transcoder pins with `--orch-cert-sha256`.
    pub fn cert_sha256(&self) -> Option<crate::tls::CertPin> {
        self.cert_sha256
    }
    /// The address that signs results and receives tickets.
    pub fn address(&self) -> Address {
        self.inner.signer.address()
    }
    /// The `/status` document.
    pub fn status(&self) -> OrchestratorStatus {
        status(&self.inner)
    }
    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        self.inner.metrics.registry.render()
    }
    /// Stops serving and waits for in-flight work.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.service.join().await;
        if let Some(c) = self.cli {
            c.join().await;
        }
        self.inner.tasks.tracker().close();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), self.inner.tasks.tracker().wait()).await;
    }
}

/// Starts an orchestrator: binds its ports and serves until `shutdown`.
///
/// `signer` signs results and receives tickets (an ephemeral key off-chain). `payments`
/// turns on ticket parameters and payment checks; `None` runs without payments
/// (`--network offchain`).
pub async fn start(
    mut settings: OrchestratorSettings,
    signer: EthSigner,
    payments: Option<Arc<OrchPayments>>,
    registry: Arc<Registry>,
    tasks: impl Into<Tasks>,
) -> Result<RunningOrchestrator, NodeError> {
    let tasks: Tasks = tasks.into();
    let shutdown = tasks.shutdown_token().clone();
    if settings.max_sessions == 0 {
        return Err(NodeError::Config(
            "--max-sessions must be at least 1".into(),
        ));
    }
    if !settings.local_transcode && settings.orch_secret.is_none() {
        return Err(NodeError::Config(
            "with no local transcoding (--transcoder off) the orchestrator needs remote \
             transcoders: pass --orch-secret"
                .into(),
        ));
    }
    if let Some(addr) = settings.cli_addr {
        crate::service::check_cli_addr(addr, settings.cli_public)?;
    }
    if settings.orch_secret.as_ref().is_some_and(|s| s.len() < 8) {
        return Err(NodeError::Config(
            "--orch-secret must be at least 8 characters".into(),
        ));
    }
    let listener = crate::service::bind(settings.http_addr, "--http-addr").await?;
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::io("reading the service address", e))?;
    let uri = match &settings.service_uri {
        Some(u) => u.clone(),
        None => ServiceUri {
            tls: settings.tls,
            host: if bound.ip().is_unspecified() {
                "127.0.0.1".into()
            } else {
                bound.ip().to_string()
            },
            port: bound.port(),
        },
    };
    if uri.tls != settings.tls {
        return Err(NodeError::Config(format!(
            "--service-addr {uri} does not match the transport: use {} with{} TLS",
            if settings.tls { "https://" } else { "http://" },
            if settings.tls { "" } else { "out" }
        )));
    }
    let mut cert_sha256 = None;
    let tls = if settings.tls {
        let mut hosts = vec![uri.host.clone(), "localhost".to_owned()];
        hosts.dedup();
        let id = crate::tls::load_or_create(settings.data_dir.as_deref(), &hosts)?;
        cert_sha256 = id.fingerprint();
        Some(crate::tls::server_config(id)?)
    } else {
        None
    };
    let worker_settings = settings
        .workers
        .clone()
        .filter(|_| settings.local_transcode);
    let local = (settings.local_transcode && worker_settings.is_none())
        .then(|| LocalPool::new(settings.x264_preset.clone(), settings.encoder_threads));
    #[cfg(feature = "test-hooks")]
    let local = local.map(|l| l.with_media_fault(settings.fault.and_then(Fault::media)));
    // Workers dial this node on loopback, whatever URI it announces to others.
    let loopback = ServiceUri {
        tls: settings.tls,
        host: match bound.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".into(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "::1".into(),
            ip => ip.to_string(),
        },
        port: bound.port(),
    };
    let worker_count = worker_settings.as_ref().map_or(0, |w| w.count.max(1));
    let worker_secrets: Vec<String> = (0..worker_count).map(|_| random_hex(24)).collect();
    let worker_kill: Arc<Vec<tokio::sync::Notify>> = Arc::new(
        (0..worker_count)
            .map(|_| tokio::sync::Notify::new())
            .collect(),
    );
    let worker_pool = worker_settings.as_ref().map(|w| WorkerPool {
        base: loopback.base(),
        crashes: CrashBook::new(w.refuse_after, w.crash_memory),
        wait: w.wait_for_worker,
        kill: Arc::clone(&worker_kill),
    });
    if settings.local_transcode {
        // Fail at start, not at the first segment, when libx264 is missing.
        reel_media::TranscodeSession::new(reel_media::SessionSettings::new(vec![
            reel_media::VideoProfile::standard("P144p30fps16x9")
                .ok_or_else(|| NodeError::Config("standard profile missing".into()))?,
        ]))?;
    }
    let mut auth_secret = [0u8; 32];
    getrandom::fill(&mut auth_secret)
        .map_err(|e| NodeError::Config(format!("no randomness for the auth secret: {e}")))?;
    let metrics = OrchMetrics::new(&registry);
    metrics.max_sessions.set(settings.max_sessions as i64);
    let workers_registry = Arc::clone(&settings.workers_registry);
    let offers = crate::jobs::Offers::new(std::mem::take(&mut settings.jobs))
        .map_err(|e| NodeError::Config(format!("job offers: {e}")))?;
    let inner = Arc::new(Inner {
        offers,
        byoc: crate::byoc::registry::Registry::new()?,
        limiter: RateLimiter::new(settings.rate),
        work: Work {
            remotes: Arc::clone(&workers_registry),
            local,
            workers: worker_pool,
        },
        settings,
        signer,
        uri,
        auth_secret,
        worker_secrets,
        sessions: Mutex::default(),
        results: Mutex::default(),
        payments,
        metrics,
        tasks,
        started: Instant::now(),
    });

    let router = routes::service(&inner);
    let service = crate::service::serve(
        listener,
        router,
        ServeSettings {
            tls,
            ..ServeSettings::default()
        },
        shutdown.clone(),
    )
    .map_err(|e| NodeError::io("serving", e))?;
    let cli = match inner.settings.cli_addr {
        Some(addr) => {
            let l = crate::service::bind_cli(addr, inner.settings.cli_public).await?;
            Some(
                crate::service::serve(
                    l,
                    routes::cli(Arc::clone(&inner)),
                    ServeSettings::default(),
                    shutdown.clone(),
                )
                .map_err(|e| NodeError::io("serving the CLI port", e))?,
            )
        }
        None => None,
    };
    if let Some(p) = &inner.payments {
        let m = Arc::clone(&inner);
        let last_value = Mutex::new(0.0f64);
        p.spawn_redeemer(&inner.tasks, move |report| {
            m.metrics.tickets_redeemed.add(u64::from(report.redeemed));
            m.metrics.redemption_errors.add(u64::from(report.errors));
            if report.redeemed > 0
                && let Some(p) = &m.payments
                && let Ok(v) = p.redeemed_value()
            {
                let total = crate::payments::wei_f64(v);
                let mut last = last_value
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                m.metrics.value_redeemed.add(total - *last);
                *last = total;
            }
        });
    }
    if let Some(p) = &inner.payments {
        p.spawn_sender_watcher(&inner.tasks, reel_chain::watch::WatchConfig::default());
    }
    if let Some(p) = &inner.payments {
        p.spawn_store_probe(&inner.tasks, &registry, crate::payments::STORE_PROBE_EVERY);
    }
    inner.tasks.health().register_metrics(&registry);
    let reaper = Arc::clone(&inner);
    inner.tasks.spawn("session-reaper", async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            reaper.reap_sessions();
            reaper.expire_results();
            reaper.refresh_transcoder_metrics();
        }
    });
    if let Some(w) = &worker_settings {
        workers::spawn_supervisors(
            inner.tasks.tracker(),
            w,
            &loopback,
            &inner.worker_secrets,
            &worker_kill,
            &WorkerMetrics {
                restarts: Arc::clone(&inner.metrics.worker_restarts),
                exits: Arc::clone(&inner.metrics.worker_exits),
            },
            &shutdown,
        );
        // Serve segments only once a worker can take them.
        let t0 = Instant::now();
        while inner.work.remotes.workers() == 0 {
            if t0.elapsed() > WORKER_START_TIMEOUT {
                shutdown.cancel();
                return Err(NodeError::Config(format!(
                    "no transcode worker registered within {WORKER_START_TIMEOUT:?}: see the \
                     worker's log above, or pass --transcode-in-child false"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    match cert_sha256 {
        Some(fp) => {
            tracing::info!(target: "node::orchestrator", uri = %inner.uri, address = %inner.signer.address(), cert_sha256 = %fp, "orchestrator serving (remote transcoders may pin the certificate with --orch-cert-sha256)");
        }
        None => {
            tracing::info!(target: "node::orchestrator", uri = %inner.uri, address = %inner.signer.address(), "orchestrator serving");
        }
    }
    Ok(RunningOrchestrator {
        inner,
        service,
        cli,
        cert_sha256,
        shutdown,
    })
}
