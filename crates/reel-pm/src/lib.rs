//! Probabilistic micropayments: how a gateway pays an orchestrator per segment with signed
//! lottery tickets, and how the orchestrator turns the winners into ETH without ever losing
//! one.
//!
//! Data flow on the orchestrator (recipient) side:
//! 1. [`Recipient::issue_params`] answers `GetOrchestrator` with [`TicketParams`]: face value
//!    and win probability from gas cost and the sender's max float ([`SenderMonitor`]), and a
//!    commitment `keccak256(recipientRand)` where `recipientRand` is an HMAC of every issued
//!    field, fixed-width, under a secret kept in the node's SQLite [`Store`] (params survive
//!    restarts; no two parameter sets share a rand).
//! 2. [`Recipient::receive_payment`] checks a `Payment` in the order of
//!    docs/compatibility.md#ticket-validation-order, commits the accepted nonces and every winning
//!    ticket to the store in one transaction, and only then credits the tickets' expected value to
//!    the `(sender, session)` account in [`Balances`] (store before credit,
//!    docs/faults.md#n1-store-before-credit). The node debits price × pixels after transcoding.
//! 3. [`Redeemer`] walks the stored winners on every new block and redeems each exactly once
//!    through the [`TicketBroker`] trait, the seam to the chain (N2–N4 in
//!    docs/faults.md#node-money-invariants, gas checks, revert classification, recovery after
//!    restart).
//!
//! On the gateway (sender) side, [`Sender`] keeps one session per `recipientRandHash`, checks
//! the orchestrator's params (see docs/compatibility.md#the-gateways-checks-of-ticket-params) and
//! signs batches of tickets with fresh nonces.
//!
//! [`ticket`] holds the byte-exact ticket hash (the TicketBroker's `getTicketHash`), the win
//! test and EV math. Chain state reaches this crate only through [`TicketBroker`] and plain
//! values ([`ChainView`]), so it runs against the contracts, or an in-memory model in tests.
//!
//! Where to look:
//! - a new price unit: nothing here. A price is a [`PricePerUnit`] (wei per unit, an exact
//!   rational) whatever the unit, and the job kind names its unit (`reel-jobs`); [`price`]
//!   has the wire form, [`balance`] credits and debits units of any kind, and
//!   [`Recipient::receive_payment_priced`] credits work priced apart from the ticket params.
//! - a new ticket field: [`ticket`] (the struct, its byte-exact hash, its protobuf form);
//!   then the `recipientRand` HMAC in `recipient/params.rs` if the orchestrator issues it,
//!   the `winning_tickets` table in `store/schema.rs` with its write in `store/payment.rs`
//!   and its read in `store/queue.rs`, and the contract's `Ticket` in [`broker`].
//! - a new check on a payment: [`recipient`] (`mod.rs` for the whole payment, in the order
//!   of docs/compatibility.md#ticket-validation-order; `validate.rs` for each ticket); on the
//!   gateway side, [`sender`].
//! - a new step in redeeming a winner: [`redeemer`], with a named crash point in
//!   [`failpoint`] for the crash tests.
//! - a new chain read or transaction: the [`TicketBroker`] trait in [`broker`]; its alloy
//!   implementation is `reel-chain`'s `broker.rs`, its in-memory model `testing.rs`.
//! - max float and the sender watch: [`monitor`].
//! - a new error: [`PmError`] below, and its `is_fatal` / `retry_after` classification.
//! - a new reliability-catalogue case: `catalogue/` (`receive.rs` before credit,
//!   `queue.rs` for the durable queue and redemptions).

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod balance;
pub mod broker;
pub mod failpoint;
pub mod monitor;
pub mod price;
pub mod recipient;
pub mod redeemer;
pub mod sender;
pub mod store;
pub mod ticket;

#[cfg(test)]
mod catalogue;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

