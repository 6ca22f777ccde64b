//! One transaction sender per account: everything in a process that signs for an account
//! (the round keeper's `initializeRound()` and `reward()`, the redeemer, every CLI verb,
//! governance, deposits) sends through the same [`TxSender`], so nonces are handed out in
//! one place and never leave a gap.
//!
//! The nonce manager ([`TxSender::reserve`]):
//! - reads the node's `pending` nonce before every reservation. A pending nonce past ours
//!   means another sender (another process, an operator with `cast`) used the account: we
//!   re-sync to it and say so, naming the nonces.
//! - gives a nonce back when its transaction fails before it is broadcast (a [`NonceLease`]
//!   dropped unbroadcast), and hands given-back nonces out first, lowest first.
//! - fills gaps: a nonce between the node's pending nonce and ours that nobody in this
//!   process holds was handed out and never reached the node (dropped from a mempool, a
//!   broadcast that failed): it is handed out again.
//!
//! [`TxSender::send`] estimates gas first (a revert is reported with the contract's reason,
//! before a nonce is taken), signs, broadcasts and then waits for the receipt with a
//! deadline. Past `replace_after` without a receipt it replaces its transaction with the same
//! nonce and a higher gas price (never above `max_gas_price`); if a lower nonce of the account
//! is stuck in the mempool with a transaction this process did not send, it replaces that one
//! with a 0-value transfer to itself, so that the account moves again. If the account's nonce
//! moves past ours while none of our transactions has a receipt, another sender took the
//! nonce: the error says so and the caller decides (the keeper re-reads the chain).
//!
//! Every await is cancellable: dropping a `send` future gives an unbroadcast nonce back and
//! leaves a broadcast transaction to the node. Redemptions, which must be stored before they
//! are broadcast, use [`TxSender::prepare`] and [`TxSender::broadcast`] instead of `send`.
//!
//! Files: `types.rs` holds the configuration, the statistics and what a send hands back;
//! `nonces.rs` the nonce bookkeeping; `send.rs` broadcasting, waiting for receipts,
//! replacing and unblocking; this file the sender itself, nonce reservation and signing.

mod nonces;
mod send;
mod types;

pub use types::{Broadcast, SenderConfig, SenderStats, SignedTx, TxOutcome};

use crate::{ChainError, connect};
use alloy::{
    consensus::TxEnvelope,
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkWallet, TransactionBuilder},
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use nonces::{Hold, Nonces};
use reel_types::Wei;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

#[derive(Debug)]
struct Inner {
    provider: DynProvider,
    rpc_url: String,
    wallet: EthereumWallet,
    from: Address,
    chain_id: u64,
    cfg: SenderConfig,
    nonces: Mutex<Nonces>,
    stats: Mutex<SenderStats>,
}

/// The one transaction sender of an account in this process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TxSender {
    inner: Arc<Inner>,
}
/// A reserved nonce. Dropped before [`NonceLease::broadcast`], it is given back.
#[derive(Debug)]
pub struct NonceLease {
    sender: TxSender,
    nonce: u64,
    settled: bool,
}

impl NonceLease {
    pub fn nonce(&self) -> u64 {
        self.nonce
    }

    /// The transaction with this nonce reached the node: the nonce stays held by the live
    /// send until [`TxSender::settle`].
    fn broadcast(mut self) -> u64 {
        self.settled = true;
        self.nonce
    }

    /// Keeps the nonce held for `for_` (a prepared redemption waiting to be stored and
    /// broadcast), then lets gap filling reclaim it if it never reached the node.
    fn hold_for(mut self, for_: Duration) -> u64 {
        self.settled = true;
        if let Ok(mut n) = self.sender.inner.nonces.lock() {
            let until = Instant::now()
                .checked_add(for_)
                .unwrap_or_else(Instant::now);
            n.held.insert(self.nonce, Hold::Until(until));
        }
        self.nonce
    }

    /// The nonce is used on the chain by somebody else: neither ours nor free.
    fn used(mut self) {
        self.settled = true;
        self.sender.settle(self.nonce);
    }
}

impl Drop for NonceLease {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Ok(mut n) = self.sender.inner.nonces.lock() {
            n.held.remove(&self.nonce);
            n.returned.insert(self.nonce);
        }
        self.sender.count(|s| s.reused = s.reused.saturating_add(1));
        debug!(target: "chain::tx", nonce = self.nonce, "nonce given back unbroadcast");
    }
}

/// Releases a broadcast transaction's nonce when its send ends or is dropped.
struct Settle<'a> {
    sender: &'a TxSender,
    nonce: u64,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        self.sender.settle(self.nonce);
    }
}
impl TxSender {
    /// A sender for `signer` on the chain at `rpc_url`.
    pub fn new(
        rpc_url: &str,
        chain_id: u64,
        signer: PrivateKeySigner,
        cfg: SenderConfig,
    ) -> Result<Self, ChainError> {
        Ok(Self {
            inner: Arc::new(Inner {
                provider: connect(rpc_url)?,
                rpc_url: rpc_url.to_owned(),
                from: signer.address(),
                wallet: EthereumWallet::from(signer),
                chain_id,
                cfg,
                nonces: Mutex::new(Nonces::default()),
                stats: Mutex::new(SenderStats::default()),
            }),
        })
    }

