//! The orchestrator's HTTP endpoints on the service port, and `/status` + `/metrics` on
//! the CLI port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use reel_net::http::{self as wire, BodyKind, Limits};
use reel_net::proto;

use super::output::{OutRendition, Output, WorkError};
use super::state::{ActiveSession, Inner};
use super::work::Job;
use crate::jobs::transcode;
use crate::orchestrator::fetch;
use crate::util::unix_now;

/// Header values a transcoder sends with its results (go-livepeer's).
pub const TRANSCODER_AUTH: &str = "Livepeer-Transcoder-1.0";
/// Content type of a transcoder's error answer.
pub const TRANSCODING_ERROR: &str = "livepeer/transcoding-error";
/// Where job workers post results.
pub const JOB_RESULTS_PATH: &str = "/jobResults";
/// Content type of a job worker's error answer: a JSON `{"status", "message"}`.
pub const JOB_ERROR: &str = "livepeer/job-error";

pub(super) fn service_routes(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(wire::SEGMENT_PATH, post(segment))
        .route(wire::PAYMENT_PATH, post(payment))
        .route("/transcodeResults", post(transcode_results))
        .route("/transcoder/input/{task}", get(task_input))
        .route("/worker/input/{task}", get(job_input))
        .route(JOB_RESULTS_PATH, post(job_results))
        .route("/results/{token}/{file}", get(result_file))
        .with_state(inner)
}

pub(super) fn cli_routes(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(super::health::healthz))
        .with_state(inner)
}

/// A refusal before the early 200: status, a metric label, and the message for the peer.
#[derive(Debug)]
pub(super) struct Reject {
    pub(super) status: StatusCode,
    pub(super) reason: &'static str,
    pub(super) message: String,
}

impl Reject {
    pub(super) fn new(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        (self.status, format!("{}\n", self.message)).into_response()
    }
}

fn net_reject(e: &reel_net::NetError, reason: &'static str) -> Reject {
    Reject::new(e.status(), reason, e.to_string())
}

fn limits(inner: &Inner) -> Limits {
    Limits {
        max_segment_bytes: inner.settings.max_segment_bytes,
        ..Limits::default()
    }
}

/// Marks a session's segment in flight; clears the mark however the request ends.
struct InFlight {
    inner: Arc<Inner>,
    session: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.inner.lock_sessions();
        if let Some(a) = s.map.get_mut(&self.session).and_then(|v| v.active.as_mut()) {
            a.in_flight = false;
            a.last = Instant::now();
        }
    }
}

async fn segment(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut body = Some(body);
    match handle_segment(&inner, peer, &headers, &mut body).await {
        Ok(r) => r,
        Err(rej) => {
            inner.metrics.rejected.inc(&[rej.reason]);
            tracing::info!(target: "node::orchestrator", %peer, reason = rej.reason, error = %rej.message, "segment refused");
            // A flood gets no reading time; everyone else gets to read why.
            if let Some(body) = body
                && rej.reason != "rate_limited"
            {
                let max = inner.settings.max_segment_bytes.min(DRAIN_MAX_BYTES);
                drain_refused(body, max, DRAIN_WITHIN).await;
            }
            rej.into_response()
        }
    }
}

/// At most this much of a refused upload is read and dropped, …
const DRAIN_MAX_BYTES: usize = 16 << 20;
/// … for at most this long.
const DRAIN_WITHIN: Duration = Duration::from_secs(2);

/// Reads and drops what is left of a refused upload, bounded in bytes and time. An HTTP/1.1
/// server that answers before reading the body closes the socket under a client that is
/// still sending, and the client's kernel then throws our answer away with the reset: the
/// gateway would see "broken pipe" instead of why it was refused (nginx's "lingering close").
async fn drain_refused(body: Body, max_bytes: usize, within: Duration) {
    use tokio_stream::StreamExt as _;
    let mut stream = body.into_data_stream();
    let _ = tokio::time::timeout(within, async {
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            seen = seen.saturating_add(chunk.len());
            if seen > max_bytes {
                break;
            }
        }
    })
    .await;
}

/// The checks shared by `/segment` and `/payment`: rate, token, session, signature.
pub(super) struct Checked {
    pub(super) seg: proto::SegData,
    pub(super) payment: Option<proto::Payment>,
    pub(super) session: String,
    pub(super) gateway: alloy_primitives::Address,
    pub(super) kind: BodyKind,
}

