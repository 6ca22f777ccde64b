//! HTTP: segment push ingest (`PUT|POST /live/<stream>/<seq>.ts`) and HLS playback
//! (`GET /stream/…`), on axum, CORS `*` on everything.
//!
//! The push body is read with a size cap (413 as soon as it is passed, before reading on if
//! `Content-Length` already says so) and a time cap (408). With `Accept: multipart/mixed`
//! the renditions come back in the response, one part each with `Rendition-Name`; otherwise
//! they only go to HLS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::MediaError;
use crate::hls::{HlsStore, PLAYLIST_CONTENT_TYPE, rendition_content_type, rendition_extension};
use crate::media::{Segment, ticks_to_duration};
use crate::multipart::{self, Part};
use crate::pipeline::{SegmentHandler, hls_renditions, publish_hls};
use crate::stream::StreamName;

/// HTTP server settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest pushed segment (bytes). go-livepeer allows 300 MB (5 min at 8 Mbit/s); 2-s
    /// live segments are a few MB, so the default is lower.
    pub max_segment_bytes: usize,
    /// Time allowed to receive a pushed segment's body.
    pub upload_timeout: Duration,
    /// A pushed stream with no segment for this long ends (its playlists get `ENDLIST`).
    pub stream_idle_timeout: Duration,
    /// Also publish pushed segments as a `source` rendition.
    pub include_source: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_segment_bytes: 64 << 20,
            upload_timeout: Duration::from_secs(30),
            stream_idle_timeout: Duration::from_secs(30),
            include_source: true,
        }
    }
}

/// Shared state of the HTTP endpoints.
pub struct MediaServer {
    settings: HttpSettings,
    handler: Arc<dyn SegmentHandler>,
    hls: Arc<HlsStore>,
    /// Activity per pushed stream (for the idle reaper).
    pushed: Mutex<HashMap<StreamName, PushActivity>>,
}

/// When a pushed stream was last active, and how many of its segments are being handled.
///
/// A stream with a segment in flight is never idle: a segment that takes longer to transcode
/// than the idle timeout would otherwise see its stream ended under it, and publishing it
/// afterwards would reopen a stream the reaper no longer tracks, so it would never end.
#[derive(Debug, Clone, Copy)]
struct PushActivity {
    last: Instant,
    in_flight: usize,
}

/// Marks one segment of a stream in flight until dropped, on every path out of a push.
struct InFlight<'a> {
    pushed: &'a Mutex<HashMap<StreamName, PushActivity>>,
    stream: StreamName,
}

impl<'a> InFlight<'a> {
    fn start(pushed: &'a Mutex<HashMap<StreamName, PushActivity>>, stream: &StreamName) -> Self {
        if let Ok(mut pushed) = pushed.lock() {
            let entry = pushed.entry(stream.clone()).or_insert(PushActivity {
                last: Instant::now(),
                in_flight: 0,
            });
            entry.in_flight += 1;
            entry.last = Instant::now();
        }
        InFlight {
            pushed,
            stream: stream.clone(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut pushed) = self.pushed.lock()
            && let Some(entry) = pushed.get_mut(&self.stream)
        {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            // The idle time counts from the end of the last segment, not its arrival.
            entry.last = Instant::now();
        }
    }
}

impl std::fmt::Debug for MediaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaServer")
            .field("settings", &self.settings)
            .finish()
    }
}

