//! Which orchestrator gets the next segment (see
//! docs/compatibility.md#session-pools-and-selection), as pure functions.
//!
//! 1. Keep the stream's current orchestrator while its latency score (round trip /
//!    max(1.5 s, segment duration)) is at most 1.0 — swapping costs a session start.
//! 2. Otherwise the known session with the best score ≤ 1.0.
//! 3. Otherwise an orchestrator not tried yet: off-chain in list order; on-chain by go-livepeer's
//!    probability `p_i = W_price · e^(−price_i/F) / Σ e^(−price/F) + W_stake · stake_i / Σ stake
//!    + W_rand / n` (defaults W_stake 0.7, W_rand 0.3, W_price 0, F 100).
//! 4. Otherwise the best score, however slow.
//!
//! Suspended and banned orchestrators, those over the maximum price and those already
//! tried for this segment never enter the candidate list.

/// Selection weights (go-livepeer `-selectStakeWeight`, `-selectPriceWeight`,
/// `-selectRandFreq`, `-selectPriceExpFactor`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    pub stake: f64,
    pub price: f64,
    pub random: f64,
    /// F in e^(−price/F), price in wei per pixel.
    pub price_exp_factor: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            stake: 0.7,
            price: 0.0,
            random: 0.3,
            price_exp_factor: 100.0,
        }
    }
}

/// One usable orchestrator, as the selector sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Stake (any unit; only ratios matter). 0 off-chain.
    pub stake: f64,
    /// Price in wei per pixel.
    pub price: f64,
    /// Latency score of its last segment, if it has done one for this stream.
    pub score: Option<f64>,
    /// The stream's current orchestrator.
    pub current: bool,
}

/// Why an orchestrator was picked, for logs and the demo.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Kept: the current one, with a good score.
    Sticky { score: f64 },
    /// The best known score.
    BestScore { score: f64 },
    /// Next in the configured list (off-chain).
    ListOrder,
    /// Drawn by weight; `p` is its probability.
    Weighted { p: f64 },
    /// Everything is slow; the least slow.
    LeastSlow { score: f64 },
    /// A verifier, drawn uniformly so that no orchestrator can tell when it is checked.
    Verifier,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sticky { score } => write!(f, "kept (latency score {score:.2})"),
            Self::BestScore { score } => write!(f, "best latency score {score:.2}"),
            Self::ListOrder => f.write_str("next in the --orch-addr list"),
            Self::Weighted { p } => write!(
                f,
                "drawn by stake/price/random weights (p = {:.0}%)",
                p * 100.0
            ),
            Self::LeastSlow { score } => write!(f, "all slow; least slow (score {score:.2})"),
            Self::Verifier => f.write_str("drawn uniformly as a verifier"),
        }
    }
}

/// The probabilities of go-livepeer's `ProbabilitySelectionAlgorithm`.
pub fn probabilities(opts: &[&Choice], w: &Weights) -> Vec<f64> {
    let n = opts.len();
    if n == 0 {
        return Vec::new();
    }
    let total_stake: f64 = opts.iter().map(|o| o.stake.max(0.0)).sum();
    let f = if w.price_exp_factor > 0.0 {
        w.price_exp_factor
    } else {
        100.0
    };
    let exps: Vec<f64> = opts.iter().map(|o| (-o.price / f).exp()).collect();
    let total_exp: f64 = exps.iter().sum();
    let mut p: Vec<f64> = opts
        .iter()
        .zip(&exps)
        .map(|(o, e)| {
            let price = if total_exp > 0.0 {
                w.price * e / total_exp
            } else {
                0.0
            };
            let stake = if total_stake > 0.0 {
                w.stake * o.stake.max(0.0) / total_stake
            } else {
                // No stake information: its share goes to chance.
                w.stake / n as f64
            };
            price + stake + w.random / n as f64
        })
        .collect();
    let sum: f64 = p.iter().sum();
    if sum > 0.0 {
        for v in &mut p {
            *v /= sum;
        }
    }
    p
}

