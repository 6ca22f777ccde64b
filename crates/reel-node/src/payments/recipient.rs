//! The orchestrator's side ([`OrchPayments`]): the ticket store, ticket params issued to
//! gateways, payments received and credited (tickets stored before credit), balances
//! debited, and the store's health (probe, gauges, `/healthz`,
//! docs/faults.md#ticket-store-unavailable). Redemption is in `settlement.rs`.

use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use alloy_primitives::Address;
use reel_chain::watch::WatchStatus;
use reel_net::proto;
use reel_pm::broker::SenderInfo;
use reel_pm::{
    AccountKey, ChainView, PaymentBatch, PaymentOutcome, PmError, PricePerPixel, PricePerUnit,
    Recipient, RecipientConfig, RedeemerConfig, Scope, SenderMonitor, Store, StoreHealth,
    TicketParams,
};
use reel_types::Wei;

use super::broker::BrokerHandle;
use super::facts::{ChainFacts, read, write};
use crate::NodeError;
use crate::metrics::{Counter, Gauge, Registry};
use crate::tasks::Tasks;

/// The orchestrator's payments.
#[derive(Debug)]
pub struct OrchPayments {
    pub(super) recipient: Arc<Recipient>,
    pub(super) store: Arc<Store>,
    pub(super) monitor: Arc<SenderMonitor>,
    pub(super) broker: Option<BrokerHandle>,
    pub(super) facts: RwLock<Option<ChainFacts>>,
    /// Face value cap when the sender's reserve cannot be read (no broker).
    pub(super) unverified_max_float: Wei,
    pub(super) redeemer_cfg: RedeemerConfig,
    /// When each sender's deposit and reserve were last read from the chain.
    pub(super) refreshed: std::sync::Mutex<std::collections::HashMap<Address, std::time::Instant>>,
    /// `reel_ticket_store_*`, once registered by [`OrchPayments::spawn_store_probe`].
    store_metrics: OnceLock<StoreMetrics>,
    /// What the TicketBroker event watcher did, once spawned.
    pub(super) watch_status: OnceLock<tokio::sync::watch::Receiver<WatchStatus>>,
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
pub(super) const SENDER_REFRESH: Duration = Duration::from_secs(10);

/// How long a sender's last read goes on being used when the chain cannot be reached to
/// read it again (an RPC outage, a partition, a chain host restarting): long enough to
/// ride out a restart, short against the TicketBroker's unlock period (rounds), which a
/// sender must wait through before its deposit can leave.
pub(super) const SENDER_STALE_MAX: Duration = Duration::from_secs(300);

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
        // The store holds the ticket secret and unredeemed winners: this user's only.
        crate::util::private_dir(data_dir)?;
        crate::util::private_file(&data_dir.join(TICKET_DB))?;
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
    /// older than [`SENDER_REFRESH`]; when the chain cannot be reached, a copy read within
    /// [`SENDER_STALE_MAX`] stands in.
    pub(super) async fn fresh_sender(
        &self,
        broker: &BrokerHandle,
        sender: Address,
    ) -> Result<(), NodeError> {
        let age = self
            .refreshed
            .lock()
            .ok()
            .and_then(|m| m.get(&sender).map(std::time::Instant::elapsed));
        if age.is_none_or(|a| a > SENDER_REFRESH) {
            if let Err(e) = self.monitor.refresh(broker, sender).await {
                let cached = self.monitor.sender_info(sender).is_some();
                return match age {
                    Some(a) if cached && a <= SENDER_STALE_MAX => {
                        tracing::warn!(target: "node::payments", %sender, error = %e, age_s = a.as_secs(), "cannot read the sender from the chain: going on with its last read");
                        Ok(())
                    }
                    _ => Err(e.into()),
                };
            }
            if let Ok(mut m) = self.refreshed.lock() {
                if m.len() > 10_000 {
                    m.retain(|_, t| t.elapsed() <= SENDER_STALE_MAX);
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
}
