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

use crate::{PmError, SignedTicket, StoreFault, Ticket, ticket::ExpirationParams};
use alloy_primitives::{Address, B256, U256};
use reel_net::Signature;
use reel_types::Wei;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::{path::Path, sync::Mutex, time::Duration};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_nonces (
    rand_hash        BLOB    NOT NULL,
    nonce            INTEGER NOT NULL,
    expiration_block INTEGER NOT NULL,
    PRIMARY KEY (rand_hash, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_nonces_expiry ON seen_nonces (expiration_block);
CREATE TABLE IF NOT EXISTS winning_tickets (
    id                        INTEGER PRIMARY KEY,
    ticket_hash               BLOB    NOT NULL UNIQUE,
    sender                    BLOB    NOT NULL,
    recipient                 BLOB    NOT NULL,
    face_value                TEXT    NOT NULL,
    win_prob                  TEXT    NOT NULL,
    sender_nonce              INTEGER NOT NULL,
    recipient_rand            BLOB    NOT NULL,
    recipient_rand_hash       BLOB    NOT NULL,
    creation_round            INTEGER NOT NULL,
    creation_round_block_hash BLOB    NOT NULL,
    params_expiration_block   INTEGER NOT NULL,
    sig                       BLOB    NOT NULL,
    state                     TEXT    NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'submitted', 'redeemed', 'used', 'expired', 'invalid')),
    tx_hash                   BLOB,
    block_number              INTEGER,
    reason                    TEXT,
    attempts                  INTEGER NOT NULL DEFAULT 0,
    received_at               INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL,
    CHECK (state != 'redeemed' OR (tx_hash IS NOT NULL AND length(tx_hash) = 32
                                   AND tx_hash != zeroblob(32) AND block_number IS NOT NULL)),
    CHECK (state != 'invalid' OR reason IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS winning_tickets_open ON winning_tickets (state)
    WHERE state IN ('pending', 'submitted');
CREATE TRIGGER IF NOT EXISTS winning_tickets_final_is_final
BEFORE UPDATE ON winning_tickets
WHEN OLD.state IN ('redeemed', 'used', 'expired', 'invalid')
BEGIN
    SELECT RAISE(ABORT, 'ticket already in a final state');
END;
CREATE TABLE IF NOT EXISTS redemption_txs (
    tx_hash   BLOB    PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES winning_tickets (id),
    tx_nonce  INTEGER NOT NULL,
    gas_price TEXT    NOT NULL,
    raw       BLOB    NOT NULL,
    sent_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS redemption_txs_ticket ON redemption_txs (ticket_id);
"#;

/// Where a stored winning ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// Waiting for its redeem window, gas or funds.
    Pending,
    /// A redemption transaction was signed and stored, and is (being) broadcast.
    Submitted,
    Redeemed,
    Used,
    Expired,
    Invalid,
}

impl TicketState {
    fn parse(s: &str) -> Result<Self, PmError> {
        Ok(match s {
            "pending" => TicketState::Pending,
            "submitted" => TicketState::Submitted,
            "redeemed" => TicketState::Redeemed,
            "used" => TicketState::Used,
            "expired" => TicketState::Expired,
            "invalid" => TicketState::Invalid,
            other => return Err(PmError::store("read state", format!("unknown `{other}`"))),
        })
    }

    pub fn is_final(self) -> bool {
        !matches!(self, TicketState::Pending | TicketState::Submitted)
    }
}

/// A final outcome (see docs/faults.md#n2-every-winner-ends-in-one-final-state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal {
    /// Our transaction redeemed it, mined in `block`.
    Redeemed { tx_hash: B256, block: u64 },
    /// The contract reports the ticket used, by a transaction not known to be ours.
    UsedOnChain,
    /// Past `creationRound + ticketValidityPeriod`: the contract would revert "ticket is expired".
    Expired,
    /// The contract refuses it for a reason that will not change.
    Invalid { reason: String },
}

/// A winning ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTicket {
    pub id: i64,
    pub signed: SignedTicket,
    pub params_expiration_block: u64,
    pub state: TicketState,
    pub tx_hash: Option<B256>,
    pub block_number: Option<u64>,
    pub reason: Option<String>,
    pub attempts: u32,
}

