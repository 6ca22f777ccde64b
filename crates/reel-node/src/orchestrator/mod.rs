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

#[cfg(feature = "test-hooks")]
mod faults;
pub mod fetch;
mod grpc;
mod health;
mod http_api;
mod jobs;
pub mod registry;
pub mod work;
pub mod workers;

pub use http_api::{JOB_ERROR, JOB_RESULTS_PATH, TRANSCODER_AUTH, TRANSCODING_ERROR};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use bytes::Bytes;
use reel_net::EthSigner;
use reel_net::proto;
use reel_pm::{PricePerPixel, PriceProto};
use tokio_util::sync::CancellationToken;

use crate::NodeError;
use crate::metrics::{Counter, CounterVec, FloatCounter, Gauge, Histogram, Registry};
use crate::payments::OrchPayments;
use crate::ratelimit::{RateLimiter, RateSettings};
use crate::rpc::ServiceUri;
use crate::service::{ServeSettings, Served};
use crate::tasks::Tasks;
use fetch::UrlPolicy;
use work::{LocalPool, Work, WorkerPool};
use workers::{CrashBook, WorkerMetrics, WorkerSettings};

/// How long an auth token (and so a session's right to send segments) lasts.
pub const AUTH_TOKEN_VALIDITY: Duration = Duration::from_secs(30 * 60);

#[cfg(feature = "test-hooks")]
pub use faults::{FAULT_ENV, Fault};

/// Orchestrator settings (go-livepeer flag names in the CLI).
#[derive(Debug, Clone)]
pub struct OrchestratorSettings {
    /// Where the service port binds (`-httpAddr`).
    pub http_addr: SocketAddr,
    /// The URI gateways and transcoders use (`-serviceAddr`); by default the bound address.
    pub service_uri: Option<ServiceUri>,
    /// TLS with a self-signed certificate; otherwise h2c.
    pub tls: bool,
    /// Certificate, key and ticket store live here; `None` keeps the certificate in memory.
    pub data_dir: Option<PathBuf>,
    /// `/status` and `/metrics` (`-cliAddr`).
    pub cli_addr: Option<SocketAddr>,
    /// Concurrent sessions (streams) accepted (`-maxSessions`).
    pub max_sessions: usize,
    /// Price per pixel (`-pricePerUnit` / `-pixelsPerUnit`).
    pub price: PricePerPixel,
    /// Prices for particular gateways (`-pricePerGateway`).
    pub price_per_gateway: HashMap<Address, PricePerPixel>,
    /// Secret remote transcoders register with (`-orchSecret`); none = no remote
    /// transcoders.
    pub orch_secret: Option<String>,
    /// Transcode here too (`-transcoder` on an orchestrator).
    pub local_transcode: bool,
    /// Do that local work in supervised worker processes rather than in this one
    /// (`--transcode-in-child`; see [`workers`]).
    pub workers: Option<WorkerSettings>,
    /// libx264 preset and threads per encoder for local work.
    pub x264_preset: String,
    pub encoder_threads: usize,
    /// A session without a segment for this long is closed.
    pub session_idle: Duration,
    /// Largest segment body accepted inline.
    pub max_segment_bytes: usize,
    /// Time to receive a segment body.
    pub upload_timeout: Duration,
    /// Segments given by URL.
    pub url_policy: UrlPolicy,
    /// Per-client request limits on the service port.
    pub rate: RateSettings,
    /// How long renditions stay downloadable, and how many bytes of them at most.
    pub result_ttl: Duration,
    pub result_memory: usize,
    /// Test-only misbehaviour.
    #[cfg(feature = "test-hooks")]
    pub fault: Option<Fault>,
    /// Request/response work offered besides transcoding, per (capability, model).
    pub jobs: Vec<crate::jobs::Offer>,
    /// Longest a request/response job may run.
    pub job_timeout: Duration,
    /// Where remote workers of every kind register. Offers served by remote job workers
    /// take their [`JobWorker`](crate::jobs::JobWorker) from it
    /// ([`registry::WorkerRegistry::job_worker`]).
    pub workers_registry: Arc<registry::WorkerRegistry>,
}