/// Admission's first step, shared by every kind: rate, auth token, session, signature,
/// capabilities.
pub(super) fn check_request(
    inner: &Inner,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Checked, Reject> {
    if !inner.limiter.allow(peer.ip(), Instant::now()) {
        inner.metrics.rate_limited.inc();
        return Err(Reject::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "rate limit: slow down",
        ));
    }
    let req = wire::parse_segment_request(headers, &limits(inner))
        .map_err(|e| net_reject(&e, "bad_headers"))?;
    let seg = req.seg_data;
    reel_net::signed::verify_auth_token(&inner.auth_secret, seg.auth_token.as_ref(), unix_now())
        .map_err(|e| net_reject(&e, "auth_token"))?;
    let session = seg
        .auth_token
        .as_ref()
        .map(|t| t.session_id.clone())
        .unwrap_or_default();
    let gateway = inner
        .lock_sessions()
        .map
        .get(&session)
        .map(|s| s.gateway)
        .ok_or_else(|| {
            Reject::new(
                StatusCode::FORBIDDEN,
                "unknown_session",
                "unknown session: call GetOrchestrator for a fresh one",
            )
        })?;
    if let Some(p) = &req.payment
        && !p.sender.is_empty()
        && p.sender.as_slice() != gateway.as_slice()
    {
        return Err(Reject::new(
            StatusCode::FORBIDDEN,
            "wrong_sender",
            "the payment's sender is not the gateway this session was issued to",
        ));
    }
    // An anonymous (off-chain, unsigned) session has no key to check segments against; its
    // auth token is what binds the segments to it.
    if !gateway.is_zero() {
        reel_net::signed::verify_seg_data(&seg, gateway)
            .map_err(|e| net_reject(&e, "segment_signature"))?;
    }
    if let Some(caps) = &seg.capabilities {
        let job = reel_net::capabilities::Capabilities::from_proto(caps)
            .map_err(|e| net_reject(&e, "capabilities"))?;
        let (node, _) = inner.capabilities().map_err(|e| {
            Reject::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })?;
        job.fits(Some(&node))
            .map_err(|e| Reject::new(StatusCode::BAD_REQUEST, "capabilities", e.to_string()))?;
    }
    Ok(Checked {
        seg,
        payment: req.payment,
        session,
        gateway,
        kind: req.body,
    })
}

