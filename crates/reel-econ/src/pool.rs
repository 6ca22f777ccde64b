//! The transcoder pool: contracts/src/libraries/SortedDoublyLL.sol as an ordered set.
//!
//! The contract keeps a linked list sorted by stake, largest first, and the BondingManager
//! always inserts without hints (our model has none), so a new position is found by walking
//! down from the head and stopping before the first node whose key is `<=` the new key: a
//! node goes *ahead of* the nodes of equal stake. `updateKey` either rewrites the key in
//! place (only when the node still sorts strictly between its neighbours, so no other node
//! has that key) or removes and re-inserts the node, which again puts it ahead of its
//! equals. Hence the rule this set implements: every insert or key update stamps the node
//! with a fresh sequence number, and among equal stakes the newest stamp comes first. That
//! yields the contract's order exactly, ties included, in O(log n) per operation.

use reel_types::{Address, U256};
use std::{
    cmp::Reverse,
    collections::{BTreeSet, HashMap},
};

type Slot = (Reverse<U256>, Reverse<u64>, Address);

#[derive(Debug, Clone, Default)]
pub(crate) struct Pool {
    order: BTreeSet<Slot>,
    keys: HashMap<Address, (U256, u64)>,
    max_size: usize,
    seq: u64,
}

impl Pool {
    pub(crate) fn new(max_size: usize) -> Self {
        Self {
            max_size,
            ..Self::default()
        }
    }

    pub(crate) fn contains(&self, id: Address) -> bool {
        self.keys.contains_key(&id)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.keys.len() == self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// The tail: the smallest stake, the oldest stamp among equals; the zero address when
    /// empty (as `getLast` of an empty list).
    pub(crate) fn last(&self) -> Address {
        self.order.last().map_or(Address::ZERO, |s| s.2)
    }

    /// Inserts a node that is not in the pool, ahead of equal keys. The caller checks the
    /// contract's preconditions (not full, not contained, key > 0).
    pub(crate) fn insert(&mut self, id: Address, key: U256) {
        self.seq = self.seq.wrapping_add(1);
        self.order.insert((Reverse(key), Reverse(self.seq), id));
        self.keys.insert(id, (key, self.seq));
    }

    pub(crate) fn remove(&mut self, id: Address) {
        if let Some((key, seq)) = self.keys.remove(&id) {
            self.order.remove(&(Reverse(key), Reverse(seq), id));
        }
    }

    /// `updateKey` without hints: a zero key removes the node.
    pub(crate) fn update_key(&mut self, id: Address, key: U256) {
        self.remove(id);
        if !key.is_zero() {
            self.insert(id, key);
        }
    }

    /// Members in list order, head first.
    pub(crate) fn members(&self) -> impl Iterator<Item = (Address, U256)> + '_ {
        self.order.iter().map(|s| (s.2, s.0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(i: u8) -> Address {
        Address::with_last_byte(i)
    }

    #[test]
    fn equal_keys_put_the_newest_first_and_evict_the_oldest() {
        let mut p = Pool::new(3);
        p.insert(a(1), U256::from(10u64));
        p.insert(a(2), U256::from(10u64));
        p.insert(a(3), U256::from(20u64));
        let order: Vec<_> = p.members().map(|m| m.0).collect();
        assert_eq!(order, vec![a(3), a(2), a(1)]);
        assert_eq!(p.last(), a(1));
        // A key update (even to the same key) moves the node ahead of its equals.
        p.update_key(a(1), U256::from(10u64));
        assert_eq!(p.last(), a(2));
        p.update_key(a(2), U256::ZERO);
        assert!(!p.contains(a(2)));
        assert_eq!(p.len(), 2);
        assert!(!p.is_full());
    }
}
