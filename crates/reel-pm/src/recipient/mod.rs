//! The orchestrator side of a payment: issuing ticket parameters and receiving tickets.
//!
//! `recipientRand = HMAC-SHA256(secret, tag || seed || recipient || sender || faceValue ||
//! winProb || expirationBlock || price.num || price.den || creationRound || blockHash)`
//! with **every field fixed-width** (32 bytes for integers and hashes, 20 for addresses, 8 for
//! block and round numbers). go-livepeer concatenates minimal big-endian encodings, so bytes
//! can move between adjacent fields without changing the HMAC (see
//! docs/faults.md#bytes-moved-between-hmac-fields); here every parameter set has its own rand. The
//! secret lives in the [`Store`], so params issued before a restart stay valid after it, and so do
//! the nonce sets that guard them (see docs/faults.md#n5-nonces-are-as-durable-as-the-secret).
//!
//! Validation order (see docs/compatibility.md#ticket-validation-order): recompute rand → sender
//! not unlocking → recipient is us → sender not zero → rand matches the hash → ticket not too old
//! for the chain → per ticket: signature → win test → nonce not seen (out of order is fine,
//! duplicates and more than 600 per rand are not) → params not expired. Winners and accepted nonces
//! are committed to the store before any credit (see docs/faults.md#n1-store-before-credit).
//!
//! Files: `params.rs` turns the [`RecipientConfig`] into face value, win probability and
//! `recipientRand`; `validate.rs` holds the per-ticket checks and the replay filter; this
//! file receives a whole payment and credits it.

mod params;
mod validate;

pub use params::{RecipientConfig, face_value_and_win_prob, recipient_rand, win_prob_for};
pub use validate::{NonceFilter, validate_ticket};

use crate::{
    AccountKey, Balances, PmError, PricePerPixel, PricePerUnit, PriceProto, Scope, SenderInfo,
    TicketParams,
    store::{NewWinner, SeenNonce, Store, unix_now},
    ticket::{self, ExpirationParams, SignedTicket},
};
use alloy_primitives::{Address, B256, U256};
use reel_net::proto;
use reel_types::Wei;
use std::{
    sync::{Arc, Mutex},
    time::Instant,
};
use tracing::{debug, warn};

/// What the chain watchers know right now, passed in by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainView {
    /// Newest L1 block seen (rounds and params expiry count L1 blocks, also on Arbitrum).
    pub last_block: u64,
    /// The current round (the last initialised one, when issuing).
    pub current_round: u64,
    /// Round and block hash to put in new params.
    pub expiration: ExpirationParams,
    /// Current gas price.
    pub gas_price: Wei,
}

/// A decoded `Payment`: one parameter set, N (nonce, signature) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentBatch {
    pub params: TicketParams,
    pub sender: Address,
    /// Signatures are kept raw: a malformed one refuses only its own ticket.
    pub tickets: Vec<(u32, Vec<u8>)>,
}

impl PaymentBatch {
    /// Reads a wire `Payment`, refusing more than `max_tickets` tickets.
    pub fn from_proto(p: &proto::Payment, max_tickets: usize) -> Result<Self, PmError> {
        if p.ticket_sender_params.len() > max_tickets {
            return Err(PmError::TooManyTickets {
                count: p.ticket_sender_params.len(),
                max: max_tickets,
            });
        }
        let tp = p.ticket_params.as_ref().ok_or(PmError::Malformed {
            field: "Payment.ticket_params",
            reason: "missing".into(),
        })?;
        let price = match &p.expected_price {
            Some(pi) => PricePerPixel::from_proto(pi)?,
            None => PricePerPixel::ZERO,
        };
        let params = TicketParams::from_proto(tp, p.expiration_params.as_ref(), price)?;
        Ok(Self {
            params,
            sender: ticket::address("Payment.sender", &p.sender)?,
            tickets: p
                .ticket_sender_params
                .iter()
                .map(|t| (t.sender_nonce, t.sig.clone()))
                .collect(),
        })
    }
}

/// Why one ticket of a payment was not credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRejection {
    pub nonce: u32,
    pub error: PmError,
}

/// What a payment brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// EV credited to the `(sender, session)` account, after the store commit.
    pub credited: Wei,
    /// Tickets credited.
    pub accepted: u32,
    /// Winning tickets stored for redemption (including winners on expired params).
    pub winners: u32,
    /// Tickets refused, with why.
    pub rejected: Vec<TicketRejection>,
}