async fn handle_segment(
    inner: &Arc<Inner>,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: &mut Option<Body>,
) -> Result<Response, Reject> {
    let c = check_request(inner, peer, headers)?;
    inner.metrics.segments_received.inc();
    let ladder = crate::profiles::ladder_of(&c.seg)
        .map_err(|e| Reject::new(StatusCode::BAD_REQUEST, "profiles", e.to_string()))?;
    let seq = c.seg.seq;
    let price = inner.price_for(c.gateway);
    // A stream that crashed worker processes before is refused up front (see
    // docs/faults.md#poison-streams).
    if let Some(w) = &inner.work.workers
        && let Some((key, n)) = w.crashes.refused_stream(&c.seg.manifest_id)
    {
        return Err(poison(&key, n));
    }

    // Capacity: a new session over the limit is capped; a second segment at once is busy.
    let guard = {
        let mut s = inner.lock_sessions();
        let active = s.active_count();
        let Some(sess) = s.map.get_mut(&c.session) else {
            return Err(Reject::new(
                StatusCode::FORBIDDEN,
                "unknown_session",
                "unknown session: call GetOrchestrator for a fresh one",
            ));
        };
        match &mut sess.active {
            Some(a) if a.in_flight => {
                return Err(Reject::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "OrchestratorBusy",
                ));
            }
            Some(a) => a.in_flight = true,
            None if active >= inner.settings.max_sessions => {
                return Err(Reject::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "capped",
                    "OrchestratorCapped",
                ));
            }
            None => {
                sess.active = Some(ActiveSession {
                    last: Instant::now(),
                    segments: 0,
                    charged_pixels: 0,
                    in_flight: true,
                    last_worker: String::new(),
                    price,
                });
            }
        }
        inner.metrics.sessions.set(s.active_count() as i64);
        InFlight {
            inner: Arc::clone(inner),
            session: c.session.clone(),
        }
    };

    // Payment: tickets are stored before any credit (inside receive), then the balance
    // must cover one ticket's EV before any work is done.
    if let Some(payments) = &inner.payments
        && !price.is_zero()
    {
        if let Some(p) = &c.payment {
            match payments
                .receive(p, c.gateway, &transcode::scope(&c.session), price)
                .await
            {
                Ok(outcome) => {
                    inner.metrics.tickets_recv.add(u64::from(outcome.accepted));
                    inner
                        .metrics
                        .winning_tickets_recv
                        .add(u64::from(outcome.winners));
                    inner
                        .metrics
                        .ticket_value_recv
                        .add(crate::payments::wei_f64(outcome.credited));
                    if !outcome.rejected.is_empty() {
                        inner
                            .metrics
                            .payment_recv_errors
                            .add(outcome.rejected.len() as u64);
                    }
                    if outcome.accepted == 0
                        && let Some(e) = outcome.first_error()
                    {
                        tracing::info!(target: "node::orchestrator", session = %c.session, error = %e, "no ticket of the payment was credited");
                    }
                }
                Err(e) => {
                    // A store that cannot take the tickets refuses the segment too: no
                    // output without stored tickets (see docs/faults.md#n1-store-before-credit,
                    // #ticket-store-unavailable).
                    inner.metrics.payment_recv_errors.inc();
                    let (status, reason, message) = super::health::payment_refusal(&e);
                    return Err(Reject::new(status, reason, message));
                }
            }
        }
        let account = transcode::scope(&c.session).account(c.gateway);
        if !payments.sufficient_balance(&account, &price, reel_types::Wei::ZERO) {
            return Err(Reject::new(
                StatusCode::BAD_REQUEST,
                "insufficient_balance",
                "Insufficient balance",
            ));
        }
    }

    let Some(body) = body.take() else {
        return Err(Reject::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "segment body already taken",
        ));
    };
    let input = read_segment_body(inner, headers, c.kind, body).await?;
    wire::verify_body_hash(&c.seg, &input).map_err(|e| net_reject(&e, "body_hash"))?;
    if let Some(w) = &inner.work.workers
        && let Some((key, n)) = w.crashes.refused_segment(&input)
    {
        return Err(poison(&key, n));
    }

    // From here on the answer is 200 and errors travel inside the TranscodeResult.
    let duration = Duration::from_millis(u64::try_from(c.seg.duration).unwrap_or(0));
    let inner2 = Arc::clone(inner);
    let session = c.session.clone();
    let gateway = c.gateway;
    let token = c.seg.auth_token.clone().unwrap_or_default();
    let seg = c.seg;
    let work = inner.tasks.tracker().spawn(async move {
        let _guard = guard;
        let t0 = Instant::now();
        let outcome = transcode(&inner2, &session, seg, ladder, input, duration).await;
        let info = inner2.info(gateway, token).await.ok();
        let result = match outcome {
            Ok(out) => {
                let hashes = rendition_hashes(&out.renditions).await;
                finish(&inner2, &session, gateway, price, seq, out, &hashes, t0, info)
            }
            Err(e) => {
                inner2.metrics.transcode_failed.inc();
                tracing::warn!(target: "node::orchestrator", %session, seq, error = %e, "transcode failed");
                wire::error_result(seq, e.to_string(), info)
            }
        };
        Bytes::from(wire::encode_transcode_result(&result))
    });
    let body = Body::from_stream(futures_once(async move {
        work.await
            .map_err(|e| std::io::Error::other(format!("transcode task: {e}")))
    }));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, wire::CONTENT_TYPE_PROTOBUF)],
        body,
    )
        .into_response())
}

/// The refusal of a stream or segment that crashed worker processes `n` times. Nothing
/// was transcoded, so nothing is charged; the gateway takes the stream elsewhere.
fn poison(key: &super::workers::CrashKey, n: u32) -> Reject {
    tracing::warn!(target: "node::orchestrator", %key, crashes = n, "refused: it crashed transcode workers before");
    Reject::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "poison",
        format!(
            "{key} crashed this orchestrator's transcode workers {n} times: refused here \
             (try another orchestrator, or check the stream's encoding)"
        ),
    )
}

/// A one-item stream of a future's result, for a body sent after the headers.
fn futures_once<F>(f: F) -> OnceStream<F>
where
    F: std::future::Future<Output = Result<Bytes, std::io::Error>>,
{
    OnceStream(Some(Box::pin(f)))
}

struct OnceStream<F>(Option<std::pin::Pin<Box<F>>>);

