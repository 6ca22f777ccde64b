//! The external capabilities registered with an orchestrator, by name: each worker's URL,
//! capacity (slots counted while requests run) and price per second. The orchestrator's
//! handlers (`orchestrator/byoc.rs`) hold one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reel_types::PricePerUnit;

use super::{ByocError, Registration};
use crate::NodeError;

/// A registered capability.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub url: String,
    pub capacity: usize,
    pub price: PricePerUnit,
    pub token: Option<String>,
    /// Requests in flight; shared with the entry that replaces this one on a new
    /// registration, so that capacity stays counted across it.
    load: Arc<AtomicUsize>,
}

/// A reserved worker slot, given back on drop.
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why no slot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reserve {
    Unknown,
    Full,
}

/// The external capabilities registered with this orchestrator, by name.
#[derive(Debug)]
pub(crate) struct Registry {
    map: Mutex<HashMap<String, Registered>>,
    /// The client requests go to workers with.
    pub(crate) http: reqwest::Client,
}

/// What `/status` shows of a capability.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ByocStatus {
    pub name: String,
    pub url: String,
    pub capacity: usize,
    pub in_use: usize,
    /// Wei per second, `num/den`.
    pub price: String,
}

impl Registry {
    pub(crate) fn new() -> Result<Self, NodeError> {
        Ok(Self {
            map: Mutex::default(),
            http: crate::rpc::http_client()?,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Registered>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds or replaces a capability; its requests in flight keep counting.
    pub(crate) fn register(&self, r: &Registration) -> Result<Registered, ByocError> {
        let price = r.price()?;
        let capacity = usize::try_from(r.capacity).unwrap_or(0);
        let mut map = self.lock();
        let load = map.get(&r.name).map_or_else(
            || Arc::new(AtomicUsize::new(0)),
            |old| Arc::clone(&old.load),
        );
        let reg = Registered {
            url: r.url.trim_end_matches('/').to_owned(),
            capacity,
            price,
            token: (!r.token.is_empty()).then(|| r.token.clone()),
            load,
        };
        map.insert(r.name.clone(), reg.clone());
        Ok(reg)
    }

    pub(crate) fn unregister(&self, name: &str) -> bool {
        self.lock().remove(name).is_some()
    }

    /// Removes `name` if it still points at `url` (a worker found gone), not a worker that
    /// registered again meanwhile.
    pub(crate) fn remove_if(&self, name: &str, url: &str) {
        let mut map = self.lock();
        if map.get(name).is_some_and(|r| r.url == url) {
            map.remove(name);
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<Registered> {
        self.lock().get(name).cloned()
    }

    /// Free slots of `name` (0 when unknown).
    pub(crate) fn free(&self, name: &str) -> usize {
        self.get(name).map_or(0, |r| {
            r.capacity.saturating_sub(r.load.load(Ordering::Acquire))
        })
    }

    pub(crate) fn reserve(&self, name: &str) -> Result<(Registered, Slot), Reserve> {
        let reg = self.get(name).ok_or(Reserve::Unknown)?;
        let cap = reg.capacity;
        reg.load
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .map_err(|_| Reserve::Full)?;
        let slot = Slot(Arc::clone(&reg.load));
        Ok((reg, slot))
    }

    pub(crate) fn status(&self) -> Vec<ByocStatus> {
        let mut v: Vec<ByocStatus> = self
            .lock()
            .iter()
            .map(|(name, r)| ByocStatus {
                name: name.clone(),
                url: r.url.clone(),
                capacity: r.capacity,
                in_use: r.load.load(Ordering::Acquire),
                price: format!("{}/{}", r.price.num(), r.price.den()),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reg(name: &str, capacity: i64) -> Registration {
        Registration {
            name: name.into(),
            url: "http://127.0.0.1:9/".into(),
            capacity,
            price_per_unit: 3,
            ..Default::default()
        }
    }

    #[test]
    fn slots_are_bounded_and_survive_a_new_registration() {
        let r = Registry::new().unwrap();
        assert_eq!(r.reserve("x").unwrap_err(), Reserve::Unknown);
        r.register(&reg("x", 1)).unwrap();
        assert_eq!(r.get("x").unwrap().url, "http://127.0.0.1:9");
        let (_, slot) = r.reserve("x").unwrap();
        assert_eq!(r.free("x"), 0);
        assert_eq!(r.reserve("x").unwrap_err(), Reserve::Full);
        // Registering again keeps the request in flight counted.
        r.register(&reg("x", 2)).unwrap();
        assert_eq!(r.free("x"), 1);
        drop(slot);
        assert_eq!(r.free("x"), 2);
        assert_eq!(r.status()[0].in_use, 0);
        assert!(r.unregister("x"));
        assert!(!r.unregister("x"));
        assert_eq!(r.free("x"), 0);
    }
}
