//! How the simulator's time grows with orchestrators and with streams, and the two scale
//! targets: a day of 10,000 orchestrators and 100,000 concurrent streams event by event, and
//! a year (365 rounds) of the same network aggregated. Run it in release:
//!
//! ```text
//! cargo run --release -p reel-sim --example scale            # the table and both targets
//! cargo run --release -p reel-sim --example scale -- --quick # a smaller grid
//! ```
//!
//! It prints a Markdown table, the fitted exponents (time ∝ n^b) and peak memory.

use reel_sim::{Fidelity, Scenario, stats::power_law_exponent};
use std::time::Instant;

/// A network of `orchs` orchestrators (all active) and `streams` concurrent streams all day.
fn scenario(orchs: usize, streams: f64, rounds: u64) -> Scenario {
    let mut s = Scenario {
        name: format!("scale-{orchs}-{streams}"),
        rounds,
        ..Scenario::default()
    };
    // One round is one day.
    s.protocol.round_length_blocks = 7200;
    s.protocol.active_set_size = orchs;
    s.protocol.total_supply_lpt = 30_000_000;
    s.orchestrators.count = orchs;
    // Room for the peak twice over, spread unevenly.
    let per = (2.0 * streams / orchs as f64).max(4.0);
    s.orchestrators.capacity_streams = reel_sim::scenario::Dist::Uniform {
        min: per * 0.5,
        max: per * 1.5,
    };
    s.delegators.count = orchs * 2;
    s.demand.peak_streams = streams;
    s.demand.daily_curve = vec![1.0; 24];
    s.demand.ai = vec![reel_sim::scenario::AiDemand {
        pipeline: "text-to-image".into(),
        jobs_per_hour: streams / 10.0,
        units_per_job: 1 << 20,
        price_per_unit_wei: 4000.0,
    }];
    s
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn time(s: &Scenario, f: Fidelity) -> f64 {
    let t = Instant::now();
    match reel_sim::run(s, f, |_, _| {}) {
        Ok(out) => std::hint::black_box(out.economy.rounds.len()),
        Err(e) => {
            eprintln!("{}: {e}", s.name);
            std::process::exit(1);
        }
    };
    t.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (orchs, streams): (Vec<usize>, Vec<f64>) = if quick {
        (vec![500, 1000, 2000], vec![5_000.0, 10_000.0, 20_000.0])
    } else {
        (
            vec![1000, 2500, 5000, 10_000],
            vec![12_500.0, 25_000.0, 50_000.0, 100_000.0],
        )
    };
    let fixed_streams = streams[0];
    let fixed_orchs = orchs[orchs.len() - 1];
    println!("| fidelity | orchestrators | concurrent streams | rounds | seconds |");
    println!("|---|---|---|---|---|");
    let mut by_orchs = Vec::new();
    for n in &orchs {
        let secs = time(&scenario(*n, fixed_streams, 1), Fidelity::Events);
        println!("| events | {n} | {fixed_streams} | 1 (a day) | {secs:.2} |");
        by_orchs.push((*n as f64, secs));
    }
    let mut by_streams = Vec::new();
    for st in &streams {
        let secs = time(&scenario(fixed_orchs, *st, 1), Fidelity::Events);
        println!("| events | {fixed_orchs} | {st} | 1 (a day) | {secs:.2} |");
        by_streams.push((*st, secs));
    }
    let mut agg = Vec::new();
    for n in &orchs {
        let secs = time(
            &scenario(*n, streams[streams.len() - 1], 365),
            Fidelity::Aggregated,
        );
        println!(
            "| aggregated | {n} | {} | 365 | {secs:.2} |",
            streams[streams.len() - 1]
        );
        agg.push((*n as f64, secs));
    }
    let b = |pts: &[(f64, f64)]| {
        power_law_exponent(pts)
            .map(|b| format!("{b:.2}"))
            .unwrap_or_default()
    };
    println!();
    println!(
        "events: time ∝ orchestrators^{} (at {fixed_streams} streams)",
        b(&by_orchs)
    );
    println!(
        "events: time ∝ streams^{} (at {fixed_orchs} orchestrators)",
        b(&by_streams)
    );
    println!("aggregated: time ∝ orchestrators^{} (365 rounds)", b(&agg));
    println!("peak memory: {:.0} MiB", peak_rss_mib());
}
