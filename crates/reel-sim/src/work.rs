//! What one round of demand did, per orchestrator: the common output of both fidelities,
//! which the economy then settles on the contract model.

use crate::{
    SimError,
    network::{Network, price_from_f64, u256_to_f64},
    scenario::Scenario,
    select::Sampler,
};
use rand::Rng;
use rand_distr::{Binomial, Distribution};
use reel_node::gateway::selection::{Choice, Weights};
use reel_pm::{PricePerUnit, recipient::RecipientConfig};
use reel_types::{U256, Wei};

/// One orchestrator's work and tickets in one round.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrchWork {
    /// Output pixels transcoded.
    pub pixels: u64,
    /// Wei owed for the work (transcoding, AI and compute), at its price.
    pub fees: U256,
    /// Tickets received.
    pub tickets: u64,
    /// Winning tickets among them.
    pub wins: u64,
    /// AI and compute jobs done.
    pub jobs: u64,
    /// Wei owed for the AI and compute jobs (part of `fees`).
    pub job_fees: U256,
    /// Stream sessions it started.
    pub sessions: u64,
    /// Seconds of streams it transcoded.
    pub stream_seconds: f64,
}

impl OrchWork {
    /// Adds another period's work to this total.
    pub fn accumulate(&mut self, w: &OrchWork) {
        self.pixels = self.pixels.saturating_add(w.pixels);
        self.fees = self.fees.saturating_add(w.fees);
        self.tickets = self.tickets.saturating_add(w.tickets);
        self.wins = self.wins.saturating_add(w.wins);
        self.jobs = self.jobs.saturating_add(w.jobs);
        self.job_fees = self.job_fees.saturating_add(w.job_fees);
        self.sessions = self.sessions.saturating_add(w.sessions);
        self.stream_seconds += w.stream_seconds;
    }

    /// Adds `tickets` tickets with their lottery drawn (one exact binomial draw).
    pub fn add_tickets<R: Rng>(&mut self, tickets: u64, t: &TicketModel, rng: &mut R) {
        self.tickets = self.tickets.saturating_add(tickets);
        self.wins = self.wins.saturating_add(t.draw_wins(tickets, rng));
    }
}

/// A round's totals for the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundWork {
    pub orchestrators: Vec<OrchWork>,
    pub streams_started: u64,
    /// Sessions moved to another orchestrator: outages, slow sessions, caught cheats.
    pub failovers: u64,
    /// Streams refused because no orchestrator had room or a low enough price.
    pub unserved: u64,
    /// Sessions ended by a verification that caught a dishonest orchestrator.
    pub caught: u64,
}

impl RoundWork {
    pub fn new(orchestrators: usize) -> Self {
        Self {
            orchestrators: vec![OrchWork::default(); orchestrators],
            ..Self::default()
        }
    }
}

/// The ticket parameters every orchestrator issues, from reel's own recipient code.
#[derive(Debug, Clone)]
pub struct TicketModel {
    pub face_value: Wei,
    pub win_prob: U256,
    /// The expected value of one ticket, as the payment code rounds it.
    pub ev: Wei,
    /// Win probability as a float, for the draws.
    pub p: f64,
}

impl TicketModel {
    pub fn new(s: &Scenario) -> Result<Self, SimError> {
        let cfg = RecipientConfig {
            ticket_ev: Wei::from_base_units(U256::from(s.tickets.ticket_ev_wei)),
            redeem_gas: s.market.redeem_gas,
            tx_cost_multiplier: s.tickets.tx_cost_multiplier,
            ..RecipientConfig::default()
        };
        let gas_price = gwei(s.market.gas_price_gwei);
        let max_float = eth(s.tickets.max_float_eth);
        // The recipient's rule reads the price only to issue nothing for free work; the
        // face value and win probability are the same for every non-zero price.
        let (fv, wp) = reel_pm::recipient::face_value_and_win_prob(
            &cfg,
            &PricePerUnit::from_wei_per_unit(1),
            gas_price,
            max_float,
        )
        .map_err(|e| SimError::Scenario(format!("tickets: {e}")))?;
        let ev = reel_pm::ticket::ev(fv, wp);
        let p = u256_to_f64(wp) / u256_to_f64(U256::MAX);
        Ok(Self {
            face_value: fv,
            win_prob: wp,
            ev,
            p,
        })
    }

    /// Winning tickets among `n`: one exact binomial draw.
    pub fn draw_wins<R: Rng>(&self, n: u64, rng: &mut R) -> u64 {
        if n == 0 || self.p <= 0.0 {
            return 0;
        }
        Binomial::new(n, self.p.min(1.0))
            .map(|b| b.sample(rng))
            .unwrap_or(0)
    }

