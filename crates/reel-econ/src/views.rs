//! Read-only views: the contracts' getters and the model's own summaries of its state.

use crate::{EconError, Protocol};
use reel_types::{Address, Lpt, Ppm, U256, Wei};

impl Protocol {
    // ------------------------------------------------------------------ views

    /// `pendingStake(who)` in the current round: bonded stake with unclaimed rewards. Zero if
    /// the contract's view would revert (an arithmetic panic; see [`Protocol::try_pending`]).
    pub fn pending_stake(&self, who: Address) -> Lpt {
        self.try_pending(who).map(|(s, _)| s).unwrap_or_default()
    }

    /// `pendingFees(who)` in the current round: claimed and unclaimed fees.
    pub fn pending_fees(&self, who: Address) -> Wei {
        self.try_pending(who).map(|(_, f)| f).unwrap_or_default()
    }

    /// `pendingStake` and `pendingFees`, or the panic the contract's views would revert with.
    pub fn try_pending(&self, who: Address) -> Result<(Lpt, Wei), EconError> {
        let (s, f) = self.pending_stake_and_fees(who, self.round)?;
        Ok((Lpt::from_base_units(s), Wei::from_base_units(f)))
    }

    /// `delegator.bondedAmount` as stored (rewards claimed so far).
    pub fn bonded_amount(&self, who: Address) -> Lpt {
        Lpt::from_base_units(self.del(who).bonded_amount)
    }

    /// `delegator.fees` as stored (claimed, not withdrawn).
    pub fn claimed_fees(&self, who: Address) -> Wei {
        Wei::from_base_units(self.del(who).fees)
    }

    /// The delegate `who` is bonded to, if any.
    pub fn delegate_of(&self, who: Address) -> Option<Address> {
        let d = self.del(who).delegate_address;
        (d != Address::ZERO).then_some(d)
    }

    /// `delegator.startRound`.
    pub fn start_round(&self, who: Address) -> u64 {
        self.del(who).start_round
    }

    /// `delegator.lastClaimRound`.
    pub fn last_claim_round(&self, who: Address) -> u64 {
        self.del(who).last_claim_round
    }

    /// An unbonding lock: (amount, withdraw round), if it exists.
    pub fn unbonding_lock(&self, who: Address, lock_id: u64) -> Option<(Lpt, u64)> {
        self.del(who)
            .unbonding_locks
            .get(&lock_id)
            .map(|l| (Lpt::from_base_units(l.amount), l.withdraw_round))
    }

    /// The id the next unbonding lock of `who` will get.
    pub fn next_unbonding_lock_id(&self, who: Address) -> u64 {
        self.del(who).next_unbonding_lock_id
    }

    /// `transcoderTotalStake(who)`: stake delegated to `who`, its self-bond included.
    pub fn transcoder_total_stake(&self, who: Address) -> Lpt {
        Lpt::from_base_units(self.del(who).delegated_amount)
    }

    /// `isRegisteredTranscoder(who)`.
    pub fn is_registered_transcoder(&self, who: Address) -> bool {
        self.is_registered(who)
    }

    /// `isActiveTranscoder(who)` in the current round.
    pub fn is_active(&self, who: Address) -> bool {
        self.tr(who).is_active(self.round)
    }

    /// `isInTranscoderPool(who)`: in the next round's active set (so far).
    pub fn is_in_pool(&self, who: Address) -> bool {
        self.pool.contains(who)
    }

    /// The pool's capacity, the active set size (`getTranscoderPoolMaxSize`).
    pub fn pool_max_size(&self) -> usize {
        self.pool.max_size()
    }

    /// Members of the pool (`getTranscoderPoolSize`).
    pub fn pool_size(&self) -> usize {
        self.pool.len()
    }

    /// The pool, head first: the next round's active set so far, with stakes.
    pub fn pool_members(&self) -> Vec<(Address, Lpt)> {
        self.pool
            .members()
            .map(|(a, s)| (a, Lpt::from_base_units(s)))
            .collect()
    }

    /// The current round's active set, in pool order as the round began.
    pub fn active_transcoders(&self) -> Vec<Address> {
        self.round_start_pool
            .iter()
            .copied()
            .filter(|a| self.is_active(*a))
            .collect()
    }

    /// The transcoder's (reward cut, fee share) as last set.
    pub fn transcoder_params(&self, who: Address) -> (Ppm, Ppm) {
        let t = self.tr(who);
        (
            Ppm::new(t.reward_cut).unwrap_or_default(),
            Ppm::new(t.fee_share).unwrap_or_default(),
        )
    }

    /// The last round in which `who` called reward (0: never).
    pub fn last_reward_round(&self, who: Address) -> u64 {
        self.tr(who).last_reward_round
    }

    /// `getTotalBonded()`: the total stake of the current round's active set.
    pub fn total_bonded(&self) -> Lpt {
        Lpt::from_base_units(self.current_round_total_active_stake)
    }

    /// `nextRoundTotalActiveStake`: the pool's total stake.
    pub fn next_round_total_active_stake(&self) -> Lpt {
        Lpt::from_base_units(self.next_round_total_active_stake)
    }

    /// The LPT token's `totalSupply()`.
    pub fn total_supply(&self) -> Lpt {
        Lpt::from_base_units(self.total_supply)
    }

    /// `who`'s wallet LPT.
    pub fn balance(&self, who: Address) -> Lpt {
        Lpt::from_base_units(self.balances.get(&who).copied().unwrap_or_default())
    }

    /// Minter.inflation (1e9 units).
    pub fn inflation(&self) -> u64 {
        u64::try_from(self.inflation).unwrap_or(u64::MAX)
    }

    /// Minter.currentMintableTokens.
    pub fn current_mintable(&self) -> Lpt {
        Lpt::from_base_units(self.current_mintable_tokens)
    }

    /// Minter.currentMintedTokens.
    pub fn current_minted(&self) -> Lpt {
        Lpt::from_base_units(self.current_minted_tokens)
    }

    /// The treasury's LPT balance (its cut of the rewards).
    pub fn treasury_balance(&self) -> Lpt {
        Lpt::from_base_units(self.treasury_balance)
    }

    /// `treasuryRewardCutRate` of the current round (1e27 units).
    pub fn treasury_reward_cut_rate(&self) -> U256 {
        self.treasury_reward_cut_rate
    }

    /// `nextRoundTreasuryRewardCutRate` (1e27 units).
    pub fn next_round_treasury_reward_cut_rate(&self) -> U256 {
        self.next_round_treasury_reward_cut_rate
    }

    /// The Minter's LPT: all bonded stake, unclaimed rewards and unbonding locks.
    pub fn minter_lpt(&self) -> Lpt {
        Lpt::from_base_units(self.minter_lpt)
    }

    /// ETH the Minter holds for fees booked and not yet withdrawn.
    pub fn minter_eth(&self) -> Wei {
        Wei::from_base_units(self.minter_eth)
    }
}
