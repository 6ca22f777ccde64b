//! What the store hands out and takes in: stored tickets and their states, the rows a
//! payment writes, and the store's health.

use crate::{PmError, SignedTicket, StoreFault};
use alloy_primitives::B256;
use reel_types::Wei;

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
    pub(super) fn parse(s: &str) -> Result<Self, PmError> {
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
