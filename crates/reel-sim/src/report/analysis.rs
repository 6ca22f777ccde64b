//! The figures of a run: each orchestrator's stake, work and income, inequality, the
//! break-even demand, the variance of ticket income and delegators' yields.

use crate::{
    Outcome,
    network::{lpt_to_f64, u256_to_f64},
    stats::{gini, quantile},
};
use reel_types::U256;

/// z for a two-sided 90% interval: "within 10% with 90% confidence".
const Z90: f64 = 1.645;

/// One orchestrator's figures over the run.
#[derive(Debug, Clone, PartialEq)]
pub struct OrchFigures {
    pub active: bool,
    /// Its share of the active stake at the end.
    pub stake_share: f64,
    /// Its share of the work, by the value of the work (streams, AI and compute).
    pub work_share: f64,
    /// Its own income (cut plus its share as its own delegator), in USD.
    pub fee_usd: f64,
    /// The same, from the expected value of the tickets it received rather than the
    /// lottery's draw: what the break-even figures use, so that they do not move with luck.
    pub fee_usd_expected: f64,
    pub inflation_usd: f64,
    /// Gas it paid for reward calls and redemptions, in USD.
    pub gas_usd: f64,
    /// Part of its work's value that came from AI and compute jobs.
    pub job_share_of_fees: f64,
    /// Expected winning tickets per round.
    pub wins_per_round: f64,
    /// Rounds until its fee income is within 10% of its expectation with 90% confidence.
    pub rounds_to_10pct: Option<f64>,
}

/// The answers of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub orchestrators: Vec<OrchFigures>,
    pub gini_stake: f64,
    pub gini_work: f64,
    pub gini_income: f64,
    /// Own fee income over own inflation income of the median active orchestrator (by
    /// stake).
    pub median_fee_to_inflation: f64,
    /// Peak concurrent streams at which the median orchestrator's fees equal its inflation
    /// income, the job mix unchanged, and with streams alone.
    pub break_even_streams: Option<f64>,
    /// AI (and compute) jobs per hour at which the same holds for the median orchestrator
    /// among those that sell jobs, with jobs alone.
    pub break_even_jobs_per_hour: Option<f64>,
    /// Delegators' yields over the run, annualised: LPT (p10, p50, p90) and fees in LPT
    /// terms (p10, p50, p90), as fractions.
    pub delegator_lpt_yield: [f64; 3],
    pub delegator_fee_yield: [f64; 3],
    /// Rounds to within 10% for the (p25, p50, p75) active orchestrator.
    pub rounds_to_10pct: [Option<f64>; 3],
    pub rounds_per_year: f64,
    /// Network totals per round, in USD: fees redeemed and inflation minted.
    pub fees_usd_per_round: f64,
    pub inflation_usd_per_round: f64,
    /// Active orchestrators whose fee income beats their gas, as a share.
    pub fees_cover_gas: f64,
    pub limits: Limits,
}

/// Where the scenario's parameters stop working.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Stake (LPT) below which a pool's whole reward for a round is worth less than the
    /// gas of `reward()`, at the last round's mintable tokens and prices.
    pub reward_stake_floor_lpt: f64,
    /// The gas of one `reward()` call, in USD.
    pub reward_gas_usd: f64,
    /// LPT the last round minted per LPT of active stake.
    pub reward_rate: f64,
    /// Active orchestrators below that stake.
    pub below_reward_floor: usize,
    /// Active orchestrators whose ticket income takes more than a year to come within 10%
    /// of its expectation (or that earn no fees at all).
    pub beyond_a_year: usize,
    pub active: usize,
    /// Gas price (gwei) from which no ticket can be issued: the redemption's cost passes
    /// the gateway's max float, and the recipient refuses to price a face value under it.
    pub tickets_stop_at_gwei: f64,
}

