//! Earnings: the LIP-36 cumulative reward and fee factors, `reward()` with the treasury
//! cut, fee booking ([`Protocol::redeem_fees`]), pending stake and fees, claiming, and
//! withdrawing fees.

use crate::math::{
    PERC_DIVISOR_V2, add, perc_of_frac, ppm_of, precise_of, precise_of_frac, precise_one, sub,
};
use crate::state::EarningsPool;
use crate::{EconError, Protocol};
use reel_types::{Address, Lpt, U256, Wei};

impl Protocol {
    // ------------------------------------------------------------------ earnings

    /// `_pendingStakeAndFees(who, end_round)`.
    pub(crate) fn pending_stake_and_fees(
        &self,
        who: Address,
        end_round: u64,
    ) -> Result<(U256, U256), EconError> {
        let del = self.del(who);
        let delegate = del.delegate_address;
        let t = self.tr(delegate);
        let mut stake = del.bonded_amount;
        let mut fees = del.fees;
        if del.last_claim_round < end_round {
            let start_pool = t.pool(del.last_claim_round);
            let mut start_crf = start_pool.cumulative_reward_factor;
            if start_crf.is_zero() {
                start_crf = precise_one();
            }
            let (mut end_crf, end_cff) = t.latest_cumulative_factors(end_round);
            if end_crf.is_zero() {
                end_crf = precise_one();
            }
            fees = add(
                fees,
                precise_of_frac(
                    stake,
                    sub(end_cff, start_pool.cumulative_fee_factor)?,
                    start_crf,
                )?,
            )?;
            stake = precise_of_frac(stake, end_crf, start_crf)?;
        }
        if who == delegate {
            stake = add(stake, t.cumulative_rewards)?;
            fees = add(fees, t.cumulative_fees)?;
        }
        Ok((stake, fees))
    }

    /// `_autoClaimEarnings`.
    pub(crate) fn auto_claim_earnings(
        &mut self,
        who: Address,
        round: u64,
    ) -> Result<(), EconError> {
        if self.del(who).last_claim_round < round {
            self.update_delegator_with_earnings(who, round)?;
        }
        Ok(())
    }

    /// `_updateDelegatorWithEarnings`.
    fn update_delegator_with_earnings(
        &mut self,
        who: Address,
        end_round: u64,
    ) -> Result<(), EconError> {
        let del = self.del(who);
        let delegate = del.delegate_address;
        let (mut new_bonded, mut new_fees) = (del.bonded_amount, del.fees);
        if delegate != Address::ZERO {
            (new_bonded, new_fees) = self.pending_stake_and_fees(who, end_round)?;
            let t = self.tr_mut(delegate);
            t.ensure_initialized_cumulative_factors_pool(end_round);
            if delegate == who {
                t.cumulative_rewards = U256::ZERO;
                t.cumulative_fees = U256::ZERO;
            }
        }
        let del = self.del_mut(who);
        del.last_claim_round = end_round;
        del.bonded_amount = new_bonded;
        del.fees = new_fees;
        Ok(())
    }

    /// `who`'s bonded amount after the auto-claim at the start of an operation, without
    /// changing anything.
    pub(crate) fn claimed_bonded(&self, who: Address, round: u64) -> Result<U256, EconError> {
        let del = self.del(who);
        if del.last_claim_round < round && del.delegate_address != Address::ZERO {
            Ok(self.pending_stake_and_fees(who, round)?.0)
        } else {
            Ok(del.bonded_amount)
        }
    }

    /// BondingManager.withdrawFees(who, all) sent by `who`: claims, then withdraws all of its
    /// fees; returns the amount.
    pub fn withdraw_fees(&mut self, who: Address) -> Result<Wei, EconError> {
        let round = self.initialized_round()?;
        let fees = self.pending_stake_and_fees_claimed(who, round)?.1;
        self.withdraw_fees_amount(who, Wei::from_base_units(fees))?;
        Ok(Wei::from_base_units(fees))
    }

