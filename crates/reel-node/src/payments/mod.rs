//! Payments in the node roles: reel-pm's [`Recipient`](reel_pm::Recipient) and
//! [`Redeemer`](reel_pm::Redeemer) on the orchestrator, its [`Sender`](reel_pm::Sender) and
//! credit [`Balances`](reel_pm::Balances) on the gateway, and the seam to the chain's
//! TicketBroker.
//!
//! **Where the chain-backed TicketBroker plugs in.** reel-pm's
//! [`TicketBroker`](reel_pm::TicketBroker) trait is generic (`impl Future` methods), so the
//! node keeps a type-erased [`BrokerHandle`]: `BrokerHandle::new(any TicketBroker)` — the
//! binary builds it with [`BrokerHandle::chain`] from `reel_chain::broker::ChainTicketBroker`
//! (in `cmd/node_common.rs`, `chain_broker`). Pass it to [`OrchPayments::open`] (sender state
//! and max float from the chain, kept fresh by the TicketBroker event watcher with rollback
//! handling, winning tickets redeemed by the [`Redeemer`](reel_pm::Redeemer)) and to
//! [`GatewayPayments::new`] (the gateway's own deposit and reserve). With `None` (a chain
//! without a TicketBroker) payments run **unverified**: tickets are issued, signed,
//! validated, stored and credited exactly as with a broker, but the sender's deposit/reserve
//! are not read from the chain (the orchestrator caps face values at a configured max float
//! instead) and winning tickets stay in the store, unredeemed, until a node with a broker
//! starts on the same data directory (its [`Redeemer::recover`](reel_pm::Redeemer::recover)
//! picks them up).
//!
//! **When the ticket store cannot write** (docs/faults.md#ticket-store-unavailable: disk full,
//! database locked, I/O error) [`OrchPayments::receive`] fails with `PmError::StoreUnavailable`:
//! nothing is credited and the nonces are released, so the same payment can be sent again. The
//! store remembers the failure until a write succeeds; [`OrchPayments::spawn_store_probe`] tries
//! one every [`STORE_PROBE_EVERY`] and keeps `reel_ticket_store_healthy` current, and
//! [`OrchPayments::health_json`] is what `/healthz` and `/status` show.
//!
//! Files: `broker.rs` (the TicketBroker seam), `facts.rs` (chain facts both sides use),
//! `recipient.rs` (the orchestrator's side and its ticket store's health), `settlement.rs`
//! (redemption and the TicketBroker watcher), `sender.rs` (the gateway's side).

mod broker;
mod facts;
mod recipient;
mod sender;
mod settlement;

pub use broker::{BrokerHandle, DynBroker};
pub use facts::{ChainFacts, FactsSource, spawn_facts_poller};
pub use recipient::{OrchPayments, STORE_PROBE_EVERY, TICKET_DB};
pub use sender::{GatewayPayments, SegmentPayment};

use reel_types::Wei;

/// Floating wei for metrics only.
pub fn wei_f64(w: Wei) -> f64 {
    let v = w.base_units();
    let limbs = v.as_limbs();
    limbs
        .iter()
        .rev()
        .fold(0.0, |acc, l| acc * 18_446_744_073_709_551_616.0 + *l as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    #[test]
    fn wei_as_float() {
        assert_eq!(wei_f64(Wei::from_whole(1)), 1e18);
        assert_eq!(wei_f64(Wei::ZERO), 0.0);
        let big = Wei::from_base_units(U256::from(u64::MAX) + U256::from(1u64));
        assert_eq!(wei_f64(big), 18_446_744_073_709_551_616.0);
    }

    #[test]
    #[allow(clippy::unwrap_used)]
    fn the_ticket_store_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("orchestrator");
        let _p = OrchPayments::open(
            &dir,
            alloy_primitives::Address::repeat_byte(7),
            reel_pm::RecipientConfig::default(),
            None,
            Wei::from_whole(1),
            reel_pm::RedeemerConfig::default(),
        )
        .unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(recipient::TICKET_DB)), 0o600);
        // SQLite gives its journal the database's mode.
        let wal = dir.join(format!("{}-wal", recipient::TICKET_DB));
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }
}