    pub fn address(&self) -> Address {
        self.inner.from
    }

    pub fn chain_id(&self) -> u64 {
        self.inner.chain_id
    }

    pub fn config(&self) -> &SenderConfig {
        &self.inner.cfg
    }

    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    pub fn stats(&self) -> SenderStats {
        self.inner
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn count(&self, f: impl FnOnce(&mut SenderStats)) {
        if let Ok(mut s) = self.inner.stats.lock() {
            f(&mut s);
        }
    }

    fn rpc(&self, method: &'static str, e: alloy::transports::TransportError) -> ChainError {
        ChainError::rpc(method, &self.inner.rpc_url, e)
    }

    /// The account's nonce counting the node's pending transactions.
    pub async fn pending_nonce(&self) -> Result<u64, ChainError> {
        self.inner
            .provider
            .get_transaction_count(self.inner.from)
            .pending()
            .await
            .map_err(|e| self.rpc("eth_getTransactionCount", e))
    }

    /// The account's nonce counting mined transactions only.
    pub async fn mined_nonce(&self) -> Result<u64, ChainError> {
        self.inner
            .provider
            .get_transaction_count(self.inner.from)
            .latest()
            .await
            .map_err(|e| self.rpc("eth_getTransactionCount", e))
    }

    /// Reserves the next nonce (see the module docs for the rules).
    pub async fn reserve(&self) -> Result<NonceLease, ChainError> {
        let pending = self.pending_nonce().await?;
        let now = Instant::now();
        let mut resynced = None;
        let mut refilled = 0u64;
        let nonce = {
            let mut n = self
                .inner
                .nonces
                .lock()
                .map_err(|_| ChainError::Poisoned("nonce state"))?;
            let next = n.next.unwrap_or(pending);
            if pending > next {
                resynced = Some(next);
                n.next = Some(pending);
            }
            n.returned.retain(|&r| r >= pending);
            // Below the pending nonce every hold is moot: those nonces are on the node.
            n.held.retain(|&h, _| h >= pending);
            // Handed out, not on the node, held by nobody: lost on the way.
            let next = n.next.unwrap_or(pending);
            for gap in pending..next {
                if !n.is_held(gap, now) && n.returned.insert(gap) {
                    refilled = refilled.saturating_add(1);
                }
            }
            let nonce = match n.returned.pop_first() {
                Some(r) => r,
                None => {
                    let fresh = next.max(pending);
                    n.next = Some(fresh.saturating_add(1));
                    fresh
                }
            };
            n.held.insert(nonce, Hold::Live);
            nonce
        };
        if let Some(ours) = resynced {
            warn!(target: "chain::tx", from = %self.inner.from, ours, pending,
                  "nonces {ours}..{pending} of {} were used by another sender; re-synced", self.inner.from);
            self.count(|s| s.resynced = s.resynced.saturating_add(1));
        }
        if refilled > 0 {
            info!(target: "chain::tx", from = %self.inner.from, refilled, "nonces that never reached the node are handed out again");
            self.count(|s| s.reused = s.reused.saturating_add(refilled));
        }
        Ok(NonceLease {
            sender: self.clone(),
            nonce,
            settled: false,
        })
    }

    /// A nonce's transaction is done (mined, or its nonce taken): nobody holds it now.
    fn settle(&self, nonce: u64) {
        if let Ok(mut n) = self.inner.nonces.lock() {
            n.held.remove(&nonce);
            n.returned.remove(&nonce);
        }
    }

    /// The gas price to bid now: the node's, floored at the minimum, capped at the maximum.
    pub async fn gas_price(&self) -> Result<Wei, ChainError> {
        let p = self
            .inner
            .provider
            .get_gas_price()
            .await
            .map_err(|e| self.rpc("eth_gasPrice", e))?;
        let p = Wei::from_base_units(U256::from(p)).max(self.inner.cfg.min_gas_price);
        Ok(match self.inner.cfg.max_gas_price {
            Some(cap) => p.min(cap),
            None => p,
        })
    }

    /// Signs `request` (from this account) with `nonce`, `gas_limit` and `gas_price`.
    pub async fn sign(
        &self,
        request: TransactionRequest,
        nonce: u64,
        gas_limit: u64,
        gas_price: Wei,
    ) -> Result<SignedTx, ChainError> {
        let price = u128::try_from(gas_price.base_units())
            .map_err(|_| ChainError::Amount("gas price over 2^128 wei"))?;
        let request = request
            .with_from(self.inner.from)
            .with_nonce(nonce)
            .with_chain_id(self.inner.chain_id)
            .with_gas_limit(gas_limit)
            .with_gas_price(price);
        let envelope: TxEnvelope =
            NetworkWallet::<alloy::network::Ethereum>::sign_request(&self.inner.wallet, request)
                .await
                .map_err(|e| ChainError::Sign(e.to_string()))?;
        Ok(SignedTx {
            hash: *envelope.tx_hash(),
            nonce,
            gas_price,
            raw: envelope.encoded_2718(),
        })
    }
}
