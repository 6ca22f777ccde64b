//! What can go wrong starting a local network.

use reel_chain::{ChainError, DevnetError};
use reel_node::NodeError;

/// Starting a local network failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalNetError {
    /// The devnet did not start.
    #[error("devnet: {0}")]
    Devnet(#[from] DevnetError),
    /// A chain call failed.
    #[error("{what}: {source}")]
    Chain {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: ChainError,
    },
    /// An anvil-only JSON-RPC call failed.
    #[error("{method}: {source}")]
    Rpc {
        /// The method called.
        method: &'static str,
        /// The error.
        #[source]
        source: alloy::transports::TransportError,
    },
    /// A node did not start or register.
    #[error("{what}: {source}")]
    Node {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: NodeError,
    },
    /// The devnet has too few accounts for the roles asked for.
    #[error("{roles} roles need {needed} devnet accounts, the devnet has {have}")]
    Accounts {
        /// Orchestrators, delegators and the gateway, plus the account that moves the chain.
        roles: usize,
        /// Accounts needed.
        needed: usize,
        /// Accounts the devnet options give.
        have: usize,
    },
    /// A delegator names an orchestrator the network does not have.
    #[error("delegator {delegator} bonds to orchestrator {to}, the network has {have}")]
    NoSuchOrchestrator {
        /// The delegator's index in the `NetworkSpec`.
        delegator: usize,
        /// The orchestrator index it names.
        to: usize,
        /// Orchestrators in the `NetworkSpec`.
        have: usize,
    },
    /// The runtime a role was placed on stopped before the role's work finished.
    #[error("the runtime of {0:?} stopped")]
    Placement(crate::role::Role),
    /// A devnet key is not a valid secp256k1 key.
    #[error("devnet account {0}: not a valid key")]
    Key(usize),
}

pub(crate) fn chain(what: impl Into<String>) -> impl FnOnce(ChainError) -> LocalNetError {
    let what = what.into();
    move |source| LocalNetError::Chain { what, source }
}

pub(crate) fn node(what: impl Into<String>) -> impl FnOnce(NodeError) -> LocalNetError {
    let what = what.into();
    move |source| LocalNetError::Node { what, source }
}
