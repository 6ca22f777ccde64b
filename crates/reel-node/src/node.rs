//! One place to assemble a node. [`OrchestratorBuilder`] and [`GatewayBuilder`] start a
//! role with everything around it — its payments, the chain facts it prices tickets on, the
//! TicketBroker watcher, the redeemer, the ticket store probe, the round keeper, its service
//! URI on chain — and own every background task they start in one [`Tasks`]: each named,
//! all stopped together, a panic in any of them a clean shutdown that says which.
//!
//! `reel orchestrator`, `reel gateway`, `reel devnet --demo`, the benches and the tests all
//! start roles through them.

use std::sync::Arc;
use std::time::Duration;

use reel_chain::Protocol;
use reel_chain::keeper::Keeper;
use reel_net::EthSigner;
use reel_pm::broker::SenderInfo;
use reel_pm::{RecipientConfig, RedeemerConfig, SenderConfig};
use reel_types::Wei;

use crate::NodeError;
use crate::chain::{PoolSource, ProtocolFacts};
use crate::gateway::discovery::OrchestratorSource;
use crate::gateway::{GatewaySettings, RunningGateway};
use crate::metrics::Registry;
use crate::orchestrator::{OrchestratorSettings, RunningOrchestrator};
use crate::payments::{BrokerHandle, ChainFacts, FactsSource, GatewayPayments, OrchPayments};
use crate::tasks::Tasks;

/// How often chain facts (block, round, gas price) are read.
const FACTS_EVERY: Duration = Duration::from_secs(1);
/// How often a gateway re-reads its own deposit and reserve.
const OWN_DEPOSIT_EVERY: Duration = Duration::from_secs(5);

/// Where a role's payments stand on the chain.
#[derive(Debug, Clone)]
enum Facts {
    /// Read from the chain through this client, then followed.
    Chain(Protocol),
    /// Fixed (benches and tests that pay without a chain).
    Fixed(ChainFacts),
}

impl Facts {
    async fn first(&self) -> Result<ChainFacts, NodeError> {
        match self {
            Self::Chain(p) => ProtocolFacts(p.clone()).facts().await,
            Self::Fixed(f) => Ok(*f),
        }
    }

    /// Follows the chain's facts into `on_update` (nothing to follow when fixed).
    fn follow(&self, tasks: &Tasks, on_update: impl FnMut(ChainFacts) + Send + 'static) {
        if let Self::Chain(p) = self {
            crate::payments::spawn_facts_poller(
                tasks,
                Arc::new(ProtocolFacts(p.clone())),
                FACTS_EVERY,
                on_update,
            );
        }
    }
}

/// The round keeper's job.
#[derive(Debug, Clone, Copy)]
struct KeeperSetup {
    reward: bool,
    initialize_rounds: bool,
    poll: Duration,
}

/// An orchestrator with everything around it.
#[derive(Debug)]
pub struct OrchestratorNode {
    pub orchestrator: RunningOrchestrator,
    pub payments: Option<Arc<OrchPayments>>,
    pub keeper: Option<Arc<Keeper>>,
    pub tasks: Tasks,
    /// What the start did on the chain, one line each (for the banner).
    pub notes: Vec<String>,
}

impl OrchestratorNode {
    /// Stops serving and every background task.
    pub async fn stop(self) {
        self.tasks.shutdown_token().cancel();
        self.orchestrator.stop().await;
        self.tasks.shutdown().await;
    }
}

/// Starts an orchestrator and what goes with it.
#[derive(Debug)]
pub struct OrchestratorBuilder {
    settings: OrchestratorSettings,
    signer: Option<EthSigner>,
    payments: Option<(RecipientConfig, RedeemerConfig, Wei)>,
    facts: Option<Facts>,
    broker: Option<BrokerHandle>,
    chain_broker: bool,
    keeper: Option<KeeperSetup>,
    register_service_uri: bool,
    registry: Arc<Registry>,
    tasks: Tasks,
}

impl OrchestratorBuilder {
    pub fn new(settings: OrchestratorSettings) -> Self {
        Self {
            settings,
            signer: None,
            payments: None,
            facts: None,
            broker: None,
            chain_broker: false,
            keeper: None,
            register_service_uri: false,
            registry: Registry::new(),
            tasks: Tasks::new(),
        }
    }

