//! `POST /segment`, from admission to the signed `TranscodeResult`: capacity, poison
//! streams refused, payment received before any work, the body read (inline or fetched by
//! URL) and its hash checked, the early 200, then the transcode, the renditions stored for
//! download (`GET /results/…`, also here), the result signed and the session debited.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use reel_net::http::{self as wire, BodyKind};
use reel_net::proto;

use super::admission::{Reject, check_request, limits, net_reject};
use super::fetch;
use super::output::{OutRendition, Output, WorkError};
use super::state::{ActiveSession, Inner};
use super::work::Job;
use crate::jobs::transcode;

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

pub(super) async fn segment(
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
                    inner.metrics.record_payment(&outcome);
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
            url: format!(
                "{base}/results/{token}/{i}.{}",
                reel_media::hls::rendition_extension(&r.data)
            ),
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

/// `GET /results/{token}/{file}`: a rendition of a transcoded segment, for the gateway.
pub(super) async fn result_file(
    State(inner): State<Arc<Inner>>,
    Path((token, file)): Path<(String, String)>,
) -> Response {
    let idx = file
        .strip_suffix(".ts")
        .or_else(|| file.strip_suffix(".mp4"))
        .and_then(|i| i.parse::<usize>().ok());
    let data = idx.and_then(|i| {
        inner
            .results
            .lock()
            .ok()?
            .get(&token, i, inner.settings.result_ttl)
    });
    match data {
        Some(d) => (
            [(
                header::CONTENT_TYPE,
                reel_media::hls::rendition_content_type(&d),
            )],
            d,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such result\n").into_response(),
    }
}
