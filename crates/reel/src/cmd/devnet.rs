use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use clap::Args;
use reel_chain::{
    ChainConfig, Devnet, DevnetOptions, Protocol, SenderConfig, TxSender,
    anvil::DEFAULT_CHAIN_ID,
    keeper::{self, KeeperConfig},
};
use reel_contracts::ProtocolParams;
use reel_types::{Lpt, Wei};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Where devnet.json, the chain state and anvil's log live [default: ~/.reel/devnet]
    #[arg(long, env = "REEL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// JSON-RPC port on 127.0.0.1 (0 picks a free one)
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// How many accounts to fund; the first deploys and owns the protocol
    #[arg(long, default_value_t = 10)]
    accounts: usize,
    /// Seconds between blocks (0: a block per transaction)
    #[arg(long, default_value_t = 1)]
    block_time: u64,
    /// Forget the devnet in --data-dir and start a fresh chain
    #[arg(long)]
    reset: bool,
    /// Chain id of a fresh devnet
    #[arg(long, default_value_t = DEFAULT_CHAIN_ID)]
    chain_id: u64,
    /// ETH given to each account
    #[arg(long, default_value = "1000", value_name = "ETH")]
    eth: Wei,
    /// LPT minted to each account
    #[arg(long, default_value = "10000", value_name = "LPT")]
    lpt: Lpt,
    /// Blocks per round on a fresh devnet
    #[arg(long, default_value_t = DevnetOptions::devnet_protocol().round_length)]
    round_length: u64,
    /// Rounds between unbonding and withdrawing on a fresh devnet
    #[arg(long, default_value_t = DevnetOptions::devnet_protocol().unbonding_period)]
    unbonding_period: u64,
    /// Do not initialise rounds automatically (then `reel stake round initialize` does)
    #[arg(long)]
    no_keeper: bool,
    /// Run the whole network on a fresh devnet: orchestrators, a transcoder, delegators,
    /// a gateway and a live test stream
    #[arg(long)]
    demo: bool,
    /// With --demo: stop after this long (e.g. 90s, 5m)
    #[arg(long = "for", value_name = "DURATION", requires = "demo", value_parser = super::duration::parse_duration)]
    run_for: Option<std::time::Duration>,
}

pub(crate) async fn run(args: DevnetArgs) -> anyhow::Result<()> {
    if args.demo {
        return super::demo::run(super::demo::DemoArgs {
            data_dir: args.data_dir,
            run_for: args.run_for,
        })
        .await;
    }
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => dirs::home_dir()
            .context("no home directory to keep the devnet in: pass --data-dir")?
            .join(".reel")
            .join("devnet"),
    };
    let started = std::time::Instant::now();
    let mut devnet = Devnet::start(DevnetOptions {
        data_dir,
        host: std::net::Ipv4Addr::LOCALHOST.into(),
        port: (args.port != 0).then_some(args.port),
        chain_id: args.chain_id,
        accounts: args.accounts,
        block_time: args.block_time,
        reset: args.reset,
        eth_per_account: args.eth,
        lpt_per_account: args.lpt,
        protocol: ProtocolParams {
            round_length: args.round_length,
            unbonding_period: args.unbonding_period,
            ..DevnetOptions::devnet_protocol()
        },
    })
    .await
    .context("starting the devnet")?;
    print_summary(&devnet, started.elapsed());

    // The devnet keeps rounds moving: with a block every second and short rounds, a new
    // round starts every half minute and someone must initialise it.
    let (stop_keeper, keeper_stopped) = tokio::sync::oneshot::channel::<()>();
    let keeper = if args.no_keeper {
        None
    } else {
        let f = devnet.file();
        let config = ChainConfig {
            rpc_url: f.rpc_url.clone(),
            chain_id: f.chain_id,
            controller: f.contracts.controller,
        };
        let owner = f.deployer().context("devnet.json lists no accounts")?;
        let signer = PrivateKeySigner::from_bytes(&owner.private_key).context("devnet key")?;
        let sender = TxSender::new(
            &config.rpc_url,
            config.chain_id,
            signer,
            SenderConfig::devnet(),
        )?;
        let protocol = Protocol::with_sender(&config, Some(sender))
            .await
            .context("connecting the round keeper")?;
        let cfg = KeeperConfig {
            initialize_rounds: true,
            reward: false,
            poll: std::time::Duration::from_secs(f.block_time.max(1)),
        };
        Some(tokio::spawn(keeper::run(protocol, cfg, async {
            let _ = keeper_stopped.await;
        })))
    };

    let outcome = tokio::select! {
        signal = shutdown_signal() => signal.map(|name| tracing::info!("{name}: stopping")),
        why = devnet.wait_anvil_exit() => Err(anyhow::anyhow!("anvil stopped unexpectedly: {why}")),
    };
    let _ = stop_keeper.send(());
    if let Some(k) = keeper {
        let _ = k.await;
    }
    outcome?;
    devnet.shutdown().await.context("stopping anvil")?;
    println!("devnet stopped; chain state saved in {}", devnet_dir_note());
    Ok(())
}

fn devnet_dir_note() -> &'static str {
    "the data directory (start again to resume, --reset to start fresh)"
}

fn print_summary(devnet: &Devnet, took: std::time::Duration) {
    let f = devnet.file();
    let verb = if devnet.resumed() {
        "resumed"
    } else {
        "started"
    };
    let blocks = if f.block_time == 0 {
        "a block per transaction".to_owned()
    } else {
        format!("a block every {} s", f.block_time)
    };
    println!(
        "reel devnet {verb} in {:.1} s (chain id {}, {blocks})",
        took.as_secs_f64(),
        f.chain_id
    );
    println!("  RPC            {}", f.rpc_url);
    println!("  Controller     {}", f.contracts.controller);
    println!("  LivepeerToken  {}", f.contracts.livepeer_token);
    println!("  BondingManager {}", f.contracts.bonding_manager);
    println!("  RoundsManager  {}", f.contracts.rounds_manager);
    println!("  Minter         {}", f.contracts.minter);
    println!("  TicketBroker   {}", f.contracts.ticket_broker);
    println!(
        "  Treasury       {} (owns the Controller)",
        f.contracts.treasury
    );
    println!("  Governor       {}", f.contracts.governor);
    println!(
        "  rounds         {} blocks each, unbonding takes {} rounds",
        f.protocol.round_length, f.protocol.unbonding_period
    );
    println!(
        "  accounts       {} funded with {} and {} each; the first deployed the protocol",
        f.accounts.len(),
        f.eth_per_account,
        f.lpt_per_account
    );
    if let Some(a) = f.deployer() {
        println!("  deployer       {} (key {})", a.address, a.private_key);
    }
    println!(
        "  devnet.json    {}  (all addresses and keys)",
        devnet.file_path().display()
    );
    println!("  anvil log      {}", devnet.anvil().log_file().display());
    println!("Press Ctrl-C to stop; the chain state is kept for the next start.");
}

/// Resolves on Ctrl-C or SIGTERM, with the signal's name.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map(|()| "Ctrl-C").context("waiting for Ctrl-C"),
        _ = term.recv() => Ok("SIGTERM"),
    }
}
