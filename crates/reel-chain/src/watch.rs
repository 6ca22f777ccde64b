//! The TicketBroker event watcher (see docs/compatibility.md#max-float-and-the-sender-watch,
//! docs/faults.md#third-party-unlock-cancels-and-forced-delegation,
//! #rpc-outages-and-chain-reorganisations): keeps the orchestrator's cached sender state
//! ([`SenderMonitor`]) fresh from the broker's events instead of a timer.
//!
//! Every poll it asks the node for the head, fetches the headers of the new blocks (at most
//! [`WatchConfig::max_range`] per pass) checking that each one's parent is the block before,
//! then `eth_getLogs` for the TicketBroker over that range. Each event that names a sender
//! the monitor tracks (deposit or reserve funded, reserve claimed, unlock, unlock cancelled,
//! withdrawal, winning ticket redeemed) makes it re-read that sender right away, so a top-up,
//! unlock or withdrawal is seen within a block. Other senders' events cost no reads.
//!
//! **Rollbacks.** The hashes of the last [`WatchConfig::history`] processed blocks are kept.
//! When a new block's parent is not the block we processed, or the block we processed is gone
//! or has another hash, the watcher walks back to the newest block whose hash still matches
//! (the fork point), logs the events of the dropped blocks as removed (go-livepeer's
//! blockwatch "Removed" events), re-reads every tracked sender and goes on from the fork point.
//! Logs the node marks `removed: true` are handled the same way. A rollback deeper than the
//! history re-reads everything and restarts from the head.
//!
//! **Outages.** RPC errors are logged and retried with a doubling back-off (capped at
//! [`WatchConfig::max_backoff`]); the watcher resumes from the last block it processed.

use crate::{ChainError, broker::ChainTicketBroker};
use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
    providers::{DynProvider, Provider},
    rpc::types::{Filter, Log},
    sol_types::SolEventInterface,
};
use reel_contracts::livepeer::ITicketBroker::ITicketBrokerEvents;
use reel_pm::{SenderMonitor, TicketBroker};
use std::{
    collections::{BTreeSet, VecDeque},
    sync::Arc,
    time::Duration,
};
use tokio::sync::watch;
use tracing::{debug, info, warn};

const TARGET: &str = "chain::watch";

/// Where the broker's events come from: an RPC endpoint and the TicketBroker's address.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub provider: DynProvider,
    pub rpc_url: String,
    pub ticket_broker: Address,
}

impl ChainTicketBroker {
    /// The endpoint and address to watch this broker's events on.
    pub fn events(&self) -> EventSource {
        EventSource {
            provider: self.provider().clone(),
            rpc_url: self.rpc_url().to_owned(),
            ticket_broker: self.ticket_broker_address(),
        }
    }
}

/// How the watcher polls.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// How often to ask for new blocks when caught up.
    pub poll: Duration,
    /// Most blocks fetched (headers and logs) in one pass; a watcher behind catches up in
    /// passes of this size without waiting for the poll.
    pub max_range: u64,
    /// How many processed blocks are remembered for rollback detection.
    pub history: usize,
    /// The longest wait between retries while the RPC endpoint fails.
    pub max_backoff: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            max_range: 100,
            history: 64,
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// A decoded TicketBroker event that names a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderEvent {
    pub block: u64,
    pub tx: Option<B256>,
    /// The event's name (`DepositFunded`, `Unlock`, ...).
    pub event: &'static str,
    /// The sender (reserve holder) it concerns.
    pub sender: Address,
}

/// A processed block, remembered for rollback detection.
#[derive(Debug, Clone)]
struct SeenBlock {
    number: u64,
    hash: B256,
    events: Vec<SenderEvent>,
}

/// What the watcher has done so far (published on a `watch` channel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchStatus {
    /// The newest block processed, once started.
    pub last_block: Option<u64>,
    /// TicketBroker events seen (watched senders or not).
    pub events: u64,
    /// Sender re-reads the events and rollbacks caused.
    pub refreshes: u64,
    /// Rollbacks detected.
    pub rollbacks: u64,
    /// Events dropped by rollbacks or reported removed by the node.
    pub removed: u64,
    /// Failed passes (RPC errors).
    pub errors: u64,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Blocks processed in this pass (`None` when there was nothing new).
    pub range: Option<(u64, u64)>,
    /// The fork point, when a rollback was detected.
    pub rolled_back_to: Option<u64>,
    /// Senders re-read.
    pub refreshed: Vec<Address>,
    /// Whether the head was reached (otherwise the next pass runs at once).
    pub caught_up: bool,
}

/// The TicketBroker event watcher for one orchestrator's [`SenderMonitor`].
#[derive(Debug)]
pub struct BrokerWatcher<B> {
    source: EventSource,
    broker: B,
    monitor: Arc<SenderMonitor>,
    config: WatchConfig,
    recent: VecDeque<SeenBlock>,
    /// Senders whose re-read failed: retried on the next pass.
    stale: BTreeSet<Address>,
    status: watch::Sender<WatchStatus>,
}

