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

use crate::{
    AccountKey, Balances, PmError, PricePerPixel, PricePerUnit, PriceProto, Scope, SenderInfo,
    Ticket, TicketParams,
    store::{NewWinner, SeenNonce, Store},
    ticket::{self, ExpirationParams, MAX_WIN_PROB, SignedTicket},
};
use alloy_primitives::{Address, B256, U256};
use hmac::{KeyInit, Mac};
use reel_net::{Signature, proto};
use reel_types::Wei;
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Instant,
};
use tracing::{debug, warn};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Domain tag of the HMAC input, so the secret can never be confused with another use.
const RAND_TAG: &[u8] = b"reel/recipient-rand/v1";

/// The orchestrator's payment settings (go-livepeer flag names in parentheses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientConfig {
    /// Expected value of one ticket (go-livepeer `-ticketEV`), default 8e9 wei.
    pub ticket_ev: Wei,
    /// Gas one redemption costs, default 1,200,000 (Arbitrum; 350,000 on L1).
    pub redeem_gas: u64,
    /// Face value = tx cost × this, default 100.
    pub tx_cost_multiplier: u64,
    /// Cap on face value (go-livepeer `-maxFaceValue`), `None` = no cap.
    pub max_face_value: Option<Wei>,
    /// Floor of the gas price used for pricing (go-livepeer `-minGasPrice`).
    pub min_gas_price: Wei,
    /// The "average" gas price below which a face value under the tx cost is refused: 3 gwei.
    pub avg_gas_price: Wei,
    /// Blocks a parameter set stays valid, default 40.
    pub params_validity_blocks: u64,
    /// Nonces accepted per parameter set, default 600.
    pub max_nonces_per_rand: usize,
    /// Tickets accepted in one payment, default 600.
    pub max_tickets_per_payment: usize,
    /// The TicketBroker's `ticketValidityPeriod` in rounds, default 2.
    pub ticket_validity_rounds: u64,
}

impl Default for RecipientConfig {
    fn default() -> Self {
        Self {
            ticket_ev: Wei::from_base_units(U256::from(8_000_000_000u64)),
            redeem_gas: 1_200_000,
            tx_cost_multiplier: 100,
            max_face_value: None,
            min_gas_price: Wei::ZERO,
            avg_gas_price: Wei::from_base_units(U256::from(3_000_000_000u64)),
            params_validity_blocks: 40,
            max_nonces_per_rand: 600,
            max_tickets_per_payment: 600,
            ticket_validity_rounds: 2,
        }
    }
}

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

/// Seen nonces per `recipientRandHash`, each set dropped when its params expire.
#[derive(Debug, Default)]
pub struct NonceFilter {
    sets: HashMap<B256, (u64, HashSet<u32>)>,
    max_per_rand: usize,
}

impl NonceFilter {
    pub fn new(max_per_rand: usize) -> Self {
        Self {
            sets: HashMap::new(),
            max_per_rand,
        }
    }

    /// Marks `nonce` seen; refuses a duplicate or one past the cap.
    pub fn insert(
        &mut self,
        rand_hash: B256,
        nonce: u32,
        expiration_block: u64,
    ) -> Result<(), PmError> {
        let max = self.max_per_rand;
        let (_, set) = self
            .sets
            .entry(rand_hash)
            .or_insert_with(|| (expiration_block, HashSet::new()));
        if set.contains(&nonce) {
            return Err(PmError::NonceReplay { nonce });
        }
        if set.len() >= max {
            return Err(PmError::TooManyNonces { max });
        }
        set.insert(nonce);
        Ok(())
    }

    /// Undoes `insert` (when the store commit failed).
    pub fn remove(&mut self, rand_hash: &B256, nonce: u32) {
        if let Some((_, set)) = self.sets.get_mut(rand_hash) {
            set.remove(&nonce);
        }
    }

    /// Drops sets whose params expired at or before `last_block`.
    pub fn prune(&mut self, last_block: u64) {
        self.sets.retain(|_, (exp, _)| *exp > last_block);
    }

