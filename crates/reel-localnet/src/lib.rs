//! A whole reel network in one process, for tests and benches: an anvil devnet with the
//! protocol deployed, orchestrators that bonded, set their terms, registered their service
//! URI and take tickets, and a gateway paying from its deposit, all started with the
//! node builders the binary uses (`reel_node::node`).
//!
//! Separate from `reel-testkit` because it needs `reel-node`: the kit stays usable by the
//! crates below it.
//!
//! Accounts: 0 moves the chain (mines, initialises rounds), 1..=n are the orchestrators in
//! the order given, n + 1 is the gateway.

use std::sync::Arc;

use alloy::signers::local::PrivateKeySigner;
use reel_chain::{ChainConfig, ChainError, Devnet, DevnetError, DevnetOptions, Protocol};
use reel_node::NodeError;
use reel_node::chain::ProtocolFacts;
use reel_node::gateway::GatewaySettings;
use reel_node::gateway::discovery::ListSource;
use reel_node::node::{GatewayBuilder, GatewayNode, OrchestratorBuilder};
use reel_node::orchestrator::{OrchestratorSettings, RunningOrchestrator};
use reel_node::payments::{FactsSource, OrchPayments};
use reel_node::tasks::Tasks;
use reel_pm::broker::{ReserveInfo, SenderInfo};
use reel_pm::{RecipientConfig, RedeemerConfig, SenderConfig};
use reel_types::{Lpt, Ppm, Wei};
use tokio_util::sync::CancellationToken;

/// Starting a local network failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalNetError {
    /// The devnet did not start.
    #[error("devnet: {0}")]
    Devnet(#[from] DevnetError),
    /// A chain call failed.
    #[error("{what}: {source}")]
    Chain {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: ChainError,
    },
    /// A node did not start or register.
    #[error("{what}: {source}")]
    Node {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: NodeError,
    },
    /// The devnet has too few accounts for the roles asked for.
    #[error("{roles} roles need {needed} devnet accounts, the devnet has {have}")]
    Accounts {
        /// Orchestrators and the gateway, plus the account that moves the chain.
        roles: usize,
        /// Accounts needed.
        needed: usize,
        /// Accounts the devnet options give.
        have: usize,
    },
    /// A devnet key is not a valid secp256k1 key.
    #[error("devnet account {0}: not a valid key")]
    Key(usize),
}

fn chain(what: impl Into<String>) -> impl FnOnce(ChainError) -> LocalNetError {
    let what = what.into();
    move |source| LocalNetError::Chain { what, source }
}

fn node(what: impl Into<String>) -> impl FnOnce(NodeError) -> LocalNetError {
    let what = what.into();
    move |source| LocalNetError::Node { what, source }
}

/// One orchestrator: its stake and terms on chain, its node settings and payment terms.
#[derive(Debug)]
pub struct OrchestratorSpec {
    /// Self-bonded stake.
    pub stake: Lpt,
    /// Reward cut.
    pub reward_cut: Ppm,
    /// Fee share.
    pub fee_share: Ppm,
    /// The node's settings (addresses, price, data directory).
    pub settings: OrchestratorSettings,
    /// How it issues ticket params and validates tickets.
    pub recipient: RecipientConfig,
    /// How it redeems winners.
    pub redeemer: RedeemerConfig,
    /// The float it gives a sender whose deposit it has not read yet.
    pub unverified_max_float: Wei,
}

/// The gateway: its settings, payment limits and what it deposits.
#[derive(Debug)]
pub struct GatewaySpec {
    /// The node's settings (addresses, ladder, selection weights).
    pub settings: GatewaySettings,
    /// Ticket limits.
    pub sender: SenderConfig,
    /// Funded into the TicketBroker before the gateway starts.
    pub deposit: Wei,
    /// Funded as the reserve.
    pub reserve: Wei,
    /// Orchestrators from this network's list (their URIs) instead of the chain's pool:
    /// for orchestrators a test keeps out of the pool's draw.
    pub listed_only: bool,
}

