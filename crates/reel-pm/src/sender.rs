//! The gateway side of a payment (see docs/compatibility.md#the-gateways-checks-of-ticket-params):
//! one session per `recipientRandHash`, the checks that bound what a malicious orchestrator can
//! make us sign (see docs/faults.md#n7-bounded-exposure-for-the-gateway), and signed batches.
//!
//! Nonces start at 1 and are taken before signing; a session's counter is kept until its
//! params expire, even if the session is ended and restarted, so a nonce is never signed
//! twice on the same params. A session stops at `max_nonces_per_session` (the orchestrator
//! accepts 600 per params; we refresh earlier).

use crate::PriceProto;
use crate::{PmError, SenderInfo, TicketParams, ticket::ev};
use alloy_primitives::{B256, U256};
use reel_net::{EthSigner, proto};
use reel_types::Wei;
use std::{collections::HashMap, sync::Mutex};

/// The gateway's payment limits (go-livepeer flag names in parentheses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Largest EV of one ticket (go-livepeer `-maxTicketEV`), default 3e12 wei.
    pub max_ticket_ev: Wei,
    /// Largest EV of one payment (go-livepeer `-maxTotalEV`), default 2e13 wei.
    pub max_total_ev: Wei,
    /// Face value must not exceed deposit / this (go-livepeer `-depositMultiplier`), default 1.
    pub deposit_multiplier: u64,
    /// Nonces used per params before asking for fresh ones, default 500.
    pub max_nonces_per_session: u32,
    /// Refuse params expiring further than this many blocks ahead, default 400 (10× the 40
    /// an orchestrator issues).
    pub max_params_validity_blocks: u64,
    /// Gas of one redemption, to refuse face values below its cost.
    pub redeem_gas: u64,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            max_ticket_ev: Wei::from_base_units(U256::from(3_000_000_000_000u64)),
            max_total_ev: Wei::from_base_units(U256::from(20_000_000_000_000u64)),
            deposit_multiplier: 1,
            max_nonces_per_session: 500,
            max_params_validity_blocks: 400,
            redeem_gas: 1_200_000,
        }
    }
}

/// What the gateway knows of the chain and of its own funding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderChainView {
    pub last_block: u64,
    pub current_round: u64,
    /// This gateway's own `getSenderInfo`.
    pub own: SenderInfo,
    /// Current gas price (face values below one redemption's cost are refused).
    pub gas_price: Wei,
}

#[derive(Debug, Clone)]
struct Session {
    params: TicketParams,
    /// Last nonce used (0 = none yet).
    nonce: u32,
    active: bool,
}

/// Signs tickets for one gateway key.
#[derive(Debug)]
pub struct Sender {
    signer: EthSigner,
    cfg: SenderConfig,
    sessions: Mutex<HashMap<B256, Session>>,
}

fn reject(reason: impl Into<String>) -> PmError {
    PmError::ParamsRejected {
        reason: reason.into(),
    }
}