    /// The key that signs results and receives tickets; an ephemeral one by default.
    pub fn signer(mut self, signer: EthSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Takes payments: tickets validated, stored and credited; with a broker, redeemed.
    pub fn payments(
        mut self,
        recipient: RecipientConfig,
        redeemer: RedeemerConfig,
        unverified_max_float: Wei,
    ) -> Self {
        self.payments = Some((recipient, redeemer, unverified_max_float));
        self
    }

    /// On this chain: chain facts followed, and, with payments, the account's
    /// TicketBroker (sender checks, max float, redemption through the protocol's sender).
    pub fn chain(mut self, protocol: Protocol) -> Self {
        self.facts = Some(Facts::Chain(protocol));
        self.chain_broker = true;
        self
    }

    /// Fixed chain facts (payments without a chain: benches and tests).
    pub fn fixed_facts(mut self, facts: ChainFacts) -> Self {
        self.facts = Some(Facts::Fixed(facts));
        self
    }

    /// A TicketBroker of the caller's (a test's in-memory one, or a chain one built apart).
    pub fn broker(mut self, broker: BrokerHandle) -> Self {
        self.broker = Some(broker);
        self.chain_broker = false;
        self
    }

    /// Runs the round keeper (with [`Self::chain`]): `reward()` each round, and
    /// `initializeRound()` when nobody has.
    pub fn keeper(mut self, reward: bool, initialize_rounds: bool, poll: Duration) -> Self {
        self.keeper = Some(KeeperSetup {
            reward,
            initialize_rounds,
            poll,
        });
        self
    }

    /// Makes the ServiceRegistry point at this node's URI (with [`Self::chain`]).
    pub fn register_service_uri(mut self, yes: bool) -> Self {
        self.register_service_uri = yes;
        self
    }

    pub fn registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = registry;
        self
    }

    /// Runs the node's tasks in `tasks` (a caller's, to stop several roles together).
    pub fn tasks(mut self, tasks: Tasks) -> Self {
        self.tasks = tasks;
        self
    }

    pub async fn start(self) -> Result<OrchestratorNode, NodeError> {
        let signer = match self.signer {
            Some(s) => s,
            None => crate::ephemeral_signer()?,
        };
        let protocol = match &self.facts {
            Some(Facts::Chain(p)) => Some(p.clone()),
            _ => None,
        };
        let mut notes = Vec::new();
        let payments = match self.payments {
            None => None,
            Some((recipient, redeemer, max_float)) => {
                let broker = match (self.broker, &protocol) {
                    (Some(b), _) => Some(b),
                    (None, Some(p)) if self.chain_broker => chain_broker(p).await?,
                    _ => None,
                };
                if protocol.is_some() && broker.is_none() {
                    notes.push(
                        "note: this chain has no TicketBroker: tickets are validated, stored and \
                         credited, but winning tickets are not redeemed"
                            .to_owned(),
                    );
                }
                let data_dir = self.settings.data_dir.clone().ok_or_else(|| {
                    NodeError::Config("payments need a data directory (--data-dir)".into())
                })?;
                let p = Arc::new(OrchPayments::open(
                    &data_dir,
                    signer.address(),
                    recipient,
                    broker,
                    max_float,
                    redeemer,
                )?);
                let facts = self.facts.clone().ok_or_else(|| {
                    NodeError::Config("payments need chain facts: a chain or fixed facts".into())
                })?;
                p.set_facts(facts.first().await?);
                let p2 = Arc::clone(&p);
                facts.follow(&self.tasks, move |f| p2.set_facts(f));
                Some(p)
            }
        };
        let orchestrator = crate::orchestrator::start(
            self.settings,
            signer,
            payments.clone(),
            Arc::clone(&self.registry),
            self.tasks.clone(),
        )
        .await?;
        let mut keeper = None;
        if let Some(p) = &protocol {
            if self.register_service_uri {
                match crate::chain::ensure_service_uri(p, orchestrator.uri()).await {
                    Ok(msg) => notes.push(msg),
                    Err(e) => notes.push(format!("could not register the service URI: {e}")),
                }
            }
            if let Some(k) = self.keeper {
                keeper = Some(crate::chain::spawn_keeper(
                    &self.tasks,
                    p.clone(),
                    k.reward,
                    k.initialize_rounds,
                    k.poll,
                ));
            }
        }
        Ok(OrchestratorNode {
            orchestrator,
            payments,
            keeper,
            tasks: self.tasks,
            notes,
        })
    }
}

/// The chain-backed TicketBroker of the protocol's account, redeeming through its one
/// sender; `None` on a chain without a TicketBroker.
pub async fn chain_broker(protocol: &Protocol) -> Result<Option<BrokerHandle>, NodeError> {
    if protocol.contracts().ticket_broker.is_zero() {
        return Ok(None);
    }
    let config = reel_chain::ChainConfig {
        rpc_url: protocol.rpc_url().to_owned(),
        chain_id: protocol.sender()?.chain_id(),
        controller: protocol.contracts().controller,
    };
    let broker = reel_chain::broker::ChainTicketBroker::with_sender(
        &config,
        protocol.sender()?.clone(),
        Wei::ZERO,
    )
    .await?;
    Ok(Some(BrokerHandle::chain(broker)))
}

/// A gateway with everything around it.
#[derive(Debug)]
pub struct GatewayNode {
    pub gateway: RunningGateway,
    pub payments: Option<Arc<GatewayPayments>>,
    pub tasks: Tasks,
    pub notes: Vec<String>,
}