    /// BondingManager.withdrawFees(who, amount) sent by `who`.
    pub fn withdraw_fees_amount(&mut self, who: Address, amount: Wei) -> Result<(), EconError> {
        let round = self.initialized_round()?;
        let amount = amount.base_units();
        if who == Address::ZERO {
            return Err(EconError::InvalidRecipient);
        }
        let fees = self.pending_stake_and_fees_claimed(who, round)?.1;
        if fees < amount {
            return Err(EconError::InsufficientFees);
        }
        let eth = sub(self.minter_eth, amount)?;
        self.auto_claim_earnings(who, round)?;
        let del = self.del_mut(who);
        del.fees = sub(del.fees, amount)?;
        self.minter_eth = eth;
        Ok(())
    }

    /// Stake and fees as they are after the auto-claim of an operation in `round`.
    fn pending_stake_and_fees_claimed(
        &self,
        who: Address,
        round: u64,
    ) -> Result<(U256, U256), EconError> {
        let del = self.del(who);
        if del.last_claim_round < round && del.delegate_address != Address::ZERO {
            self.pending_stake_and_fees(who, round)
        } else {
            Ok((del.bonded_amount, del.fees))
        }
    }

    /// BondingManager.claimEarnings sent by `who`: bonds its rewards and books its fees up to
    /// the current round.
    pub fn claim_earnings(&mut self, who: Address) -> Result<(), EconError> {
        let round = self.initialized_round()?;
        self.pending_stake_and_fees_claimed(who, round)?;
        self.auto_claim_earnings(who, round)
    }

    // ------------------------------------------------------------------ reward and fees

    /// BondingManager.reward() by transcoder `who`; returns the LPT minted for its pool
    /// (excluding the treasury's share).
    pub fn reward(&mut self, who: Address) -> Result<Lpt, EconError> {
        let round = self.initialized_round()?;
        let t = self.tr(who);
        if !t.is_active(round) {
            return Err(EconError::NotActive);
        }
        if t.last_reward_round == round {
            return Err(EconError::RewardAlreadyCalled);
        }
        let last_update_round = t.last_active_stake_update_round;
        let round_stake = if last_update_round < round {
            t.pool(last_update_round).total_stake
        } else {
            t.pool(round).total_stake
        };
        if round_stake.is_zero() {
            return Err(EconError::NoStakeInRound);
        }
        // Minter.createReward's checks.
        let denom = self.current_round_total_active_stake;
        if denom.is_zero() {
            return Err(EconError::ZeroTotalActiveStake);
        }
        let mintable = self.current_mintable_tokens;
        let total_rewards =
            perc_of_frac(mintable, round_stake, denom, U256::from(PERC_DIVISOR_V2))?;
        let minted = add(self.current_minted_tokens, total_rewards)?;
        if minted > mintable {
            return Err(EconError::MintExceeded);
        }
        let treasury_rewards = precise_of(total_rewards, self.treasury_reward_cut_rate)?;
        let rewards = sub(total_rewards, treasury_rewards)?;

        let (rc, fs) = (t.reward_cut, t.fee_share);
        let t = self.tr_mut(who);
        let pool = t.pool_mut(round);
        pool.transcoder_reward_cut = rc;
        pool.transcoder_fee_share = fs;
        pool.total_stake = round_stake;

        if !self.treasury_balance_ceiling.is_zero()
            && !self.next_round_treasury_reward_cut_rate.is_zero()
            && self.treasury_balance >= self.treasury_balance_ceiling
        {
            self.next_round_treasury_reward_cut_rate = U256::ZERO;
        }

        // Minter.createReward: mint to the Minter.
        self.current_minted_tokens = minted;
        self.total_supply = add(self.total_supply, total_rewards)?;
        self.minter_lpt = add(self.minter_lpt, total_rewards)?;
        if !treasury_rewards.is_zero() {
            self.minter_lpt = sub(self.minter_lpt, treasury_rewards)?;
            self.treasury_balance = add(self.treasury_balance, treasury_rewards)?;
        }
        self.update_transcoder_with_rewards(who, rewards, round)?;
        self.tr_mut(who).last_reward_round = round;
        Ok(Lpt::from_base_units(rewards))
    }

