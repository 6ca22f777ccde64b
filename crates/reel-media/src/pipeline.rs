//! The seam between ingest and transcoding, and the local path through it.
//!
//! Ingest (RTMP or HTTP push) hands each segment to a [`SegmentHandler`]; the result goes to
//! the [`HlsStore`]. In local mode the handler is a [`LocalTranscoder`] (a
//! [`TranscodeSession`] per stream on blocking threads); the gateway plugs in a handler that
//! pays an orchestrator to do it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::MediaError;
use crate::hls::{HlsStore, RenditionOut};
use crate::media::{Segment, ticks_to_duration};
use crate::rtmp::IngestEvent;
use crate::stream::StreamName;
use crate::transcode::{SessionSettings, TranscodeResult, TranscodeSession};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Whatever turns a segment into renditions: local FFmpeg, or a paid orchestrator.
pub trait SegmentHandler: Send + Sync + 'static {
    /// Transcodes one segment of a stream. Segments of one stream come one at a time, in
    /// order.
    fn transcode(
        &self,
        stream: StreamName,
        segment: Segment,
    ) -> BoxFuture<Result<TranscodeResult, MediaError>>;
    /// The stream ended: release what it held.
    fn end_stream(&self, stream: &StreamName);
}

/// Transcodes locally: one [`TranscodeSession`] per stream, each segment on a blocking
/// thread.
#[derive(Debug)]
pub struct LocalTranscoder {
    settings: SessionSettings,
    max_streams: usize,
    sessions: Mutex<HashMap<StreamName, SessionSlot>>,
}

type SessionSlot = Arc<tokio::sync::Mutex<Option<TranscodeSession>>>;

impl LocalTranscoder {
    /// A transcoder for up to `max_streams` concurrent streams. Checks that the ladder's
    /// encoders exist.
    pub fn new(settings: SessionSettings, max_streams: usize) -> Result<Self, MediaError> {
        drop(TranscodeSession::new(settings.clone())?);
        Ok(Self {
            settings,
            max_streams,
            sessions: Mutex::default(),
        })
    }

    /// The session settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Streams with a session.
    pub fn active_streams(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    fn slot(&self, stream: &StreamName) -> Result<SessionSlot, MediaError> {
        let mut sessions = self.sessions.lock().map_err(|_| MediaError::WorkerGone {
            rendition: "session table".into(),
        })?;
        if let Some(slot) = sessions.get(stream) {
            return Ok(Arc::clone(slot));
        }
        if sessions.len() >= self.max_streams {
            return Err(MediaError::TooManyStreams {
                limit: self.max_streams,
            });
        }
        let slot: SessionSlot = Arc::default();
        sessions.insert(stream.clone(), Arc::clone(&slot));
        Ok(slot)
    }
}

impl SegmentHandler for Arc<LocalTranscoder> {
    fn transcode(
        &self,
        stream: StreamName,
        segment: Segment,
    ) -> BoxFuture<Result<TranscodeResult, MediaError>> {
        let this = Arc::clone(self);
        Box::pin(async move {
            let slot = this.slot(&stream)?;
            // One segment of a stream at a time; the lock waits without holding a thread.
            let mut guard = slot.lock_owned().await;
            let settings = this.settings.clone();
            let span = tracing::info_span!(target: "media::transcode", "transcode", %stream, seq = segment.seq);
            tokio::task::spawn_blocking(move || {
                let _enter = span.enter();
                if guard.is_none() {
                    *guard = Some(TranscodeSession::new(settings)?);
                }
                match guard.as_mut() {
                    Some(session) => session.transcode(&segment),
                    None => unreachable!("session created above"),
                }
            })
            .await
            .map_err(|_| MediaError::WorkerGone {
                rendition: "transcode task".into(),
            })?
        })
    }

    fn end_stream(&self, stream: &StreamName) {
        let slot = self.sessions.lock().ok().and_then(|mut s| s.remove(stream));
        // Dropping a session joins its worker threads: do it off the async workers. (If a
        // segment is still in flight, its blocking task holds the last reference instead.)
        if let (Some(slot), Ok(rt)) = (slot, tokio::runtime::Handle::try_current()) {
            drop(rt.spawn_blocking(move || drop(slot)));
        }
    }
}

/// The renditions of a result (plus the source, if given) as HLS wants them.
pub fn hls_renditions(
    result: &TranscodeResult,
    source: Option<&Bytes>,
    duration: Duration,
) -> Vec<RenditionOut> {
    let mut out = Vec::with_capacity(result.renditions.len() + 1);
    if let Some(src) = source {
        let secs = duration.as_secs_f64().max(0.001);
        out.push(RenditionOut {
            name: "source".into(),
            width: result.input_size.0,
            height: result.input_size.1,
            bitrate: (src.len() as f64 * 8.0 / secs) as u64,
            data: src.clone(),
        });
    }
    out.extend(result.renditions.iter().map(|r| RenditionOut {
        name: r.name.clone(),
        width: r.width,
        height: r.height,
        bitrate: r.bitrate,
        data: r.data.clone(),
    }));
    out
}

/// Publishes to HLS from a blocking thread (recording writes files).
pub async fn publish_hls(
    hls: &Arc<HlsStore>,
    stream: &StreamName,
    seq: u64,
    duration: Duration,
    discontinuity: bool,
    renditions: Vec<RenditionOut>,
) -> Result<(), MediaError> {
    let (hls, stream) = (Arc::clone(hls), stream.clone());
    tokio::task::spawn_blocking(move || {
        hls.publish(&stream, seq, duration, discontinuity, &renditions)
    })
    .await
    .map_err(|_| MediaError::WorkerGone {
        rendition: "HLS writer".into(),
    })?
}

/// Settings of the RTMP → transcode → HLS pipeline.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Segments queued per stream before new ones are dropped (transcoding slower than
    /// real time).
    pub queue: usize,
    /// Also publish the untouched input as a `source` rendition.
    pub include_source: bool,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            queue: 3,
            include_source: true,
        }
    }
}

