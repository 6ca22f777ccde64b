//! Aggregated per round: each orchestrator's expected share of the stream time and of the
//! jobs, from the same selection weights the event engine draws from, adjusted for what the
//! events would do (outages, slow sessions, caught cheats, full capacity). The lottery stays
//! real: each orchestrator's winning tickets are one exact binomial draw.

use crate::{
    network::Network,
    scenario::Scenario,
    work::{Candidates, RoundWork, TicketModel, job_demands, latency_score},
};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use reel_types::U256;

/// Books round `round`'s expected work into `out`.
pub fn run_round(
    s: &Scenario,
    net: &Network,
    cand: &Candidates,
    tickets: &TicketModel,
    round: u64,
    rng: &mut ChaCha8Rng,
    out: &mut RoundWork,
) {
    let ids = cand.streams.ids();
    let p = cand.streams.probabilities();
    let seg = s.demand.segment_seconds;
    let session_secs = s.demand.mean_stream_minutes * 60.0;
    let segments_per_session = (session_secs / seg).max(1.0);
    let o = &s.orchestrators;
    let availability = (1.0 - o.outages_per_day * o.outage_minutes / 1440.0).clamp(0.0, 1.0);
    let regions = s.demand.regions.len().max(1);
    // Per region: each candidate's weight, times the share of a session it keeps.
    let weights: Vec<Vec<f64>> = (0..regions)
        .map(|r| {
            ids.iter()
                .zip(p)
                .map(|(i, pi)| {
                    let orch = &net.orchestrators[*i];
                    let mut keep = availability;
                    if latency_score(s, net, r, *i) > 1.0 {
                        // One segment, then the gateway moves on.
                        keep *= 1.0 / segments_per_session;
                    }
                    if orch.dishonest && s.gateway.verify_rate > 0.0 {
                        // Kept until the first checked segment or the session's end.
                        keep *= 1.0 / (1.0 + s.gateway.verify_rate * segments_per_session);
                    }
                    pi * keep
                })
                .collect()
        })
        .collect();
    let caps: Vec<f64> = ids
        .iter()
        .map(|i| f64::from(net.orchestrators[*i].capacity) * availability)
        .collect();
    let mut seconds = vec![0.0; ids.len()];
    let round_secs = s.protocol.round_seconds();
    let start = round.saturating_mul(round_secs);
    let mut t = start;
    let end = start.saturating_add(round_secs);
    let mut cache: Vec<(u64, Vec<f64>)> = Vec::new();
    while t < end {
        let edge = ((t / 3600 + 1) * 3600).min(end);
        let hour = ((t / 3600) % 24) as usize;
        let concurrent = s.demand.peak_streams * s.demand.daily_curve[hour];
        let key = concurrent.to_bits();
        let shares = match cache.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => v.clone(),
            None => {
                let v = fill(&weights, &caps, concurrent);
                cache.push((key, v.clone()));
                v
            }
        };
        let dt = (edge - t) as f64;
        let mut served = 0.0;
        for (k, share) in shares.iter().enumerate() {
            seconds[k] += share * dt;
            served += share;
        }
        out.unserved += ((concurrent - served).max(0.0) * dt / session_secs).round() as u64;
        out.streams_started += (concurrent * dt / session_secs).round() as u64;
        t = edge;
    }
    // The events the event engine would count, as expectations per stream-second on each
    // orchestrator: its outages move its streams, each checked segment of a cheat's may end
    // the session, and a slow session moves after one segment.
    let outage_rate = o.outages_per_day / 86_400.0;
    let (mut failovers, mut caught) = (0.0, 0.0);
    for (k, i) in ids.iter().enumerate() {
        let orch = &net.orchestrators[*i];
        let catch_rate = if orch.dishonest {
            s.gateway.verify_rate / seg
        } else {
            0.0
        };
        let slow = (0..regions)
            .filter(|r| latency_score(s, net, *r, *i) > 1.0)
            .count() as f64
            / regions as f64;
        caught += seconds[k] * catch_rate;
        failovers += seconds[k] * (outage_rate + catch_rate + slow / seg);
    }
    out.failovers += failovers.round() as u64;
    out.caught += caught.round() as u64;
    for (k, i) in ids.iter().enumerate() {
        let secs = seconds[k];
        if secs <= 0.0 {
            continue;
        }
        let px = (secs * s.demand.ladder_pixels_per_second as f64) as u64;
        let fee = net.orchestrators[*i]
            .price
            .fee_ceil(px)
            .unwrap_or(U256::MAX);
        let n = tickets.tickets_for(fee);
        let w = &mut out.orchestrators[*i];
        w.pixels = w.pixels.saturating_add(px);
        w.fees = w.fees.saturating_add(fee);
        w.stream_seconds += secs;
        w.sessions += (secs / session_secs).round() as u64;
        w.add_tickets(n, tickets, rng);
    }
    jobs(s, net, cand, tickets, availability, rng, out);
}

