//! What a local network is made of: the roles asked for and how the chain is driven.

use std::sync::Arc;
use std::time::Duration;

use crate::Placement;

use reel_chain::SenderConfig as TxConfig;
use reel_node::gateway::GatewaySettings;
use reel_node::orchestrator::OrchestratorSettings;
use reel_node::rpc::ServiceUri;
use reel_node::transcoder::TranscoderSettings;
use reel_pm::{RecipientConfig, RedeemerConfig, SenderConfig};
use reel_types::{Lpt, Ppm, Wei};

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
    /// A remote transcoder doing all of its transcoding: the orchestrator then stops
    /// transcoding locally and takes the transcoder's secret.
    pub transcoder: Option<TranscoderSpec>,
}

impl OrchestratorSpec {
    /// An orchestrator with 100 LPT of stake, a 10% reward cut and a 50% fee share, issuing
    /// tickets of `ticket_ev` and giving an unread sender a float of 1 ETH: the usual
    /// paid orchestrator of a test.
    pub fn paid(settings: OrchestratorSettings, ticket_ev: Wei) -> Self {
        Self {
            stake: Lpt::from_whole(100),
            reward_cut: Ppm::new(100_000).unwrap_or(Ppm::ONE_HUNDRED_PERCENT),
            fee_share: Ppm::new(500_000).unwrap_or(Ppm::ONE_HUNDRED_PERCENT),
            settings,
            recipient: RecipientConfig {
                ticket_ev,
                ..RecipientConfig::default()
            },
            redeemer: RedeemerConfig::default(),
            unverified_max_float: Wei::from_whole(1),
            transcoder: None,
        }
    }
}

/// A remote transcoder, started once its orchestrator serves (its URI is known only then).
#[derive(Debug, Clone)]
pub struct TranscoderSpec {
    /// The secret shared with the orchestrator.
    pub secret: String,
    /// Sessions handled at once.
    pub capacity: u32,
    /// Encoder threads per session.
    pub encoder_threads: usize,
    /// How many transcoders run with these settings (at least one), each registering on
    /// its own as separate machines would.
    pub count: usize,
}

impl TranscoderSpec {
    /// The transcoder's settings once its orchestrator serves at `orch`.
    pub fn settings(&self, orch: ServiceUri) -> TranscoderSettings {
        let mut s = TranscoderSettings::new(orch, self.secret.clone());
        s.capacity = self.capacity;
        s.encoder_threads = self.encoder_threads;
        s
    }
}

/// A delegator bonding to one of the network's orchestrators before it goes live.
#[derive(Debug, Clone, Copy)]
pub struct DelegatorSpec {
    /// Stake bonded.
    pub stake: Lpt,
    /// The orchestrator, as an index into the network's orchestrators.
    pub to: usize,
}

/// The gateway: its settings, payment limits and what it deposits.
#[derive(Debug, Clone)]
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

impl GatewaySpec {
    /// A gateway with 1 ETH of deposit and 1 of reserve, signing tickets of at most
    /// `max_ticket_ev` and 1 ETH per payment, buying from the network's own orchestrators
    /// (`listed_only`): the usual paying gateway of a test.
    pub fn paying(settings: GatewaySettings, max_ticket_ev: Wei) -> Self {
        Self {
            settings,
            sender: SenderConfig {
                max_ticket_ev,
                max_total_ev: Wei::from_whole(1),
                ..SenderConfig::default()
            },
            deposit: Wei::from_whole(1),
            reserve: Wei::from_whole(1),
            listed_only: true,
        }
    }
}

/// Everything a network runs, beyond the devnet's own options.
#[derive(Debug)]
pub struct NetworkSpec {
    /// Orchestrators, on accounts 1..=n in this order.
    pub orchestrators: Vec<OrchestratorSpec>,
    /// Delegators, on the accounts after the orchestrators' in this order.
    pub delegators: Vec<DelegatorSpec>,
    /// The gateway, on the account after the delegators'.
    pub gateway: Option<GatewaySpec>,
    /// How every account sends transactions: a chain with a block timer wants shorter
    /// polls than the defaults, tuned for a public chain.
    pub tx: TxConfig,
    /// Once everything is set up, a block every this many seconds instead of one per
    /// transaction: set-up stays fast, and rounds then move on their own.
    pub block_time: Option<u64>,
    /// Once everything is set up, keepers polling this often: one per orchestrator calling
    /// `reward()`, and one on account 0 initialising rounds.
    pub keepers: Option<Duration>,
    /// Where each role runs; `None` runs them all on the caller's runtime.
    pub placement: Option<Arc<dyn Placement>>,
}

impl NetworkSpec {
    /// These orchestrators and gateway, no delegators, default transaction timings, a
    /// block per transaction and no keepers: the caller moves the chain.
    pub fn new(orchestrators: Vec<OrchestratorSpec>, gateway: Option<GatewaySpec>) -> Self {
        Self {
            orchestrators,
            delegators: Vec::new(),
            gateway,
            tx: TxConfig::default(),
            block_time: None,
            keepers: None,
            placement: None,
        }
    }
}
