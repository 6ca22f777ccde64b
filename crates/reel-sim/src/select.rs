//! The gateway's selection, at scale. The weights are reel's own
//! (`reel_node::gateway::selection::probabilities`, go-livepeer's stake/price/random mix),
//! computed once per round over the active set; draws then take O(1) from an alias table
//! instead of O(n) per draw, which is what lets a day of 100,000 streams over 10,000
//! orchestrators run in seconds. The per-stream decision (keep, best score, new draw, least
//! slow) is `selection::select` itself, called with the stream's own sessions plus the one
//! fresh candidate drawn here.

use rand::Rng;
use reel_node::gateway::selection::{self, Choice, Weights};

/// Walker's alias table over a fixed set of options.
#[derive(Debug, Clone)]
pub struct Sampler {
    /// The options' indices in the caller's numbering.
    ids: Vec<usize>,
    /// The probabilities `probabilities` gave, in `ids` order.
    p: Vec<f64>,
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Sampler {
    /// Builds the table for `ids` with their (stake, price) as the selector sees them.
    pub fn new(ids: Vec<usize>, choices: &[Choice], w: &Weights) -> Self {
        let refs: Vec<&Choice> = choices.iter().collect();
        let p = selection::probabilities(&refs, w);
        let (prob, alias) = alias_table(&p);
        Self {
            ids,
            p,
            prob,
            alias,
        }
    }

    /// The selection probability of each option, in the order given to `new`.
    pub fn probabilities(&self) -> &[f64] {
        &self.p
    }

    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// One draw, returning the caller's index.
    pub fn draw<R: Rng>(&self, rng: &mut R) -> Option<usize> {
        let n = self.ids.len();
        if n == 0 {
            return None;
        }
        let k = rng.random_range(0..n);
        let slot = if rng.random::<f64>() < self.prob[k] {
            k
        } else {
            self.alias[k] as usize
        };
        self.ids.get(slot).copied()
    }

    /// A draw among the options `ok` accepts: by rejection first, then (when most are
    /// refused) exactly, by the same weights renormalised over the accepted ones.
    pub fn draw_where<R: Rng>(&self, rng: &mut R, ok: impl Fn(usize) -> bool) -> Option<usize> {
        for _ in 0..32 {
            let id = self.draw(rng)?;
            if ok(id) {
                return Some(id);
            }
        }
        let total: f64 = self
            .ids
            .iter()
            .zip(&self.p)
            .filter(|(id, _)| ok(**id))
            .map(|(_, p)| p)
            .sum();
        if total <= 0.0 {
            return None;
        }
        let mut x = rng.random::<f64>() * total;
        let mut last = None;
        for (id, p) in self.ids.iter().zip(&self.p) {
            if !ok(*id) {
                continue;
            }
            last = Some(*id);
            if x < *p {
                return Some(*id);
            }
            x -= p;
        }
        last
    }
}

/// Vose's alias method: `prob[k]` keeps slot k, otherwise `alias[k]`.
fn alias_table(p: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let n = p.len();
    let mut prob = vec![1.0; n];
    let mut alias: Vec<u32> = (0..n as u32).collect();
    let mut scaled: Vec<f64> = p.iter().map(|x| x * n as f64).collect();
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| scaled[*i] < 1.0);
    while let (Some(s), Some(l)) = (small.pop(), large.pop()) {
        prob[s] = scaled[s];
        alias[s] = l as u32;
        scaled[l] = (scaled[l] + scaled[s]) - 1.0;
        if scaled[l] < 1.0 {
            small.push(l);
        } else {
            large.push(l);
        }
    }
    // What is left is 1 up to rounding.
    for i in small.into_iter().chain(large) {
        prob[i] = 1.0;
    }
    (prob, alias)
}

/// One of a stream's known sessions, for `pick`.
#[derive(Debug, Clone, Copy)]
pub struct Known {
    pub orchestrator: usize,
    pub score: f64,
    pub current: bool,
}

