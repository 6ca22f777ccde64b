//! Named crash points on the ticket path, for the crash tests (see
//! docs/faults.md#winners-are-stored-before-credit, #crash-around-a-redemption-broadcast,
//! #n9-recovery-is-idempotent).
//!
//! Each point is a call to [`hit`] at one step of a ticket's life on the orchestrator. They
//! exist only in builds with the `failpoints` feature (test builds: a release binary has no
//! hooks, and [`hit`] compiles to nothing). There, they do nothing unless the environment
//! variable [`ENV`] (`REEL_FAILPOINT`) names one of them when the process starts: then the process
//! aborts (`std::process::abort`, SIGABRT, no destructors, no flush — as close to `kill -9` at
//! that exact line as a process can get) the first time it reaches that point, or the N-th
//! time with `REEL_FAILPOINT=<name>@N`. The crash tests start `reel orchestrator` with it, let
//! it die, restart it on the same data directory and check on the chain that every winning
//! ticket was redeemed exactly once (`crates/reel/tests/it/redemption.rs`, a scenario per
//! point, on anvil).
//!
//! The points, in the order a winning ticket passes them:
//!
//! | name | where | what is on disk at the crash |
//! |---|---|---|
//! | `recv-after-validation` | a payment's tickets validated, nonces reserved in memory | nothing of this payment |
//! | `recv-after-store` | nonces and winners committed | the winners (pending); nothing credited |
//! | `recv-after-credit` | EV credited, answer not sent | the winners (pending) |
//! | `redeem-after-sign` | redemption signed (account nonce taken), not stored | the ticket, pending |
//! | `redeem-after-record` | signed tx stored, ticket `submitted`, not broadcast | ticket + tx |
//! | `redeem-after-broadcast` | tx handed to the node | ticket + tx |
//! | `redeem-after-receipt` | success receipt read, ticket not yet marked redeemed | ticket + tx |
//! | `redeem-recover` | start-up recovery re-broadcast an in-flight tx | ticket + tx |
//! | `tx-after-broadcast` | any other transaction of the account broadcast, no receipt | nothing (the node has the tx) |

#[cfg(feature = "failpoints")]
use std::sync::OnceLock;
#[cfg(feature = "failpoints")]
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms one fail point.
pub const ENV: &str = "REEL_FAILPOINT";

pub const RECV_AFTER_VALIDATION: &str = "recv-after-validation";
pub const RECV_AFTER_STORE: &str = "recv-after-store";
pub const RECV_AFTER_CREDIT: &str = "recv-after-credit";
pub const REDEEM_AFTER_SIGN: &str = "redeem-after-sign";
pub const REDEEM_AFTER_RECORD: &str = "redeem-after-record";
pub const REDEEM_AFTER_BROADCAST: &str = "redeem-after-broadcast";
pub const REDEEM_AFTER_RECEIPT: &str = "redeem-after-receipt";
pub const REDEEM_RECOVER: &str = "redeem-recover";
/// Any transaction of the node's account (the keeper's `reward()`, `initializeRound()`),
/// right after it reached the node and before its receipt.
pub const TX_AFTER_BROADCAST: &str = "tx-after-broadcast";

/// Every fail point of the ticket path, in ticket order.
pub const ALL: &[&str] = &[
    RECV_AFTER_VALIDATION,
    RECV_AFTER_STORE,
    RECV_AFTER_CREDIT,
    REDEEM_AFTER_SIGN,
    REDEEM_AFTER_RECORD,
    REDEEM_AFTER_BROADCAST,
    REDEEM_AFTER_RECEIPT,
    REDEEM_RECOVER,
];

/// Every fail point: the ticket path's, then the transaction sender's.
#[cfg(feature = "failpoints")]
const KNOWN: &[&str] = &[
    RECV_AFTER_VALIDATION,
    RECV_AFTER_STORE,
    RECV_AFTER_CREDIT,
    REDEEM_AFTER_SIGN,
    REDEEM_AFTER_RECORD,
    REDEEM_AFTER_BROADCAST,
    REDEEM_AFTER_RECEIPT,
    REDEEM_RECOVER,
    TX_AFTER_BROADCAST,
];

#[cfg(feature = "failpoints")]
#[derive(Debug)]
struct Armed {
    name: &'static str,
    /// Abort on this hit (1 = the first).
    at: u64,
}

#[cfg(feature = "failpoints")]
static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
#[cfg(feature = "failpoints")]
static HITS: AtomicU64 = AtomicU64::new(0);

/// Parses `name` or `name@N` (N ≥ 1).
#[cfg(feature = "failpoints")]
fn parse(spec: &str) -> Result<Armed, String> {
    let (name, at) = match spec.split_once('@') {
        Some((n, at)) => (
            n,
            at.parse::<u64>()
                .ok()
                .filter(|v| *v >= 1)
                .ok_or_else(|| format!("{ENV}={spec}: the count after @ must be 1 or more"))?,
        ),
        None => (spec, 1),
    };
    let name = KNOWN.iter().copied().find(|n| *n == name).ok_or_else(|| {
        format!(
            "{ENV}={spec}: unknown fail point; known: {}",
            KNOWN.join(", ")
        )
    })?;
    Ok(Armed { name, at })
}

#[cfg(feature = "failpoints")]
fn armed() -> Option<&'static Armed> {
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok()?;
            let spec = spec.trim();
            if spec.is_empty() {
                return None;
            }
            match parse(spec) {
                Ok(a) => Some(a),
                Err(e) => {
                    // A typo must not silently disarm a crash test: refuse to run at all.
                    tracing::error!(target: "pm::failpoint", "{e}");
                    eprintln!("{e}");
                    std::process::exit(2)
                }
            }
        })
        .as_ref()
}

/// The armed fail point as `(name, hit count)`, if any (for a warning at start-up; an
/// unknown name stops the process with exit code 2 here).
pub fn check() -> Option<(&'static str, u64)> {
    #[cfg(feature = "failpoints")]
    {
        armed().map(|a| (a.name, a.at))
    }
    #[cfg(not(feature = "failpoints"))]
    {
        None
    }
}

/// Aborts the process if `name` is the armed fail point and this is the hit to abort on.
#[cfg(feature = "failpoints")]
pub fn hit(name: &'static str) {
    let Some(a) = armed() else { return };
    if a.name != name {
        return;
    }
    let n = HITS.fetch_add(1, Ordering::SeqCst).saturating_add(1);
    if n == a.at {
        eprintln!("fail point {name} reached (hit {n}): aborting");
        std::process::abort();
    }
}

/// Without the `failpoints` feature a fail point is nothing.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &'static str) {}

#[cfg(all(test, feature = "failpoints"))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let a = parse("redeem-after-record").unwrap();
        assert_eq!((a.name, a.at), (REDEEM_AFTER_RECORD, 1));
        let a = parse("recv-after-store@3").unwrap();
        assert_eq!((a.name, a.at), (RECV_AFTER_STORE, 3));
        assert!(parse("recv-after-store@0").is_err());
        assert!(parse("recv-after-stor").unwrap_err().contains("known:"));
    }

    #[test]
    fn unarmed_points_do_nothing() {
        // The test process has no REEL_FAILPOINT: every point passes.
        for p in ALL {
            hit(p);
        }
    }
}
