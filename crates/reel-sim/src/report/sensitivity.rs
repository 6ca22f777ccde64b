//! Sensitivity tables: the scenario re-run with one parameter changed at a time.

use super::analysis::analyse;
use crate::{Fidelity, Outcome, SimError};

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
    let mut variants: Vec<(&'static str, String, crate::Scenario)> = Vec::new();
    for k in [0.5, 1.0, 2.0] {
        let mut s = base.clone();
        s.orchestrators.price_per_pixel_wei = s.orchestrators.price_per_pixel_wei.scaled(k);
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

/// Rounds the sensitivity runs use.
pub fn sens_rounds(s: &crate::Scenario) -> u64 {
    s.rounds.min(20)
}
