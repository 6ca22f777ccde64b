//! `reel transcoder`: a remote transcoder. It dials the orchestrator's gRPC
//! `Transcoder.RegisterTranscoder` with the shared secret and its capacity, and keeps the
//! server stream open. Each `NotifySegment` names a segment URL on the orchestrator (fetched
//! with the secret as `Credentials`), the session and the ladder; the transcoder runs it on
//! a media-engine session kept per orchestrator session and posts the renditions back to
//! `POST /transcodeResults` as `multipart/mixed` (go-livepeer's headers: `Authorization`,
//! `Credentials`, `TaskId`, `Pixels`).
//!
//! A wrong secret or a refused capacity is fatal, as in go-livepeer: retrying cannot fix
//! it and an operator wants to know. Anything else — the orchestrator restarting, the network dropping — is
//! retried with exponential backoff (1 s doubling to 30 s).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reel_media::SessionSettings;
use reel_media::multipart::{self, Part};
use reel_net::proto;
use reel_net::proto::transcoder_client::TranscoderClient;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::NodeError;
use crate::metrics::{Counter, Gauge, Histogram, Registry};
use crate::orchestrator::engines::Engines;
use crate::orchestrator::work::WorkError;
use crate::rpc::ServiceUri;

// The crash tests' poison and stuck streams (`test-hooks` builds only), defined beside the
// worker supervisor that passes them on to its worker processes.
#[cfg(feature = "test-hooks")]
pub use crate::orchestrator::workers::{ABORT_ON_STREAM_ENV, HANG_ON_STREAM_ENV};

/// Transcoder settings. `Debug` never shows the secret.
#[derive(Clone)]
pub struct TranscoderSettings {
    /// The orchestrator (`-orchAddr`).
    pub orch: ServiceUri,
    /// The shared secret (`-orchSecret`).
    pub secret: String,
    /// The orchestrator's certificate fingerprint (`--orch-cert-sha256`): when set, any
    /// other certificate is refused before the secret is sent, and the transcoder stops.
    pub orch_cert_sha256: Option<crate::tls::CertPin>,
    /// Serve `cli_addr` on an address other than loopback (`--cli-public`).
    pub cli_public: bool,
    /// Sessions handled at once (advertised capacity).
    pub capacity: u32,
    pub x264_preset: String,
    pub encoder_threads: usize,
    /// Largest input segment fetched.
    pub max_segment_bytes: usize,
    /// `/status` and `/metrics`.
    pub cli_addr: Option<SocketAddr>,
    /// Backoff bounds for reconnecting.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Abort the process on a task of this stream (manifest id), as a decoder crashing on
    /// a poison input would (`test-hooks` builds only).
    #[cfg(feature = "test-hooks")]
    pub test_abort_on_stream: Option<Vec<u8>>,
    /// Never finish a task of this stream, as a stuck decoder would (`test-hooks` only).
    #[cfg(feature = "test-hooks")]
    pub test_hang_on_stream: Option<Vec<u8>>,
}

impl TranscoderSettings {
    pub fn new(orch: ServiceUri, secret: String) -> Self {
        Self {
            orch,
            secret,
            orch_cert_sha256: None,
            cli_public: false,
            capacity: 1,
            x264_preset: "veryfast".into(),
            encoder_threads: 0,
            max_segment_bytes: 64 << 20,
            cli_addr: None,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            #[cfg(feature = "test-hooks")]
            test_abort_on_stream: std::env::var(ABORT_ON_STREAM_ENV)
                .ok()
                .map(String::into_bytes),
            #[cfg(feature = "test-hooks")]
            test_hang_on_stream: std::env::var(HANG_ON_STREAM_ENV)
                .ok()
                .map(String::into_bytes),
        }
    }
}