impl OrchestratorSettings {
    /// Defaults for a service bound to `http_addr`.
    pub fn new(http_addr: SocketAddr) -> Self {
        Self {
            http_addr,
            service_uri: None,
            tls: true,
            data_dir: None,
            cli_addr: None,
            max_sessions: 10,
            price: PricePerPixel::ZERO,
            price_per_gateway: HashMap::new(),
            orch_secret: None,
            local_transcode: true,
            workers: None,
            x264_preset: "veryfast".into(),
            encoder_threads: 0,
            session_idle: Duration::from_secs(60),
            max_segment_bytes: 64 << 20,
            upload_timeout: Duration::from_secs(30),
            url_policy: UrlPolicy::default(),
            rate: RateSettings::default(),
            result_ttl: Duration::from_secs(120),
            result_memory: 512 << 20,
            #[cfg(feature = "test-hooks")]
            fault: faults::from_env(),
            jobs: Vec::new(),
            job_timeout: Duration::from_secs(120),
            workers_registry: registry::WorkerRegistry::new(),
        }
    }
}

/// The orchestrator's metrics (go-livepeer names).
#[derive(Debug)]
pub(crate) struct OrchMetrics {
    pub registry: Arc<Registry>,
    pub segments_received: Arc<Counter>,
    pub transcoded: Arc<Counter>,
    pub transcode_failed: Arc<Counter>,
    pub transcode_time: Arc<Histogram>,
    pub sessions: Arc<Gauge>,
    pub max_sessions: Arc<Gauge>,
    pub mil_pixels: Arc<FloatCounter>,
    pub rejected: Arc<CounterVec>,
    pub by_worker: Arc<CounterVec>,
    pub rate_limited: Arc<Counter>,
    pub transcoders: Arc<Gauge>,
    pub transcoders_capacity: Arc<Gauge>,
    pub transcoders_load: Arc<Gauge>,
    pub tickets_recv: Arc<Counter>,
    pub ticket_value_recv: Arc<FloatCounter>,
    pub winning_tickets_recv: Arc<Counter>,
    pub payment_recv_errors: Arc<Counter>,
    pub value_redeemed: Arc<FloatCounter>,
    pub redemption_errors: Arc<Counter>,
    pub tickets_redeemed: Arc<Counter>,
    pub worker_restarts: Arc<Counter>,
    pub worker_exits: Arc<Counter>,
}