/// A running orchestrator of the network.
#[derive(Debug)]
pub struct LocalOrchestrator {
    /// Its account on the chain.
    pub protocol: Protocol,
    /// The node.
    pub node: RunningOrchestrator,
    /// Its ticket store and balances.
    pub payments: Arc<OrchPayments>,
    /// What registering its service URI said.
    pub registration: String,
}

/// The network: the devnet, its orchestrators and gateway. Stop it with
/// [`LocalNetwork::stop`]; the nodes stop with the token given at start too.
#[derive(Debug)]
pub struct LocalNetwork {
    /// The chain.
    pub devnet: Devnet,
    /// How to reach it.
    pub config: ChainConfig,
    /// The orchestrators, in the order given.
    pub orchestrators: Vec<LocalOrchestrator>,
    /// The gateway's account on the chain.
    pub gateway_protocol: Option<Protocol>,
    /// The gateway node.
    pub gateway: Option<GatewayNode>,
    shutdown: CancellationToken,
}

impl LocalNetwork {
    /// Starts the devnet, then each orchestrator (bonded, terms set, registered early in a
    /// round so that it is active in the next), then moves to the next round and, with a
    /// gateway, funds and starts it. The nodes stop when `shutdown` is cancelled.
    pub async fn start(
        options: DevnetOptions,
        orchestrators: Vec<OrchestratorSpec>,
        gateway: Option<GatewaySpec>,
        shutdown: &CancellationToken,
    ) -> Result<Self, LocalNetError> {
        let roles = orchestrators.len().saturating_add(1);
        let needed = roles.saturating_add(1);
        if options.accounts < needed {
            return Err(LocalNetError::Accounts {
                roles,
                needed,
                have: options.accounts,
            });
        }
        let devnet = Devnet::start(options).await?;
        let f = devnet.file().clone();
        let config = devnet.chain_config();
        let key = |i: usize| -> Result<PrivateKeySigner, LocalNetError> {
            let a = f.accounts.get(i).ok_or(LocalNetError::Key(i))?;
            PrivateKeySigner::from_bytes(&a.private_key).map_err(|_| LocalNetError::Key(i))
        };
        let connect = async |i: usize| {
            Protocol::connect(&config, Some(key(i)?))
                .await
                .map_err(chain(format!("connecting account {i}")))
        };
        let eth_signer = |i: usize| -> Result<reel_net::EthSigner, LocalNetError> {
            reel_net::EthSigner::from_bytes(&key(i)?.to_bytes().0)
                .map_err(|_| LocalNetError::Key(i))
        };

        // Registered early in a round: its last blocks are locked.
        let mover = connect(0).await?;
        next_round(&devnet, &mover).await?;
        let mut orchs = Vec::new();
        for (n, spec) in orchestrators.into_iter().enumerate() {
            let i = n.saturating_add(1);
            let p = connect(i).await?;
            p.ensure_round_initialized()
                .await
                .map_err(chain("initialising the round"))?;
            let me = p.from().map_err(chain("the orchestrator's address"))?;
            p.bond(spec.stake, me)
                .await
                .map_err(chain(format!("orchestrator {i} bonding")))?;
            p.set_transcoder(spec.reward_cut, spec.fee_share)
                .await
                .map_err(chain(format!("orchestrator {i} setting its terms")))?;
            // One sender for the account: the redeemer's transactions and the caller's share it.
            let started = OrchestratorBuilder::new(spec.settings)
                .signer(eth_signer(i)?)
                .chain(p.clone())
                .payments(spec.recipient, spec.redeemer, spec.unverified_max_float)
                .tasks(Tasks::with_shutdown(shutdown.child_token()))
                .start()
                .await
                .map_err(node(format!("starting orchestrator {i}")))?;
            let payments = started
                .payments
                .clone()
                .ok_or_else(|| LocalNetError::Node {
                    what: format!("orchestrator {i}"),
                    source: NodeError::Config("started without payments".into()),
                })?;
            let node_ = started.orchestrator;
            let registration = reel_node::chain::ensure_service_uri(&p, node_.uri())
                .await
                .map_err(node(format!("registering orchestrator {i}")))?;
            orchs.push(LocalOrchestrator {
                protocol: p,
                node: node_,
                payments,
                registration,
            });
        }
        next_round(&devnet, &mover).await?;
        // Chain facts move on with the round; the params the orchestrators issue follow.
        for o in &orchs {
            let facts = ProtocolFacts(o.protocol.clone())
                .facts()
                .await
                .map_err(node("reading chain facts"))?;
            o.payments.set_facts(facts);
        }

        let (gateway_protocol, gateway) = match gateway {
            None => (None, None),
            Some(spec) => {
                let i = orchs.len().saturating_add(1);
                let gp = connect(i).await?;
                gp.fund_deposit_and_reserve(spec.deposit, spec.reserve)
                    .await
                    .map_err(chain("funding the gateway"))?;
                // Read from the TicketBroker once started: nothing is assumed.
                let unused = SenderInfo {
                    deposit: Wei::ZERO,
                    withdraw_round: 0,
                    reserve: ReserveInfo::default(),
                };
                let mut builder = GatewayBuilder::new(spec.settings)
                    .signer(eth_signer(i)?)
                    .chain(gp.clone());
                if spec.listed_only {
                    let uris = orchs.iter().map(|o| o.node.uri().clone()).collect();
                    builder = builder.source(Arc::new(ListSource(uris)));
                }
                let g = builder
                    .payments(spec.sender, unused)
                    .tasks(Tasks::with_shutdown(shutdown.child_token()))
                    .start()
                    .await
                    .map_err(node("starting the gateway"))?;
                (Some(gp), Some(g))
            }
        };
        Ok(Self {
            devnet,
            config,
            orchestrators: orchs,
            gateway_protocol,
            gateway,
            shutdown: shutdown.clone(),
        })
    }

