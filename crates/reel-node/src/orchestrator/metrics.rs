//! The orchestrator's Prometheus metrics (go-livepeer's names where it has them); a new
//! one is a field here, registered in [`OrchMetrics::new`].

use std::sync::Arc;

use crate::metrics::{Counter, CounterVec, FloatCounter, Gauge, Histogram, Registry};

/// The orchestrator's metrics (go-livepeer names).
#[derive(Debug)]
pub(crate) struct OrchMetrics {
    pub registry: Arc<Registry>,
    pub segments_received: Arc<Counter>,
    pub transcoded: Arc<Counter>,
    pub transcode_failed: Arc<Counter>,
    pub transcode_time: Arc<Histogram>,
    pub sessions: Arc<Gauge>,
    pub max_sessions: Arc<Gauge>,
    pub mil_pixels: Arc<FloatCounter>,
    pub rejected: Arc<CounterVec>,
    pub by_worker: Arc<CounterVec>,
    pub rate_limited: Arc<Counter>,
    pub transcoders: Arc<Gauge>,
    pub transcoders_capacity: Arc<Gauge>,
    pub transcoders_load: Arc<Gauge>,
    pub tickets_recv: Arc<Counter>,
    pub ticket_value_recv: Arc<FloatCounter>,
    pub winning_tickets_recv: Arc<Counter>,
    pub payment_recv_errors: Arc<Counter>,
    pub value_redeemed: Arc<FloatCounter>,
    pub redemption_errors: Arc<Counter>,
    pub tickets_redeemed: Arc<Counter>,
    pub worker_restarts: Arc<Counter>,
    pub worker_exits: Arc<Counter>,
}

impl OrchMetrics {
    pub(super) fn new(registry: &Arc<Registry>) -> Self {
        let r = registry;
        Self {
            segments_received: r.counter(
                "livepeer_segment_source_appeared_total",
                "Segments received from gateways",
            ),
            transcoded: r.counter(
                "livepeer_segment_transcoded_total",
                "Segments transcoded and returned",
            ),
            transcode_failed: r.counter(
                "livepeer_segment_transcode_failed_total",
                "Segments whose transcode failed",
            ),
            transcode_time: r.histogram(
                "livepeer_transcode_time_seconds",
                "Time to transcode a segment",
                crate::metrics::LATENCY_BUCKETS,
            ),
            sessions: r.gauge(
                "livepeer_current_sessions_total",
                "Sessions with recent segments",
            ),
            max_sessions: r.gauge(
                "livepeer_max_sessions_total",
                "Session limit (-maxSessions)",
            ),
            mil_pixels: r.float_counter(
                "livepeer_mil_pixels_processed",
                "Millions of output pixels produced",
            ),
            rejected: r.counter_vec(
                "reel_segment_rejected_total",
                "Segments refused before transcoding, by reason",
                &["reason"],
            ),
            by_worker: r.counter_vec(
                "reel_segments_by_worker_total",
                "Segments transcoded, by worker (local or transcoder-<id>)",
                &["worker"],
            ),
            rate_limited: r.counter(
                "reel_requests_rate_limited_total",
                "Requests refused by the per-client limit",
            ),
            transcoders: r.gauge(
                "livepeer_transcoders_number",
                "Remote transcoders connected",
            ),
            transcoders_capacity: r.gauge(
                "livepeer_transcoders_capacity",
                "Total capacity of remote transcoders",
            ),
            transcoders_load: r.gauge(
                "livepeer_transcoders_load",
                "Sessions assigned to remote transcoders",
            ),
            tickets_recv: r.counter("livepeer_tickets_recv", "Tickets received and credited"),
            ticket_value_recv: r.float_counter(
                "livepeer_ticket_value_recv",
                "Expected value of tickets received (wei)",
            ),
            winning_tickets_recv: r.counter(
                "livepeer_winning_tickets_recv",
                "Winning tickets received and stored",
            ),
            payment_recv_errors: r.counter(
                "livepeer_payment_recv_errors",
                "Payments or tickets refused",
            ),
            value_redeemed: r.float_counter(
                "livepeer_value_redeemed",
                "Face value of redeemed tickets (wei)",
            ),
            redemption_errors: r.counter(
                "livepeer_ticket_redemption_errors",
                "Failed redemption steps",
            ),
            tickets_redeemed: r.counter(
                "reel_tickets_redeemed_total",
                "Winning tickets redeemed on chain",
            ),
            worker_restarts: r.counter(
                "reel_transcode_worker_restarts_total",
                "Transcode worker processes restarted after they died",
            ),
            worker_exits: r.counter(
                "reel_transcode_worker_exits_total",
                "Transcode worker processes that died (not stopped on shutdown)",
            ),
            registry: Arc::clone(registry),
        }
    }

    /// Counts a payment the ticket store took: tickets, winners and the value credited.
    pub(crate) fn record_payment(&self, outcome: &reel_pm::PaymentOutcome) {
        self.tickets_recv.add(u64::from(outcome.accepted));
        self.winning_tickets_recv.add(u64::from(outcome.winners));
        self.ticket_value_recv
            .add(crate::payments::wei_f64(outcome.credited));
    }
}