/// The gateway's decision for a stream's next segment: `selection::select` over the stream's
/// known sessions and one untried candidate (drawn by weight here, so `select` sees a single
/// untried option and takes it with probability 1 when it falls through to drawing).
pub fn pick(known: &[Known], fresh: Option<usize>, w: &Weights) -> Option<usize> {
    let mut choices: Vec<Choice> = known
        .iter()
        .map(|k| Choice {
            stake: 0.0,
            price: 0.0,
            score: Some(k.score),
            current: k.current,
        })
        .collect();
    if fresh.is_some() {
        choices.push(Choice {
            stake: 1.0,
            price: 0.0,
            score: None,
            current: false,
        });
    }
    let (i, _) = selection::select(&choices, w, false, 0.0)?;
    match known.get(i) {
        Some(k) => Some(k.orchestrator),
        None => fresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn choice(stake: f64, price: f64) -> Choice {
        Choice {
            stake,
            price,
            score: None,
            current: false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Draw shares converge to the configured weights: W_stake · stake share + W_price ·
        /// softmax(−price/F) + W_rand / n, computed here independently of the library.
        #[test]
        fn shares_converge_to_the_configured_weights(
            stakes in prop::collection::vec(0.0f64..1000.0, 2..12),
            price_seed in 0u64..1000,
            ws in 0.0f64..1.0,
            wp in 0.0f64..1.0,
            seed in 0u64..1000,
        ) {
            let n = stakes.len();
            let prices: Vec<f64> = (0..n).map(|i| ((price_seed + 37 * i as u64) % 300) as f64).collect();
            let w = Weights { stake: ws, price: wp, random: 1.05 - ws, price_exp_factor: 100.0 };
            let choices: Vec<Choice> = stakes.iter().zip(&prices).map(|(s, p)| choice(*s, *p)).collect();
            let total_stake: f64 = stakes.iter().sum();
            let exps: Vec<f64> = prices.iter().map(|p| (-p / 100.0).exp()).collect();
            let total_exp: f64 = exps.iter().sum();
            let raw: Vec<f64> = (0..n).map(|i| {
                let s = if total_stake > 0.0 { stakes[i] / total_stake } else { 1.0 / n as f64 };
                w.stake * s + w.price * exps[i] / total_exp + w.random / n as f64
            }).collect();
            let sum: f64 = raw.iter().sum();
            let expected: Vec<f64> = raw.iter().map(|r| r / sum).collect();
            let sampler = Sampler::new((0..n).collect(), &choices, &w);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let draws = 200_000;
            let mut counts = vec![0u32; n];
            for _ in 0..draws {
                counts[sampler.draw(&mut rng).unwrap()] += 1;
            }
            for i in 0..n {
                let got = f64::from(counts[i]) / draws as f64;
                // 5 standard deviations of a binomial share, plus float slack.
                let sd = (expected[i] * (1.0 - expected[i]) / draws as f64).sqrt();
                prop_assert!((got - expected[i]).abs() <= 5.0 * sd + 1e-4,
                    "option {i}: drawn {got:.5}, configured {:.5} (stakes {stakes:?})", expected[i]);
            }
        }
    }

    #[test]
    fn draw_where_skips_refused_options_and_keeps_the_ratios() {
        let choices = [choice(1.0, 0.0), choice(2.0, 0.0), choice(7.0, 0.0)];
        let w = Weights {
            stake: 1.0,
            price: 0.0,
            random: 0.0,
            price_exp_factor: 100.0,
        };
        let sampler = Sampler::new(vec![10, 11, 12], &choices, &w);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0u32; 2];
        for _ in 0..30_000 {
            match sampler.draw_where(&mut rng, |id| id != 12) {
                Some(10) => counts[0] += 1,
                Some(11) => counts[1] += 1,
                other => panic!("drew {other:?}"),
            }
        }
        let ratio = f64::from(counts[1]) / f64::from(counts[0]);
        assert!((ratio - 2.0).abs() < 0.1, "{counts:?}");
        assert_eq!(sampler.draw_where(&mut rng, |_| false), None);
    }

    #[test]
    fn pick_keeps_a_good_current_session_and_leaves_a_slow_one() {
        let w = Weights::default();
        let good = Known {
            orchestrator: 4,
            score: 0.3,
            current: true,
        };
        assert_eq!(pick(&[good], Some(9), &w), Some(4));
        let slow = Known { score: 1.4, ..good };
        assert_eq!(pick(&[slow], Some(9), &w), Some(9));
        // Nothing new to try: the least slow one, however slow.
        assert_eq!(pick(&[slow], None, &w), Some(4));
        assert_eq!(pick(&[], None, &w), None);
    }
}
