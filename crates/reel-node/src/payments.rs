//! Payments in the node roles: reel-pm's [`Recipient`] and [`Redeemer`] on the
//! orchestrator, its [`Sender`] and credit [`Balances`] on the gateway, and the seam to the
//! chain's TicketBroker.
//!
//! **Where the chain-backed TicketBroker plugs in.** reel-pm's [`TicketBroker`] trait is
//! generic (`impl Future` methods), so the node keeps a type-erased [`BrokerHandle`]:
//! `BrokerHandle::new(any TicketBroker)` — the binary builds it with [`BrokerHandle::chain`]
//! from `reel_chain::broker::ChainTicketBroker` (in `cmd/node_common.rs`, `chain_broker`). Pass
//! it to [`OrchPayments::open`] (sender state and max float from the chain, kept fresh by the
//! TicketBroker event watcher with rollback handling, winning tickets redeemed by the
//! [`Redeemer`]) and to [`GatewayPayments::new`] (the gateway's own deposit
//! and reserve). With `None` (a chain without a TicketBroker) payments run **unverified**:
//! tickets are issued, signed, validated, stored and credited exactly as with a broker, but
//! the sender's deposit/reserve are not read from the chain (the orchestrator caps face
//! values at a configured max float instead) and winning tickets stay in the store,
//! unredeemed, until a node with a broker starts on the same data directory (its
//! [`Redeemer::recover`] picks them up).
//!
//! **When the ticket store cannot write** (docs/faults.md#ticket-store-unavailable: disk full,
//! database locked, I/O error) [`OrchPayments::receive`] fails with `PmError::StoreUnavailable`:
//! nothing is credited and the nonces are released, so the same payment can be sent again. The
//! store remembers the failure until a write succeeds; [`OrchPayments::spawn_store_probe`] tries
//! one every [`STORE_PROBE_EVERY`] and keeps `reel_ticket_store_healthy` current, and
//! [`OrchPayments::health_json`] is what `/healthz` and `/status` show.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use crate::NodeError;
use crate::metrics::{Counter, Gauge, Registry};
use crate::tasks::Tasks;
use alloy_primitives::{Address, B256, U256};
use reel_chain::broker::ChainTicketBroker;
use reel_chain::watch::{BrokerWatcher, EventSource, WatchConfig, WatchStatus};
use reel_net::{EthSigner, proto};
use reel_pm::broker::{ChainState, PreparedTx, Receipt, SenderInfo};
use reel_pm::ticket::ExpirationParams;
use reel_pm::{
    AccountKey, Balances, ChainView, PaymentBatch, PaymentOutcome, PmError, PricePerPixel,
    PricePerUnit, Recipient, RecipientConfig, Redeemer, RedeemerConfig, Scope, Sender,
    SenderChainView, SenderConfig, SenderMonitor, SignedTicket, Store, StoreHealth, TicketBroker,
    TicketParams,
};
use reel_types::Wei;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
/// orchestrator follows them ([`OrchPayments::spawn_sender_watcher`]).
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

/// What the payment code needs to know of the chain, refreshed by a poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainFacts {
    /// Newest (L1) block.
    pub block: u64,
    /// Last initialised round.
    pub round: u64,
    /// Round and block hash new ticket params carry.
    pub expiration: ExpirationParams,
    /// Current gas price.
    pub gas_price: Wei,
}

/// Where chain facts come from (the chain client; tests use fixed values).
pub trait FactsSource: Send + Sync {
    fn facts(&self) -> BoxFut<'_, Result<ChainFacts, NodeError>>;
}