impl PaymentOutcome {
    /// The first ticket error, for the HTTP answer when nothing was accepted.
    pub fn first_error(&self) -> Option<&PmError> {
        self.rejected.first().map(|r| &r.error)
    }
}
/// The orchestrator's ticket receiver.
#[derive(Debug)]
pub struct Recipient {
    address: Address,
    secret: [u8; 32],
    cfg: RecipientConfig,
    store: Arc<Store>,
    nonces: Mutex<NonceFilter>,
    balances: Balances,
}

impl Recipient {
    /// Loads the secret and the live nonce sets from `store`.
    pub fn new(
        address: Address,
        store: Arc<Store>,
        cfg: RecipientConfig,
        last_block: u64,
    ) -> Result<Self, PmError> {
        let secret = store.recipient_secret()?;
        let mut nonces = NonceFilter::new(cfg.max_nonces_per_rand);
        for n in store.live_nonces(last_block)? {
            // Sets were capped when written, so re-inserting cannot hit the cap; a duplicate
            // is impossible (primary key).
            let _ = nonces.insert(n.rand_hash, n.nonce, n.expiration_block);
        }
        Ok(Self {
            address,
            secret,
            cfg,
            store,
            nonces: Mutex::new(nonces),
            balances: Balances::default(),
        })
    }

    pub fn address(&self) -> Address {
        self.address
    }

    pub fn config(&self) -> &RecipientConfig {
        &self.cfg
    }