/// The figures of a finished run.
pub fn analyse(o: &Outcome) -> Analysis {
    let s = &o.scenario;
    let e = &o.economy;
    let net = &o.network;
    let eth = |w: U256| u256_to_f64(w) / 1e18 * s.market.eth_usd;
    let lpt = |w: U256| u256_to_f64(w) / 1e18 * s.market.lpt_usd;
    let rounds = e.rounds.len().max(1) as f64;
    let active: Vec<bool> = net
        .orchestrators
        .iter()
        .map(|x| e.proto.is_active(x.address))
        .collect();
    let total_active_stake: f64 = net
        .orchestrators
        .iter()
        .zip(&active)
        .filter(|(_, a)| **a)
        .map(|(x, _)| lpt_to_f64(e.proto.transcoder_total_stake(x.address)))
        .sum::<f64>()
        .max(1e-18);
    let total_work: f64 = e
        .work
        .iter()
        .map(|w| u256_to_f64(w.fees))
        .sum::<f64>()
        .max(1e-18);
    let p = o.tickets.p;
    let orchestrators: Vec<OrchFigures> = net
        .orchestrators
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let w = &e.work[i];
            let stake = lpt_to_f64(e.proto.transcoder_total_stake(x.address));
            let own_lpt = e
                .proto
                .pending_stake(x.address)
                .base_units()
                .saturating_sub(x.self_stake.base_units());
            let wins_per_round = w.tickets as f64 * p / rounds;
            // The contract's split of a pool's fees: the commission, plus the fee share's
            // part for the orchestrator's own bond.
            let fee_share = f64::from(x.fee_share.millionths()) / 1e6;
            let own = if stake > 0.0 {
                lpt_to_f64(e.proto.bonded_amount(x.address)) / stake
            } else {
                0.0
            };
            let own_share = (1.0 - fee_share) + fee_share * own;
            OrchFigures {
                active: active[i],
                stake_share: if active[i] {
                    stake / total_active_stake
                } else {
                    0.0
                },
                work_share: u256_to_f64(w.fees) / total_work,
                fee_usd: eth(e.proto.pending_fees(x.address).base_units()),
                fee_usd_expected: eth(o
                    .tickets
                    .ev
                    .base_units()
                    .saturating_mul(U256::from(w.tickets)))
                    * own_share,
                inflation_usd: lpt(own_lpt),
                gas_usd: eth(e.gas_spent[i].base_units()),
                job_share_of_fees: if w.fees.is_zero() {
                    0.0
                } else {
                    u256_to_f64(w.job_fees) / u256_to_f64(w.fees)
                },
                wins_per_round,
                rounds_to_10pct: (wins_per_round > 0.0)
                    .then(|| ((Z90 / 0.1).powi(2) / wins_per_round).ceil()),
            }
        })
        .collect();
    let act: Vec<&OrchFigures> = orchestrators.iter().filter(|f| f.active).collect();
    // The median orchestrator by stake.
    let mut by_stake = act.clone();
    by_stake.sort_by(|a, b| a.stake_share.total_cmp(&b.stake_share));
    let median = by_stake.get(by_stake.len() / 2).copied();
    let ratio = median
        .map(|m| {
            if m.inflation_usd > 0.0 {
                m.fee_usd / m.inflation_usd
            } else {
                f64::INFINITY
            }
        })
        .unwrap_or(0.0);
    // Fees grow in proportion to demand, so the break-even demand is today's scaled by
    // inflation income over the fees from that kind of work.
    let be_streams = median.and_then(|m| {
        let stream_fees = m.fee_usd_expected * (1.0 - m.job_share_of_fees);
        (stream_fees > 0.0).then(|| s.demand.peak_streams * m.inflation_usd / stream_fees)
    });
    // Jobs only go to the orchestrators that offer them: the median among those.
    let mut job_sellers: Vec<&&OrchFigures> = by_stake
        .iter()
        .filter(|f| f.job_share_of_fees > 0.0)
        .collect();
    job_sellers.sort_by(|a, b| a.stake_share.total_cmp(&b.stake_share));
    let be_jobs = job_sellers.get(job_sellers.len() / 2).and_then(|m| {
        let job_fees = m.fee_usd_expected * m.job_share_of_fees;
        let jobs_per_hour: f64 = crate::work::job_demands(s)
            .iter()
            .map(|d| d.jobs_per_hour)
            .sum();
        (job_fees > 0.0).then(|| jobs_per_hour * m.inflation_usd / job_fees)
    });
    let rounds_per_year = 365.25 * 86_400.0 / s.protocol.round_seconds() as f64;
    let annual = rounds_per_year / rounds;
    let mut lpt_y = Vec::with_capacity(net.delegators.len());
    let mut fee_y = Vec::with_capacity(net.delegators.len());
    for d in &net.delegators {
        let stake = lpt_to_f64(d.stake);
        if stake <= 0.0 {
            continue;
        }
        let gained = lpt_to_f64(e.proto.pending_stake(d.address)) - stake;
        lpt_y.push(gained / stake * annual);
        let fees = eth(e.proto.pending_fees(d.address).base_units());
        fee_y.push(fees / (stake * s.market.lpt_usd) * annual);
    }
    let q3 = |v: &[f64]| {
        [
            quantile(v, 0.1).unwrap_or(0.0),
            quantile(v, 0.5).unwrap_or(0.0),
            quantile(v, 0.9).unwrap_or(0.0),
        ]
    };
    let r10: Vec<f64> = act.iter().filter_map(|f| f.rounds_to_10pct).collect();
    let fees_total: f64 = e.rounds.iter().map(|r| eth(r.fees.base_units())).sum();
    let minted_total: f64 = e.rounds.iter().map(|r| lpt(r.minted.base_units())).sum();
    Analysis {
        gini_stake: gini(&act.iter().map(|f| f.stake_share).collect::<Vec<_>>()),
        gini_work: gini(&act.iter().map(|f| f.work_share).collect::<Vec<_>>()),
        gini_income: gini(
            &act.iter()
                .map(|f| f.fee_usd + f.inflation_usd)
                .collect::<Vec<_>>(),
        ),
        median_fee_to_inflation: ratio,
        break_even_streams: be_streams,
        break_even_jobs_per_hour: be_jobs,
        delegator_lpt_yield: q3(&lpt_y),
        delegator_fee_yield: q3(&fee_y),
        rounds_to_10pct: [
            quantile(&r10, 0.25),
            quantile(&r10, 0.5),
            quantile(&r10, 0.75),
        ],
        rounds_per_year,
        fees_usd_per_round: fees_total / rounds,
        inflation_usd_per_round: minted_total / rounds,
        limits: limits(o, &act, rounds_per_year),
        fees_cover_gas: if act.is_empty() {
            0.0
        } else {
            act.iter().filter(|f| f.fee_usd > f.gas_usd).count() as f64 / act.len() as f64
        },
        orchestrators,
    }
}