impl<F> tokio_stream::Stream for OnceStream<F>
where
    F: std::future::Future<Output = Result<Bytes, std::io::Error>>,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let Some(f) = self.0.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                self.0 = None;
                std::task::Poll::Ready(Some(v))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

async fn read_segment_body(
    inner: &Inner,
    headers: &HeaderMap,
    kind: BodyKind,
    body: Body,
) -> Result<Bytes, Reject> {
    let lim = limits(inner);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared {
        wire::check_body_len(kind, n, &lim).map_err(|e| net_reject(&e, "too_large"))?;
    }
    let max = match kind {
        BodyKind::Inline => lim.max_segment_bytes,
        BodyKind::Uri => lim.max_uri_bytes,
    };
    let bytes = tokio::time::timeout(
        inner.settings.upload_timeout,
        axum::body::to_bytes(body, max),
    )
    .await
    .map_err(|_| {
        Reject::new(
            StatusCode::REQUEST_TIMEOUT,
            "upload_timeout",
            "segment upload too slow",
        )
    })?
    .map_err(|e| {
        Reject::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("segment body refused: {e}"),
        )
    })?;
    match kind {
        BodyKind::Inline => Ok(bytes),
        BodyKind::Uri => {
            let uri =
                wire::parse_segment_uri(&bytes, &lim).map_err(|e| net_reject(&e, "segment_uri"))?;
            let policy = fetch::UrlPolicy {
                max_bytes: lim.max_segment_bytes,
                ..inner.settings.url_policy.clone()
            };
            fetch::fetch(&policy, &uri)
                .await
                .map_err(|e| Reject::new(StatusCode::BAD_REQUEST, "segment_uri", e.to_string()))
        }
    }
}

async fn transcode(
    inner: &Arc<Inner>,
    session: &str,
    seg: proto::SegData,
    ladder: Vec<reel_media::VideoProfile>,
    input: Bytes,
    duration: Duration,
) -> Result<Output, WorkError> {
    #[cfg(feature = "test-hooks")]
    let (seg, ladder) = super::faults::before(inner.settings.fault, seg, ladder);
    let want = ladder.len();
    let base = inner.uri.base();
    let job = Job {
        session: session.to_owned(),
        seg_data: seg,
        ladder,
        input,
        duration,
    };
    let out = inner
        .work
        .transcode(job, |task| format!("{base}/transcoder/input/{task}"))
        .await?;
    if out.renditions.len() != want {
        return Err(WorkError::Media(format!(
            "MismatchedSegments: {} renditions for {want} profiles",
            out.renditions.len()
        )));
    }
    if out.renditions.iter().any(|r| r.data.len() < 25) {
        return Err(WorkError::Media("ZeroSegments: an empty rendition".into()));
    }
    #[cfg(feature = "test-hooks")]
    let out = super::faults::after(inner.settings.fault, out);
    Ok(out)
}

