//! Where each role of a network runs. By default every role runs on the caller's async
//! runtime, all on one host. A [`Placement`] gives roles runtimes of their own, so that a
//! test can put them on separate hosts (the test kit's network namespaces, whose
//! runtimes' threads open sockets on their host) and the same scenario runs on loopback or
//! across hosts.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::LocalNetError;

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

/// Runs `fut` where `placement` puts `role`, and waits for it.
pub(crate) async fn on<F>(
    placement: Option<&Arc<dyn Placement>>,
    role: Role,
    fut: F,
) -> Result<F::Output, LocalNetError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match placement.and_then(|p| p.runtime(role)) {
        None => Ok(fut.await),
        Some(h) => match h.spawn(fut).await {
            Ok(v) => Ok(v),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(LocalNetError::Placement(role)),
        },
    }
}
