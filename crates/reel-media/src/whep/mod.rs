//! WHEP playback: a browser plays one rendition of a stream over WebRTC, with one HTTP POST
//! of an SDP offer.
//!
//! ```text
//!  POST /whep/<stream>/<rendition> (application/sdp, recvonly) ──▶ 201, Location, answer
//!  HlsStore ──newest segments──▶ session: demux ▶ pace by timestamps ▶ str0m ══SRTP══▶ browser
//!  DELETE /whep/<stream>/<rendition>/<id> ends it; so do ICE failing and the stream ending.
//! ```
//!
//! A session starts at the live edge (the newest segment) and sends each access unit when
//! its timestamp comes due, so the browser sees the rendition at its own pace, a segment
//! behind the source. H.264 renditions only (MPEG-TS), video only: WebRTC has no AAC.
//! WebRTC players expect no B-frames (the RTP clock must not go back), so a rendition meant
//! for WHEP uses a profile without them (`H264ConstrainedHigh` or `H264Baseline`).
//!
//! Files: this one the HTTP side; `session.rs` the session loop.

mod session;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use tokio_util::sync::CancellationToken;

use crate::hls::HlsStore;
use crate::stream::StreamName;
use crate::whip::http::{
    accept, cors, created, is_sdp, parse_offer, preflight, refuse, session_id,
};

/// WHEP settings.
#[derive(Debug, Clone)]
pub struct WhepSettings {
    /// The address media is sent from (one UDP port per session), offered as the host
    /// candidate.
    pub media_ip: IpAddr,
    /// Sessions at once.
    pub max_sessions: usize,
    /// A session whose rendition gets no new segment for this long ends.
    pub stall: Duration,
    /// Largest SDP offer taken.
    pub max_offer_bytes: usize,
}

impl Default for WhepSettings {
    fn default() -> Self {
        Self {
            media_ip: IpAddr::from([127, 0, 0, 1]),
            max_sessions: 64,
            stall: Duration::from_secs(15),
            max_offer_bytes: 64 << 10,
        }
    }
}

/// The WHEP endpoint: its routes, and the sessions it runs.
#[derive(Debug)]
pub struct WhepServer {
    settings: WhepSettings,
    hls: Arc<HlsStore>,
    shutdown: CancellationToken,
    sessions: Mutex<HashMap<String, CancellationToken>>,
}

impl WhepServer {
    /// A WHEP endpoint playing renditions from `hls`; every session ends at `shutdown`.
    pub fn new(
        settings: WhepSettings,
        hls: Arc<HlsStore>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            hls,
            shutdown,
            sessions: Mutex::default(),
        })
    }

    /// `POST /whep/{stream}/{rendition}` and `DELETE /whep/{stream}/{rendition}/{id}`, with
    /// CORS.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/whep/{stream}/{rendition}", post(play).options(preflight))
            .route(
                "/whep/{stream}/{rendition}/{id}",
                delete(stop).options(preflight),
            )
            .layer(DefaultBodyLimit::max(self.settings.max_offer_bytes))
            .layer(axum::middleware::map_response(cors))
            .with_state(Arc::clone(self))
    }

    /// Sessions running now.
    pub fn sessions(&self) -> usize {
        self.sessions.lock().map_or(0, |s| s.len())
    }
}

async fn play(
    State(server): State<Arc<WhepServer>>,
    Path((stream, rendition)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_sdp(&headers) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a WHEP offer is Content-Type: application/sdp",
        );
    }
    let Ok(stream) = StreamName::new(&stream) else {
        return refuse(StatusCode::NOT_FOUND, "no such stream");
    };
    let newest = server.hls.segments_after(&stream, &rendition, None);
    let Some((_, data)) = newest.last() else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no segment of {stream}/{rendition} to play (yet)"),
        );
    };
    if data.first() != Some(&0x47) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "WHEP plays H.264 renditions (MPEG-TS); this one is in fragmented MP4",
        );
    }
    if server.sessions() >= server.settings.max_sessions {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many WHEP sessions");
    }
    let (text, offer) = match parse_offer(&body) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    if !text.contains("H264/90000") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the offer takes no H.264 video, which WHEP sends",
        );
    }
    let (rtc, socket, answer) =
        match accept(server.settings.media_ip, offer, |c| c.enable_h264(true)).await {
            Ok(a) => a,
            Err(refused) => return *refused,
        };
    let id = session_id();
    let cancel = server.shutdown.child_token();
    if let Ok(mut s) = server.sessions.lock() {
        s.insert(id.clone(), cancel.clone());
    }
    tracing::info!(target: "media::whep", %stream, %rendition, session = %id, "WHEP session starts");
    let run = session::Session {
        rtc,
        socket,
        hls: Arc::clone(&server.hls),
        stream: stream.clone(),
        rendition: rendition.clone(),
        stall: server.settings.stall,
        cancel,
    };
    let done = Arc::clone(&server);
    let ended = id.clone();
    tokio::spawn(async move {
        run.run().await;
        if let Ok(mut s) = done.sessions.lock() {
            s.remove(&ended);
        }
    });
    created(format!("/whep/{stream}/{rendition}/{id}"), &answer)
}

async fn stop(
    State(server): State<Arc<WhepServer>>,
    Path((_, _, id)): Path<(String, String, String)>,
) -> Response {
    match server.sessions.lock().ok().and_then(|mut s| s.remove(&id)) {
        Some(cancel) => {
            cancel.cancel();
            StatusCode::OK.into_response()
        }
        None => refuse(StatusCode::NOT_FOUND, "no such WHEP session"),
    }
}
