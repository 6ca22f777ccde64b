//! An exact, in-memory model of the protocol's economics, for simulations at network scale.
//!
//! [`Protocol`] reproduces, to the wei, the state that these contracts keep and the views
//! they answer:
//!
//! - contracts/src/bonding/BondingManager.sol: bonding, unbonding locks, rebonding,
//!   withdrawing stake and fees, the transcoder pool and active set, `reward()` with the
//!   treasury cut and its ceiling, fee booking (`updateTranscoderWithFees`), and the LIP-36
//!   cumulative reward and fee factors behind `pendingStake` / `pendingFees`;
//! - contracts/src/token/Minter.sol: inflation stepping towards the target bonding rate,
//!   the round's mintable and minted tokens, LPT custody and the fee ETH;
//! - contracts/src/rounds/RoundsManager.sol: round initialization (rolling the total active
//!   stake, then setting the round's reward tokens);
//! - contracts/src/pm/TicketBroker.sol: only the step from a redeemed winning ticket to the
//!   BondingManager's fee booking ([`Protocol::redeem_fees`]);
//! - the LivepeerToken's balances and total supply.
//!
//! Every operation follows the Solidity statement by statement, with the same fixed-point
//! rounding (MathUtils 1e6, MathUtilsV2 1e9, PreciseMathUtils 1e27) and the same checks,
//! returned as [`EconError`] with the contract's revert reason. An operation that fails a
//! check changes nothing, like a reverted transaction. Only an arithmetic error
//! ([`EconError::Overflow`], [`EconError::Underflow`], [`EconError::DivisionByZero`], where
//! the EVM would panic) can leave a partly applied operation behind; real token supplies
//! never reach one.
//!
//! Cost: every operation is O(log n) in the number of transcoders, delegators and rounds,
//! except [`Protocol::initialize_round`], which snapshots the active set (O(active set)).
//! The pool is an ordered set instead of the contract's linked list; it produces the same
//! order, ties included (see `pool.rs`): among equal stakes the transcoder whose stake was
//! set most recently comes first, and the oldest is evicted first.
//!
//! What the model leaves out on purpose:
//! - blocks and the round lock: a round is a step of [`Protocol::initialize_round`], and
//!   `transcoder()` is never refused for being in the locked tail of a round;
//! - rounds that nobody initializes (each call initializes the next round);
//! - hints (`*WithHint`): they only make the contract's list walks cheaper, never change the
//!   order of unequal stakes, and our calls pass none, as `bond`, `unbond` and `reward` do;
//! - slashing, `transferBond`, bonding on behalf of another account (`bondForWithHint` by a
//!   third party), governance (votes, BondingVotes checkpoints, parameter changes after
//!   construction), the L2 migrator and the L2LPTDataCache (the global supply is this
//!   chain's supply);
//! - the TicketBroker's sender accounting (deposits, reserves, ticket validity): a redeemed
//!   ticket simply brings its face value into the Minter as fees;
//! - ETH balances of accounts: withdrawn fees leave the Minter ([`Protocol::minter_eth`]);
//! - ERC-20 allowances: bonding spends the bonder's own LPT.
//!
//! Round 0 exists but is not initialized, as on a fresh deployment: staking operations
//! fail with [`EconError::RoundNotInitialized`] until the first [`Protocol::initialize_round`].
//!
//! Contract behaviours the model reproduces that may surprise a reader of the results:
//! - the bonding rate that steers inflation is `getTotalBonded()`, the *active* set's stake
//!   as the round began, not all bonded LPT;
//! - fees booked in a round after the transcoder's first `reward()` since it skipped the
//!   previous round rebuild that round's reward factor from `currentMintableTokens +
//!   currentMintedTokens` (`_previousRewardFactor`), which overstates the reward once any of
//!   it was minted: the delegators' share of those fees comes out slightly low (the rest
//!   stays in the Minter);
//! - a transcoder that unbonds everything stays active to the end of the round and may
//!   still call `reward()`; its own part (commission and what its unclaimed rewards earned)
//!   counts towards its stake only if it bonds to itself again;
//! - the pool admits a newcomer only with strictly more stake than the smallest member: a
//!   tie does not evict.

mod math;
mod pool;

