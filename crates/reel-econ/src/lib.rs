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

mod active_set;
mod bonding;
mod earnings;
mod math;
mod pool;
mod rounds;
mod state;
mod views;

pub use math::{PERC_DIVISOR, PERC_DIVISOR_V2, perc_of, perc_of_frac, perc_points, precise_one};

use pool::Pool;
use reel_types::{Address, Lpt, U256};
use state::{Delegator, Transcoder};
use std::collections::HashMap;

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
}

#[cfg(test)]
mod tests;
