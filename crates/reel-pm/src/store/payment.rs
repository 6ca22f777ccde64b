//! What a payment writes: its accepted nonces and winning tickets, in one transaction, and
//! the nonces read back to rebuild the replay filter.

use super::{NewWinner, SeenNonce, Store, b256_col, sql, sql_to_u64, u64_to_sql};
use crate::PmError;
use rusqlite::{TransactionBehavior, params};

impl Store {
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
}
