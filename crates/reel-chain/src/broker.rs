//! The TicketBroker on a real chain: reel-pm's [`reel_pm::TicketBroker`] seam implemented
//! with alloy, through the Livepeer-compatible [`ITicketBroker`] interface.
//!
//! Redemptions are signed here and handed back before they are broadcast, so the
//! redemption queue can store the exact transaction (and its hash) first; broadcasting the
//! same bytes again after a crash is harmless. Their nonces come from the account's
//! [`TxSender`], shared with the round keeper, so the two never race for a nonce.

use crate::{
    ChainConfig, ChainError, SenderConfig, TxSender, connect,
    txsender::{Broadcast, SignedTx},
};
use alloy::{
    network::TransactionBuilder,
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
use tracing::debug;

/// Redemption gas: estimated per ticket, capped here. A redemption costs ~100–200k gas on
/// our broker; the cap keeps a misestimate from burning a face value's worth of gas.
const MAX_REDEEM_GAS: u64 = 1_500_000;

/// The chain-backed TicketBroker for one redeeming account (the orchestrator).
#[derive(Debug)]
pub struct ChainTicketBroker {
    provider: DynProvider,
    rpc_url: String,
    sender: TxSender,
    from: Address,
    contracts: Deployment,
    /// The lowest gas price we bid, in wei.
    min_gas_price: Wei,
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
    /// Connects as `signer` with a sender of its own, resolving the protocol's addresses
    /// from the Controller. A node shares its account's sender: [`Self::with_sender`].
    pub async fn connect(
        config: &ChainConfig,
        signer: PrivateKeySigner,
        min_gas_price: Wei,
    ) -> Result<Self, ChainError> {
        let sender = TxSender::new(
            &config.rpc_url,
            config.chain_id,
            signer,
            SenderConfig::default(),
        )?;
        Self::with_sender(config, sender, min_gas_price).await
    }

    /// Redeems through `sender`, the account's one sender in this process.
    pub async fn with_sender(
        config: &ChainConfig,
        sender: TxSender,
        min_gas_price: Wei,
    ) -> Result<Self, ChainError> {
        let contracts = config.resolve().await?;
        Ok(Self {
            provider: connect(&config.rpc_url)?,
            rpc_url: config.rpc_url.clone(),
            from: sender.address(),
            sender,
            contracts,
            min_gas_price,
        })
    }

    pub fn sender(&self) -> &TxSender {
        &self.sender
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
        let request = call.into_transaction_request().with_from(self.from);
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
        let gas_limit = gas
            .saturating_mul(12)
            .saturating_div(10)
            .min(MAX_REDEEM_GAS);
        let signed = self
            .sender
            .prepare(request, gas_limit, gas_price, replace)
            .await
            .map_err(|e| chain_err("sign redemption", e))?;
        debug!(target: "pm::redeem", ticket = %ticket.hash(), tx_hash = %signed.hash, nonce = signed.nonce, "redemption signed");
        Ok(PreparedTx {
            tx_hash: signed.hash,
            tx_nonce: signed.nonce,
            gas_price,
            raw: signed.raw,
        })
    }

    async fn broadcast(&self, tx: &PreparedTx) -> Result<(), PmError> {
        let signed = SignedTx {
            hash: tx.tx_hash,
            nonce: tx.tx_nonce,
            gas_price: tx.gas_price,
            raw: tx.raw.clone(),
        };
        // The same signed bytes twice (after a crash) are accepted. A refusal releases the
        // nonce in the sender: the next transaction of the account takes it, never leaving a
        // gap that would stall every later one.
        match self.sender.broadcast(&signed).await {
            Broadcast::Accepted => Ok(()),
            Broadcast::NonceUsed(message) => Err(chain_err("eth_sendRawTransaction", message)),
            Broadcast::Refused(e) => {
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
