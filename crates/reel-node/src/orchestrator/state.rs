//! The shared state of a running orchestrator ([`Inner`]), which every handler (gRPC,
//! HTTP, jobs, health) holds: its sessions and their auth tokens, the renditions waiting
//! for download, where work goes, payments, offers and metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use bytes::Bytes;
use reel_net::EthSigner;
use reel_net::proto;
use reel_pm::{PricePerPixel, PriceProto};

use super::metrics::OrchMetrics;
use super::registry;
use super::settings::OrchestratorSettings;
use super::work::Work;
use crate::NodeError;
use crate::payments::OrchPayments;
use crate::ratelimit::RateLimiter;
use crate::rpc::ServiceUri;
use crate::tasks::Tasks;
use crate::util::{random_hex, unix_now};

/// How long an auth token (and so a session's right to send segments) lasts.
pub const AUTH_TOKEN_VALIDITY: Duration = Duration::from_secs(30 * 60);

/// A session the orchestrator issued a token for, and what it did since.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) gateway: Address,
    pub(super) expires: i64,
    /// Set once the session sent a segment; counts against `max_sessions` while recent.
    pub(super) active: Option<ActiveSession>,
}

#[derive(Debug)]
pub(super) struct ActiveSession {
    pub(super) last: Instant,
    pub(super) segments: u64,
    /// Σ output pixels charged to the session (each segment once).
    pub(super) charged_pixels: u64,
    pub(super) in_flight: bool,
    pub(super) last_worker: String,
    pub(super) price: PricePerPixel,
}

/// What the status page shows of a session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionStatus {
    pub id: String,
    pub gateway: String,
    pub segments: u64,
    pub charged_pixels: u64,
    pub last_worker: String,
    pub price: String,
}

/// Most sessions remembered (issued tokens included), whatever their expiry.
const MAX_KNOWN_SESSIONS: usize = 100_000;

#[derive(Debug, Default)]
pub(super) struct Sessions {
    pub(super) map: HashMap<String, Session>,
}

impl Sessions {
    pub(super) fn active_count(&self) -> usize {
        self.map.values().filter(|s| s.active.is_some()).count()
    }
}

/// Renditions waiting to be downloaded, by unguessable token.
#[derive(Debug, Default)]
pub(super) struct ResultStore {
    pub(super) entries: HashMap<String, (Instant, Vec<Bytes>)>,
    pub(super) order: VecDeque<String>,
    pub(super) bytes: usize,
}

impl ResultStore {
    pub(super) fn insert(
        &mut self,
        token: String,
        data: Vec<Bytes>,
        ttl: Duration,
        max_bytes: usize,
    ) {
        let now = Instant::now();
        self.bytes = self
            .bytes
            .saturating_add(data.iter().map(Bytes::len).sum::<usize>());
        self.entries.insert(token.clone(), (now, data));
        self.order.push_back(token);
        self.evict(ttl, max_bytes);
    }

    /// Drops the renditions older than `ttl`, and the oldest while over `max_bytes` (the
    /// newest stays whatever its size). Run on every insert and every second: when the
    /// streams stop, nothing else would give their last two minutes of renditions back.
    pub(super) fn evict(&mut self, ttl: Duration, max_bytes: usize) {
        let now = Instant::now();
        while let Some(oldest) = self.order.front().cloned() {
            let expired = self
                .entries
                .get(&oldest)
                .is_none_or(|(at, _)| now.saturating_duration_since(*at) > ttl);
            if !(expired || (self.bytes > max_bytes && self.order.len() > 1)) {
                break;
            }
            self.order.pop_front();
            if let Some((_, d)) = self.entries.remove(&oldest) {
                self.bytes = self
                    .bytes
                    .saturating_sub(d.iter().map(Bytes::len).sum::<usize>());
            }
        }
    }

    pub(super) fn get(&self, token: &str, index: usize, ttl: Duration) -> Option<Bytes> {
        let (at, data) = self.entries.get(token)?;
        if at.elapsed() > ttl {
            return None;
        }
        data.get(index).cloned()
    }
}

