//! The seam to the chain's TicketBroker: reel-pm's [`TicketBroker`] trait is generic
//! (`impl Future` methods), so the node keeps it type-erased behind [`BrokerHandle`]
//! (through [`DynBroker`]), built from any broker or from the chain client's
//! ([`BrokerHandle::chain`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use reel_chain::broker::ChainTicketBroker;
use reel_chain::watch::EventSource;
use reel_pm::broker::{ChainState, PreparedTx, Receipt, SenderInfo};
use reel_pm::{PmError, SignedTicket, TicketBroker};
use reel_types::Wei;

pub(super) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// reel-pm's [`TicketBroker`], object-safe.
pub trait DynBroker: Send + Sync {
    fn chain_state(&self) -> BoxFut<'_, Result<ChainState, PmError>>;
    fn sender_info(&self, sender: Address) -> BoxFut<'_, Result<SenderInfo, PmError>>;
    fn claimed_reserve(
        &self,
        holder: Address,
        claimant: Address,
    ) -> BoxFut<'_, Result<Wei, PmError>>;
    fn claimable_reserve(
        &self,
        holder: Address,
        claimant: Address,
    ) -> BoxFut<'_, Result<Wei, PmError>>;
    fn transcoder_pool_size(&self) -> BoxFut<'_, Result<u64, PmError>>;
    fn is_used_ticket(&self, hash: B256) -> BoxFut<'_, Result<bool, PmError>>;
    fn gas_price(&self) -> BoxFut<'_, Result<Wei, PmError>>;
    fn prepare_redeem(
        &self,
        ticket: SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> BoxFut<'_, Result<PreparedTx, PmError>>;
    fn broadcast(&self, tx: PreparedTx) -> BoxFut<'_, Result<(), PmError>>;
    fn receipt(&self, hash: B256) -> BoxFut<'_, Result<Option<Receipt>, PmError>>;
    fn account_nonce(&self) -> BoxFut<'_, Result<Option<u64>, PmError>>;
}

impl<T: TicketBroker> DynBroker for T {
    fn chain_state(&self) -> BoxFut<'_, Result<ChainState, PmError>> {
        Box::pin(TicketBroker::chain_state(self))
    }
    fn sender_info(&self, sender: Address) -> BoxFut<'_, Result<SenderInfo, PmError>> {
        Box::pin(TicketBroker::sender_info(self, sender))
    }
    fn claimed_reserve(
        &self,
        holder: Address,
        claimant: Address,
    ) -> BoxFut<'_, Result<Wei, PmError>> {
        Box::pin(TicketBroker::claimed_reserve(self, holder, claimant))
    }
    fn claimable_reserve(
        &self,
        holder: Address,
        claimant: Address,
    ) -> BoxFut<'_, Result<Wei, PmError>> {
        Box::pin(TicketBroker::claimable_reserve(self, holder, claimant))
    }
    fn transcoder_pool_size(&self) -> BoxFut<'_, Result<u64, PmError>> {
        Box::pin(TicketBroker::transcoder_pool_size(self))
    }
    fn is_used_ticket(&self, hash: B256) -> BoxFut<'_, Result<bool, PmError>> {
        Box::pin(TicketBroker::is_used_ticket(self, hash))
    }
    fn gas_price(&self) -> BoxFut<'_, Result<Wei, PmError>> {
        Box::pin(TicketBroker::gas_price(self))
    }
    fn prepare_redeem(
        &self,
        ticket: SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> BoxFut<'_, Result<PreparedTx, PmError>> {
        Box::pin(
            async move { TicketBroker::prepare_redeem(self, &ticket, gas_price, replace).await },
        )
    }
    fn broadcast(&self, tx: PreparedTx) -> BoxFut<'_, Result<(), PmError>> {
        Box::pin(async move { TicketBroker::broadcast(self, &tx).await })
    }
    fn receipt(&self, hash: B256) -> BoxFut<'_, Result<Option<Receipt>, PmError>> {
        Box::pin(TicketBroker::receipt(self, hash))
    }
    fn account_nonce(&self) -> BoxFut<'_, Result<Option<u64>, PmError>> {
        Box::pin(TicketBroker::account_nonce(self))
    }
}

/// A shared, type-erased TicketBroker: what the node roles take. Built from the chain
/// broker ([`BrokerHandle::chain`]) it also knows where the broker's events are, and the
/// orchestrator follows them
/// ([`OrchPayments::spawn_sender_watcher`](super::OrchPayments::spawn_sender_watcher)).
#[derive(Clone)]
pub struct BrokerHandle(
    Arc<dyn DynBroker>,
    Option<EventSource>,
    Option<reel_chain::TxSender>,
);

impl std::fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerHandle")
    }
}

impl BrokerHandle {
    /// Wraps any [`TicketBroker`] (the alloy one against the contract, or a model in tests).
    pub fn new<B: TicketBroker + 'static>(broker: B) -> Self {
        Self(Arc::new(broker), None, None)
    }

    /// The chain-backed TicketBroker, with its events to watch.
    pub fn chain(broker: ChainTicketBroker) -> Self {
        let events = broker.events();
        let sender = broker.sender().clone();
        Self(Arc::new(broker), Some(events), Some(sender))
    }

    /// The account's transaction sender, when the broker is on a chain.
    pub fn tx_sender(&self) -> Option<&reel_chain::TxSender> {
        self.2.as_ref()
    }

    /// Where the broker's events come from, when it is on a chain.
    pub fn events(&self) -> Option<&EventSource> {
        self.1.as_ref()
    }
}

impl TicketBroker for BrokerHandle {
    fn chain_state(&self) -> impl Future<Output = Result<ChainState, PmError>> + Send {
        self.0.chain_state()
    }
    fn sender_info(
        &self,
        sender: Address,
    ) -> impl Future<Output = Result<SenderInfo, PmError>> + Send {
        self.0.sender_info(sender)
    }
    fn claimed_reserve(
        &self,
        holder: Address,
        claimant: Address,
    ) -> impl Future<Output = Result<Wei, PmError>> + Send {
        self.0.claimed_reserve(holder, claimant)
    }
    fn claimable_reserve(
        &self,
        holder: Address,
        claimant: Address,
    ) -> impl Future<Output = Result<Wei, PmError>> + Send {
        self.0.claimable_reserve(holder, claimant)
    }
    fn transcoder_pool_size(&self) -> impl Future<Output = Result<u64, PmError>> + Send {
        self.0.transcoder_pool_size()
    }
    fn is_used_ticket(&self, hash: B256) -> impl Future<Output = Result<bool, PmError>> + Send {
        self.0.is_used_ticket(hash)
    }
    fn gas_price(&self) -> impl Future<Output = Result<Wei, PmError>> + Send {
        self.0.gas_price()
    }
    fn prepare_redeem(
        &self,
        ticket: &SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> impl Future<Output = Result<PreparedTx, PmError>> + Send {
        self.0.prepare_redeem(ticket.clone(), gas_price, replace)
    }
    fn broadcast(&self, tx: &PreparedTx) -> impl Future<Output = Result<(), PmError>> + Send {
        self.0.broadcast(tx.clone())
    }
    fn receipt(&self, hash: B256) -> impl Future<Output = Result<Option<Receipt>, PmError>> + Send {
        self.0.receipt(hash)
    }
    fn account_nonce(&self) -> impl Future<Output = Result<Option<u64>, PmError>> + Send {
        self.0.account_nonce()
    }
}
