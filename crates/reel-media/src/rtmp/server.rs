//! The tokio side of RTMP ingest: accept, handshake, read with timeouts, and turn each
//! publish into [`IngestEvent`]s.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::chunk::{ChunkLimits, ChunkReader};
use super::session::{PublishSession, SessionEvent};
use crate::MediaError;
use crate::flv::FlvDepacketizer;
use crate::media::Segment;
use crate::segmenter::{Segmenter, SegmenterSettings};
use crate::stream::StreamName;

/// Bytes read from a socket at a time.
const READ_SIZE: usize = 64 << 10;

/// RTMP server settings.
#[derive(Debug, Clone)]
pub struct RtmpSettings {
    /// Time a new connection has to complete the handshake.
    pub handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Most simultaneous connections; more are refused at accept.
    pub max_connections: usize,
    /// Chunk-stream limits.
    pub limits: ChunkLimits,
    /// How each stream is cut into segments.
    pub segmenter: SegmenterSettings,
}

impl Default for RtmpSettings {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 64,
            limits: ChunkLimits::default(),
            segmenter: SegmenterSettings::default(),
        }
    }
}

/// What the RTMP server reports about streams.
#[derive(Debug)]
#[non_exhaustive]
pub enum IngestEvent {
    /// A publisher started a stream.
    Started {
        /// The stream.
        stream: StreamName,
        /// The publisher's address.
        peer: SocketAddr,
    },
    /// A segment was cut.
    Segment {
        /// The stream.
        stream: StreamName,
        /// The segment.
        segment: Segment,
    },
    /// The stream ended: cleanly (`None`) or with the error that ended it.
    Ended {
        /// The stream.
        stream: StreamName,
        /// Why, if not a clean unpublish.
        error: Option<MediaError>,
    },
}

