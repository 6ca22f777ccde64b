//! Where each role of a network runs. By default every role runs on the caller's async
//! runtime, all on one host. A [`Placement`] gives roles runtimes of their own, so that a
//! test can put them on separate hosts (the test kit's network namespaces, whose
//! runtimes' threads open sockets on their host) and the same scenario runs on loopback or
//! across hosts.

use std::fmt::Debug;

use tokio::runtime::Handle;

/// A role of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The chain (anvil) and the account that moves it.
    Chain,
    /// The orchestrator at this index.
    Orchestrator(usize),
    /// Remote transcoder `k` of orchestrator `n`: `Transcoder(n, k)`.
    Transcoder(usize, usize),
    /// The delegator at this index.
    Delegator(usize),
    /// The gateway.
    Gateway,
}

/// Gives each role the runtime it runs on.
pub trait Placement: Debug + Send + Sync {
    /// The runtime `role` runs on; `None` runs it on the caller's.
    fn runtime(&self, role: Role) -> Option<Handle>;
}
