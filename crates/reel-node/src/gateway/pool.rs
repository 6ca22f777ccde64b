//! A pool of orchestrator sessions: per stream for transcoding, per (capability, model)
//! for request/response kinds. It holds the orchestrators that answered `GetOrchestrator`
//! (each with its auth token, price and ticket params), a latency score per (orchestrator,
//! capability), which one is current, and which are suspended (for a number of pool
//! refreshes after a failure) or banned (a verification failure: never again here).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::gateway::discovery::Discovered;
use crate::rpc::ServiceUri;
use crate::{FailureKind, NodeError};
use reel_pm::TicketParams;

/// One orchestrator's session in a pool.
#[derive(Debug, Clone)]
pub(crate) struct OrchSession {
    pub(crate) d: Discovered,
    pub(crate) params: Option<TicketParams>,
    /// Position in the candidate list (off-chain selection goes in this order).
    pub(crate) order: usize,
}

impl OrchSession {
    pub(crate) fn session_id(&self) -> String {
        self.d
            .info
            .auth_token
            .as_ref()
            .map(|t| t.session_id.clone())
            .unwrap_or_default()
    }

    /// The auth token expires within 3 minutes (go-livepeer refreshes in the last 10%).
    pub(crate) fn token_expiring(&self) -> bool {
        self.d
            .info
            .auth_token
            .as_ref()
            .is_none_or(|t| t.expiration - crate::util::unix_now() < 180)
    }
}

/// The sessions, scores and standing of the orchestrators one stream or one kind of work
/// uses.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    pub(crate) sessions: BTreeMap<ServiceUri, OrchSession>,
    /// Latency score of the last job, per (orchestrator, capability).
    pub(crate) scores: HashMap<(ServiceUri, u32), f64>,
    pub(crate) current: Option<ServiceUri>,
    /// The orchestrator that delivered the previous job (for the swap count).
    pub(crate) last: Option<ServiceUri>,
    /// Orchestrator → pool refresh count until which it is suspended.
    pub(crate) suspended: HashMap<ServiceUri, u64>,
    pub(crate) banned: HashSet<ServiceUri>,
    /// Why each banned orchestrator was banned: the failed check, with its measures.
    pub(crate) evidence: HashMap<ServiceUri, String>,
    pub(crate) refreshes: u64,
    /// Jobs (segments) dispatched from this pool.
    pub(crate) jobs: u64,
}

impl Pool {
    pub(crate) fn score(&self, uri: &ServiceUri, capability: u32) -> Option<f64> {
        self.scores.get(&(uri.clone(), capability)).copied()
    }

    pub(crate) fn is_suspended(&self, uri: &ServiceUri) -> bool {
        self.suspended
            .get(uri)
            .is_some_and(|until| self.refreshes < *until)
    }

    /// Puts a failed orchestrator aside: banned for a verification failure, suspended for a
    /// few refreshes for what suspends (go-livepeer: ceil(sessions / pool size) refreshes,
    /// at least one), and its session dropped when its token or params can no longer be
    /// trusted. Returns whether it was banned.
    pub(crate) fn suspend(&mut self, uri: &ServiceUri, e: &NodeError, pool_size: usize) -> bool {
        let banned = e.failure_kind() == Some(FailureKind::Verification);
        if banned {
            self.banned.insert(uri.clone());
            self.evidence
                .entry(uri.clone())
                .or_insert_with(|| e.to_string());
        } else if e.should_suspend_orchestrator() {
            let n = self.sessions.len().max(1) as u64;
            let penalty = n.div_ceil(pool_size.max(1) as u64).max(1);
            self.suspended
                .insert(uri.clone(), self.refreshes.saturating_add(penalty));
        }
        if self.current.as_ref() == Some(uri) {
            self.current = None;
        }
        if e.should_refresh_session() || e.should_suspend_orchestrator() {
            self.sessions.remove(uri);
        }
        banned
    }

    /// Every orchestrator the pool knows, banned ones included, for `/status`.
    pub(crate) fn known(&self) -> Vec<&ServiceUri> {
        let mut uris: Vec<&ServiceUri> = self.sessions.keys().collect();
        for b in &self.banned {
            if !uris.contains(&b) {
                uris.push(b);
            }
        }
        uris
    }
}

/// What `/status` shows of an orchestrator in a pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrchStatus {
    pub uri: String,
    pub address: String,
    pub price: String,
    pub latency_score: Option<f64>,
    pub suspended: bool,
    pub banned: bool,
    /// For a banned orchestrator, the check it failed and what was measured.
    pub ban_reason: Option<String>,
}

pub(super) fn orch_status(pool: &Pool, capability: u32) -> Vec<OrchStatus> {
    pool.known()
        .into_iter()
        .map(|u| {
            let s = pool.sessions.get(u);
            OrchStatus {
                uri: u.to_string(),
                address: s.map(|s| s.d.address.to_checksum(None)).unwrap_or_default(),
                price: s.map(|s| s.d.price.to_string()).unwrap_or_default(),
                latency_score: pool.score(u, capability),
                suspended: pool.is_suspended(u),
                banned: pool.banned.contains(u),
                ban_reason: pool.evidence.get(u).cloned(),
            }
        })
        .collect()
}
