//! RoundsManager: the current round and its initialization, with the Minter's inflation
//! step and the round's mintable tokens.

use crate::math::{PERC_DIVISOR_V2, add, perc_of, perc_points};
use crate::{EconError, Protocol};
use reel_types::U256;

impl Protocol {
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
}
