//! The Prometheus text parser shared with the `reel demo` (see `reel_types::prometheus`).

pub use reel_types::prometheus::{Sample, metric, samples, sum};

/// [`metric`], with a series the text does not show read as 0: a node shows a counter only
/// once something counted, and a test that expects 0 must not fail on the absence.
pub fn metric_or_zero(text: &str, series: &str) -> f64 {
    metric(text, series).unwrap_or(0.0)
}
