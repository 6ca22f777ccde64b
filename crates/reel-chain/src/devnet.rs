//! A local protocol network on anvil: start (or resume) the chain, deploy the protocol, fund
//! accounts, and describe it all in `devnet.json`.
//!
//! Files in the data directory:
//! - `devnet.json` — [`DevnetFile`]: RPC URL, chain id, contract addresses, funded accounts
//!   with their private keys. Its presence marks a devnet that can be resumed.
//! - `anvil-state.json` — anvil's dump of the chain, loaded on the next start.
//! - `anvil.log` — anvil's output.

use crate::{Anvil, AnvilConfig, ChainError, connect, connect_with_signer};
use alloy::{
    primitives::{Address, B256, keccak256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use reel_contracts::{DeployParams, Deployment, ProtocolParams, deploy};
use reel_types::{Lpt, Wei};
use serde::{Deserialize, Serialize};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};
use tracing::{info, warn};

pub const DEVNET_FILE: &str = "devnet.json";
pub const STATE_FILE: &str = "anvil-state.json";
pub const LOG_FILE: &str = "anvil.log";

/// Options for [`Devnet::start`].
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    pub data_dir: PathBuf,
    /// The address the JSON-RPC server listens on: 127.0.0.1, unless the devnet runs on a
    /// host of its own that other hosts reach by its address (the kit's namespaces).
    pub host: std::net::IpAddr,
    /// JSON-RPC port; `None` picks a free one.
    pub port: Option<u16>,
    pub chain_id: u64,
    /// Funded accounts, the first of which deploys and owns the protocol.
    pub accounts: usize,
    /// Seconds between blocks; 0 mines a block per transaction.
    pub block_time: u64,
    /// Forget any previous devnet in `data_dir`.
    pub reset: bool,
    pub eth_per_account: Wei,
    pub lpt_per_account: Lpt,
    /// Protocol parameters of a fresh devnet.
    pub protocol: ProtocolParams,
}

impl DevnetOptions {
    /// Parameters that suit a chain on one machine: short rounds, unbonding and votes.
    pub fn devnet_protocol() -> ProtocolParams {
        ProtocolParams {
            round_length: 20,
            unbonding_period: 2,
            // A proposal cycle takes votingDelay + votingPeriod rounds: keep it minutes.
            voting_period: 5,
            ..ProtocolParams::default()
        }
    }

    /// The same options with rounds of `blocks` blocks (a test that must stay in one round
    /// while its transactions mine).
    pub fn with_round_length(mut self, blocks: u64) -> Self {
        self.protocol.round_length = blocks;
        self
    }

    /// A throwaway devnet for tests and scripts: a free port, a block per transaction (the
    /// caller mines to move rounds), `accounts` accounts with 100 ETH and 10,000 LPT each.
    pub fn ephemeral(data_dir: &Path, accounts: usize) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            host: std::net::Ipv4Addr::LOCALHOST.into(),
            port: None,
            chain_id: crate::anvil::DEFAULT_CHAIN_ID,
            accounts,
            block_time: 0,
            reset: false,
            eth_per_account: Wei::from_whole(100),
            lpt_per_account: Lpt::from_whole(10_000),
            protocol: Self::devnet_protocol(),
        }
    }
}

/// One funded devnet account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevnetAccount {
    pub address: Address,
    /// Hex private key. A devnet key, derived from a public seed: never use it elsewhere.
    pub private_key: B256,
}

/// The contents of `devnet.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevnetFile {
    pub rpc_url: String,
    pub chain_id: u64,
    pub block_time: u64,
    pub contracts: Deployment,
    pub accounts: Vec<DevnetAccount>,
    pub eth_per_account: Wei,
    pub lpt_per_account: Lpt,
    pub protocol: ProtocolParams,
}

