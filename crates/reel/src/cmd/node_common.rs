//! What the node roles (`orchestrator`, `transcoder`, `gateway`) share on the command line:
//! the network choice and chain connection, the config file, prices, the
//! shutdown signal and `--dump-config`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser};
use reel_chain::Protocol;
use reel_net::EthSigner;
use reel_pm::PricePerPixel;

use super::chain_args::{AccountArgs, ChainArgs};

/// `--network`: no chain at all, or the chain named by the chain flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Network {
    /// No chain, no payments; orchestrators from --orch-addr.
    Offchain,
    /// The local devnet (`devnet.json`), or --rpc-url with --controller.
    Onchain,
}

/// Flags every node role has.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Node")]
pub(crate) struct CommonArgs {
    /// offchain: no chain, no payments; onchain: the chain given by the chain flags (the
    /// local devnet by default)
    #[arg(long, env = "REEL_NETWORK", default_value = "offchain", value_enum)]
    pub(crate) network: Network,
    /// Read more flags from FILE: one `name value` per line (go-livepeer's format; `#`
    /// comments). Flags on the command line and REEL_* variables win over the file.
    #[arg(long, env = "REEL_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Print the effective configuration as JSON and exit
    #[arg(long)]
    pub(crate) dump_config: bool,
}

#[derive(Debug, Parser)]
#[command(
    name = "reel",
    args_override_self = true,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Reparse<T: Args> {
    #[command(flatten)]
    inner: T,
}

/// Re-reads the role's flags with the config file's lines in front of the command line
/// (so the command line wins), skipping file entries whose environment variable is set
/// (so the environment wins over the file).
pub(crate) fn with_config_file<T: Args + FromArgMatches>(
    subcommand: &str,
    file: &Path,
) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the config file {}", file.display()))?;
    let cmd = Reparse::<T>::command();
    let mut from_file: Vec<OsString> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        let key = key.trim_start_matches('-');
        let arg = cmd
            .get_arguments()
            .find(|a| {
                a.get_long() == Some(key) || a.get_all_aliases().is_some_and(|al| al.contains(&key))
            })
            .with_context(|| format!("{}:{}: unknown setting {key:?}", file.display(), n + 1))?;
        let long = arg.get_long().unwrap_or(key);
        if long == "config" || long == "dump-config" {
            continue;
        }
        if arg.get_env().is_some_and(|e| std::env::var_os(e).is_some()) {
            continue;
        }
        if arg.get_action().takes_values() {
            from_file.push(format!("--{long}").into());
            from_file.push(value.into());
        } else if value.is_empty() || value == "true" {
            from_file.push(format!("--{long}").into());
        } else if value != "false" {
            bail!(
                "{}:{}: {key} is a switch: use `true` or `false`",
                file.display(),
                n + 1
            );
        }
    }
    // The command line after the subcommand.
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    let pos = argv
        .iter()
        .skip(1)
        .position(|a| a == subcommand)
        .map_or(argv.len(), |p| p + 2);
    // The global -v flags belong to the top-level command.
    let cli: Vec<OsString> = argv
        .split_off(pos.min(argv.len()))
        .into_iter()
        .filter(|a| {
            let s = a.to_string_lossy();
            !(s == "--verbose" || (s.starts_with("-v") && s[1..].chars().all(|c| c == 'v')))
        })
        .collect();
    let mut all: Vec<OsString> = vec!["reel".into()];
    all.extend(from_file);
    all.extend(cli);
    let parsed = Reparse::<T>::try_parse_from(all).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(parsed.inner)
}

/// `--price-per-unit` wei per `--pixels-per-unit` pixels, exactly.
pub(crate) fn price(per_unit: u64, pixels: u64) -> anyhow::Result<PricePerPixel> {
    PricePerPixel::new(
        alloy::primitives::U256::from(per_unit),
        alloy::primitives::U256::from(pixels),
    )
    .context("--pixels-per-unit must be at least 1")
}

/// The chain and the node's key, on-chain.
pub(crate) struct OnChain {
    pub(crate) protocol: Protocol,
    pub(crate) signer: EthSigner,
    pub(crate) rpc_url: String,
    /// How the account's transactions are sent (its gas cap and replacement policy), for
    /// whatever sends outside the Protocol client, such as the ticket redeemer.
    pub(crate) sending: reel_chain::SenderConfig,
}

/// Connects to the chain with the account flags' key.
pub(crate) async fn connect(chain: &ChainArgs, account: &AccountArgs) -> anyhow::Result<OnChain> {
    let (config, devnet) = chain.resolve().await?;
    let key = account.signer(devnet.as_ref())?;
    let signer = EthSigner::from_bytes(&key.to_bytes().0).context("the account's key")?;
    let rpc_url = config.rpc_url.clone();
    // One sender for the account: the keeper, the redeemer and the service-URI update all
    // sign through it, so they never race for a nonce.
    let sender = account.sender(&config, devnet.as_ref())?;
    let sending = account.sender_config(devnet.is_some());
    let protocol = Protocol::with_sender(&config, Some(sender))
        .await
        .with_context(|| format!("connecting to the chain at {rpc_url}"))?;
    Ok(OnChain {
        protocol,
        signer,
        rpc_url,
        sending,
    })
}

/// Serves until Ctrl-C or SIGTERM, or until a background task panics, then stops the role
/// (`stop`, run after the shutdown token is cancelled) and waits for its background tasks.
/// A panicked task is an error naming it.
pub(crate) async fn serve_until_signal(
    tasks: &reel_node::tasks::Tasks,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    println!("Press Ctrl-C to stop.");
    tokio::select! {
        signal = shutdown_signal() => tracing::info!("{}: stopping", signal?),
        () = tasks.shutdown_token().cancelled() => {
            tracing::error!("stopping: {}", tasks.stop_reason().unwrap_or_else(|| "shut down".into()));
        }
    }
    tasks.shutdown_token().cancel();
    stop.await;
    tasks.shutdown().await;
    match tasks.stop_reason() {
        Some(why) => Err(anyhow::anyhow!(why)),
        None => Ok(()),
    }
}

/// Resolves on Ctrl-C or SIGTERM, with the signal's name.
pub(crate) async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map(|()| "Ctrl-C").context("waiting for Ctrl-C"),
        _ = term.recv() => Ok("SIGTERM"),
    }
}

/// `~/.reel/<role>` unless given.
pub(crate) fn data_dir(given: Option<&PathBuf>, role: &str) -> anyhow::Result<PathBuf> {
    match given {
        Some(d) => Ok(d.clone()),
        None => Ok(dirs::home_dir()
            .context("no home directory: pass --data-dir")?
            .join(".reel")
            .join(role)),
    }
}
