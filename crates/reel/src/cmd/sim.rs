//! `reel sim SCENARIO.toml`: the network at internet scale, simulated with reel's own
//! selection, ticket and contract math; writes a report (Markdown and SVG charts).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use reel_sim::{Fidelity, Scenario, report};

#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// The scenario (TOML); see scenarios/ for the shipped ones
    scenario: PathBuf,
    /// events: every stream, session, outage, job and ticket interval; aggregated: each
    /// orchestrator's expected share per round (internet scale)
    #[arg(long, default_value = "aggregated", value_parser = parse_fidelity)]
    fidelity: Fidelity,
    /// Where the report goes [default: sim-report/<scenario name>]
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Override the scenario's number of rounds
    #[arg(long)]
    rounds: Option<u64>,
    /// Override the scenario's seed
    #[arg(long)]
    seed: Option<u64>,
    /// Skip the sensitivity tables (each is a further aggregated run)
    #[arg(long)]
    no_sensitivity: bool,
}

fn parse_fidelity(s: &str) -> Result<Fidelity, String> {
    s.parse()
}

pub(crate) async fn run(args: SimArgs) -> anyhow::Result<()> {
    let mut s = Scenario::load(&args.scenario)?;
    if let Some(r) = args.rounds {
        s.rounds = r;
    }
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("sim-report").join(&s.name));
    let no_sensitivity = args.no_sensitivity;
    let fidelity = args.fidelity;
    // The simulation is CPU-bound: keep it off the async workers.
    tokio::task::spawn_blocking(move || simulate(&s, fidelity, &out, no_sensitivity))
        .await
        .context("the simulation thread")?
}

fn simulate(
    s: &Scenario,
    fidelity: Fidelity,
    out: &std::path::Path,
    no_sensitivity: bool,
) -> anyhow::Result<()> {
    let bar = indicatif::ProgressBar::new(s.rounds);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rounds, {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("{} ({fidelity})", s.name));
    let t0 = Instant::now();
    let outcome = reel_sim::run(s, fidelity, |r, _| bar.set_position(r))?;
    let run_time = t0.elapsed();
    bar.finish_and_clear();
    let analysis = report::analyse(&outcome);
    let books = report::conservation(&outcome);
    let t1 = Instant::now();
    let sens = if no_sensitivity {
        Vec::new()
    } else {
        report::sensitivity(&outcome, report::sens_rounds(s))?
    };
    let sens_time = t1.elapsed();
    report::write(&outcome, &analysis, &books, &sens, out)
        .with_context(|| format!("writing the report to {}", out.display()))?;
    println!(
        "{}: {} rounds {fidelity} in {:.2} s (sensitivity {:.2} s)",
        s.name,
        s.rounds,
        run_time.as_secs_f64(),
        sens_time.as_secs_f64()
    );
    println!(
        "median orchestrator: fees / inflation = {:.3}; break-even at {} peak streams",
        analysis.median_fee_to_inflation,
        analysis
            .break_even_streams
            .map(|v| format!("{v:.0}"))
            .unwrap_or_else(|| "never".into())
    );
    println!("report: {}", out.join("report.md").display());
    if !books.holds() {
        anyhow::bail!("the books do not balance: {books:?}");
    }
    Ok(())
}
