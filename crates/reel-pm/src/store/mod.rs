//! The orchestrator's durable payment state in SQLite (WAL, `synchronous=FULL`):
//! the recipient secret, the nonces seen per parameter set, and every winning ticket with its
//! redemption state and the transactions sent for it.
//!
//! A winning ticket moves `pending → submitted → pending …` until it ends in exactly one
//! final state: `redeemed(tx, block)`, `used` (someone else redeemed it), `expired` or
//! `invalid(reason)` (see docs/faults.md#n2-every-winner-ends-in-one-final-state). The database
//! itself refuses to leave a final state (a trigger) and refuses `redeemed` without a non-zero tx
//! hash (a CHECK), so a bug upstream cannot record a ticket twice or lose its outcome. Inspect with
//! `sqlite3 <data dir>/tickets.sqlite3` (the orchestrator's file).
//!
//! When SQLite cannot write (disk full, locked by another process past the busy timeout, I/O
//! error) the call fails with [`PmError::StoreUnavailable`] and the transaction is rolled
//! back: nothing is half-written, and the caller credits nothing (see
//! docs/faults.md#ticket-store-unavailable). The store remembers whether its last write failed
//! ([`Store::health`]); the next successful write, or a [`Store::probe`], clears it.
//!
//! Files: `schema.rs` holds the tables, triggers and checks; `types.rs` the rows and states
//! callers see; `payment.rs` what a payment writes (nonces and winners, in one transaction);
//! `queue.rs` the redemption queue (tickets, their transactions, final outcomes). This file
//! opens the database, classifies SQLite errors and tracks the store's health.

mod payment;
mod queue;
mod schema;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
mod types;

pub use types::{
    NewWinner, SeenNonce, StateCounts, StoreFailure, StoreHealth, StoredTicket, StoredTx, Terminal,
    TicketState,
};

use crate::{PmError, StoreFault};
use alloy_primitives::B256;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use schema::SCHEMA;
use std::{path::Path, sync::Mutex, time::Duration};

/// Bytes of room a [`Store::probe`] asks for (and gives back): about as much as a payment
/// of ten winning tickets needs.
const PROBE_ROOM_BYTES: i64 = 16 * 1024;

/// How long a write waits for another process's lock (this process serialises its own
/// writes on the connection's mutex). Shorter than a gateway's upload timeout (at least
/// 2 s), so a locked store is answered with a 503 that names it rather than a timeout.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// SQLite's `max_page_count` ceiling: setting it lifts any cap.
const NO_PAGE_CAP: u64 = 4_294_967_294;

/// The SQLite store. Cheap to share behind an `Arc`; calls block on disk I/O (an fsync per
/// commit), so async callers run them on a blocking thread.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    health: Mutex<StoreHealth>,
}

/// Classifies a SQLite error: a constraint refusing the data is a plain [`PmError::Store`]
/// (the store works; the data is wrong), anything else means the store is unavailable.
fn sql(op: &'static str, e: rusqlite::Error) -> PmError {
    use rusqlite::ErrorCode as C;
    let fault = match e.sqlite_error_code() {
        None | Some(C::ConstraintViolation) => return PmError::store(op, e),
        Some(C::DiskFull) => StoreFault::Full,
        Some(C::DatabaseBusy | C::DatabaseLocked) => StoreFault::Busy,
        Some(C::SystemIoFailure | C::CannotOpen) => StoreFault::Io,
        Some(C::ReadOnly) => StoreFault::ReadOnly,
        Some(C::DatabaseCorrupt | C::NotADatabase) => StoreFault::Corrupt,
        Some(_) => StoreFault::Other,
    };
    PmError::StoreUnavailable {
        op,
        fault,
        reason: e.to_string(),
    }
}

fn u64_to_sql(v: u64) -> Result<i64, PmError> {
    i64::try_from(v).map_err(|_| PmError::Overflow {
        what: "integer for SQLite",
    })
}

fn sql_to_u64(v: i64) -> Result<u64, PmError> {
    u64::try_from(v).map_err(|_| PmError::store("read", format!("negative integer {v}")))
}

