//! The durable redemption queue: every stored winning ticket is redeemed exactly once, or
//! ends in a recorded final state (see docs/faults.md#n2-every-winner-ends-in-one-final-state),
//! also across crashes and for senders that never come back.
//!
//! On every new block [`Redeemer::tick`] walks all unfinished tickets, oldest first:
//! - **pending** → final `expired` once `creationRound + ticketValidityPeriod ≤ currentRound`
//!   (no transaction: it would revert "ticket is expired"); otherwise wait until the params
//!   expired (`expirationBlock ≤ block`, docs/faults.md#n4-reveal-late: the recipient's random
//!   number is revealed on chain only when no gateway can still use those params), the round is
//!   initialised, the gas price is under the cap, the face value beats the transaction cost and the
//!   sender's deposit plus claimable reserve covers the face value (in the ticket's last round, any
//!   amount above the tx cost). Then `usedTickets` is checked (see
//!   docs/faults.md#n3-one-redemption-in-flight), the transaction is signed — the contract's
//!   refusal found while preparing it ends the ticket if its reason cannot change ("ticket is
//!   expired", a bad signature, …) and waits a block otherwise — **stored with its hash**, and only
//!   then broadcast.
//! - **submitted** → the receipts of its stored transactions decide: success → `redeemed(tx,
//!   block)`; a terminal revert → its final state; a retryable one → pending again. No
//!   receipt, and the account's mined nonce is past the transaction's: another transaction
//!   of the same account (the round keeper shares it) took the nonce, so pending again. No
//!   receipt yet otherwise: the same bytes are re-broadcast (a node that lost them gets them
//!   back), and after `tx_timeout` the transaction is replaced with the same account nonce
//!   and +11 % gas (at most `max_replacements` times, never above the cap), so at most one
//!   redemption per ticket can ever be mined.
//!
//! Named fail points ([`crate::failpoint`]) sit between these steps for the crash tests.
//!
//! [`Redeemer::recover`] runs once at start: it re-counts in-flight face values against
//! their senders and re-broadcasts stored transactions (idempotent: same bytes, same hash).
//! Store calls block on an fsync; the node runs the redeemer on its own task.

use crate::{
    Disposition, PmError, PreparedTx, SenderMonitor, TicketBroker,
    broker::ChainState,
    store::{Store, StoredTicket, StoredTx, Terminal, TicketState},
};
use alloy_primitives::{Address, U256};
use reel_types::Wei;
use std::sync::Arc;
use tracing::{debug, info, warn};

/// Redemption policy (go-livepeer flag names in parentheses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemerConfig {
    /// Gas one redemption costs, for the face value vs tx cost check.
    pub redeem_gas: u64,
    /// Never bid more (go-livepeer `-maxGasPrice`); `None` = no cap. Tickets wait while gas is above it.
    pub max_gas_price: Option<Wei>,
    /// Seconds before an unmined transaction is replaced (go-livepeer `-transactionTimeout`), default 300.
    pub tx_timeout_secs: u64,
    /// Replacements per ticket (go-livepeer `-maxTransactionReplacements`), default 1.
    pub max_replacements: u32,
    /// Gas price increase of a replacement, percent, default 11.
    pub replacement_bump_percent: u64,
    /// The TicketBroker's `ticketValidityPeriod` in rounds, default 2.
    pub ticket_validity_rounds: u64,
    /// For this many seconds after a ticket is redeemed, each pass checks that the chain
    /// still has it used; one whose redemption was rolled back (a reorganisation, a chain
    /// restarted from older state) goes back in flight. Default 120.
    pub rollback_window_secs: u64,
}

impl Default for RedeemerConfig {
    fn default() -> Self {
        Self {
            redeem_gas: 1_200_000,
            max_gas_price: None,
            tx_timeout_secs: 300,
            max_replacements: 1,
            replacement_bump_percent: 11,
            ticket_validity_rounds: 2,
            rollback_window_secs: 120,
        }
    }
}