/// A winning ticket about to be stored, with the block its params expire at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWinner {
    pub signed: SignedTicket,
    pub params_expiration_block: u64,
}

/// A nonce to record as seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeenNonce {
    pub rand_hash: B256,
    pub nonce: u32,
    pub expiration_block: u64,
}

/// A redemption transaction stored before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTx {
    pub tx_hash: B256,
    pub tx_nonce: u64,
    pub gas_price: Wei,
    pub raw: Vec<u8>,
    pub sent_at: u64,
}

/// Number of stored tickets per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub pending: u64,
    pub submitted: u64,
    pub redeemed: u64,
    pub used: u64,
    pub expired: u64,
    pub invalid: u64,
}

impl StateCounts {
    pub fn total(&self) -> u64 {
        [
            self.pending,
            self.submitted,
            self.redeemed,
            self.used,
            self.expired,
            self.invalid,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// The last failed write, while no write has succeeded since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFailure {
    /// What was being written (`commit payment`, `probe`, …).
    pub op: &'static str,
    pub fault: StoreFault,
    /// SQLite's message.
    pub reason: String,
    /// Unix seconds.
    pub at: u64,
}

/// Whether the store takes writes, as its last write (or probe) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// Set while the last write failed because the store was unavailable.
    pub failure: Option<StoreFailure>,
    /// When a write last succeeded (unix seconds), if one did since the store was opened.
    pub last_ok_write: Option<u64>,
    /// Writes refused as unavailable since the store was opened.
    pub failed_writes: u64,
}

impl StoreHealth {
    pub fn is_healthy(&self) -> bool {
        self.failure.is_none()
    }
}

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
                h.last_ok_write = Some(crate::recipient::unix_now());
            }
            Err(PmError::StoreUnavailable { op, fault, reason }) => {
                h.failed_writes = h.failed_writes.saturating_add(1);
                h.failure = Some(StoreFailure {
                    op,
                    fault: *fault,
                    reason: reason.clone(),
                    at: crate::recipient::unix_now(),
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

    /// Records accepted nonces and stores winning tickets, atomically and durably. Returns the
    /// new tickets' ids. Nothing may be credited for these tickets before this returns `Ok`.
    pub fn commit_payment(
        &self,
        nonces: &[SeenNonce],
        winners: &[NewWinner],
        now: u64,
    ) -> Result<Vec<i64>, PmError> {
        self.tracked(|| {
            let now = u64_to_sql(now)?;
            let mut conn = self.conn()?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sql("commit payment", e))?;
            {
                let mut ins = tx
                    .prepare_cached(
                        "INSERT INTO seen_nonces (rand_hash, nonce, expiration_block) \
                     VALUES (?1, ?2, ?3)",
                    )
                    .map_err(|e| sql("commit payment", e))?;
                for n in nonces {
                    ins.execute(params![
                        n.rand_hash.as_slice(),
                        n.nonce,
                        u64_to_sql(n.expiration_block)?
                    ])
                    .map_err(|e| sql("record nonce", e))?;
                }
            }
            let mut ids = Vec::with_capacity(winners.len());
            {
                let mut ins = tx
                    .prepare_cached(
                        "INSERT INTO winning_tickets (ticket_hash, sender, recipient, face_value, \
                     win_prob, sender_nonce, recipient_rand, recipient_rand_hash, \
                     creation_round, creation_round_block_hash, params_expiration_block, sig, \
                     received_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
                    )
                    .map_err(|e| sql("store ticket", e))?;
                for w in winners {
                    let t = &w.signed.ticket;
                    ins.execute(params![
                        w.signed.hash().as_slice(),
                        t.sender.as_slice(),
                        t.recipient.as_slice(),
                        t.face_value.base_units().to_string(),
                        t.win_prob.to_string(),
                        t.sender_nonce,
                        w.signed.recipient_rand.to_be_bytes::<32>().as_slice(),
                        t.recipient_rand_hash.as_slice(),
                        u64_to_sql(t.expiration.creation_round)?,
                        t.expiration.creation_round_block_hash.as_slice(),
                        u64_to_sql(w.params_expiration_block)?,
                        w.signed.sig.as_bytes().as_slice(),
                        now,
                    ])
                    .map_err(|e| sql("store ticket", e))?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            tx.commit().map_err(|e| sql("commit payment", e))?;
            Ok(ids)
        })
    }

    /// Nonces of parameter sets still open at `last_block`, to rebuild the replay filter on
    /// start (docs/faults.md#n5-nonces-are-as-durable-as-the-secret: nonces are as durable as the
    /// secret).
    pub fn live_nonces(&self, last_block: u64) -> Result<Vec<SeenNonce>, PmError> {
        let conn = self.conn()?;
        let mut q = conn
            .prepare(
                "SELECT rand_hash, nonce, expiration_block FROM seen_nonces \
                 WHERE expiration_block > ?1",
            )
            .map_err(|e| sql("load nonces", e))?;
        let rows = q
            .query_map([u64_to_sql(last_block)?], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| sql("load nonces", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (h, nonce, exp) = row.map_err(|e| sql("load nonces", e))?;
            out.push(SeenNonce {
                rand_hash: b256_col(&h)?,
                nonce,
                expiration_block: sql_to_u64(exp)?,
            });
        }
        Ok(out)
    }

    /// Forgets nonces of parameter sets that expired at or before `last_block`.
    pub fn prune_nonces(&self, last_block: u64) -> Result<usize, PmError> {
        self.tracked(|| {
            self.conn()?
                .execute(
                    "DELETE FROM seen_nonces WHERE expiration_block <= ?1",
                    [u64_to_sql(last_block)?],
                )
                .map_err(|e| sql("prune nonces", e))
        })
    }

    fn read_ticket(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
        Ok(RawRow {
            id: r.get(0)?,
            sender: r.get(1)?,
            recipient: r.get(2)?,
            face_value: r.get(3)?,
            win_prob: r.get(4)?,
            sender_nonce: r.get(5)?,
            recipient_rand: r.get(6)?,
            recipient_rand_hash: r.get(7)?,
            creation_round: r.get(8)?,
            creation_round_block_hash: r.get(9)?,
            params_expiration_block: r.get(10)?,
            sig: r.get(11)?,
            state: r.get(12)?,
            tx_hash: r.get(13)?,
            block_number: r.get(14)?,
            reason: r.get(15)?,
            attempts: r.get(16)?,
        })
    }

    const COLUMNS: &'static str = "id, sender, recipient, face_value, win_prob, sender_nonce, \
        recipient_rand, recipient_rand_hash, creation_round, creation_round_block_hash, \
        params_expiration_block, sig, state, tx_hash, block_number, reason, attempts";

    /// Every ticket not yet in a final state, oldest first — whichever sender it is from, so
    /// tickets of senders that never come back are redeemed too.
    pub fn unfinished(&self) -> Result<Vec<StoredTicket>, PmError> {
        self.select(
            "WHERE state IN ('pending', 'submitted') ORDER BY id",
            params![],
        )
    }

    /// Every stored ticket, oldest first.
    pub fn all(&self) -> Result<Vec<StoredTicket>, PmError> {
        self.select("ORDER BY id", params![])
    }

    pub fn get(&self, id: i64) -> Result<Option<StoredTicket>, PmError> {
        Ok(self
            .select("WHERE id = ?1", params![id])?
            .into_iter()
            .next())
    }

    fn select(
        &self,
        tail: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredTicket>, PmError> {
        let conn = self.conn()?;
        let query = format!("SELECT {} FROM winning_tickets {tail}", Self::COLUMNS);
        let mut q = conn
            .prepare_cached(&query)
            .map_err(|e| sql("load tickets", e))?;
        let rows = q
            .query_map(args, Self::read_ticket)
            .map_err(|e| sql("load tickets", e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(|e| sql("load tickets", e))?.parse()?);
        }
        Ok(out)
    }

    /// Stores a signed redemption transaction and marks the ticket submitted, before the
    /// transaction is broadcast: after a crash the hash is known and checked first (see
    /// docs/faults.md#n3-one-redemption-in-flight).
    pub fn record_tx(&self, id: i64, tx: &StoredTx) -> Result<(), PmError> {
        self.tracked(|| {
            let mut conn = self.conn()?;
            let t = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| sql("record tx", e))?;
            let changed = t
                .execute(
                    "UPDATE winning_tickets SET state = 'submitted', attempts = attempts + 1, \
                 updated_at = ?2 WHERE id = ?1 AND state IN ('pending', 'submitted')",
                    params![id, u64_to_sql(tx.sent_at)?],
                )
                .map_err(|e| sql("record tx", e))?;
            if changed != 1 {
                return Err(PmError::AlreadyFinal { id });
            }
            t.execute(
            "INSERT INTO redemption_txs (tx_hash, ticket_id, tx_nonce, gas_price, raw, sent_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                tx.tx_hash.as_slice(),
                id,
                u64_to_sql(tx.tx_nonce)?,
                tx.gas_price.base_units().to_string(),
                tx.raw,
                u64_to_sql(tx.sent_at)?
            ],
        )
        .map_err(|e| sql("record tx", e))?;
            t.commit().map_err(|e| sql("record tx", e))
        })
    }

    /// The transactions sent for a ticket, oldest first.
    pub fn txs(&self, id: i64) -> Result<Vec<StoredTx>, PmError> {
        let conn = self.conn()?;
        let mut q = conn
            .prepare_cached(
                "SELECT tx_hash, tx_nonce, gas_price, raw, sent_at FROM redemption_txs \
                 WHERE ticket_id = ?1 ORDER BY sent_at, rowid",
            )
            .map_err(|e| sql("load txs", e))?;
        let rows = q
            .query_map([id], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(|e| sql("load txs", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (h, n, g, raw, at) = row.map_err(|e| sql("load txs", e))?;
            out.push(StoredTx {
                tx_hash: b256_col(&h)?,
                tx_nonce: sql_to_u64(n)?,
                gas_price: Wei::from_base_units(
                    U256::from_str_radix(&g, 10).map_err(|e| PmError::store("load txs", e))?,
                ),
                raw,
                sent_at: sql_to_u64(at)?,
            });
        }
        Ok(out)
    }

    /// Back to pending after a retryable failure (the transaction was not mined).
    pub fn back_to_pending(&self, id: i64, reason: &str, now: u64) -> Result<(), PmError> {
        self.tracked(|| {
            let changed = self
                .conn()?
                .execute(
                    "UPDATE winning_tickets SET state = 'pending', reason = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND state IN ('pending', 'submitted')",
                    params![id, reason, u64_to_sql(now)?],
                )
                .map_err(|e| sql("retry", e))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(PmError::AlreadyFinal { id })
            }
        })
    }

    /// Records the final outcome; refuses if the ticket already has one (see
    /// docs/faults.md#n2-every-winner-ends-in-one-final-state).
    pub fn finish(&self, id: i64, outcome: &Terminal, now: u64) -> Result<(), PmError> {
        self.tracked(|| {
            let now = u64_to_sql(now)?;
            let conn = self.conn()?;
            let res = match outcome {
            Terminal::Redeemed { tx_hash, block } => conn.execute(
                "UPDATE winning_tickets SET state = 'redeemed', tx_hash = ?2, block_number = ?3, \
                 updated_at = ?4 WHERE id = ?1 AND state IN ('pending', 'submitted')",
                params![id, tx_hash.as_slice(), u64_to_sql(*block)?, now],
            ),
            Terminal::UsedOnChain => conn.execute(
                "UPDATE winning_tickets SET state = 'used', updated_at = ?2 \
                 WHERE id = ?1 AND state IN ('pending', 'submitted')",
                params![id, now],
            ),
            Terminal::Expired => conn.execute(
                "UPDATE winning_tickets SET state = 'expired', updated_at = ?2 \
                 WHERE id = ?1 AND state IN ('pending', 'submitted')",
                params![id, now],
            ),
            Terminal::Invalid { reason } => conn.execute(
                "UPDATE winning_tickets SET state = 'invalid', reason = ?2, updated_at = ?3 \
                 WHERE id = ?1 AND state IN ('pending', 'submitted')",
                params![id, reason, now],
            ),
        };
            match res {
                Ok(1) => Ok(()),
                Ok(_) => Err(PmError::AlreadyFinal { id }),
                Err(e) => Err(sql("finish", e)),
            }
        })
    }

    pub fn counts(&self) -> Result<StateCounts, PmError> {
        let conn = self.conn()?;
        let mut q = conn
            .prepare("SELECT state, count(*) FROM winning_tickets GROUP BY state")
            .map_err(|e| sql("count", e))?;
        let rows = q
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| sql("count", e))?;
        let mut c = StateCounts::default();
        for row in rows {
            let (s, n) = row.map_err(|e| sql("count", e))?;
            let n = sql_to_u64(n)?;
            match TicketState::parse(&s)? {
                TicketState::Pending => c.pending = n,
                TicketState::Submitted => c.submitted = n,
                TicketState::Redeemed => c.redeemed = n,
                TicketState::Used => c.used = n,
                TicketState::Expired => c.expired = n,
                TicketState::Invalid => c.invalid = n,
            }
        }
        Ok(c)
    }
}

struct RawRow {
    id: i64,
    sender: Vec<u8>,
    recipient: Vec<u8>,
    face_value: String,
    win_prob: String,
    sender_nonce: u32,
    recipient_rand: Vec<u8>,
    recipient_rand_hash: Vec<u8>,
    creation_round: i64,
    creation_round_block_hash: Vec<u8>,
    params_expiration_block: i64,
    sig: Vec<u8>,
    state: String,
    tx_hash: Option<Vec<u8>>,
    block_number: Option<i64>,
    reason: Option<String>,
    attempts: u32,
}

impl RawRow {
    fn parse(self) -> Result<StoredTicket, PmError> {
        let addr = |v: &[u8]| {
            Address::try_from(v).map_err(|_| PmError::store("read", "address is not 20 bytes"))
        };
        let num = |s: &str| U256::from_str_radix(s, 10).map_err(|e| PmError::store("read", e));
        let sig = Signature::from_slice(&self.sig).map_err(|e| PmError::store("read sig", e))?;
        let ticket = Ticket {
            recipient: addr(&self.recipient)?,
            sender: addr(&self.sender)?,
            face_value: Wei::from_base_units(num(&self.face_value)?),
            win_prob: num(&self.win_prob)?,
            sender_nonce: self.sender_nonce,
            recipient_rand_hash: b256_col(&self.recipient_rand_hash)?,
            expiration: ExpirationParams {
                creation_round: sql_to_u64(self.creation_round)?,
                creation_round_block_hash: b256_col(&self.creation_round_block_hash)?,
            },
        };
        Ok(StoredTicket {
            id: self.id,
            signed: SignedTicket {
                ticket,
                sig,
                recipient_rand: U256::from_be_bytes(b256_col(&self.recipient_rand)?.0),
            },
            params_expiration_block: sql_to_u64(self.params_expiration_block)?,
            state: TicketState::parse(&self.state)?,
            tx_hash: self.tx_hash.as_deref().map(b256_col).transpose()?,
            block_number: self.block_number.map(sql_to_u64).transpose()?,
            reason: self.reason,
            attempts: self.attempts,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::testing::{signed_ticket, temp_store};

    #[test]
    fn secret_is_created_once_and_survives_reopen() {
        let (dir, store) = temp_store();
        let s1 = store.recipient_secret().unwrap();
        assert_eq!(store.recipient_secret().unwrap(), s1);
        drop(store);
        let again = Store::open(&dir.path().join("pm.sqlite")).unwrap();
        assert_eq!(again.recipient_secret().unwrap(), s1);
        assert_ne!(s1, [0u8; 32]);
    }

    #[test]
    fn winners_round_trip_and_final_states_are_final() {
        let (_dir, store) = temp_store();
        let w = NewWinner {
            signed: signed_ticket(1),
            params_expiration_block: 140,
        };
        let ids = store
            .commit_payment(
                &[SeenNonce {
                    rand_hash: w.signed.ticket.recipient_rand_hash,
                    nonce: 1,
                    expiration_block: 140,
                }],
                std::slice::from_ref(&w),
                1000,
            )
            .unwrap();
        let got = store.get(ids[0]).unwrap().unwrap();
        assert_eq!(got.signed, w.signed);
        assert_eq!(got.state, TicketState::Pending);
        assert_eq!(got.params_expiration_block, 140);

        // The same ticket cannot be stored twice.
        assert!(
            store
                .commit_payment(&[], std::slice::from_ref(&w), 1001)
                .is_err()
        );
        // A zero tx hash is refused by the schema.
        assert!(
            store
                .finish(
                    ids[0],
                    &Terminal::Redeemed {
                        tx_hash: B256::ZERO,
                        block: 5
                    },
                    1002
                )
                .is_err()
        );
        let tx = StoredTx {
            tx_hash: B256::repeat_byte(9),
            tx_nonce: 3,
            gas_price: Wei::from_base_units(U256::from(10)),
            raw: vec![1, 2, 3],
            sent_at: 1003,
        };
        store.record_tx(ids[0], &tx).unwrap();
        assert_eq!(store.txs(ids[0]).unwrap(), vec![tx]);
        let got = store.get(ids[0]).unwrap().unwrap();
        assert_eq!((got.state, got.attempts), (TicketState::Submitted, 1));
        store
            .finish(
                ids[0],
                &Terminal::Redeemed {
                    tx_hash: B256::repeat_byte(9),
                    block: 77,
                },
                1004,
            )
            .unwrap();
        // N2: exactly once.
        for again in [
            Terminal::UsedOnChain,
            Terminal::Expired,
            Terminal::Invalid { reason: "x".into() },
        ] {
            assert_eq!(
                store.finish(ids[0], &again, 1005),
                Err(PmError::AlreadyFinal { id: ids[0] })
            );
        }
        assert!(store.back_to_pending(ids[0], "x", 1006).is_err());
        assert!(
            store
                .record_tx(
                    ids[0],
                    &StoredTx {
                        tx_hash: B256::repeat_byte(8),
                        ..store.txs(ids[0]).unwrap()[0].clone()
                    }
                )
                .is_err()
        );
        let got = store.get(ids[0]).unwrap().unwrap();
        assert_eq!(got.state, TicketState::Redeemed);
        assert_eq!(got.block_number, Some(77));
        assert_eq!(store.counts().unwrap().redeemed, 1);
        assert!(store.unfinished().unwrap().is_empty());
    }

    /// A payment of `n` always-winning tickets, as the recipient would commit it.
    fn winners(n: u32) -> (Vec<SeenNonce>, Vec<NewWinner>) {
        (1..=n)
            .map(|nonce| {
                let signed = signed_ticket(nonce);
                (
                    SeenNonce {
                        rand_hash: signed.ticket.recipient_rand_hash,
                        nonce,
                        expiration_block: 140,
                    },
                    NewWinner {
                        signed,
                        params_expiration_block: 140,
                    },
                )
            })
            .unzip()
    }

    #[test]
    fn c29_a_full_database_refuses_the_commit_and_health_is_red_until_room_returns() {
        let (_dir, store) = temp_store();
        assert!(store.health().is_healthy());
        store.probe(10).unwrap();
        // The file may not grow any more: as on a full disk.
        let pages = store.page_count().unwrap();
        assert_eq!(store.set_max_page_count(Some(1)).unwrap(), pages);
        let (nonces, tickets) = winners(30);
        let err = store.commit_payment(&nonces, &tickets, 11).unwrap_err();
        assert!(
            matches!(
                err,
                PmError::StoreUnavailable {
                    fault: StoreFault::Full,
                    op: "store ticket" | "commit payment",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_store_unavailable() && err.retry_after().is_some());
        assert!(err.to_string().contains("disk or database full"), "{err}");
        // Nothing half-written.
        assert_eq!(store.counts().unwrap().total(), 0);
        assert!(store.live_nonces(0).unwrap().is_empty());
        let h = store.health();
        let f = h.failure.clone().unwrap();
        assert_eq!((f.fault, h.failed_writes), (StoreFault::Full, 1));
        // The probe asks for room too: still red.
        assert!(store.probe(12).is_err());
        assert!(!store.health().is_healthy());
        // Room again: the probe turns it green and the same tickets are stored, once.
        store.set_max_page_count(None).unwrap();
        store.probe(13).unwrap();
        assert!(store.health().is_healthy());
        assert!(store.health().last_ok_write.is_some());
        assert_eq!(
            store.commit_payment(&nonces, &tickets, 14).unwrap().len(),
            30
        );
        assert_eq!(store.counts().unwrap().pending, 30);
        // A duplicate is the data's fault, not the store's: health stays green.
        let dup = store.commit_payment(&nonces, &tickets, 15).unwrap_err();
        assert!(matches!(dup, PmError::Store { .. }), "{dup:?}");
        assert!(store.health().is_healthy());
    }

    #[test]
    fn c29_a_database_locked_by_another_process_is_busy_after_the_timeout() {
        let (dir, store) = temp_store();
        store.set_busy_timeout(Duration::from_millis(50)).unwrap();
        let side = Connection::open(dir.path().join("pm.sqlite")).unwrap();
        side.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let (nonces, tickets) = winners(2);
        let t0 = std::time::Instant::now();
        let err = store.commit_payment(&nonces, &tickets, 1).unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(50), "waited first");
        assert!(
            matches!(
                err,
                PmError::StoreUnavailable {
                    fault: StoreFault::Busy,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            store.health().failure.map(|f| f.fault),
            Some(StoreFault::Busy)
        );
        // Reads still work while another process writes (WAL).
        assert_eq!(store.counts().unwrap().total(), 0);
        assert!(store.probe(2).is_err());
        side.execute_batch("COMMIT").unwrap();
        assert_eq!(store.commit_payment(&nonces, &tickets, 3).unwrap().len(), 2);
        assert!(store.health().is_healthy());
        assert_eq!(store.health().failed_writes, 2);
    }

    #[test]
    fn nonces_survive_and_prune() {
        let (dir, store) = temp_store();
        let n = |nonce, exp| SeenNonce {
            rand_hash: B256::repeat_byte(1),
            nonce,
            expiration_block: exp,
        };
        store
            .commit_payment(
                &[n(1, 100), n(2, 100), n(1, 200)].map(|mut x| {
                    if x.expiration_block == 200 {
                        x.rand_hash = B256::repeat_byte(2);
                    }
                    x
                }),
                &[],
                0,
            )
            .unwrap();
        // Duplicate nonce for the same params: the whole commit fails, nothing half-written.
        assert!(
            store
                .commit_payment(&[n(3, 100), n(1, 100)], &[], 0)
                .is_err()
        );
        drop(store);
        let store = Store::open(&dir.path().join("pm.sqlite")).unwrap();
        let mut live = store.live_nonces(99).unwrap();
        live.sort_by_key(|x| (x.expiration_block, x.nonce));
        assert_eq!(live.len(), 3);
        assert_eq!(store.live_nonces(100).unwrap().len(), 1);
        assert_eq!(store.prune_nonces(100).unwrap(), 2);
        assert_eq!(store.live_nonces(0).unwrap().len(), 1);
    }
}
