//! The population a scenario describes, drawn once from its seed: orchestrators with their
//! stake, cuts, prices, capacity and region, and delegators bonded to them.

use crate::{SimError, scenario::Scenario};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use reel_pm::PricePerUnit;
use reel_types::{Address, Lpt, Ppm, U256};

/// One orchestrator, as drawn.
#[derive(Debug, Clone)]
pub struct Orchestrator {
    pub address: Address,
    /// LPT it bonds to itself at the start.
    pub self_stake: Lpt,
    pub reward_cut: Ppm,
    pub fee_share: Ppm,
    /// Wei per pixel.
    pub price: PricePerUnit,
    /// The same price as a float, for the selection weights (which go-livepeer computes in
    /// floats too).
    pub price_f64: f64,
    pub capacity: u32,
    pub region: usize,
    /// Segment transcode time over segment duration.
    pub transcode_ratio: f64,
    pub dishonest: bool,
    /// Offers the AI pipelines and compute.
    pub ai: bool,
    /// Its AI and compute prices, in thousandths of the demand's price per unit.
    pub job_price_permille: u64,
}

/// One delegator, bonded to `orchestrator` (an index) at the start.
#[derive(Debug, Clone)]
pub struct Delegator {
    pub address: Address,
    pub stake: Lpt,
    pub orchestrator: usize,
    /// Claims its earnings every round.
    pub claims_every_round: bool,
}

/// Everyone in the network.
#[derive(Debug, Clone)]
pub struct Network {
    pub orchestrators: Vec<Orchestrator>,
    pub delegators: Vec<Delegator>,
    /// LPT not bonded by anyone at the start, held by one holder so that the supply is right.
    pub unbonded_supply: Lpt,
    pub holder: Address,
}

/// A distinct address per (kind, index), stable across runs.
pub fn address(kind: u8, index: usize) -> Address {
    let mut b = [0u8; 20];
    b[0] = 0x5e;
    b[1] = kind;
    b[12..20].copy_from_slice(&(index as u64).to_be_bytes());
    Address::from(b)
}

/// Whole LPT (as a float from a distribution) to its base units, rounded down to the
/// micro-LPT so that every draw is an exact integer of wei.
pub fn lpt_from_f64(lpt: f64) -> Lpt {
    let micro = (lpt.max(0.0) * 1e6).floor();
    let micro = if micro.is_finite() && micro < u128::MAX as f64 {
        micro as u128
    } else {
        0
    };
    Lpt::from_base_units(U256::from(micro).saturating_mul(U256::from(1_000_000_000_000u64)))
}

/// LPT in whole tokens, as a float for charts and shares.
pub fn lpt_to_f64(l: Lpt) -> f64 {
    u256_to_f64(l.base_units()) / 1e18
}

/// A U256 as a float (for ratios and charts only; money stays in U256).
pub fn u256_to_f64(v: U256) -> f64 {
    let limbs = v.as_limbs();
    limbs
        .iter()
        .rev()
        .fold(0.0, |acc, l| acc * 18_446_744_073_709_551_616.0 + *l as f64)
}

fn ppm(share: f64) -> Ppm {
    let m = (share.clamp(0.0, 1.0) * 1e6).round() as u32;
    Ppm::new(m).unwrap_or(Ppm::ONE_HUNDRED_PERCENT)
}

/// A price in wei per unit from the scenario's float, exact to a thousandth of a wei (the
/// float-to-integer cast saturates, and NaN becomes 0).
pub fn price_from_f64(wei_per_unit: f64) -> PricePerUnit {
    let milli = (wei_per_unit.max(0.0) * 1000.0).round() as u128;
    PricePerUnit::new(U256::from(milli), U256::from(1000u64)).unwrap_or(PricePerUnit::ZERO)
}