impl OrchMetrics {
    fn new(registry: &Arc<Registry>) -> Self {
        let r = registry;
        Self {
            segments_received: r.counter(
                "livepeer_segment_source_appeared_total",
                "Segments received from gateways",
            ),
            transcoded: r.counter(
                "livepeer_segment_transcoded_total",
                "Segments transcoded and returned",
            ),
            transcode_failed: r.counter(
                "livepeer_segment_transcode_failed_total",
                "Segments whose transcode failed",
            ),
            transcode_time: r.histogram(
                "livepeer_transcode_time_seconds",
                "Time to transcode a segment",
                crate::metrics::LATENCY_BUCKETS,
            ),
            sessions: r.gauge(
                "livepeer_current_sessions_total",
                "Sessions with recent segments",
            ),
            max_sessions: r.gauge(
                "livepeer_max_sessions_total",
                "Session limit (-maxSessions)",
            ),
            mil_pixels: r.float_counter(
                "livepeer_mil_pixels_processed",
                "Millions of output pixels produced",
            ),
            rejected: r.counter_vec(
                "reel_segment_rejected_total",
                "Segments refused before transcoding, by reason",
                &["reason"],
            ),
            by_worker: r.counter_vec(
                "reel_segments_by_worker_total",
                "Segments transcoded, by worker (local or transcoder-<id>)",
                &["worker"],
            ),
            rate_limited: r.counter(
                "reel_requests_rate_limited_total",
                "Requests refused by the per-client limit",
            ),
            transcoders: r.gauge(
                "livepeer_transcoders_number",
                "Remote transcoders connected",
            ),
            transcoders_capacity: r.gauge(
                "livepeer_transcoders_capacity",
                "Total capacity of remote transcoders",
            ),
            transcoders_load: r.gauge(
                "livepeer_transcoders_load",
                "Sessions assigned to remote transcoders",
            ),
            tickets_recv: r.counter("livepeer_tickets_recv", "Tickets received and credited"),
            ticket_value_recv: r.float_counter(
                "livepeer_ticket_value_recv",
                "Expected value of tickets received (wei)",
            ),
            winning_tickets_recv: r.counter(
                "livepeer_winning_tickets_recv",
                "Winning tickets received and stored",
            ),
            payment_recv_errors: r.counter(
                "livepeer_payment_recv_errors",
                "Payments or tickets refused",
            ),
            value_redeemed: r.float_counter(
                "livepeer_value_redeemed",
                "Face value of redeemed tickets (wei)",
            ),
            redemption_errors: r.counter(
                "livepeer_ticket_redemption_errors",
                "Failed redemption steps",
            ),
            tickets_redeemed: r.counter(
                "reel_tickets_redeemed_total",
                "Winning tickets redeemed on chain",
            ),
            worker_restarts: r.counter(
                "reel_transcode_worker_restarts_total",
                "Transcode worker processes restarted after they died",
            ),
            worker_exits: r.counter(
                "reel_transcode_worker_exits_total",
                "Transcode worker processes that died (not stopped on shutdown)",
            ),
            registry: Arc::clone(registry),
        }
    }
}

/// A session the orchestrator issued a token for, and what it did since.
#[derive(Debug)]
struct Session {
    gateway: Address,
    expires: i64,
    /// Set once the session sent a segment; counts against `max_sessions` while recent.
    active: Option<ActiveSession>,
}

#[derive(Debug)]
struct ActiveSession {
    last: Instant,
    segments: u64,
    /// Σ output pixels charged to the session (each segment once).
    charged_pixels: u64,
    in_flight: bool,
    last_worker: String,
    price: PricePerPixel,
}

/// What the status page shows of a session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionStatus {
    pub id: String,
    pub gateway: String,
    pub segments: u64,
    pub charged_pixels: u64,
    pub last_worker: String,
    pub price: String,
}

/// How long `start` waits for the first worker process to register.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// Most sessions remembered (issued tokens included), whatever their expiry.
const MAX_KNOWN_SESSIONS: usize = 100_000;

#[derive(Debug, Default)]
struct Sessions {
    map: HashMap<String, Session>,
}

impl Sessions {
    fn active_count(&self) -> usize {
        self.map.values().filter(|s| s.active.is_some()).count()
    }
}

