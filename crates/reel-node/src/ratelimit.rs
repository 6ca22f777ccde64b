//! Per-client request limits (docs/faults.md#floods-and-busy-orchestrators; go-livepeer has none):
//! a token bucket per client IP, refilled continuously. The table is bounded: when it is full, idle
//! buckets are dropped first, and a client that cannot get a bucket is refused rather than
//! growing memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits per client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSettings {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed in a burst.
    pub burst: f64,
    /// Most clients tracked at once.
    pub max_clients: usize,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 100.0,
            max_clients: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by client IP.
#[derive(Debug)]
pub struct RateLimiter {
    settings: RateSettings,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(settings: RateSettings) -> Self {
        Self {
            settings,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token for `client` at `now`; `false` means refuse (HTTP 429 /
    /// `RESOURCE_EXHAUSTED`).
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let s = self.settings;
        if s.per_second <= 0.0 {
            return true;
        }
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !map.contains_key(&client) && map.len() >= s.max_clients {
            // Buckets that would be full again carry no state worth keeping.
            let refill = Duration::from_secs_f64(s.burst / s.per_second);
            map.retain(|_, b| now.saturating_duration_since(b.at) < refill);
            if map.len() >= s.max_clients {
                return false;
            }
        }
        let b = map.entry(client).or_insert(Bucket {
            tokens: s.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * s.per_second).min(s.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let l = RateLimiter::new(RateSettings {
            per_second: 10.0,
            burst: 5.0,
            max_clients: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!((0..8).filter(|_| l.allow(a, t0)).count(), 5);
        // 0.3 s later: 3 tokens back.
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!((0..8).filter(|_| l.allow(a, t1)).count(), 3);
        // Another client is unaffected.
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.allow(b, t1));
        // The table is full of busy clients: a third is refused, not tracked.
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert!(!l.allow(c, t1));
        // Once the others are idle long enough, there is room.
        assert!(l.allow(c, t1 + Duration::from_secs(5)));
    }
}
