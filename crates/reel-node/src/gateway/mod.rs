//! `reel gateway`: buys transcoding. RTMP and HTTP push come in through the media engine's
//! ingest (`reel_media::RtmpServer`, `MediaServer`); every segment goes to this module's
//! [`reel_media::SegmentHandler`], which finds an orchestrator for the stream, pays, submits,
//! verifies, retries elsewhere (at most `max_attempts` per segment), and hands the
//! renditions back to HLS.
//!
//! Per stream it keeps a session pool as go-livepeer does (§4.3): the orchestrators that
//! answered `GetOrchestrator` for this stream, each with its own auth token, price and ticket
//! params; their latency scores; which one is current; and which are suspended (for a
//! number of pool refreshes after a failure) or banned (a verification failure: never again
//! for this stream, catalogue #27).

pub mod discovery;
pub mod selection;
pub mod submit;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use reel_media::hls::HlsSettings;
use reel_media::pipeline::BoxFuture;
use reel_media::server::HttpSettings;
use reel_media::{
    HlsStore, MediaError, MediaServer, PipelineSettings, RtmpServer, RtmpSettings, Segment,
    SegmentHandler, SegmenterSettings, StreamName, TranscodeResult, VideoProfile,
};
use reel_net::EthSigner;
use reel_net::capabilities::Capabilities;
use reel_net::proto;
use reel_pm::{PricePerPixel, RenditionEstimate, TicketParams};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::{Counter, CounterVec, FloatCounter, Gauge, Histogram, Registry};
use crate::payments::GatewayPayments;
use crate::rpc::ServiceUri;
use crate::service::Served;
use crate::{FailureKind, NodeError};
use discovery::{Candidate, Discovered, OrchestratorSource};
use selection::{Choice, Reason, Weights};

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

/// One orchestrator session of one stream.
#[derive(Debug, Clone)]
struct OrchSession {
    d: Discovered,
    params: Option<TicketParams>,
    /// Position in the candidate list (off-chain selection goes in this order).
    order: usize,
    score: Option<f64>,
}

impl OrchSession {
    fn session_id(&self) -> String {
        self.d
            .info
            .auth_token
            .as_ref()
            .map(|t| t.session_id.clone())
            .unwrap_or_default()
    }

    /// The auth token expires within 3 minutes (go-livepeer refreshes in the last 10%).
    fn token_expiring(&self) -> bool {
        self.d
            .info
            .auth_token
            .as_ref()
            .is_none_or(|t| t.expiration - crate::orchestrator::unix_now() < 180)
    }
}

#[derive(Debug, Default)]
struct StreamState {
    sessions: BTreeMap<ServiceUri, OrchSession>,
    current: Option<ServiceUri>,
    /// The orchestrator that delivered the previous segment (for the swap count).
    last: Option<ServiceUri>,
    /// Orchestrator → pool refresh count until which it is suspended.
    suspended: HashMap<ServiceUri, u64>,
    banned: HashSet<ServiceUri>,
    refreshes: u64,
    segments: u64,
}