enum StreamJob {
    Segment(Segment),
    End(Option<MediaError>),
}

/// Runs RTMP ingest events through `handler` into `hls` until the event channel closes or
/// `shutdown` is cancelled. One task per stream, segments of a stream in order; a slow
/// stream drops its own segments (counted, logged) and never holds up the others.
pub async fn run_pipeline(
    mut events: mpsc::Receiver<IngestEvent>,
    handler: Arc<dyn SegmentHandler>,
    hls: Arc<HlsStore>,
    settings: PipelineSettings,
    shutdown: CancellationToken,
) {
    let tracker = TaskTracker::new();
    let mut streams: HashMap<StreamName, mpsc::Sender<StreamJob>> = HashMap::new();
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            e = events.recv() => match e {
                Some(e) => e,
                None => break,
            },
        };
        match event {
            IngestEvent::Started { stream, peer } => {
                tracing::info!(target: "media::pipeline", %stream, %peer, "stream started");
                let (tx, rx) = mpsc::channel(settings.queue.max(1));
                let span = tracing::info_span!(target: "media::pipeline", "stream", %stream);
                tracker.spawn(
                    stream_worker(
                        stream.clone(),
                        rx,
                        Arc::clone(&handler),
                        Arc::clone(&hls),
                        settings.include_source,
                    )
                    .instrument(span),
                );
                streams.insert(stream, tx);
            }
            IngestEvent::Segment { stream, segment } => {
                let Some(tx) = streams.get(&stream) else {
                    continue;
                };
                if let Err(mpsc::error::TrySendError::Full(StreamJob::Segment(seg))) =
                    tx.try_send(StreamJob::Segment(segment))
                {
                    tracing::warn!(
                        target: "media::pipeline",
                        %stream,
                        seq = seg.seq,
                        "transcoding is slower than real time: segment dropped"
                    );
                }
            }
            IngestEvent::Ended { stream, error } => {
                if let Some(tx) = streams.remove(&stream) {
                    // Waits for room: the end must not be dropped.
                    let _ = tx.send(StreamJob::End(error)).await;
                }
            }
        }
    }
    drop(streams);
    tracker.close();
    tracker.wait().await;
}

async fn stream_worker(
    stream: StreamName,
    mut jobs: mpsc::Receiver<StreamJob>,
    handler: Arc<dyn SegmentHandler>,
    hls: Arc<HlsStore>,
    include_source: bool,
) {
    let mut expected_seq = 0;
    let mut failed_last = false;
    while let Some(job) = jobs.recv().await {
        match job {
            StreamJob::Segment(segment) => {
                let seq = segment.seq;
                // A gap (dropped or failed segment) shows as a discontinuity in the playlist.
                let discontinuity = segment.discontinuity || seq != expected_seq || failed_last;
                expected_seq = seq + 1;
                let source = include_source.then(|| segment.to_ts());
                let duration = ticks_to_duration(segment.duration_ticks);
                match handler.transcode(stream.clone(), segment).await {
                    Ok(result) => {
                        failed_last = false;
                        let outs = hls_renditions(&result, source.as_ref(), duration);
                        let disc = discontinuity || result.reset.is_some();
                        if let Err(e) =
                            publish_hls(&hls, &stream, seq, duration, disc && seq > 0, outs).await
                        {
                            tracing::warn!(target: "media::pipeline", %stream, seq, error = %e, "HLS publish failed");
                        }
                    }
                    Err(e) => {
                        failed_last = true;
                        tracing::warn!(target: "media::pipeline", %stream, seq, error = %e, "segment failed");
                    }
                }
            }
            StreamJob::End(error) => {
                if let Some(e) = error {
                    tracing::warn!(target: "media::pipeline", %stream, error = %e, "stream ended with an error");
                }
                break;
            }
        }
    }
    handler.end_stream(&stream);
    let hls2 = Arc::clone(&hls);
    let s2 = stream.clone();
    let _ = tokio::task::spawn_blocking(move || hls2.end(&s2)).await;
    tracing::info!(target: "media::pipeline", %stream, "stream finished");
}
