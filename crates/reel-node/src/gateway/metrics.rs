//! The gateway's Prometheus metrics (go-livepeer's names where it has them); a new one is
//! a field here, registered in [`Metrics::new`].

use std::sync::Arc;

use crate::metrics::{Counter, CounterVec, FloatCounter, Gauge, Histogram, Registry};

/// The gateway's metrics (go-livepeer names).
#[derive(Debug)]
pub(super) struct Metrics {
    pub(super) registry: Arc<Registry>,
    pub(super) source_appeared: Arc<Counter>,
    pub(super) transcoded: Arc<Counter>,
    pub(super) failed: Arc<Counter>,
    pub(super) overall_latency: Arc<Histogram>,
    pub(super) swaps: Arc<Counter>,
    pub(super) discovery_errors: Arc<Counter>,
    pub(super) attempt_failures: Arc<CounterVec>,
    pub(super) verification_failures: Arc<Counter>,
    pub(super) tickets_sent: Arc<Counter>,
    pub(super) ticket_value_sent: Arc<FloatCounter>,
    pub(super) streams: Arc<Gauge>,
    pub(super) segments_by_orch: Arc<CounterVec>,
    pub(super) job_verifications: Arc<CounterVec>,
    pub(super) segment_verifications: Arc<CounterVec>,
}

impl Metrics {
    pub(super) fn new(registry: &Arc<Registry>) -> Self {
        let r = registry;
        Self {
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
                "Results refused by signature, pixel, content or verifier checks",
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
            job_verifications: r.counter_vec(
                "reel_job_verifications_total",
                "Jobs re-run on another orchestrator, by kind and result (match, mismatch)",
                &["kind", "result"],
            ),
            segment_verifications: r.counter_vec(
                "reel_segment_verifications_total",
                "Segments transcoded again by the trusted verifier, by result (match, mismatch, error)",
                &["result"],
            ),
            registry: Arc::clone(registry),
        }
    }
}