impl Sender {
    pub fn new(signer: EthSigner, cfg: SenderConfig) -> Self {
        Self {
            signer,
            cfg,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn address(&self) -> alloy_primitives::Address {
        self.signer.address()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<B256, Session>> {
        // Nonce counters only move forward under this lock, in one assignment.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks an orchestrator's params before paying with `num_tickets` tickets on them.
    pub fn validate_params(
        &self,
        p: &TicketParams,
        num_tickets: u32,
        chain: &SenderChainView,
    ) -> Result<(), PmError> {
        if p.expiration_block == 0 {
            return Err(reject("expiration block is 0"));
        }
        if p.expiration_block.saturating_sub(chain.last_block) <= 1 {
            return Err(PmError::TicketParamsExpired {
                expiration_block: p.expiration_block,
                last_block: chain.last_block,
            });
        }
        if p.expiration_block.saturating_sub(chain.last_block) > self.cfg.max_params_validity_blocks
        {
            return Err(reject(format!(
                "expiration block {} is more than {} blocks ahead of {}",
                p.expiration_block, self.cfg.max_params_validity_blocks, chain.last_block
            )));
        }
        if p.price.is_zero() {
            // Free work: no tickets are sent on these params.
            return Ok(());
        }
        let e = ev(p.face_value, p.win_prob);
        if e.is_zero() {
            return Err(reject(
                "ticket expected value is 0 (win probability or face value 0)",
            ));
        }
        if e > p.face_value {
            return Err(reject("ticket EV exceeds its face value"));
        }
        if e > self.cfg.max_ticket_ev {
            return Err(reject(format!(
                "ticket EV {e} is above the max ticket EV {}",
                self.cfg.max_ticket_ev
            )));
        }
        let total = e.checked_mul(U256::from(num_tickets))?;
        if total > self.cfg.max_total_ev {
            return Err(reject(format!(
                "payment EV {total} ({num_tickets} tickets) is above the max total EV {}",
                self.cfg.max_total_ev
            )));
        }
        let own = &chain.own;
        if own.deposit.is_zero() {
            return Err(reject("this gateway has no deposit: fund it first"));
        }
        if own.reserve.funds_remaining.is_zero() {
            return Err(reject("this gateway has no reserve: fund it first"));
        }
        if own.withdraw_round != 0 && own.withdraw_round <= chain.current_round.saturating_add(1) {
            return Err(reject(
                "this gateway is unlocking its deposit; cancel the unlock to pay",
            ));
        }
        let max_face = own
            .deposit
            .base_units()
            .checked_div(U256::from(self.cfg.deposit_multiplier.max(1)))
            .unwrap_or(U256::ZERO);
        if p.face_value.base_units() > max_face {
            return Err(reject(format!(
                "face value {} is above deposit / {}",
                p.face_value, self.cfg.deposit_multiplier
            )));
        }
        let tx_cost = chain
            .gas_price
            .checked_mul(U256::from(self.cfg.redeem_gas))?;
        if p.face_value < tx_cost {
            return Err(reject(format!(
                "face value {} is below the cost {tx_cost} of redeeming it",
                p.face_value
            )));
        }
        Ok(())
    }

    /// Starts (or resumes) the session for `params`; returns its id, the rand hash. A
    /// session restarted on the same params keeps its nonce counter.
    pub fn start_session(&self, params: TicketParams) -> B256 {
        let id = params.recipient_rand_hash;
        let mut s = self.lock();
        let e = s.entry(id).or_insert(Session {
            params,
            nonce: 0,
            active: true,
        });
        e.active = true;
        id
    }

    /// Ends a session; its nonce counter stays until [`Sender::prune`] passes its expiry.
    pub fn end_session(&self, id: &B256) {
        if let Some(s) = self.lock().get_mut(id) {
            s.active = false;
        }
    }

    /// Forgets sessions whose params expired at or before `last_block`.
    pub fn prune(&self, last_block: u64) {
        self.lock()
            .retain(|_, s| s.params.expiration_block > last_block);
    }

    /// Signs `n` tickets with fresh nonces on the session's params and returns the
    /// `Payment` message (expiration params and expected price included).
    pub fn create_payment(
        &self,
        session: &B256,
        n: u32,
        chain: &SenderChainView,
    ) -> Result<proto::Payment, PmError> {
        let (params, first) =
            {
                let mut map = self.lock();
                let s = map
                    .get_mut(session)
                    .filter(|s| s.active)
                    .ok_or(PmError::UnknownSession { session: *session })?;
                self.validate_params(&s.params, n, chain)?;
                let max = self.cfg.max_nonces_per_session;
                let last = s.nonce.checked_add(n).filter(|l| *l <= max).ok_or(
                    PmError::SessionExhausted {
                        session: *session,
                        used: s.nonce,
                        max,
                    },
                )?;
                let first = s.nonce.saturating_add(1);
                // Nonces are taken before signing: never reused even if signing is interrupted.
                s.nonce = last;
                (s.params, first)
            };
        let sender = self.signer.address();
        let tickets = (0..n)
            .map(|i| {
                let nonce = first.saturating_add(i);
                let t = params.ticket(sender, nonce);
                proto::TicketSenderParams {
                    sender_nonce: nonce,
                    sig: t.sign(&self.signer).to_vec(),
                }
            })
            .collect();
        Ok(proto::Payment {
            ticket_params: Some(params.to_proto()),
            sender: sender.to_vec(),
            expiration_params: Some(params.expiration.to_proto()),
            ticket_sender_params: tickets,
            expected_price: Some(params.price.to_proto()?),
        })
    }

    /// The last nonce used on a session.
    pub fn nonce(&self, session: &B256) -> Option<u32> {
        self.lock().get(session).map(|s| s.nonce)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::testing::{issued_params, wei};

    fn view() -> SenderChainView {
        SenderChainView {
            last_block: 100,
            current_round: 10,
            own: SenderInfo {
                deposit: Wei::from_whole(10),
                withdraw_round: 0,
                reserve: crate::ReserveInfo {
                    funds_remaining: Wei::from_whole(10),
                    claimed_in_current_round: Wei::ZERO,
                },
            },
            gas_price: wei(1_000_000_000),
        }
    }

    #[test]
    fn nonces_start_at_one_and_never_repeat() {
        let s = Sender::new(
            EthSigner::from_bytes(&[5u8; 32]).unwrap(),
            SenderConfig::default(),
        );
        let p = issued_params(140);
        let id = s.start_session(p);
        let pay = s.create_payment(&id, 3, &view()).unwrap();
        let nonces: Vec<u32> = pay
            .ticket_sender_params
            .iter()
            .map(|t| t.sender_nonce)
            .collect();
        assert_eq!(nonces, vec![1, 2, 3]);
        s.end_session(&id);
        assert!(matches!(
            s.create_payment(&id, 1, &view()),
            Err(PmError::UnknownSession { .. })
        ));
        // Restarting on the same params resumes the counter.
        s.start_session(p);
        let pay = s.create_payment(&id, 2, &view()).unwrap();
        assert_eq!(pay.ticket_sender_params[0].sender_nonce, 4);
        assert_eq!(s.nonce(&id), Some(5));
    }

    #[test]
    fn session_stops_at_its_nonce_budget() {
        let cfg = SenderConfig {
            max_nonces_per_session: 5,
            ..SenderConfig::default()
        };
        let s = Sender::new(EthSigner::from_bytes(&[5u8; 32]).unwrap(), cfg);
        let id = s.start_session(issued_params(140));
        s.create_payment(&id, 4, &view()).unwrap();
        let err = s.create_payment(&id, 2, &view()).unwrap_err();
        assert!(matches!(
            err,
            PmError::SessionExhausted {
                used: 4,
                max: 5,
                ..
            }
        ));
        assert!(err.should_refresh_params());
        s.create_payment(&id, 1, &view()).unwrap();
    }
}
