//! Flags shared by every subcommand that talks to a chain: which chain, and which account.

use anyhow::{Context, bail};
use clap::Args;
use reel_chain::{
    ChainConfig, DevnetFile, KeySource, Protocol, SenderConfig, TxOutcome, TxSender,
    devnet::DEVNET_FILE,
};
use reel_types::Wei;
use std::path::PathBuf;
use std::time::Duration;

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};

/// Which chain. Without `--rpc-url`, the local devnet's `devnet.json` is used.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Chain")]
pub(crate) struct ChainArgs {
    /// JSON-RPC endpoint of the chain (e.g. an Arbitrum node)
    #[arg(long, env = "REEL_RPC_URL", alias = "ethUrl")]
    pub(crate) rpc_url: Option<String>,
    /// Address of the protocol's Controller (needed with --rpc-url)
    #[arg(long, env = "REEL_CONTROLLER", alias = "ethController")]
    pub(crate) controller: Option<Address>,
    /// Expected chain id (read from the chain when omitted)
    #[arg(long, env = "REEL_CHAIN_ID")]
    pub(crate) chain_id: Option<u64>,
    /// devnet.json to take the chain from when --rpc-url is not given
    /// [default: ~/.reel/devnet/devnet.json]
    #[arg(long, env = "REEL_DEVNET", conflicts_with = "rpc_url")]
    pub(crate) devnet: Option<PathBuf>,
}

/// Which account signs. One of: a private key, a keystore, or a devnet account.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Account")]
pub(crate) struct AccountArgs {
    /// Hex private key (prefer REEL_PRIVATE_KEY or a keystore: flags show up in `ps`)
    #[arg(long, env = "REEL_PRIVATE_KEY", hide_env_values = true, conflicts_with_all = ["keystore", "account"])]
    pub(crate) private_key: Option<String>,
    /// geth keystore file, or a directory of them (pick one with --from)
    #[arg(long, alias = "ethKeystorePath", conflicts_with = "account")]
    pub(crate) keystore: Option<PathBuf>,
    /// File holding the keystore password
    #[arg(long, requires = "keystore")]
    pub(crate) password_file: Option<PathBuf>,
    /// The account's address (picks the keystore file; checked against the key)
    #[arg(long, alias = "ethAcctAddr")]
    pub(crate) from: Option<Address>,
    /// Use funded account N of the devnet (0 owns the protocol)
    #[arg(long, value_name = "N")]
    pub(crate) account: Option<usize>,
    /// Never bid a gas price above this: wei, or with a unit ("30gwei"); a transaction
    /// waits rather than pay more
    #[arg(
        long,
        value_name = "WEI",
        alias = "maxGasPrice",
        env = "REEL_MAX_GAS_PRICE",
        value_parser = parse_gas_price
    )]
    pub(crate) max_gas_price: Option<Wei>,
    /// Replace a transaction still unmined after this long with a higher gas price
    /// [default: 60s, 10s on a devnet]
    #[arg(long, value_name = "DURATION", alias = "transactionTimeout", value_parser = super::duration::parse_duration)]
    pub(crate) tx_timeout: Option<Duration>,
    /// Replacements of one stuck transaction before giving up on it
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        alias = "maxTransactionReplacements"
    )]
    pub(crate) max_tx_replacements: u32,
    /// Stop waiting for a transaction's receipt after this long [default: 5m, 1m on a devnet]
    #[arg(long, value_name = "DURATION", value_parser = super::duration::parse_duration)]
    pub(crate) tx_receipt_timeout: Option<Duration>,
}

/// A gas price: whole wei (go-livepeer's `-maxGasPrice` unit), or a decimal number of
/// `gwei` or `eth`. A plain number is never read as ETH: 7000000000 means 7 gwei.
fn parse_gas_price(s: &str) -> Result<Wei, String> {
    let t = s.trim().to_ascii_lowercase();
    let (number, decimals) = if let Some(n) = t.strip_suffix("gwei") {
        (n.trim(), 9)
    } else if let Some(n) = t.strip_suffix("eth") {
        (n.trim(), 18)
    } else {
        (t.strip_suffix("wei").unwrap_or(&t).trim(), 0)
    };
    let bad = || format!("{s:?} is not a gas price: give whole wei, or e.g. 30gwei");
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > decimals
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let digits = format!("{whole}{frac:0<decimals$}");
    let wei = U256::from_str_radix(if digits.is_empty() { "0" } else { &digits }, 10)
        .map_err(|_| bad())?;
    Ok(Wei::from_base_units(wei))
}

fn default_devnet_file() -> anyhow::Result<PathBuf> {
    Ok(dirs::home_dir()
        .context("no home directory: pass --devnet <devnet.json> or --rpc-url")?
        .join(".reel/devnet")
        .join(DEVNET_FILE))
}