impl<B: TicketBroker> BrokerWatcher<B> {
    /// A watcher that re-reads senders through `broker` into `monitor`.
    pub fn new(
        source: EventSource,
        broker: B,
        monitor: Arc<SenderMonitor>,
        config: WatchConfig,
    ) -> Self {
        Self {
            source,
            broker,
            monitor,
            config,
            recent: VecDeque::new(),
            stale: BTreeSet::new(),
            status: watch::Sender::new(WatchStatus::default()),
        }
    }

    /// Follows what the watcher does.
    pub fn subscribe(&self) -> watch::Receiver<WatchStatus> {
        self.status.subscribe()
    }

    fn rpc(&self, method: &'static str, e: alloy::transports::TransportError) -> ChainError {
        ChainError::rpc(method, &self.source.rpc_url, e)
    }

    async fn head(&self) -> Result<u64, ChainError> {
        self.source
            .provider
            .get_block_number()
            .await
            .map_err(|e| self.rpc("eth_blockNumber", e))
    }

    /// `(hash, parent hash)` of block `n`, `None` if the chain does not have it.
    async fn header(&self, n: u64) -> Result<Option<(B256, B256)>, ChainError> {
        let block = self
            .source
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .map_err(|e| self.rpc("eth_getBlockByNumber", e))?;
        Ok(block.map(|b| (b.header.hash, b.header.parent_hash)))
    }