/// Renditions waiting to be downloaded, by unguessable token.
#[derive(Debug, Default)]
struct ResultStore {
    entries: HashMap<String, (Instant, Vec<Bytes>)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ResultStore {
    fn insert(&mut self, token: String, data: Vec<Bytes>, ttl: Duration, max_bytes: usize) {
        let now = Instant::now();
        self.bytes = self
            .bytes
            .saturating_add(data.iter().map(Bytes::len).sum::<usize>());
        self.entries.insert(token.clone(), (now, data));
        self.order.push_back(token);
        while let Some(oldest) = self.order.front().cloned() {
            let expired = self
                .entries
                .get(&oldest)
                .is_none_or(|(at, _)| now.saturating_duration_since(*at) > ttl);
            if !(expired || self.bytes > max_bytes) || self.order.len() <= 1 {
                break;
            }
            self.order.pop_front();
            if let Some((_, d)) = self.entries.remove(&oldest) {
                self.bytes = self
                    .bytes
                    .saturating_sub(d.iter().map(Bytes::len).sum::<usize>());
            }
        }
    }

    fn get(&self, token: &str, index: usize, ttl: Duration) -> Option<Bytes> {
        let (at, data) = self.entries.get(token)?;
        if at.elapsed() > ttl {
            return None;
        }
        data.get(index).cloned()
    }
}

/// Shared state of a running orchestrator.
pub(crate) struct Inner {
    settings: OrchestratorSettings,
    signer: EthSigner,
    uri: ServiceUri,
    auth_secret: [u8; 32],
    /// The secrets this start's worker processes register with, one per worker (so that a
    /// registration tells which process it is).
    worker_secrets: Vec<String>,
    sessions: Mutex<Sessions>,
    results: Mutex<ResultStore>,
    work: Work,
    limiter: RateLimiter,
    payments: Option<Arc<OrchPayments>>,
    /// Request/response work offered per (capability, model), with its capacity.
    offers: crate::jobs::Offers,
    metrics: OrchMetrics,
    tasks: Tasks,
    started: Instant,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("uri", &self.uri)
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // getrandom only fails when the OS has no entropy source at all.
    let _ = getrandom::fill(&mut b);
    alloy_primitives::hex::encode(b)
}

impl Inner {
    /// Who presents this transcoder secret: one of our worker processes, a remote
    /// transcoder, or (`None`) nobody we know. Every secret is compared, in constant time.
    pub(crate) fn transcoder_kind(&self, given: &[u8]) -> Option<registry::Origin> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for (n, s) in self.worker_secrets.iter().enumerate() {
            if bool::from(s.as_bytes().ct_eq(given)) {
                found = Some(registry::Origin::Worker(n));
            }
        }
        if let Some(s) = &self.settings.orch_secret
            && bool::from(s.as_bytes().ct_eq(given))
        {
            found = found.or(Some(registry::Origin::Remote));
        }
        found
    }