impl Network {
    /// Draws the population from the scenario's seed.
    pub fn draw(s: &Scenario, rng: &mut ChaCha8Rng) -> Result<Self, SimError> {
        let o = &s.orchestrators;
        let weights: Vec<f64> = (0..o.count)
            .map(|_| o.stake.sample(rng).max(1e-9))
            .collect();
        let total_w: f64 = weights.iter().sum();
        let bonded = o.total_bonded_lpt as f64;
        let dishonest = (o.count as f64 * o.dishonest_share).round() as usize;
        let ai_every = if o.ai_share > 0.0 {
            (1.0 / o.ai_share).round().max(1.0) as usize
        } else {
            usize::MAX
        };
        let mut orchestrators = Vec::with_capacity(o.count);
        let mut delegated_target = Vec::with_capacity(o.count);
        for (i, w) in weights.iter().enumerate() {
            let stake = bonded * w / total_w;
            let own = stake * o.self_stake_share;
            delegated_target.push(stake - own);
            let p = o.price_per_pixel_wei.sample(rng);
            orchestrators.push(Orchestrator {
                address: address(1, i),
                self_stake: lpt_from_f64(own),
                reward_cut: ppm(o.reward_cut.sample(rng)),
                fee_share: ppm(o.fee_share.sample(rng)),
                price: price_from_f64(p),
                price_f64: p,
                capacity: o.capacity_streams.sample(rng).round().max(1.0) as u32,
                region: i % o.regions.len(),
                transcode_ratio: o.transcode_ratio.sample(rng),
                // Spread over the stake ranks rather than the first few, which are the
                // largest under a sorted draw.
                dishonest: false,
                ai: i % ai_every == 0,
                job_price_permille: (o.ai_price_factor.sample(rng) * 1000.0).round() as u64,
            });
        }
        // The dishonest ones: every k-th, so that they hold a representative stake share.
        if let Some(step) = o.count.checked_div(dishonest) {
            for k in 0..dishonest {
                if let Some(orch) = orchestrators.get_mut(k * step + step / 2) {
                    orch.dishonest = true;
                }
            }
        }
        let d = &s.delegators;
        let mut delegators = Vec::with_capacity(d.count);
        let delegated_total: f64 = delegated_target.iter().sum();
        if d.count > 0 && delegated_total > 0.0 {
            // Each delegator picks an orchestrator in proportion to the stake it was meant to
            // attract, then its own stake is scaled so that the orchestrators' totals match.
            let cumulative: Vec<f64> = delegated_target
                .iter()
                .scan(0.0, |acc, v| {
                    *acc += v;
                    Some(*acc)
                })
                .collect();
            let mut picks = Vec::with_capacity(d.count);
            let mut raw_per_orch = vec![0.0; o.count];
            for _ in 0..d.count {
                let x = rng.random::<f64>() * delegated_total;
                let j = cumulative.partition_point(|c| *c <= x).min(o.count - 1);
                let amount = d.stake.sample(rng).max(1e-9);
                raw_per_orch[j] += amount;
                picks.push((j, amount));
            }
            for (i, (j, amount)) in picks.into_iter().enumerate() {
                let scale = delegated_target[j] / raw_per_orch[j];
                delegators.push(Delegator {
                    address: address(2, i),
                    stake: lpt_from_f64(amount * scale),
                    orchestrator: j,
                    claims_every_round: rng.random::<f64>() < d.claim_every_round,
                });
            }
            // An orchestrator no delegator picked bonds its delegated share itself.
            for (j, raw) in raw_per_orch.iter().enumerate() {
                if *raw == 0.0
                    && let Some(orch) = orchestrators.get_mut(j)
                {
                    orch.self_stake = lpt_from_f64(
                        lpt_to_f64(orch.self_stake)
                            + delegated_target.get(j).copied().unwrap_or(0.0),
                    );
                }
            }
        } else {
            for (orch, extra) in orchestrators.iter_mut().zip(&delegated_target) {
                orch.self_stake = lpt_from_f64(lpt_to_f64(orch.self_stake) + extra);
            }
        }
        let mut bonded_total = U256::ZERO;
        for x in orchestrators
            .iter()
            .map(|o| o.self_stake)
            .chain(delegators.iter().map(|d| d.stake))
        {
            bonded_total = bonded_total.saturating_add(x.base_units());
        }
        let supply = Lpt::from_whole(s.protocol.total_supply_lpt).base_units();
        let unbonded = supply.checked_sub(bonded_total).ok_or_else(|| {
            SimError::Scenario(format!(
                "protocol.total_supply_lpt ({}) is below orchestrators.total_bonded_lpt ({})",
                s.protocol.total_supply_lpt, o.total_bonded_lpt
            ))
        })?;
        Ok(Self {
            orchestrators,
            delegators,
            unbonded_supply: Lpt::from_base_units(unbonded),
            holder: address(3, 0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_drawn_stake_adds_up_to_the_bonded_total() {
        let s =
            Scenario::parse("[orchestrators]\ncount = 50\n[delegators]\ncount = 400\n").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = Network::draw(&s, &mut rng).unwrap();
        let bonded: f64 = n
            .orchestrators
            .iter()
            .map(|o| lpt_to_f64(o.self_stake))
            .sum::<f64>()
            + n.delegators
                .iter()
                .map(|d| lpt_to_f64(d.stake))
                .sum::<f64>();
        assert!((bonded - 15_000_000.0).abs() < 1.0, "{bonded}");
        let total = bonded + lpt_to_f64(n.unbonded_supply);
        assert!((total - 30_000_000.0).abs() < 1.0, "{total}");
    }

    #[test]
    fn addresses_are_distinct_per_kind_and_index() {
        assert_ne!(address(1, 0), address(2, 0));
        assert_ne!(address(1, 0), address(1, 1));
    }

    #[test]
    fn u256_to_f64_is_close() {
        let v = U256::from(10u64).pow(U256::from(30u64));
        assert!((u256_to_f64(v) / 1e30 - 1.0).abs() < 1e-12);
    }
}
