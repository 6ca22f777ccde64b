//! The TicketBroker on a real chain: reel-pm's [`reel_pm::TicketBroker`] seam implemented
//! with alloy, through the Livepeer-compatible [`ITicketBroker`] interface.
//!
//! Redemptions are signed here and handed back before they are broadcast, so the
//! redemption queue can store the exact transaction (and its hash) first; broadcasting the
//! same bytes again after a crash is harmless.

use crate::{ChainConfig, ChainError, connect};
use alloy::{
    consensus::TxEnvelope,
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkWallet, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::{BlockId, TransactionRequest},
    signers::local::PrivateKeySigner,
};
use reel_contracts::{
    Deployment,
    livepeer::{IBondingManager, IRoundsManager, ITicketBroker},
};
use reel_pm::{
    PmError, SignedTicket,
    broker::{ChainState, PreparedTx, Receipt, ReserveInfo, SenderInfo, TicketBroker},
};
use reel_types::Wei;
use std::sync::Mutex;
use tracing::debug;

/// Redemption gas: estimated per ticket, capped here. A redemption costs ~100–200k gas on
/// our broker; the cap keeps a misestimate from burning a face value's worth of gas.
const MAX_REDEEM_GAS: u64 = 1_500_000;

/// The chain-backed TicketBroker for one redeeming account (the orchestrator).
#[derive(Debug)]
pub struct ChainTicketBroker {
    provider: DynProvider,
    rpc_url: String,
    wallet: EthereumWallet,
    from: Address,
    chain_id: u64,
    contracts: Deployment,
    /// The lowest gas price we bid, in wei.
    min_gas_price: Wei,
    /// The next account nonce to hand out, so that several prepared but not yet broadcast
    /// redemptions never share one.
    next_nonce: Mutex<Option<u64>>,
}

fn chain_err(op: &'static str, e: impl std::fmt::Display) -> PmError {
    PmError::Chain {
        op,
        message: e.to_string(),
    }
}

/// A contract error as the queue needs it: a revert with the contract's words, or a
/// chain failure to retry.
fn call_err(op: &'static str, e: &alloy::contract::Error) -> PmError {
    match reel_contracts::revert::reason(e) {
        Some(reason) => PmError::Revert { reason },
        None => chain_err(op, e),
    }
}