impl GatewayNode {
    /// Stops ingest, finishes the streams and stops every background task.
    pub async fn stop(self) {
        self.tasks.shutdown_token().cancel();
        self.gateway.stop().await;
        self.tasks.shutdown().await;
    }
}

/// Starts a gateway and what goes with it.
pub struct GatewayBuilder {
    settings: GatewaySettings,
    signer: Option<EthSigner>,
    source: Option<Arc<dyn OrchestratorSource>>,
    payments: Option<(SenderConfig, SenderInfo)>,
    facts: Option<Facts>,
    broker: Option<BrokerHandle>,
    chain_broker: bool,
    registry: Arc<Registry>,
    tasks: Tasks,
}

impl std::fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    pub fn new(settings: GatewaySettings) -> Self {
        Self {
            settings,
            signer: None,
            source: None,
            payments: None,
            facts: None,
            broker: None,
            chain_broker: false,
            registry: Registry::new(),
            tasks: Tasks::new(),
        }
    }

    pub fn signer(mut self, signer: EthSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Where orchestrators come from; the chain's pool with [`Self::chain`] by default.
    pub fn source(mut self, source: Arc<dyn OrchestratorSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Pays with tickets. Without a broker the deposit and reserve are taken as `assumed`.
    pub fn payments(mut self, cfg: SenderConfig, assumed: SenderInfo) -> Self {
        self.payments = Some((cfg, assumed));
        self
    }

    /// On this chain: orchestrators from its pool (unless a source is given), chain facts
    /// followed, and, with payments, the TicketBroker for this gateway's own deposit.
    pub fn chain(mut self, protocol: Protocol) -> Self {
        self.facts = Some(Facts::Chain(protocol));
        self.chain_broker = true;
        self
    }

    pub fn fixed_facts(mut self, facts: ChainFacts) -> Self {
        self.facts = Some(Facts::Fixed(facts));
        self
    }

    pub fn broker(mut self, broker: BrokerHandle) -> Self {
        self.broker = Some(broker);
        self.chain_broker = false;
        self
    }

    pub fn registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = registry;
        self
    }

    pub fn tasks(mut self, tasks: Tasks) -> Self {
        self.tasks = tasks;
        self
    }

    pub async fn start(mut self) -> Result<GatewayNode, NodeError> {
        let signer = match self.signer {
            Some(s) => s,
            None => crate::ephemeral_signer()?,
        };
        let protocol = match &self.facts {
            Some(Facts::Chain(p)) => Some(p.clone()),
            _ => None,
        };
        // Orchestrators from the chain's ServiceRegistry are anyone's: only public ones,
        // unless this is a development chain or the operator said otherwise.
        if self.settings.allow_private_peers.is_none()
            && self.source.is_none()
            && let Some(p) = &protocol
        {
            use alloy::providers::Provider;
            let id = p
                .provider()
                .get_chain_id()
                .await
                .map_err(|e| NodeError::ChainRead {
                    op: "eth_chainId",
                    message: e.to_string(),
                })?;
            let allow = crate::gateway::discovery::private_peers_by_default(Some(id));
            if !allow {
                tracing::info!(target: "node::gateway", chain_id = id, "dialling public orchestrators only (--allow-private-orchestrators to change)");
            }
            self.settings.allow_private_peers = Some(allow);
        }
        let source: Arc<dyn OrchestratorSource> = match (self.source, &protocol) {
            (Some(s), _) => s,
            (None, Some(p)) => Arc::new(PoolSource(p.clone())),
            (None, None) => {
                return Err(NodeError::Config(
                    "a gateway needs orchestrators: a chain, or --orch-addr".into(),
                ));
            }
        };
        let mut notes = Vec::new();
        let payments = match self.payments {
            None => None,
            Some((cfg, assumed)) => {
                let broker = match (self.broker, &protocol) {
                    (Some(b), _) => Some(b),
                    (None, Some(p)) if self.chain_broker => chain_broker(p).await?,
                    _ => None,
                };
                if protocol.is_some() && broker.is_none() {
                    notes.push(format!(
                        "note: this chain has no TicketBroker: this gateway's deposit and reserve \
                         are assumed to be {} and {}, not read from the chain",
                        assumed.deposit, assumed.reserve.funds_remaining
                    ));
                }
                let pay = Arc::new(GatewayPayments::new(signer.clone(), cfg, broker, assumed));
                if let Some(facts) = &self.facts {
                    pay.set_facts(facts.first().await?);
                    let p2 = Arc::clone(&pay);
                    facts.follow(&self.tasks, move |f| p2.set_facts(f));
                }
                pay.refresh_own().await?;
                pay.spawn_own_refresh(&self.tasks, OWN_DEPOSIT_EVERY);
                Some(pay)
            }
        };
        let gateway = crate::gateway::start(
            self.settings,
            signer,
            source,
            payments.clone(),
            Arc::clone(&self.registry),
            self.tasks.clone(),
        )
        .await?;
        Ok(GatewayNode {
            gateway,
            payments,
            tasks: self.tasks,
            notes,
        })
    }
}
