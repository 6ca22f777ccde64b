//! A whole reel network in one process, used by `reel devnet --demo` and by the tests and
//! benches: an anvil devnet with the protocol deployed, orchestrators that bonded, set their
//! terms, registered their service URI and take tickets (optionally transcoding on a remote
//! transcoder), delegators bonded to them, and a gateway paying from its deposit, all
//! started with the node builders the binary uses (`reel_node::node`). Optionally the chain
//! then runs on a block timer with keepers moving rounds and calling `reward()`.
//!
//! Separate from `reel-testkit` because it needs `reel-node`: the kit stays usable by the
//! crates below it. It enables no test-only feature of the crates it uses: the binary
//! depends on it.
//!
//! Accounts: 0 moves the chain (mines, initialises rounds), 1..=n are the orchestrators in
//! the order given, then the delegators in the order given, then the gateway.

mod error;
mod role;
mod setup;
mod spec;

use std::future::Future;
use std::sync::Arc;

use reel_chain::{ChainConfig, Devnet, DevnetOptions, Protocol, SenderConfig as TxConfig};
use reel_node::chain::ProtocolFacts;
use reel_node::metrics::Registry;
use reel_node::node::GatewayNode;
use reel_node::orchestrator::RunningOrchestrator;
use reel_node::payments::{FactsSource, OrchPayments};
use reel_node::tasks::Tasks;
use tokio_util::sync::CancellationToken;

pub use error::LocalNetError;
use error::{chain, node};
pub use role::{Placement, Role};
use setup::{
    Account, connect_as, interval_mining, next_round, on, room_for, signer, start_gateway,
    start_node, start_orchestrator,
};
pub use spec::{DelegatorSpec, GatewaySpec, NetworkSpec, OrchestratorSpec, TranscoderSpec};

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
    /// The metrics of its remote transcoders (run in this process), in the order given.
    pub transcoders: Vec<Arc<Registry>>,
}

/// A delegator of the network.
#[derive(Debug)]
pub struct LocalDelegator {
    /// Its account on the chain.
    pub protocol: Protocol,
    /// The orchestrator it bonded to, as an index into the network's orchestrators.
    pub to: usize,
}

/// The network: the devnet, its orchestrators, delegators and gateway. Stop it with
/// [`LocalNetwork::stop`]; the nodes stop with the token given at start too.
#[derive(Debug)]
pub struct LocalNetwork {
    /// The chain: see [`LocalNetwork::devnet`]. `None` only while it restarts.
    devnet: Option<Devnet>,
    /// What it was started with, on the port it got: a restart uses them again.
    options: DevnetOptions,
    /// How to reach it.
    pub config: ChainConfig,
    /// The orchestrators, in the order given.
    pub orchestrators: Vec<LocalOrchestrator>,
    /// The delegators, in the order given.
    pub delegators: Vec<LocalDelegator>,
    /// The gateway's account on the chain.
    pub gateway_protocol: Option<Protocol>,
    /// The gateway node.
    pub gateway: Option<GatewayNode>,
    tx: TxConfig,
    /// The keepers and remote transcoders.
    tasks: Tasks,
    shutdown: CancellationToken,
    placement: Option<Arc<dyn Placement>>,
    block_time: Option<u64>,
    /// Account 0, which moves the chain.
    mover: Protocol,
    gateway_spec: Option<GatewaySpec>,
}

impl LocalNetwork {
    /// [`LocalNetwork::launch`] with these orchestrators and gateway only, default
    /// transaction timings, a block per transaction and no keepers.
    pub async fn start(
        options: DevnetOptions,
        orchestrators: Vec<OrchestratorSpec>,
        gateway: Option<GatewaySpec>,
        shutdown: &CancellationToken,
    ) -> Result<Self, LocalNetError> {
        Self::launch(options, NetworkSpec::new(orchestrators, gateway), shutdown).await
    }

