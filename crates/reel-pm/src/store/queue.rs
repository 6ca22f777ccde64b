//! The redemption queue: winning tickets read back, the transactions sent for them, retries
//! and final outcomes (see docs/faults.md#n2-every-winner-ends-in-one-final-state,
//! #n3-one-redemption-in-flight).

use super::{
    StateCounts, Store, StoredTicket, StoredTx, Terminal, TicketState, b256_col, sql, sql_to_u64,
    u64_to_sql,
};
use crate::{PmError, SignedTicket, Ticket, ticket::ExpirationParams};
use alloy_primitives::{Address, U256};
use reel_net::Signature;
use reel_types::Wei;
use rusqlite::{TransactionBehavior, params};

/// The reason a reopened ticket carries; the schema's final-state trigger lets exactly this
/// transition through.
pub(crate) const ROLLED_BACK: &str = "redemption rolled back";

impl Store {
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

    /// Tickets redeemed at or after `since` (unix seconds): those a chain rollback could
    /// still take back.
    pub fn redeemed_since(&self, since: u64) -> Result<Vec<StoredTicket>, PmError> {
        self.select(
            "WHERE state = 'redeemed' AND updated_at >= ?1 ORDER BY id",
            params![u64_to_sql(since)?],
        )
    }

    /// A redeemed ticket whose redemption the chain no longer has (its block was rolled
    /// back) goes back in flight, its transactions kept, so that they are broadcast again
    /// or replaced. Refuses any ticket that is not `redeemed`.
    pub fn reopen(&self, id: i64, now: u64) -> Result<(), PmError> {
        self.tracked(|| {
            let changed = self
                .conn()?
                .execute(
                    "UPDATE winning_tickets SET state = 'submitted', tx_hash = NULL, \
                     block_number = NULL, reason = ?2, updated_at = ?3 \
                     WHERE id = ?1 AND state = 'redeemed'",
                    params![id, ROLLED_BACK, u64_to_sql(now)?],
                )
                .map_err(|e| sql("reopen", e))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(PmError::AlreadyFinal { id })
            }
        })
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
