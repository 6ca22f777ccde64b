//! Waiting for a condition with a deadline.
//!
//! A fixed sleep is either too short on a loaded machine (a flaky test) or too long
//! everywhere (a slow one). Polling the condition returns as soon as it holds, and the
//! deadline turns "never" into an error that says what was awaited, for how long, and what
//! the last poll saw.
//!
//! ```no_run
//! # async fn f(count: impl Fn() -> u32) -> Result<(), reel_testkit::TimedOut> {
//! use std::time::Duration;
//! use reel_testkit::Wait;
//! // `Ok` ends the wait; `Err` is the observation a timeout reports.
//! let n = Wait::new("three segments", Duration::from_secs(10))
//!     .until_ok(async || match count() {
//!         n if n >= 3 => Ok(n),
//!         n => Err(n),
//!     })
//!     .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::{Duration, Instant};

/// How often a condition is polled unless [`Wait::every`] says otherwise: often enough that
/// a test does not notice the delay, seldom enough not to load the node it watches.
pub const DEFAULT_POLL: Duration = Duration::from_millis(50);

/// A condition did not hold before its deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {waited:?} (deadline {deadline:?}, {polls} polls) waiting for {what}{}", last_seen(.last))]
pub struct TimedOut {
    /// What was awaited, as the caller named it.
    pub what: String,
    /// The deadline given.
    pub deadline: Duration,
    /// How long the wait actually took.
    pub waited: Duration,
    /// How many times the condition was polled.
    pub polls: u64,
    /// The last observation (`Debug` of the `Err` of [`Wait::until_ok`]), if any.
    pub last: Option<String>,
}

fn last_seen(last: &Option<String>) -> String {
    match last {
        Some(l) => format!("; last seen: {l}"),
        None => String::new(),
    }
}

/// A wait for one condition: what it is, its deadline and how often it is polled.
#[derive(Debug, Clone)]
pub struct Wait {
    what: String,
    deadline: Duration,
    every: Duration,
}

impl Wait {
    /// A wait for `what` of at most `deadline`, polled every [`DEFAULT_POLL`].
    pub fn new(what: impl Into<String>, deadline: Duration) -> Self {
        Self {
            what: what.into(),
            deadline,
            every: DEFAULT_POLL,
        }
    }

    /// Polls every `every` instead.
    #[must_use]
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Polls `poll` until it returns `Some`; the condition is always polled at least once,
    /// and once more at the deadline, so a slow poll does not lose its last chance.
    pub async fn until<T>(self, mut poll: impl AsyncFnMut() -> Option<T>) -> Result<T, TimedOut> {
        self.drive(async || poll().await.ok_or(None)).await
    }

    /// Polls `poll` until it returns `Ok`; each `Err` is an observation, and the last one
    /// is named in the timeout.
    pub async fn until_ok<T, O: fmt::Debug>(
        self,
        mut poll: impl AsyncFnMut() -> Result<T, O>,
    ) -> Result<T, TimedOut> {
        self.drive(async || poll().await.map_err(|seen| Some(format!("{seen:?}"))))
            .await
    }

    /// [`Wait::until`] for synchronous tests: the thread sleeps between polls.
    pub fn until_blocking<T>(self, mut poll: impl FnMut() -> Option<T>) -> Result<T, TimedOut> {
        self.drive_blocking(|| poll().ok_or(None))
    }

    /// [`Wait::until_ok`] for synchronous tests: the thread sleeps between polls.
    pub fn until_ok_blocking<T, O: fmt::Debug>(
        self,
        mut poll: impl FnMut() -> Result<T, O>,
    ) -> Result<T, TimedOut> {
        self.drive_blocking(|| poll().map_err(|seen| Some(format!("{seen:?}"))))
    }

    async fn drive<T>(
        self,
        mut poll: impl AsyncFnMut() -> Result<T, Option<String>>,
    ) -> Result<T, TimedOut> {
        let t0 = Instant::now();
        let mut polls = 0u64;
        loop {
            polls = polls.saturating_add(1);
            let seen = match poll().await {
                Ok(v) => return Ok(v),
                Err(seen) => seen,
            };
            if let Some(timed_out) = self.past_deadline(t0, polls, seen) {
                return Err(timed_out);
            }
            tokio::time::sleep(self.nap(t0)).await;
        }
    }