fn u64_of(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The contract's ticket struct for a reel-pm ticket.
pub fn to_contract_ticket(t: &reel_pm::Ticket) -> ITicketBroker::Ticket {
    ITicketBroker::Ticket {
        recipient: t.recipient,
        sender: t.sender,
        faceValue: t.face_value.base_units(),
        winProb: t.win_prob,
        senderNonce: U256::from(t.sender_nonce),
        recipientRandHash: t.recipient_rand_hash,
        auxData: Bytes::from(t.expiration.aux_data()),
    }
}

impl ChainTicketBroker {
    /// Connects as `signer`, resolving the protocol's addresses from the Controller.
    pub async fn connect(
        config: &ChainConfig,
        signer: PrivateKeySigner,
        min_gas_price: Wei,
    ) -> Result<Self, ChainError> {
        let contracts = config.resolve().await?;
        let from = signer.address();
        Ok(Self {
            provider: connect(&config.rpc_url)?,
            rpc_url: config.rpc_url.clone(),
            wallet: EthereumWallet::from(signer),
            from,
            chain_id: config.chain_id,
            contracts,
            min_gas_price,
            next_nonce: Mutex::new(None),
        })
    }

    pub fn address(&self) -> Address {
        self.from
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    pub fn ticket_broker_address(&self) -> Address {
        self.contracts.ticket_broker
    }

    fn broker(&self) -> ITicketBroker::ITicketBrokerInstance<&DynProvider> {
        ITicketBroker::new(self.contracts.ticket_broker, &self.provider)
    }

    async fn take_nonce(&self) -> Result<u64, PmError> {
        let chain = self
            .provider
            .get_transaction_count(self.from)
            .pending()
            .await
            .map_err(|e| chain_err("eth_getTransactionCount", e))?;
        let mut next = self
            .next_nonce
            .lock()
            .map_err(|_| chain_err("nonce lock", "poisoned"))?;
        let nonce = next.map_or(chain, |n| n.max(chain));
        *next = Some(nonce.saturating_add(1));
        Ok(nonce)
    }

    fn forget_nonce(&self) {
        if let Ok(mut next) = self.next_nonce.lock() {
            *next = None;
        }
    }

    /// Why a mined transaction failed: the same call replayed on the state before its block.
    async fn revert_reason_of(&self, tx_hash: B256, block: u64) -> Option<String> {
        let tx = self
            .provider
            .get_transaction_by_hash(tx_hash)
            .await
            .ok()??;
        let request = TransactionRequest::default()
            .with_from(self.from)
            .with_to(self.contracts.ticket_broker)
            .with_input(alloy::consensus::Transaction::input(&tx).clone());
        match self
            .provider
            .call(request)
            .block(BlockId::number(block.saturating_sub(1)))
            .await
        {
            Ok(_) => None,
            Err(e) => {
                let err = alloy::contract::Error::TransportError(e);
                reel_contracts::revert::reason(&err)
            }
        }
    }
}

impl TicketBroker for ChainTicketBroker {
    async fn chain_state(&self) -> Result<ChainState, PmError> {
        let rm = IRoundsManager::new(self.contracts.rounds_manager, &self.provider);
        let block = rm
            .blockNum()
            .call()
            .await
            .map_err(|e| call_err("blockNum", &e))?;
        let round = rm
            .currentRound()
            .call()
            .await
            .map_err(|e| call_err("currentRound", &e))?;
        let initialized = rm
            .currentRoundInitialized()
            .call()
            .await
            .map_err(|e| call_err("currentRoundInitialized", &e))?;
        Ok(ChainState {
            block: u64_of(block),
            current_round: u64_of(round),
            current_round_initialized: initialized,
        })
    }

    async fn sender_info(&self, sender: Address) -> Result<SenderInfo, PmError> {
        let info = self
            .broker()
            .getSenderInfo(sender)
            .call()
            .await
            .map_err(|e| call_err("getSenderInfo", &e))?;
        Ok(SenderInfo {
            deposit: Wei::from_base_units(info.sender.deposit),
            withdraw_round: u64_of(info.sender.withdrawRound),
            reserve: ReserveInfo {
                funds_remaining: Wei::from_base_units(info.reserve.fundsRemaining),
                claimed_in_current_round: Wei::from_base_units(info.reserve.claimedInCurrentRound),
            },
        })
    }

    async fn claimed_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        let v = self
            .broker()
            .claimedReserve(holder, claimant)
            .call()
            .await
            .map_err(|e| call_err("claimedReserve", &e))?;
        Ok(Wei::from_base_units(v))
    }

    async fn claimable_reserve(&self, holder: Address, claimant: Address) -> Result<Wei, PmError> {
        let v = self
            .broker()
            .claimableReserve(holder, claimant)
            .call()
            .await
            .map_err(|e| call_err("claimableReserve", &e))?;
        Ok(Wei::from_base_units(v))
    }

    async fn transcoder_pool_size(&self) -> Result<u64, PmError> {
        let bm = IBondingManager::new(self.contracts.bonding_manager, &self.provider);
        let v = bm
            .getTranscoderPoolSize()
            .call()
            .await
            .map_err(|e| call_err("getTranscoderPoolSize", &e))?;
        Ok(u64_of(v))
    }

    async fn is_used_ticket(&self, ticket_hash: B256) -> Result<bool, PmError> {
        self.broker()
            .usedTickets(ticket_hash)
            .call()
            .await
            .map_err(|e| call_err("usedTickets", &e))
    }

    async fn gas_price(&self) -> Result<Wei, PmError> {
        let p = self
            .provider
            .get_gas_price()
            .await
            .map_err(|e| chain_err("eth_gasPrice", e))?;
        Ok(Wei::from_base_units(U256::from(p)).max(self.min_gas_price))
    }

    async fn prepare_redeem(
        &self,
        ticket: &SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> Result<PreparedTx, PmError> {
        let broker = self.broker();
        let call = broker.redeemWinningTicket(
            to_contract_ticket(&ticket.ticket),
            Bytes::from(ticket.sig.to_vec()),
            ticket.recipient_rand,
        );
        let mut request = call.into_transaction_request().with_from(self.from);
        // Estimation runs the redemption: a ticket the contract refuses fails here with
        // the contract's reason, before anything is signed or stored.
        let gas = self
            .provider
            .estimate_gas(request.clone())
            .await
            .map_err(|e| {
                call_err(
                    "estimate redeemWinningTicket",
                    &alloy::contract::Error::TransportError(e),
                )
            })?;
        let nonce = match replace {
            Some(n) => n,
            None => self.take_nonce().await?,
        };
        let price = u128::try_from(gas_price.base_units())
            .map_err(|_| chain_err("gas price", "over 2^128 wei"))?;
        request = request
            .with_nonce(nonce)
            .with_chain_id(self.chain_id)
            .with_gas_limit(
                gas.saturating_mul(12)
                    .saturating_div(10)
                    .min(MAX_REDEEM_GAS),
            )
            .with_gas_price(price);
        let envelope: TxEnvelope =
            NetworkWallet::<alloy::network::Ethereum>::sign_request(&self.wallet, request)
                .await
                .map_err(|e| chain_err("sign redemption", e))?;
        let tx_hash = *envelope.tx_hash();
        debug!(target: "pm::redeem", ticket = %ticket.hash(), %tx_hash, nonce, "redemption signed");
        Ok(PreparedTx {
            tx_hash,
            tx_nonce: nonce,
            gas_price,
            raw: envelope.encoded_2718(),
        })
    }

    async fn broadcast(&self, tx: &PreparedTx) -> Result<(), PmError> {
        match self.provider.send_raw_transaction(&tx.raw).await {
            Ok(_) => Ok(()),
            Err(e) => {
                // Broadcasting the same signed bytes twice (after a crash) is not an error.
                if let Ok(Some(_)) = self.provider.get_transaction_by_hash(tx.tx_hash).await {
                    return Ok(());
                }
                // The nonce this transaction held is free again (or was taken by another
                // sender on the same account): forget our count so the next redemption asks
                // the node instead of leaving a gap that would stall every later one.
                self.forget_nonce();
                let err = alloy::contract::Error::TransportError(e);
                Err(call_err("eth_sendRawTransaction", &err))
            }
        }
    }

    async fn receipt(&self, tx_hash: B256) -> Result<Option<Receipt>, PmError> {
        let Some(r) = self
            .provider
            .get_transaction_receipt(tx_hash)
            .await
            .map_err(|e| chain_err("eth_getTransactionReceipt", e))?
        else {
            return Ok(None);
        };
        let block = r.block_number.unwrap_or_default();
        let success = r.status();
        let revert_reason = if success {
            None
        } else {
            self.revert_reason_of(tx_hash, block).await
        };
        Ok(Some(Receipt {
            block,
            success,
            revert_reason,
        }))
    }

    async fn account_nonce(&self) -> Result<Option<u64>, PmError> {
        self.provider
            .get_transaction_count(self.from)
            .latest()
            .await
            .map(Some)
            .map_err(|e| chain_err("eth_getTransactionCount", e))
    }
}