pub use math::{PERC_DIVISOR, PERC_DIVISOR_V2, perc_of, perc_of_frac, perc_points, precise_one};

use math::{add, ppm_of, precise_of, precise_of_frac, sub};
use pool::Pool;
use reel_types::{Address, Lpt, Ppm, U256, Wei};
use std::collections::{BTreeMap, HashMap};

/// Protocol parameters, as the contracts are configured at deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Blocks per round (informational: the model counts rounds, not blocks).
    pub round_length: u64,
    /// Rounds between unbonding and withdrawing.
    pub unbonding_period: u64,
    /// Size of the active set (the pool's maximum size).
    pub num_active_transcoders: usize,
    /// Inflation per round at deployment, 1e9 = 100% (MathUtilsV2).
    pub inflation: u64,
    /// Step of the inflation each round, 1e9 units.
    pub inflation_change: u64,
    /// Bonding rate the inflation steers towards, 1e9 units.
    pub target_bonding_rate: u64,
    /// Share of each reward paid to the treasury, 1e27 = 100% (PreciseMathUtils).
    pub treasury_reward_cut_rate: U256,
    /// Treasury balance at which the treasury cut switches itself off.
    pub treasury_balance_ceiling: Lpt,
}

impl Params {
    /// Livepeer's Arbitrum deployment.
    pub fn mainnet() -> Self {
        Self {
            round_length: 6377,
            unbonding_period: 7,
            num_active_transcoders: 100,
            inflation: 220_500,
            inflation_change: 500,
            target_bonding_rate: 500_000_000,
            treasury_reward_cut_rate: U256::from(10u64).pow(U256::from(26u64)),
            treasury_balance_ceiling: Lpt::from_whole(750_000),
        }
    }
}

/// Why an operation was refused: the contracts' revert reasons, and the EVM's arithmetic
/// panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EconError {
    #[error("current round is not initialized")]
    RoundNotInitialized,
    #[error("invalid rewardCut percentage")]
    InvalidRewardCut,
    #[error("invalid feeShare percentage")]
    InvalidFeeShare,
    #[error("transcoder must be registered")]
    NotRegistered,
    #[error("caller can't be active or must have already called reward for the current round")]
    ActiveBeforeReward,
    #[error("caller must be an active transcoder")]
    NotActive,
    #[error("caller has already called reward for the current round")]
    RewardAlreadyCalled,
    #[error("transcoder has no stake in the round")]
    NoStakeInRound,
    #[error("total active stake is zero")]
    ZeroTotalActiveStake,
    #[error("minted tokens cannot exceed mintable tokens")]
    MintExceeded,
    #[error("registered transcoders can't delegate towards other addresses")]
    TranscoderCannotDelegate,
    #[error("delegation amount must be greater than 0")]
    ZeroDelegation,
    #[error("caller must be bonded")]
    NotBonded,
    #[error("caller must be unbonded")]
    NotUnbonded,
    #[error("unbond amount must be greater than 0")]
    ZeroUnbond,
    #[error("amount is greater than bonded amount")]
    UnbondTooLarge,
    #[error("invalid unbonding lock ID")]
    InvalidUnbondingLock,
    #[error("withdraw round must be before or equal to the current round")]
    WithdrawTooEarly,
    #[error("invalid recipient")]
    InvalidRecipient,
    #[error("insufficient fees to withdraw")]
    InsufficientFees,
    /// The token's `ERC20InsufficientBalance` (bonding more LPT than the wallet holds).
    #[error("ERC20InsufficientBalance: {who} has {have} base units of LPT, needs {need}")]
    InsufficientBalance {
        who: Address,
        have: U256,
        need: U256,
    },
    /// A SortedDoublyLL requirement ("key is zero", "node not in list", ...).
    #[error("{0}")]
    Pool(&'static str),
    /// Solidity panic 0x11.
    #[error("arithmetic overflow (panic 0x11)")]
    Overflow,
    /// Solidity panic 0x11.
    #[error("arithmetic underflow (panic 0x11)")]
    Underflow,
    /// Solidity panic 0x12.
    #[error("division by zero (panic 0x12)")]
    DivisionByZero,
}

