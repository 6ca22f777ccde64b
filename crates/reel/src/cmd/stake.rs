//! `reel stake …`: bonding, delegation, orchestrator registration, rewards and rounds.

use super::chain_args::{AccountArgs, ChainArgs, connect, print_done as done};
use alloy::primitives::Address;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reel_chain::{
    Protocol,
    protocol::{DelegatorStatus, RoundStatus},
};
use reel_types::{Lpt, Ppm, Wei};

#[derive(Debug, Args)]
pub(crate) struct StakeArgs {
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    account: AccountArgs,
    #[command(subcommand)]
    command: StakeCommand,
}

#[derive(Debug, Subcommand)]
enum StakeCommand {
    /// Bond LPT to an orchestrator (to yourself to become one)
    Bond {
        /// LPT to bond, e.g. 12.5
        amount: Lpt,
        /// The orchestrator to delegate to [default: yourself]
        #[arg(long)]
        to: Option<Address>,
    },
    /// Start unbonding LPT; it can be withdrawn after the unbonding period
    Unbond {
        /// LPT to unbond
        amount: Lpt,
    },
    /// Bond an unbonding lock again (to its old delegate, or --to one if fully unbonded)
    Rebond {
        /// The unbonding lock id (see `reel stake status`)
        lock: u64,
        /// Delegate to bond to when you are fully unbonded
        #[arg(long)]
        to: Option<Address>,
    },
    /// Withdraw the LPT of an unbonding lock whose withdraw round has come
    WithdrawStake {
        /// The unbonding lock id
        lock: u64,
    },
    /// Withdraw earned ETH fees
    WithdrawFees {
        /// ETH to withdraw [default: all]
        amount: Option<Wei>,
        /// Who receives the ETH [default: yourself]
        #[arg(long)]
        recipient: Option<Address>,
    },
    /// Claim rewards and fees up to the current round (bonds the rewards)
    Claim,
    /// Register or update yourself as an orchestrator
    Transcoder {
        /// Share of rewards you keep, in percent (e.g. 10)
        #[arg(long)]
        reward_cut: Ppm,
        /// Share of fees you give to your delegators, in percent (e.g. 50)
        #[arg(long)]
        fee_share: Ppm,
        /// Self-bond this much LPT first (registration needs a self-bond)
        #[arg(long)]
        bond: Option<Lpt>,
        /// Advertise this URI (https://host:port) in the ServiceRegistry
        #[arg(long)]
        service_uri: Option<String>,
    },
    /// Show an account's bond, pending earnings, unbonding locks and the active set
    Status {
        /// The account [default: yourself]
        address: Option<Address>,
    },
    /// Round status, or initialise the current round
    Round {
        #[command(subcommand)]
        command: Option<RoundCommand>,
    },
    /// Call reward() for the current round (active orchestrators, once per round)
    Reward,
}

#[derive(Debug, Subcommand)]
enum RoundCommand {
    /// Show the current round (the default)
    Status,
    /// Initialise the current round
    Initialize,
}

