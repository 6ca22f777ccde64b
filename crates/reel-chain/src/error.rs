use std::{net::SocketAddr, path::PathBuf};

/// Errors of the chain client. Each says what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error(
        "anvil not found (looked in {searched}): run `./x setup` in the reel checkout \
         (it installs anvil with `npm ci`) or set REEL_ANVIL to the anvil binary"
    )]
    AnvilNotFound { searched: String },
    #[error("port {port} is in use: pass a different {flag} (or stop what is using it)")]
    PortInUse { port: u16, flag: &'static str },
    #[error("could not start anvil ({binary}): {source}")]
    AnvilSpawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("anvil exited before it was ready ({status}); its last output:\n{log_tail}")]
    AnvilExited { status: String, log_tail: String },
    #[error("anvil did not answer on {addr} within {secs} s; its log is {log}")]
    AnvilTimeout {
        addr: SocketAddr,
        secs: u64,
        log: PathBuf,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid RPC URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("JSON-RPC call {method} to {url} failed: {source}")]
    Rpc {
        method: &'static str,
        url: String,
        #[source]
        source: Box<alloy::transports::TransportError>,
    },
    #[error("chain at {url} has chain id {actual}, but the config says {expected}")]
    WrongChain {
        url: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "no contract at the Controller address {address} on {url}: wrong address or wrong chain"
    )]
    NoController {
        address: alloy::primitives::Address,
        url: String,
    },
    #[error("`{name}` is not registered in the Controller at {controller}")]
    NotRegistered {
        name: &'static str,
        controller: alloy::primitives::Address,
    },
    #[error("reading `{name}`: {}", reel_contracts::revert::describe(.source))]
    Contract {
        name: &'static str,
        #[source]
        source: Box<alloy::contract::Error>,
    },
    #[error("this needs an account to sign with: pass --private-key, --keystore or --account")]
    NoSigner,
    #[error("the account holds {have}, not the {need} asked for")]
    InsufficientLpt {
        have: reel_types::Lpt,
        need: reel_types::Lpt,
    },
    // Deliberately not a source (thiserror takes any field named `source` as one): the
    // message already carries the revert reason or, failing that, the whole error, and
    // error chains would print the raw JSON-RPC payload again.
    #[error("{action} failed: {}", reel_contracts::revert::describe(.error))]
    Tx {
        action: String,
        error: Box<alloy::contract::Error>,
    },
    #[error("the account holds {have}, not the {need} needed")]
    InsufficientEth {
        have: reel_types::Wei,
        need: reel_types::Wei,
    },
    #[error("invalid amount: {0}")]
    Amount(&'static str),
    #[error("{action}: the transaction did not emit {event}")]
    MissingEvent {
        action: &'static str,
        event: &'static str,
    },
    #[error("no proposal {id} on this governor: see `reel gov list`")]
    UnknownProposal { id: alloy::primitives::U256 },
    #[error(
        "{action}: nonce {nonce} of {from} was used by another sender ({detail}); re-synced \
         from the chain's pending nonce"
    )]
    NonceTaken {
        action: String,
        from: alloy::primitives::Address,
        nonce: u64,
        detail: String,
    },
    #[error(
        "{action}: no receipt after {secs} s for nonce {nonce} (transactions {}); it may still \
         be mined: look at the account's pending transactions, or raise --max-gas-price",
        .txs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    ReceiptTimeout {
        action: String,
        nonce: u64,
        txs: Vec<alloy::primitives::B256>,
        secs: u64,
    },
    #[error("signing a transaction: {0}")]
    Sign(String),
    #[error("internal state ({0}) was poisoned by a panic")]
    Poisoned(&'static str),
    #[error("{action}: transaction {tx} reverted")]
    Reverted {
        action: String,
        tx: alloy::primitives::B256,
    },
}

impl ChainError {
    pub(crate) fn call(name: &'static str, source: alloy::contract::Error) -> Self {
        Self::Contract {
            name,
            source: Box::new(source),
        }
    }

    pub(crate) fn rpc(
        method: &'static str,
        url: &str,
        source: alloy::transports::TransportError,
    ) -> Self {
        Self::Rpc {
            method,
            url: url.to_owned(),
            source: Box::new(source),
        }
    }

    pub(crate) fn tx(action: &str, source: alloy::contract::Error) -> Self {
        Self::Tx {
            action: action.to_owned(),
            error: Box::new(source),
        }
    }

    /// The contract's revert reason, when this is a reverted call.
    pub fn revert_reason(&self) -> Option<String> {
        match self {
            Self::Tx { error: source, .. } | Self::Contract { source, .. } => {
                reel_contracts::revert::reason(source)
            }
            _ => None,
        }
    }

    /// Whether trying again later may succeed (the node is down or slow), as opposed to a
    /// configuration mistake that needs a person.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Rpc { .. }
                | Self::AnvilTimeout { .. }
                | Self::NonceTaken { .. }
                | Self::ReceiptTimeout { .. }
        )
    }
}
