//! The per-ticket checks once a payment's params are known good, and the replay filter
//! they fill: the validation hot path.

use crate::{PmError, Ticket, ticket};
use alloy_primitives::{B256, U256};
use reel_net::Signature;
use std::collections::{HashMap, HashSet};

/// Seen nonces per `recipientRandHash`, each set dropped when its params expire.
#[derive(Debug, Default)]
pub struct NonceFilter {
    sets: HashMap<B256, (u64, HashSet<u32>)>,
    max_per_rand: usize,
}

impl NonceFilter {
    pub fn new(max_per_rand: usize) -> Self {
        Self {
            sets: HashMap::new(),
            max_per_rand,
        }
    }

    /// Marks `nonce` seen; refuses a duplicate or one past the cap.
    pub fn insert(
        &mut self,
        rand_hash: B256,
        nonce: u32,
        expiration_block: u64,
    ) -> Result<(), PmError> {
        let max = self.max_per_rand;
        let (_, set) = self
            .sets
            .entry(rand_hash)
            .or_insert_with(|| (expiration_block, HashSet::new()));
        if set.contains(&nonce) {
            return Err(PmError::NonceReplay { nonce });
        }
        if set.len() >= max {
            return Err(PmError::TooManyNonces { max });
        }
        set.insert(nonce);
        Ok(())
    }

    /// Undoes `insert` (when the store commit failed).
    pub fn remove(&mut self, rand_hash: &B256, nonce: u32) {
        if let Some((_, set)) = self.sets.get_mut(rand_hash) {
            set.remove(&nonce);
        }
    }

    /// Drops sets whose params expired at or before `last_block`.
    pub fn prune(&mut self, last_block: u64) {
        self.sets.retain(|_, (exp, _)| *exp > last_block);
    }

    pub fn len(&self) -> usize {
        self.sets.values().map(|(_, s)| s.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The per-ticket checks after the params are known good: signature, win test, nonce.
/// Returns whether the ticket wins. This is the validation hot path (see the benches).
pub fn validate_ticket(
    ticket: &Ticket,
    sig: &[u8],
    recipient_rand: U256,
    expiration_block: u64,
    nonces: &mut NonceFilter,
) -> Result<(Signature, bool), PmError> {
    let sig = Signature::from_slice(sig).map_err(|e| PmError::InvalidSignature { reason: e })?;
    let signer = ticket.recover_signer(&sig)?;
    if signer != ticket.sender {
        return Err(PmError::WrongSigner {
            expected: ticket.sender,
            got: signer,
        });
    }
    let won = ticket::wins(&sig, recipient_rand, ticket.win_prob);
    nonces.insert(
        ticket.recipient_rand_hash,
        ticket.sender_nonce,
        expiration_block,
    )?;
    Ok((sig, won))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn nonce_filter() {
        let mut f = NonceFilter::new(3);
        let h = B256::repeat_byte(1);
        f.insert(h, 5, 10).unwrap();
        f.insert(h, 3, 10).unwrap();
        f.insert(h, 4, 10).unwrap();
        assert_eq!(f.insert(h, 3, 10), Err(PmError::NonceReplay { nonce: 3 }));
        assert_eq!(f.insert(h, 6, 10), Err(PmError::TooManyNonces { max: 3 }));
        f.remove(&h, 4);
        f.insert(h, 6, 10).unwrap();
        f.prune(9);
        assert_eq!(f.len(), 3);
        f.prune(10);
        assert!(f.is_empty());
    }
}