    pub fn balances(&self) -> &Balances {
        &self.balances
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, NonceFilter> {
        // Every mutation of the filter is a single insert/remove: a panic elsewhere while the
        // lock was held cannot leave it inconsistent.
        self.nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ticket params for `sender` at `price` (`GetOrchestrator`, and refreshed on every
    /// result). `max_float` comes from the [`crate::SenderMonitor`].
    pub fn issue_params(
        &self,
        sender: Address,
        price: PricePerPixel,
        max_float: Wei,
        view: &ChainView,
    ) -> Result<TicketParams, PmError> {
        let (face_value, win_prob) =
            face_value_and_win_prob(&self.cfg, &price, view.gas_price, max_float)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| PmError::Chain {
            op: "getrandom",
            message: e.to_string(),
        })?;
        let mut params = TicketParams {
            recipient: self.address,
            face_value,
            win_prob,
            recipient_rand_hash: B256::ZERO,
            seed: U256::from_be_bytes(seed),
            expiration_block: view
                .last_block
                .checked_add(self.cfg.params_validity_blocks)
                .ok_or(PmError::Overflow {
                    what: "expiration block",
                })?,
            expiration: view.expiration,
            price,
        };
        params.recipient_rand_hash =
            ticket::recipient_rand_hash(recipient_rand(&self.secret, &params, sender));
        Ok(params)
    }

    /// Validates a payment, stores its winners and accepted nonces durably, then credits the
    /// accepted tickets' EV to the sender's account for `scope`. Whole-payment failures are `Err`; refused
    /// tickets are listed in the outcome. Blocks on the store's fsync and on signature
    /// recovery (~60 µs per ticket): async callers run it on a blocking thread.
    pub fn receive_payment(
        &self,
        batch: &PaymentBatch,
        scope: &Scope,
        view: &ChainView,
        sender_info: &SenderInfo,
    ) -> Result<PaymentOutcome, PmError> {
        self.receive_payment_priced(batch, scope, batch.params.price, view, sender_info)
    }

    /// [`Self::receive_payment`] for work priced apart from the ticket params: the account
    /// is pinned to `price` (an AI model's price per token, say), not to the price the
    /// session's params were issued at.
    pub fn receive_payment_priced(
        &self,
        batch: &PaymentBatch,
        scope: &Scope,
        price: PricePerUnit,
        view: &ChainView,
        sender_info: &SenderInfo,
    ) -> Result<PaymentOutcome, PmError> {
        let p = &batch.params;
        if batch.tickets.len() > self.cfg.max_tickets_per_payment {
            return Err(PmError::TooManyTickets {
                count: batch.tickets.len(),
                max: self.cfg.max_tickets_per_payment,
            });
        }
        let rand = recipient_rand(&self.secret, p, batch.sender);
        let unlocking_limit = view.current_round.saturating_add(1);
        if sender_info.withdraw_round != 0 && sender_info.withdraw_round <= unlocking_limit {
            return Err(PmError::SenderUnlocking {
                sender: batch.sender,
                withdraw_round: sender_info.withdraw_round,
                current_round: view.current_round,
            });
        }
        if p.recipient != self.address {
            return Err(PmError::WrongRecipient {
                expected: self.address,
                got: p.recipient,
            });
        }
        if batch.sender.is_zero() {
            return Err(PmError::ZeroSender);
        }
        if ticket::recipient_rand_hash(rand) != p.recipient_rand_hash {
            return Err(PmError::RecipientRandMismatch);
        }
        let last_valid_round = p
            .expiration
            .creation_round
            .saturating_add(self.cfg.ticket_validity_rounds);
        if last_valid_round <= view.current_round {
            return Err(PmError::TicketTooOld {
                creation_round: p.expiration.creation_round,
                current_round: view.current_round,
                validity: self.cfg.ticket_validity_rounds,
            });
        }
        let expired = p.expiration_block <= view.last_block;

        let mut outcome = PaymentOutcome::default();
        let mut seen = Vec::new();
        let mut winners = Vec::new();
        let mut credit = Wei::ZERO;
        {
            // Validation and nonce reservation under one lock: two concurrent copies of the
            // same payment cannot both pass the replay check.
            let mut nonces = self.nonces();
            for (nonce, sig) in &batch.tickets {
                let t = p.ticket(batch.sender, *nonce);
                match validate_ticket(&t, sig, rand, p.expiration_block, &mut nonces) {
                    Ok((sig, won)) => {
                        seen.push(SeenNonce {
                            rand_hash: p.recipient_rand_hash,
                            nonce: *nonce,
                            expiration_block: p.expiration_block,
                        });
                        if won {
                            winners.push(NewWinner {
                                signed: SignedTicket {
                                    ticket: t,
                                    sig,
                                    recipient_rand: rand,
                                },
                                params_expiration_block: p.expiration_block,
                            });
                        }
                        if expired {
                            // Not credited, but a winner is still redeemed (see
                            // docs/compatibility.md#ticket-validation-order).
                            outcome.rejected.push(TicketRejection {
                                nonce: *nonce,
                                error: PmError::TicketParamsExpired {
                                    expiration_block: p.expiration_block,
                                    last_block: view.last_block,
                                },
                            });
                        } else {
                            credit = credit.checked_add(t.ev())?;
                            outcome.accepted = outcome.accepted.saturating_add(1);
                        }
                    }
                    Err(error) => outcome.rejected.push(TicketRejection {
                        nonce: *nonce,
                        error,
                    }),
                }
            }
        }
        crate::failpoint::hit(crate::failpoint::RECV_AFTER_VALIDATION);
        // N1: durable before credit. If the commit fails nothing is credited and the nonces
        // are released, so the gateway can retry the same tickets.
        if !seen.is_empty()
            && let Err(e) = self.store.commit_payment(&seen, &winners, unix_now())
        {
            let mut nonces = self.nonces();
            for n in &seen {
                nonces.remove(&n.rand_hash, n.nonce);
            }
            warn!(target: "pm::recipient", sender = %batch.sender, error = %e,
                  "could not store payment; refusing it");
            return Err(e);
        }
        crate::failpoint::hit(crate::failpoint::RECV_AFTER_STORE);
        outcome.winners = u32::try_from(winners.len()).unwrap_or(u32::MAX);
        if !credit.is_zero() {
            let key = scope.account(batch.sender);
            self.balances.credit(&key, credit, price, Instant::now())?;
        }
        outcome.credited = credit;
        crate::failpoint::hit(crate::failpoint::RECV_AFTER_CREDIT);
        debug!(target: "pm::recipient", sender = %batch.sender, %scope,
               accepted = outcome.accepted, winners = outcome.winners,
               rejected = outcome.rejected.len(), credited = %credit, "payment received");
        Ok(outcome)
    }

    /// Debits `units` of work from the account (after the work is done).
    pub fn debit(&self, key: &AccountKey, units: u64, price: PricePerUnit) -> Result<(), PmError> {
        self.balances.debit_units(key, units, price, Instant::now())
    }

    /// Whether the account may be served: its credit covers `need` (at least one ticket's
    /// EV, docs/faults.md#n6-balances-are-exact). Free work (price 0) always may.
    pub fn sufficient_balance(&self, key: &AccountKey, price: &PricePerUnit, need: Wei) -> bool {
        price.is_zero() || self.balances.covers(key, need.max(self.cfg.ticket_ev))
    }

    /// Forgets nonce sets of params expired at `last_block` (memory and store).
    pub fn prune(&self, last_block: u64) -> Result<(), PmError> {
        self.nonces().prune(last_block);
        self.store.prune_nonces(last_block).map(|_| ())
    }
}
