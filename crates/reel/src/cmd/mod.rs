use clap::{Parser, Subcommand};

mod chain_args;
mod devnet;
mod stake;

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
}

impl Command {
    pub(crate) async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Devnet(args) => devnet::run(args).await,
            Command::Stake(args) => stake::run(args).await,
        }
    }
}
