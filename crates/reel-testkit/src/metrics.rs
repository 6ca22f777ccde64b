//! The Prometheus text parser shared with the `reel demo` (see `reel_types::prometheus`).

pub use reel_types::prometheus::{Sample, metric, samples, sum};
