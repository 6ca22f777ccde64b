//! `report.md` and its SVG charts.

use super::{
    analysis::{Analysis, OrchFigures},
    books::Conservation,
    sensitivity::{SensitivityRow, sens_rounds},
};
use crate::{
    Outcome, SimError,
    network::u256_to_f64,
    svg::{self, Chart, Kind, Series},
};
use std::{fmt::Write, path::Path};

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
    let l = &a.limits;
    let _ = writeln!(m, "## Where the parameters break\n");
    let _ = writeln!(
        m,
        "- `reward()` costs more in gas (${:.4}) than a round mints for a pool of less than \
         **{} LPT** (the last round minted {:.4}% of the active stake): {} of {} active \
         orchestrators are below it, and with `reward_calls = \"if-profitable\"` they \
         leave their rewards unminted.",
        l.reward_gas_usd,
        svg::fmt_num(l.reward_stake_floor_lpt),
        l.reward_rate * 100.0,
        l.below_reward_floor,
        l.active
    );
    let _ = writeln!(
        m,
        "- Ticket income takes more than a year to come within 10% of its expectation for \
         **{} of {}** active orchestrators: at this face value, small orchestrators are paid \
         by a lottery they cannot average out.",
        l.beyond_a_year, l.active
    );
    let _ = writeln!(
        m,
        "- Payments stop at **{} gwei**: from there a redemption costs more than a gateway's \
         max float ({} ETH), and no face value covers it.\n",
        svg::fmt_num(l.tickets_stop_at_gwei),
        s.tickets.max_float_eth
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
    let cheats: Vec<&OrchFigures> = a
        .orchestrators
        .iter()
        .zip(&o.network.orchestrators)
        .filter(|(f, x)| x.dishonest && f.active)
        .map(|(f, _)| f)
        .collect();
    if !cheats.is_empty() {
        let _ = writeln!(
            m,
            "The {} dishonest active orchestrators hold {} of the active stake and got {} of \
             the work: paid for the segments before a check caught them, then dropped by each \
             stream they cheated.\n",
            cheats.len(),
            pct(cheats.iter().map(|f| f.stake_share).sum()),
            pct(cheats.iter().map(|f| f.work_share).sum()),
        );
    }
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
    write_file(&dir.join("orchestrators.csv"), &csv(o, a))?;
    Ok(m)
}

/// Every orchestrator's figures, one row each, for a spreadsheet.
fn csv(o: &Outcome, a: &Analysis) -> String {
    let mut c = String::from(
        "index,address,active,stake_share,work_share,fee_usd,fee_usd_expected,inflation_usd,gas_usd,\
         job_share_of_fees,wins_per_round,rounds_to_10pct,reward_cut_ppm,fee_share_ppm,price_wei_per_pixel,capacity,dishonest\n",
    );
    for (i, (f, x)) in a
        .orchestrators
        .iter()
        .zip(&o.network.orchestrators)
        .enumerate()
    {
        let _ = writeln!(
            c,
            "{i},{},{},{:.6},{:.6},{:.2},{:.2},{:.2},{:.2},{:.4},{:.4},{},{},{},{:.3},{},{}",
            x.address,
            f.active,
            f.stake_share,
            f.work_share,
            f.fee_usd,
            f.fee_usd_expected,
            f.inflation_usd,
            f.gas_usd,
            f.job_share_of_fees,
            f.wins_per_round,
            f.rounds_to_10pct
                .map(|r| format!("{r:.0}"))
                .unwrap_or_default(),
            x.reward_cut.millionths(),
            x.fee_share.millionths(),
            x.price_f64,
            x.capacity,
            x.dishonest
        );
    }
    c
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