/// Keeps `target` fresh: polls `source` every `every` (the task `chain-facts`).
pub fn spawn_facts_poller(
    tasks: &Tasks,
    source: Arc<dyn FactsSource>,
    every: Duration,
    on_update: impl FnMut(ChainFacts) + Send + 'static,
) {
    let on_update = Arc::new(std::sync::Mutex::new(on_update));
    tasks.spawn_periodic("chain-facts", every, move || {
        let source = Arc::clone(&source);
        let on_update = Arc::clone(&on_update);
        async move {
            let f = source.facts().await?;
            if let Ok(mut update) = on_update.lock() {
                update(f);
            }
            Ok::<(), NodeError>(())
        }
    });
}

/// Floating wei for metrics only.
pub fn wei_f64(w: Wei) -> f64 {
    let v = w.base_units();
    let limbs = v.as_limbs();
    limbs
        .iter()
        .rev()
        .fold(0.0, |acc, l| acc * 18_446_744_073_709_551_616.0 + *l as f64)
}

fn read<T: Copy>(lock: &RwLock<Option<T>>) -> Option<T> {
    *lock
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<Option<T>>, v: T) {
    *lock
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(v);
}

/// The orchestrator's payments.
#[derive(Debug)]
pub struct OrchPayments {
    recipient: Arc<Recipient>,
    store: Arc<Store>,
    monitor: Arc<SenderMonitor>,
    broker: Option<BrokerHandle>,
    facts: RwLock<Option<ChainFacts>>,
    /// Face value cap when the sender's reserve cannot be read (no broker).
    unverified_max_float: Wei,
    redeemer_cfg: RedeemerConfig,
    /// When each sender's deposit and reserve were last read from the chain.
    refreshed: std::sync::Mutex<std::collections::HashMap<Address, std::time::Instant>>,
    /// `reel_ticket_store_*`, once registered by [`OrchPayments::spawn_store_probe`].
    store_metrics: OnceLock<StoreMetrics>,
    /// What the TicketBroker event watcher did, once spawned.
    watch_status: OnceLock<tokio::sync::watch::Receiver<WatchStatus>>,
}

/// The ticket store's health as Prometheus sees it.
#[derive(Debug)]
struct StoreMetrics {
    healthy: Arc<Gauge>,
    failed_writes: Arc<Counter>,
    /// Serialises the counter's catch-up with the store's count.
    sync: std::sync::Mutex<()>,
}

/// How often the orchestrator checks that its ticket store takes writes (see
/// docs/faults.md#ticket-store-unavailable): a red health check turns green again within this once
/// the disk has room or the lock is gone, even if no payment comes.
pub const STORE_PROBE_EVERY: Duration = Duration::from_secs(5);

/// How long a sender's deposit and reserve are trusted before they are read again. With a
/// chain broker the TicketBroker watcher re-reads a sender on each of its events (within a
/// block); this is the fallback for what events do not cover (a new round resetting the
/// reserve's claims, a watcher behind an RPC outage).
const SENDER_REFRESH: Duration = Duration::from_secs(10);

/// Name of the ticket database in the data directory.
pub const TICKET_DB: &str = "tickets.sqlite3";