/// The renditions' keccak-256 hashes (what the result signature covers), one blocking
/// thread each: the gateway waits for them, so they run in parallel, off the runtime.
async fn rendition_hashes(renditions: &[OutRendition]) -> Vec<alloy_primitives::B256> {
    let tasks: Vec<_> = renditions
        .iter()
        .map(|r| {
            let data = r.data.clone();
            tokio::task::spawn_blocking(move || wire::segment_hash(&data))
        })
        .collect();
    let mut hashes = Vec::with_capacity(tasks.len());
    for (task, r) in tasks.into_iter().zip(renditions) {
        // A hashing thread cannot panic short of a bug; hash here then rather than fail.
        hashes.push(task.await.unwrap_or_else(|_| wire::segment_hash(&r.data)));
    }
    hashes
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the list
fn finish(
    inner: &Arc<Inner>,
    session: &str,
    gateway: alloy_primitives::Address,
    price: reel_pm::PricePerPixel,
    seq: i64,
    out: Output,
    hashes: &[alloy_primitives::B256],
    t0: Instant,
    info: Option<proto::OrchestratorInfo>,
) -> proto::TranscodeResult {
    let pixels: u64 = out.renditions.iter().map(|r| r.pixels).sum();
    let token = crate::util::random_hex(16);
    let base = inner.uri.base();
    let sig = reel_net::signed::sign_transcode_result(&inner.signer, hashes);
    let segments = out
        .renditions
        .iter()
        .enumerate()
        .map(|(i, r)| proto::TranscodedSegmentData {
            url: format!("{base}/results/{token}/{i}.ts"),
            pixels: i64::try_from(r.pixels).unwrap_or(i64::MAX),
            ..Default::default()
        })
        .collect();
    let data: Vec<Bytes> = out
        .renditions
        .into_iter()
        .map(|r: OutRendition| r.data)
        .collect();
    inner
        .results
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            token,
            data,
            inner.settings.result_ttl,
            inner.settings.result_memory,
        );
    // Charged once, here, for the result the gateway gets: retries on other transcoders
    // before this point cost the gateway nothing.
    if let Some(p) = &inner.payments
        && !price.is_zero()
        && let Err(e) = p.debit(&transcode::scope(session).account(gateway), pixels, price)
    {
        tracing::warn!(target: "node::orchestrator", %session, error = %e, "debit failed");
    }
    {
        let mut s = inner.lock_sessions();
        if let Some(a) = s.map.get_mut(session).and_then(|v| v.active.as_mut()) {
            a.segments = a.segments.saturating_add(1);
            a.charged_pixels = a.charged_pixels.saturating_add(pixels);
            a.last_worker.clone_from(&out.worker);
        }
    }
    let elapsed = t0.elapsed();
    inner.metrics.transcoded.inc();
    inner.metrics.by_worker.inc(&[&out.worker]);
    inner.metrics.transcode_time.observe(elapsed.as_secs_f64());
    inner.metrics.mil_pixels.add(pixels as f64 / 1e6);
    tracing::info!(target: "node::orchestrator", %session, seq, worker = %out.worker, pixels, ms = elapsed.as_millis() as u64, "segment transcoded");
    proto::TranscodeResult {
        seq,
        result: Some(proto::transcode_result::Result::Data(
            proto::TranscodeData {
                segments,
                sig: sig.to_vec(),
            },
        )),
        info,
    }
}

async fn payment(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let c = match check_request(&inner, peer, &headers) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    if let (Some(payments), Some(p)) = (&inner.payments, &c.payment) {
        // `/payment` tops up a stream's credit at its price (go-livepeer's payment-only
        // request).
        let price = inner.price_for(c.gateway);
        match payments
            .receive(p, c.gateway, &transcode::scope(&c.session), price)
            .await
        {
            Ok(o) => {
                inner.metrics.tickets_recv.add(u64::from(o.accepted));
                inner.metrics.winning_tickets_recv.add(u64::from(o.winners));
                inner
                    .metrics
                    .ticket_value_recv
                    .add(crate::payments::wei_f64(o.credited));
            }
            Err(e) => {
                inner.metrics.payment_recv_errors.inc();
                return super::health::payment_refusal_response(&e);
            }
        }
    }
    let token = c.seg.auth_token.clone().unwrap_or_default();
    match inner.info(c.gateway, token).await {
        Ok(info) => {
            let body = wire::encode_payment_result(&proto::PaymentResult { info: Some(info) });
            ([(header::CONTENT_TYPE, wire::CONTENT_TYPE_PROTOBUF)], body).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

fn transcoder_authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    let given = headers
        .get("credentials")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    inner.transcoder_kind(given).is_some()
}

async fn task_input(
    State(inner): State<Arc<Inner>>,
    Path(task): Path<i64>,
    headers: HeaderMap,
) -> Response {
    if !transcoder_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    match inner.work.remotes.input(task) {
        Some(data) => ([(header::CONTENT_TYPE, "video/mp2t")], data).into_response(),
        None => (StatusCode::NOT_FOUND, "no such task\n").into_response(),
    }
}

async fn job_input(
    State(inner): State<Arc<Inner>>,
    Path(task): Path<i64>,
    headers: HeaderMap,
) -> Response {
    if !transcoder_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    match inner.work.remotes.job_input(task) {
        Some((ct, data)) => ([(header::CONTENT_TYPE, ct)], data).into_response(),
        None => (StatusCode::NOT_FOUND, "no such task\n").into_response(),
    }
}

/// A job worker's answer: the output with its units, or an error with its status.
async fn job_results(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Body) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != TRANSCODER_AUTH || !transcoder_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(task) = header_str("taskid").and_then(|v| v.trim().parse::<i64>().ok()) else {
        return (StatusCode::BAD_REQUEST, "missing TaskId\n").into_response();
    };
    let max = reel_net::http::Limits::default().max_result_bytes;
    let bytes = match tokio::time::timeout(Duration::from_secs(30), axum::body::to_bytes(body, max))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")).into_response(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "too slow\n").into_response(),
    };
    let ct = header_str(header::CONTENT_TYPE.as_str())
        .unwrap_or_default()
        .to_owned();
    let result = if ct.starts_with(JOB_ERROR) {
        Err(job_error_of(&bytes))
    } else {
        match header_str(reel_jobs::wire::UNITS).and_then(|u| u.trim().parse::<u64>().ok()) {
            Some(units) => Ok(reel_jobs::JobOutput {
                content_type: ct,
                body: bytes,
                units,
            }),
            None => Err(reel_jobs::JobError::Failed(format!(
                "the worker's result has no {} header",
                reel_jobs::wire::UNITS
            ))),
        }
    };
    if inner.work.remotes.complete_job(task, result) {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such task waiting\n").into_response()
    }
}

