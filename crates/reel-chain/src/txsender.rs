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

use crate::{ChainError, TxOutcome, connect};
use alloy::{
    consensus::TxEnvelope,
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkWallet, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use reel_types::Wei;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{Instrument, debug, info, info_span, warn};

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

/// Why a nonce is not free: a live send or reservation owns it, or a prepared transaction
/// waits to be broadcast (until the deadline, then it counts as abandoned).
#[derive(Debug, Clone, Copy)]
enum Hold {
    Live,
    Until(Instant),
}

#[derive(Debug, Default)]
struct Nonces {
    /// The next nonce never handed out; `None` until the first reservation reads the node.
    next: Option<u64>,
    /// Handed out and given back (or found lost): handed out again first.
    returned: BTreeSet<u64>,
    held: BTreeMap<u64, Hold>,
}

impl Nonces {
    fn is_held(&self, nonce: u64, now: Instant) -> bool {
        match self.held.get(&nonce) {
            Some(Hold::Live) => true,
            Some(Hold::Until(t)) => *t > now,
            None => false,
        }
    }
}

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

/// A hold on a prepared transaction's nonce: how long it may wait to be broadcast.
const PREPARED_HOLD: Duration = Duration::from_secs(60);
/// Broadcast attempts when the nonce turns out to be used by another sender.
const NONCE_RETRIES: u32 = 3;

fn is_nonce_used(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("nonce too low")
        || m.contains("replacement transaction underpriced")
        || m.contains("nonce has already been used")
        || m.contains("invalid nonce")
}

fn is_already_known(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("already known") || m.contains("known transaction") || m.contains("already imported")
}

fn bump(price: Wei, percent: u64) -> Wei {
    let v = price
        .base_units()
        .saturating_mul(U256::from(100u64.saturating_add(percent)))
        .checked_div(U256::from(100u64))
        .unwrap_or_default();
    // At least one wei more, so that tiny prices still move.
    Wei::from_base_units(v.max(price.base_units().saturating_add(U256::from(1u8))))
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

    /// Hands signed bytes to the node. Sending the same bytes twice is accepted.
    pub async fn broadcast_raw(&self, tx: &SignedTx) -> Broadcast {
        match self.inner.provider.send_raw_transaction(&tx.raw).await {
            Ok(_) => Broadcast::Accepted,
            Err(e) => {
                let message = e.to_string();
                if is_already_known(&message) {
                    return Broadcast::Accepted;
                }
                // An RPC hiccup after the node took it: it knows the hash.
                if let Ok(Some(_)) = self.inner.provider.get_transaction_by_hash(tx.hash).await {
                    return Broadcast::Accepted;
                }
                if is_nonce_used(&message) {
                    Broadcast::NonceUsed(message)
                } else {
                    Broadcast::Refused(e)
                }
            }
        }
    }

    /// Reserves a nonce and signs `request` with it, to be stored before it is broadcast
    /// with [`TxSender::broadcast`]. The nonce stays held for a minute; if the transaction
    /// never reaches the node by then, the nonce is handed out again. `replace` signs for an
    /// existing nonce instead (a replacement), reserving nothing.
    pub async fn prepare(
        &self,
        request: TransactionRequest,
        gas_limit: u64,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> Result<SignedTx, ChainError> {
        match replace {
            Some(nonce) => self.sign(request, nonce, gas_limit, gas_price).await,
            None => {
                let lease = self.reserve().await?;
                let signed = self
                    .sign(request, lease.nonce(), gas_limit, gas_price)
                    .await?;
                lease.hold_for(PREPARED_HOLD);
                Ok(signed)
            }
        }
    }

    /// Broadcasts a prepared transaction and releases its hold: from here the node's pending
    /// nonce counts it, or, refused, the nonce can be handed out again.
    pub async fn broadcast(&self, tx: &SignedTx) -> Broadcast {
        let out = self.broadcast_raw(tx).await;
        match &out {
            Broadcast::Accepted => {
                self.settle(tx.nonce);
                self.count(|s| s.sent = s.sent.saturating_add(1));
            }
            Broadcast::NonceUsed(_) => self.settle(tx.nonce),
            Broadcast::Refused(_) => {
                if let Ok(mut n) = self.inner.nonces.lock() {
                    n.held.remove(&tx.nonce);
                }
            }
        }
        out
    }

    /// Sends `request` from this account and waits for its receipt (see the module docs).
    /// A reverted transaction is an error naming the action.
    pub async fn send(
        &self,
        action: impl Into<String>,
        request: TransactionRequest,
    ) -> Result<TxOutcome, ChainError> {
        let action = action.into();
        let span = info_span!("tx", %action, from = %self.inner.from);
        let out = self.send_inner(&action, request).instrument(span).await;
        if let Err(e) = &out {
            self.count(|s| {
                s.failed = s.failed.saturating_add(1);
                s.last_error = Some(e.to_string());
            });
        }
        out
    }

    async fn send_inner(
        &self,
        action: &str,
        request: TransactionRequest,
    ) -> Result<TxOutcome, ChainError> {
        let request = request.with_from(self.inner.from);
        // Runs the call: a revert is reported with the contract's reason before any nonce
        // is taken or anything is signed.
        let gas = self
            .inner
            .provider
            .estimate_gas(request.clone())
            .await
            .map_err(|e| ChainError::tx(action, alloy::contract::Error::TransportError(e)))?;
        // 20% over the estimate: state may move between the estimate and the block.
        let gas_limit = gas.saturating_mul(12).checked_div(10).unwrap_or(gas);
        let mut attempt = 0u32;
        let (first, nonce) = loop {
            let lease = self.reserve().await?;
            let price = self.gas_price().await?;
            let signed = self
                .sign(request.clone(), lease.nonce(), gas_limit, price)
                .await?;
            match self.broadcast_raw(&signed).await {
                Broadcast::Accepted => {
                    let nonce = lease.broadcast();
                    self.count(|s| s.sent = s.sent.saturating_add(1));
                    break (signed, nonce);
                }
                Broadcast::NonceUsed(message) if attempt < NONCE_RETRIES => {
                    attempt = attempt.saturating_add(1);
                    warn!(target: "chain::tx", nonce = lease.nonce(), %message,
                          "nonce {} of {} was used by another sender; re-syncing", lease.nonce(), self.inner.from);
                    lease.used();
                    self.count(|s| s.resynced = s.resynced.saturating_add(1));
                }
                Broadcast::NonceUsed(message) => {
                    lease.used();
                    return Err(ChainError::NonceTaken {
                        action: action.to_owned(),
                        from: self.inner.from,
                        nonce: signed.nonce,
                        detail: message,
                    });
                }
                Broadcast::Refused(e) => {
                    // `lease` drops here: the nonce is given back.
                    return Err(ChainError::tx(
                        action,
                        alloy::contract::Error::TransportError(e),
                    ));
                }
            }
        };
        debug!(target: "chain::tx", nonce, tx = %first.hash, gas_price = %first.gas_price, "broadcast");
        // Released however the wait ends, a cancellation included: from here the node's
        // pending nonce counts the transaction, or, if the node lost it, gap filling hands
        // the nonce out again.
        let _hold = Settle {
            sender: self,
            nonce,
        };
        reel_pm::failpoint::hit(reel_pm::failpoint::TX_AFTER_BROADCAST);
        self.await_receipt(action, &request, gas_limit, first, nonce)
            .await
    }

    async fn await_receipt(
        &self,
        action: &str,
        request: &TransactionRequest,
        gas_limit: u64,
        first: SignedTx,
        nonce: u64,
    ) -> Result<TxOutcome, ChainError> {
        let cfg = &self.inner.cfg;
        let started = Instant::now();
        let mut last_sent = started;
        let mut last_rebroadcast = started;
        let mut txs = vec![first];
        let mut replacements = 0u32;
        loop {
            tokio::time::sleep(cfg.poll).await;
            if let Some(outcome) = self.find_receipt(action, &txs).await? {
                return outcome;
            }
            let mined = self.mined_nonce().await?;
            if mined > nonce {
                // Mined meanwhile, between the receipt reads and the nonce read?
                if let Some(outcome) = self.find_receipt(action, &txs).await? {
                    return outcome;
                }
                return Err(ChainError::NonceTaken {
                    action: action.to_owned(),
                    from: self.inner.from,
                    nonce,
                    detail: "another transaction of the account was mined with it".to_owned(),
                });
            }
            if started.elapsed() >= cfg.receipt_timeout {
                return Err(ChainError::ReceiptTimeout {
                    action: action.to_owned(),
                    nonce,
                    txs: txs.iter().map(|t| t.hash).collect(),
                    secs: started.elapsed().as_secs(),
                });
            }
            if last_sent.elapsed() >= cfg.replace_after {
                last_sent = Instant::now();
                if mined < nonce {
                    // Something at a lower nonce is stuck and keeps ours out.
                    self.unblock(mined, nonce).await?;
                } else if replacements < cfg.max_replacements {
                    let Some(latest) = txs.last() else {
                        continue;
                    };
                    let floor = self.gas_price().await?;
                    let mut price = bump(latest.gas_price, cfg.bump_percent).max(floor);
                    if let Some(cap) = cfg.max_gas_price {
                        price = price.min(cap);
                    }
                    if price <= latest.gas_price {
                        debug!(target: "chain::tx", nonce, "at the gas price cap: waiting");
                        continue;
                    }
                    let signed = self.sign(request.clone(), nonce, gas_limit, price).await?;
                    match self.broadcast_raw(&signed).await {
                        Broadcast::Accepted => {
                            info!(target: "chain::tx", nonce, old = %latest.hash, new = %signed.hash,
                                  gas_price = %price, "replaced a transaction stuck for {} s", cfg.replace_after.as_secs());
                            replacements = replacements.saturating_add(1);
                            self.count(|s| s.replaced = s.replaced.saturating_add(1));
                            txs.push(signed);
                        }
                        Broadcast::NonceUsed(m) => {
                            debug!(target: "chain::tx", nonce, error = %m, "replacement refused");
                        }
                        Broadcast::Refused(e) => {
                            debug!(target: "chain::tx", nonce, error = %e, "replacement refused");
                        }
                    }
                }
                continue;
            }
            if last_rebroadcast.elapsed() >= cfg.rebroadcast_every {
                last_rebroadcast = Instant::now();
                if let Some(latest) = txs.last()
                    && let Broadcast::Refused(e) = self.broadcast_raw(latest).await
                {
                    debug!(target: "chain::tx", nonce, error = %e, "rebroadcast refused");
                }
            }
        }
    }

    /// The receipt of one of `txs`, as an outcome: `Ok(Some(Ok))` mined and successful,
    /// `Ok(Some(Err))` mined and reverted, `Ok(None)` none mined yet.
    async fn find_receipt(
        &self,
        action: &str,
        txs: &[SignedTx],
    ) -> Result<Option<Result<TxOutcome, ChainError>>, ChainError> {
        for tx in txs {
            let Some(r) = self
                .inner
                .provider
                .get_transaction_receipt(tx.hash)
                .await
                .map_err(|e| self.rpc("eth_getTransactionReceipt", e))?
            else {
                continue;
            };
            self.count(|s| s.mined = s.mined.saturating_add(1));
            if !r.status() {
                return Ok(Some(Err(ChainError::Reverted {
                    action: action.to_owned(),
                    tx: tx.hash,
                })));
            }
            let block = r.block_number.unwrap_or_default();
            debug!(target: "chain::tx", %action, tx = %tx.hash, block, gas = r.gas_used, "mined");
            return Ok(Some(Ok(TxOutcome {
                action: action.to_owned(),
                tx: tx.hash,
                block,
                gas_used: r.gas_used,
                logs: r.logs().to_vec(),
            })));
        }
        Ok(None)
    }

    /// Replaces the transactions stuck at nonces `from..to` that no send of this process owns
    /// with 0-value transfers to ourselves, at a price above theirs (doubled until the node
    /// takes it, within the cap).
    async fn unblock(&self, from: u64, to: u64) -> Result<(), ChainError> {
        for nonce in from..to {
            let ours = self
                .inner
                .nonces
                .lock()
                .map(|n| n.is_held(nonce, Instant::now()))
                .unwrap_or(true);
            if ours {
                continue;
            }
            let mut price = bump(self.gas_price().await?, 100);
            let cancel = TransactionRequest::default()
                .with_to(self.inner.from)
                .with_value(U256::ZERO);
            for _ in 0..8 {
                let signed = self.sign(cancel.clone(), nonce, 21_000, price).await?;
                match self.broadcast_raw(&signed).await {
                    Broadcast::Accepted => {
                        warn!(target: "chain::tx", nonce, tx = %signed.hash, gas_price = %price,
                              "nonce {nonce} of {} was stuck with a transaction this process did not send; replaced it with a 0-value transfer", self.inner.from);
                        self.count(|s| s.unblocked = s.unblocked.saturating_add(1));
                        break;
                    }
                    Broadcast::NonceUsed(m) if m.to_ascii_lowercase().contains("nonce too low") => {
                        break;
                    }
                    Broadcast::NonceUsed(_) | Broadcast::Refused(_) => {
                        let doubled = bump(price, 100);
                        price = match self.inner.cfg.max_gas_price {
                            Some(cap) if doubled > cap => {
                                if price >= cap {
                                    break;
                                }
                                cap
                            }
                            _ => doubled,
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classifies_node_answers() {
        assert!(is_nonce_used("nonce too low"));
        assert!(is_nonce_used(
            "server returned an error response: error code -32003: replacement transaction underpriced"
        ));
        assert!(!is_nonce_used("insufficient funds for gas * price + value"));
        assert!(is_already_known("already known"));
        assert!(!is_already_known("nonce too low"));
    }

    #[test]
    fn bumps_by_percent_and_at_least_a_wei() {
        assert_eq!(
            bump(Wei::from_base_units(U256::from(100u64)), 12),
            Wei::from_base_units(U256::from(112u64))
        );
        assert_eq!(
            bump(Wei::from_base_units(U256::from(1u64)), 12),
            Wei::from_base_units(U256::from(2u64))
        );
    }
}
