//! The nonce bookkeeping behind [`super::TxSender::reserve`]: which nonces are handed out,
//! given back, or held.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Why a nonce is not free: a live send or reservation owns it, or a prepared transaction
/// waits to be broadcast (until the deadline, then it counts as abandoned).
#[derive(Debug, Clone, Copy)]
pub(super) enum Hold {
    Live,
    Until(Instant),
}

#[derive(Debug, Default)]
pub(super) struct Nonces {
    /// The next nonce never handed out; `None` until the first reservation reads the node.
    pub(super) next: Option<u64>,
    /// Handed out and given back (or found lost): handed out again first.
    pub(super) returned: BTreeSet<u64>,
    pub(super) held: BTreeMap<u64, Hold>,
}

impl Nonces {
    pub(super) fn is_held(&self, nonce: u64, now: Instant) -> bool {
        match self.held.get(&nonce) {
            Some(Hold::Live) => true,
            Some(Hold::Until(t)) => *t > now,
            None => false,
        }
    }
}
