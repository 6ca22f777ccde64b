//! What reel's tests and benches share, so each test states only what it checks.
//!
//! - [`wait`]: wait for a condition with a deadline instead of sleeping a fixed time; a
//!   timeout names what was awaited and the last thing seen.
//! - [`media`]: test clips made with the ffmpeg CLI, and ffprobe as the independent judge
//!   of what reel wrote.
//! - [`http`]: one HTTP client with timeouts, so a hung node fails a test instead of
//!   hanging it.
//! - [`compute`]: C workloads built to WebAssembly and natively, and the same computations
//!   in Rust to check a module's output against.
//! - [`netns`]: hosts with their own addresses in network namespaces, joined by links
//!   that can be delayed, made lossy, rate limited or cut.
//! - [`metrics`]: the Prometheus text parser (it lives in `reel-types`, where the demo
//!   uses it too).
//!
//! Nothing here mocks a node: tests run real processes and sockets; this crate only
//! saves them the plumbing. A whole network in one process (devnet, orchestrators,
//! gateway) is `reel-localnet`, apart because it needs `reel-node`.
//!
//! Where to look:
//! - a test that waits for something: [`Wait`] (or [`wait_until`] /
//!   [`wait_until_blocking`]); return the observation as the `Err` of
//!   [`Wait::until_ok`] so a timeout shows it.
//! - a new test clip: a [`media::Clip`] setting (GOP, preset, bitrates, audio) rather than
//!   another ffmpeg command line; a new fact to judge outputs by: `media.rs`, from ffprobe.
//! - a request helper: [`http::Http`]; keep its timeouts.
//! - a metric in a test or the demo: [`metrics::metric`] (the parser itself is
//!   `reel_types::prometheus`, with its malformed-line tests).

pub mod bench;
pub mod compute;
pub mod http;
pub mod media;
pub mod memory;
pub mod metrics;
pub mod netns;
pub mod rng;
pub mod wait;

pub use wait::{TimedOut, Wait, wait_until, wait_until_blocking};