pub(crate) struct Core {
    settings: GatewaySettings,
    signer: EthSigner,
    source: Arc<dyn OrchestratorSource>,
    payments: Option<Arc<GatewayPayments>>,
    http: reqwest::Client,
    metrics: Metrics,
    job_caps: Capabilities,
    streams: Mutex<HashMap<StreamName, Arc<tokio::sync::Mutex<StreamState>>>>,
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
const CANDIDATE_TTL: Duration = Duration::from_secs(60);

fn media_error(e: &NodeError) -> MediaError {
    if let NodeError::TooManyStreams { limit } = e {
        return MediaError::TooManyStreams { limit: *limit };
    }
    MediaError::Io {
        context: "transcoding on the network".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

fn price_f64(p: &PricePerPixel) -> f64 {
    crate::payments::wei_f64(reel_types::Wei::from_base_units(p.num()))
        / crate::payments::wei_f64(reel_types::Wei::from_base_units(p.den())).max(1.0)
}

/// `a > b` for rationals, exactly.
fn price_above(a: &PricePerPixel, b: &PricePerPixel) -> bool {
    match (a.num().checked_mul(b.den()), b.num().checked_mul(a.den())) {
        (Some(x), Some(y)) => x > y,
        _ => true,
    }
}

impl Core {
    fn request(&self) -> proto::OrchestratorRequest {
        let mut r = reel_net::signed::signed_orchestrator_request(&self.signer);
        r.capabilities = Some(self.job_caps.to_proto());
        r
    }

    async fn candidates(&self) -> Result<Vec<Candidate>, NodeError> {
        let mut cache = self.candidates.lock().await;
        if let Some((at, c)) = cache.as_ref()
            && at.elapsed() < CANDIDATE_TTL
            && !c.is_empty()
        {
            return Ok(c.clone());
        }
        let c = self.source.candidates().await?;
        *cache = Some((Instant::now(), c.clone()));
        Ok(c)
    }

    fn usable(&self, st: &StreamState, uri: &ServiceUri, exclude: &[ServiceUri]) -> bool {
        !exclude.contains(uri)
            && !st.banned.contains(uri)
            && st
                .suspended
                .get(uri)
                .is_none_or(|until| st.refreshes >= *until)
            && st.sessions.get(uri).is_some_and(|s| {
                self.settings
                    .max_price
                    .is_none_or(|max| !price_above(&s.d.price, &max))
            })
    }

    /// Refreshes the stream's pool: asks every candidate not banned.
    async fn refresh(&self, stream: &str, st: &mut StreamState) -> Result<(), NodeError> {
        st.refreshes = st.refreshes.saturating_add(1);
        let cands: Vec<Candidate> = self
            .candidates()
            .await?
            .into_iter()
            .filter(|c| !st.banned.contains(&c.uri))
            .collect();
        if cands.is_empty() {
            return Err(NodeError::NoOrchestrators {
                stream: stream.to_owned(),
                reason: "no candidates (check --orch-addr, or the on-chain pool)".into(),
            });
        }
        let want = self.settings.pool_size.max(1);
        let (found, failed) = discovery::discover(
            &cands,
            &self.request(),
            &self.job_caps,
            want,
            self.settings.discovery_timeout,
        )
        .await;
        for (uri, why) in &failed {
            self.metrics.discovery_errors.inc();
            tracing::info!(target: "node::gateway", %stream, orch = %uri, error = %why, "orchestrator not usable");
        }
        for d in found {
            let uri = d.candidate.uri.clone();
            let params = match self.ticket_params(&d) {
                Ok(p) => p,
                Err(e) => {
                    tracing::info!(target: "node::gateway", %stream, orch = %uri, error = %e, "ticket params refused");
                    continue;
                }
            };
            let order = cands
                .iter()
                .position(|c| c.uri == uri)
                .unwrap_or(usize::MAX);
            let score = st.sessions.get(&uri).and_then(|s| s.score);
            st.sessions.insert(
                uri,
                OrchSession {
                    d,
                    params,
                    order,
                    score,
                },
            );
        }
        Ok(())
    }

    /// The ticket params of an answer, validated, when this gateway pays.
    fn ticket_params(&self, d: &Discovered) -> Result<Option<TicketParams>, NodeError> {
        let (Some(pay), Some(tp)) = (&self.payments, &d.info.ticket_params) else {
            return Ok(None);
        };
        if d.price.is_zero() {
            return Ok(None);
        }
        let params = TicketParams::from_proto(tp, tp.expiration_params.as_ref(), d.price)?;
        pay.validate(&params)?;
        Ok(Some(params))
    }

    /// Re-asks one orchestrator for a fresh session (expiring token or params).
    async fn renew(&self, st: &mut StreamState, uri: &ServiceUri) -> Result<(), NodeError> {
        let old = st
            .sessions
            .get(uri)
            .cloned()
            .ok_or_else(|| NodeError::Config("no such session".into()))?;
        let (info, latency) =
            discovery::get_orchestrator(uri, self.request(), crate::rpc::CALL_TIMEOUT).await?;
        let d = discovery::accept(&old.d.candidate, info, &self.job_caps, latency)
            .map_err(|why| NodeError::orchestrator(&uri.to_string(), FailureKind::Refused, why))?;
        let params = self.ticket_params(&d)?;
        st.sessions.insert(
            uri.clone(),
            OrchSession {
                d,
                params,
                order: old.order,
                score: old.score,
            },
        );
        Ok(())
    }

    fn suspend(&self, st: &mut StreamState, uri: &ServiceUri, e: &NodeError) {
        if e.failure_kind() == Some(FailureKind::Verification) {
            st.banned.insert(uri.clone());
            self.metrics.verification_failures.inc();
        } else if e.should_suspend_orchestrator() {
            // go-livepeer: ceil(poolSize / numOrchs) refreshes; at least one.
            let n = st.sessions.len().max(1) as u64;
            let penalty = n.div_ceil(self.settings.pool_size.max(1) as u64).max(1);
            st.suspended
                .insert(uri.clone(), st.refreshes.saturating_add(penalty));
        }
        if st.current.as_ref() == Some(uri) {
            st.current = None;
        }
        if e.should_refresh_session() || e.should_suspend_orchestrator() {
            // Its token and params are no longer trusted; a refresh asks again.
            st.sessions.remove(uri);
        }
    }

    fn pick(&self, st: &StreamState, exclude: &[ServiceUri]) -> Option<(ServiceUri, Reason)> {
        let uris: Vec<&ServiceUri> = st
            .sessions
            .keys()
            .filter(|u| self.usable(st, u, exclude))
            .collect();
        let choices: Vec<Choice> = uris
            .iter()
            .map(|u| {
                let s = &st.sessions[*u];
                Choice {
                    stake: s.d.candidate.stake,
                    price: price_f64(&s.d.price),
                    score: s.score,
                    current: st.current.as_ref() == Some(*u),
                }
            })
            .collect();
        // Off-chain order follows the configured list, not the URI order of the map.
        let (uris, choices) = if self.source.ordered() {
            let mut idx: Vec<usize> = (0..uris.len()).collect();
            idx.sort_by_key(|i| st.sessions[uris[*i]].order);
            (
                idx.iter().map(|i| uris[*i]).collect::<Vec<_>>(),
                idx.iter().map(|i| choices[*i].clone()).collect::<Vec<_>>(),
            )
        } else {
            (uris, choices)
        };
        let (i, reason) = selection::select(
            &choices,
            &self.settings.weights,
            self.source.ordered(),
            selection::draw(),
        )?;
        Some((uris[i].clone(), reason))
    }

    fn payment_for(
        &self,
        s: &OrchSession,
        duration: Duration,
    ) -> Result<Option<crate::payments::SegmentPayment>, NodeError> {
        let (Some(pay), Some(params)) = (&self.payments, &s.params) else {
            return Ok(None);
        };
        let renditions: Vec<RenditionEstimate> = self
            .settings
            .ladder
            .iter()
            .map(|p| RenditionEstimate {
                width: p.width,
                height: p.height,
                fps_num: if p.fps == 0 { 60 } else { p.fps },
                fps_den: if p.fps == 0 { 1 } else { p.fps_den.max(1) },
            })
            .collect();
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let fee = reel_pm::segment_fee_estimate(&renditions, ms, &s.d.price)?;
        pay.pay(s.d.address, &s.session_id(), params, fee)
    }

    /// One segment, with failover.
    async fn transcode(
        self: Arc<Self>,
        stream: StreamName,
        segment: Segment,
    ) -> Result<TranscodeResult, NodeError> {
        let t0 = Instant::now();
        self.metrics.source_appeared.inc();
        let slot = {
            let mut m = self
                .streams
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !m.contains_key(&stream) && m.len() >= self.settings.max_streams {
                return Err(NodeError::NoOrchestrators {
                    stream: stream.to_string(),
                    reason: format!(
                        "{} streams already running (--max-streams)",
                        self.settings.max_streams
                    ),
                });
            }
            let s = Arc::clone(m.entry(stream.clone()).or_default());
            self.metrics.streams.set(m.len() as i64);
            s
        };
        let mut st = slot.lock().await;
        st.segments = st.segments.saturating_add(1);
        let ts = segment.to_ts();
        let mut duration = segment.duration();
        if duration.is_zero() {
            duration = self.settings.segment_length;
        }
        let mut exclude: Vec<ServiceUri> = Vec::new();
        let mut last = String::from("no orchestrator tried");
        let mut last_orch = String::new();
        let mut attempts = 0u32;
        while attempts < self.settings.max_attempts {
            let mut pick = self.pick(&st, &exclude);
            if pick.is_none() {
                if let Err(e) = self.refresh(stream.as_str(), &mut st).await {
                    last = e.to_string();
                    break;
                }
                pick = self.pick(&st, &exclude);
            }
            let Some((uri, reason)) = pick else {
                last = format!("no usable orchestrator ({last})");
                break;
            };
            attempts += 1;
            if st.sessions.get(&uri).is_some_and(|s| {
                s.token_expiring()
                    || s.params.as_ref().is_some_and(|p| {
                        self.payments
                            .as_ref()
                            .is_some_and(|pay| pay.validate(p).is_err())
                    })
            }) && let Err(e) = self.renew(&mut st, &uri).await
            {
                self.suspend(&mut st, &uri, &e);
                exclude.push(uri);
                last = e.to_string();
                continue;
            }
            let Some(sess) = st.sessions.get(&uri).cloned() else {
                continue;
            };
            last_orch = uri.to_string();
            let pay = match self.payment_for(&sess, duration) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(target: "node::gateway", %stream, orch = %uri, error = %e, "cannot pay this orchestrator");
                    let e = NodeError::orchestrator(
                        &uri.to_string(),
                        FailureKind::Payment,
                        e.to_string(),
                    );
                    self.suspend(&mut st, &uri, &e);
                    exclude.push(uri);
                    last = e.to_string();
                    continue;
                }
            };
            let (tickets, value) = pay
                .as_ref()
                .map_or((0, reel_types::Wei::ZERO), |p| (p.tickets, p.value));
            let req = submit::Request {
                manifest: stream.as_str(),
                seq: segment.seq,
                ts: &ts,
                duration,
                ladder: &self.settings.ladder,
                auth_token: sess.d.info.auth_token.clone().unwrap_or_default(),
                capabilities: self.job_caps.to_proto(),
                payment: pay.as_ref().map(|p| p.payment.clone()).unwrap_or_default(),
            };
            let session_id = sess.session_id();
            let accepted = || {
                if let (Some(p), Some(pay)) = (&pay, &self.payments) {
                    self.metrics.tickets_sent.add(u64::from(p.tickets));
                    self.metrics
                        .ticket_value_sent
                        .add(crate::payments::wei_f64(p.value));
                    if let Err(e) = pay.credit(sess.d.address, &session_id, p.value, sess.d.price) {
                        tracing::warn!(target: "node::gateway", error = %e, "crediting the session failed");
                    }
                }
            };
            let sent = Instant::now();
            let r = submit::submit(
                &self.http,
                &self.signer,
                &sess.d.service,
                sess.d.address,
                req,
                self.settings.local_verify,
                accepted,
            )
            .await;
            match r {
                Ok(done) => {
                    let round_trip = sent.elapsed();
                    let score = selection::latency_score(round_trip, duration);
                    if let Some(pay) = &self.payments
                        && !sess.d.price.is_zero()
                        && let Err(e) = pay.debit(
                            sess.d.address,
                            &session_id,
                            done.reported_pixels,
                            sess.d.price,
                        )
                    {
                        tracing::warn!(target: "node::gateway", error = %e, "debiting the session failed");
                    }
                    if st.last.as_ref().is_some_and(|c| *c != uri) {
                        self.metrics.swaps.inc();
                    }
                    st.current = Some(uri.clone());
                    st.last = Some(uri.clone());
                    if let Some(s) = st.sessions.get_mut(&uri) {
                        s.score = Some(score);
                        if let Some(info) = done.info
                            && let Ok(d) =
                                discovery::accept(&s.d.candidate, info, &self.job_caps, s.d.latency)
                            && d.address == s.d.address
                        {
                            // Fresh params and price piggy-backed on the result.
                            if let Ok(p) = self.ticket_params(&d) {
                                s.params = p;
                                s.d = d;
                            }
                        }
                    }
                    self.metrics.transcoded.inc();
                    self.metrics.segments_by_orch.inc(&[&uri.to_string()]);
                    self.metrics
                        .overall_latency
                        .observe(t0.elapsed().as_secs_f64());
                    tracing::info!(target: "node::gateway", %stream, seq = segment.seq, orch = %uri, %reason, attempts, ms = t0.elapsed().as_millis() as u64, "segment transcoded");
                    let _ = self.events.send(SegmentEvent {
                        stream: stream.to_string(),
                        seq: segment.seq,
                        orchestrator: uri.to_string(),
                        address: sess.d.address,
                        reason: reason.to_string(),
                        attempts,
                        latency: t0.elapsed(),
                        tickets,
                        value,
                        pixels: done.reported_pixels,
                        outcome: Ok(()),
                    });
                    let reset = segment
                        .discontinuity
                        .then_some(reel_media::ResetReason::Discontinuity);
                    return Ok(TranscodeResult {
                        seq: segment.seq,
                        input_size: done.input_size,
                        decoded_frames: 0,
                        decoded_pixels: 0,
                        duration_ticks: segment.duration_ticks,
                        renditions: done.renditions,
                        reset,
                    });
                }
                Err(e) => {
                    self.metrics.attempt_failures.inc(&[&e
                        .failure_kind()
                        .map_or("other".to_owned(), |k| k.to_string())]);
                    tracing::warn!(target: "node::gateway", %stream, seq = segment.seq, orch = %uri, attempt = attempts, error = %e, "attempt failed");
                    self.suspend(&mut st, &uri, &e);
                    exclude.push(uri);
                    last = e.to_string();
                }
            }
        }
        self.metrics.failed.inc();
        let _ = self.events.send(SegmentEvent {
            stream: stream.to_string(),
            seq: segment.seq,
            orchestrator: last_orch,
            address: Address::ZERO,
            reason: String::new(),
            attempts,
            latency: t0.elapsed(),
            tickets: 0,
            value: reel_types::Wei::ZERO,
            pixels: 0,
            outcome: Err(last.clone()),
        });
        Err(NodeError::SegmentFailed {
            stream: stream.to_string(),
            seq: segment.seq,
            attempts,
            last,
        })
    }

    fn end_stream(self: &Arc<Self>, stream: &StreamName) {
        let slot = {
            let mut m = self
                .streams
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let s = m.remove(stream);
            self.metrics.streams.set(m.len() as i64);
            s
        };
        let Some(slot) = slot else { return };
        let stream = stream.clone();
        self.tasks.spawn(async move {
            let st = slot.lock().await;
            for (uri, s) in &st.sessions {
                let Some(token) = s.d.info.auth_token.clone() else { continue };
                let Ok(channel) = crate::rpc::grpc_channel(uri, Duration::from_secs(3)) else { continue };
                let mut c = proto::orchestrator_client::OrchestratorClient::new(channel);
                let req = proto::EndTranscodingSessionRequest { auth_token: Some(token) };
                if let Err(e) = c.end_transcoding_session(req).await {
                    tracing::debug!(target: "node::gateway", %stream, orch = %uri, error = %e.message(), "ending the session failed");
                }
            }
            tracing::info!(target: "node::gateway", %stream, "stream ended");
        });
    }
}

/// The `SegmentHandler` the media engine calls.
#[derive(Debug, Clone)]
pub struct Handler(Arc<Core>);

impl SegmentHandler for Handler {
    fn transcode(
        &self,
        stream: StreamName,
        segment: Segment,
    ) -> BoxFuture<Result<TranscodeResult, MediaError>> {
        let core = Arc::clone(&self.0);
        Box::pin(async move {
            core.transcode(stream, segment)
                .await
                .map_err(|e| media_error(&e))
        })
    }

