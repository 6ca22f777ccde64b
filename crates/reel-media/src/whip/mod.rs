//! WHIP ingest (RFC 9725): a browser or OBS publishes over WebRTC with one HTTP POST of an
//! SDP offer, and the H.264 it sends is cut into the same [`Segment`](crate::Segment)s as
//! RTMP's, handed on as [`IngestEvent`]s.
//!
//! ```text
//!  POST /whip/<stream> (application/sdp offer) ──▶ 201, Location /whip/<stream>/<id>, answer
//!  browser ══ ICE, DTLS, SRTP over UDP ══▶ str0m (sans-IO, one task per session)
//!            ──H.264 frames──▶ Segmenter ──▶ IngestEvent::Segment ──▶ the pipeline
//!  DELETE /whip/<stream>/<id> ends it; so do ICE failing, a stall, and shutdown.
//! ```
//!
//! The server is ICE-lite with one host candidate per session on its own UDP port. str0m
//! does the jitter buffer, NACK and depacketising; the session asks for a keyframe (PLI)
//! whenever a segment's target has passed without one (browsers send keyframes only on
//! request) and after a gap in the RTP sequence. Opus audio is transcoded to AAC
//! (`audio.rs`), which MPEG-TS and HLS players take; the tracks' RTP clocks, which start at
//! random values, are aligned on their first packets' arrival.
//!
//! Files: this one the HTTP side (`POST`, `DELETE`, limits and refusals); `session.rs` the
//! WebRTC session loop; `settings.rs` what both take.

mod audio;
pub(crate) mod http;
mod session;
mod settings;

pub use settings::WhipSettings;

use http::{accept, cors, created, is_sdp, parse_offer, preflight, refuse, session_id};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::rtmp::IngestEvent;
use crate::stream::StreamName;

/// The WHIP endpoint: its routes, and the sessions it runs.
#[derive(Debug)]
pub struct WhipServer {
    settings: WhipSettings,
    events: mpsc::Sender<IngestEvent>,
    shutdown: CancellationToken,
    /// Session id → (stream, the token that ends it).
    sessions: Mutex<HashMap<String, (StreamName, CancellationToken)>>,
}

impl WhipServer {
    /// A WHIP endpoint handing segments to `events` (the pipeline's channel, shared with
    /// RTMP); every session ends at `shutdown`.
    pub fn new(
        settings: WhipSettings,
        events: mpsc::Sender<IngestEvent>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            events,
            shutdown,
            sessions: Mutex::default(),
        })
    }

    /// `POST /whip/{stream}` and `DELETE /whip/{stream}/{id}`, to merge into an HTTP server;
    /// with CORS, so that a page on another origin can publish.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/whip/{stream}", post(publish).options(preflight))
            .route("/whip/{stream}/{id}", delete(unpublish).options(preflight))
            .layer(DefaultBodyLimit::max(self.settings.max_offer_bytes))
            .layer(axum::middleware::map_response(cors))
            .with_state(Arc::clone(self))
    }

    /// Sessions running now.
    pub fn sessions(&self) -> usize {
        self.sessions.lock().map_or(0, |s| s.len())
    }

    fn end(&self, id: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(id);
        }
    }
}

async fn publish(
    State(server): State<Arc<WhipServer>>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(token) = &server.settings.bearer {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent != Some(token.as_str()) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "a WHIP publisher needs `Authorization: Bearer <token>` with this server's token",
            );
        }
    }
    if !is_sdp(&headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a WHIP offer is Content-Type: application/sdp",
        );
    }
    let stream = match StreamName::new(&stream) {
        Ok(s) => s,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if server.sessions() >= server.settings.max_sessions {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} WHIP sessions already running",
                server.settings.max_sessions
            ),
        );
    }
    let (text, offer) = match parse_offer(&body) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    if !text.lines().any(|l| l.starts_with("m=video")) || !text.contains("H264/90000") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the offer has no H.264 video: reel takes H.264, with Opus audio",
        );
    }
    let (rtc, socket, answer) = match accept(server.settings.media_ip, offer, |c| {
        c.enable_h264(true).enable_opus(true, false)
    })
    .await
    {
        Ok(a) => a,
        Err(refused) => return *refused,
    };
    let id = session_id();
    let cancel = server.shutdown.child_token();
    if let Ok(mut s) = server.sessions.lock() {
        s.insert(id.clone(), (stream.clone(), cancel.clone()));
    }
    tracing::info!(target: "media::whip", %stream, session = %id, "WHIP session starts");
    let run = session::Session {
        rtc,
        socket,
        stream: stream.clone(),
        events: server.events.clone(),
        settings: server.settings.clone(),
        cancel,
    };
    let done = Arc::clone(&server);
    let ended = id.clone();
    tokio::spawn(async move {
        run.run().await;
        done.end(&ended);
    });
    created(format!("/whip/{stream}/{id}"), &answer)
}

async fn unpublish(
    State(server): State<Arc<WhipServer>>,
    Path((stream, id)): Path<(String, String)>,
) -> Response {
    let found = server
        .sessions
        .lock()
        .ok()
        .and_then(|mut s| s.remove(&id))
        .filter(|(s, _)| s.as_str() == stream);
    match found {
        Some((_, cancel)) => {
            cancel.cancel();
            StatusCode::OK.into_response()
        }
        None => refuse(StatusCode::NOT_FOUND, "no such WHIP session"),
    }
}
