//! Transcoding on the shared dispatch path: the media engine hands each segment of a stream
//! to [`Handler`], which runs it from the stream's pool (one pool per stream, so each
//! stream keeps its own orchestrator) and hands the verified renditions back to HLS. A
//! sampled share goes to the trusted verifier as well (`verifier.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use bytes::Bytes;
use reel_media::pipeline::BoxFuture;
use reel_media::{MediaError, Segment, SegmentHandler, StreamName, TranscodeResult};
use reel_net::capabilities::Capabilities;
use reel_net::proto;
use reel_pm::{PricePerUnit, RenditionEstimate, Scope};
use reel_types::Wei;

use super::core::{Core, SegmentEvent};
use super::discovery::Candidate;
use super::dispatch::Work;
use super::pool::{OrchSession, Pool};
use super::submit;
use crate::NodeError;
use crate::jobs::transcode;

/// One segment of a stream, as dispatched work.
pub(super) struct SegmentWork<'a> {
    pub(super) stream: &'a StreamName,
    pub(super) seq: u64,
    pub(super) ts: Bytes,
    pub(super) duration: Duration,
    pub(super) core: &'a Core,
    /// The trusted verifier, when this is its re-transcode.
    pub(super) only: Option<Candidate>,
}

impl Work for SegmentWork<'_> {
    type Done = submit::Submitted;

    fn capabilities(&self) -> &Capabilities {
        &self.core.job_caps
    }

    fn capability(&self) -> u32 {
        transcode::CAPABILITY
    }

    fn price(&self, s: &OrchSession) -> Option<PricePerUnit> {
        Some(s.d.price)
    }

    fn max_price(&self) -> Option<PricePerUnit> {
        self.core.settings.max_price
    }

    fn scope(&self, s: &OrchSession) -> Scope {
        transcode::scope(&s.session_id())
    }

    fn fee(&self, price: &PricePerUnit) -> Result<Wei, NodeError> {
        let renditions: Vec<RenditionEstimate> = self
            .core
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
        let ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        Ok(reel_pm::segment_fee_estimate(&renditions, ms, price)?)
    }

    fn expected(&self) -> Duration {
        self.duration
    }

    async fn submit<F: FnOnce() + Send>(
        &self,
        core: &Core,
        s: &OrchSession,
        payment: proto::Payment,
        accepted: F,
    ) -> Result<submit::Submitted, NodeError> {
        let req = submit::Request {
            manifest: self.stream.as_str(),
            seq: self.seq,
            ts: &self.ts,
            duration: self.duration,
            ladder: &core.settings.ladder,
            auth_token: s.d.info.auth_token.clone().unwrap_or_default(),
            capabilities: core.job_caps.to_proto(),
            payment,
        };
        submit::submit(
            &core.http,
            &core.signer,
            &s.d.service,
            s.d.address,
            req,
            core.settings.local_verify,
            accepted,
        )
        .await
    }

    fn units(&self, done: &submit::Submitted) -> u64 {
        done.reported_pixels
    }

    fn info(&self, done: &mut submit::Submitted) -> Option<proto::OrchestratorInfo> {
        done.info.take()
    }

    fn only(&self) -> Option<&Candidate> {
        self.only.as_ref()
    }
}

impl Core {
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
        let mut pool: tokio::sync::MutexGuard<'_, Pool> = slot.lock().await;
        pool.jobs = pool.jobs.saturating_add(1);
        let mut duration = segment.duration();
        if duration.is_zero() {
            duration = self.settings.segment_length;
        }
        let work = SegmentWork {
            stream: &stream,
            seq: segment.seq,
            ts: segment.to_ts(),
            duration,
            core: &self,
            only: None,
        };
        match self.dispatch(stream.as_str(), &mut pool, &work).await {
            Ok(mut d) => {
                if let Some(trusted) = self.sample_for_verifier(&work, &mut pool, &d).await {
                    d.done.renditions = trusted;
                }
                if d.swapped {
                    self.metrics.swaps.inc();
                }
                self.metrics.transcoded.inc();
                self.metrics.segments_by_orch.inc(&[&d.uri.to_string()]);
                self.metrics
                    .overall_latency
                    .observe(t0.elapsed().as_secs_f64());
                tracing::info!(target: "node::gateway", %stream, seq = segment.seq, orch = %d.uri, reason = %d.reason, attempts = d.attempts, ms = t0.elapsed().as_millis() as u64, "segment transcoded");
                let _ = self.events.send(SegmentEvent {
                    stream: stream.to_string(),
                    seq: segment.seq,
                    orchestrator: d.uri.to_string(),
                    address: d.address,
                    reason: d.reason.to_string(),
                    attempts: d.attempts,
                    latency: t0.elapsed(),
                    tickets: d.tickets,
                    value: d.value,
                    pixels: d.units,
                    outcome: Ok(()),
                });
                let reset = segment
                    .discontinuity
                    .then_some(reel_media::ResetReason::Discontinuity);
                Ok(TranscodeResult {
                    seq: segment.seq,
                    input_size: d.done.input_size,
                    decoded_frames: 0,
                    decoded_pixels: 0,
                    duration_ticks: segment.duration_ticks,
                    renditions: d.done.renditions,
                    reset,
                })
            }
            Err(f) => {
                self.metrics.failed.inc();
                let _ = self.events.send(SegmentEvent {
                    stream: stream.to_string(),
                    seq: segment.seq,
                    orchestrator: f.last_orch,
                    address: Address::ZERO,
                    reason: String::new(),
                    attempts: f.attempts,
                    latency: t0.elapsed(),
                    tickets: 0,
                    value: Wei::ZERO,
                    pixels: 0,
                    outcome: Err(f.last.clone()),
                });
                Err(NodeError::SegmentFailed {
                    stream: stream.to_string(),
                    seq: segment.seq,
                    attempts: f.attempts,
                    last: f.last,
                })
            }
        }
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
            let pool = slot.lock().await;
            for (uri, s) in &pool.sessions {
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

fn media_error(e: &NodeError) -> MediaError {
    if let NodeError::TooManyStreams { limit } = e {
        return MediaError::TooManyStreams { limit: *limit };
    }
    MediaError::Io {
        context: "transcoding on the network".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// The `SegmentHandler` the media engine calls.
#[derive(Debug, Clone)]
pub struct Handler(pub(crate) Arc<Core>);

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
