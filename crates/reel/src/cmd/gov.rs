//! `reel gov …`: proposals, votes, queue and execute through the LivepeerGovernor. The
//! Treasury timelock owns the Controller, so this is how parameters change, contracts are
//! upgraded and the treasury pays out.

use super::chain_args::{AccountArgs, ChainArgs, connect, print_done as done};
use alloy::primitives::{Address, Bytes, U256};
use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use reel_chain::governance::{ParameterChange, Proposal, Support};
use reel_types::{Lpt, Ppm, Wei};

#[derive(Debug, Args)]
pub(crate) struct GovArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    account: AccountArgs,
    #[command(subcommand)]
    command: GovCommand,
}

#[derive(Debug, Subcommand)]
enum GovCommand {
    /// Submit a proposal (needs the proposal threshold in active stake)
    Propose {
        /// What the proposal does, shown to voters
        #[arg(long)]
        description: String,
        #[command(subcommand)]
        change: Change,
    },
    /// Vote on an active proposal with your stake (delegators override their orchestrator)
    Vote {
        /// Proposal id (see `reel gov list`)
        id: U256,
        support: SupportArg,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Queue a succeeded proposal in the treasury timelock
    Queue { id: U256 },
    /// Execute a queued proposal
    Execute { id: U256 },
    /// State, tallies, quorum and quota progress of a proposal
    Status { id: U256 },
    /// Every proposal with its state
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SupportArg {
    For,
    Against,
    Abstain,
}

// The subcommand names read as the change they make (`set-inflation-change 600`).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Subcommand)]
enum Change {
    /// Minter: per-round inflation step, in billionths (Livepeer: 500)
    SetInflationChange { value: u64 },
    /// Minter: target bonding rate, in billionths (500000000 = 50%)
    SetTargetBondingRate { value: u64 },
    /// BondingManager: rounds between unbond and withdraw
    SetUnbondingPeriod { rounds: u64 },
    /// RoundsManager: blocks per round
    SetRoundLength { blocks: u64 },
    /// BondingManager: share of rewards for the treasury, percent
    SetTreasuryRewardCut { percent: Ppm },
    /// Treasury: pay LPT to an address
    TreasuryTransfer {
        #[arg(long)]
        to: Address,
        #[arg(long)]
        amount: Lpt,
    },
    /// Upgrade a proxied contract (BondingManager, RoundsManager, TicketBroker, ...) to new code
    Upgrade {
        #[arg(long)]
        contract: String,
        /// Address of the new target contract
        #[arg(long)]
        target: Address,
    },
    /// Any call: target, hex calldata, ETH value
    Call {
        #[arg(long)]
        target: Address,
        #[arg(long)]
        calldata: Bytes,
        #[arg(long, default_value = "0")]
        value: Wei,
    },
}

impl Change {
    fn into_parameter_change(self) -> ParameterChange {
        match self {
            Change::SetInflationChange { value } => ParameterChange::InflationChange(value),
            Change::SetTargetBondingRate { value } => ParameterChange::TargetBondingRate(value),
            Change::SetUnbondingPeriod { rounds } => ParameterChange::UnbondingPeriod(rounds),
            Change::SetRoundLength { blocks } => ParameterChange::RoundLength(blocks),
            Change::SetTreasuryRewardCut { percent } => ParameterChange::TreasuryRewardCut(percent),
            Change::TreasuryTransfer { to, amount } => {
                ParameterChange::TreasuryTransfer { to, amount }
            }
            Change::Upgrade { contract, target } => ParameterChange::Upgrade { contract, target },
            Change::Call {
                target,
                calldata,
                value,
            } => ParameterChange::Raw {
                target,
                value: value.base_units(),
                calldata,
            },
        }
    }
}

pub(crate) async fn run(args: GovArgs) -> anyhow::Result<()> {
    let read_only = matches!(args.command, GovCommand::Status { .. } | GovCommand::List);
    let p = connect(&args.chain, &args.account, read_only).await?;
    match args.command {
        GovCommand::Propose {
            description,
            change,
        } => {
            if description.trim().is_empty() {
                bail!("--description must say what the proposal does");
            }
            let actions = p.actions_for(&change.into_parameter_change());
            let (id, out) = p.propose(&actions, &description).await?;
            done(&out);
            println!("proposal {id}");
            print_proposal(&p.proposal(id).await?);
        }
        GovCommand::Vote {
            id,
            support,
            reason,
        } => {
            let support = match support {
                SupportArg::For => Support::For,
                SupportArg::Against => Support::Against,
                SupportArg::Abstain => Support::Abstain,
            };
            let (weight, out) = p.vote(id, support, reason.as_deref()).await?;
            done(&out);
            println!("counted {weight} {support:?}");
        }
        GovCommand::Queue { id } => done(&p.queue_proposal(id).await?),
        GovCommand::Execute { id } => done(&p.execute_proposal(id).await?),
        GovCommand::Status { id } => print_proposal(&p.proposal(id).await?),
        GovCommand::List => {
            let all = p.proposals().await?;
            if all.is_empty() {
                println!("no proposals yet");
            }
            for prop in all {
                println!(
                    "{}  {:<9}  {}",
                    prop.id,
                    prop.state.to_string(),
                    prop.description
                );
            }
        }
    }
    Ok(())
}

fn print_proposal(p: &Proposal) {
    println!("proposal {}", p.id);
    println!("  description  {}", p.description);
    println!("  proposer     {}", p.proposer);
    println!("  state        {}", p.state);
    println!(
        "  voting       snapshot at the end of round {}, open until round {}",
        p.snapshot, p.deadline
    );
    println!("  for          {}", p.for_votes);
    println!("  against      {}", p.against_votes);
    println!("  abstain      {}", p.abstain_votes);
    let cast = p
        .for_votes
        .checked_add(p.against_votes)
        .and_then(|v| v.checked_add(p.abstain_votes))
        .unwrap_or(p.for_votes);
    match p.quorum {
        Some(q) => println!(
            "  quorum       {cast} of {q} needed{}",
            if cast >= q { " (reached)" } else { "" }
        ),
        None => println!(
            "  quorum       known after round {} (a share of the stake then)",
            p.snapshot
        ),
    }
    println!("  quota        {} of For + Against must be For", p.quota);
    for (i, target) in p.actions.targets.iter().enumerate() {
        let data = p
            .actions
            .calldatas
            .get(i)
            .map(|d| d.to_string())
            .unwrap_or_default();
        println!("  call {i}       {target} {data}");
    }
}