/// Why a devnet could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    #[error(transparent)]
    Chain(#[from] Box<ChainError>),
    #[error("{path} is unreadable ({reason}); pass --reset to start a fresh devnet")]
    CorruptFile { path: PathBuf, reason: String },
    #[error(
        "{path} describes a devnet but its chain state {state} is missing; \
         pass --reset to start a fresh devnet"
    )]
    MissingState { path: PathBuf, state: PathBuf },
    #[error(
        "the chain state in {state} has no Controller at {controller}: it does not belong to \
         {path}; pass --reset to start a fresh devnet"
    )]
    StateMismatch {
        path: PathBuf,
        state: PathBuf,
        controller: Address,
    },
    #[error(transparent)]
    Deploy(#[from] Box<reel_contracts::DeployError>),
    #[error("{what} in {dir}: {source}; pass another --data-dir")]
    DataDir {
        what: &'static str,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON-RPC {method} failed: {source}")]
    Rpc {
        method: &'static str,
        #[source]
        source: Box<alloy::transports::TransportError>,
    },
    #[error("--accounts must be at least 1 (the first account deploys the protocol)")]
    NoAccounts,
}

impl From<ChainError> for DevnetError {
    fn from(e: ChainError) -> Self {
        Self::Chain(Box::new(e))
    }
}

impl From<reel_contracts::DeployError> for DevnetError {
    fn from(e: reel_contracts::DeployError) -> Self {
        Self::Deploy(Box::new(e))
    }
}

/// A running devnet. Stop it with [`Devnet::shutdown`] so the chain state is saved.
#[derive(Debug)]
pub struct Devnet {
    anvil: Anvil,
    file: DevnetFile,
    data_dir: PathBuf,
    resumed: bool,
}

/// The deterministic key of devnet account `i`. Public by construction, like anvil's own.
pub fn devnet_key(i: usize) -> Result<PrivateKeySigner, ChainError> {
    let seed = keccak256(format!("reel devnet account {i}"));
    PrivateKeySigner::from_bytes(&seed).map_err(|e| ChainError::Io {
        what: format!("deriving devnet key {i}"),
        source: std::io::Error::other(e.to_string()),
    })
}

impl DevnetFile {
    /// Reads and validates `devnet.json`.
    pub fn load(path: &Path) -> Result<Self, DevnetError> {
        let corrupt = |reason: String| DevnetError::CorruptFile {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| corrupt(e.to_string()))?;
        let file: DevnetFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.accounts.is_empty() {
            return Err(corrupt("it lists no accounts".into()));
        }
        Ok(file)
    }

    /// Writes the file atomically (temporary file, then rename), so a crash never leaves
    /// half a file behind.
    pub fn save(&self, path: &Path) -> Result<(), DevnetError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let io = |what, source| DevnetError::DataDir {
            what,
            dir: dir.to_owned(),
            source,
        };
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| io("serialising devnet.json", std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text + "\n").map_err(|e| io("writing devnet.json", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("renaming devnet.json", e))
    }

    /// The account that deployed and owns the protocol.
    pub fn deployer(&self) -> Option<&DevnetAccount> {
        self.accounts.first()
    }
}

impl Devnet {
    /// Starts anvil in `options.data_dir`, resuming the devnet there unless `reset`; on a
    /// fresh chain deploys the protocol and funds the accounts.
    pub async fn start(options: DevnetOptions) -> Result<Self, DevnetError> {
        if options.accounts == 0 {
            return Err(DevnetError::NoAccounts);
        }
        let dir = &options.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| DevnetError::DataDir {
            what: "creating the data directory",
            dir: dir.clone(),
            source,
        })?;
        let file_path = dir.join(DEVNET_FILE);
        let state_path = dir.join(STATE_FILE);
        if options.reset {
            for p in [&file_path, &state_path] {
                match std::fs::remove_file(p) {
                    Ok(()) => {
                        info!(target: "chain::devnet", path = %p.display(), "removed (--reset)")
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(DevnetError::DataDir {
                            what: "removing old state",
                            dir: dir.clone(),
                            source,
                        });
                    }
                }
            }
        }

        let previous = if file_path.exists() {
            let file = DevnetFile::load(&file_path)?;
            if !state_path.exists() {
                return Err(DevnetError::MissingState {
                    path: file_path,
                    state: state_path,
                });
            }
            Some(file)
        } else {
            if state_path.exists() {
                warn!(target: "chain::devnet", "chain state without devnet.json: starting fresh");
                let _ = std::fs::remove_file(&state_path);
            }
            None
        };

        let chain_id = previous.as_ref().map_or(options.chain_id, |p| p.chain_id);
        let anvil = Anvil::spawn(AnvilConfig {
            host: options.host,
            port: options.port,
            chain_id,
            state_file: Some(state_path.clone()),
            state_interval: Some(Duration::from_secs(5)),
            log_file: Some(dir.join(LOG_FILE)),
            ..AnvilConfig::default()
        })
        .await?;
        let rpc_url = anvil.endpoint();

        let (file, resumed) = match previous {
            Some(mut file) => {
                let code = connect(&rpc_url)?
                    .get_code_at(file.contracts.controller)
                    .await
                    .map_err(|source| DevnetError::Rpc {
                        method: "eth_getCode",
                        source: Box::new(source),
                    })?;
                if code.is_empty() {
                    return Err(DevnetError::StateMismatch {
                        path: file_path,
                        state: state_path,
                        controller: file.contracts.controller,
                    });
                }
                if options.accounts != file.accounts.len() {
                    warn!(
                        target: "chain::devnet",
                        "resuming with the {} accounts in devnet.json; pass --reset to change --accounts",
                        file.accounts.len()
                    );
                }
                file.rpc_url = rpc_url.clone();
                file.block_time = options.block_time;
                (file, true)
            }
            None => (fresh(&rpc_url, chain_id, &options).await?, false),
        };

        if options.block_time > 0 {
            // Mining per transaction during the deploy keeps it fast; blocks on a timer from
            // here on make rounds advance even when nobody sends transactions.
            connect(&rpc_url)?
                .raw_request::<_, ()>("evm_setIntervalMining".into(), (options.block_time,))
                .await
                .map_err(|source| DevnetError::Rpc {
                    method: "evm_setIntervalMining",
                    source: Box::new(source),
                })?;
        }
        file.save(&file_path)?;
        Ok(Self {
            anvil,
            file,
            data_dir: options.data_dir,
            resumed,
        })
    }

    pub fn file(&self) -> &DevnetFile {
        &self.file
    }

    pub fn rpc_url(&self) -> &str {
        &self.file.rpc_url
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn file_path(&self) -> PathBuf {
        self.data_dir.join(DEVNET_FILE)
    }

    /// Whether this start resumed an earlier devnet rather than deploying a new one.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    pub fn anvil(&self) -> &Anvil {
        &self.anvil
    }

    /// The chain as a node would be configured for it.
    pub fn chain_config(&self) -> crate::ChainConfig {
        crate::ChainConfig {
            rpc_url: self.file.rpc_url.clone(),
            chain_id: self.file.chain_id,
            controller: self.file.contracts.controller,
        }
    }

    /// Mines blocks up to the first block of the next round (not initialising it) and
    /// returns that round. For tests and demos on a devnet without a block timer.
    pub async fn mine_to_next_round(&self) -> Result<u64, DevnetError> {
        let protocol = crate::Protocol::connect(&self.chain_config(), None).await?;
        let s = protocol.round_status().await?;
        let blocks = s
            .start_block
            .saturating_add(s.length)
            .saturating_sub(s.block);
        connect(&self.file.rpc_url)?
            .raw_request::<_, ()>("anvil_mine".into(), (blocks,))
            .await
            .map_err(|source| DevnetError::Rpc {
                method: "anvil_mine",
                source: Box::new(source),
            })?;
        Ok(protocol.round_status().await?.round.0)
    }

    /// Waits until anvil exits by itself (it crashed or was killed).
    pub async fn wait_anvil_exit(&mut self) -> String {
        self.anvil.wait_exit().await
    }

    /// Kills anvil at once: the next start resumes from the state it last dumped (every
    /// few seconds), losing the blocks since, as a crashed chain host would.
    pub async fn kill(self) -> Result<(), DevnetError> {
        Ok(self.anvil.kill().await?)
    }

    /// Stops anvil gracefully so that the chain state is written for the next start.
    pub async fn shutdown(self) -> Result<(), DevnetError> {
        Ok(self.anvil.shutdown(Duration::from_secs(10)).await?)
    }
}