/// Concurrent streams per candidate when `concurrent` streams spread by `weights` (per
/// region, regions equally likely) over candidates that hold at most `caps` each: water
/// filling, where a full one's excess goes to the others by their weights.
fn fill(weights: &[Vec<f64>], caps: &[f64], concurrent: f64) -> Vec<f64> {
    let n = caps.len();
    let mut load = vec![0.0; n];
    let per_region = concurrent / weights.len().max(1) as f64;
    for w in weights {
        let mut full = vec![false; n];
        let mut left = per_region;
        for _ in 0..32 {
            let total: f64 = (0..n).filter(|k| !full[*k]).map(|k| w[k]).sum();
            if left <= 1e-9 || total <= 0.0 {
                break;
            }
            let mut spill = 0.0;
            for k in 0..n {
                if full[k] {
                    continue;
                }
                let add = left * w[k] / total;
                let room = (caps[k] - load[k]).max(0.0);
                if add >= room {
                    load[k] += room;
                    spill += add - room;
                    full[k] = true;
                } else {
                    load[k] += add;
                }
            }
            left = spill;
        }
    }
    load
}

fn jobs(
    s: &Scenario,
    net: &Network,
    cand: &Candidates,
    tickets: &TicketModel,
    availability: f64,
    rng: &mut ChaCha8Rng,
    out: &mut RoundWork,
) {
    let ids = cand.jobs.ids();
    let p = cand.jobs.probabilities();
    if ids.is_empty() || availability <= 0.0 {
        return;
    }
    let hours = s.round_hours();
    let mut fees = vec![U256::ZERO; ids.len()];
    let mut count = vec![0u64; ids.len()];
    for d in job_demands(s) {
        for (k, pk) in p.iter().enumerate() {
            let fee = d.fee(&net.orchestrators[ids[k]]);
            // Outages take every orchestrator out for the same share of time, so the shares
            // are unchanged; the count per orchestrator is Poisson like the total.
            let mean = d.jobs_per_hour * hours * pk;
            if mean <= 0.0 {
                continue;
            }
            let n = Poisson::new(mean)
                .map(|x| x.sample(rng) as u64)
                .unwrap_or(0);
            count[k] += n;
            fees[k] = fees[k].saturating_add(fee.saturating_mul(U256::from(n)));
        }
    }
    for (k, i) in ids.iter().enumerate() {
        let w = &mut out.orchestrators[*i];
        w.jobs += count[k];
        w.fees = w.fees.saturating_add(fees[k]);
        w.job_fees = w.job_fees.saturating_add(fees[k]);
        w.add_tickets(tickets.tickets_for(fees[k]), tickets, rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_filling_respects_capacity_and_spills_by_weight() {
        let w = vec![vec![0.5, 0.25, 0.25]];
        let caps = [10.0, 100.0, 100.0];
        let load = fill(&w, &caps, 60.0);
        assert!((load[0] - 10.0).abs() < 1e-9, "{load:?}");
        assert!(
            (load[1] - 25.0).abs() < 1e-9 && (load[2] - 25.0).abs() < 1e-9,
            "{load:?}"
        );
        // Over total capacity: everyone is full and the rest is unserved.
        let load = fill(&w, &caps, 1000.0);
        assert!((load.iter().sum::<f64>() - 210.0).abs() < 1e-9, "{load:?}");
    }
}
