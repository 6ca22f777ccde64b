//! The contracts' side of each round, on reel-econ's exact model of them: the round's
//! initialisation (inflation, mintable tokens, the active set), winning tickets redeemed as
//! fees, reward calls, and delegators' claims.

use crate::{
    SimError,
    network::{Network, lpt_to_f64, u256_to_f64},
    scenario::{RewardCalls, Scenario},
    work::{RoundWork, TicketModel, gwei},
};
use reel_econ::{Params, Protocol};
use reel_types::{Address, Lpt, U256, Wei};
use std::collections::HashMap;

/// One round's figures, for the report's trajectories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundStats {
    pub round: u64,
    /// Inflation per round, billionths.
    pub inflation: u64,
    /// Bonded LPT over total supply, as a fraction.
    pub bonding_rate: f64,
    pub total_supply: Lpt,
    pub minted: Lpt,
    pub mintable: Lpt,
    pub treasury: Lpt,
    /// Face value of the tickets redeemed this round.
    pub fees: Wei,
    pub active: usize,
    pub reward_calls: usize,
    pub streams_started: u64,
    pub failovers: u64,
    pub unserved: u64,
    pub caught: u64,
}

/// The model and what the run adds up around it.
#[derive(Debug)]
pub struct Economy {
    pub proto: Protocol,
    /// Orchestrator index by address.
    index: HashMap<Address, usize>,
    /// Gas each orchestrator paid (reward calls and redemptions), in wei.
    pub gas_spent: Vec<Wei>,
    /// LPT each orchestrator's `reward()` minted for its pool.
    pub rewards: Vec<Lpt>,
    /// Per round and orchestrator: winning tickets (for the variance of ticket income).
    pub wins: Vec<Vec<u32>>,
    /// Per round and orchestrator: tickets received.
    pub tickets: Vec<Vec<u64>>,
    pub work: Vec<crate::work::OrchWork>,
    pub rounds: Vec<RoundStats>,
    /// Total LPT the rounds minted (pools and treasury).
    pub minted_total: Lpt,
    pub genesis_supply: Lpt,
}

/// The model's parameters from the scenario's protocol section.
pub fn params(s: &Scenario) -> Params {
    let p = &s.protocol;
    let cut = U256::from((p.treasury_cut * 1e9).round() as u64)
        .saturating_mul(U256::from(1_000_000_000_000_000_000u128));
    Params {
        round_length: p.round_length_blocks,
        unbonding_period: p.unbonding_period_rounds,
        num_active_transcoders: p.active_set_size,
        inflation: p.inflation,
        inflation_change: p.inflation_change,
        target_bonding_rate: p.target_bonding_rate,
        treasury_reward_cut_rate: cut,
        treasury_balance_ceiling: Lpt::from_whole(p.treasury_ceiling_lpt),
    }
}

fn econ(e: reel_econ::EconError, what: String) -> SimError {
    SimError::Econ { what, source: e }
}

impl Economy {
    /// Genesis: the supply minted, every orchestrator bonded to itself and registered with
    /// its cuts, every delegator bonded, and the first round with that stake initialised.
    pub fn genesis(s: &Scenario, net: &Network) -> Result<Self, SimError> {
        let mut proto = Protocol::new(params(s));
        proto.mint(net.holder, net.unbonded_supply);
        for o in &net.orchestrators {
            proto.mint(o.address, o.self_stake);
        }
        for d in &net.delegators {
            proto.mint(d.address, d.stake);
        }
        proto
            .initialize_round()
            .map_err(|e| econ(e, "the first round".into()))?;
        for (i, o) in net.orchestrators.iter().enumerate() {
            proto
                .bond(o.address, o.address, o.self_stake)
                .map_err(|e| econ(e, format!("orchestrator {i} bonding to itself")))?;
            proto
                .transcoder(o.address, o.reward_cut, o.fee_share)
                .map_err(|e| econ(e, format!("orchestrator {i} registering")))?;
        }
        for (i, d) in net.delegators.iter().enumerate() {
            let to = net.orchestrators[d.orchestrator].address;
            proto
                .bond(d.address, to, d.stake)
                .map_err(|e| econ(e, format!("delegator {i} bonding")))?;
        }
        let n = net.orchestrators.len();
        let index = net
            .orchestrators
            .iter()
            .enumerate()
            .map(|(i, o)| (o.address, i))
            .collect();
        let genesis_supply = proto.total_supply();
        Ok(Self {
            proto,
            index,
            gas_spent: vec![Wei::ZERO; n],
            rewards: vec![Lpt::ZERO; n],
            wins: Vec::new(),
            tickets: Vec::new(),
            work: vec![crate::work::OrchWork::default(); n],
            rounds: Vec::new(),
            minted_total: Lpt::ZERO,
            genesis_supply,
        })
    }

    /// Starts the next round: returns which orchestrators are active and their stake (in
    /// whole LPT, for the selection weights).
    pub fn begin_round(&mut self, net: &Network) -> Result<(Vec<bool>, Vec<f64>), SimError> {
        self.proto
            .initialize_round()
            .map_err(|e| econ(e, "initializing a round".into()))?;
        let n = net.orchestrators.len();
        let mut active = vec![false; n];
        let mut stake = vec![0.0; n];
        for a in self.proto.active_transcoders() {
            if let Some(i) = self.index.get(&a) {
                active[*i] = true;
                stake[*i] = lpt_to_f64(self.proto.transcoder_total_stake(a));
            }
        }
        Ok((active, stake))
    }