    /// Tickets needed to cover a fee of `fee` wei: ⌈fee / EV⌉.
    pub fn tickets_for(&self, fee: U256) -> u64 {
        let ev = self.ev.base_units();
        if ev.is_zero() {
            return 0;
        }
        let t = fee.div_ceil(ev);
        u64::try_from(t).unwrap_or(u64::MAX)
    }
}

/// Gwei (a float from the scenario) in wei.
pub fn gwei(g: f64) -> Wei {
    Wei::from_base_units(U256::from((g.max(0.0) * 1e9).round() as u128))
}

/// ETH (a float from the scenario) in wei, exact to the gwei.
pub fn eth(e: f64) -> Wei {
    Wei::from_base_units(
        U256::from((e.max(0.0) * 1e9).round() as u128).saturating_mul(U256::from(1_000_000_000u64)),
    )
}

/// The selection weights the scenario configures.
pub fn weights(s: &Scenario) -> Weights {
    Weights {
        stake: s.gateway.stake_weight,
        price: s.gateway.price_weight,
        random: s.gateway.random_weight,
        price_exp_factor: s.gateway.price_exp_factor,
    }
}

/// This round's candidates for streams and for jobs: the active set, under the gateway's
/// price ceiling for streams, weighted by stake as the contracts hold it.
#[derive(Debug, Clone)]
pub struct Candidates {
    pub streams: Sampler,
    pub jobs: Sampler,
}

impl Candidates {
    /// `stake[i]` is orchestrator i's stake this round (0 when not active).
    pub fn new(s: &Scenario, net: &Network, active: &[bool], stake: &[f64]) -> Self {
        let w = weights(s);
        let build = |filter: &dyn Fn(usize) -> bool| {
            let ids: Vec<usize> = (0..net.orchestrators.len())
                .filter(|i| active.get(*i).copied().unwrap_or(false) && filter(*i))
                .collect();
            let choices: Vec<Choice> = ids
                .iter()
                .map(|i| Choice {
                    stake: stake.get(*i).copied().unwrap_or(0.0),
                    price: net.orchestrators[*i].price_f64,
                    score: None,
                    current: false,
                })
                .collect();
            Sampler::new(ids, &choices, &w)
        };
        let max_price = s.gateway.max_price_per_pixel_wei;
        Self {
            streams: build(&|i| net.orchestrators[i].price_f64 <= max_price),
            jobs: build(&|i| net.orchestrators[i].ai),
        }
    }
}

/// A job kind's demand: jobs per hour, units per job and the price per unit.
#[derive(Debug, Clone)]
pub struct JobDemand {
    pub name: String,
    pub jobs_per_hour: f64,
    pub units: u64,
    pub price: PricePerUnit,
}

impl JobDemand {
    /// What orchestrator `o` charges for one job, in wei, rounded up.
    pub fn fee(&self, o: &crate::network::Orchestrator) -> U256 {
        let k = U256::from(o.job_price_permille);
        PricePerUnit::new(
            self.price.num().saturating_mul(k),
            self.price.den().saturating_mul(U256::from(1000u64)),
        )
        .and_then(|p| p.fee_ceil(self.units))
        .unwrap_or(U256::MAX)
    }
}

/// Every AI pipeline and compute, as job demands.
pub fn job_demands(s: &Scenario) -> Vec<JobDemand> {
    let mut v: Vec<JobDemand> = s
        .demand
        .ai
        .iter()
        .map(|a| JobDemand {
            name: a.pipeline.clone(),
            jobs_per_hour: a.jobs_per_hour,
            units: a.units_per_job,
            price: price_from_f64(a.price_per_unit_wei),
        })
        .collect();
    if let Some(c) = &s.demand.compute {
        v.push(JobDemand {
            name: "compute".into(),
            jobs_per_hour: c.jobs_per_hour,
            units: c.fuel_per_job,
            price: price_from_f64(c.price_per_fuel_wei),
        });
    }
    v
}

/// The latency score a stream from `region` gets on orchestrator `o`:
/// (round trip + transcode time) / max(1.5 s, segment), as the gateway scores it.
pub fn latency_score(s: &Scenario, net: &Network, region: usize, o: usize) -> f64 {
    let orch = &net.orchestrators[o];
    let same = s
        .demand
        .regions
        .get(region)
        .zip(s.orchestrators.regions.get(orch.region))
        .is_some_and(|(a, b)| a == b);
    let rtt = if same {
        s.gateway.rtt_same_region_ms
    } else {
        s.gateway.rtt_cross_region_ms
    } / 1000.0;
    let seg = s.demand.segment_seconds;
    let round_trip = std::time::Duration::from_secs_f64(rtt + orch.transcode_ratio * seg);
    reel_node::gateway::selection::latency_score(
        round_trip,
        std::time::Duration::from_secs_f64(seg),
    )
}
