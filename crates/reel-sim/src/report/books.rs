//! The run's books: LPT minted against the inflation schedule, fees paid against fees
//! earned.

use crate::Outcome;
use reel_types::U256;

/// The run's books, checked: what was minted against the inflation schedule, and what
/// gateways paid against what accounts earned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conservation {
    /// Total supply now minus at genesis.
    pub supply_growth: U256,
    /// The sum of each round's minted tokens.
    pub minted: U256,
    /// The sum of each round's mintable tokens (the inflation schedule's budget).
    pub mintable: U256,
    /// Face value of every redeemed ticket: what gateways paid.
    pub paid: U256,
    /// ETH the Minter holds for fees.
    pub minter_eth: U256,
    /// Pending fees of every orchestrator and delegator: what they earned and can withdraw.
    pub pending: U256,
    pub accounts: usize,
    pub rounds: usize,
    /// Winning tickets redeemed.
    pub redemptions: u64,
}

impl Conservation {
    /// Minted equals supply growth and stays within the schedule; paid equals the Minter's
    /// ETH, and no account can claim more than the Minter holds.
    pub fn holds(&self) -> bool {
        self.supply_growth == self.minted
            && self.minted <= self.mintable
            && self.paid == self.minter_eth
            && self.pending <= self.minter_eth
    }

    /// Fee ETH in the Minter that no account can claim.
    pub fn stranded(&self) -> U256 {
        self.minter_eth.saturating_sub(self.pending)
    }

    /// The most `stranded` can be from rounding alone: a wei per account and round (each
    /// claim rounds down) and a wei per redemption (each fee booking rounds its pool's
    /// factor down). More than that is the contracts' own loss when an orchestrator earns
    /// fees in the round after it skipped `reward()` (BondingManager rebuilds the skipped
    /// round's reward factor from this round's minted tokens and overstates it; see
    /// crates/reel-econ/src/lib.rs), which only a run where everyone calls `reward()` every
    /// round avoids.
    pub fn rounding_bound(&self) -> U256 {
        U256::from(self.accounts)
            .saturating_mul(U256::from(self.rounds + 1))
            .saturating_add(U256::from(self.redemptions))
    }
}

pub fn conservation(o: &Outcome) -> Conservation {
    let e = &o.economy;
    let mut pending = U256::ZERO;
    for a in o
        .network
        .orchestrators
        .iter()
        .map(|x| x.address)
        .chain(o.network.delegators.iter().map(|d| d.address))
    {
        pending = pending.saturating_add(e.proto.pending_fees(a).base_units());
    }
    Conservation {
        supply_growth: e
            .proto
            .total_supply()
            .base_units()
            .saturating_sub(e.genesis_supply.base_units()),
        minted: e
            .rounds
            .iter()
            .fold(U256::ZERO, |a, r| a.saturating_add(r.minted.base_units())),
        mintable: e
            .rounds
            .iter()
            .fold(U256::ZERO, |a, r| a.saturating_add(r.mintable.base_units())),
        paid: e
            .rounds
            .iter()
            .fold(U256::ZERO, |a, r| a.saturating_add(r.fees.base_units())),
        minter_eth: e.proto.minter_eth().base_units(),
        pending,
        accounts: o.network.orchestrators.len() + o.network.delegators.len(),
        rounds: e.rounds.len(),
        redemptions: e.work.iter().map(|w| w.wins).sum(),
    }
}