fn b256_col(v: &[u8]) -> Result<B256, PmError> {
    B256::try_from(v).map_err(|_| PmError::store("read", "hash column is not 32 bytes"))
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, PmError> {
        let conn = Connection::open(path).map_err(|e| sql("open", e))?;
        Self::init(conn)
    }

    fn init(conn: Connection) -> Result<Self, PmError> {
        // WAL: readers don't block the writer. synchronous=FULL: a commit is on disk when it
        // returns, which is what "store before credit" needs.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| sql("journal_mode", e))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| sql("synchronous", e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| sql("foreign_keys", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql("busy_timeout", e))?;
        conn.execute_batch(SCHEMA).map_err(|e| sql("schema", e))?;
        Ok(Self {
            conn: Mutex::new(conn),
            health: Mutex::default(),
        })
    }

    /// Runs a write and records its outcome in [`Store::health`]: success clears a failure,
    /// an unavailable store sets it; a refused constraint changes nothing (the store works).
    fn tracked<T>(&self, f: impl FnOnce() -> Result<T, PmError>) -> Result<T, PmError> {
        let r = f();
        let mut h = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &r {
            Ok(_) => {
                h.failure = None;
                h.last_ok_write = Some(unix_now());
            }
            Err(PmError::StoreUnavailable { op, fault, reason }) => {
                h.failed_writes = h.failed_writes.saturating_add(1);
                h.failure = Some(StoreFailure {
                    op,
                    fault: *fault,
                    reason: reason.clone(),
                    at: unix_now(),
                });
            }
            Err(_) => {}
        }
        r
    }

    /// Whether the last write (or probe) succeeded, and if not, why.
    pub fn health(&self) -> StoreHealth {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Checks that the store can take a payment now, and records the answer in
    /// [`Store::health`]: takes the write lock (busy?), asks for room for a few pages and
    /// gives it back (full?), and commits a heartbeat row with an fsync (I/O?).
    pub fn probe(&self, now: u64) -> Result<(), PmError> {
        self.tracked(|| {
            let now = u64_to_sql(now)?;
            let mut conn = self.conn()?;
            let mut tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sql("probe", e))?;
            {
                let mut room = tx.savepoint().map_err(|e| sql("probe", e))?;
                room.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('probe_room', zeroblob(?1))",
                    [PROBE_ROOM_BYTES],
                )
                .map_err(|e| sql("probe", e))?;
                room.rollback().map_err(|e| sql("probe", e))?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?1)",
                [now.to_be_bytes().as_slice()],
            )
            .map_err(|e| sql("probe", e))?;
            tx.commit().map_err(|e| sql("probe", e))
        })
    }

    /// How long a write waits for another connection's lock before failing as busy
    /// (default [`BUSY_TIMEOUT`]).
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), PmError> {
        self.conn()?
            .busy_timeout(timeout)
            .map_err(|e| sql("busy_timeout", e))
    }

    /// Caps the database at `pages` pages (SQLite's `max_page_count` on this connection;
    /// never below the current size; `None` lifts the cap). A write that needs more pages
    /// fails as [`StoreFault::Full`], exactly as on a full disk: the tests of
    /// docs/faults.md#ticket-store-unavailable use it, and an operator can use it to bound the
    /// file. Returns the cap in force.
    pub fn set_max_page_count(&self, pages: Option<u64>) -> Result<u64, PmError> {
        let pages = u64_to_sql(pages.unwrap_or(NO_PAGE_CAP).min(NO_PAGE_CAP))?;
        let conn = self.conn()?;
        let cap: i64 = conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get(0)
            })
            .map_err(|e| sql("max_page_count", e))?;
        sql_to_u64(cap)
    }

    /// Pages the database holds now (SQLite's `page_count`).
    pub fn page_count(&self) -> Result<u64, PmError> {
        let conn = self.conn()?;
        let n: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(|e| sql("page_count", e))?;
        sql_to_u64(n)
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, PmError> {
        self.conn
            .lock()
            .map_err(|_| PmError::store("lock", "a previous holder panicked"))
    }

    /// The recipient's 32-byte HMAC secret: created from the OS CSPRNG on first use and kept,
    /// so ticket params issued before a restart stay valid after it.
    pub fn recipient_secret(&self) -> Result<[u8; 32], PmError> {
        self.tracked(|| {
            let mut conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sql("secret", e))?;
            let existing: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'recipient_secret'",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| sql("secret", e))?;
            let secret = match existing {
                Some(v) => <[u8; 32]>::try_from(v.as_slice())
                    .map_err(|_| PmError::store("secret", "stored secret is not 32 bytes"))?,
                None => {
                    let mut s = [0u8; 32];
                    getrandom::fill(&mut s).map_err(|e| PmError::store("secret", e))?;
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('recipient_secret', ?1)",
                        [s.as_slice()],
                    )
                    .map_err(|e| sql("secret", e))?;
                    s
                }
            };
            tx.commit().map_err(|e| sql("secret", e))?;
            Ok(secret)
        })
    }
}

/// Seconds since the Unix epoch: the clock of the store's `*_at` columns and of its health.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