    async fn logs(&self, from: u64, to: u64) -> Result<Vec<Log>, ChainError> {
        let filter = Filter::new()
            .address(self.source.ticket_broker)
            .from_block(from)
            .to_block(to);
        self.source
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| self.rpc("eth_getLogs", e))
    }

    fn remember(&mut self, block: SeenBlock) {
        self.recent.push_back(block);
        while self.recent.len() > self.config.history.max(1) {
            self.recent.pop_front();
        }
    }

    /// One pass: detects rollbacks, processes new blocks' events, re-reads senders.
    pub async fn pass(&mut self) -> Result<Pass, ChainError> {
        let mut pass = Pass::default();
        let head = self.head().await?;
        let Some(last) = self.recent.back().cloned() else {
            // First pass: start at the head. Senders are read when first seen, so nothing
            // before now is needed.
            if let Some((hash, _)) = self.header(head).await? {
                self.remember(SeenBlock {
                    number: head,
                    hash,
                    events: Vec::new(),
                });
                info!(target: TARGET, block = head, broker = %self.source.ticket_broker, "watching TicketBroker events");
            }
            pass.caught_up = true;
            self.finish(&mut pass).await;
            return Ok(pass);
        };
        if head <= last.number {
            // Nothing new; but the chain may have gone back or replaced our newest block.
            let current = self.header(last.number).await?;
            if current.is_none_or(|(hash, _)| hash != last.hash) {
                self.roll_back(&mut pass).await?;
            }
            pass.caught_up = true;
            self.finish(&mut pass).await;
            return Ok(pass);
        }
        let from = last.number.saturating_add(1);
        let to = head.min(last.number.saturating_add(self.config.max_range.max(1)));
        let mut headers = Vec::new();
        let mut parent = last.hash;
        for n in from..=to {
            let Some((hash, parent_hash)) = self.header(n).await? else {
                // The head moved back while we read: look again next pass.
                break;
            };
            if parent_hash != parent {
                if n == from {
                    self.roll_back(&mut pass).await?;
                } else {
                    debug!(target: TARGET, block = n, "chain changed while reading headers; reading again");
                }
                self.finish(&mut pass).await;
                return Ok(pass);
            }
            parent = hash;
            headers.push((n, hash));
        }
        let Some(&(to, _)) = headers.last() else {
            self.finish(&mut pass).await;
            return Ok(pass);
        };
        let logs = self.logs(from, to).await?;
        let mut events: Vec<SenderEvent> = Vec::new();
        let mut removed = Vec::new();
        for log in &logs {
            let Some(ev) = decode(log) else { continue };
            let expected = headers
                .iter()
                .find(|(n, _)| *n == ev.block)
                .map(|(_, h)| *h);
            if log.removed {
                removed.push(ev);
            } else if log.block_hash.is_some() && log.block_hash != expected {
                // The logs come from another fork than the headers: the chain moved under
                // us. Process nothing; the next pass sees the new chain.
                debug!(target: TARGET, block = ev.block, "log from another fork; reading again");
                self.finish(&mut pass).await;
                return Ok(pass);
            } else {
                events.push(ev);
            }
        }
        let mut to_refresh: BTreeSet<Address> = BTreeSet::new();
        for ev in &removed {
            warn!(target: TARGET, block = ev.block, tx = ?ev.tx, event = ev.event, sender = %ev.sender, "removed (the node reports it rolled back)");
            to_refresh.insert(ev.sender);
        }
        for ev in &events {
            let watched = self.monitor.is_watched(ev.sender);
            debug!(target: TARGET, block = ev.block, event = ev.event, sender = %ev.sender, watched, "TicketBroker event");
            if watched {
                to_refresh.insert(ev.sender);
            }
        }
        let seen = u64::try_from(events.len()).unwrap_or(u64::MAX);
        let dropped = u64::try_from(removed.len()).unwrap_or(u64::MAX);
        self.status.send_modify(|s| {
            s.events = s.events.saturating_add(seen);
            s.removed = s.removed.saturating_add(dropped);
        });
        for (n, hash) in headers {
            let block_events = events.iter().filter(|e| e.block == n).copied().collect();
            self.remember(SeenBlock {
                number: n,
                hash,
                events: block_events,
            });
        }
        self.stale.extend(to_refresh);
        pass.range = Some((from, to));
        pass.caught_up = to >= head;
        self.finish(&mut pass).await;
        Ok(pass)
    }

    /// Walks back to the fork point, drops the blocks after it and marks every tracked
    /// sender for a re-read.
    async fn roll_back(&mut self, pass: &mut Pass) -> Result<(), ChainError> {
        let mut fork = None;
        // Walk from the newest remembered block down; stop at the first that still matches.
        let remembered: Vec<(u64, B256)> = self
            .recent
            .iter()
            .rev()
            .map(|b| (b.number, b.hash))
            .collect();
        for (n, hash) in remembered {
            if self.header(n).await?.is_some_and(|(h, _)| h == hash) {
                fork = Some(n);
                break;
            }
        }
        let mut removed = 0u64;
        while let Some(b) = self.recent.back() {
            if fork.is_some_and(|f| b.number <= f) {
                break;
            }
            if let Some(b) = self.recent.pop_back() {
                for ev in &b.events {
                    warn!(target: TARGET, block = ev.block, tx = ?ev.tx, event = ev.event, sender = %ev.sender, "removed (block rolled back)");
                    removed = removed.saturating_add(1);
                }
            }
        }
        match fork {
            Some(f) => {
                warn!(target: TARGET, fork_block = f, removed, "chain rolled back; re-reading every watched sender");
            }
            None => {
                warn!(target: TARGET, history = self.config.history, removed, "chain rolled back past the remembered blocks; re-reading every watched sender and restarting from the head");
            }
        }
        self.status.send_modify(|s| {
            s.rollbacks = s.rollbacks.saturating_add(1);
            s.removed = s.removed.saturating_add(removed);
        });
        self.stale.extend(self.monitor.watched());
        pass.rolled_back_to = fork;
        Ok(())
    }

    /// Re-reads the senders marked stale; those that fail stay marked for the next pass.
    async fn finish(&mut self, pass: &mut Pass) {
        let stale = std::mem::take(&mut self.stale);
        for sender in stale {
            match self.monitor.refresh(&self.broker, sender).await {
                Ok(()) => pass.refreshed.push(sender),
                Err(e) => {
                    warn!(target: TARGET, %sender, error = %e, "re-reading a sender after an event failed; retrying next pass");
                    self.stale.insert(sender);
                }
            }
        }
        let n = u64::try_from(pass.refreshed.len()).unwrap_or(u64::MAX);
        let last = self.recent.back().map(|b| b.number);
        self.status.send_modify(|s| {
            s.refreshes = s.refreshes.saturating_add(n);
            s.last_block = last;
        });
    }

    /// Runs passes until `shutdown` resolves: every [`WatchConfig::poll`] when caught up, at
    /// once when behind, with a doubling back-off while the endpoint fails. Never returns
    /// an error: a node keeps going through a flaky RPC endpoint.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = self.config.poll;
        loop {
            let wait = match self.pass().await {
                Ok(p) => {
                    backoff = self.config.poll;
                    if p.caught_up {
                        self.config.poll
                    } else {
                        Duration::ZERO
                    }
                }
                Err(e) => {
                    self.status
                        .send_modify(|s| s.errors = s.errors.saturating_add(1));
                    warn!(target: TARGET, error = %e, retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "watching TicketBroker events failed; resuming from the last processed block");
                    let wait = backoff;
                    backoff = backoff.saturating_mul(2).min(self.config.max_backoff);
                    wait
                }
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The sender a TicketBroker log concerns, if it names one.
fn decode(log: &Log) -> Option<SenderEvent> {
    use ITicketBrokerEvents as E;
    let (event, sender) = match E::decode_log(&log.inner).ok()?.data {
        E::DepositFunded(e) => ("DepositFunded", e.sender),
        E::ReserveFunded(e) => ("ReserveFunded", e.reserveHolder),
        E::ReserveClaimed(e) => ("ReserveClaimed", e.reserveHolder),
        E::Withdrawal(e) => ("Withdrawal", e.sender),
        E::Unlock(e) => ("Unlock", e.sender),
        E::UnlockCancelled(e) => ("UnlockCancelled", e.sender),
        E::WinningTicketTransfer(e) => ("WinningTicketTransfer", e.sender),
        E::WinningTicketRedeemed(e) => ("WinningTicketRedeemed", e.sender),
        E::ParameterUpdate(_) => return None,
    };
    Some(SenderEvent {
        block: log.block_number?,
        tx: log.transaction_hash,
        event,
        sender,
    })
}
