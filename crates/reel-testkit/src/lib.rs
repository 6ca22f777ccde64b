//! What reel's tests and benches share, so each test states only what it checks.
//!
//! - [`wait`]: wait for a condition with a deadline instead of sleeping a fixed time; a
//!   timeout names what was awaited and the last thing seen.
//! - [`media`]: test clips made with the ffmpeg CLI, and ffprobe as the independent judge
//!   of what reel wrote.
//! - [`http`]: one HTTP client with timeouts, so a hung node fails a test instead of
//!   hanging it.
//! - [`metrics`]: the Prometheus text parser (it lives in `reel-types`, where the demo
//!   uses it too).
//!
//! Nothing here mocks a node: tests run real processes and sockets; this crate only
//! saves them the plumbing.

pub mod http;
pub mod media;
pub mod metrics;
pub mod wait;

pub use wait::{TimedOut, Wait, wait_until, wait_until_blocking};