pub use balance::{AccountKey, Balances, RenditionEstimate, Scope, segment_fee_estimate};
pub use broker::{
    ChainState, Disposition, PreparedTx, Receipt, ReserveInfo, SenderInfo, TicketBroker,
    classify_revert,
};
pub use monitor::{BrokerEvent, SenderMonitor};
pub use price::{PricePerPixel, PricePerUnit, PriceProto};
pub use recipient::{
    ChainView, PaymentBatch, PaymentOutcome, Recipient, RecipientConfig, TicketRejection,
};
pub use redeemer::{Redeemer, RedeemerConfig, TickReport};
pub use sender::{Sender, SenderChainView, SenderConfig};
pub use store::{
    StateCounts, Store, StoreFailure, StoreHealth, StoredTicket, Terminal, TicketState,
};
pub use ticket::{ExpirationParams, MAX_WIN_PROB, SignedTicket, Ticket, TicketParams};

use alloy_primitives::{Address, B256};
use reel_net::SignatureError;
use reel_types::Wei;

/// Everything that can go wrong with a payment, a ticket or its redemption.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PmError {
    // --- malformed input -------------------------------------------------------------
    #[error("malformed {field}: {reason}")]
    Malformed { field: &'static str, reason: String },
    #[error("invalid price: {reason}")]
    InvalidPrice { reason: String },
    #[error("{what} overflowed 256 bits")]
    Overflow { what: &'static str },
    #[error("payment carries {count} tickets; at most {max} are accepted per payment")]
    TooManyTickets { count: usize, max: usize },

    // --- recipient: whole payment refused (fatal: the gateway must refresh params) -----
    #[error("ticket recipient {got} is not this orchestrator ({expected})")]
    WrongRecipient { expected: Address, got: Address },
    #[error("ticket sender is the zero address")]
    ZeroSender,
    #[error(
        "sender {sender} is unlocking (withdraw round {withdraw_round}, current round \
         {current_round}): no new tickets accepted"
    )]
    SenderUnlocking {
        sender: Address,
        withdraw_round: u64,
        current_round: u64,
    },
    #[error(
        "recipientRand does not match recipientRandHash: these ticket params were not issued \
         by this orchestrator or were altered; fetch fresh params"
    )]
    RecipientRandMismatch,
    #[error(
        "ticket created in round {creation_round} is too old for round {current_round} \
         (valid {validity} rounds); fetch fresh params"
    )]
    TicketTooOld {
        creation_round: u64,
        current_round: u64,
        validity: u64,
    },

    // --- recipient: one ticket refused -----------------------------------------------
    #[error("invalid ticket signature: {reason}")]
    InvalidSignature { reason: SignatureError },
    #[error("ticket signed by {got}, not by the sender {expected}")]
    WrongSigner { expected: Address, got: Address },
    #[error("ticket nonce {nonce} already seen for these params")]
    NonceReplay { nonce: u32 },
    #[error("too many tickets ({max}) on one set of params; fetch fresh params")]
    TooManyNonces { max: usize },
    #[error(
        "TicketParams expired: expiration block {expiration_block} ≤ last seen block \
         {last_block}; fetch fresh params"
    )]
    TicketParamsExpired {
        expiration_block: u64,
        last_block: u64,
    },

    // --- orchestrator pricing and credit ----------------------------------------------
    #[error(
        "insufficient sender reserve: max float {max_float} cannot cover a ticket worth more \
         than the expected value {ev}"
    )]
    InsufficientSenderReserve { max_float: Wei, ev: Wei },
    #[error("Insufficient balance")]
    InsufficientBalance,

    // --- sender: orchestrator params refused ---------------------------------------------
    #[error("ticket params rejected: {reason}")]
    ParamsRejected { reason: String },
    #[error("unknown ticket session {session}")]
    UnknownSession { session: B256 },
    #[error(
        "ticket session {session} has used {used} of {max} nonces; fetch fresh params from \
         the orchestrator"
    )]
    SessionExhausted { session: B256, used: u32, max: u32 },

    // --- chain ----------------------------------------------------------------------------
    #[error("transaction reverted: {reason}")]
    Revert { reason: String },
    #[error("chain call {op} failed: {message}")]
    Chain { op: &'static str, message: String },
    #[error("sender {sender}: cannot subtract {amount} from pending amount {pending}")]
    PendingUnderflow {
        sender: Address,
        amount: Wei,
        pending: Wei,
    },

    // --- storage --------------------------------------------------------------------------
    #[error("ticket store: {op}: {reason}")]
    Store { op: &'static str, reason: String },
    /// The database could not be written or read (disk full, locked past the busy timeout,
    /// I/O error, …): nothing that depended on the write happened (see
    /// docs/faults.md#ticket-store-unavailable). The same payment can be sent again once the store
    /// is back.
    #[error("ticket store unavailable ({fault}) during {op}: {reason}")]
    StoreUnavailable {
        op: &'static str,
        fault: StoreFault,
        reason: String,
    },
    #[error("ticket {id} is already in a final state; refusing to change it")]
    AlreadyFinal { id: i64 },
}

impl PmError {
    /// Whether the error rejects the whole payment (the parameters are unusable, so the
    /// gateway must fetch fresh ones) rather than a single ticket in it.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            PmError::WrongRecipient { .. }
                | PmError::ZeroSender
                | PmError::SenderUnlocking { .. }
                | PmError::RecipientRandMismatch
                | PmError::TicketTooOld { .. }
                | PmError::Malformed { .. }
                | PmError::InvalidPrice { .. }
                | PmError::TooManyTickets { .. }
        )
    }

    /// Whether the gateway should fetch fresh ticket params and try again.
    pub fn should_refresh_params(&self) -> bool {
        matches!(
            self,
            PmError::RecipientRandMismatch
                | PmError::TicketTooOld { .. }
                | PmError::TicketParamsExpired { .. }
                | PmError::TooManyNonces { .. }
                | PmError::SessionExhausted { .. }
        )
    }

    /// Whether the ticket store could not take a write or read (see
    /// docs/faults.md#ticket-store-unavailable): the request is refused as "unavailable" and may be
    /// repeated unchanged later.
    pub fn is_store_unavailable(&self) -> bool {
        matches!(self, PmError::StoreUnavailable { .. })
    }

    /// How long a client should wait before repeating the request, where waiting helps.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PmError::StoreUnavailable { .. } => Some(std::time::Duration::from_secs(5)),
            _ => None,
        }
    }

    pub(crate) fn store(op: &'static str, e: impl std::fmt::Display) -> Self {
        PmError::Store {
            op,
            reason: e.to_string(),
        }
    }
}