fn limits(o: &Outcome, act: &[&OrchFigures], rounds_per_year: f64) -> Limits {
    let s = &o.scenario;
    let e = &o.economy;
    let last = e.rounds.last();
    let mintable = last.map(|r| lpt_to_f64(r.mintable)).unwrap_or(0.0);
    let total = lpt_to_f64(e.proto.total_bonded()).max(1e-18);
    let gas_usd = s.market.gas_price_gwei * 1e-9 * s.market.reward_gas as f64 * s.market.eth_usd;
    let reward_per_lpt_usd = mintable / total * s.market.lpt_usd;
    let floor = if reward_per_lpt_usd > 0.0 {
        gas_usd / reward_per_lpt_usd
    } else {
        f64::INFINITY
    };
    let stakes: Vec<f64> = act.iter().map(|f| f.stake_share * total).collect();
    Limits {
        reward_stake_floor_lpt: floor,
        reward_gas_usd: gas_usd,
        reward_rate: mintable / total,
        below_reward_floor: stakes.iter().filter(|st| **st < floor).count(),
        beyond_a_year: act
            .iter()
            .filter(|f| f.rounds_to_10pct.is_none_or(|r| r > rounds_per_year))
            .count(),
        active: act.len(),
        tickets_stop_at_gwei: s.tickets.max_float_eth * 1e18
            / s.market.redeem_gas.max(1) as f64
            / 1e9,
    }
}