impl OrchPayments {
    /// Opens the ticket store in `data_dir` and sets up the recipient for `address`.
    /// `broker` is the chain-backed TicketBroker (see the module documentation); with `None`
    /// face values are capped at `unverified_max_float` and nothing is redeemed.
    pub fn open(
        data_dir: &Path,
        address: Address,
        cfg: RecipientConfig,
        broker: Option<BrokerHandle>,
        unverified_max_float: Wei,
        redeemer_cfg: RedeemerConfig,
    ) -> Result<Self, NodeError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| NodeError::io(format!("creating {}", data_dir.display()), e))?;
        #[cfg(feature = "test-hooks")]
        if let Some((name, hit)) = reel_pm::failpoint::check() {
            tracing::warn!(target: "node::payments", failpoint = name, hit,
                "{} is set: this process aborts at that point of the ticket path (crash tests only)",
                reel_pm::failpoint::ENV);
        }
        let store = Arc::new(Store::open(&data_dir.join(TICKET_DB))?);
        let recipient = Arc::new(Recipient::new(address, Arc::clone(&store), cfg, 0)?);
        Ok(Self {
            recipient,
            store,
            monitor: Arc::new(SenderMonitor::new(address, 1)),
            broker,
            facts: RwLock::new(None),
            unverified_max_float,
            redeemer_cfg,
            refreshed: std::sync::Mutex::default(),
            store_metrics: OnceLock::new(),
            watch_status: OnceLock::new(),
        })
    }

    /// The ticket store (tests of docs/faults.md#ticket-store-unavailable use its knobs).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Whether the ticket store took its last write; also refreshes the gauges.
    pub fn store_health(&self) -> StoreHealth {
        let h = self.store.health();
        if let Some(m) = self.store_metrics.get() {
            let _sync = m
                .sync
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            m.healthy.set(i64::from(h.is_healthy()));
            // The counter follows the store's own count (both only grow).
            m.failed_writes
                .add(h.failed_writes.saturating_sub(m.failed_writes.get()));
        }
        h
    }

    /// Probes the ticket store now (see [`Store::probe`]) and returns its health.
    pub async fn probe_store(&self) -> StoreHealth {
        let store = Arc::clone(&self.store);
        let now = u64::try_from(crate::util::unix_now()).unwrap_or(0);
        match tokio::task::spawn_blocking(move || store.probe(now)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(target: "node::payments", error = %e, "ticket store probe failed: payments are refused until it passes");
            }
            Err(e) => {
                tracing::warn!(target: "node::payments", error = %e, "ticket store probe task failed");
            }
        }
        self.store_health()
    }

    /// The health document of `/healthz` (and `ticketStore` in `/status`): `(healthy, json)`.
    pub fn health_json(&self) -> (bool, serde_json::Value) {
        let h = self.store_health();
        let store = match &h.failure {
            None => serde_json::json!({
                "healthy": true,
                "lastOkWrite": h.last_ok_write,
                "failedWrites": h.failed_writes,
            }),
            Some(f) => serde_json::json!({
                "healthy": false,
                "fault": f.fault.label(),
                "op": f.op,
                "error": f.reason,
                "since": f.at,
                "lastOkWrite": h.last_ok_write,
                "failedWrites": h.failed_writes,
            }),
        };
        let mut doc = serde_json::json!({ "healthy": h.is_healthy(), "ticketStore": store });
        if let (Some(f), Some(obj)) = (&h.failure, doc.as_object_mut()) {
            obj.insert(
                "reason".into(),
                serde_json::Value::String(format!(
                    "ticket store unavailable ({}) during {}: {}; payments are refused until \
                     a write succeeds",
                    f.fault, f.op, f.reason
                )),
            );
        }
        (h.is_healthy(), doc)
    }

    /// Registers `reel_ticket_store_healthy` and `reel_ticket_store_failed_writes_total` and
    /// probes the store every `every` (the task `ticket-store-probe`).
    pub fn spawn_store_probe(
        self: &Arc<Self>,
        tasks: &Tasks,
        registry: &Registry,
        every: Duration,
    ) {
        let _ = self.store_metrics.set(StoreMetrics {
            healthy: registry.gauge(
                "reel_ticket_store_healthy",
                "1 when the ticket store took its last write, 0 while payments are refused",
            ),
            failed_writes: registry.counter(
                "reel_ticket_store_failed_writes_total",
                "Ticket store writes refused (disk full, locked, I/O error)",
            ),
            sync: std::sync::Mutex::new(()),
        });
        self.store_health();
        let this = Arc::clone(self);
        tasks.spawn_periodic("ticket-store-probe", every, move || {
            let this = Arc::clone(&this);
            async move {
                let was = this.store.health().is_healthy();
                let now = this.probe_store().await;
                if now.is_healthy() && !was {
                    tracing::info!(target: "node::payments", "ticket store takes writes again: payments accepted");
                }
                match now.failure {
                    None => Ok(()),
                    Some(f) => Err(format!("ticket store unavailable ({}): {}", f.fault, f.reason)),
                }
            }
        });
    }

    /// Reads a sender's deposit and reserve (and our claims on it) when the cached copy is
    /// older than [`SENDER_REFRESH`].
    async fn fresh_sender(&self, broker: &BrokerHandle, sender: Address) -> Result<(), NodeError> {
        let stale = self
            .refreshed
            .lock()
            .map(|m| m.get(&sender).is_none_or(|t| t.elapsed() > SENDER_REFRESH))
            .unwrap_or(true);
        if stale {
            self.monitor.refresh(broker, sender).await?;
            if let Ok(mut m) = self.refreshed.lock() {
                if m.len() > 10_000 {
                    m.retain(|_, t| t.elapsed() <= SENDER_REFRESH);
                }
                m.insert(sender, std::time::Instant::now());
            }
        }
        Ok(())
    }

    /// Reads the active pool size (the reserve is split among that many orchestrators).
    pub async fn refresh_pool(&self) -> Result<(), NodeError> {
        if let Some(b) = &self.broker {
            self.monitor.refresh_pool_size(b).await?;
        }
        Ok(())
    }

    /// A sender's deposit, reserve and withdraw round as last read from the chain.
    pub fn cached_sender(&self, sender: Address) -> Option<SenderInfo> {
        self.monitor.sender_info(sender)
    }

    /// Whether winning tickets are redeemed (a broker is present).
    pub fn redeems(&self) -> bool {
        self.broker.is_some()
    }

    pub fn set_facts(&self, f: ChainFacts) {
        let old = read(&self.facts);
        write(&self.facts, f);
        if old.is_none_or(|o| o.block != f.block)
            && let Err(e) = self.recipient.prune(f.block)
        {
            tracing::warn!(target: "node::payments", error = %e, "pruning nonces failed");
        }
    }

    fn facts(&self) -> Result<ChainFacts, NodeError> {
        read(&self.facts).ok_or_else(|| NodeError::Timeout {
            what: "the first chain facts (block, round)".into(),
            after: Duration::ZERO,
        })
    }

    fn view(f: &ChainFacts) -> ChainView {
        ChainView {
            last_block: f.block,
            current_round: f.round,
            expiration: f.expiration,
            gas_price: f.gas_price,
        }
    }

    /// Ticket params for a gateway at a price.
    pub async fn issue_params(
        &self,
        gateway: Address,
        price: PricePerPixel,
    ) -> Result<TicketParams, NodeError> {
        let f = self.facts()?;
        let max_float = match &self.broker {
            Some(b) => {
                self.fresh_sender(b, gateway).await?;
                self.monitor.max_float(gateway)?
            }
            None => self.unverified_max_float,
        };
        Ok(self
            .recipient
            .issue_params(gateway, price, max_float, &Self::view(&f))?)
    }

    /// Validates and credits a payment; every winning ticket is committed to the store
    /// before anything is credited. Blocking work (fsync, ecrecover) runs off the runtime.
    /// The account is `scope`'s with `gateway`, pinned to `price` on its first credit.
    pub async fn receive(
        &self,
        payment: &proto::Payment,
        gateway: Address,
        scope: &Scope,
        price: PricePerUnit,
    ) -> Result<PaymentOutcome, NodeError> {
        let f = self.facts()?;
        let batch =
            PaymentBatch::from_proto(payment, self.recipient.config().max_tickets_per_payment)?;
        if batch.sender != gateway {
            return Err(NodeError::Pm(PmError::Malformed {
                field: "Payment.sender",
                reason: format!("{} is not the session's gateway {gateway}", batch.sender),
            }));
        }
        let info = match &self.broker {
            Some(b) => {
                self.fresh_sender(b, batch.sender).await?;
                self.monitor.sender_info(batch.sender).unwrap_or_default()
            }
            None => SenderInfo::default(),
        };
        let recipient = Arc::clone(&self.recipient);
        let scope = scope.clone();
        let view = Self::view(&f);
        let r = tokio::task::spawn_blocking(move || {
            recipient.receive_payment_priced(&batch, &scope, price, &view, &info)
        })
        .await
        .map_err(|_| NodeError::Config("the payment task panicked".into()))?
        .map_err(NodeError::Pm);
        self.store_health();
        r
    }

    /// Whether the account's credit covers `need` (and at least one ticket's EV).
    pub fn sufficient_balance(&self, key: &AccountKey, price: &PricePerUnit, need: Wei) -> bool {
        self.recipient.sufficient_balance(key, price, need)
    }

    pub fn debit(
        &self,
        key: &AccountKey,
        units: u64,
        price: PricePerUnit,
    ) -> Result<(), NodeError> {
        Ok(self.recipient.debit(key, units, price)?)
    }

    /// The `(balance, negative)` of an account, in wei.
    pub fn balance(&self, key: &AccountKey) -> (Wei, bool) {
        self.recipient.balances().balance(key)
    }

    /// Σ face value of the tickets redeemed so far.
    pub fn redeemed_value(&self) -> Result<Wei, NodeError> {
        let mut sum = Wei::ZERO;
        for t in self.store.all()? {
            if t.state == reel_pm::TicketState::Redeemed {
                sum = sum
                    .checked_add(t.signed.ticket.face_value)
                    .map_err(PmError::from)?;
            }
        }
        Ok(sum)
    }

    /// Every stored winning ticket (for tests and the status page).
    pub fn tickets(&self) -> Result<Vec<reel_pm::StoredTicket>, NodeError> {
        Ok(self.store.all()?)
    }

    /// Ticket counts by state.
    pub fn counts(&self) -> Result<reel_pm::StateCounts, NodeError> {
        Ok(self.store.counts()?)
    }

    pub fn status(&self) -> serde_json::Value {
        let counts = self.store.counts().ok();
        let (_, health) = self.health_json();
        serde_json::json!({
            "ticketStore": health.get("ticketStore"),
            "redemption": if self.redeems() { "on" } else { "off: no TicketBroker (tickets are kept)" },
            "txSender": self.broker.as_ref().and_then(BrokerHandle::tx_sender).map(|s| {
                serde_json::json!({ "address": s.address(), "stats": s.stats() })
            }),
            "senderWatch": self.watch_status.get().map(|rx| {
                let s = *rx.borrow();
                serde_json::json!({
                    "lastBlock": s.last_block, "events": s.events, "refreshes": s.refreshes,
                    "rollbacks": s.rollbacks, "removed": s.removed, "errors": s.errors,
                })
            }),
            "facts": read(&self.facts).map(|f| serde_json::json!({
                "block": f.block, "round": f.round, "gasPrice": f.gas_price.to_string(),
            })),
            "winningTickets": counts.map(|c| serde_json::json!({
                "pending": c.pending, "submitted": c.submitted, "redeemed": c.redeemed,
                "used": c.used, "expired": c.expired, "invalid": c.invalid,
            })),
        })
    }

    /// With a chain broker: follows the TicketBroker's events, re-reading a watched sender
    /// (one we hold tickets or credit from) as soon as an event names it, and every watched
    /// sender after a chain rollback (`reel_chain::watch`).
    pub fn spawn_sender_watcher(self: &Arc<Self>, tasks: &Tasks, config: WatchConfig) {
        let Some(broker) = self.broker.clone() else {
            return;
        };
        let Some(source) = broker.events().cloned() else {
            tracing::debug!(target: "node::payments", "the TicketBroker has no event source: sender state is re-read every {SENDER_REFRESH:?}");
            return;
        };
        let watcher = BrokerWatcher::new(source, broker, Arc::clone(&self.monitor), config);
        let _ = self.watch_status.set(watcher.subscribe());
        // Cancelled by the node's shutdown at any await; it rides out RPC errors itself
        // (back-off) and counts them in its status.
        tasks.spawn("ticket-broker-watch", watcher.run(std::future::pending()));
    }

    /// With a broker: recovers in-flight redemptions, then redeems on every new block.
    pub fn spawn_redeemer(
        self: &Arc<Self>,
        tasks: &Tasks,
        on_tick: impl Fn(&reel_pm::TickReport) + Send + 'static,
    ) {
        let Some(broker) = self.broker.clone() else {
            tracing::warn!(target: "node::payments", "no TicketBroker: winning tickets are stored but not redeemed");
            return;
        };
        let redeemer = Redeemer::new(
            Arc::clone(&self.store),
            Arc::new(broker),
            Arc::clone(&self.monitor),
            self.recipient.address(),
            self.redeemer_cfg.clone(),
        );
        let this = Arc::clone(self);
        let health = Arc::clone(tasks.health());
        health.declare("redeemer");
        tasks.spawn("redeemer", async move {
            if let Err(e) = this.refresh_pool().await {
                tracing::warn!(target: "node::payments", error = %e, "reading the pool size failed");
            }
            let recovered = redeemer.recover().await.map(drop);
            if let Err(e) = &recovered {
                tracing::warn!(target: "node::payments", error = %e, "redemption recovery failed; the next pass retries");
            }
            health.record("redeemer", &recovered);
            let mut last_block = 0;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let block = read(&this.facts).map_or(0, |f| f.block);
                if block == last_block {
                    continue;
                }
                last_block = block;
                if let Err(e) = this.refresh_pool().await {
                    tracing::debug!(target: "node::payments", error = %e, "reading the pool size failed");
                }
                let now = u64::try_from(crate::util::unix_now()).unwrap_or(0);
                let outcome = match redeemer.tick(now).await {
                    Ok(report) => {
                        on_tick(&report);
                        if report.errors == 0 {
                            Ok(())
                        } else {
                            Err(format!(
                                "{} redemption step(s) failed in the last pass (see the log)",
                                report.errors
                            ))
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target: "node::payments", error = %e, "redemption pass failed");
                        Err(e.to_string())
                    }
                };
                health.record("redeemer", &outcome);
            }
        });
    }
}

