//! `reel sim`: the Livepeer network at internet scale, to answer whether fees can pay for
//! it (see docs/simulator.md).
//!
//! A [`Scenario`] sets out the orchestrators, delegators, demand, prices and the protocol's
//! parameters. [`run`] draws the population from the scenario's seed and plays the rounds
//! with real parts of reel:
//! - selection is the gateway's own weights and decision (`reel_node::gateway::selection`),
//!   drawn in O(1) from an alias table per round ([`select`]);
//! - tickets are the recipient's own face value and win probability (`reel_pm`), with the
//!   lottery drawn exactly (binomial draws per interval of tickets);
//! - the contracts are `reel_econ`'s model, equal to the Solidity to the wei, so minted LPT,
//!   fee pools and delegators' pending stake and fees are the chain's own arithmetic.
//!
//! Two fidelities share everything but how a round's work is produced: [`events`] plays
//! every stream, session, failover, outage and job; [`aggregate`] takes each orchestrator's
//! expected share per round. [`report`] turns a run into Markdown and SVG charts.
//!
//! Where to look: a new scenario field goes in `scenario.rs` (with its check), what it does
//! in `events.rs` and `aggregate.rs` both (the agreement test holds them together), and a
//! new figure in `report.rs`.

pub mod aggregate;
pub mod economy;
pub mod events;
pub mod network;
pub mod report;
pub mod scenario;
pub mod select;
pub mod stats;
pub mod svg;
pub mod work;

pub use economy::{Economy, RoundStats};
pub use network::Network;
pub use scenario::Scenario;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario: {0}")]
    Scenario(String),
    #[error("the contract model refused {what}: {source}")]
    Econ {
        what: String,
        source: reel_econ::EconError,
    },
}

/// How each round's work is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fidelity {
    /// Every stream, session, outage, job and ticket interval.
    Events,
    /// Each orchestrator's expected share per round.
    Aggregated,
}

impl std::fmt::Display for Fidelity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fidelity::Events => "event by event",
            Fidelity::Aggregated => "aggregated per round",
        })
    }
}

impl std::str::FromStr for Fidelity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "events" => Ok(Fidelity::Events),
            "aggregated" => Ok(Fidelity::Aggregated),
            other => Err(format!(
                "unknown fidelity {other:?}: use events or aggregated"
            )),
        }
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Outcome {
    pub scenario: Scenario,
    pub fidelity: Fidelity,
    pub network: Network,
    pub economy: Economy,
    pub tickets: work::TicketModel,
}

/// Runs the scenario; `progress` is called after each round with (round, rounds).
pub fn run(
    s: &Scenario,
    fidelity: Fidelity,
    mut progress: impl FnMut(u64, u64),
) -> Result<Outcome, SimError> {
    s.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let network = Network::draw(s, &mut rng)?;
    let tickets = work::TicketModel::new(s)?;
    let mut economy = Economy::genesis(s, &network)?;
    let mut sim = events::EventSim::new(&network);
    for r in 0..s.rounds {
        let (active, stake) = economy.begin_round(&network)?;
        let cand = work::Candidates::new(s, &network, &active, &stake);
        let mut out = work::RoundWork::new(network.orchestrators.len());
        match fidelity {
            Fidelity::Events => sim.run_round(s, &network, &cand, &tickets, &mut rng, &mut out),
            Fidelity::Aggregated => {
                aggregate::run_round(s, &network, &cand, &tickets, r, &mut rng, &mut out)
            }
        }
        economy.end_round(
            fidelity == Fidelity::Events,
            s,
            &network,
            &tickets,
            &out,
            &active,
        )?;
        progress(r + 1, s.rounds);
    }
    Ok(Outcome {
        scenario: s.clone(),
        fidelity,
        network,
        economy,
        tickets,
    })
}