    /// `_updateTranscoderWithRewards`.
    fn update_transcoder_with_rewards(
        &mut self,
        who: Address,
        rewards: U256,
        round: u64,
    ) -> Result<(), EconError> {
        let t = self.tr_mut(who);
        let pool = t.pool(round);
        let mut prev_crf = t.pool(t.last_reward_round).cumulative_reward_factor;
        if prev_crf.is_zero() {
            prev_crf = precise_one();
        }
        let cumulative_rewards = t.cumulative_rewards;
        let commission = ppm_of(rewards, pool.transcoder_reward_cut)?;
        let delegators_rewards = sub(rewards, commission)?;
        let total_stake = pool.total_stake;
        let reward_stake_rewards =
            precise_of_frac(delegators_rewards, cumulative_rewards, total_stake)?;
        let new_cumulative = add(add(cumulative_rewards, reward_stake_rewards)?, commission)?;
        let crf = add(
            prev_crf,
            precise_of_frac(prev_crf, delegators_rewards, total_stake)?,
        )?;
        t.active_cumulative_rewards = cumulative_rewards;
        t.cumulative_rewards = new_cumulative;
        t.pool_mut(round).cumulative_reward_factor = crf;
        self.increase_total_stake(who, rewards, round)
    }

    /// A winning ticket of face value `fees` redeemed for `transcoder`
    /// (TicketBroker.redeemWinningTicket → BondingManager.updateTranscoderWithFees). The face
    /// value, already in the Minter as the sender's deposit, becomes fees.
    pub fn redeem_fees(&mut self, transcoder: Address, fees: Wei) -> Result<(), EconError> {
        let round = self.initialized_round()?;
        let fees = fees.base_units();
        if fees.is_zero() {
            return Ok(());
        }
        if !self.is_registered(transcoder) {
            return Err(EconError::NotRegistered);
        }
        let prev_round = round.checked_sub(1).ok_or(EconError::Underflow)?;
        let t = self.tr(transcoder);
        let (mut prev_crf, prev_cff) = t.latest_cumulative_factors(prev_round);
        let last_reward_round = t.last_reward_round;
        let mut pool = t.pool(round);
        let active_cumulative_rewards;
        if round > last_reward_round {
            pool.transcoder_reward_cut = t.reward_cut;
            pool.transcoder_fee_share = t.fee_share;
            let last_update_round = t.last_active_stake_update_round;
            if last_update_round < round {
                pool.total_stake = t.pool(last_update_round).total_stake;
            }
            active_cumulative_rewards = t.cumulative_rewards;
        } else {
            active_cumulative_rewards = t.active_cumulative_rewards;
        }
        let total_stake = pool.total_stake;
        if total_stake.is_zero() {
            return Err(EconError::NoStakeInRound);
        }
        if prev_crf.is_zero() && last_reward_round == round {
            prev_crf = self.previous_reward_factor(&pool, total_stake)?;
        }
        let delegators_fees = ppm_of(fees, pool.transcoder_fee_share)?;
        let transcoder_reward_stake_fees =
            precise_of_frac(delegators_fees, active_cumulative_rewards, total_stake)?;
        let cumulative_fees = add(
            t.cumulative_fees,
            add(transcoder_reward_stake_fees, sub(fees, delegators_fees)?)?,
        )?;
        let mut base_cff = pool.cumulative_fee_factor;
        if base_cff.is_zero() {
            base_cff = prev_cff;
        }
        if prev_crf.is_zero() {
            prev_crf = precise_one();
        }
        pool.cumulative_fee_factor = add(
            base_cff,
            precise_of_frac(prev_crf, delegators_fees, total_stake)?,
        )?;
        let eth = add(self.minter_eth, fees)?;

        let t = self.tr_mut(transcoder);
        t.cumulative_fees = cumulative_fees;
        *t.pool_mut(round) = pool;
        t.last_fee_round = round;
        self.minter_eth = eth;
        Ok(())
    }

    /// `_previousRewardFactor`.
    fn previous_reward_factor(
        &self,
        pool: &EarningsPool,
        total_stake: U256,
    ) -> Result<U256, EconError> {
        let mut rewards = precise_of_frac(
            add(self.current_mintable_tokens, self.current_minted_tokens)?,
            total_stake,
            self.current_round_total_active_stake,
        )?;
        rewards = sub(rewards, precise_of(rewards, self.treasury_reward_cut_rate)?)?;
        let delegators_rewards = sub(rewards, ppm_of(rewards, pool.transcoder_reward_cut)?)?;
        precise_of_frac(
            pool.cumulative_reward_factor,
            total_stake,
            add(delegators_rewards, total_stake)?,
        )
    }
}