/// Why a ticket is still waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Its params have not expired yet (see docs/faults.md#n4-reveal-late).
    ParamsLive,
    RoundNotInitialized,
    GasAboveCap,
    /// Face value does not beat the transaction cost at today's gas.
    NotWorthGas,
    /// The sender cannot cover the face value right now.
    Underfunded,
    /// A transaction is out; no receipt yet.
    InFlight,
}

/// The result of one step for one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Waiting(Wait),
    Submitted,
    Final(Terminal),
    Retrying,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub submitted: u32,
    pub redeemed: u32,
    pub used: u32,
    pub expired: u32,
    pub invalid: u32,
    pub waiting: u32,
    pub retrying: u32,
    pub errors: u32,
    /// Redeemed tickets put back in flight because the chain lost their redemption.
    pub reopened: u32,
}

impl TickReport {
    fn count(&mut self, s: &Step) {
        let slot = match s {
            Step::Waiting(_) => &mut self.waiting,
            Step::Submitted => &mut self.submitted,
            Step::Retrying => &mut self.retrying,
            Step::Final(Terminal::Redeemed { .. }) => &mut self.redeemed,
            Step::Final(Terminal::UsedOnChain) => &mut self.used,
            Step::Final(Terminal::Expired) => &mut self.expired,
            Step::Final(Terminal::Invalid { .. }) => &mut self.invalid,
        };
        *slot = slot.saturating_add(1);
    }
}

/// Redeems the stored winning tickets of one recipient.
#[derive(Debug)]
pub struct Redeemer<B> {
    store: Arc<Store>,
    broker: Arc<B>,
    monitor: Arc<SenderMonitor>,
    recipient: Address,
    cfg: RedeemerConfig,
}

impl<B: TicketBroker> Redeemer<B> {
    pub fn new(
        store: Arc<Store>,
        broker: Arc<B>,
        monitor: Arc<SenderMonitor>,
        recipient: Address,
        cfg: RedeemerConfig,
    ) -> Self {
        Self {
            store,
            broker,
            monitor,
            recipient,
            cfg,
        }
    }

    /// Start-up recovery (docs/faults.md#n9-recovery-is-idempotent: running it twice gives the same
    /// state): counts in-flight redemptions as pending against their senders and re-broadcasts
    /// their stored transactions. Returns how many were in flight.
    pub async fn recover(&self) -> Result<usize, PmError> {
        let mut n = 0usize;
        let mut pending: std::collections::HashMap<Address, Wei> = Default::default();
        let in_flight: Vec<StoredTicket> = self
            .store
            .unfinished()?
            .into_iter()
            .filter(|t| t.state == TicketState::Submitted)
            .collect();
        for t in &in_flight {
            let sum = pending.entry(t.signed.ticket.sender).or_insert(Wei::ZERO);
            *sum = sum.checked_add(t.signed.ticket.face_value)?;
        }
        // Set, not add: recovering twice must not count a ticket twice (see
        // docs/faults.md#n9-recovery-is-idempotent).
        for (sender, amount) in pending {
            self.monitor.set_pending(sender, amount);
        }
        for t in &in_flight {
            n = n.saturating_add(1);
            if let Some(tx) = self.store.txs(t.id)?.last()
                && let Err(e) = self.broker.broadcast(&prepared(tx)).await
            {
                // Already mined, already known, its nonce taken meanwhile, or the node is
                // down: the receipt and nonce checks of the next tick decide.
                info!(target: "pm::redeemer", id = t.id, error = %e, "rebroadcast after restart");
            }
            crate::failpoint::hit(crate::failpoint::REDEEM_RECOVER);
        }
        info!(target: "pm::redeemer", in_flight = n, "recovered unredeemed tickets");
        Ok(n)
    }

    /// One pass over every unfinished ticket. `now` is unix seconds.
    pub async fn tick(&self, now: u64) -> Result<TickReport, PmError> {
        let chain = self.broker.chain_state().await?;
        let mut report = TickReport::default();
        for t in self.store.unfinished()? {
            match self.step(&t, &chain, now).await {
                Ok(s) => report.count(&s),
                Err(e) => {
                    warn!(target: "pm::redeemer", id = t.id, error = %e, "redemption step failed");
                    report.errors = report.errors.saturating_add(1);
                }
            }
        }
        report.reopened = self.recheck_redeemed(now).await?;
        Ok(report)
    }

