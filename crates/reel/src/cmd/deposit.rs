//! `reel deposit …`: a broadcaster's deposit and reserve at the TicketBroker, which back
//! the tickets its gateway sends.

use super::chain_args::{AccountArgs, ChainArgs, connect, print_done as done};
use alloy::primitives::Address;
use anyhow::bail;
use clap::{Args, Subcommand};
use reel_chain::Protocol;
use reel_types::Wei;

#[derive(Debug, Args)]
pub(crate) struct DepositArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    account: AccountArgs,
    #[command(subcommand)]
    command: DepositCommand,
}

#[derive(Debug, Subcommand)]
enum DepositCommand {
    /// Add ETH to the deposit (pays tickets) and/or the reserve (backs them)
    Fund {
        /// ETH for the deposit, e.g. 0.5
        #[arg(long, default_value = "0")]
        deposit: Wei,
        /// ETH for the reserve
        #[arg(long, default_value = "0")]
        reserve: Wei,
    },
    /// Start the unlock period; afterwards `withdraw` returns everything
    Unlock,
    /// Stop an unlock in progress (funding again also stops it)
    CancelUnlock,
    /// Withdraw deposit and reserve once the unlock period is over
    Withdraw,
    /// Show deposit, reserve, what each orchestrator can claim, and the unlock state
    Status {
        /// The sender [default: yourself]
        address: Option<Address>,
    },
}

pub(crate) async fn run(args: DepositArgs) -> anyhow::Result<()> {
    let read_only = matches!(args.command, DepositCommand::Status { address: Some(_) });
    let p = connect(&args.chain, &args.account, read_only).await?;
    if !read_only
        && !matches!(args.command, DepositCommand::Status { .. })
        && let Some(out) = p.ensure_round_initialized().await?
    {
        done(&out);
    }
    match args.command {
        DepositCommand::Fund { deposit, reserve } => {
            if deposit.is_zero() && reserve.is_zero() {
                bail!("nothing to fund: pass --deposit and/or --reserve");
            }
            done(&p.fund_deposit_and_reserve(deposit, reserve).await?);
            print_status(&p, p.from()?).await?;
        }
        DepositCommand::Unlock => {
            done(&p.unlock().await?);
            print_status(&p, p.from()?).await?;
        }
        DepositCommand::CancelUnlock => done(&p.cancel_unlock().await?),
        DepositCommand::Withdraw => done(&p.withdraw().await?),
        DepositCommand::Status { address } => {
            let who = address.map_or_else(|| p.from(), Ok)?;
            print_status(&p, who).await?;
        }
    }
    Ok(())
}

async fn print_status(p: &Protocol, who: Address) -> anyhow::Result<()> {
    let s = p.sender_status(who).await?;
    let round = p.round_status().await?.round;
    println!("sender {who}");
    println!("  deposit          {}", s.deposit);
    println!(
        "  reserve          {} ({} claimed this round)",
        s.reserve, s.claimed_this_round
    );
    match s.withdraw_round {
        Some(r) if r <= round => println!("  unlock           done: withdraw now"),
        Some(r) => println!("  unlock           in progress, withdraw from {r} (now {round})"),
        None => println!("  unlock           not started"),
    }
    if s.claimable.is_empty() {
        println!("  claimable        no active orchestrators");
    }
    for (orch, amount) in &s.claimable {
        println!("  claimable by {orch}  {amount}");
    }
    Ok(())
}