/// The gateway's payments: one ticket sender, credit per (orchestrator, session).
#[derive(Debug)]
pub struct GatewayPayments {
    sender: Sender,
    balances: Balances,
    broker: Option<BrokerHandle>,
    facts: RwLock<Option<ChainFacts>>,
    own: RwLock<Option<SenderInfo>>,
}

/// What paying for one segment takes.
#[derive(Debug, Clone)]
pub struct SegmentPayment {
    pub payment: proto::Payment,
    pub tickets: u32,
    /// EV of the tickets sent.
    pub value: Wei,
}

impl GatewayPayments {
    /// A sender for `signer`. `broker` reads this gateway's deposit and reserve; with `None`
    /// they are taken as `assumed` (unverified mode, see the module documentation).
    pub fn new(
        signer: EthSigner,
        cfg: SenderConfig,
        broker: Option<BrokerHandle>,
        assumed: SenderInfo,
    ) -> Self {
        Self {
            sender: Sender::new(signer, cfg),
            balances: Balances::default(),
            own: RwLock::new(if broker.is_none() {
                Some(assumed)
            } else {
                None
            }),
            broker,
            facts: RwLock::new(None),
        }
    }

    pub fn address(&self) -> Address {
        self.sender.address()
    }

    pub fn set_facts(&self, f: ChainFacts) {
        write(&self.facts, f);
        self.sender.prune(f.block);
    }