    /// Puts back in flight every recently redeemed ticket the chain no longer has used:
    /// the block with its redemption was rolled back, and so were the fees. Its stored
    /// transaction is broadcast again (valid again if its nonce was rolled back too) or,
    /// its nonce taken, the ticket is redeemed anew. Returns how many were reopened.
    async fn recheck_redeemed(&self, now: u64) -> Result<u32, PmError> {
        let mut n = 0u32;
        let since = now.saturating_sub(self.cfg.rollback_window_secs);
        for t in self.store.redeemed_since(since)? {
            if self.broker.is_used_ticket(t.signed.hash()).await? {
                continue;
            }
            warn!(target: "pm::redeemer", id = t.id, tx = ?t.tx_hash, block = ?t.block_number,
                  "the chain lost this ticket's redemption (rolled back): redeeming it again");
            self.store.reopen(t.id, now)?;
            self.monitor
                .add_pending(t.signed.ticket.sender, t.signed.ticket.face_value)?;
            n = n.saturating_add(1);
        }
        Ok(n)
    }

    /// Advances one ticket.
    pub async fn step(
        &self,
        t: &StoredTicket,
        chain: &ChainState,
        now: u64,
    ) -> Result<Step, PmError> {
        match t.state {
            TicketState::Pending => self.step_pending(t, chain, now).await,
            TicketState::Submitted => self.step_submitted(t, chain, now).await,
            _ => Err(PmError::AlreadyFinal { id: t.id }),
        }
    }

    fn expired(&self, t: &StoredTicket, chain: &ChainState) -> bool {
        t.signed
            .ticket
            .expiration
            .creation_round
            .saturating_add(self.cfg.ticket_validity_rounds)
            <= chain.current_round
    }

    fn finish(&self, t: &StoredTicket, outcome: Terminal, now: u64) -> Result<Step, PmError> {
        self.store.finish(t.id, &outcome, now)?;
        info!(target: "pm::redeemer", id = t.id, sender = %t.signed.ticket.sender,
              face_value = %t.signed.ticket.face_value, outcome = ?outcome, "ticket finished");
        Ok(Step::Final(outcome))
    }

    async fn step_pending(
        &self,
        t: &StoredTicket,
        chain: &ChainState,
        now: u64,
    ) -> Result<Step, PmError> {
        let ticket = &t.signed.ticket;
        if self.expired(t, chain) {
            return self.finish(t, Terminal::Expired, now);
        }
        if t.params_expiration_block > chain.block {
            return Ok(Step::Waiting(Wait::ParamsLive));
        }
        if !chain.current_round_initialized {
            return Ok(Step::Waiting(Wait::RoundNotInitialized));
        }
        if self.broker.is_used_ticket(t.signed.hash()).await? {
            return self.finish(t, Terminal::UsedOnChain, now);
        }
        let gas = self.broker.gas_price().await?;
        if self.cfg.max_gas_price.is_some_and(|cap| gas > cap) {
            return Ok(Step::Waiting(Wait::GasAboveCap));
        }
        let tx_cost = gas.checked_mul(U256::from(self.cfg.redeem_gas))?;
        if ticket.face_value <= tx_cost {
            return Ok(Step::Waiting(Wait::NotWorthGas));
        }
        let info = self.broker.sender_info(ticket.sender).await?;
        let claimable = self
            .broker
            .claimable_reserve(ticket.sender, self.recipient)
            .await?;
        let available = info.deposit.checked_add(claimable)?;
        if available < ticket.face_value {
            let last_round = ticket
                .expiration
                .creation_round
                .saturating_add(self.cfg.ticket_validity_rounds)
                .saturating_sub(1)
                <= chain.current_round;
            if !(last_round && available > tx_cost) {
                return Ok(Step::Waiting(Wait::Underfunded));
            }
            warn!(target: "pm::redeemer", id = t.id, sender = %ticket.sender,
                  face_value = %ticket.face_value, available = %available,
                  "redeeming in the ticket's last round for less than its face value");
        }
        let tx = match self.broker.prepare_redeem(&t.signed, gas, None).await {
            Ok(tx) => tx,
            // Refused by the contract while preparing (the gas estimate runs the redemption):
            // nothing was signed or sent. A reason that cannot change ends the ticket now
            // ("ticket is expired" included, upstream PR #3954); the rest waits a block.
            Err(e @ PmError::Revert { .. }) => {
                info!(target: "pm::redeemer", id = t.id, error = %e, "redemption refused before sending");
                return self.after_failure(t, &e, now);
            }
            Err(e) => return Err(e),
        };
        self.submit(t, tx, now).await
    }

