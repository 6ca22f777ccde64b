//! Getting a transaction mined: broadcasting, waiting for the receipt with a deadline,
//! replacing a stuck transaction, unblocking a foreign one at a lower nonce.

use super::{Broadcast, Settle, SignedTx, TxOutcome, TxSender};
use crate::ChainError;
use alloy::{
    network::TransactionBuilder, primitives::U256, providers::Provider,
    rpc::types::TransactionRequest,
};
use reel_types::Wei;
use std::time::{Duration, Instant};
use tracing::{Instrument, debug, info, info_span, warn};

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
