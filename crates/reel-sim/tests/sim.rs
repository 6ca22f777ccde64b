//! The simulator's promises: the same seed gives the same report; the books balance (LPT
//! minted follows the inflation schedule, fees paid equal fees earned plus pending); and the
//! two fidelities agree on a shared scenario within stated tolerances.

use reel_sim::{Fidelity, Outcome, Scenario, network::u256_to_f64, report};

/// 40 orchestrators, all active, with room for the peak; outages, a cheat, AI and compute
/// jobs; rounds of 6 hours so that a round sees the daily curve move.
fn shared() -> Scenario {
    Scenario::parse(
        r#"
name = "shared"
seed = 42
rounds = 8
[protocol]
round_length_blocks = 1800
active_set_size = 40
total_supply_lpt = 1000000
[orchestrators]
count = 40
total_bonded_lpt = 450000
capacity_streams = { min = 60.0, max = 120.0 }
outages_per_day = 0.5
outage_minutes = 20.0
dishonest_share = 0.05
reward_calls = "always"
ai_share = 0.5
[delegators]
count = 200
claim_every_round = 0.2
[demand]
peak_streams = 800.0
mean_stream_minutes = 20.0
[[demand.ai]]
pipeline = "text-to-image"
jobs_per_hour = 400.0
units_per_job = 1048576
price_per_unit_wei = 4000000.0
[demand.compute]
jobs_per_hour = 200.0
fuel_per_job = 100000000
price_per_fuel_wei = 50.0
[gateway]
verify_rate = 0.1
"#,
    )
    .unwrap()
}

fn run(s: &Scenario, f: Fidelity) -> Outcome {
    reel_sim::run(s, f, |_, _| {}).unwrap()
}

fn report_bytes(o: &Outcome) -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let a = report::analyse(o);
    let c = report::conservation(o);
    report::write(o, &a, &c, &[], dir.path()).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let mut s = shared();
    s.rounds = 3;
    for f in [Fidelity::Events, Fidelity::Aggregated] {
        let a = report_bytes(&run(&s, f));
        let b = report_bytes(&run(&s, f));
        assert_eq!(a.len(), 6, "report.md, four charts and orchestrators.csv");
        assert_eq!(a, b, "{f}: two runs with seed {} differ", s.seed);
        // And a different seed gives a different network and report.
        let mut other = s.clone();
        other.seed += 1;
        assert_ne!(
            report_bytes(&run(&other, f)),
            a,
            "{f}: the seed changed nothing"
        );
    }
}

#[test]
fn the_books_balance_in_both_fidelities() {
    let s = shared();
    for f in [Fidelity::Events, Fidelity::Aggregated] {
        let o = run(&s, f);
        let c = report::conservation(&o);
        assert!(c.holds(), "{f}: {c:?}");
        // Everyone calls reward() every round, so only rounding strands fees.
        assert!(c.stranded() <= c.rounding_bound(), "{f}: {c:?}");
        assert!(
            !c.paid.is_zero() && !c.minted.is_zero(),
            "{f}: nothing happened: {c:?}"
        );
        // Every active orchestrator calls reward(): each round mints its whole budget but
        // for rounding. The Minter takes a caller's share as percPoints(stake, total) in
        // billionths, so each call may fall short by a billionth of the budget plus a wei.
        for r in &o.economy.rounds {
            let short = r.mintable.base_units() - r.minted.base_units();
            let per_call = r.mintable.base_units() / reel_types::U256::from(1_000_000_000u64)
                + reel_types::U256::from(1u8);
            assert!(
                short <= per_call * reel_types::U256::from(r.reward_calls),
                "{f}: round {} minted {} of {} with {} calls",
                r.round,
                r.minted,
                r.mintable,
                r.reward_calls
            );
            assert_eq!(r.reward_calls, r.active, "{f}: round {}", r.round);
        }
        // The supply grew by exactly what the rounds minted, and the inflation moved by
        // inflation_change each round towards the target.
        for w in o.economy.rounds.windows(2) {
            let step = w[1].inflation.abs_diff(w[0].inflation);
            assert!(
                step == s.protocol.inflation_change || w[1].inflation == 0,
                "{w:?}"
            );
        }
    }
}