impl MediaServer {
    /// A server handing pushed segments to `handler` and serving `hls`.
    pub fn new(
        settings: HttpSettings,
        handler: Arc<dyn SegmentHandler>,
        hls: Arc<HlsStore>,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            handler,
            hls,
            pushed: Mutex::default(),
        })
    }

    /// The axum router: push and HLS routes, CORS on every response.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/live/{stream}/{file}", any(push))
            .route("/stream/{file}", get(master).options(preflight))
            .route(
                "/stream/{stream}/{file}",
                get(media_playlist).options(preflight),
            )
            .route(
                "/stream/{stream}/{rendition}/{file}",
                get(segment).options(preflight),
            )
            .layer(axum::middleware::map_response(cors))
            .with_state(Arc::clone(self))
    }

    /// Serves on `listener` (with `TCP_NODELAY` on every connection) until `shutdown`, and
    /// ends pushed streams that go idle.
    pub fn spawn(
        self: &Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<HttpServer, MediaError> {
        self.spawn_with(listener, shutdown, Router::new())
    }

    /// [`Self::spawn`], with `extra` routes (a node's other APIs) on the same port.
    pub fn spawn_with(
        self: &Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
        extra: Router,
    ) -> Result<HttpServer, MediaError> {
        let addr = listener
            .local_addr()
            .map_err(|e| MediaError::io("reading the HTTP listener's address", e))?;
        let router = self.router().merge(extra);
        let reaper = tokio::spawn(Arc::clone(self).reap_idle(shutdown.clone()));
        let task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
            {
                tracing::error!(target: "media::http", error = %e, "HTTP server failed");
            }
            let _ = reaper.await;
        });
        Ok(HttpServer { addr, task })
    }

    async fn reap_idle(self: Arc<Self>, shutdown: CancellationToken) {
        let tick = (self.settings.stream_idle_timeout / 4).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
            let idle: Vec<StreamName> = match self.pushed.lock() {
                Ok(mut pushed) => {
                    let now = Instant::now();
                    let idle: Vec<StreamName> = pushed
                        .iter()
                        .filter(|(_, a)| {
                            a.in_flight == 0
                                && now.duration_since(a.last) >= self.settings.stream_idle_timeout
                        })
                        .map(|(s, _)| s.clone())
                        .collect();
                    for s in &idle {
                        pushed.remove(s);
                    }
                    idle
                }
                Err(_) => return,
            };
            for stream in idle {
                tracing::info!(target: "media::http", %stream, "pushed stream idle: ending it");
                self.handler.end_stream(&stream);
                let hls = Arc::clone(&self.hls);
                let _ = tokio::task::spawn_blocking(move || hls.end(&stream)).await;
            }
        }
    }

    async fn handle_push(
        &self,
        stream: &str,
        file: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<Response, MediaError> {
        let stream = StreamName::new(stream)?;
        let seq: u64 = file
            .strip_suffix(".ts")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| MediaError::BadSegmentName { name: file.into() })?;
        let limit = self.settings.max_segment_bytes;
        let too_large = || MediaError::TooLarge {
            what: "segment",
            limit: limit as u64,
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        // From here until the segment is published (or refused) the stream is not idle.
        let _in_flight = InFlight::start(&self.pushed, &stream);
        self.hls.accepts(&stream, seq)?;
        let body = tokio::time::timeout(
            self.settings.upload_timeout,
            axum::body::to_bytes(body, limit),
        )
        .await
        .map_err(|_| MediaError::Timeout {
            what: "the segment upload",
            after: self.settings.upload_timeout,
        })?
        .map_err(|e| {
            // to_bytes fails with a length-limit error when the cap is passed.
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            {
                too_large()
            } else {
                MediaError::io(
                    "reading the segment upload",
                    std::io::Error::other(e.to_string()),
                )
            }
        })?;
        let demux_input = body.clone();
        let media = tokio::task::spawn_blocking(move || crate::ts::demux(&demux_input))
            .await
            .map_err(|_| MediaError::WorkerGone {
                rendition: "TS demuxer".into(),
            })??;
        let header_ms = headers
            .get("content-duration")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let segment = Segment {
            seq,
            duration_ticks: 0,
            discontinuity: false,
            media,
        };
        let result = self.handler.transcode(stream.clone(), segment).await?;
        // Measured from the video timestamps; the header is the sender's claim.
        let duration = if result.duration_ticks > 0 {
            ticks_to_duration(result.duration_ticks)
        } else {
            Duration::from_millis(header_ms.unwrap_or(2000))
        };
        let source = self.settings.include_source.then_some(&body);
        let outs = hls_renditions(&result, source, duration);
        publish_hls(
            &self.hls,
            &stream,
            seq,
            duration,
            result.reset.is_some() && seq > 0,
            outs,
        )
        .await?;
        tracing::info!(
            target: "media::http",
            %stream,
            seq,
            decoded_pixels = result.decoded_pixels,
            encoded_pixels = result.encoded_pixels(),
            "pushed segment transcoded"
        );

        let wants_multipart = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("multipart/mixed"));
        if !wants_multipart {
            return Ok(StatusCode::OK.into_response());
        }
        let parts: Vec<Part> = result
            .renditions
            .iter()
            .map(|r| {
                let file = format!("{}_{seq}.{}", r.name, rendition_extension(&r.data));
                Part {
                    headers: vec![
                        (
                            "Content-Type".into(),
                            format!("{}; name=\"{file}\"", rendition_content_type(&r.data)),
                        ),
                        (
                            "Content-Disposition".into(),
                            format!("attachment; filename=\"{file}\""),
                        ),
                        ("Content-Length".into(), r.data.len().to_string()),
                        ("Rendition-Name".into(), r.name.clone()),
                        ("Pixels".into(), r.pixels.to_string()),
                    ],
                    body: r.data.clone(),
                }
            })
            .collect();
        let boundary = format!("reel{:016x}{seq:x}", rand_u64());
        let (content_type, body) = multipart::write(&boundary, &parts);
        Ok(([(header::CONTENT_TYPE, content_type)], Body::from(body)).into_response())
    }
}

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for it to finish after shutdown.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// A boundary need not be secret, only absent from the parts; 64 bits of the clock and a
/// counter are plenty.
fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

