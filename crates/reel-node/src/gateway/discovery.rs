//! Finding orchestrators (see docs/compatibility.md#discovery): candidates from an `--orch-addr`
//! list or from the chain (transcoder pool + ServiceRegistry, see [`crate::chain::PoolSource`]),
//! then a concurrent `GetOrchestrator` to each, in random order. The wait starts at the discovery
//! timeout (500 ms) and doubles while nothing has answered, up to 6 s; it stops early once
//! enough have answered. Answers that fail, are incompatible, or come from a different
//! address than the chain says are dropped; the rest are sorted by how fast they answered.
//!
//! Service addresses come from peers (the ServiceRegistry, where anyone registers what
//! they like, and `OrchestratorInfo.transcoder`), so a gateway on a real chain dials only
//! public addresses ([`check_peer`]): a hostile orchestrator cannot point it at loopback, a
//! private network or a cloud metadata service.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use reel_net::capabilities::Capabilities;
use reel_net::proto;
use reel_net::proto::orchestrator_client::OrchestratorClient;
use reel_pm::{PricePerPixel, PriceProto};
use tokio::task::JoinSet;

use crate::NodeError;
use crate::rpc::ServiceUri;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Chain ids of local development chains (anvil and hardhat; geth `--dev` and ganache),
/// where orchestrators on loopback and private addresses are dialled by default.
pub const DEVNET_CHAIN_IDS: [u64; 2] = [31337, 1337];

/// Whether a gateway dials non-public service addresses when not told: yes off-chain
/// (`chain_id` `None`: the operator listed the orchestrators) and on a development chain,
/// no on any other chain.
pub fn private_peers_by_default(chain_id: Option<u64>) -> bool {
    chain_id.is_none_or(|id| DEVNET_CHAIN_IDS.contains(&id))
}

/// Checks a service address a peer gave: unless `allow_private`, its host must be, or
/// resolve only to, public addresses (the same rule as segment URLs,
/// [`is_public`](crate::orchestrator::fetch::is_public)).
pub async fn check_peer(uri: &ServiceUri, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let host = uri.host.trim_start_matches('[').trim_end_matches(']');
    let refuse = |addr: &dyn std::fmt::Display| {
        format!(
            "service address {uri} is {addr}, not a public address: refused (a gateway dials \
             private orchestrators only on a development chain or with \
             --allow-private-orchestrators)"
        )
    };
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => {
            let lower = host.to_ascii_lowercase();
            if lower == "localhost" || lower.ends_with(".localhost") {
                return Err(refuse(&"loopback"));
            }
            tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::lookup_host((host, uri.port)),
            )
            .await
            .map_err(|_| format!("service address {uri}: {host} does not resolve in time"))?
            .map_err(|e| format!("service address {uri}: {host} does not resolve: {e}"))?
            .map(|a| a.ip())
            .collect()
        }
    };
    // Every answer must be public: a hostile name server could mix a private one in.
    match addrs
        .iter()
        .find(|a| !crate::orchestrator::fetch::is_public(**a))
    {
        Some(bad) => Err(refuse(bad)),
        None if addrs.is_empty() => Err(format!("service address {uri}: {host} does not resolve")),
        None => Ok(()),
    }
}

/// The hard cutoff of one discovery round.
pub const MAX_DISCOVERY_WAIT: Duration = Duration::from_secs(6);

/// An orchestrator that might take work.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub uri: ServiceUri,
    /// Its on-chain address, when known: the answer must come from it.
    pub address: Option<Address>,
    /// Its stake, for selection weights (0 off-chain).
    pub stake: f64,
}

/// Where candidates come from.
pub trait OrchestratorSource: Send + Sync {
    /// The current candidates.
    fn candidates(&self) -> BoxFut<'_, Result<Vec<Candidate>, NodeError>>;
    /// Whether untried orchestrators are taken in list order (off-chain) rather than by
    /// weight.
    fn ordered(&self) -> bool;
}

/// A fixed list (`--orch-addr`), in order.
#[derive(Debug, Clone)]
pub struct ListSource(pub Vec<ServiceUri>);

impl OrchestratorSource for ListSource {
    fn candidates(&self) -> BoxFut<'_, Result<Vec<Candidate>, NodeError>> {
        let v = self
            .0
            .iter()
            .map(|u| Candidate {
                uri: u.clone(),
                address: None,
                stake: 0.0,
            })
            .collect();
        Box::pin(async move { Ok(v) })
    }
    fn ordered(&self) -> bool {
        true
    }
}

/// One usable answer.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub candidate: Candidate,
    pub info: proto::OrchestratorInfo,
    /// Where segments go (`OrchestratorInfo.transcoder`).
    pub service: ServiceUri,
    pub address: Address,
    pub price: PricePerPixel,
    /// How long `GetOrchestrator` took.
    pub latency: Duration,
}

/// Checks one answer.
pub fn accept(
    candidate: &Candidate,
    info: proto::OrchestratorInfo,
    job: &Capabilities,
    latency: Duration,
) -> Result<Discovered, String> {
    let service = ServiceUri::parse(&info.transcoder).map_err(|e| e.to_string())?;
    let address = reel_net::signed::address_from_wire("OrchestratorInfo.address", &info.address)
        .map_err(|e| e.to_string())?;
    if let Some(want) = candidate.address
        && want != address
    {
        return Err(format!(
            "answered as {address}, but the chain lists {want} at this URI"
        ));
    }
    let caps = match &info.capabilities {
        Some(c) => Some(Capabilities::from_proto(c).map_err(|e| e.to_string())?),
        None => None,
    };
    job.fits(caps.as_ref()).map_err(|e| e.to_string())?;
    let price = match &info.price_info {
        Some(p) => PricePerPixel::from_proto(p).map_err(|e| e.to_string())?,
        None => PricePerPixel::ZERO,
    };
    if info.auth_token.is_none() {
        return Err("no auth token".into());
    }
    Ok(Discovered {
        candidate: candidate.clone(),
        info,
        service,
        address,
        price,
        latency,
    })
}