/// A running RTMP server.
#[derive(Debug)]
pub struct RtmpServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RtmpServer {
    /// Serves on `listener` until `shutdown` is cancelled, sending events to `events`.
    /// Connections are drained (their streams ended) before the server task finishes.
    pub fn spawn(
        listener: TcpListener,
        settings: RtmpSettings,
        events: mpsc::Sender<IngestEvent>,
        shutdown: CancellationToken,
    ) -> Result<Self, MediaError> {
        let addr = listener
            .local_addr()
            .map_err(|e| MediaError::io("reading the RTMP listener's address", e))?;
        let span = tracing::info_span!(target: "media::rtmp", "rtmp_server", %addr);
        let task = tokio::spawn(
            accept_loop(listener, Arc::new(settings), events, shutdown).instrument(span),
        );
        Ok(Self { addr, task })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the server (and all its connections) to finish after shutdown.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    settings: Arc<RtmpSettings>,
    events: mpsc::Sender<IngestEvent>,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let active: Arc<Mutex<HashSet<StreamName>>> = Arc::default();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (sock, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or similar: back off instead of spinning.
                tracing::warn!(target: "media::rtmp", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(
                target: "media::rtmp",
                %peer,
                limit = settings.max_connections,
                "connection refused: too many RTMP connections"
            );
            continue;
        };
        let span = tracing::info_span!(
            target: "media::rtmp",
            "rtmp_conn",
            %peer,
            stream = tracing::field::Empty
        );
        let conn = Connection {
            settings: Arc::clone(&settings),
            events: events.clone(),
            active: Arc::clone(&active),
            shutdown: shutdown.clone(),
            peer,
        };
        tracker.spawn(
            async move {
                conn.run(sock).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    tracker.close();
    tracker.wait().await;
}

struct Connection {
    settings: Arc<RtmpSettings>,
    events: mpsc::Sender<IngestEvent>,
    active: Arc<Mutex<HashSet<StreamName>>>,
    shutdown: CancellationToken,
    peer: SocketAddr,
}

/// A stream being published on this connection.
struct Publishing {
    name: StreamName,
    flv: FlvDepacketizer,
    segmenter: Segmenter,
    _guard: ActiveGuard,
}

/// Removes a stream from the active set when its connection ends, however it ends.
struct ActiveGuard {
    set: Arc<Mutex<HashSet<StreamName>>>,
    name: StreamName,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.lock() {
            set.remove(&self.name);
        }
    }
}

impl Connection {
    async fn run(self, mut sock: TcpStream) {
        let mut publishing = None;
        let result = self.serve(&mut sock, &mut publishing).await;
        let Some(mut p) = publishing else {
            if let Err(e) = result {
                tracing::info!(target: "media::rtmp", error = %e, "connection closed");
            }
            return;
        };
        let error = match result {
            Ok(()) => {
                if let Some(segment) = p.segmenter.finish() {
                    let _ = self
                        .events
                        .send(IngestEvent::Segment {
                            stream: p.name.clone(),
                            segment,
                        })
                        .await;
                }
                tracing::info!(target: "media::rtmp", stream = %p.name, "stream ended");
                None
            }
            Err(e) => {
                tracing::warn!(target: "media::rtmp", stream = %p.name, error = %e, "stream failed");
                Some(e)
            }
        };
        let _ = self
            .events
            .send(IngestEvent::Ended {
                stream: p.name.clone(),
                error,
            })
            .await;
    }

    async fn serve(
        &self,
        sock: &mut TcpStream,
        publishing: &mut Option<Publishing>,
    ) -> Result<(), MediaError> {
        sock.set_nodelay(true)
            .map_err(|e| MediaError::io("setting TCP_NODELAY", e))?;
        let mut buf = vec![0u8; READ_SIZE];
        let leftover = self.handshake(sock, &mut buf).await?;
        let mut reader = ChunkReader::new(self.settings.limits.clone());
        reader.push(&leftover);
        let mut session = PublishSession::new();
        loop {
            while let Some(msg) = reader.next_message()? {
                let event = session.handle(msg)?;
                let done = match event {
                    Some(event) => self.on_event(event, &mut session, publishing).await?,
                    None => false,
                };
                self.flush(sock, &mut session).await?;
                if done {
                    return Ok(());
                }
            }
            session.acknowledge(reader.bytes_in())?;
            self.flush(sock, &mut session).await?;
            let n = tokio::select! {
                () = self.shutdown.cancelled() => return Ok(()),
                r = tokio::time::timeout(self.settings.idle_timeout, sock.read(&mut buf)) => {
                    r.map_err(|_| MediaError::Timeout {
                        what: "data from the RTMP peer",
                        after: self.settings.idle_timeout,
                    })?
                    .map_err(|e| MediaError::io("reading from the RTMP peer", e))?
                }
            };
            if n == 0 {
                return Ok(());
            }
            reader.push(&buf[..n]);
        }
    }

    async fn handshake(&self, sock: &mut TcpStream, buf: &mut [u8]) -> Result<Vec<u8>, MediaError> {
        let timeout = self.settings.handshake_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut handshake = Handshake::new(PeerType::Server);
        loop {
            let n = tokio::select! {
                () = self.shutdown.cancelled() => return Err(MediaError::rtmp("server shutting down")),
                r = tokio::time::timeout_at(deadline, sock.read(buf)) => r
                    .map_err(|_| MediaError::Timeout { what: "the RTMP handshake", after: timeout })?
                    .map_err(|e| MediaError::io("reading the RTMP handshake", e))?,
            };
            if n == 0 {
                return Err(MediaError::rtmp(
                    "peer closed the connection during the handshake",
                ));
            }
            let step = handshake
                .process_bytes(&buf[..n])
                .map_err(|e| MediaError::rtmp(format!("handshake: {e}")))?;
            let (reply, done) = match step {
                HandshakeProcessResult::InProgress { response_bytes } => (response_bytes, None),
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => (response_bytes, Some(remaining_bytes)),
            };
            if !reply.is_empty() {
                tokio::time::timeout_at(deadline, sock.write_all(&reply))
                    .await
                    .map_err(|_| MediaError::Timeout {
                        what: "the RTMP handshake",
                        after: timeout,
                    })?
                    .map_err(|e| MediaError::io("writing the RTMP handshake", e))?;
            }
            if let Some(rest) = done {
                return Ok(rest);
            }
        }
    }

    async fn flush(
        &self,
        sock: &mut TcpStream,
        session: &mut PublishSession,
    ) -> Result<(), MediaError> {
        let out = session.take_output();
        if out.is_empty() {
            return Ok(());
        }
        tokio::time::timeout(self.settings.idle_timeout, sock.write_all(&out))
            .await
            .map_err(|_| MediaError::Timeout {
                what: "the RTMP peer to read our replies",
                after: self.settings.idle_timeout,
            })?
            .map_err(|e| MediaError::io("writing to the RTMP peer", e))
    }

    /// Acts on a session event; returns `true` when the stream is over.
    async fn on_event(
        &self,
        event: SessionEvent,
        session: &mut PublishSession,
        publishing: &mut Option<Publishing>,
    ) -> Result<bool, MediaError> {
        match event {
            SessionEvent::Publish { app, name } => {
                let stream = match StreamName::from_rtmp(&app, &name) {
                    Ok(s) => s,
                    Err(e) => {
                        session.reject_publish(&e.to_string())?;
                        return Err(e);
                    }
                };
                let fresh = self
                    .active
                    .lock()
                    .map(|mut set| set.insert(stream.clone()))
                    .unwrap_or(false);
                if !fresh {
                    let e = MediaError::rtmp(format!("stream {stream} is already being published"));
                    session.reject_publish(&e.to_string())?;
                    return Err(e);
                }
                let guard = ActiveGuard {
                    set: Arc::clone(&self.active),
                    name: stream.clone(),
                };
                session.accept_publish(stream.as_str())?;
                tracing::Span::current().record("stream", stream.as_str());
                tracing::info!(target: "media::rtmp", %stream, "publish started");
                *publishing = Some(Publishing {
                    name: stream.clone(),
                    flv: FlvDepacketizer::new(),
                    segmenter: Segmenter::new(self.settings.segmenter.clone()),
                    _guard: guard,
                });
                self.emit(IngestEvent::Started {
                    stream,
                    peer: self.peer,
                })
                .await?;
                Ok(false)
            }
            SessionEvent::Metadata(meta) => {
                tracing::debug!(target: "media::rtmp", ?meta, "stream metadata");
                Ok(false)
            }
            SessionEvent::Video { timestamp, data } => {
                let Some(p) = publishing.as_mut() else {
                    return Ok(false);
                };
                if let Some(packet) = p.flv.video(timestamp, &data)?
                    && let Some(segment) = p.segmenter.push(packet)?
                {
                    let stream = p.name.clone();
                    self.emit(IngestEvent::Segment { stream, segment }).await?;
                }
                Ok(false)
            }
            SessionEvent::Audio { timestamp, data } => {
                let Some(p) = publishing.as_mut() else {
                    return Ok(false);
                };
                let packet = p.flv.audio(timestamp, &data)?;
                p.segmenter.set_audio_codec(p.flv.audio_codec());
                if let Some(packet) = packet {
                    p.segmenter.push(packet)?;
                }
                Ok(false)
            }
            SessionEvent::Unpublish => Ok(true),
        }
    }

    /// Sends an event, waiting for room (backpressure reaches the publisher through TCP).
    async fn emit(&self, event: IngestEvent) -> Result<(), MediaError> {
        tokio::select! {
            () = self.shutdown.cancelled() => Err(MediaError::rtmp("server shutting down")),
            r = self.events.send(event) => r.map_err(|_| MediaError::rtmp("ingest consumer is gone")),
        }
    }
}