fn error_response(e: &MediaError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, format!("{e}\n")).into_response()
}

async fn push(
    State(server): State<Arc<MediaServer>>,
    method: Method,
    Path((stream, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method == Method::OPTIONS {
        return preflight().await;
    }
    if method != Method::PUT && method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "use PUT or POST\n").into_response();
    }
    match server.handle_push(&stream, &file, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(target: "media::http", %stream, %file, error = %e, "push rejected");
            error_response(&e)
        }
    }
}

async fn preflight() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                "GET, PUT, POST, OPTIONS",
            ),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
            (header::ACCESS_CONTROL_MAX_AGE, "86400"),
        ],
    )
        .into_response()
}

async fn cors(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "no such stream, rendition or segment\n",
    )
        .into_response()
}

fn playlist(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, PLAYLIST_CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

async fn master(State(server): State<Arc<MediaServer>>, Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".m3u8") else {
        return not_found();
    };
    let Ok(stream) = StreamName::new(name) else {
        return not_found();
    };
    server
        .hls
        .master_playlist(&stream)
        .map_or_else(not_found, playlist)
}

async fn media_playlist(
    State(server): State<Arc<MediaServer>>,
    Path((stream, file)): Path<(String, String)>,
) -> Response {
    let (Ok(stream), Some(rendition)) = (StreamName::new(&stream), file.strip_suffix(".m3u8"))
    else {
        return not_found();
    };
    server
        .hls
        .media_playlist(&stream, rendition)
        .map_or_else(not_found, playlist)
}

async fn segment(
    State(server): State<Arc<MediaServer>>,
    Path((stream, rendition, file)): Path<(String, String, String)>,
) -> Response {
    let Ok(stream) = StreamName::new(&stream) else {
        return not_found();
    };
    let hls = Arc::clone(&server.hls);
    // May read the recording from disk.
    let found = tokio::task::spawn_blocking(move || hls.file(&stream, &rendition, &file))
        .await
        .ok()
        .flatten();
    match found {
        Some((data, content_type)) => {
            ([(header::CONTENT_TYPE, content_type)], data).into_response()
        }
        None => not_found(),
    }
}
