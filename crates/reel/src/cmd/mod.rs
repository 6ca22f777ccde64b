use clap::{Parser, Subcommand};

mod chain_args;
mod demo;
mod deposit;
mod devnet;
mod duration;
mod gateway;
mod gov;
mod ingest_test;
mod job;
mod node_common;
mod orchestrator;
mod sim;
mod stake;
mod transcode;
mod transcoder;

/// reel: a Rust implementation of the Livepeer network.
#[derive(Debug, Parser)]
#[command(name = "reel", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a local network: anvil with the protocol deployed and funded accounts.
    Devnet(devnet::DevnetArgs),
    /// Bond, delegate, run as an orchestrator, claim rewards and fees, keep rounds.
    Stake(stake::StakeArgs),
    /// A broadcaster's deposit and reserve backing its payment tickets.
    Deposit(deposit::DepositArgs),
    /// Governance: propose, vote, queue and execute protocol changes and treasury payouts.
    Gov(gov::GovArgs),
    /// Transcode a file or URL to an HLS ladder on disk.
    Transcode(transcode::TranscodeArgs),
    /// Local mode without a chain: RTMP/HTTP ingest, local transcoding, HLS playback.
    IngestTest(ingest_test::IngestTestArgs),
    /// Sell transcoding: gRPC + HTTP service port, local or remote transcoders, payments.
    Orchestrator(orchestrator::OrchestratorArgs),
    /// Transcode for an orchestrator (registers with --orch-addr and --orch-secret).
    Transcoder(transcoder::TranscoderArgs),
    /// Buy transcoding: RTMP/HTTP ingest, orchestrator selection, verification, HLS.
    Gateway(gateway::GatewayArgs),
    /// Run compute jobs on the network: WebAssembly modules, sandboxed and paid per fuel.
    Job(job::JobArgs),
    /// Simulate the network at scale from a scenario and write a report: can fees pay for it?
    Sim(sim::SimArgs),
}

impl Command {
    pub(crate) async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Devnet(args) => devnet::run(args).await,
            Command::Stake(args) => stake::run(args).await,
            Command::Deposit(args) => deposit::run(args).await,
            Command::Gov(args) => gov::run(args).await,
            Command::Transcode(args) => transcode::run(args).await,
            Command::IngestTest(args) => ingest_test::run(args).await,
            Command::Orchestrator(args) => orchestrator::run(args).await,
            Command::Transcoder(args) => transcoder::run(args).await,
            Command::Gateway(args) => gateway::run(args).await,
            Command::Job(args) => job::run(args).await,
            Command::Sim(args) => sim::run(args).await,
        }
    }
}