impl std::fmt::Debug for TranscoderSettings {
    // Hand-written so that the secret can never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscoderSettings")
            .field("orch", &self.orch)
            .field("secret", &"<redacted>")
            .field("orch_cert_sha256", &self.orch_cert_sha256)
            .field("cli_public", &self.cli_public)
            .field("capacity", &self.capacity)
            .field("x264_preset", &self.x264_preset)
            .field("encoder_threads", &self.encoder_threads)
            .field("max_segment_bytes", &self.max_segment_bytes)
            .field("cli_addr", &self.cli_addr)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Metrics {
    registry: Arc<Registry>,
    tasks: Arc<Counter>,
    failed: Arc<Counter>,
    reconnects: Arc<Counter>,
    connected: Arc<Gauge>,
    sessions: Arc<Gauge>,
    time: Arc<Histogram>,
}

/// How long a session's engine is kept without a segment: longer than the orchestrator's
/// own idle limit (60 s by default), so it is normally torn down first.
const ENGINE_IDLE: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct State {
    settings: TranscoderSettings,
    /// The certificate pin, shared by the gRPC channel and the HTTP client.
    pin: Option<Arc<crate::tls::PinCheck>>,
    http: reqwest::Client,
    sessions: Engines,
    slots: Arc<Semaphore>,
    metrics: Metrics,
}

impl State {
    fn count_sessions(&self) {
        self.metrics
            .sessions
            .set(i64::try_from(self.sessions.len()).unwrap_or(i64::MAX));
    }
}

/// What the status page shows.
#[derive(Debug, Clone, serde::Serialize)]
struct Status {
    role: &'static str,
    version: &'static str,
    orchestrator: String,
    capacity: u32,
    connected: bool,
    sessions: usize,
    tasks_done: u64,
    tasks_failed: u64,
    reconnects: u64,
}

/// Runs the transcoder until `shutdown`, or until the orchestrator refuses it for good.
pub async fn run(
    settings: TranscoderSettings,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    if settings.capacity == 0 {
        return Err(NodeError::Config("--capacity must be at least 1".into()));
    }
    let metrics = Metrics {
        tasks: registry.counter("livepeer_segment_transcoded_total", "Tasks transcoded"),
        failed: registry.counter(
            "livepeer_segment_transcode_failed_total",
            "Tasks that failed",
        ),
        reconnects: registry.counter(
            "reel_transcoder_reconnects_total",
            "Registrations after the first",
        ),
        connected: registry.gauge(
            "reel_transcoder_connected",
            "1 while registered with the orchestrator",
        ),
        sessions: registry.gauge(
            "reel_transcoder_sessions",
            "Sessions whose media engine this transcoder holds",
        ),
        time: registry.histogram(
            "livepeer_transcode_time_seconds",
            "Time to transcode a task",
            crate::metrics::LATENCY_BUCKETS,
        ),
        registry,
    };
    if let Some(addr) = settings.cli_addr {
        crate::service::check_cli_addr(addr, settings.cli_public)?;
    }
    let pin = settings.orch_cert_sha256.map(crate::tls::PinCheck::new);
    if pin.is_some() && !settings.orch.tls {
        return Err(NodeError::Config(format!(
            "--orch-cert-sha256 needs a TLS orchestrator address (https://), not {}",
            settings.orch
        )));
    }
    let state = Arc::new(State {
        http: crate::rpc::http_client_pinned(pin.clone())?,
        pin,
        sessions: Engines::default(),
        slots: Arc::new(Semaphore::new(settings.capacity as usize)),
        settings,
        metrics,
    });
    let tasks = TaskTracker::new();
    // Ends with the transcoder, also when it stops on a refusal rather than on shutdown.
    let cli_stop = shutdown.child_token();
    let cli = match state.settings.cli_addr {
        Some(addr) => {
            let l = crate::service::bind_cli(addr, state.settings.cli_public).await?;
            Some(
                crate::service::serve(
                    l,
                    cli_routes(Arc::clone(&state)),
                    Default::default(),
                    cli_stop.clone(),
                )
                .map_err(|e| NodeError::io("serving the CLI port", e))?,
            )
        }
        None => None,
    };
    let mut backoff = state.settings.backoff_min;
    let mut first = true;
    let result = loop {
        if !first {
            state.metrics.reconnects.inc();
        }
        first = false;
        let started = Instant::now();
        match session(&state, &tasks, &shutdown).await {
            Ok(()) => break Ok(()),
            Err(e @ (NodeError::RegistrationRefused { .. } | NodeError::Tls { .. })) => {
                break Err(e);
            }
            Err(e) => {
                // A connection that lived a while starts the backoff over.
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = state.settings.backoff_min;
                }
                tracing::warn!(target: "node::transcoder", orch = %state.settings.orch, error = %e, retry_in = ?backoff, "lost the orchestrator; reconnecting");
                tokio::select! {
                    () = shutdown.cancelled() => break Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(state.settings.backoff_max);
            }
        }
    };
    tasks.close();
    tasks.wait().await;
    cli_stop.cancel();
    if let Some(c) = cli {
        c.join().await;
    }
    result
}

/// One registration: until the stream ends (error) or shutdown (Ok).
async fn session(
    state: &Arc<State>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<(), NodeError> {
    let s = &state.settings;
    // No call timeout: the registration stream lives as long as the connection.
    let channel = crate::rpc::grpc_channel_pinned(
        &s.orch,
        Duration::from_secs(365 * 24 * 3600),
        state.pin.clone(),
    )?;
    let mut client = TranscoderClient::new(channel);
    let req = proto::RegisterRequest {
        secret: s.secret.clone(),
        capacity: i64::from(s.capacity),
        capabilities: Some(crate::caps::node_capabilities(s.capacity).to_proto()),
    };
    let mut stream = match client.register_transcoder(req).await {
        Ok(r) => r.into_inner(),
        Err(st) => {
            // A certificate other than the pinned one: retrying cannot fix it, and the
            // secret was not sent.
            if let Some(got) = state
                .pin
                .as_ref()
                .and_then(|p| p.mismatch().map(|g| (p.pin(), g)))
            {
                return Err(NodeError::Tls {
                    reason: format!(
                        "the orchestrator {} presented a certificate with SHA-256 {}, not the \
                         pinned {} (--orch-cert-sha256): refusing to register (the secret was \
                         not sent)",
                        s.orch, got.1, got.0
                    ),
                });
            }
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
    tracing::info!(target: "node::transcoder", orch = %s.orch, capacity = s.capacity, "registered with the orchestrator");
    state.metrics.connected.set(1);
    let mut reap = tokio::time::interval(ENGINE_IDLE / 4);
    let result = loop {
        let msg = tokio::select! {
            () = shutdown.cancelled() => break Ok(()),
            _ = reap.tick() => {
                let n = state.sessions.reap(ENGINE_IDLE);
                state.count_sessions();
                if n > 0 {
                    tracing::info!(target: "node::transcoder", sessions = n, "idle sessions dropped");
                }
                continue;
            }
            m = stream.message() => m,
        };
        match msg {
            Ok(Some(n)) => {
                let state = Arc::clone(state);
                tasks.spawn(async move { handle(state, n).await });
            }
            Ok(None) => {
                break Err(NodeError::orchestrator(
                    &s.orch.to_string(),
                    crate::FailureKind::Connect,
                    "the orchestrator closed the task stream",
                ));
            }
            Err(st) => {
                break Err(NodeError::orchestrator(
                    &s.orch.to_string(),
                    crate::FailureKind::Connect,
                    st.message().to_owned(),
                ));
            }
        }
    };
    state.metrics.connected.set(0);
    // The orchestrator gives this transcoder's sessions to others when it goes: their
    // engines here would never be told to go.
    state.sessions.clear();
    state.count_sessions();
    result
}

fn session_id(n: &proto::NotifySegment) -> String {
    n.seg_data
        .as_ref()
        .and_then(|s| s.auth_token.as_ref())
        .map(|t| t.session_id.clone())
        .unwrap_or_default()
}

async fn handle(state: Arc<State>, n: proto::NotifySegment) {
    let session = session_id(&n);
    if n.url.is_empty() {
        // Teardown of a session.
        state.sessions.remove(&session);
        state.count_sessions();
        tracing::debug!(target: "node::transcoder", %session, "session torn down");
        return;
    }
    let Ok(_permit) = Arc::clone(&state.slots).acquire_owned().await else {
        return;
    };
    let task = n.task_id;
    let t0 = Instant::now();
    let result = work(&state, &session, &n).await;
    state.count_sessions();
    let (ct, body, pixels) = match result {
        Ok(r) => {
            state.metrics.tasks.inc();
            state.metrics.time.observe(t0.elapsed().as_secs_f64());
            let parts: Vec<Part> = r
                .renditions
                .iter()
                .map(|x| Part {
                    headers: vec![
                        (
                            "Content-Type".into(),
                            reel_media::hls::rendition_content_type(&x.data).into(),
                        ),
                        ("Pixels".into(), x.pixels.to_string()),
                        ("Rendition-Name".into(), x.name.clone()),
                    ],
                    body: x.data.clone(),
                })
                .collect();
            let boundary = format!("reel{}", crate::util::random_hex(12));
            let (ct, body) = multipart::write(&boundary, &parts);
            (ct, Bytes::from(body), r.decoded_pixels)
        }
        Err(e) => {
            state.metrics.failed.inc();
            tracing::warn!(target: "node::transcoder", %session, task, error = %e, "task failed");
            (
                crate::orchestrator::TRANSCODING_ERROR.to_owned(),
                Bytes::from(e.to_string()),
                0,
            )
        }
    };
    let url = format!("{}/transcodeResults", state.settings.orch.base());
    let sent = state
        .http
        .post(url)
        .header("Authorization", crate::orchestrator::TRANSCODER_AUTH)
        .header("Credentials", &state.settings.secret)
        .header("TaskId", task.to_string())
        .header("Pixels", pixels.to_string())
        .header("Content-Type", ct)
        .timeout(Duration::from_secs(30))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            tracing::debug!(target: "node::transcoder", %session, task, ms = t0.elapsed().as_millis() as u64, "result delivered");
        }
        Ok(r) => {
            tracing::warn!(target: "node::transcoder", %session, task, status = %r.status(), "the orchestrator refused the result");
        }
        Err(e) => {
            tracing::warn!(target: "node::transcoder", %session, task, error = %e, "posting the result failed")
        }
    }
}

async fn work(
    state: &Arc<State>,
    session: &str,
    n: &proto::NotifySegment,
) -> Result<reel_media::TranscodeResult, WorkError> {
    let seg = n
        .seg_data
        .as_ref()
        .ok_or_else(|| WorkError::BadInput("the task has no segment data".into()))?;
    let ladder = crate::profiles::ladder_of(seg).map_err(|e| WorkError::BadInput(e.to_string()))?;
    // Inputs come only from the orchestrator we registered with.
    if !state.settings.orch.owns(&n.url) {
        return Err(WorkError::BadInput(format!(
            "input URL {} is not on the orchestrator {}",
            n.url, state.settings.orch
        )));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let resp = tokio::time::timeout_at(
        deadline,
        state
            .http
            .get(&n.url)
            .header("Credentials", &state.settings.secret)
            .send(),
    )
    .await
    .map_err(|_| WorkError::Media("downloading the input timed out".into()))?
    .map_err(|e| WorkError::Media(format!("downloading the input: {e}")))?;
    if !resp.status().is_success() {
        return Err(WorkError::Media(format!(
            "downloading the input: HTTP {}",
            resp.status()
        )));
    }
    let input = crate::rpc::read_body(resp, state.settings.max_segment_bytes, deadline)
        .await
        .map_err(|e| WorkError::Media(format!("downloading the input: {e}")))?;
    let mut settings = SessionSettings::new(ladder);
    settings.x264_preset = state.settings.x264_preset.clone();
    settings.encoder_threads = state.settings.encoder_threads;
    let seq = u64::try_from(seg.seq).unwrap_or(0);
    let reinit = seg.force_session_reinit;
    #[cfg(feature = "test-hooks")]
    if state
        .settings
        .test_abort_on_stream
        .as_ref()
        .is_some_and(|m| *m == seg.manifest_id)
    {
        tracing::error!(target: "node::transcoder", %session, seq, "test fault: aborting on this stream");
        std::process::abort();
    }
    #[cfg(feature = "test-hooks")]
    if state
        .settings
        .test_hang_on_stream
        .as_ref()
        .is_some_and(|m| *m == seg.manifest_id)
    {
        tracing::error!(target: "node::transcoder", %session, seq, "test fault: hanging on this stream");
        let _ = tokio::task::spawn_blocking(|| {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        })
        .await;
    }
    state
        .sessions
        .transcode(session, seq, settings, input, reinit)
        .await
}

fn cli_routes(state: Arc<State>) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/status",
            get(
                |axum::extract::State(s): axum::extract::State<Arc<State>>| async move {
                    axum::Json(Status {
                        role: "transcoder",
                        version: crate::caps::VERSION,
                        orchestrator: s.settings.orch.to_string(),
                        capacity: s.settings.capacity,
                        connected: s.metrics.connected.get() == 1,
                        sessions: s.sessions.len(),
                        tasks_done: s.metrics.tasks.get(),
                        tasks_failed: s.metrics.failed.get(),
                        reconnects: s.metrics.reconnects.get(),
                    })
                },
            ),
        )
        .route(
            "/metrics",
            get(
                |axum::extract::State(s): axum::extract::State<Arc<State>>| async move {
                    s.metrics.registry.render()
                },
            ),
        )
        .with_state(state)
}