/// Picks an option; `draw` is a uniform number in [0, 1). `ordered` means off-chain list
/// order for untried orchestrators.
pub fn select(opts: &[Choice], w: &Weights, ordered: bool, draw: f64) -> Option<(usize, Reason)> {
    if let Some((i, o)) = opts.iter().enumerate().find(|(_, o)| o.current)
        && let Some(s) = o.score
        && s <= 1.0
    {
        return Some((i, Reason::Sticky { score: s }));
    }
    let best = opts
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.score.map(|s| (i, s)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((i, s)) = best
        && s <= 1.0
    {
        return Some((i, Reason::BestScore { score: s }));
    }
    let untried: Vec<usize> = (0..opts.len())
        .filter(|i| opts[*i].score.is_none())
        .collect();
    if let Some(first) = untried.first() {
        if ordered {
            return Some((*first, Reason::ListOrder));
        }
        let refs: Vec<&Choice> = untried.iter().map(|i| &opts[*i]).collect();
        let p = probabilities(&refs, w);
        let mut acc = 0.0;
        for (k, pk) in p.iter().enumerate() {
            acc += pk;
            if draw < acc {
                return Some((untried[k], Reason::Weighted { p: *pk }));
            }
        }
        let last = untried.len() - 1;
        return Some((untried[last], Reason::Weighted { p: p[last] }));
    }
    best.map(|(i, s)| (i, Reason::LeastSlow { score: s }))
}

/// Latency score of a segment: round trip / max(1.5 s, segment duration).
pub fn latency_score(round_trip: std::time::Duration, segment: std::time::Duration) -> f64 {
    round_trip.as_secs_f64() / segment.as_secs_f64().max(1.5)
}

/// A uniform draw in [0, 1) from the OS.
pub fn draw() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn o(stake: f64, price: f64, score: Option<f64>, current: bool) -> Choice {
        Choice {
            stake,
            price,
            score,
            current,
        }
    }

    #[test]
    fn go_livepeer_probabilities() {
        let a = o(700.0, 0.0, None, false);
        let b = o(300.0, 0.0, None, false);
        let p = probabilities(&[&a, &b], &Weights::default());
        // 0.7·0.7 + 0.3/2 and 0.7·0.3 + 0.3/2.
        assert!(
            (p[0] - 0.64).abs() < 1e-12 && (p[1] - 0.36).abs() < 1e-12,
            "{p:?}"
        );
        // Price weight alone: e^(−p/100) shares.
        let w = Weights {
            stake: 0.0,
            price: 1.0,
            random: 0.0,
            price_exp_factor: 100.0,
        };
        let c = o(1.0, 0.0, None, false);
        let d = o(1.0, 100.0, None, false);
        let p = probabilities(&[&c, &d], &w);
        let e = (-1.0f64).exp();
        assert!((p[0] - 1.0 / (1.0 + e)).abs() < 1e-12);
        assert!((p[0] + p[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn order_of_preference() {
        let w = Weights::default();
        // Current and fast: kept even if another is faster.
        let opts = [o(1.0, 0.0, Some(0.5), true), o(1.0, 0.0, Some(0.1), false)];
        assert_eq!(
            select(&opts, &w, false, 0.0).unwrap(),
            (0, Reason::Sticky { score: 0.5 })
        );
        // Current too slow: the best known.
        let opts = [o(1.0, 0.0, Some(1.5), true), o(1.0, 0.0, Some(0.3), false)];
        assert_eq!(select(&opts, &w, false, 0.0).unwrap().0, 1);
        // No good known: an untried one, by list order off-chain…
        let opts = [
            o(0.0, 0.0, Some(2.0), true),
            o(0.0, 0.0, None, false),
            o(0.0, 0.0, None, false),
        ];
        assert_eq!(
            select(&opts, &w, true, 0.99).unwrap(),
            (1, Reason::ListOrder)
        );
        // …by weight on-chain (draw 0.99 falls in the last one's share).
        assert_eq!(select(&opts, &w, false, 0.99).unwrap().0, 2);
        // Only slow known ones: the least slow.
        let opts = [o(0.0, 0.0, Some(3.0), false), o(0.0, 0.0, Some(2.0), false)];
        assert_eq!(
            select(&opts, &w, false, 0.5).unwrap(),
            (1, Reason::LeastSlow { score: 2.0 })
        );
        assert!(select(&[], &w, false, 0.5).is_none());
    }

    #[test]
    fn draws_follow_the_weights() {
        // 10 000 draws over stakes 6:3:1 land within 2% of the expected shares.
        let w = Weights::default();
        let opts = [
            o(600.0, 0.0, None, false),
            o(300.0, 0.0, None, false),
            o(100.0, 0.0, None, false),
        ];
        let mut counts = [0u32; 3];
        for k in 0..10_000 {
            let d = (k as f64 + 0.5) / 10_000.0;
            counts[select(&opts, &w, false, d).unwrap().0] += 1;
        }
        let expect = [0.7 * 0.6 + 0.1, 0.7 * 0.3 + 0.1, 0.7 * 0.1 + 0.1];
        for (c, e) in counts.iter().zip(expect) {
            assert!((f64::from(*c) / 10_000.0 - e).abs() < 0.02, "{counts:?}");
        }
        let d = draw();
        assert!((0.0..1.0).contains(&d));
    }

    #[test]
    fn scores() {
        assert_eq!(
            latency_score(Duration::from_secs(3), Duration::from_secs(2)),
            1.5
        );
        assert_eq!(
            latency_score(Duration::from_millis(750), Duration::from_millis(500)),
            0.5
        );
    }
}