/// Shared state of a running orchestrator.
pub(crate) struct Inner {
    pub(super) settings: OrchestratorSettings,
    pub(super) signer: EthSigner,
    pub(super) uri: ServiceUri,
    pub(super) auth_secret: [u8; 32],
    /// The secrets this start's worker processes register with, one per worker (so that a
    /// registration tells which process it is).
    pub(super) worker_secrets: Vec<String>,
    pub(super) sessions: Mutex<Sessions>,
    pub(super) results: Mutex<ResultStore>,
    pub(super) work: Work,
    pub(super) limiter: RateLimiter,
    pub(super) payments: Option<Arc<OrchPayments>>,
    /// Request/response work offered per (capability, model), with its capacity.
    pub(super) offers: crate::jobs::Offers,
    /// BYOC capabilities registered by external workers.
    pub(super) byoc: crate::byoc::registry::Registry,
    pub(super) metrics: OrchMetrics,
    pub(super) tasks: Tasks,
    pub(super) started: Instant,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("uri", &self.uri)
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Who presents this transcoder secret: one of our worker processes, a remote
    /// transcoder, or (`None`) nobody we know. Every secret is compared, in constant time.
    pub(crate) fn transcoder_kind(&self, given: &[u8]) -> Option<registry::Origin> {
        use subtle::ConstantTimeEq;
        let mut found = None;
        for (n, s) in self.worker_secrets.iter().enumerate() {
            if bool::from(s.as_bytes().ct_eq(given)) {
                found = Some(registry::Origin::Worker(n));
            }
        }
        if let Some(s) = &self.settings.orch_secret
            && bool::from(s.as_bytes().ct_eq(given))
        {
            found = found.or(Some(registry::Origin::Remote));
        }
        found
    }

    pub(super) fn price_for(&self, gateway: Address) -> PricePerPixel {
        self.settings
            .price_per_gateway
            .get(&gateway)
            .copied()
            .unwrap_or(self.settings.price)
    }

    pub(super) fn lock_sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a session and its auth token for a gateway.
    pub(super) fn new_session(&self, gateway: Address) -> proto::AuthToken {
        let id = random_hex(16);
        let expires = unix_now().saturating_add(AUTH_TOKEN_VALIDITY.as_secs() as i64);
        let mut s = self.lock_sessions();
        if s.map.len() >= MAX_KNOWN_SESSIONS {
            let now = unix_now();
            s.map.retain(|_, v| v.active.is_some() || v.expires > now);
        }
        if s.map.len() < MAX_KNOWN_SESSIONS {
            s.map.insert(
                id.clone(),
                Session {
                    gateway,
                    expires,
                    active: None,
                },
            );
        }
        reel_net::signed::issue_auth_token(&self.auth_secret, &id, expires)
    }

    /// The `OrchestratorInfo` for a gateway and session.
    pub(super) async fn info(
        &self,
        gateway: Address,
        token: proto::AuthToken,
    ) -> Result<proto::OrchestratorInfo, NodeError> {
        let price = self.price_for(gateway);
        let ticket_params = match &self.payments {
            Some(p) if !price.is_zero() => Some(p.issue_params(gateway, price).await?.to_proto()),
            _ => None,
        };
        let (caps, capabilities_prices) = self.capabilities()?;
        Ok(proto::OrchestratorInfo {
            transcoder: self.uri.base(),
            ticket_params,
            price_info: Some(price.to_proto()?),
            address: self.signer.address().to_vec(),
            capabilities: Some(caps.to_proto()),
            auth_token: Some(token),
            capabilities_prices,
            ..Default::default()
        })
    }

