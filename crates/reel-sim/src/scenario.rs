//! The scenario file: who is in the network, what they charge, what the demand is, and the
//! protocol's parameters (see docs/simulator.md#scenario-files for every field).
//!
//! Every field has a default, so a scenario states only what it changes; the defaults are
//! the mainnet parameters and the figures of `scenarios/today.toml`.

use crate::SimError;
use rand::Rng;
use rand_distr::{Distribution, LogNormal, Pareto};
use serde::Deserialize;
use std::path::Path;

/// A whole scenario, as read from TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// A short name for the report's title.
    pub name: String,
    /// The one seed of every random draw: the same seed gives the same report.
    pub seed: u64,
    /// Rounds to simulate.
    pub rounds: u64,
    pub protocol: ProtocolSection,
    pub market: MarketSection,
    pub tickets: TicketSection,
    pub orchestrators: OrchestratorSection,
    pub delegators: DelegatorSection,
    pub demand: DemandSection,
    pub gateway: GatewaySection,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            name: "unnamed".into(),
            seed: 1,
            rounds: 30,
            protocol: ProtocolSection::default(),
            market: MarketSection::default(),
            tickets: TicketSection::default(),
            orchestrators: OrchestratorSection::default(),
            delegators: DelegatorSection::default(),
            demand: DemandSection::default(),
            gateway: GatewaySection::default(),
        }
    }
}

/// The protocol's parameters, in the contracts' units.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolSection {
    /// Blocks per round (mainnet: 6377 L1 blocks).
    pub round_length_blocks: u64,
    /// Seconds per (L1) block, to turn rounds into time.
    pub block_seconds: u64,
    pub unbonding_period_rounds: u64,
    pub active_set_size: usize,
    /// Inflation per round at the start, in billionths (the Minter's 1e9 units).
    pub inflation: u64,
    /// Billionths added or removed per round.
    pub inflation_change: u64,
    /// Target bonding rate in billionths.
    pub target_bonding_rate: u64,
    /// The treasury's cut of rewards, as a fraction (0.1 = 10%).
    pub treasury_cut: f64,
    /// The treasury stops taking its cut at this balance, in LPT.
    pub treasury_ceiling_lpt: u64,
    /// LPT in existence at the start, in whole LPT.
    pub total_supply_lpt: u64,
}

impl Default for ProtocolSection {
    fn default() -> Self {
        Self {
            round_length_blocks: 6377,
            block_seconds: 12,
            unbonding_period_rounds: 7,
            active_set_size: 100,
            inflation: 220_500,
            inflation_change: 500,
            target_bonding_rate: 500_000_000,
            treasury_cut: 0.1,
            treasury_ceiling_lpt: 750_000,
            total_supply_lpt: 30_000_000,
        }
    }
}

impl ProtocolSection {
    /// Seconds in one round.
    pub fn round_seconds(&self) -> u64 {
        self.round_length_blocks.saturating_mul(self.block_seconds)
    }
}

/// Prices of gas and of the two tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketSection {
    /// Gas price in gwei (Arbitrum: around 0.01).
    pub gas_price_gwei: f64,
    pub eth_usd: f64,
    pub lpt_usd: f64,
    /// Gas of one `reward()` call.
    pub reward_gas: u64,
    /// Gas of one winning ticket's redemption.
    pub redeem_gas: u64,
}

impl Default for MarketSection {
    fn default() -> Self {
        Self {
            gas_price_gwei: 0.01,
            eth_usd: 3000.0,
            lpt_usd: 5.0,
            reward_gas: 1_200_000,
            redeem_gas: 1_200_000,
        }
    }
}

/// The ticket parameters the orchestrators issue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketSection {
    /// Expected value of one ticket, in wei.
    pub ticket_ev_wei: u64,
    /// Face value = redemption cost × this.
    pub tx_cost_multiplier: u64,
    /// A gateway's max float (deposit share) in ETH: caps the face value.
    pub max_float_eth: f64,
}

