//! Transcoder registration and the pool / active-set bookkeeping: joining and leaving the
//! pool, and the total stake of each transcoder and of the next round's active set.

use crate::math::{PERC_DIVISOR, add, sub};
use crate::state::NEVER;
use crate::{EconError, Protocol};
use reel_types::{Address, Ppm, U256};

impl Protocol {
    // ------------------------------------------------------------------ transcoders

    /// BondingManager.transcoder: sets `who`'s reward cut and fee share and, if it is not
    /// in the pool, tries to join it for the next round.
    pub fn transcoder(
        &mut self,
        who: Address,
        reward_cut: Ppm,
        fee_share: Ppm,
    ) -> Result<(), EconError> {
        let round = self.initialized_round()?;
        let (rc, fs) = (reward_cut.millionths(), fee_share.millionths());
        if u64::from(rc) > PERC_DIVISOR {
            return Err(EconError::InvalidRewardCut);
        }
        if u64::from(fs) > PERC_DIVISOR {
            return Err(EconError::InvalidFeeShare);
        }
        if !self.is_registered(who) {
            return Err(EconError::NotRegistered);
        }
        let t = self.tr(who);
        if t.is_active(round) && t.last_reward_round != round {
            return Err(EconError::ActiveBeforeReward);
        }
        // The join can only fail on its own checks before it changes anything.
        if !self.pool.contains(who) {
            let stake = self.del(who).delegated_amount;
            self.check_join(stake)?;
            let t = self.tr_mut(who);
            t.reward_cut = rc;
            t.fee_share = fs;
            self.try_to_join_active_set(who, stake, round.saturating_add(1))?;
        } else {
            let t = self.tr_mut(who);
            t.reward_cut = rc;
            t.fee_share = fs;
        }
        Ok(())
    }

    /// The reverts `_tryToJoinActiveSet` can hit, checked before anything changes.
    fn check_join(&self, total_stake: U256) -> Result<(), EconError> {
        if self.pool.is_full() {
            let last = self.pool.last();
            if total_stake <= self.del(last).delegated_amount {
                return Ok(()); // does not join; no revert
            }
            // Full and empty: a pool of size 0, whose "last" is the zero address.
            if !self.pool.contains(last) {
                return Err(EconError::Pool("node not in list"));
            }
        }
        if total_stake.is_zero() {
            return Err(EconError::Pool("key is zero"));
        }
        Ok(())
    }

    /// `_tryToJoinActiveSet`.
    fn try_to_join_active_set(
        &mut self,
        who: Address,
        total_stake: U256,
        activation_round: u64,
    ) -> Result<bool, EconError> {
        self.check_join(total_stake)?;
        let mut pending_total = self.next_round_total_active_stake;
        if self.pool.is_full() {
            let last = self.pool.last();
            let last_stake = self.del(last).delegated_amount;
            if total_stake <= last_stake {
                return Ok(false);
            }
            self.freeze_round_stake(last, activation_round.saturating_sub(1));
            self.pool.remove(last);
            self.tr_mut(last).deactivation_round = activation_round;
            pending_total = sub(pending_total, last_stake)?;
        }
        self.pool.insert(who, total_stake);
        pending_total = add(pending_total, total_stake)?;
        let t = self.tr_mut(who);
        t.last_active_stake_update_round = activation_round;
        t.activation_round = activation_round;
        t.deactivation_round = NEVER;
        t.pool_mut(activation_round).total_stake = total_stake;
        self.next_round_total_active_stake = pending_total;
        Ok(true)
    }

    /// `_freezeRoundStake`.
    fn freeze_round_stake(&mut self, who: Address, round: u64) {
        let delegated = self.del(who).delegated_amount;
        let t = self.tr_mut(who);
        if t.last_active_stake_update_round < round {
            t.pool_mut(round).total_stake = delegated;
            t.last_active_stake_update_round = round;
        }
    }

    /// `_resignTranscoder`.
    pub(crate) fn resign_transcoder(&mut self, who: Address, round: u64) -> Result<(), EconError> {
        self.freeze_round_stake(who, round);
        self.pool.remove(who);
        self.next_round_total_active_stake = sub(
            self.next_round_total_active_stake,
            self.del(who).delegated_amount,
        )?;
        self.tr_mut(who).deactivation_round = round.saturating_add(1);
        Ok(())
    }

    /// `_recordOutOfPoolStake`.
    fn record_out_of_pool_stake(&mut self, who: Address, curr: U256, new: U256, round: u64) {
        let t = self.tr_mut(who);
        if t.last_active_stake_update_round > 0 {
            t.record_next_round_stake(curr, new, round);
        }
    }

    /// `_increaseTotalStake`.
    pub(crate) fn increase_total_stake(
        &mut self,
        delegate: Address,
        amount: U256,
        round: u64,
    ) -> Result<(), EconError> {
        let curr = self.del(delegate).delegated_amount;
        let new = add(curr, amount)?;
        if self.is_registered(delegate) {
            if self.pool.contains(delegate) {
                self.pool.update_key(delegate, new);
                self.next_round_total_active_stake =
                    add(self.next_round_total_active_stake, amount)?;
                self.tr_mut(delegate)
                    .record_next_round_stake(curr, new, round);
            } else if !self.try_to_join_active_set(delegate, new, round.saturating_add(1))? {
                self.record_out_of_pool_stake(delegate, curr, new, round);
            }
        }
        self.del_mut(delegate).delegated_amount = new;
        Ok(())
    }

    /// `_decreaseTotalStake`.
    pub(crate) fn decrease_total_stake(
        &mut self,
        delegate: Address,
        amount: U256,
        round: u64,
    ) -> Result<(), EconError> {
        let curr = self.del(delegate).delegated_amount;
        let new = sub(curr, amount)?;
        if self.pool.contains(delegate) {
            self.pool.update_key(delegate, new);
            self.next_round_total_active_stake = sub(self.next_round_total_active_stake, amount)?;
            self.tr_mut(delegate)
                .record_next_round_stake(curr, new, round);
        } else if self.is_registered(delegate) {
            self.record_out_of_pool_stake(delegate, curr, new, round);
        }
        self.del_mut(delegate).delegated_amount = new;
        Ok(())
    }
}