    fn end_stream(&self, stream: &StreamName) {
        self.0.end_stream(stream);
    }
}

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
    /// The background tasks: runs, failures in a row, last error.
    pub tasks: serde_json::Value,
}

impl Core {
    async fn status(&self) -> GatewayStatus {
        let slots: Vec<(StreamName, Arc<tokio::sync::Mutex<StreamState>>)> = self
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
            let mut uris: Vec<&ServiceUri> = st.sessions.keys().collect();
            for b in &st.banned {
                if !uris.contains(&b) {
                    uris.push(b);
                }
            }
            streams.push(StreamStatus {
                stream: name.to_string(),
                segments: st.segments,
                current: st.current.as_ref().map(ToString::to_string),
                orchestrators: uris
                    .into_iter()
                    .map(|u| {
                        let s = st.sessions.get(u);
                        OrchStatus {
                            uri: u.to_string(),
                            address: s.map(|s| s.d.address.to_checksum(None)).unwrap_or_default(),
                            price: s.map(|s| s.d.price.to_string()).unwrap_or_default(),
                            latency_score: s.and_then(|s| s.score),
                            suspended: st.suspended.get(u).is_some_and(|t| st.refreshes < *t),
                            banned: st.banned.contains(u),
                        }
                    })
                    .collect(),
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
    .spawn(http_listener, shutdown.clone())?;
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
