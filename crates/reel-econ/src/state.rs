//! The records the BondingManager keeps per account (delegators, transcoders, their
//! unbonding locks and per-round earnings pools), and the accessors every operation
//! reads them through.

use crate::{EconError, Protocol};
use reel_types::{Address, U256};
use std::collections::BTreeMap;

/// `type(uint48).max`: a transcoder that was never deactivated.
pub(crate) const NEVER: u64 = (1u64 << 48) - 1;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UnbondingLock {
    pub(crate) amount: U256,
    pub(crate) withdraw_round: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Delegator {
    pub(crate) bonded_amount: U256,
    pub(crate) fees: U256,
    pub(crate) delegate_address: Address,
    pub(crate) start_round: u64,
    pub(crate) last_claim_round: u64,
    pub(crate) delegated_amount: U256,
    pub(crate) next_unbonding_lock_id: u64,
    pub(crate) unbonding_locks: BTreeMap<u64, UnbondingLock>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EarningsPool {
    pub(crate) total_stake: U256,
    pub(crate) transcoder_reward_cut: u32,
    pub(crate) transcoder_fee_share: u32,
    pub(crate) cumulative_reward_factor: U256,
    pub(crate) cumulative_fee_factor: U256,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Transcoder {
    pub(crate) last_reward_round: u64,
    pub(crate) last_active_stake_update_round: u64,
    pub(crate) activation_round: u64,
    pub(crate) deactivation_round: u64,
    pub(crate) reward_cut: u32,
    pub(crate) fee_share: u32,
    pub(crate) last_fee_round: u64,
    pub(crate) active_cumulative_rewards: U256,
    pub(crate) cumulative_rewards: U256,
    pub(crate) cumulative_fees: U256,
    pub(crate) earnings_pool_per_round: BTreeMap<u64, EarningsPool>,
}

static EMPTY_DELEGATOR: Delegator = Delegator {
    bonded_amount: U256::ZERO,
    fees: U256::ZERO,
    delegate_address: Address::ZERO,
    start_round: 0,
    last_claim_round: 0,
    delegated_amount: U256::ZERO,
    next_unbonding_lock_id: 0,
    unbonding_locks: BTreeMap::new(),
};

static EMPTY_TRANSCODER: Transcoder = Transcoder {
    last_reward_round: 0,
    last_active_stake_update_round: 0,
    activation_round: 0,
    deactivation_round: 0,
    reward_cut: 0,
    fee_share: 0,
    last_fee_round: 0,
    active_cumulative_rewards: U256::ZERO,
    cumulative_rewards: U256::ZERO,
    cumulative_fees: U256::ZERO,
    earnings_pool_per_round: BTreeMap::new(),
};

impl Transcoder {
    pub(crate) fn pool(&self, round: u64) -> EarningsPool {
        self.earnings_pool_per_round
            .get(&round)
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn pool_mut(&mut self, round: u64) -> &mut EarningsPool {
        self.earnings_pool_per_round.entry(round).or_default()
    }

    pub(crate) fn is_active(&self, round: u64) -> bool {
        self.activation_round <= round && round < self.deactivation_round
    }

    /// `_latestCumulativeFactors`.
    pub(crate) fn latest_cumulative_factors(&self, round: u64) -> (U256, U256) {
        let pool = self.pool(round);
        let mut crf = pool.cumulative_reward_factor;
        let mut cff = pool.cumulative_fee_factor;
        if crf.is_zero() && self.last_reward_round < round {
            crf = self.pool(self.last_reward_round).cumulative_reward_factor;
        }
        if cff.is_zero() && self.last_fee_round < round {
            cff = self.pool(self.last_fee_round).cumulative_fee_factor;
        }
        (crf, cff)
    }

    /// `_ensureInitializedCumulativeFactorsPool`.
    pub(crate) fn ensure_initialized_cumulative_factors_pool(&mut self, round: u64) {
        let pool = self.pool(round);
        if pool.cumulative_reward_factor.is_zero() && self.last_reward_round < round {
            let crf = self.pool(self.last_reward_round).cumulative_reward_factor;
            if !crf.is_zero() {
                self.pool_mut(round).cumulative_reward_factor = crf;
            }
        }
        if pool.cumulative_fee_factor.is_zero() && self.last_fee_round < round {
            let cff = self.pool(self.last_fee_round).cumulative_fee_factor;
            if !cff.is_zero() {
                self.pool_mut(round).cumulative_fee_factor = cff;
            }
        }
    }

    /// `_recordNextRoundStake`.
    pub(crate) fn record_next_round_stake(&mut self, curr: U256, new: U256, round: u64) {
        if self.last_active_stake_update_round < round {
            self.pool_mut(round).total_stake = curr;
        }
        let next = round.saturating_add(1);
        self.pool_mut(next).total_stake = new;
        self.last_active_stake_update_round = next;
    }
}

impl Protocol {
    // ------------------------------------------------------------------ accessors

    pub(crate) fn del(&self, who: Address) -> &Delegator {
        self.delegators.get(&who).unwrap_or(&EMPTY_DELEGATOR)
    }

    pub(crate) fn del_mut(&mut self, who: Address) -> &mut Delegator {
        self.delegators.entry(who).or_default()
    }

    pub(crate) fn tr(&self, who: Address) -> &Transcoder {
        self.transcoders.get(&who).unwrap_or(&EMPTY_TRANSCODER)
    }

    pub(crate) fn tr_mut(&mut self, who: Address) -> &mut Transcoder {
        self.transcoders.entry(who).or_default()
    }

    pub(crate) fn initialized_round(&self) -> Result<u64, EconError> {
        if self.round_initialized {
            Ok(self.round)
        } else {
            Err(EconError::RoundNotInitialized)
        }
    }

    pub(crate) fn is_registered(&self, who: Address) -> bool {
        let d = self.del(who);
        d.delegate_address == who && !d.bonded_amount.is_zero()
    }
}
