//! What the node roles read from and write to the protocol's contracts, through
//! `reel_chain::Protocol`: chain facts for payments (block, last initialised round and its
//! block hash, gas price), the gateway's orchestrator candidates (the transcoder pool and
//! each member's ServiceRegistry URI), the orchestrator's service URI registration, and the
//! round keeper (`reward()` once per round, optionally `initializeRound()`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::Provider;
use reel_chain::Protocol;
use reel_chain::keeper::{Keeper, KeeperConfig};
use reel_pm::ticket::ExpirationParams;
use reel_types::Wei;

use crate::NodeError;
use crate::gateway::discovery::{Candidate, OrchestratorSource};
use crate::payments::{ChainFacts, FactsSource};
use crate::rpc::ServiceUri;
use crate::tasks::Tasks;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn read_err(op: &'static str, e: impl std::fmt::Display) -> NodeError {
    NodeError::ChainRead {
        op,
        message: e.to_string(),
    }
}

/// Chain facts from the protocol's RoundsManager and the node's RPC.
#[derive(Debug, Clone)]
pub struct ProtocolFacts(pub Protocol);

impl ProtocolFacts {
    async fn read(&self) -> Result<ChainFacts, NodeError> {
        let p = &self.0;
        let status = p.round_status().await?;
        let round = status.last_initialized.0;
        let hash = p
            .rounds_manager()
            .blockHashForRound(alloy::primitives::U256::from(round))
            .call()
            .await
            .map_err(|e| read_err("blockHashForRound", e))?;
        let gas = p
            .provider()
            .get_gas_price()
            .await
            .map_err(|e| read_err("eth_gasPrice", e))?;
        Ok(ChainFacts {
            block: status.block,
            round,
            expiration: ExpirationParams {
                creation_round: round,
                creation_round_block_hash: hash,
            },
            gas_price: Wei::from_base_units(alloy::primitives::U256::from(gas)),
        })
    }
}

impl FactsSource for ProtocolFacts {
    fn facts(&self) -> BoxFut<'_, Result<ChainFacts, NodeError>> {
        Box::pin(self.read())
    }
}

/// The gateway's candidates from the chain: active members of the transcoder pool with a
/// service URI, weighted by stake.
#[derive(Debug, Clone)]
pub struct PoolSource(pub Protocol);

impl PoolSource {
    async fn read(&self) -> Result<Vec<Candidate>, NodeError> {
        let pool: Vec<_> = self
            .0
            .pool()
            .await?
            .into_iter()
            .filter(|m| m.active)
            .collect();
        let p = self.0.clone();
        let uris =
            reel_chain::concurrently(pool.clone(), move |m: reel_chain::protocol::PoolMember| {
                let p = p.clone();
                async move { p.service_uri(m.address).await }
            })
            .await?;
        let mut out = Vec::new();
        for (m, service_uri) in pool.into_iter().zip(uris) {
            match ServiceUri::parse(&service_uri) {
                Ok(uri) => out.push(Candidate {
                    uri,
                    address: Some(m.address),
                    stake: crate::payments::wei_f64(Wei::from_base_units(m.stake.base_units()))
                        / 1e18,
                }),
                Err(_) => {
                    tracing::info!(target: "node::gateway", orch = %m.address, uri = %service_uri, "active orchestrator without a usable service URI: skipped");
                }
            }
        }
        Ok(out)
    }
}

impl OrchestratorSource for PoolSource {
    fn candidates(&self) -> BoxFut<'_, Result<Vec<Candidate>, NodeError>> {
        Box::pin(self.read())
    }
    fn ordered(&self) -> bool {
        false
    }
}

/// Makes the ServiceRegistry point at `uri` when the signer is a registered orchestrator
/// whose URI differs. Returns what it did, for the log.
pub async fn ensure_service_uri(
    protocol: &Protocol,
    uri: &ServiceUri,
) -> Result<String, NodeError> {
    let me = protocol.from()?;
    let t = protocol.transcoder(me).await?;
    if !t.registered {
        return Ok(format!(
            "{me} is not a registered orchestrator yet: register with `reel stake transcoder \
             --reward-cut PCT --fee-share PCT --bond AMOUNT --service-uri {uri}`"
        ));
    }
    if t.service_uri == uri.to_string() {
        return Ok(format!("service URI {uri} already registered"));
    }
    protocol.ensure_round_initialized().await?;
    let tx = protocol.set_service_uri(&uri.to_string()).await?;
    Ok(format!("registered service URI {uri} (tx {})", tx.tx))
}

/// Runs the round keeper as the task `keeper` and returns it (for its status). Each tick's
/// outcome is recorded in the node's task health, and the keeper's own verdict
/// ([`reel_chain::keeper::KeeperStatus::problem`]: an active orchestrator without `reward()`
/// by the middle of the round, or ticks failing in a row) is raised as its condition.
pub fn spawn_keeper(
    tasks: &Tasks,
    protocol: Protocol,
    reward: bool,
    initialize_rounds: bool,
    poll: Duration,
) -> Arc<Keeper> {
    let keeper = Arc::new(Keeper::new(
        protocol,
        KeeperConfig {
            initialize_rounds,
            reward,
            poll,
        },
    ));
    let k = Arc::clone(&keeper);
    let health = Arc::clone(tasks.health());
    health.declare("keeper");
    tasks.spawn("keeper", async move {
        let mut interval = tokio::time::interval(poll);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            let outcome = k.tick().await.map(drop);
            if let Err(e) = &outcome {
                tracing::warn!(target: "chain::rounds", error = %e, retryable = e.is_retryable(), "keeper tick failed");
            }
            health.record("keeper", &outcome);
            health.set_condition("keeper", k.status().problem());
        }
    });
    keeper
}