    fn drive_blocking<T>(
        self,
        mut poll: impl FnMut() -> Result<T, Option<String>>,
    ) -> Result<T, TimedOut> {
        let t0 = Instant::now();
        let mut polls = 0u64;
        loop {
            polls = polls.saturating_add(1);
            let seen = match poll() {
                Ok(v) => return Ok(v),
                Err(seen) => seen,
            };
            if let Some(timed_out) = self.past_deadline(t0, polls, seen) {
                return Err(timed_out);
            }
            std::thread::sleep(self.nap(t0));
        }
    }

    fn past_deadline(&self, t0: Instant, polls: u64, last: Option<String>) -> Option<TimedOut> {
        let waited = t0.elapsed();
        (waited >= self.deadline).then(|| TimedOut {
            what: self.what.clone(),
            deadline: self.deadline,
            waited,
            polls,
            last,
        })
    }

    /// The pause before the next poll: never past the deadline, so the last poll happens
    /// at the deadline rather than a whole interval after it.
    fn nap(&self, t0: Instant) -> Duration {
        self.every
            .min(self.deadline.saturating_sub(t0.elapsed()))
            .max(Duration::from_millis(1))
    }
}

/// Polls `poll` every [`DEFAULT_POLL`] until it returns `Some`, for at most `deadline`.
pub async fn wait_until<T>(
    what: &str,
    deadline: Duration,
    poll: impl AsyncFnMut() -> Option<T>,
) -> Result<T, TimedOut> {
    Wait::new(what, deadline).until(poll).await
}

/// [`wait_until`] for synchronous tests.
pub fn wait_until_blocking<T>(
    what: &str,
    deadline: Duration,
    poll: impl FnMut() -> Option<T>,
) -> Result<T, TimedOut> {
    Wait::new(what, deadline).until_blocking(poll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_as_soon_as_the_condition_holds() {
        let mut n = 0;
        let t0 = Instant::now();
        let got = Wait::new("n to reach 3", Duration::from_secs(10))
            .every(Duration::from_millis(1))
            .until(async || {
                n += 1;
                (n >= 3).then_some(n)
            })
            .await;
        assert_eq!(got, Ok(3));
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    }

    #[tokio::test]
    async fn a_timeout_names_what_and_the_last_observation() {
        let mut n = 0u32;
        let err = Wait::new("n to reach 1000", Duration::from_millis(100))
            .every(Duration::from_millis(10))
            .until_ok(async || {
                n += 1;
                Err::<(), _>(format!("n = {n}"))
            })
            .await
            .unwrap_err();
        assert_eq!(err.what, "n to reach 1000");
        assert!(err.waited >= Duration::from_millis(100), "{err}");
        assert_eq!(
            err.last,
            Some(format!("{:?}", format!("n = {}", err.polls)))
        );
        let msg = err.to_string();
        assert!(msg.contains("waiting for n to reach 1000"), "{msg}");
        assert!(msg.contains("last seen: \"n = "), "{msg}");
    }

    #[tokio::test]
    async fn a_bare_not_yet_is_not_reported_as_an_observation() {
        let err = wait_until("never", Duration::from_millis(20), async || None::<()>)
            .await
            .unwrap_err();
        assert_eq!(err.last, None);
        assert!(!err.to_string().contains("last seen"), "{err}");
    }

    #[test]
    fn the_blocking_wait_polls_until_true_and_at_least_once() {
        let mut n = 0;
        let got = Wait::new("n to reach 2", Duration::from_secs(5))
            .every(Duration::from_millis(1))
            .until_blocking(|| {
                n += 1;
                (n == 2).then_some("two")
            });
        assert_eq!(got, Ok("two"));
        // A zero deadline still polls once.
        let got = wait_until_blocking("at once", Duration::ZERO, || Some(7));
        assert_eq!(got, Ok(7));
        let err = Wait::new("never", Duration::from_millis(30))
            .until_ok_blocking(|| Err::<(), _>(42))
            .unwrap_err();
        assert_eq!(err.last.as_deref(), Some("42"));
    }
}