    async fn submit(&self, t: &StoredTicket, tx: PreparedTx, now: u64) -> Result<Step, PmError> {
        let sender = t.signed.ticket.sender;
        let fv = t.signed.ticket.face_value;
        let fresh = t.state == TicketState::Pending;
        crate::failpoint::hit(crate::failpoint::REDEEM_AFTER_SIGN);
        // Stored before it is sent (see docs/faults.md#n3-one-redemption-in-flight): after a crash
        // the hash is known and checked first.
        self.store.record_tx(
            t.id,
            &StoredTx {
                tx_hash: tx.tx_hash,
                tx_nonce: tx.tx_nonce,
                gas_price: tx.gas_price,
                raw: tx.raw.clone(),
                sent_at: now,
            },
        )?;
        if fresh {
            self.monitor.add_pending(sender, fv)?;
        }
        crate::failpoint::hit(crate::failpoint::REDEEM_AFTER_RECORD);
        match self.broker.broadcast(&tx).await {
            Ok(()) => {
                crate::failpoint::hit(crate::failpoint::REDEEM_AFTER_BROADCAST);
                Ok(Step::Submitted)
            }
            Err(e @ PmError::Revert { .. }) => {
                // Refused before it reached the mempool: nothing can be mined. Only the first
                // transaction's refusal decides; a refused replacement leaves the original out.
                if fresh {
                    self.monitor.sub_pending(sender, fv)?;
                    self.after_failure(t, &e, now)
                } else {
                    Ok(Step::Waiting(Wait::InFlight))
                }
            }
            Err(e) => {
                // Maybe sent, maybe not: stay submitted; the receipt check decides.
                warn!(target: "pm::redeemer", id = t.id, error = %e, "broadcast failed");
                Ok(Step::Submitted)
            }
        }
    }

    fn after_failure(&self, t: &StoredTicket, e: &PmError, now: u64) -> Result<Step, PmError> {
        match e.disposition() {
            Disposition::Retry => {
                self.store.back_to_pending(t.id, &e.to_string(), now)?;
                Ok(Step::Retrying)
            }
            Disposition::Used => self.finish(t, Terminal::UsedOnChain, now),
            Disposition::Expired => self.finish(t, Terminal::Expired, now),
            Disposition::Invalid(reason) => self.finish(t, Terminal::Invalid { reason }, now),
        }
    }