    /// Starts the devnet, then each orchestrator (and its remote transcoders; bonded, terms
    /// set, registered early in a round so that it is active in the next), bonds the
    /// delegators, then moves to the next round and, with a gateway, funds and starts it.
    /// Last, the block timer and keepers the `NetworkSpec` asks for. Each role's work runs
    /// where the placement asked for puts it. The nodes stop when `shutdown` is cancelled.
    pub async fn launch(
        options: DevnetOptions,
        spec: NetworkSpec,
        shutdown: &CancellationToken,
    ) -> Result<Self, LocalNetError> {
        // Every role of the network in this process, as `reel` runs them (a no-op after
        // its own call): the same allocator set-up, so a long run measures what a node
        // does with its memory.
        reel_node::memory::tune_allocator();
        let NetworkSpec {
            orchestrators,
            delegators,
            gateway,
            tx,
            block_time,
            keepers,
            placement,
        } = spec;
        let roles = orchestrators
            .len()
            .saturating_add(delegators.len())
            .saturating_add(1);
        let needed = roles.saturating_add(1);
        if options.accounts < needed {
            return Err(LocalNetError::Accounts {
                roles,
                needed,
                have: options.accounts,
            });
        }
        if let Some((n, d)) = delegators
            .iter()
            .enumerate()
            .find(|(_, d)| d.to >= orchestrators.len())
        {
            return Err(LocalNetError::NoSuchOrchestrator {
                delegator: n,
                to: d.to,
                have: orchestrators.len(),
            });
        }
        let place = placement.as_ref();
        let devnet = on(place, Role::Chain, Devnet::start(options.clone())).await??;
        // A restart comes back on the same port, so that every role's URL stays right.
        let options = DevnetOptions {
            port: Some(devnet.anvil().port()),
            ..options
        };
        let f = devnet.file().clone();
        let config = devnet.chain_config();
        let tasks = Tasks::with_shutdown(shutdown.clone());
        let account = |i: usize| Account {
            file: f.clone(),
            config: config.clone(),
            tx: tx.clone(),
            i,
        };

        // Registered early in a round: its last blocks are locked.
        let mover = on(place, Role::Chain, account(0).connect()).await??;
        let m = mover.clone();
        on(place, Role::Chain, async move { next_round(&m).await }).await??;
        let mut orchs = Vec::new();
        for (n, spec) in orchestrators.into_iter().enumerate() {
            let a = account(n.saturating_add(1));
            let stop = shutdown.clone();
            let (mut o, transcoders) = on(
                place,
                Role::Orchestrator(n),
                start_orchestrator(a, spec, stop),
            )
            .await??;
            for (k, t) in transcoders.into_iter().enumerate() {
                let t = t.settings(o.node.uri().clone());
                let stop = shutdown.clone();
                let registry = Registry::new();
                o.transcoders.push(Arc::clone(&registry));
                let run = async move {
                    if let Err(e) = reel_node::transcoder::run(t, registry, stop).await {
                        tracing::error!(error = %e, "remote transcoder stopped");
                    }
                };
                match place.and_then(|p| p.runtime(Role::Transcoder(n, k))) {
                    Some(h) => tasks.spawn("transcoder", async move {
                        let _ = h.spawn(run).await;
                    }),
                    None => tasks.spawn("transcoder", run),
                }
            }
            orchs.push(o);
        }
        let mut dels = Vec::new();
        for (n, d) in delegators.into_iter().enumerate() {
            let a = account(orchs.len().saturating_add(n).saturating_add(1));
            let to = orchs.get(d.to).ok_or(LocalNetError::NoSuchOrchestrator {
                delegator: n,
                to: d.to,
                have: orchs.len(),
            })?;
            let to_addr = to.node.address();
            let p = on(place, Role::Delegator(n), async move {
                let i = a.i;
                let p = a.connect().await?;
                room_for(&p, 3).await?;
                p.bond(d.stake, to_addr)
                    .await
                    .map_err(chain(format!("delegator {i} bonding")))?;
                Ok::<_, LocalNetError>(p)
            })
            .await??;
            dels.push(LocalDelegator {
                protocol: p,
                to: d.to,
            });
        }
        let m = mover.clone();
        on(place, Role::Chain, async move { next_round(&m).await }).await??;
        // Chain facts move on with the round; the params the orchestrators issue follow.
        for (n, o) in orchs.iter().enumerate() {
            let (p, pay) = (o.protocol.clone(), o.payments.clone());
            on(place, Role::Orchestrator(n), async move {
                let facts = ProtocolFacts(p)
                    .facts()
                    .await
                    .map_err(node("reading chain facts"))?;
                pay.set_facts(facts);
                Ok::<_, LocalNetError>(())
            })
            .await??;
        }

        let mut gateway_spec = None;
        let (gateway_protocol, gateway) = match gateway {
            None => (None, None),
            Some(spec) => {
                let a = account(orchs.len().saturating_add(dels.len()).saturating_add(1));
                let uris = orchs.iter().map(|o| o.node.uri().clone()).collect();
                let stop = shutdown.child_token();
                let started = start_gateway(a, spec.clone(), uris, stop);
                let (gp, g) = on(place, Role::Gateway, started).await??;
                gateway_spec = Some(spec);
                (Some(gp), Some(g))
            }
        };
        if let Some(secs) = block_time {
            on(place, Role::Chain, interval_mining(mover.clone(), secs)).await??;
        }
        if let Some(poll) = keepers {
            for (n, o) in orchs.iter().enumerate() {
                let (t, p) = (tasks.clone(), o.protocol.clone());
                // Spawned from the role's runtime, the keeper runs there.
                on(place, Role::Orchestrator(n), async move {
                    reel_node::chain::spawn_keeper(&t, p, true, false, poll);
                })
                .await?;
            }
            let (t, m) = (tasks.clone(), mover.clone());
            on(place, Role::Chain, async move {
                reel_node::chain::spawn_keeper(&t, m, false, true, poll);
            })
            .await?;
        }
        Ok(Self {
            devnet: Some(devnet),
            options,
            config,
            orchestrators: orchs,
            delegators: dels,
            gateway_protocol,
            gateway,
            tx,
            tasks,
            shutdown: shutdown.clone(),
            placement,
            block_time,
            mover,
            gateway_spec,
        })
    }