/// `type(uint48).max`: a transcoder that was never deactivated.
const NEVER: u64 = (1u64 << 48) - 1;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct UnbondingLock {
    amount: U256,
    withdraw_round: u64,
}

#[derive(Debug, Clone, Default)]
struct Delegator {
    bonded_amount: U256,
    fees: U256,
    delegate_address: Address,
    start_round: u64,
    last_claim_round: u64,
    delegated_amount: U256,
    next_unbonding_lock_id: u64,
    unbonding_locks: BTreeMap<u64, UnbondingLock>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct EarningsPool {
    total_stake: U256,
    transcoder_reward_cut: u32,
    transcoder_fee_share: u32,
    cumulative_reward_factor: U256,
    cumulative_fee_factor: U256,
}

#[derive(Debug, Clone, Default)]
struct Transcoder {
    last_reward_round: u64,
    last_active_stake_update_round: u64,
    activation_round: u64,
    deactivation_round: u64,
    reward_cut: u32,
    fee_share: u32,
    last_fee_round: u64,
    active_cumulative_rewards: U256,
    cumulative_rewards: U256,
    cumulative_fees: U256,
    earnings_pool_per_round: BTreeMap<u64, EarningsPool>,
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
    fn pool(&self, round: u64) -> EarningsPool {
        self.earnings_pool_per_round
            .get(&round)
            .copied()
            .unwrap_or_default()
    }

    fn pool_mut(&mut self, round: u64) -> &mut EarningsPool {
        self.earnings_pool_per_round.entry(round).or_default()
    }

    fn is_active(&self, round: u64) -> bool {
        self.activation_round <= round && round < self.deactivation_round
    }