    /// What this node can do: transcoding, plus every offer with its models (warm flag,
    /// capacity, use) and a price per (capability, model).
    pub(super) fn capabilities(
        &self,
    ) -> Result<(reel_net::capabilities::Capabilities, Vec<proto::PriceInfo>), NodeError> {
        let capacity = u32::try_from(self.settings.max_sessions).unwrap_or(u32::MAX);
        let mut caps = crate::caps::node_capabilities(capacity);
        let mut prices = Vec::new();
        self.offers.advertise(&mut caps, &mut prices)?;
        Ok((caps, prices))
    }

    /// Ends sessions idle for longer than the setting.
    pub(super) fn reap_sessions(&self) {
        let now = unix_now();
        let idle = self.settings.session_idle;
        let mut ended = Vec::new();
        {
            let mut s = self.lock_sessions();
            for (id, sess) in &mut s.map {
                if let Some(a) = &sess.active
                    && !a.in_flight
                    && a.last.elapsed() > idle
                {
                    sess.active = None;
                    ended.push(id.clone());
                }
            }
            s.map.retain(|_, v| v.active.is_some() || v.expires > now);
            self.metrics.sessions.set(s.active_count() as i64);
        }
        for id in ended {
            tracing::info!(target: "node::orchestrator", session = %id, "session idle: closed");
            self.work.end_session(&id);
        }
    }

    pub(super) fn expire_results(&self) {
        self.results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .evict(self.settings.result_ttl, self.settings.result_memory);
    }

    pub(super) fn end_session(&self, id: &str) {
        let had = {
            let mut s = self.lock_sessions();
            let had = s.map.remove(id).is_some();
            self.metrics.sessions.set(s.active_count() as i64);
            had
        };
        if had {
            self.work.end_session(id);
        }
    }

    pub(super) fn refresh_transcoder_metrics(&self) {
        let (n, cap, load) = self.work.remotes.totals();
        self.metrics.transcoders.set(n as i64);
        self.metrics.transcoders_capacity.set(cap as i64);
        self.metrics.transcoders_load.set(load as i64);
    }

    pub(super) fn sessions_status(&self) -> Vec<SessionStatus> {
        let s = self.lock_sessions();
        let mut out: Vec<SessionStatus> = s
            .map
            .iter()
            .filter_map(|(id, v)| {
                v.active.as_ref().map(|a| SessionStatus {
                    id: id.clone(),
                    gateway: v.gateway.to_checksum(None),
                    segments: a.segments,
                    charged_pixels: a.charged_pixels,
                    last_worker: a.last_worker.clone(),
                    price: a.price.to_string(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_store_evicts_by_memory_and_age() {
        let mut s = ResultStore::default();
        let ttl = Duration::from_secs(60);
        s.insert("a".into(), vec![Bytes::from(vec![0u8; 60])], ttl, 100);
        s.insert("b".into(), vec![Bytes::from(vec![0u8; 60])], ttl, 100);
        assert!(
            s.get("a", 0, ttl).is_none(),
            "over the memory cap: oldest goes"
        );
        assert_eq!(s.get("b", 0, ttl).unwrap().len(), 60);
        assert!(s.get("b", 1, ttl).is_none());
        assert_eq!(s.bytes, 60);
        assert!(s.get("b", 0, Duration::ZERO).is_none(), "expired");
    }

    /// Once the streams stop nothing is inserted: the timer's eviction alone gives the
    /// expired renditions' memory back.
    #[test]
    fn result_store_gives_expired_renditions_back_without_an_insert() {
        let mut s = ResultStore::default();
        let ttl = Duration::from_millis(20);
        s.insert("a".into(), vec![Bytes::from(vec![0u8; 60])], ttl, 1000);
        s.insert("b".into(), vec![Bytes::from(vec![0u8; 40])], ttl, 1000);
        s.evict(ttl, 1000);
        assert_eq!((s.entries.len(), s.bytes), (2, 100), "nothing expired yet");
        std::thread::sleep(Duration::from_millis(30));
        s.evict(ttl, 1000);
        assert_eq!((s.entries.len(), s.order.len(), s.bytes), (0, 0, 0));
    }
}