/// Why the ticket store is unavailable, from SQLite's primary result code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreFault {
    /// `SQLITE_FULL`: the disk, or the database's `max_page_count`, is full.
    Full,
    /// `SQLITE_BUSY` / `SQLITE_LOCKED`: another connection held the write lock for longer
    /// than the busy timeout.
    Busy,
    /// `SQLITE_IOERR` / `SQLITE_CANTOPEN`: the file system refused a read, write or fsync.
    Io,
    /// `SQLITE_READONLY`: the database file or its directory is read-only.
    ReadOnly,
    /// `SQLITE_CORRUPT` / `SQLITE_NOTADB`: the file is damaged.
    Corrupt,
    /// Any other SQLite failure (a missing table, out of memory, …).
    Other,
}

impl StoreFault {
    /// A short label for metrics and JSON (`full`, `busy`, …).
    pub fn label(self) -> &'static str {
        match self {
            StoreFault::Full => "full",
            StoreFault::Busy => "busy",
            StoreFault::Io => "io",
            StoreFault::ReadOnly => "read_only",
            StoreFault::Corrupt => "corrupt",
            StoreFault::Other => "other",
        }
    }
}

impl std::fmt::Display for StoreFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreFault::Full => "disk or database full",
            StoreFault::Busy => "database locked by another writer",
            StoreFault::Io => "I/O error",
            StoreFault::ReadOnly => "database is read-only",
            StoreFault::Corrupt => "database file is damaged",
            StoreFault::Other => "database error",
        })
    }
}

/// A malformed wire integer (from the `be` codec of `reel-net`).
impl From<reel_net::NetError> for PmError {
    fn from(e: reel_net::NetError) -> Self {
        match e {
            reel_net::NetError::Invalid { field, reason } => PmError::Malformed { field, reason },
            other => PmError::Malformed {
                field: "payment",
                reason: other.to_string(),
            },
        }
    }
}

/// Converts an amount error from `reel-types` (overflow of a U256 sum).
impl From<reel_types::AmountError> for PmError {
    fn from(_: reel_types::AmountError) -> Self {
        PmError::Overflow { what: "wei amount" }
    }
}