    /// Re-reads this gateway's own deposit and reserve (with a broker).
    pub async fn refresh_own(&self) -> Result<(), NodeError> {
        if let Some(b) = &self.broker {
            let info = TicketBroker::sender_info(b, self.address()).await?;
            write(&self.own, info);
        }
        Ok(())
    }

    /// Re-reads this gateway's deposit and reserve every `every` (with a broker).
    pub fn spawn_own_refresh(self: &Arc<Self>, tasks: &Tasks, every: Duration) {
        if self.broker.is_none() {
            return;
        }
        let this = Arc::clone(self);
        tasks.spawn_periodic("own-deposit", every, move || {
            let this = Arc::clone(&this);
            async move { this.refresh_own().await }
        });
    }

    fn view(&self) -> Result<SenderChainView, NodeError> {
        let f = read(&self.facts).ok_or_else(|| NodeError::Timeout {
            what: "the first chain facts (block, round)".into(),
            after: Duration::ZERO,
        })?;
        let own = read(&self.own).ok_or_else(|| NodeError::Timeout {
            what: "this gateway's deposit and reserve".into(),
            after: Duration::ZERO,
        })?;
        Ok(SenderChainView {
            last_block: f.block,
            current_round: f.round,
            own,
            gas_price: f.gas_price,
        })
    }

