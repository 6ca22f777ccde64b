//! What both payment sides need to know of the chain ([`ChainFacts`]: block, round,
//! expiration params, gas price), where it comes from ([`FactsSource`]) and the task that
//! keeps it fresh; and the cell each side keeps it in.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use reel_pm::ticket::ExpirationParams;
use reel_types::Wei;

use super::broker::BoxFut;
use crate::NodeError;
use crate::tasks::Tasks;

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

pub(super) fn read<T: Copy>(lock: &RwLock<Option<T>>) -> Option<T> {
    *lock
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn write<T>(lock: &RwLock<Option<T>>, v: T) {
    *lock
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(v);
}