    /// A connection as devnet account `i` (0 moves the chain).
    pub async fn account(&self, i: usize) -> Result<Protocol, LocalNetError> {
        let a = self
            .devnet
            .file()
            .accounts
            .get(i)
            .ok_or(LocalNetError::Key(i))?;
        let key =
            PrivateKeySigner::from_bytes(&a.private_key).map_err(|_| LocalNetError::Key(i))?;
        Protocol::connect(&self.config, Some(key))
            .await
            .map_err(chain(format!("connecting account {i}")))
    }

    /// The signer of devnet account `i`, as a node signs.
    pub fn signer(&self, i: usize) -> Result<reel_net::EthSigner, LocalNetError> {
        let a = self
            .devnet
            .file()
            .accounts
            .get(i)
            .ok_or(LocalNetError::Key(i))?;
        reel_net::EthSigner::from_bytes(&a.private_key.0).map_err(|_| LocalNetError::Key(i))
    }

    /// Stops the nodes (gateway first), then the devnet.
    pub async fn stop(self) -> Result<(), LocalNetError> {
        self.shutdown.cancel();
        if let Some(g) = self.gateway {
            g.stop().await;
        }
        for o in self.orchestrators {
            o.node.stop().await;
        }
        self.devnet.shutdown().await?;
        Ok(())
    }
}

/// Mines to the start of the next round and initialises it from `mover`'s account.
async fn next_round(devnet: &Devnet, mover: &Protocol) -> Result<(), LocalNetError> {
    devnet.mine_to_next_round().await?;
    mover
        .ensure_round_initialized()
        .await
        .map_err(chain("initialising the round"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn too_few_accounts_is_an_error_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |i: usize| OrchestratorSpec {
            stake: Lpt::from_whole(1),
            reward_cut: "0".parse().unwrap(),
            fee_share: "0".parse().unwrap(),
            settings: OrchestratorSettings {
                data_dir: Some(dir.path().join(format!("o{i}"))),
                ..OrchestratorSettings::new("127.0.0.1:0".parse().unwrap())
            },
            recipient: RecipientConfig::default(),
            redeemer: RedeemerConfig::default(),
            unverified_max_float: Wei::ZERO,
        };
        let err = LocalNetwork::start(
            DevnetOptions::ephemeral(dir.path(), 2),
            vec![spec(1), spec(2)],
            None,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                LocalNetError::Accounts {
                    roles: 3,
                    needed: 4,
                    have: 2
                }
            ),
            "{err}"
        );
        assert!(
            !dir.path().join("devnet.json").exists(),
            "no devnet started"
        );
    }
}