/// A worker's error answer, keeping its status class (a bad request stays a bad request).
fn job_error_of(body: &[u8]) -> reel_jobs::JobError {
    use reel_jobs::JobError as E;
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let message = v["message"].as_str().map_or_else(
        || String::from_utf8_lossy(&body[..body.len().min(1024)]).into_owned(),
        str::to_owned,
    );
    match v["status"].as_u64() {
        Some(400) => E::BadRequest(message),
        Some(404) => E::UnknownModel {
            kind: "job".into(),
            model: message,
        },
        Some(415) => E::UnsupportedMedia(message),
        Some(422) => E::Unprocessable(message),
        Some(503) => E::Busy(message),
        _ => E::Failed(message),
    }
}

async fn transcode_results(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != TRANSCODER_AUTH || !transcoder_authorized(&inner, &headers) {
        return (StatusCode::UNAUTHORIZED, "invalid credentials\n").into_response();
    }
    let Some(task) = headers
        .get("taskid")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
    else {
        return (StatusCode::BAD_REQUEST, "missing TaskId\n").into_response();
    };
    let max = inner.settings.max_segment_bytes.saturating_mul(2);
    let bytes = match tokio::time::timeout(Duration::from_secs(30), axum::body::to_bytes(body, max))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n")).into_response(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "too slow\n").into_response(),
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let result = if ct.starts_with(TRANSCODING_ERROR) {
        Err(WorkError::TranscoderFailed {
            id: 0,
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned(),
        })
    } else {
        parse_results(&headers, ct, &bytes)
    };
    if inner.work.remotes.complete(task, None, result) {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::NOT_FOUND, "no such task waiting\n").into_response()
    }
}

fn parse_results(headers: &HeaderMap, ct: &str, body: &[u8]) -> Result<Output, WorkError> {
    let bad = |why: String| WorkError::TranscoderFailed {
        id: 0,
        message: why,
    };
    let boundary = reel_media::multipart::boundary(ct)
        .ok_or_else(|| bad("results are not multipart/mixed".into()))?;
    let parts = reel_media::multipart::parse(boundary, body).map_err(|e| bad(e.to_string()))?;
    let decoded_pixels = headers
        .get("pixels")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut renditions = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        let ctype = p.header("Content-Type").unwrap_or_default();
        if ctype.starts_with("application/octet-stream") {
            // A perceptual hash part; not used.
            continue;
        }
        let pixels = p
            .header("Pixels")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad(format!("part {i} has no Pixels header")))?;
        renditions.push(OutRendition {
            name: p
                .header("Rendition-Name")
                .map_or_else(|| format!("rendition-{i}"), str::to_owned),
            data: p.body,
            pixels,
        });
    }
    Ok(Output {
        decoded_pixels,
        renditions,
        worker: "remote".into(),
    })
}

async fn result_file(
    State(inner): State<Arc<Inner>>,
    Path((token, file)): Path<(String, String)>,
) -> Response {
    let idx = file
        .strip_suffix(".ts")
        .and_then(|i| i.parse::<usize>().ok());
    let data = idx.and_then(|i| {
        inner
            .results
            .lock()
            .ok()?
            .get(&token, i, inner.settings.result_ttl)
    });
    match data {
        Some(d) => ([(header::CONTENT_TYPE, "video/mp2t")], d).into_response(),
        None => (StatusCode::NOT_FOUND, "no such result\n").into_response(),
    }
}

async fn status(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(super::status::status(&inner)).into_response()
}

async fn metrics(State(inner): State<Arc<Inner>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        inner.metrics.registry.render(),
    )
        .into_response()
}