    /// Settles a round's work on the model: redemptions (`per_ticket`: one call per winning
    /// ticket, as on chain; otherwise one per orchestrator and round), reward calls and
    /// claims.
    pub fn end_round(
        &mut self,
        per_ticket: bool,
        s: &Scenario,
        net: &Network,
        tickets: &TicketModel,
        work: &RoundWork,
        active: &[bool],
    ) -> Result<(), SimError> {
        let gas_price = gwei(s.market.gas_price_gwei);
        let redeem_cost = gas_price
            .checked_mul(U256::from(s.market.redeem_gas))
            .unwrap_or(Wei::ZERO);
        let reward_cost = gas_price
            .checked_mul(U256::from(s.market.reward_gas))
            .unwrap_or(Wei::ZERO);
        let round = self.proto.current_round();
        let mut fees = Wei::ZERO;
        let mut wins_row = vec![0u32; work.orchestrators.len()];
        let mut tickets_row = vec![0u64; work.orchestrators.len()];
        for (i, w) in work.orchestrators.iter().enumerate() {
            let addr = net.orchestrators[i].address;
            wins_row[i] = u32::try_from(w.wins).unwrap_or(u32::MAX);
            tickets_row[i] = w.tickets;
            if w.wins > 0 {
                let total = tickets
                    .face_value
                    .checked_mul(U256::from(w.wins))
                    .unwrap_or(Wei::ZERO);
                if per_ticket {
                    // Each winning ticket is its own redemption, as on chain.
                    for _ in 0..w.wins {
                        self.proto
                            .redeem_fees(addr, tickets.face_value)
                            .map_err(|e| {
                                econ(
                                    e,
                                    format!("orchestrator {i} redeeming a ticket in round {round}"),
                                )
                            })?;
                    }
                } else {
                    // One booking for the round's winners: the pool's factors round once
                    // instead of once per ticket, a difference of wei.
                    self.proto.redeem_fees(addr, total).map_err(|e| {
                        econ(
                            e,
                            format!("orchestrator {i} redeeming its tickets in round {round}"),
                        )
                    })?;
                }
                let gas = redeem_cost
                    .checked_mul(U256::from(w.wins))
                    .unwrap_or(Wei::ZERO);
                self.gas_spent[i] = add_wei(self.gas_spent[i], gas);
                fees = add_wei(fees, total);
            }
            self.work[i].accumulate(w);
        }
        self.wins.push(wins_row);
        self.tickets.push(tickets_row);
        // Reward calls: always, or when the caller's own part of the reward is worth the gas.
        let mintable = u256_to_f64(self.proto.current_mintable().base_units());
        let total_active = u256_to_f64(self.proto.total_bonded().base_units()).max(1.0);
        let gas_usd = u256_to_f64(reward_cost.base_units()) / 1e18 * s.market.eth_usd;
        let mut calls = 0;
        for (i, o) in net.orchestrators.iter().enumerate() {
            if !active.get(i).copied().unwrap_or(false) {
                continue;
            }
            let stake = u256_to_f64(self.proto.transcoder_total_stake(o.address).base_units());
            if stake <= 0.0 {
                continue;
            }
            let call = match s.orchestrators.reward_calls {
                RewardCalls::Always => true,
                RewardCalls::IfProfitable => {
                    let own = u256_to_f64(self.proto.bonded_amount(o.address).base_units()) / stake;
                    let cut = f64::from(o.reward_cut.millionths()) / 1e6;
                    let reward = mintable * stake / total_active / 1e18;
                    let mine = reward * (cut + (1.0 - cut) * own);
                    mine * s.market.lpt_usd > gas_usd
                }
            };
            if !call {
                continue;
            }
            let minted = self.proto.reward(o.address).map_err(|e| {
                econ(
                    e,
                    format!("orchestrator {i} calling reward in round {round}"),
                )
            })?;
            self.rewards[i] = self.rewards[i]
                .checked_add(minted)
                .unwrap_or(self.rewards[i]);
            self.gas_spent[i] = add_wei(self.gas_spent[i], reward_cost);
            calls += 1;
        }
        for (i, d) in net.delegators.iter().enumerate() {
            if d.claims_every_round {
                self.proto
                    .claim_earnings(d.address)
                    .map_err(|e| econ(e, format!("delegator {i} claiming in round {round}")))?;
            }
        }
        let supply = self.proto.total_supply();
        let minted = self.proto.current_minted();
        self.minted_total = self
            .minted_total
            .checked_add(minted)
            .unwrap_or(self.minted_total);
        self.rounds.push(RoundStats {
            round,
            inflation: self.proto.inflation(),
            bonding_rate: u256_to_f64(self.proto.total_bonded().base_units())
                / u256_to_f64(supply.base_units()).max(1.0),
            total_supply: supply,
            minted,
            mintable: self.proto.current_mintable(),
            treasury: self.proto.treasury_balance(),
            fees,
            active: active.iter().filter(|a| **a).count(),
            reward_calls: calls,
            streams_started: work.streams_started,
            failovers: work.failovers,
            unserved: work.unserved,
            caught: work.caught,
        });
        Ok(())
    }
}

fn add_wei(a: Wei, b: Wei) -> Wei {
    a.checked_add(b).unwrap_or(a)
}