/// Deploys the protocol on a fresh chain and funds the accounts.
async fn fresh(
    rpc_url: &str,
    chain_id: u64,
    options: &DevnetOptions,
) -> Result<DevnetFile, DevnetError> {
    let signers = (0..options.accounts)
        .map(devnet_key)
        .collect::<Result<Vec<_>, _>>()?;
    let rpc = connect(rpc_url)?;
    for s in &signers {
        rpc.raw_request::<_, ()>(
            "anvil_setBalance".into(),
            (s.address(), options.eth_per_account.base_units()),
        )
        .await
        .map_err(|source| DevnetError::Rpc {
            method: "anvil_setBalance",
            source: Box::new(source),
        })?;
    }
    let deployer = signers.first().cloned().ok_or(DevnetError::NoAccounts)?;
    let provider = connect_with_signer(rpc_url, deployer)?;
    let params = DeployParams {
        protocol: options.protocol.clone(),
        lpt_allocations: signers
            .iter()
            .map(|s| (s.address(), options.lpt_per_account))
            .collect(),
    };
    let contracts = deploy(&provider, &params).await?;
    // Start in round 1, initialised: round 0 is the deployment's, in which nobody can be
    // active yet. Later rounds are the keepers' job.
    rpc.raw_request::<_, ()>("anvil_mine".into(), (options.protocol.round_length,))
        .await
        .map_err(|source| DevnetError::Rpc {
            method: "anvil_mine",
            source: Box::new(source),
        })?;
    let rounds = reel_contracts::livepeer::IRoundsManager::new(contracts.rounds_manager, &provider);
    crate::protocol::send("initialize round 1", rounds.initializeRound()).await?;
    Ok(DevnetFile {
        rpc_url: rpc_url.to_owned(),
        chain_id,
        block_time: options.block_time,
        contracts,
        accounts: signers
            .iter()
            .map(|s| DevnetAccount {
                address: s.address(),
                private_key: B256::from(s.to_bytes()),
            })
            .collect(),
        eth_per_account: options.eth_per_account,
        lpt_per_account: options.lpt_per_account,
        protocol: options.protocol.clone(),
    })
}