    async fn step_submitted(
        &self,
        t: &StoredTicket,
        chain: &ChainState,
        now: u64,
    ) -> Result<Step, PmError> {
        let sender = t.signed.ticket.sender;
        let fv = t.signed.ticket.face_value;
        let txs = self.store.txs(t.id)?;
        // Read before the receipts: if the account is past our nonce now and none of our
        // transactions has a receipt after this, another transaction took that nonce.
        let mined_nonce = self.broker.account_nonce().await?;
        let mut revert = None;
        for tx in &txs {
            if let Some(r) = self.broker.receipt(tx.tx_hash).await? {
                if r.success {
                    crate::failpoint::hit(crate::failpoint::REDEEM_AFTER_RECEIPT);
                    self.monitor.sub_pending(sender, fv)?;
                    return self.finish(
                        t,
                        Terminal::Redeemed {
                            tx_hash: tx.tx_hash,
                            block: r.block,
                        },
                        now,
                    );
                }
                revert = Some(r.revert_reason.unwrap_or_default());
            }
        }
        if let Some(reason) = revert {
            // One of our transactions was mined and reverted; the others share its nonce, so
            // none of them can be mined any more.
            self.monitor.sub_pending(sender, fv)?;
            return self.after_failure(t, &PmError::Revert { reason }, now);
        }
        if self.broker.is_used_ticket(t.signed.hash()).await? {
            self.monitor.sub_pending(sender, fv)?;
            // Our own transaction may have been mined between the receipt reads above and
            // this read: then it is ours, with its hash and block (see
            // docs/faults.md#n2-every-winner-ends-in-one-final-state), not somebody else's.
            for tx in &txs {
                if let Some(r) = self.broker.receipt(tx.tx_hash).await?
                    && r.success
                {
                    return self.finish(
                        t,
                        Terminal::Redeemed {
                            tx_hash: tx.tx_hash,
                            block: r.block,
                        },
                        now,
                    );
                }
            }
            return self.finish(t, Terminal::UsedOnChain, now);
        }
        if self.expired(t, chain) {
            self.monitor.sub_pending(sender, fv)?;
            return self.finish(t, Terminal::Expired, now);
        }
        let Some(latest) = txs.last() else {
            // Marked submitted with no transaction: cannot happen (one DB transaction), but
            // if it did, pending again is the safe answer.
            self.monitor.sub_pending(sender, fv)?;
            self.store
                .back_to_pending(t.id, "submitted without a transaction", now)?;
            return Ok(Step::Retrying);
        };
        // Every transaction of a ticket (replacements included) holds one account nonce.
        if mined_nonce.is_some_and(|n| n > latest.tx_nonce) {
            // Mined by somebody else's transaction on our account (the keeper's reward(), a
            // manual transaction, a crash between signing and sending while another
            // transaction went out): ours can never be mined. Sign a new one on a fresh
            // nonce; `usedTickets` is checked again first.
            warn!(target: "pm::redeemer", id = t.id, tx_nonce = latest.tx_nonce,
                  "the redemption's account nonce was used by another transaction; redeeming again");
            self.monitor.sub_pending(sender, fv)?;
            self.store.back_to_pending(
                t.id,
                &format!(
                    "account nonce {} used by another transaction",
                    latest.tx_nonce
                ),
                now,
            )?;
            return Ok(Step::Retrying);
        }
        let replacements = txs.len().saturating_sub(1);
        let timed_out = now.saturating_sub(latest.sent_at) >= self.cfg.tx_timeout_secs;
        if timed_out && replacements < self.cfg.max_replacements as usize {
            let bumped = latest
                .gas_price
                .base_units()
                .checked_mul(U256::from(
                    100u64.saturating_add(self.cfg.replacement_bump_percent),
                ))
                .and_then(|v| v.checked_div(U256::from(100u64)))
                .map(Wei::from_base_units)
                .ok_or(PmError::Overflow { what: "gas price" })?;
            let bumped = match self.cfg.max_gas_price {
                Some(cap) => bumped.min(cap),
                None => bumped,
            };
            if bumped > latest.gas_price {
                let tx = self
                    .broker
                    .prepare_redeem(&t.signed, bumped, Some(latest.tx_nonce))
                    .await?;
                info!(target: "pm::redeemer", id = t.id, old = %latest.tx_hash, new = %tx.tx_hash,
                      gas_price = %bumped, "replacing stuck redemption");
                return self.submit(t, tx, now).await;
            }
        }
        // Not mined yet: hand the same bytes to the node again. Idempotent while it has them;
        // brings them back when it lost them (a restarted node's empty mempool, blocks rolled
        // back by a reorg), instead of waiting out `tx_timeout` for a replacement.
        if let Err(e) = self.broker.broadcast(&prepared(latest)).await {
            debug!(target: "pm::redeemer", id = t.id, error = %e, "rebroadcast refused");
        }
        Ok(Step::Waiting(Wait::InFlight))
    }
}

fn prepared(tx: &StoredTx) -> PreparedTx {
    PreparedTx {
        tx_hash: tx.tx_hash,
        tx_nonce: tx.tx_nonce,
        gas_price: tx.gas_price,
        raw: tx.raw.clone(),
    }
}