    pub fn len(&self) -> usize {
        self.sets.values().map(|(_, s)| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The per-ticket checks after the params are known good: signature, win test, nonce.
/// Returns whether the ticket wins. This is the validation hot path (see the benches).
pub fn validate_ticket(
    ticket: &Ticket,
    sig: &[u8],
    recipient_rand: U256,
    expiration_block: u64,
    nonces: &mut NonceFilter,
) -> Result<(Signature, bool), PmError> {
    let sig = Signature::from_slice(sig).map_err(|e| PmError::InvalidSignature { reason: e })?;
    let signer = ticket.recover_signer(&sig)?;
    if signer != ticket.sender {
        return Err(PmError::WrongSigner {
            expected: ticket.sender,
            got: signer,
        });
    }
    let won = ticket::wins(&sig, recipient_rand, ticket.win_prob);
    nonces.insert(
        ticket.recipient_rand_hash,
        ticket.sender_nonce,
        expiration_block,
    )?;
    Ok((sig, won))
}

/// Face value and win probability for a sender (see
/// docs/compatibility.md#face-value-and-win-probability). `Ok((0, 0))` for a zero price.
pub fn face_value_and_win_prob(
    cfg: &RecipientConfig,
    price: &PricePerPixel,
    gas_price: Wei,
    max_float: Wei,
) -> Result<(Wei, U256), PmError> {
    if price.is_zero() {
        return Ok((Wei::ZERO, U256::ZERO));
    }
    let ev = cfg.ticket_ev;
    let gas_price = gas_price.max(cfg.min_gas_price);
    let tx_cost = gas_price.checked_mul(U256::from(cfg.redeem_gas))?;
    let mut fv = tx_cost.checked_mul(U256::from(cfg.tx_cost_multiplier))?;
    if fv < ev {
        fv = ev.checked_mul(U256::from(100u64))?;
    }
    fv = fv.min(max_float);
    if let Some(cap) = cfg.max_face_value {
        fv = fv.min(cap);
    }
    let avg_cost = cfg.avg_gas_price.checked_mul(U256::from(cfg.redeem_gas))?;
    if fv < ev || (fv < tx_cost && fv < avg_cost) {
        return Err(PmError::InsufficientSenderReserve { max_float, ev });
    }
    Ok((fv, win_prob_for(fv, ev)?))
}

/// `winProb` giving expected value `ev` at face value `fv`: `ev × ceil((2^256 − 1) / fv)`,
/// or `2^256 − 1` when `fv == ev`.
pub fn win_prob_for(fv: Wei, ev: Wei) -> Result<U256, PmError> {
    if fv.is_zero() {
        return Ok(U256::ZERO);
    }
    if fv == ev {
        return Ok(MAX_WIN_PROB);
    }
    let ceil = MAX_WIN_PROB.div_ceil(fv.base_units());
    ev.base_units().checked_mul(ceil).ok_or(PmError::Overflow {
        what: "win probability",
    })
}

/// The fixed-width HMAC of a parameter set for `sender` (see the module docs).
pub fn recipient_rand(secret: &[u8; 32], params: &TicketParams, sender: Address) -> U256 {
    // HMAC accepts any key length: this cannot fail for a 32-byte key.
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret) else {
        return U256::ZERO;
    };
    mac.update(RAND_TAG);
    mac.update(&params.seed.to_be_bytes::<32>());
    mac.update(params.recipient.as_slice());
    mac.update(sender.as_slice());
    mac.update(&params.face_value.base_units().to_be_bytes::<32>());
    mac.update(&params.win_prob.to_be_bytes::<32>());
    mac.update(&params.expiration_block.to_be_bytes());
    mac.update(&params.price.num().to_be_bytes::<32>());
    mac.update(&params.price.den().to_be_bytes::<32>());
    mac.update(&params.expiration.creation_round.to_be_bytes());
    mac.update(params.expiration.creation_round_block_hash.as_slice());
    U256::from_be_slice(&mac.finalize().into_bytes())
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

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn wei(v: u64) -> Wei {
        Wei::from_base_units(U256::from(v))
    }

    #[test]
    fn face_value_follows_gas_and_caps() {
        let cfg = RecipientConfig::default();
        let price = PricePerPixel::from_wei_per_unit(1);
        let gwei = 1_000_000_000u64;
        // 1 gwei × 1.2M gas = 1.2e15 tx cost → fv 1.2e17.
        let (fv, wp) =
            face_value_and_win_prob(&cfg, &price, wei(gwei), Wei::from_whole(1)).unwrap();
        assert_eq!(fv, wei(120_000_000_000_000_000));
        assert_eq!(
            wp,
            cfg.ticket_ev.base_units() * MAX_WIN_PROB.div_ceil(fv.base_units())
        );
        assert!(ticket::ev(fv, wp) >= cfg.ticket_ev);
        // Capped by max float.
        let (fv, _) =
            face_value_and_win_prob(&cfg, &price, wei(gwei), wei(5_000_000_000_000_000)).unwrap();
        assert_eq!(fv, wei(5_000_000_000_000_000));
        // Max float below EV: no params.
        assert!(matches!(
            face_value_and_win_prob(&cfg, &price, wei(gwei), wei(1)),
            Err(PmError::InsufficientSenderReserve { .. })
        ));
        // Gas price 0 (provider glitch, #1851): fv = EV × 100, still redeemable later.
        let (fv, _) = face_value_and_win_prob(&cfg, &price, Wei::ZERO, Wei::from_whole(1)).unwrap();
        assert_eq!(fv, cfg.ticket_ev.checked_mul(U256::from(100)).unwrap());
        // Max float between EV and the 3-gwei tx cost while gas is expensive: refused.
        assert!(
            face_value_and_win_prob(&cfg, &price, wei(50 * gwei), wei(1_000_000_000_000_000))
                .is_err()
        );
        // fv == EV → always wins.
        let cfg2 = RecipientConfig {
            max_face_value: Some(cfg.ticket_ev),
            avg_gas_price: Wei::ZERO,
            ..cfg
        };
        let (fv, wp) =
            face_value_and_win_prob(&cfg2, &price, Wei::ZERO, Wei::from_whole(1)).unwrap();
        assert_eq!((fv, wp), (cfg.ticket_ev, MAX_WIN_PROB));
        // Free: no tickets.
        assert_eq!(
            face_value_and_win_prob(&cfg, &PricePerPixel::ZERO, wei(gwei), Wei::ZERO).unwrap(),
            (Wei::ZERO, U256::ZERO)
        );
    }

    #[test]
    fn nonce_filter() {
        let mut f = NonceFilter::new(3);
        let h = B256::repeat_byte(1);
        f.insert(h, 5, 10).unwrap();
        f.insert(h, 3, 10).unwrap();
        f.insert(h, 4, 10).unwrap();
        assert_eq!(f.insert(h, 3, 10), Err(PmError::NonceReplay { nonce: 3 }));
        assert_eq!(f.insert(h, 6, 10), Err(PmError::TooManyNonces { max: 3 }));
        f.remove(&h, 4);
        f.insert(h, 6, 10).unwrap();
        f.prune(9);
        assert_eq!(f.len(), 3);
        f.prune(10);
        assert!(f.is_empty());
    }
}
