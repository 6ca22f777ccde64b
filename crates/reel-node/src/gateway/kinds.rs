//! The request/response kinds a gateway buys ([`JobKinds`]) and its pool of orchestrators
//! per (capability, model) ([`Jobs`]), with their `/status` view; what a job done cost
//! ([`JobReceipt`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use reel_jobs::{CapabilityKey, JobKind, JobOutput};
use reel_pm::PricePerUnit;
use reel_types::Wei;

use super::pool::{OrchStatus, Pool, orch_status};
use crate::rpc::ServiceUri;

/// The kinds a gateway buys, by name.
#[derive(Clone, Default)]
pub struct JobKinds(BTreeMap<String, Arc<dyn JobKind>>);

impl std::fmt::Debug for JobKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl JobKinds {
    pub fn add(&mut self, kind: Arc<dyn JobKind>) {
        self.0.insert(kind.name().to_owned(), kind);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn JobKind>> {
        self.0.get(name)
    }
}

impl FromIterator<Arc<dyn JobKind>> for JobKinds {
    fn from_iter<I: IntoIterator<Item = Arc<dyn JobKind>>>(iter: I) -> Self {
        let mut k = Self::default();
        for kind in iter {
            k.add(kind);
        }
        k
    }
}

/// A job done: its output and what it cost.
#[derive(Debug, Clone)]
pub struct JobReceipt {
    pub output: JobOutput,
    pub orchestrator: String,
    pub address: Address,
    pub model: String,
    /// Units debited, and at what price.
    pub units: u64,
    pub price: PricePerUnit,
    /// `units × price`, rounded up, in wei.
    pub fee: Wei,
    /// Tickets sent with it, and their expected value.
    pub tickets: u32,
    pub ticket_value: Wei,
    pub attempts: u32,
    pub latency: Duration,
    /// The orchestrator's signature over the output.
    pub signature: Vec<u8>,
    /// Set when the job was sampled for a re-run elsewhere.
    pub verification: Option<Verification>,
}

/// A sampled job's re-run on other orchestrators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    /// The orchestrators that re-ran it.
    pub by: Vec<String>,
    /// Whether the re-run agreed; `None` when no other orchestrator could run it.
    pub matched: Option<bool>,
    /// The orchestrator banned from the pool for a result the others disagreed with.
    pub banned: Option<String>,
    /// Where the signed results were kept.
    pub evidence: Option<std::path::PathBuf>,
    /// What the re-runs cost.
    pub fee: Wei,
    /// Why a re-run did not happen or did not finish.
    pub error: Option<String>,
}

/// `/status` view of one (capability, model) pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobPoolStatus {
    pub kind: String,
    pub capability: u32,
    pub model: String,
    pub jobs: u64,
    pub current: Option<String>,
    pub orchestrators: Vec<OrchStatus>,
}

/// A (capability, model)'s pool, with the name of its kind.
type KindPool = (String, Arc<tokio::sync::Mutex<Pool>>);

/// The kinds and their pools.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    pub(crate) kinds: JobKinds,
    pools: std::sync::Mutex<HashMap<CapabilityKey, KindPool>>,
    /// Content (by sha256) each orchestrator has taken from us.
    content: std::sync::Mutex<HashSet<(ServiceUri, [u8; 32])>>,
}

/// Entries of [`Jobs::content`] before it starts over (a re-upload is only a cost).
const MAX_CONTENT_ENTRIES: usize = 100_000;

impl Jobs {
    pub(crate) fn new(kinds: JobKinds) -> Self {
        Self {
            kinds,
            pools: std::sync::Mutex::default(),
            content: std::sync::Mutex::default(),
        }
    }

    fn content(&self) -> std::sync::MutexGuard<'_, HashSet<(ServiceUri, [u8; 32])>> {
        self.content
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn holds(&self, orch: &ServiceUri, sha256: &[u8; 32]) -> bool {
        self.content().contains(&(orch.clone(), *sha256))
    }

    pub(crate) fn held(&self, orch: &ServiceUri, sha256: [u8; 32]) {
        let mut c = self.content();
        if c.len() >= MAX_CONTENT_ENTRIES {
            c.clear();
        }
        c.insert((orch.clone(), sha256));
    }

    pub(crate) fn forget(&self, orch: &ServiceUri) {
        self.content().retain(|(o, _)| o != orch);
    }

    pub(super) fn pool(&self, kind: &str, key: &CapabilityKey) -> Arc<tokio::sync::Mutex<Pool>> {
        let mut m = self
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(
            &m.entry(key.clone())
                .or_insert_with(|| (kind.to_owned(), Arc::default()))
                .1,
        )
    }

    pub(crate) async fn status(&self) -> Vec<JobPoolStatus> {
        let pools: Vec<(CapabilityKey, String, Arc<tokio::sync::Mutex<Pool>>)> = self
            .pools
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, (n, p))| (k.clone(), n.clone(), Arc::clone(p)))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for (key, kind, pool) in pools {
            let Ok(p) = pool.try_lock() else { continue };
            out.push(JobPoolStatus {
                kind,
                capability: key.capability,
                jobs: p.jobs,
                current: p.current.as_ref().map(ToString::to_string),
                orchestrators: orch_status(&p, key.capability),
                model: key.model,
            });
        }
        out
    }
}