    /// `_latestCumulativeFactors`.
    fn latest_cumulative_factors(&self, round: u64) -> (U256, U256) {
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
    fn ensure_initialized_cumulative_factors_pool(&mut self, round: u64) {
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
    fn record_next_round_stake(&mut self, curr: U256, new: U256, round: u64) {
        if self.last_active_stake_update_round < round {
            self.pool_mut(round).total_stake = curr;
        }
        let next = round.saturating_add(1);
        self.pool_mut(next).total_stake = new;
        self.last_active_stake_update_round = next;
    }
}

/// The protocol's economic state: BondingManager, Minter, RoundsManager and token balances.
#[derive(Debug, Clone)]
pub struct Protocol {
    params: Params,
    // RoundsManager
    round: u64,
    round_initialized: bool,
    // BondingManager
    delegators: HashMap<Address, Delegator>,
    transcoders: HashMap<Address, Transcoder>,
    current_round_total_active_stake: U256,
    next_round_total_active_stake: U256,
    pool: Pool,
    treasury_reward_cut_rate: U256,
    next_round_treasury_reward_cut_rate: U256,
    treasury_balance_ceiling: U256,
    /// The pool as the current round began: a superset of the current active set.
    round_start_pool: Vec<Address>,
    // Minter
    inflation: U256,
    inflation_change: U256,
    target_bonding_rate: U256,
    current_mintable_tokens: U256,
    current_minted_tokens: U256,
    minter_eth: U256,
    // LivepeerToken
    total_supply: U256,
    balances: HashMap<Address, U256>,
    treasury_balance: U256,
    minter_lpt: U256,
}

impl Protocol {
    /// A fresh deployment in round 0 (not initialized), with nothing minted. The treasury
    /// cut rate applies from the start (the deployment sets it before round 1).
    pub fn new(params: Params) -> Self {
        Self {
            round: 0,
            round_initialized: false,
            delegators: HashMap::new(),
            transcoders: HashMap::new(),
            current_round_total_active_stake: U256::ZERO,
            next_round_total_active_stake: U256::ZERO,
            pool: Pool::new(params.num_active_transcoders),
            treasury_reward_cut_rate: params.treasury_reward_cut_rate,
            next_round_treasury_reward_cut_rate: params.treasury_reward_cut_rate,
            treasury_balance_ceiling: params.treasury_balance_ceiling.base_units(),
            round_start_pool: Vec::new(),
            inflation: U256::from(params.inflation),
            inflation_change: U256::from(params.inflation_change),
            target_bonding_rate: U256::from(params.target_bonding_rate),
            current_mintable_tokens: U256::ZERO,
            current_minted_tokens: U256::ZERO,
            minter_eth: U256::ZERO,
            total_supply: U256::ZERO,
            balances: HashMap::new(),
            treasury_balance: U256::ZERO,
            minter_lpt: U256::ZERO,
            params,
        }
    }

    /// Genesis distribution: mints `amount` to `to`'s wallet (saturating at 2^256 - 1).
    pub fn mint(&mut self, to: Address, amount: Lpt) {
        let amount = amount.base_units();
        self.total_supply = self.total_supply.saturating_add(amount);
        let b = self.balances.entry(to).or_default();
        *b = b.saturating_add(amount);
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn current_round(&self) -> u64 {
        self.round
    }

    /// Whether the current round has been initialized (false only in round 0).
    pub fn current_round_initialized(&self) -> bool {
        self.round_initialized
    }

    /// Moves to the next round and initialises it, as RoundsManager.initializeRound:
    /// BondingManager.setCurrentRoundTotalActiveStake (roll the next round's total active
    /// stake and treasury cut rate), then Minter.setCurrentRewardTokens (step the inflation
    /// towards the target bonding rate and fix the round's mintable tokens).
    pub fn initialize_round(&mut self) -> Result<(), EconError> {
        let round = self.round.checked_add(1).ok_or(EconError::Overflow)?;
        // Compute first, so that an arithmetic error leaves the state as it was.
        let total_bonded = self.next_round_total_active_stake;
        let supply = self.total_supply;
        let one = U256::from(PERC_DIVISOR_V2);
        let bonding_rate = if supply.is_zero() {
            U256::ZERO
        } else {
            perc_points(total_bonded, supply, one)?
        };
        let inflation = if bonding_rate < self.target_bonding_rate {
            add(self.inflation, self.inflation_change)?
        } else if bonding_rate > self.target_bonding_rate {
            self.inflation.saturating_sub(self.inflation_change)
        } else {
            self.inflation
        };
        let mintable = perc_of(supply, inflation, one)?;

        self.round = round;
        self.round_initialized = true;
        self.current_round_total_active_stake = total_bonded;
        self.treasury_reward_cut_rate = self.next_round_treasury_reward_cut_rate;
        self.inflation = inflation;
        self.current_mintable_tokens = mintable;
        self.current_minted_tokens = U256::ZERO;
        self.round_start_pool = self.pool.members().map(|m| m.0).collect();
        Ok(())
    }

    // ------------------------------------------------------------------ accessors

    fn del(&self, who: Address) -> &Delegator {
        self.delegators.get(&who).unwrap_or(&EMPTY_DELEGATOR)
    }

    fn del_mut(&mut self, who: Address) -> &mut Delegator {
        self.delegators.entry(who).or_default()
    }

    fn tr(&self, who: Address) -> &Transcoder {
        self.transcoders.get(&who).unwrap_or(&EMPTY_TRANSCODER)
    }

    fn tr_mut(&mut self, who: Address) -> &mut Transcoder {
        self.transcoders.entry(who).or_default()
    }

    fn initialized_round(&self) -> Result<u64, EconError> {
        if self.round_initialized {
            Ok(self.round)
        } else {
            Err(EconError::RoundNotInitialized)
        }
    }

    fn is_registered(&self, who: Address) -> bool {
        let d = self.del(who);
        d.delegate_address == who && !d.bonded_amount.is_zero()
    }

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
    fn resign_transcoder(&mut self, who: Address, round: u64) -> Result<(), EconError> {
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
    fn increase_total_stake(
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
    fn decrease_total_stake(
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

    // ------------------------------------------------------------------ earnings

    /// `_pendingStakeAndFees(who, end_round)`.
    fn pending_stake_and_fees(
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
    fn auto_claim_earnings(&mut self, who: Address, round: u64) -> Result<(), EconError> {
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
    fn claimed_bonded(&self, who: Address, round: u64) -> Result<U256, EconError> {
        let del = self.del(who);
        if del.last_claim_round < round && del.delegate_address != Address::ZERO {
            Ok(self.pending_stake_and_fees(who, round)?.0)
        } else {
            Ok(del.bonded_amount)
        }
    }

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

#[cfg(test)]
mod tests;