impl Default for TicketSection {
    fn default() -> Self {
        Self {
            ticket_ev_wei: 8_000_000_000,
            tx_cost_multiplier: 100,
            max_float_eth: 1.0,
        }
    }
}

/// How orchestrators are drawn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrchestratorSection {
    pub count: usize,
    /// Each one's share of the stake bonded at the start.
    pub stake: Dist,
    /// LPT bonded at the start, across all orchestrators and their delegators.
    pub total_bonded_lpt: u64,
    /// The part of an orchestrator's stake that is its own; delegators bring the rest.
    pub self_stake_share: f64,
    /// Reward cut as a fraction (the share of rewards it keeps).
    pub reward_cut: Dist,
    /// Fee share as a fraction (the share of fees it passes to delegators).
    pub fee_share: Dist,
    /// Transcoding price, wei per pixel.
    pub price_per_pixel_wei: Dist,
    /// Concurrent streams it can transcode.
    pub capacity_streams: Dist,
    /// Region names; orchestrators are spread over them in turn.
    pub regions: Vec<String>,
    /// Time to transcode a segment, as a share of its duration.
    pub transcode_ratio: Dist,
    /// Outages per day, each of `outage_minutes`.
    pub outages_per_day: f64,
    pub outage_minutes: f64,
    /// The share that returns bad output (and is paid until a check catches it).
    pub dishonest_share: f64,
    /// `always` calls reward() every round; `if-profitable` only when the reward is worth
    /// more than the gas.
    pub reward_calls: RewardCalls,
    /// The share that offers each AI pipeline and compute (warm).
    pub ai_share: f64,
    /// Each one's AI and compute prices as a multiple of the demand's price per unit.
    pub ai_price_factor: Dist,
}

impl Default for OrchestratorSection {
    fn default() -> Self {
        Self {
            count: 100,
            stake: Dist::Pareto {
                scale: 1.0,
                alpha: 1.2,
            },
            total_bonded_lpt: 15_000_000,
            self_stake_share: 0.1,
            reward_cut: Dist::Uniform { min: 0.0, max: 0.5 },
            fee_share: Dist::Uniform { min: 0.0, max: 0.9 },
            price_per_pixel_wei: Dist::Uniform {
                min: 300.0,
                max: 2000.0,
            },
            capacity_streams: Dist::Uniform {
                min: 20.0,
                max: 100.0,
            },
            regions: vec!["us".into(), "eu".into(), "asia".into()],
            transcode_ratio: Dist::Uniform { min: 0.2, max: 0.6 },
            outages_per_day: 0.1,
            outage_minutes: 30.0,
            dishonest_share: 0.0,
            reward_calls: RewardCalls::IfProfitable,
            ai_share: 0.3,
            ai_price_factor: Dist::Fixed(1.0),
        }
    }
}

/// When orchestrators call reward().
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewardCalls {
    Always,
    IfProfitable,
}

/// Delegators: how many, and how their stake is spread.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelegatorSection {
    pub count: usize,
    /// Each delegator's share of the delegated stake.
    pub stake: Dist,
    /// The share of delegators that claim their earnings every round (the rest claim at the
    /// end).
    pub claim_every_round: f64,
}

impl Default for DelegatorSection {
    fn default() -> Self {
        Self {
            count: 2000,
            stake: Dist::LogNormal {
                median: 1.0,
                sigma: 1.5,
            },
            claim_every_round: 0.05,
        }
    }
}

/// What gateways ask for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemandSection {
    /// Concurrent live streams at the busiest hour.
    pub peak_streams: f64,
    /// 24 multipliers of the peak, hour by hour (UTC).
    pub daily_curve: Vec<f64>,
    pub mean_stream_minutes: f64,
    pub segment_seconds: f64,
    /// Output pixels per second of a stream's ladder (720p30 + 480p30 + 360p30 by default).
    pub ladder_pixels_per_second: u64,
    /// Gateway regions, with the same weights as the orchestrators' regions.
    pub regions: Vec<String>,
    /// AI jobs, by pipeline.
    pub ai: Vec<AiDemand>,
    /// Compute jobs.
    pub compute: Option<ComputeDemand>,
}