    fn price_for(&self, gateway: Address) -> PricePerPixel {
        self.settings
            .price_per_gateway
            .get(&gateway)
            .copied()
            .unwrap_or(self.settings.price)
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a session and its auth token for a gateway.
    fn new_session(&self, gateway: Address) -> proto::AuthToken {
        let id = random_hex(16);
        let expires = unix_now().saturating_add(AUTH_TOKEN_VALIDITY.as_secs() as i64);
        let mut s = self.lock_sessions();
        if s.map.len() >= MAX_KNOWN_SESSIONS {
            let now = unix_now();
            s.map.retain(|_, v| v.active.is_some() || v.expires > now);
        }
        if s.map.len() < MAX_KNOWN_SESSIONS {
            s.map.insert(
                id.clone(),
                Session {
                    gateway,
                    expires,
                    active: None,
                },
            );
        }
        reel_net::signed::issue_auth_token(&self.auth_secret, &id, expires)
    }

    /// The `OrchestratorInfo` for a gateway and session.
    async fn info(
        &self,
        gateway: Address,
        token: proto::AuthToken,
    ) -> Result<proto::OrchestratorInfo, NodeError> {
        let price = self.price_for(gateway);
        let ticket_params = match &self.payments {
            Some(p) if !price.is_zero() => Some(p.issue_params(gateway, price).await?.to_proto()),
            _ => None,
        };
        let (caps, capabilities_prices) = self.capabilities()?;
        Ok(proto::OrchestratorInfo {
            transcoder: self.uri.base(),
            ticket_params,
            price_info: Some(price.to_proto()?),
            address: self.signer.address().to_vec(),
            capabilities: Some(caps.to_proto()),
            auth_token: Some(token),
            capabilities_prices,
            ..Default::default()
        })
    }

    /// What this node can do: transcoding, plus every offer with its models (warm flag,
    /// capacity, use) and a price per (capability, model).
    fn capabilities(
        &self,
    ) -> Result<(reel_net::capabilities::Capabilities, Vec<proto::PriceInfo>), NodeError> {
        let capacity = u32::try_from(self.settings.max_sessions).unwrap_or(u32::MAX);
        let mut caps = crate::caps::node_capabilities(capacity);
        let mut prices = Vec::new();
        self.offers.advertise(&mut caps, &mut prices)?;
        Ok((caps, prices))
    }

    /// Ends sessions idle for longer than the setting.
    fn reap_sessions(&self) {
        let now = unix_now();
        let idle = self.settings.session_idle;
        let mut ended = Vec::new();
        {
            let mut s = self.lock_sessions();
            for (id, sess) in &mut s.map {
                if let Some(a) = &sess.active
                    && !a.in_flight
                    && a.last.elapsed() > idle
                {
                    sess.active = None;
                    ended.push(id.clone());
                }
            }
            s.map.retain(|_, v| v.active.is_some() || v.expires > now);
            self.metrics.sessions.set(s.active_count() as i64);
        }
        for id in ended {
            tracing::info!(target: "node::orchestrator", session = %id, "session idle: closed");
            self.work.end_session(&id);
        }
    }

    fn end_session(&self, id: &str) {
        let had = {
            let mut s = self.lock_sessions();
            let had = s.map.remove(id).is_some();
            self.metrics.sessions.set(s.active_count() as i64);
            had
        };
        if had {
            self.work.end_session(id);
        }
    }

    fn refresh_transcoder_metrics(&self) {
        let (n, cap, load) = self.work.remotes.totals();
        self.metrics.transcoders.set(n as i64);
        self.metrics.transcoders_capacity.set(cap as i64);
        self.metrics.transcoders_load.set(load as i64);
    }

    fn sessions_status(&self) -> Vec<SessionStatus> {
        let s = self.lock_sessions();
        let mut out: Vec<SessionStatus> = s
            .map
            .iter()
            .filter_map(|(id, v)| {
                v.active.as_ref().map(|a| SessionStatus {
                    id: id.clone(),
                    gateway: v.gateway.to_checksum(None),
                    segments: a.segments,
                    charged_pixels: a.charged_pixels,
                    last_worker: a.last_worker.clone(),
                    price: a.price.to_string(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

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
    pub payments: Option<serde_json::Value>,
    /// The background tasks (keeper, redeemer, watchers, pollers, probes): runs, failures
    /// in a row, last error, raised conditions.
    pub tasks: serde_json::Value,
}

/// A running orchestrator.
#[derive(Debug)]
pub struct RunningOrchestrator {
    inner: Arc<Inner>,
    service: Served,
    cli: Option<Served>,
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

fn status(inner: &Inner) -> OrchestratorStatus {
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
        payments: inner.payments.as_ref().map(|p| p.status()),
        tasks: inner.tasks.health().json(),
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
    let tls = if settings.tls {
        let mut hosts = vec![uri.host.clone(), "localhost".to_owned()];
        hosts.dedup();
        let id = crate::tls::load_or_create(settings.data_dir.as_deref(), &hosts)?;
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

    let router = grpc::routes(Arc::clone(&inner))
        .merge(http_api::service_routes(Arc::clone(&inner)))
        .merge(jobs::routes(&inner));
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
            let l = crate::service::bind(addr, "--cli-addr").await?;
            Some(
                crate::service::serve(
                    l,
                    http_api::cli_routes(Arc::clone(&inner)),
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
    tracing::info!(target: "node::orchestrator", uri = %inner.uri, address = %inner.signer.address(), "orchestrator serving");
    Ok(RunningOrchestrator {
        inner,
        service,
        cli,
        shutdown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_store_evicts_by_memory_and_age() {
        let mut s = ResultStore::default();
        let ttl = Duration::from_secs(60);
        s.insert("a".into(), vec![Bytes::from(vec![0u8; 60])], ttl, 100);
        s.insert("b".into(), vec![Bytes::from(vec![0u8; 60])], ttl, 100);
        assert!(
            s.get("a", 0, ttl).is_none(),
            "over the memory cap: oldest goes"
        );
        assert_eq!(s.get("b", 0, ttl).unwrap().len(), 60);
        assert!(s.get("b", 1, ttl).is_none());
        assert_eq!(s.bytes, 60);
        assert!(s.get("b", 0, Duration::ZERO).is_none(), "expired");
    }
}
