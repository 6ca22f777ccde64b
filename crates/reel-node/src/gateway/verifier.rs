//! The trusted re-transcode: a sampled share of segments (`--verify-rate`) goes to the
//! verifier (`--verifier`) too, an orchestrator this gateway trusts, and each rendition's
//! pictures are compared with the verifier's by perceptual hash (`verify::same_pictures`).
//! A disagreement bans the first orchestrator from the stream, with the evidence, and the
//! stream gets the verifier's renditions. The verifier is paid like any orchestrator, from
//! its own pool per stream.

use reel_media::Rendition;

use super::core::Core;
use super::discovery::Candidate;
use super::dispatch::Dispatched;
use super::pool::Pool;
use super::submit::Submitted;
use super::transcode::SegmentWork;
use crate::{FailureKind, NodeError};

impl Core {
    /// When a verifier is set and this segment is drawn, has it transcode the segment again
    /// and compares. Returns the verifier's renditions when the two disagree.
    pub(super) async fn sample_for_verifier(
        &self,
        work: &SegmentWork<'_>,
        pool: &mut Pool,
        d: &Dispatched<Submitted>,
    ) -> Option<Vec<Rendition>> {
        let verifier = self.settings.verifier.as_ref()?;
        let rate = self.settings.verify_rate;
        if d.uri == *verifier || rate <= 0.0 || super::selection::draw() >= rate {
            return None;
        }
        let slot = {
            let mut m = self
                .verifier_pools
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::sync::Arc::clone(m.entry(work.stream.clone()).or_default())
        };
        let mut vpool = slot.lock().await;
        let again = SegmentWork {
            stream: work.stream,
            seq: work.seq,
            ts: work.ts.clone(),
            duration: work.duration,
            core: work.core,
            only: Some(Candidate {
                uri: verifier.clone(),
                address: None,
                stake: 0.0,
            }),
        };
        let label = format!("{} (verifier)", work.stream);
        let v = match self.dispatch(&label, &mut vpool, &again).await {
            Ok(v) => v,
            Err(f) => {
                self.metrics.segment_verifications.inc(&["error"]);
                tracing::warn!(target: "node::gateway", stream = %work.stream, seq = work.seq, error = %f.last, "the verifier did not transcode the segment again");
                return None;
            }
        };
        let ladder = self.settings.ladder.clone();
        let first: Vec<bytes::Bytes> = d.done.renditions.iter().map(|r| r.data.clone()).collect();
        let trusted: Vec<bytes::Bytes> = v.done.renditions.iter().map(|r| r.data.clone()).collect();
        let compared = tokio::task::spawn_blocking(move || {
            crate::verify::same_pictures(&ladder, &first, &trusted)
        })
        .await;
        match compared {
            Ok(Ok(_)) => {
                self.metrics.segment_verifications.inc(&["match"]);
                None
            }
            Ok(Err(why)) => {
                self.metrics.segment_verifications.inc(&["mismatch"]);
                self.metrics.verification_failures.inc();
                tracing::warn!(target: "node::gateway", stream = %work.stream, seq = work.seq, orch = %d.uri, verifier = %verifier, evidence = %why, "the verifier disagrees: orchestrator banned from this stream");
                let e = NodeError::orchestrator(&d.uri.to_string(), FailureKind::Verification, why);
                pool.suspend(&d.uri, &e, self.settings.pool_size);
                Some(v.done.renditions)
            }
            Err(_) => {
                self.metrics.segment_verifications.inc(&["error"]);
                None
            }
        }
    }
}