impl Default for DemandSection {
    fn default() -> Self {
        Self {
            peak_streams: 1000.0,
            daily_curve: default_daily_curve(),
            mean_stream_minutes: 30.0,
            segment_seconds: 2.0,
            ladder_pixels_per_second: 1280 * 720 * 30 + 854 * 480 * 30 + 640 * 360 * 30,
            regions: vec!["us".into(), "eu".into(), "asia".into()],
            ai: Vec::new(),
            compute: None,
        }
    }
}

/// Evenings are busier: a curve from 0.4 of the peak at night to 1.0 at 20:00.
fn default_daily_curve() -> Vec<f64> {
    vec![
        0.55, 0.5, 0.45, 0.42, 0.4, 0.4, 0.42, 0.48, 0.55, 0.6, 0.65, 0.7, 0.72, 0.74, 0.76, 0.78,
        0.8, 0.85, 0.92, 0.97, 1.0, 0.95, 0.8, 0.65,
    ]
}

/// One AI pipeline's demand and price.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiDemand {
    pub pipeline: String,
    pub jobs_per_hour: f64,
    /// Units of one job (pixels for images, milliseconds for audio, tokens for llm).
    pub units_per_job: u64,
    /// Wei per unit.
    pub price_per_unit_wei: f64,
}

/// Compute jobs' demand and price.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeDemand {
    pub jobs_per_hour: f64,
    pub fuel_per_job: u64,
    pub price_per_fuel_wei: f64,
}

/// The gateways' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// Selection weights (go-livepeer `-selectStakeWeight` etc.).
    pub stake_weight: f64,
    pub price_weight: f64,
    pub random_weight: f64,
    pub price_exp_factor: f64,
    /// The highest price a gateway pays, wei per pixel.
    pub max_price_per_pixel_wei: f64,
    /// The share of segments a gateway checks (which catches a dishonest orchestrator).
    pub verify_rate: f64,
    /// Round trip between regions in ms: the same region, and across.
    pub rtt_same_region_ms: f64,
    pub rtt_cross_region_ms: f64,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            stake_weight: 0.7,
            price_weight: 0.0,
            random_weight: 0.3,
            price_exp_factor: 100.0,
            max_price_per_pixel_wei: 3000.0,
            verify_rate: 0.05,
            rtt_same_region_ms: 30.0,
            rtt_cross_region_ms: 180.0,
        }
    }
}

/// Above zero and finite (false for NaN).
fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// Zero or more and finite (false for NaN).
fn not_negative(v: f64) -> bool {
    v.is_finite() && v >= 0.0
}

/// A number, or a distribution to draw one from per orchestrator or delegator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Dist {
    Fixed(f64),
    Uniform { min: f64, max: f64 },
    LogNormal { median: f64, sigma: f64 },
    Pareto { scale: f64, alpha: f64 },
}