impl ChainArgs {
    fn devnet_file(&self) -> anyhow::Result<DevnetFile> {
        let path = match &self.devnet {
            Some(p) => p.clone(),
            None => default_devnet_file()?,
        };
        if !path.exists() {
            bail!(
                "no chain given and no devnet at {}: start one with `reel devnet`, \
                 or pass --rpc-url and --controller",
                path.display()
            );
        }
        DevnetFile::load(&path).with_context(|| format!("reading {}", path.display()))
    }

    /// The chain to use, with the devnet file when it came from one.
    pub(crate) async fn resolve(&self) -> anyhow::Result<(ChainConfig, Option<DevnetFile>)> {
        match &self.rpc_url {
            Some(url) => {
                let controller = self
                    .controller
                    .context("--rpc-url needs --controller <address> (or REEL_CONTROLLER)")?;
                let chain_id = match self.chain_id {
                    Some(id) => id,
                    None => reel_chain::chain_id(url).await?,
                };
                Ok((
                    ChainConfig {
                        rpc_url: url.clone(),
                        chain_id,
                        controller,
                    },
                    None,
                ))
            }
            None => {
                let file = self.devnet_file()?;
                let config = ChainConfig {
                    rpc_url: file.rpc_url.clone(),
                    chain_id: self.chain_id.unwrap_or(file.chain_id),
                    controller: self.controller.unwrap_or(file.contracts.controller),
                };
                Ok((config, Some(file)))
            }
        }
    }
}

impl AccountArgs {
    /// How this account's transactions are sent: the devnet's quick timings on a devnet.
    pub(crate) fn sender_config(&self, devnet: bool) -> SenderConfig {
        let base = if devnet {
            SenderConfig::devnet()
        } else {
            SenderConfig::default()
        };
        SenderConfig {
            max_gas_price: self.max_gas_price,
            replace_after: self.tx_timeout.unwrap_or(base.replace_after),
            max_replacements: self.max_tx_replacements,
            receipt_timeout: self.tx_receipt_timeout.unwrap_or(base.receipt_timeout),
            ..base
        }
    }

    /// The account's one transaction sender.
    pub(crate) fn sender(
        &self,
        config: &ChainConfig,
        devnet: Option<&DevnetFile>,
    ) -> anyhow::Result<TxSender> {
        let signer = self.signer(devnet)?;
        Ok(TxSender::new(
            &config.rpc_url,
            config.chain_id,
            signer,
            self.sender_config(devnet.is_some()),
        )?)
    }

    /// The signer, from the first source given; a devnet's account 0 by default.
    pub(crate) fn signer(&self, devnet: Option<&DevnetFile>) -> anyhow::Result<PrivateKeySigner> {
        let signer = if let Some(key) = &self.private_key {
            KeySource::PrivateKey(key.clone()).load()?
        } else if let Some(path) = &self.keystore {
            KeySource::Keystore {
                path: path.clone(),
                password_file: self.password_file.clone(),
                password: std::env::var("REEL_KEYSTORE_PASSWORD").ok(),
                address: self.from,
            }
            .load()?
        } else if let Some(devnet) = devnet {
            let n = self.account.unwrap_or(0);
            let account = devnet.accounts.get(n).with_context(|| {
                format!(
                    "the devnet has {} accounts (0..{}); --account {n} is not one",
                    devnet.accounts.len(),
                    devnet.accounts.len().saturating_sub(1)
                )
            })?;
            PrivateKeySigner::from_bytes(&account.private_key)
                .context("devnet key in devnet.json")?
        } else {
            bail!(
                "no account: pass --private-key (or REEL_PRIVATE_KEY), or --keystore with --password-file"
            );
        };
        if let Some(from) = self.from
            && signer.address() != from
        {
            bail!(
                "the key given is for {}, not --from {from}",
                signer.address()
            );
        }
        Ok(signer)
    }
}

/// Connects to the protocol as `account`. A read-only command goes on without a signer
/// when no key is given; any other command needs one.
pub(crate) async fn connect(
    chain: &ChainArgs,
    account: &AccountArgs,
    read_only: bool,
) -> anyhow::Result<Protocol> {
    let (config, devnet) = chain.resolve().await?;
    let sender = match account.sender(&config, devnet.as_ref()) {
        Ok(s) => Some(s),
        Err(_) if read_only => None,
        Err(e) => return Err(e),
    };
    Protocol::with_sender(&config, sender)
        .await
        .context("connecting to the protocol")
}

/// The one line every sent transaction prints.
pub(crate) fn print_done(out: &TxOutcome) {
    println!(
        "{}: done (tx {}, block {}, gas {})",
        out.action, out.tx, out.block, out.gas_used
    );
}
