//! What an orchestrator offers per (capability, model), and its capacity.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use reel_jobs::{CapabilityKey, JobError, JobKind, JobWorker};
use reel_net::capabilities::{Capabilities, ModelConstraint};
use reel_net::proto;
use reel_pm::{PmError, PricePerUnit, PriceProto};

/// One (kind, model) an orchestrator serves.
#[derive(Clone)]
pub struct Offer {
    pub kind: Arc<dyn JobKind>,
    /// The capability's constraint (model id); empty for kinds without models.
    pub model: String,
    /// Wei per unit of the kind.
    pub price: PricePerUnit,
    /// Jobs at once.
    pub capacity: u32,
    /// Loaded and ready (gateways prefer warm models).
    pub warm: bool,
    pub worker: Arc<dyn JobWorker>,
}

impl std::fmt::Debug for Offer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offer")
            .field("kind", &self.kind.name())
            .field("model", &self.model)
            .field("price", &self.price)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Offer {
    pub fn key(&self) -> CapabilityKey {
        CapabilityKey::new(self.kind.capability(), self.model.clone())
    }
}

#[derive(Debug)]
struct Entry {
    offer: Offer,
    in_use: Arc<AtomicU32>,
}

/// An orchestrator's offers, by (capability, model).
#[derive(Debug, Default)]
pub struct Offers {
    by_key: BTreeMap<CapabilityKey, Entry>,
}

/// A capacity slot of one (capability, model), given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<AtomicU32>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `/status` view of one offer.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferStatus {
    pub kind: String,
    pub capability: u32,
    pub model: String,
    pub unit: String,
    pub price: String,
    pub capacity: u32,
    pub in_use: u32,
    pub warm: bool,
    pub placement: reel_jobs::Placement,
}

impl Offers {
    /// Refuses two offers of one (capability, model) and kinds that disagree on a path.
    pub fn new(offers: Vec<Offer>) -> Result<Self, String> {
        let mut by_key = BTreeMap::new();
        let mut paths: BTreeMap<String, u32> = BTreeMap::new();
        for offer in offers {
            if offer.capacity == 0 {
                return Err(format!("{}: capacity 0 serves nothing", offer.key()));
            }
            let path = offer.kind.path();
            if let Some(other) = paths.insert(path.clone(), offer.kind.capability())
                && other != offer.kind.capability()
            {
                return Err(format!(
                    "kinds of capabilities {other} and {} share the path {path}",
                    offer.kind.capability()
                ));
            }
            let key = offer.key();
            if by_key.contains_key(&key) {
                return Err(format!("{key} is offered twice"));
            }
            by_key.insert(
                key,
                Entry {
                    offer,
                    in_use: Arc::default(),
                },
            );
        }
        Ok(Self { by_key })
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The kinds offered, one per path.
    pub fn kinds(&self) -> Vec<Arc<dyn JobKind>> {
        let mut seen = std::collections::BTreeSet::new();
        self.by_key
            .values()
            .filter(|e| seen.insert(e.offer.kind.path()))
            .map(|e| Arc::clone(&e.offer.kind))
            .collect()
    }

    pub fn get(&self, key: &CapabilityKey) -> Option<&Offer> {
        self.by_key.get(key).map(|e| &e.offer)
    }

    /// A capacity slot of `key`, or 503 "insufficient capacity".
    pub fn acquire(&self, key: &CapabilityKey) -> Result<Slot, JobError> {
        let e = self.by_key.get(key).ok_or_else(|| JobError::UnknownModel {
            kind: key.capability.to_string(),
            model: key.model.clone(),
        })?;
        let cap = e.offer.capacity;
        e.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then(|| n.saturating_add(1))
            })
            .map_err(|_| JobError::Busy(format!("{key}: all {cap} slots in use")))?;
        Ok(Slot(Arc::clone(&e.in_use)))
    }

    /// Adds the offers to `caps` (capability bits, and per capability the models with
    /// their warm flag, capacity and use) and their prices to `prices`
    /// (`capabilities_prices`: one `PriceInfo` per (capability, model)).
    pub fn advertise(
        &self,
        caps: &mut Capabilities,
        prices: &mut Vec<proto::PriceInfo>,
    ) -> Result<(), PmError> {
        for (key, e) in &self.by_key {
            caps.offered.insert_id(key.capability);
            let free = e.offer.capacity;
            let cap_total = caps.capacities.entry(key.capability).or_insert(0);
            *cap_total = cap_total.saturating_add(free);
            caps.models.entry(key.capability).or_default().insert(
                key.model.clone(),
                ModelConstraint {
                    warm: e.offer.warm,
                    capacity: e.offer.capacity,
                    runner_version: crate::caps::VERSION.to_owned(),
                    capacity_in_use: e.in_use.load(Ordering::Acquire),
                },
            );
            let mut p = e.offer.price.to_proto()?;
            p.capability = key.capability;
            p.constraint.clone_from(&key.model);
            prices.push(p);
        }
        Ok(())
    }

    pub fn status(&self) -> Vec<OfferStatus> {
        self.by_key
            .iter()
            .map(|(k, e)| OfferStatus {
                kind: e.offer.kind.name().to_owned(),
                capability: k.capability,
                model: k.model.clone(),
                unit: e.offer.kind.unit().to_owned(),
                price: e.offer.price.to_string(),
                capacity: e.offer.capacity,
                in_use: e.in_use.load(Ordering::Acquire),
                warm: e.offer.warm,
                placement: e.offer.worker.placement(),
            })
            .collect()
    }
}
