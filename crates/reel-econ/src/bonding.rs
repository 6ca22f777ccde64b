//! Delegators' stake: bonding, unbonding into locks, rebonding and withdrawing stake, with
//! the LPT moving between wallets and the Minter.

use crate::math::{add, sub};
use crate::state::UnbondingLock;
use crate::{EconError, Protocol};
use reel_types::{Address, Lpt, U256};

impl Protocol {
    // ------------------------------------------------------------------ delegators

    /// BondingManager.bond(amount, to) sent by `who`: claims `who`'s earnings, moves its
    /// existing bond to `to` if the delegate changes, adds `amount` LPT from its wallet.
    /// Bonding to oneself registers a transcoder.
    pub fn bond(&mut self, who: Address, to: Address, amount: Lpt) -> Result<(), EconError> {
        let round = self.initialized_round()?;
        let amount = amount.base_units();
        // Checks first (a revert changes nothing). The claim only grows a non-zero bond, so
        // these decisions are the same before and after it.
        let current_bonded_nonzero = !self.del(who).bonded_amount.is_zero();
        let current_delegate = self.del(who).delegate_address;
        let moving = current_bonded_nonzero && current_delegate != to;
        if moving && self.is_registered(who) {
            return Err(EconError::TranscoderCannotDelegate);
        }
        let bonded_after_claim = self.claimed_bonded(who, round)?;
        let delegation_amount = if moving {
            add(amount, bonded_after_claim)?
        } else {
            amount
        };
        if delegation_amount.is_zero() {
            return Err(EconError::ZeroDelegation);
        }
        let have = self.balance(who).base_units();
        if have < amount {
            return Err(EconError::InsufficientBalance {
                who,
                have,
                need: amount,
            });
        }
        self.auto_claim_earnings(who, round)?;
        let current_bonded = self.del(who).bonded_amount;
        if current_bonded.is_zero() {
            self.del_mut(who).start_round = round.saturating_add(1);
        } else if current_delegate != to {
            self.del_mut(who).start_round = round.saturating_add(1);
            self.decrease_total_stake(current_delegate, current_bonded, round)?;
        }
        self.tr_mut(to)
            .ensure_initialized_cumulative_factors_pool(round);

        let del = self.del_mut(who);
        del.delegate_address = to;
        del.bonded_amount = add(del.bonded_amount, amount)?;
        self.increase_total_stake(to, delegation_amount, round)?;
        if !amount.is_zero() {
            self.transfer_to_minter(who, amount)?;
        }
        Ok(())
    }

    fn transfer_to_minter(&mut self, who: Address, amount: U256) -> Result<(), EconError> {
        let b = self.balances.entry(who).or_default();
        *b = sub(*b, amount)?;
        self.minter_lpt = add(self.minter_lpt, amount)?;
        Ok(())
    }

    fn transfer_from_minter(&mut self, to: Address, amount: U256) -> Result<(), EconError> {
        self.minter_lpt = sub(self.minter_lpt, amount)?;
        let b = self.balances.entry(to).or_default();
        *b = add(*b, amount)?;
        Ok(())
    }

    /// BondingManager.unbond(amount) sent by `who`; returns the new unbonding lock's id.
    pub fn unbond(&mut self, who: Address, amount: Lpt) -> Result<u64, EconError> {
        let round = self.initialized_round()?;
        let amount = amount.base_units();
        let bonded = self.claimed_bonded(who, round)?;
        {
            let d = self.del(who);
            if bonded.is_zero() || d.start_round > round {
                return Err(EconError::NotBonded);
            }
        }
        if amount.is_zero() {
            return Err(EconError::ZeroUnbond);
        }
        if amount > bonded {
            return Err(EconError::UnbondTooLarge);
        }
        self.auto_claim_earnings(who, round)?;

        let withdraw_round = round.saturating_add(self.params.unbonding_period);
        let del = self.del_mut(who);
        let current_delegate = del.delegate_address;
        let lock_id = del.next_unbonding_lock_id;
        del.unbonding_locks.insert(
            lock_id,
            UnbondingLock {
                amount,
                withdraw_round,
            },
        );
        del.next_unbonding_lock_id = lock_id.saturating_add(1);
        let left = sub(del.bonded_amount, amount)?;
        del.bonded_amount = left;
        if left.is_zero() {
            del.delegate_address = Address::ZERO;
            del.start_round = 0;
            if self.pool.contains(who) {
                self.resign_transcoder(who, round)?;
            }
        }
        self.decrease_total_stake(current_delegate, amount, round)?;
        Ok(lock_id)
    }

    /// BondingManager.rebond(lock_id) sent by `who`: bonds the lock again, to `who`'s
    /// current delegate.
    pub fn rebond(&mut self, who: Address, lock_id: u64) -> Result<(), EconError> {
        let round = self.initialized_round()?;
        if self.claimed_bonded(who, round)?.is_zero() {
            return Err(EconError::NotBonded);
        }
        self.check_lock(who, lock_id)?;
        self.auto_claim_earnings(who, round)?;
        self.process_rebond(who, lock_id, round)
    }

    /// BondingManager.rebondFromUnbonded(to, lock_id) sent by an unbonded `who`.
    pub fn rebond_from_unbonded(
        &mut self,
        who: Address,
        to: Address,
        lock_id: u64,
    ) -> Result<(), EconError> {
        let round = self.initialized_round()?;
        if !self.claimed_bonded(who, round)?.is_zero() {
            return Err(EconError::NotUnbonded);
        }
        self.check_lock(who, lock_id)?;
        self.auto_claim_earnings(who, round)?;
        self.tr_mut(to)
            .ensure_initialized_cumulative_factors_pool(round);
        let del = self.del_mut(who);
        del.start_round = round.saturating_add(1);
        del.delegate_address = to;
        self.process_rebond(who, lock_id, round)
    }

    fn check_lock(&self, who: Address, lock_id: u64) -> Result<UnbondingLock, EconError> {
        self.del(who)
            .unbonding_locks
            .get(&lock_id)
            .copied()
            .filter(|l| l.withdraw_round > 0)
            .ok_or(EconError::InvalidUnbondingLock)
    }

    /// `_processRebond`.
    fn process_rebond(&mut self, who: Address, lock_id: u64, round: u64) -> Result<(), EconError> {
        let lock = self.check_lock(who, lock_id)?;
        let del = self.del_mut(who);
        del.bonded_amount = add(del.bonded_amount, lock.amount)?;
        del.unbonding_locks.remove(&lock_id);
        let delegate = del.delegate_address;
        self.increase_total_stake(delegate, lock.amount, round)
    }

    /// BondingManager.withdrawStake(lock_id) sent by `who`: the lock's LPT back to its wallet.
    pub fn withdraw_stake(&mut self, who: Address, lock_id: u64) -> Result<Lpt, EconError> {
        let round = self.initialized_round()?;
        let lock = self.check_lock(who, lock_id)?;
        if lock.withdraw_round > round {
            return Err(EconError::WithdrawTooEarly);
        }
        self.del_mut(who).unbonding_locks.remove(&lock_id);
        self.transfer_from_minter(who, lock.amount)?;
        Ok(Lpt::from_base_units(lock.amount))
    }
}