/// One `GetOrchestrator` call.
pub async fn get_orchestrator(
    uri: &ServiceUri,
    req: proto::OrchestratorRequest,
    timeout: Duration,
) -> Result<(proto::OrchestratorInfo, Duration), NodeError> {
    let channel = crate::rpc::grpc_channel(uri, timeout)?;
    let mut client = OrchestratorClient::new(channel).max_decoding_message_size(1 << 20);
    let t0 = Instant::now();
    let resp = tokio::time::timeout(timeout, client.get_orchestrator(req))
        .await
        .map_err(|_| {
            NodeError::orchestrator(
                &uri.to_string(),
                crate::FailureKind::Timeout,
                "GetOrchestrator",
            )
        })?
        .map_err(|st| {
            let kind = match st.message() {
                m if m.contains("OrchestratorCapped") => crate::FailureKind::Capped,
                _ if st.code() == tonic::Code::Unavailable => crate::FailureKind::Connect,
                _ => crate::FailureKind::Refused,
            };
            NodeError::orchestrator(
                &uri.to_string(),
                kind,
                format!("GetOrchestrator: {}", st.message()),
            )
        })?;
    Ok((resp.into_inner(), t0.elapsed()))
}

/// Queries `candidates` concurrently and returns up to `want` usable answers, fastest
/// first, plus why the others failed. Unless `allow_private`, a candidate's address and the
/// service address in its answer must be public ([`check_peer`]); a candidate that is not
/// is never dialled.
pub async fn discover(
    candidates: &[Candidate],
    req: &proto::OrchestratorRequest,
    job: &Capabilities,
    want: usize,
    first_wait: Duration,
    allow_private: bool,
) -> (Vec<Discovered>, Vec<(ServiceUri, String)>) {
    let mut order: Vec<Candidate> = candidates.to_vec();
    // Random order, so no orchestrator always gets asked first.
    for i in (1..order.len()).rev() {
        let j = (crate::gateway::selection::draw() * (i + 1) as f64) as usize;
        order.swap(i, j.min(i));
    }
    let mut set = JoinSet::new();
    for c in order {
        let req = req.clone();
        set.spawn(async move {
            let refused = |why: String| {
                NodeError::orchestrator(&c.uri.to_string(), crate::FailureKind::Refused, why)
            };
            let r = match check_peer(&c.uri, allow_private).await {
                Err(why) => Err(refused(why)),
                Ok(()) => match get_orchestrator(&c.uri, req, crate::rpc::CALL_TIMEOUT).await {
                    Ok((info, latency)) => match ServiceUri::parse(&info.transcoder) {
                        Ok(service) if service != c.uri => check_peer(&service, allow_private)
                            .await
                            .map(|()| (info, latency))
                            .map_err(refused),
                        // Unparsable: `accept` says why.
                        _ => Ok((info, latency)),
                    },
                    Err(e) => Err(e),
                },
            };
            (c, r)
        });
    }
    let start = tokio::time::Instant::now();
    let mut wait = first_wait.max(Duration::from_millis(50));
    let mut found = Vec::new();
    let mut failed = Vec::new();
    loop {
        let deadline = (start + wait).min(start + MAX_DISCOVERY_WAIT);
        tokio::select! {
            next = set.join_next() => match next {
                Some(Ok((c, Ok((info, latency))))) => match accept(&c, info, job, latency) {
                    Ok(d) => found.push(d),
                    Err(why) => failed.push((c.uri, why)),
                },
                Some(Ok((c, Err(e)))) => failed.push((c.uri, e.to_string())),
                Some(Err(_)) => {}
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => {
                if !found.is_empty() || start + wait >= start + MAX_DISCOVERY_WAIT {
                    break;
                }
                wait = (wait * 2).min(MAX_DISCOVERY_WAIT);
            }
        }
        if found.len() >= want {
            break;
        }
    }
    set.abort_all();
    found.sort_by_key(|d| d.latency);
    found.truncate(want);
    (found, failed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn peers_must_be_public_unless_allowed() {
        let uri = |t: &str| ServiceUri::parse(t).unwrap();
        for bad in [
            "https://127.0.0.1:8935",
            "https://[::1]:8935",
            "https://localhost:8935",
            "https://api.localhost:8935",
            "https://0.0.0.0:8935",
            "https://10.0.0.7:8935",
            "https://192.168.1.1:8935",
            "https://169.254.169.254:80",
            "https://[fe80::1]:8935",
            "https://[::ffff:127.0.0.1]:8935",
            "https://224.0.0.1:8935",
        ] {
            let why = check_peer(&uri(bad), false).await.unwrap_err();
            assert!(why.contains("not a public address"), "{bad}: {why}");
            check_peer(&uri(bad), true).await.unwrap();
        }
        check_peer(&uri("https://8.8.8.8:8935"), false)
            .await
            .unwrap();
        check_peer(&uri("https://[2606:4700::1111]:8935"), false)
            .await
            .unwrap();
    }

    #[test]
    fn private_peers_only_off_chain_and_on_development_chains() {
        assert!(private_peers_by_default(None));
        assert!(private_peers_by_default(Some(31337)));
        assert!(private_peers_by_default(Some(1337)));
        assert!(!private_peers_by_default(Some(1)));
        assert!(!private_peers_by_default(Some(42161)));
    }
}
