//! What a run answers: the figures ([`analyse`]), the conservation checks
//! ([`conservation`]), sensitivity tables ([`sensitivity`]) and the report itself
//! ([`write`]: `report.md` and SVG charts, byte-identical for the same scenario and seed).

use crate::{
    Fidelity, Outcome, SimError,
    network::{lpt_to_f64, u256_to_f64},
    stats::{gini, quantile},
    svg::{self, Chart, Kind, Series},
};
use reel_types::U256;
use std::{fmt::Write, path::Path};

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
                fee_usd_expected: eth(e.ev_received[i].base_units()) * own_share,
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
        fees_cover_gas: if act.is_empty() {
            0.0
        } else {
            act.iter().filter(|f| f.fee_usd > f.gas_usd).count() as f64 / act.len() as f64
        },
        orchestrators,
    }
}

/// The run's books, checked: what was minted against the inflation schedule, and what
/// gateways paid against what accounts earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conservation {
    /// Total supply now minus at genesis.
    pub supply_growth: U256,
    /// The sum of each round's minted tokens.
    pub minted: U256,
    /// The sum of each round's mintable tokens (the inflation schedule's budget).
    pub mintable: U256,
    /// Face value of every redeemed ticket: what gateways paid.
    pub paid: U256,
    /// ETH the Minter holds for fees.
    pub minter_eth: U256,
    /// Pending fees of every orchestrator and delegator: what they earned and can withdraw.
    pub pending: U256,
    pub accounts: usize,
    pub rounds: usize,
    /// Winning tickets redeemed.
    pub redemptions: u64,
}

impl Conservation {
    /// Minted equals supply growth and stays within the schedule; paid equals the Minter's
    /// ETH, and no account can claim more than the Minter holds.
    pub fn holds(&self) -> bool {
        self.supply_growth == self.minted
            && self.minted <= self.mintable
            && self.paid == self.minter_eth
            && self.pending <= self.minter_eth
    }

    /// Fee ETH in the Minter that no account can claim.
    pub fn stranded(&self) -> U256 {
        self.minter_eth.saturating_sub(self.pending)
    }

    /// The most `stranded` can be from rounding alone: a wei per account and round (each
    /// claim rounds down) and a wei per redemption (each fee booking rounds its pool's
    /// factor down). More than that is the contracts' own loss when an orchestrator earns
    /// fees in the round after it skipped `reward()` (BondingManager rebuilds the skipped
    /// round's reward factor from this round's minted tokens and overstates it; see
    /// crates/reel-econ/src/lib.rs), which only a run where everyone calls `reward()` every
    /// round avoids.
    pub fn rounding_bound(&self) -> U256 {
        U256::from(self.accounts)
            .saturating_mul(U256::from(self.rounds + 1))
            .saturating_add(U256::from(self.redemptions))
    }
}

pub fn conservation(o: &Outcome) -> Conservation {
    let e = &o.economy;
    let mut pending = U256::ZERO;
    for a in o
        .network
        .orchestrators
        .iter()
        .map(|x| x.address)
        .chain(o.network.delegators.iter().map(|d| d.address))
    {
        pending = pending.saturating_add(e.proto.pending_fees(a).base_units());
    }
    Conservation {
        supply_growth: e
            .proto
            .total_supply()
            .base_units()
            .saturating_sub(e.genesis_supply.base_units()),
        minted: e
            .rounds
            .iter()
            .fold(U256::ZERO, |a, r| a.saturating_add(r.minted.base_units())),
        mintable: e
            .rounds
            .iter()
            .fold(U256::ZERO, |a, r| a.saturating_add(r.mintable.base_units())),
        paid: e
            .redeemed
            .iter()
            .fold(U256::ZERO, |a, r| a.saturating_add(r.base_units())),
        minter_eth: e.proto.minter_eth().base_units(),
        pending,
        accounts: o.network.orchestrators.len() + o.network.delegators.len(),
        rounds: e.rounds.len(),
        redemptions: e.work.iter().map(|w| w.wins).sum(),
    }
}