    /// Checks an orchestrator's params before using them (see
    /// docs/compatibility.md#the-gateways-checks-of-ticket-params).
    pub fn validate(&self, params: &TicketParams) -> Result<(), NodeError> {
        self.sender.validate_params(params, 1, &self.view()?)?;
        Ok(())
    }

    /// The payment to send with a segment whose fee is estimated at `fee`: enough tickets
    /// to bring the session's credit to max(fee, EV). `None` when the credit already
    /// covers it.
    pub fn pay(
        &self,
        orch: Address,
        scope: &Scope,
        params: &TicketParams,
        fee: Wei,
    ) -> Result<Option<SegmentPayment>, NodeError> {
        let ev = params.ev();
        let key = scope.account(orch);
        let min_credit = if fee > ev { fee } else { ev };
        let n = self.balances.tickets_needed(&key, min_credit, ev)?;
        if n == 0 {
            return Ok(None);
        }
        let n = u32::try_from(n).map_err(|_| PmError::Overflow {
            what: "ticket count",
        })?;
        let view = self.view()?;
        let id = self.sender.start_session(*params);
        let payment = self.sender.create_payment(&id, n, &view)?;
        let value = ev.checked_mul(U256::from(n)).map_err(PmError::from)?;
        Ok(Some(SegmentPayment {
            payment,
            tickets: n,
            value,
        }))
    }