impl Dist {
    /// One draw.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> f64 {
        match *self {
            Dist::Fixed(v) => v,
            Dist::Uniform { min, max } if max > min => rng.random_range(min..max),
            Dist::Uniform { min, .. } => min,
            Dist::LogNormal { median, sigma } => LogNormal::new(median.ln(), sigma)
                .map(|d| d.sample(rng))
                .unwrap_or(median),
            Dist::Pareto { scale, alpha } => Pareto::new(scale, alpha)
                .map(|d| d.sample(rng))
                .unwrap_or(scale),
        }
    }

    /// The same distribution with its values multiplied by `k` (its shape unchanged).
    pub fn scaled(&self, k: f64) -> Dist {
        match *self {
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
    }

    fn check(&self, what: &str) -> Result<(), SimError> {
        let ok = match *self {
            Dist::Fixed(v) => v.is_finite() && v >= 0.0,
            Dist::Uniform { min, max } => {
                min.is_finite() && max.is_finite() && 0.0 <= min && min <= max
            }
            Dist::LogNormal { median, sigma } => median > 0.0 && sigma >= 0.0 && sigma.is_finite(),
            Dist::Pareto { scale, alpha } => scale > 0.0 && alpha > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(SimError::Scenario(format!(
                "{what}: {self:?} is not a valid distribution (values must be finite and not negative)"
            )))
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            SimError::Scenario(m) => SimError::Scenario(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses and checks scenario text.
    pub fn parse(text: &str) -> Result<Self, SimError> {
        let s: Scenario = toml::from_str(text).map_err(|e| SimError::Scenario(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// Refuses what would make the run meaningless, with the field named.
    pub fn check(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Scenario(m));
        let o = &self.orchestrators;
        // The name becomes the report's directory: keep it one plain path component.
        if self.name.is_empty()
            || self.name.starts_with('.')
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad(format!(
                "name {:?}: use letters, digits, '-', '_' and '.' (it names the report's directory)",
                self.name
            ));
        }
        if o.count == 0 {
            return bad("orchestrators.count must be at least 1".into());
        }
        if self.rounds == 0 {
            return bad("rounds must be at least 1".into());
        }
        if self.protocol.round_seconds() == 0 {
            return bad("protocol.round_length_blocks and block_seconds must be positive".into());
        }
        if self.protocol.active_set_size == 0 {
            return bad("protocol.active_set_size must be at least 1".into());
        }
        if self.demand.daily_curve.len() != 24 {
            return bad(format!(
                "demand.daily_curve has {} values; it needs one per hour (24)",
                self.demand.daily_curve.len()
            ));
        }
        if self
            .demand
            .daily_curve
            .iter()
            .any(|v| !v.is_finite() || *v < 0.0)
        {
            return bad("demand.daily_curve values must be finite and not negative".into());
        }
        if !positive(self.demand.segment_seconds) || !positive(self.demand.mean_stream_minutes) {
            return bad("demand.segment_seconds and mean_stream_minutes must be positive".into());
        }
        for (what, share) in [
            ("orchestrators.self_stake_share", o.self_stake_share),
            ("orchestrators.dishonest_share", o.dishonest_share),
            ("orchestrators.ai_share", o.ai_share),
            (
                "delegators.claim_every_round",
                self.delegators.claim_every_round,
            ),
            ("gateway.verify_rate", self.gateway.verify_rate),
            ("protocol.treasury_cut", self.protocol.treasury_cut),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return bad(format!("{what} is {share}; it must be between 0 and 1"));
            }
        }
        if !positive(o.self_stake_share) {
            return bad(
                "orchestrators.self_stake_share must be above 0: an orchestrator bonds to itself"
                    .into(),
            );
        }
        for (what, v) in [
            ("demand.peak_streams", self.demand.peak_streams),
            ("market.gas_price_gwei", self.market.gas_price_gwei),
            ("market.eth_usd", self.market.eth_usd),
            ("market.lpt_usd", self.market.lpt_usd),
            ("tickets.max_float_eth", self.tickets.max_float_eth),
            ("orchestrators.outages_per_day", o.outages_per_day),
            ("orchestrators.outage_minutes", o.outage_minutes),
            (
                "gateway.max_price_per_pixel_wei",
                self.gateway.max_price_per_pixel_wei,
            ),
            (
                "gateway.rtt_same_region_ms",
                self.gateway.rtt_same_region_ms,
            ),
            (
                "gateway.rtt_cross_region_ms",
                self.gateway.rtt_cross_region_ms,
            ),
        ] {
            if !not_negative(v) {
                return bad(format!("{what} is {v}; it must be a number of at least 0"));
            }
        }
        for (what, v) in [
            ("protocol.inflation", self.protocol.inflation),
            ("protocol.inflation_change", self.protocol.inflation_change),
            (
                "protocol.target_bonding_rate",
                self.protocol.target_bonding_rate,
            ),
        ] {
            // The Minter's constructor refuses more than 100% (1e9 billionths).
            if v > 1_000_000_000 {
                return bad(format!(
                    "{what} is {v} billionths; at most 1000000000 (100%)"
                ));
            }
        }
        if o.regions.is_empty() || self.demand.regions.is_empty() {
            return bad("orchestrators.regions and demand.regions need at least one region".into());
        }
        o.stake.check("orchestrators.stake")?;
        o.reward_cut.check("orchestrators.reward_cut")?;
        o.fee_share.check("orchestrators.fee_share")?;
        o.price_per_pixel_wei
            .check("orchestrators.price_per_pixel_wei")?;
        o.capacity_streams.check("orchestrators.capacity_streams")?;
        o.transcode_ratio.check("orchestrators.transcode_ratio")?;
        o.ai_price_factor.check("orchestrators.ai_price_factor")?;
        self.delegators.stake.check("delegators.stake")?;
        for (what, cut) in [("reward_cut", &o.reward_cut), ("fee_share", &o.fee_share)] {
            let max = match *cut {
                Dist::Fixed(v) => v,
                Dist::Uniform { max, .. } => max,
                _ => 2.0,
            };
            if max > 1.0 {
                return bad(format!(
                    "orchestrators.{what} must be a fixed value or a uniform range within 0..1"
                ));
            }
        }
        for a in &self.demand.ai {
            if !not_negative(a.jobs_per_hour) || !not_negative(a.price_per_unit_wei) {
                return bad(format!(
                    "demand.ai {}: jobs_per_hour and price_per_unit_wei must not be negative",
                    a.pipeline
                ));
            }
        }
        Ok(())
    }

    /// Hours in a round, rounded to whole seconds.
    pub fn round_hours(&self) -> f64 {
        self.protocol.round_seconds() as f64 / 3600.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_from_an_empty_file() {
        let s = Scenario::parse("").unwrap();
        assert_eq!(s.protocol.round_length_blocks, 6377);
        assert_eq!(s.demand.daily_curve.len(), 24);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Scenario::parse("[demand]\ndaily_curve = [1.0]\n").unwrap_err();
        assert!(e.to_string().contains("daily_curve has 1 values"), "{e}");
        let e = Scenario::parse("[orchestrators]\ncount = 0\n").unwrap_err();
        assert!(e.to_string().contains("orchestrators.count"), "{e}");
        let e = Scenario::parse("[orchestrators]\nreward_cut = { min = 0.0, max = 3.0 }\n")
            .unwrap_err();
        assert!(e.to_string().contains("reward_cut"), "{e}");
        let e = Scenario::parse("name = \"../etc\"\n").unwrap_err();
        assert!(
            e.to_string().contains("it names the report's directory"),
            "{e}"
        );
        let e = Scenario::parse("[demand]\npeak_streams = -5.0\n").unwrap_err();
        assert!(e.to_string().contains("demand.peak_streams is -5"), "{e}");
        let e = Scenario::parse("[protocol]\ninflation = 2000000000\n").unwrap_err();
        assert!(
            e.to_string().contains("protocol.inflation is 2000000000"),
            "{e}"
        );
        let e = Scenario::parse("[orchestrators]\ncolor = 1\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn distributions_parse_untagged() {
        let s = Scenario::parse(
            "[orchestrators]\nreward_cut = 0.25\nstake = { median = 2.0, sigma = 0.5 }\n",
        )
        .unwrap();
        assert_eq!(s.orchestrators.reward_cut, Dist::Fixed(0.25));
        assert_eq!(
            s.orchestrators.stake,
            Dist::LogNormal {
                median: 2.0,
                sigma: 0.5
            }
        );
    }
}