/// One row of a sensitivity table.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityRow {
    pub parameter: &'static str,
    pub value: String,
    pub median_fee_to_inflation: f64,
    pub fees_usd_per_round: f64,
    pub fees_cover_gas: f64,
    pub reward_callers: f64,
}

/// Re-runs the scenario, aggregated over `rounds` rounds, with one parameter changed at a
/// time: prices, demand, gas price, the starting inflation and the active set's size.
pub fn sensitivity(o: &Outcome, rounds: u64) -> Result<Vec<SensitivityRow>, SimError> {
    let base = &o.scenario;
    let mut rows = Vec::new();
    let scale_dist = |d: &crate::scenario::Dist, k: f64| {
        use crate::scenario::Dist;
        match *d {
            Dist::Fixed(v) => Dist::Fixed(v * k),
            Dist::Uniform { min, max } => Dist::Uniform {
                min: min * k,
                max: max * k,
            },
            Dist::LogNormal { median, sigma } => Dist::LogNormal {
                median: median * k,
                sigma,
            },
            Dist::Pareto { scale, alpha } => Dist::Pareto {
                scale: scale * k,
                alpha,
            },
        }
    };
    let mut variants: Vec<(&'static str, String, crate::Scenario)> = Vec::new();
    for k in [0.5, 1.0, 2.0] {
        let mut s = base.clone();
        s.orchestrators.price_per_pixel_wei = scale_dist(&s.orchestrators.price_per_pixel_wei, k);
        s.gateway.max_price_per_pixel_wei *= k;
        for a in &mut s.demand.ai {
            a.price_per_unit_wei *= k;
        }
        if let Some(c) = &mut s.demand.compute {
            c.price_per_fuel_wei *= k;
        }
        variants.push(("price", format!("×{k}"), s));
    }
    for k in [0.1, 1.0, 10.0] {
        let mut s = base.clone();
        s.demand.peak_streams *= k;
        for a in &mut s.demand.ai {
            a.jobs_per_hour *= k;
        }
        if let Some(c) = &mut s.demand.compute {
            c.jobs_per_hour *= k;
        }
        variants.push(("demand", format!("×{k}"), s));
    }
    for k in [0.5, 1.0, 4.0] {
        let mut s = base.clone();
        s.market.gas_price_gwei *= k;
        variants.push(("gas price", format!("×{k}"), s));
    }
    for k in [0.5, 1.0, 2.0] {
        let mut s = base.clone();
        s.protocol.inflation = (base.protocol.inflation as f64 * k).round() as u64;
        variants.push(("inflation", format!("×{k}"), s));
    }
    for k in [0.5, 1.0, 2.0] {
        let mut s = base.clone();
        s.protocol.active_set_size =
            ((base.protocol.active_set_size as f64 * k).round() as usize).max(1);
        variants.push(("active set", format!("{}", s.protocol.active_set_size), s));
    }
    for (parameter, value, mut s) in variants {
        s.rounds = rounds.max(1);
        let out = crate::run(&s, Fidelity::Aggregated, |_, _| {})?;
        let a = analyse(&out);
        let active = a.orchestrators.iter().filter(|f| f.active).count().max(1);
        let callers = out
            .economy
            .rounds
            .iter()
            .map(|r| r.reward_calls)
            .sum::<usize>() as f64
            / (out.economy.rounds.len().max(1) * active) as f64;
        rows.push(SensitivityRow {
            parameter,
            value,
            median_fee_to_inflation: a.median_fee_to_inflation,
            fees_usd_per_round: a.fees_usd_per_round,
            fees_cover_gas: a.fees_cover_gas,
            reward_callers: callers,
        });
    }
    Ok(rows)
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn opt(v: Option<f64>) -> String {
    v.map(svg::fmt_num)
        .unwrap_or_else(|| "never (no fees)".into())
}

/// Writes `report.md` and the charts into `dir`; returns the Markdown.
pub fn write(
    o: &Outcome,
    a: &Analysis,
    c: &Conservation,
    sens: &[SensitivityRow],
    dir: &Path,
) -> Result<String, SimError> {
    std::fs::create_dir_all(dir).map_err(|source| SimError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let s = &o.scenario;
    let e = &o.economy;
    let mut m = String::new();
    let _ = writeln!(m, "# reel sim: {}\n", s.name);
    let _ = writeln!(
        m,
        "{} rounds ({} fidelity), seed {}: {} orchestrators ({} active at the end), {} delegators, \
         {} peak concurrent streams, {} AI/compute job kinds.\n",
        e.rounds.len(),
        o.fidelity,
        s.seed,
        o.network.orchestrators.len(),
        a.orchestrators.iter().filter(|f| f.active).count(),
        o.network.delegators.len(),
        s.demand.peak_streams,
        crate::work::job_demands(s).len(),
    );
    let _ = writeln!(m, "## The answer\n");
    let verdict = if a.median_fee_to_inflation >= 1.0 {
        "fees already exceed inflation for the median orchestrator"
    } else {
        "the median orchestrator lives on inflation"
    };
    let _ = writeln!(
        m,
        "- Median active orchestrator: fee income / inflation income = **{:.3}** ({verdict}).",
        a.median_fee_to_inflation
    );
    let _ = writeln!(
        m,
        "- Network per round: fees redeemed ${} against inflation minted ${} (LPT at ${}, ETH at ${}).",
        svg::fmt_num(a.fees_usd_per_round),
        svg::fmt_num(a.inflation_usd_per_round),
        s.market.lpt_usd,
        s.market.eth_usd
    );
    let _ = writeln!(
        m,
        "- **Break-even demand** for the median orchestrator: {} peak concurrent streams with \
         streams alone (today {}), or {} AI/compute jobs per hour with jobs alone.",
        opt(a.break_even_streams),
        s.demand.peak_streams,
        opt(a.break_even_jobs_per_hour)
    );
    let _ = writeln!(
        m,
        "- Active orchestrators whose fee income covers their gas: {}.\n",
        pct(a.fees_cover_gas)
    );
    let _ = writeln!(m, "## Work, stake and income\n");
    let _ = writeln!(
        m,
        "| Gini coefficient | stake | work | income |\n|---|---|---|---|\n| active orchestrators | {:.3} | {:.3} | {:.3} |\n",
        a.gini_stake, a.gini_work, a.gini_income
    );
    let _ = writeln!(m, "![work share against stake share](work_vs_stake.svg)\n");
    let _ = writeln!(m, "![fee income against inflation income](income.svg)\n");
    let mut top: Vec<(usize, &OrchFigures)> = a
        .orchestrators
        .iter()
        .enumerate()
        .filter(|(_, f)| f.active)
        .collect();
    top.sort_by(|x, y| {
        y.1.stake_share
            .total_cmp(&x.1.stake_share)
            .then(x.0.cmp(&y.0))
    });
    let _ = writeln!(
        m,
        "| orchestrator | stake share | work share | fees (USD) | inflation (USD) | gas (USD) | rounds to ±10% |\n|---|---|---|---|---|---|---|"
    );
    for (i, f) in top.iter().take(10) {
        let _ = writeln!(
            m,
            "| #{i} | {} | {} | {} | {} | {} | {} |",
            pct(f.stake_share),
            pct(f.work_share),
            svg::fmt_num(f.fee_usd),
            svg::fmt_num(f.inflation_usd),
            svg::fmt_num(f.gas_usd),
            opt(f.rounds_to_10pct)
        );
    }
    let _ = writeln!(m, "\n(the 10 largest by stake)\n");
    let _ = writeln!(m, "## Variance of ticket income\n");
    let _ = writeln!(
        m,
        "Tickets: face value {} ETH, win probability {:.3e}, EV {}. Rounds until an \
         orchestrator's fee income is within 10% of its expected value with 90% confidence \
         ((1.645 / 0.1)² / expected wins per round): p25 {}, median {}, p75 {} rounds \
         (a year is {:.0} rounds).\n",
        u256_to_f64(o.tickets.face_value.base_units()) / 1e18,
        o.tickets.p,
        o.tickets.ev,
        opt(a.rounds_to_10pct[0]),
        opt(a.rounds_to_10pct[1]),
        opt(a.rounds_to_10pct[2]),
        a.rounds_per_year
    );
    let _ = writeln!(
        m,
        "![redeemed over expected fee income](ticket_income.svg)\n"
    );
    let _ = writeln!(m, "## Delegators\n");
    let _ = writeln!(
        m,
        "| annualised yield | p10 | median | p90 |\n|---|---|---|---|\n| LPT (rewards) | {} | {} | {} |\n| fees (in LPT terms) | {} | {} | {} |\n",
        pct(a.delegator_lpt_yield[0]),
        pct(a.delegator_lpt_yield[1]),
        pct(a.delegator_lpt_yield[2]),
        pct(a.delegator_fee_yield[0]),
        pct(a.delegator_fee_yield[1]),
        pct(a.delegator_fee_yield[2]),
    );
    let _ = writeln!(m, "## Bonding rate and inflation\n");
    let first = e.rounds.first();
    let last = e.rounds.last();
    let _ = writeln!(
        m,
        "Bonding rate {} → {}; inflation {} → {} per round ({} → {} a year, compounded).\n",
        pct(first.map(|r| r.bonding_rate).unwrap_or(0.0)),
        pct(last.map(|r| r.bonding_rate).unwrap_or(0.0)),
        first.map(|r| r.inflation).unwrap_or(0),
        last.map(|r| r.inflation).unwrap_or(0),
        pct(first
            .map(|r| annual_rate(r.inflation, a.rounds_per_year))
            .unwrap_or(0.0)),
        pct(last
            .map(|r| annual_rate(r.inflation, a.rounds_per_year))
            .unwrap_or(0.0)),
    );
    let _ = writeln!(m, "![bonding rate and inflation](bonding_inflation.svg)\n");
    let _ = writeln!(m, "## Streams\n");
    let sum = |f: fn(&crate::RoundStats) -> u64| e.rounds.iter().map(f).sum::<u64>();
    let _ = writeln!(
        m,
        "Streams started {}, failovers {}, unserved {}, sessions ended by a caught cheat {}.\n",
        sum(|r| r.streams_started),
        sum(|r| r.failovers),
        sum(|r| r.unserved),
        sum(|r| r.caught)
    );
    if !sens.is_empty() {
        let _ = writeln!(m, "## Sensitivity\n");
        let _ = writeln!(
            m,
            "Each row changes one parameter of this scenario, aggregated over {} rounds.\n",
            s.rounds.min(sens_rounds(s))
        );
        let _ = writeln!(
            m,
            "| parameter | value | median fees / inflation | fees per round (USD) | fees cover gas | reward calls |\n|---|---|---|---|---|---|"
        );
        for r in sens {
            let _ = writeln!(
                m,
                "| {} | {} | {:.3} | {} | {} | {} |",
                r.parameter,
                r.value,
                r.median_fee_to_inflation,
                svg::fmt_num(r.fees_usd_per_round),
                pct(r.fees_cover_gas),
                pct(r.reward_callers)
            );
        }
        m.push('\n');
    }
    let _ = writeln!(m, "## Books\n");
    let _ = writeln!(
        m,
        "- LPT minted {} wei = supply growth {} wei (budget {} wei).\n- Fees paid by gateways {} wei = ETH in the Minter {} wei; pending to accounts {} wei; \
         unclaimable {} wei ({}). {}\n",
        c.minted,
        c.supply_growth,
        c.mintable,
        c.paid,
        c.minter_eth,
        c.pending,
        c.stranded(),
        if c.stranded() <= c.rounding_bound() {
            "rounding"
        } else {
            "rounding, and fees earned in the round after a skipped reward() call"
        },
        if c.holds() {
            "Balanced."
        } else {
            "**NOT BALANCED.**"
        }
    );
    write_file(&dir.join("report.md"), &m)?;
    for (name, svg) in charts(o, a) {
        write_file(&dir.join(name), &svg)?;
    }
    Ok(m)
}

/// Rounds the sensitivity runs use.
pub fn sens_rounds(s: &crate::Scenario) -> u64 {
    s.rounds.min(20)
}

fn annual_rate(inflation: u64, rounds_per_year: f64) -> f64 {
    (1.0 + inflation as f64 / 1e9).powf(rounds_per_year) - 1.0
}

fn write_file(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|source| SimError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn charts(o: &Outcome, a: &Analysis) -> Vec<(&'static str, String)> {
    let act: Vec<&OrchFigures> = a.orchestrators.iter().filter(|f| f.active).collect();
    let chart = |title, x_label, y_label, kind, diagonal, log| Chart {
        title,
        x_label,
        y_label,
        kind,
        diagonal,
        log_x: log,
        log_y: log,
    };
    let work = svg::render(
        &chart(
            "Work share against stake share",
            "stake share",
            "work share",
            Kind::Dots,
            true,
            false,
        ),
        &[Series {
            name: "orchestrator".into(),
            points: act.iter().map(|f| (f.stake_share, f.work_share)).collect(),
        }],
    );
    let income = svg::render(
        &chart(
            "Own income: fees against inflation (USD)",
            "inflation income (USD)",
            "fee income (USD)",
            Kind::Dots,
            true,
            true,
        ),
        &[Series {
            name: "orchestrator".into(),
            points: act.iter().map(|f| (f.inflation_usd, f.fee_usd)).collect(),
        }],
    );
    let e = &o.economy;
    let bonding = svg::render(
        &chart(
            "Bonding rate and inflation",
            "round",
            "percent",
            Kind::Lines,
            false,
            false,
        ),
        &[
            Series {
                name: "bonding rate".into(),
                points: e
                    .rounds
                    .iter()
                    .map(|r| (r.round as f64, r.bonding_rate * 100.0))
                    .collect(),
            },
            Series {
                name: "inflation/yr".into(),
                points: e
                    .rounds
                    .iter()
                    .map(|r| {
                        (
                            r.round as f64,
                            annual_rate(r.inflation, a.rounds_per_year) * 100.0,
                        )
                    })
                    .collect(),
            },
        ],
    );
    // Cumulative redeemed over cumulative expected, for a small, the median and a large
    // active orchestrator.
    let mut ranked: Vec<usize> = (0..a.orchestrators.len())
        .filter(|i| a.orchestrators[*i].active && a.orchestrators[*i].wins_per_round > 0.0)
        .collect();
    ranked.sort_by(|x, y| {
        a.orchestrators[*x]
            .wins_per_round
            .total_cmp(&a.orchestrators[*y].wins_per_round)
            .then(x.cmp(y))
    });
    let picks: Vec<(&str, usize)> = match ranked.len() {
        0 => Vec::new(),
        n => vec![
            ("p10", ranked[n / 10]),
            ("median", ranked[n / 2]),
            ("p90", ranked[(n * 9) / 10]),
        ],
    };
    let fv = u256_to_f64(o.tickets.face_value.base_units());
    let ev = u256_to_f64(o.tickets.ev.base_units());
    let series: Vec<Series> = picks
        .iter()
        .map(|(name, i)| {
            let (mut won, mut expected) = (0.0, 0.0);
            Series {
                name: format!("{name} (#{i})"),
                points: e
                    .wins
                    .iter()
                    .zip(&e.tickets)
                    .enumerate()
                    .map(|(r, (w, t))| {
                        won += f64::from(w[*i]) * fv;
                        expected += t[*i] as f64 * ev;
                        (
                            r as f64 + 1.0,
                            if expected > 0.0 { won / expected } else { 0.0 },
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let tickets = svg::render(
        &chart(
            "Ticket income: redeemed / expected, cumulative",
            "rounds",
            "ratio",
            Kind::Lines,
            false,
            false,
        ),
        &series,
    );
    vec![
        ("work_vs_stake.svg", work),
        ("income.svg", income),
        ("bonding_inflation.svg", bonding),
        ("ticket_income.svg", tickets),
    ]
}