    /// The orchestrator accepted the upload: the tickets count as credit.
    pub fn credit(
        &self,
        orch: Address,
        scope: &Scope,
        value: Wei,
        price: PricePerUnit,
    ) -> Result<(), NodeError> {
        self.balances.credit(
            &scope.account(orch),
            value,
            price,
            std::time::Instant::now(),
        )?;
        Ok(())
    }

    /// The orchestrator reported `units` of work: debit them at the account's price.
    pub fn debit(
        &self,
        orch: Address,
        scope: &Scope,
        units: u64,
        price: PricePerUnit,
    ) -> Result<(), NodeError> {
        self.balances.debit_units(
            &scope.account(orch),
            units,
            price,
            std::time::Instant::now(),
        )?;
        Ok(())
    }

    /// `(magnitude, negative)` of an account's credit.
    pub fn balance(&self, orch: Address, scope: &Scope) -> (Wei, bool) {
        self.balances.balance(&scope.account(orch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wei_as_float() {
        assert_eq!(wei_f64(Wei::from_whole(1)), 1e18);
        assert_eq!(wei_f64(Wei::ZERO), 0.0);
        let big = Wei::from_base_units(U256::from(u64::MAX) + U256::from(1u64));
        assert_eq!(wei_f64(big), 18_446_744_073_709_551_616.0);
    }
}
