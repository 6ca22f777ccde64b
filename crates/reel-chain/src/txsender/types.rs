//! A sender's data: how it bids and waits, what it has done, and what it hands back (a
//! signed transaction, a broadcast's answer, a mined transaction).

use alloy::{primitives::B256, rpc::types::Log, sol_types::SolEvent};
use reel_types::Wei;
use std::time::Duration;

/// How a sender bids and waits (go-livepeer flag names in parentheses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// How often to look for a receipt.
    pub poll: Duration,
    /// Without a receipt for this long, replace the transaction with a higher gas price
    /// (`-transactionTimeout`).
    pub replace_after: Duration,
    /// Replacements per transaction (`-maxTransactionReplacements`).
    pub max_replacements: u32,
    /// Gas price increase of a replacement, percent (nodes ask for at least 10).
    pub bump_percent: u64,
    /// Never bid more (`-maxGasPrice`); `None`: no cap.
    pub max_gas_price: Option<Wei>,
    /// Never bid less.
    pub min_gas_price: Wei,
    /// Give up waiting for a receipt after this long (the transaction may still be mined).
    pub receipt_timeout: Duration,
    /// Hand the same bytes to the node again this often while waiting (a node that lost
    /// them gets them back).
    pub rebroadcast_every: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            replace_after: Duration::from_secs(60),
            max_replacements: 3,
            bump_percent: 12,
            max_gas_price: None,
            min_gas_price: Wei::ZERO,
            receipt_timeout: Duration::from_secs(300),
            rebroadcast_every: Duration::from_secs(5),
        }
    }
}

impl SenderConfig {
    /// For a local devnet (a block a second): replace after 10 s, give up after a minute.
    pub fn devnet() -> Self {
        Self {
            poll: Duration::from_millis(200),
            replace_after: Duration::from_secs(10),
            receipt_timeout: Duration::from_secs(60),
            rebroadcast_every: Duration::from_secs(2),
            ..Self::default()
        }
    }
}

/// What a sender has done, for `/status` and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderStats {
    /// Transactions broadcast (replacements not counted).
    pub sent: u64,
    /// Transactions mined (successful or reverted).
    pub mined: u64,
    /// Replacements with a higher gas price.
    pub replaced: u64,
    /// Times the pending nonce was found past ours (another sender on the account).
    pub resynced: u64,
    /// Nonces given back unbroadcast, or found never to have reached the node.
    pub reused: u64,
    /// Foreign transactions stuck at a lower nonce replaced by a 0-value transfer.
    pub unblocked: u64,
    /// Sends that ended in an error after a nonce was taken.
    pub failed: u64,
    /// The last error, with its cause.
    pub last_error: Option<String>,
}
/// A mined transaction.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    pub action: String,
    pub tx: B256,
    pub block: u64,
    pub gas_used: u64,
    pub logs: Vec<Log>,
}

impl TxOutcome {
    /// The first log of event `E` in this transaction, decoded.
    pub fn event<E: SolEvent>(&self) -> Option<E> {
        self.logs
            .iter()
            .find_map(|l| E::decode_log(&l.inner).ok().map(|d| d.data))
    }
}
/// A signed transaction, known by hash before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    pub hash: B256,
    pub nonce: u64,
    pub gas_price: Wei,
    pub raw: Vec<u8>,
}

/// How a broadcast went.
#[derive(Debug)]
pub enum Broadcast {
    /// The node has it (or already had it).
    Accepted,
    /// The nonce was used by another transaction (mined, or pending with a higher price).
    NonceUsed(String),
    /// Refused for another reason (funds, gas, the node is down...).
    Refused(alloy::transports::TransportError),
}