    /// Stops the gateway and starts it again with the same settings, key and (funded)
    /// account, on the same addresses: what a gateway host's restart looks like to its
    /// publishers and orchestrators. Without a gateway, does nothing.
    pub async fn restart_gateway(&mut self) -> Result<(), LocalNetError> {
        let Some(mut spec) = self.gateway_spec.clone() else {
            return Ok(());
        };
        let Some(g) = self.gateway.take() else {
            return Ok(());
        };
        // Back where publishers know it, whatever port 0 had picked.
        spec.settings.http_addr = g.gateway.http_addr();
        g.stop().await;
        let i = self
            .orchestrators
            .len()
            .saturating_add(self.delegators.len())
            .saturating_add(1);
        let a = Account {
            file: self.devnet().file().clone(),
            config: self.config.clone(),
            tx: self.tx.clone(),
            i,
        };
        let uris = self
            .orchestrators
            .iter()
            .map(|o| o.node.uri().clone())
            .collect();
        let stop = self.shutdown.child_token();
        let started = async move {
            let eth_signer = signer(&a.file, i)?;
            let gp = a.connect().await?;
            // Already funded: the restarted gateway reads its deposit from the chain.
            start_node(gp, spec, uris, stop, eth_signer, true).await
        };
        let (gp, g) = on(self.placement.as_ref(), Role::Gateway, started).await??;
        self.gateway_protocol = Some(gp);
        self.gateway = Some(g);
        Ok(())
    }

    /// Runs `fut` where the network's placement puts `role` (on the caller's runtime
    /// without one), and waits for it: a test's calls as that role go out from its host.
    pub async fn on<F>(&self, role: Role, fut: F) -> Result<F::Output, LocalNetError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        on(self.placement.as_ref(), role, fut).await
    }

    /// The chain.
    pub fn devnet(&self) -> &Devnet {
        match &self.devnet {
            Some(d) => d,
            // Only `restart_chain` takes it, and puts a new one back before returning.
            None => unreachable!("the devnet is always running between calls"),
        }
    }

    /// Stops the chain and starts it again from its saved state, on the same host and
    /// port: what a chain host's restart looks like to the roles, whose connections fail
    /// until it is back. Gracefully (`kill` false) anvil writes its state as it stops;
    /// killed, the chain comes back from its last periodic dump, a few blocks behind.
    pub async fn restart_chain(&mut self, kill: bool) -> Result<(), LocalNetError> {
        if let Some(d) = self.devnet.take() {
            if kill {
                on(self.placement.as_ref(), Role::Chain, d.kill()).await??;
            } else {
                on(self.placement.as_ref(), Role::Chain, d.shutdown()).await??;
            }
        }
        let options = DevnetOptions {
            reset: false,
            ..self.options.clone()
        };
        let d = on(self.placement.as_ref(), Role::Chain, Devnet::start(options)).await??;
        self.devnet = Some(d);
        if let Some(secs) = self.block_time {
            // The block timer is not part of the saved state.
            let m = self.mover.clone();
            on(
                self.placement.as_ref(),
                Role::Chain,
                interval_mining(m, secs),
            )
            .await??;
        }
        Ok(())
    }

    /// A connection as devnet account `i` (0 moves the chain), sending with the network's
    /// transaction timings. Made from the caller's runtime: with a placement, call it
    /// through [`LocalNetwork::on`].
    pub async fn account(&self, i: usize) -> Result<Protocol, LocalNetError> {
        connect_as(self.devnet().file(), &self.config, &self.tx, i).await
    }

    /// The signer of devnet account `i`, as a node signs.
    pub fn signer(&self, i: usize) -> Result<reel_net::EthSigner, LocalNetError> {
        signer(self.devnet().file(), i)
    }

    /// Stops the gateway first (so that it sends nothing to a stopping orchestrator), then
    /// the orchestrators, keepers and transcoders, then the devnet.
    pub async fn stop(self) -> Result<(), LocalNetError> {
        if let Some(g) = self.gateway {
            g.stop().await;
        }
        self.shutdown.cancel();
        for o in self.orchestrators {
            o.node.stop().await;
        }
        self.tasks.shutdown().await;
        if let Some(d) = self.devnet {
            on(self.placement.as_ref(), Role::Chain, d.shutdown()).await??;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use reel_node::orchestrator::OrchestratorSettings;
    use reel_pm::{RecipientConfig, RedeemerConfig};
    use reel_types::{Lpt, Wei};

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
            transcoder: None,
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

    #[tokio::test]
    async fn a_delegator_of_a_missing_orchestrator_is_an_error_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        let spec = NetworkSpec {
            delegators: vec![DelegatorSpec {
                stake: Lpt::from_whole(1),
                to: 0,
            }],
            ..NetworkSpec::new(Vec::new(), None)
        };
        let err = LocalNetwork::launch(
            DevnetOptions::ephemeral(dir.path(), 3),
            spec,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                LocalNetError::NoSuchOrchestrator {
                    delegator: 0,
                    to: 0,
                    have: 0
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