/// The tolerances: the event engine draws its demand (Poisson arrivals, exponential
/// durations) and its lottery, the aggregated engine takes expectations for the demand and
/// draws only the lottery. Over 8 rounds of ~12,000 streams each:
/// - the value of all work agrees within 3% (a few standard deviations of the stream
///   count's noise, ~0.6%, plus the approximations for slow sessions and caught cheats);
/// - each orchestrator's share of the work agrees within 1.5 percentage points;
/// - winning tickets agree within 5 Poisson standard deviations plus 3%;
/// - jobs agree within 5 Poisson standard deviations.
#[test]
fn the_fidelities_agree_on_a_shared_scenario() {
    let s = shared();
    let ev = run(&s, Fidelity::Events);
    let ag = run(&s, Fidelity::Aggregated);
    let value = |o: &Outcome| {
        o.economy
            .work
            .iter()
            .map(|w| u256_to_f64(w.fees))
            .sum::<f64>()
    };
    let (ve, va) = (value(&ev), value(&ag));
    assert!(
        va > 0.0 && (ve - va).abs() / va < 0.03,
        "work value: events {ve:e}, aggregated {va:e}"
    );
    let mut worst = (0, 0.0);
    for (i, (we, wa)) in ev.economy.work.iter().zip(&ag.economy.work).enumerate() {
        let d = (u256_to_f64(we.fees) / ve - u256_to_f64(wa.fees) / va).abs();
        if d > worst.1 {
            worst = (i, d);
        }
    }
    assert!(
        worst.1 < 0.015,
        "orchestrator {} work share differs by {:.4}",
        worst.0,
        worst.1
    );
    let wins = |o: &Outcome| o.economy.work.iter().map(|w| w.wins).sum::<u64>() as f64;
    let (we, wa) = (wins(&ev), wins(&ag));
    assert!(
        (we - wa).abs() <= 5.0 * wa.sqrt() + 0.03 * wa,
        "wins: events {we}, aggregated {wa}"
    );
    let jobs = |o: &Outcome| o.economy.work.iter().map(|w| w.jobs).sum::<u64>() as f64;
    let (je, ja) = (jobs(&ev), jobs(&ag));
    assert!(
        (je - ja).abs() <= 5.0 * ja.sqrt(),
        "jobs: events {je}, aggregated {ja}"
    );
    // Caught cheats and failovers: counted in one, expected in the other, within 5
    // Poisson standard deviations plus 10% (the aggregated count ignores that a session
    // caught or failed over starts again elsewhere mid-stream).
    let sum = |o: &Outcome, f: fn(&reel_sim::RoundStats) -> u64| {
        o.economy.rounds.iter().map(f).sum::<u64>() as f64
    };
    for (what, f) in [
        ("caught", (|r| r.caught) as fn(&reel_sim::RoundStats) -> u64),
        ("failovers", |r| r.failovers),
    ] {
        let (e, a) = (sum(&ev, f), sum(&ag, f));
        assert!(e > 0.0, "no {what} in the event run");
        assert!(
            (e - a).abs() <= 5.0 * a.sqrt() + 0.1 * a,
            "{what}: events {e}, aggregated {a}"
        );
    }
}

#[test]
fn the_shipped_scenarios_parse_and_cite_their_figures() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# Sources:"),
            "{} cites no sources",
            path.display()
        );
        names.push(s.name);
    }
    names.sort();
    assert_eq!(names, ["ai-heavy", "cheaters", "demand-10x", "today"]);
}

mod random_scenarios {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// Any sane scenario runs in both fidelities without an error from the contract
        /// model, and its books balance: small networks where orchestrators fall out of the
        /// active set, skip reward() when gas is dear, fail, cheat and fill up.
        #[test]
        fn any_scenario_runs_and_balances(
            orchs in 1usize..25,
            active in 1usize..30,
            delegators in 0usize..60,
            peak in 0.0f64..400.0,
            cap_max in 1.0f64..40.0,
            outages in 0.0f64..5.0,
            dishonest in 0.0f64..0.5,
            gas_gwei in 0.001f64..50.0,
            always in any::<bool>(),
            claim in 0.0f64..1.0,
            seed in 0u64..1_000_000,
        ) {
            let text = format!(
                r#"
seed = {seed}
rounds = 3
[protocol]
round_length_blocks = 300
active_set_size = {active}
total_supply_lpt = 1000000
[market]
gas_price_gwei = {gas_gwei}
[orchestrators]
count = {orchs}
total_bonded_lpt = 400000
capacity_streams = {{ min = 1.0, max = {cap_max} }}
outages_per_day = {outages}
dishonest_share = {dishonest}
reward_calls = "{calls}"
[delegators]
count = {delegators}
claim_every_round = {claim}
[demand]
peak_streams = {peak}
mean_stream_minutes = 10.0
[[demand.ai]]
pipeline = "llm"
jobs_per_hour = 50.0
units_per_job = 300
price_per_unit_wei = 1000000.0
"#,
                calls = if always { "always" } else { "if-profitable" },
            );
            let s = Scenario::parse(&text).unwrap();
            for f in [Fidelity::Events, Fidelity::Aggregated] {
                let o = reel_sim::run(&s, f, |_, _| {})
                    .map_err(|e| TestCaseError::fail(format!("{f}: {e}\n{text}")))?;
                let c = report::conservation(&o);
                prop_assert!(c.holds(), "{f}: {c:?}\n{text}");
                prop_assert_eq!(o.economy.rounds.len(), 3);
            }
        }
    }
}