pub(crate) async fn run(args: StakeArgs) -> anyhow::Result<()> {
    let read_only = matches!(
        args.command,
        StakeCommand::Status { address: Some(_) }
            | StakeCommand::Round {
                command: None | Some(RoundCommand::Status)
            }
    );
    let p = connect(&args.chain, &args.account, read_only).await?;
    let needs_initialized_round = !read_only
        && !matches!(
            args.command,
            StakeCommand::Status { .. } | StakeCommand::Round { .. }
        );
    if needs_initialized_round && let Some(out) = p.ensure_round_initialized().await? {
        done(&out);
    }
    match args.command {
        StakeCommand::Bond { amount, to } => {
            let to = to.map_or_else(|| p.from(), Ok)?;
            done(&p.bond(amount, to).await?);
        }
        StakeCommand::Unbond { amount } => {
            let out = p.unbond(amount).await?;
            done(&out);
            let d = p.delegator(p.from()?).await?;
            if let Some(lock) = d.locks.last() {
                println!(
                    "unbonding lock {}: {} withdrawable from {}",
                    lock.id, lock.amount, lock.withdraw_round
                );
            }
        }
        StakeCommand::Rebond { lock, to } => {
            let d = p.delegator(p.from()?).await?;
            let out = if d.status == DelegatorStatus::Unbonded {
                let to =
                    to.context("you are fully unbonded: pass --to <orchestrator> to rebond to")?;
                p.rebond_from_unbonded(to, lock).await?
            } else {
                p.rebond(lock).await?
            };
            done(&out);
        }
        StakeCommand::WithdrawStake { lock } => done(&p.withdraw_stake(lock).await?),
        StakeCommand::WithdrawFees { amount, recipient } => {
            let me = p.from()?;
            let amount = match amount {
                Some(a) => a,
                None => p.delegator(me).await?.pending_fees,
            };
            if amount.is_zero() {
                bail!("no fees to withdraw");
            }
            done(&p.withdraw_fees(recipient.unwrap_or(me), amount).await?);
        }
        StakeCommand::Claim => done(&p.claim_earnings().await?),
        StakeCommand::Transcoder {
            reward_cut,
            fee_share,
            bond,
            service_uri,
        } => {
            let me = p.from()?;
            if let Some(amount) = bond {
                done(&p.bond(amount, me).await?);
            }
            done(&p.set_transcoder(reward_cut, fee_share).await?);
            if let Some(uri) = service_uri {
                done(&p.set_service_uri(&uri).await?);
            }
            let t = p.transcoder(me).await?;
            let round = p.round_status().await?.round;
            if t.active {
                println!("{me} is an active orchestrator");
            } else if t.activation_round > round {
                println!("{me} joins the active set in {}", t.activation_round);
            } else {
                println!(
                    "{me} is registered but not in the active set (stake {} is too low)",
                    t.total_stake
                );
            }
        }
        StakeCommand::Status { address } => {
            let who = address.map_or_else(|| p.from(), Ok)?;
            print_status(&p, who).await?;
        }
        StakeCommand::Round { command } => match command {
            None | Some(RoundCommand::Status) => print_round(&p.round_status().await?),
            Some(RoundCommand::Initialize) => {
                let status = p.round_status().await?;
                if status.initialized {
                    println!("{} is already initialized", status.round);
                } else {
                    done(&p.initialize_round().await?);
                }
            }
        },
        StakeCommand::Reward => {
            let (out, minted) = p.reward().await?;
            done(&out);
            println!("minted {minted} to the orchestrator and its delegators");
        }
    }
    Ok(())
}

fn print_round(r: &RoundStatus) {
    println!(
        "{} (block {}; started at block {}, {} blocks long){}{}",
        r.round,
        r.block,
        r.start_block,
        r.length,
        if r.initialized {
            ", initialized"
        } else {
            ", NOT initialized"
        },
        if r.locked { ", locked" } else { "" }
    );
}

async fn print_status(p: &Protocol, who: Address) -> anyhow::Result<()> {
    let round = p.round_status().await?;
    print_round(&round);
    let d = p.delegator(who).await?;
    println!("account {who}");
    println!("  LPT balance      {}", p.lpt_balance(who).await?);
    println!("  ETH balance      {}", p.eth_balance(who).await?);
    println!("  status           {:?}", d.status);
    if d.status != DelegatorStatus::Unbonded {
        println!("  bonded           {} to {}", d.bonded, d.delegate);
        println!(
            "  pending stake    {} (with unclaimed rewards)",
            d.pending_stake
        );
    }
    println!("  pending fees     {}", d.pending_fees);
    println!("  last claim       {}", d.last_claim_round);
    for lock in &d.locks {
        let when = if lock.withdraw_round <= round.round {
            "withdrawable now".to_owned()
        } else {
            format!("from {}", lock.withdraw_round)
        };
        println!("  unbonding lock {} {} ({when})", lock.id, lock.amount);
    }
    let t = p.transcoder(who).await?;
    if t.registered {
        println!("orchestrator");
        println!("  active           {}", if t.active { "yes" } else { "no" });
        println!("  total stake      {}", t.total_stake);
        println!("  reward cut       {}", t.reward_cut);
        println!("  fee share        {}", t.fee_share);
        println!("  last reward      {}", t.last_reward_round);
        if !t.service_uri.is_empty() {
            println!("  service URI      {}", t.service_uri);
        }
    }
    let pool = p.pool().await?;
    println!("transcoder pool ({} members)", pool.len());
    for m in pool {
        println!(
            "  {} {:>30} {}",
            m.address,
            m.stake.to_string(),
            if m.active { "active" } else { "pending" }
        );
    }
    Ok(())
}
