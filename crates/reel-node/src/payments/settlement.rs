//! Settlement on the orchestrator: winning tickets redeemed on chain by reel-pm's
//! [`Redeemer`] on every new block (after recovering redemptions a restart interrupted),
//! the TicketBroker event watcher that keeps senders' deposits and reserves fresh, and the
//! value redeemed so far.

use std::sync::Arc;
use std::time::Duration;

use reel_chain::watch::{BrokerWatcher, WatchConfig};
use reel_pm::{PmError, Redeemer};
use reel_types::Wei;

use super::facts::read;
use super::recipient::{OrchPayments, SENDER_REFRESH};
use crate::NodeError;
use crate::tasks::Tasks;

impl OrchPayments {
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
