//! A broadcaster's (gateway's) deposit and reserve at the TicketBroker.

use crate::{ChainError, Protocol, TxOutcome};
use alloy::primitives::{Address, U256};
use reel_contracts::livepeer::ITicketBroker;
use reel_types::{Round, Wei};

/// A sender's funds at the TicketBroker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderStatus {
    pub address: Address,
    pub deposit: Wei,
    pub reserve: Wei,
    /// Reserve already claimed by orchestrators in the current round.
    pub claimed_this_round: Wei,
    /// The round from which `withdraw` works, when an unlock is in progress.
    pub withdraw_round: Option<Round>,
    /// What each active orchestrator could still claim from the reserve this round.
    pub claimable: Vec<(Address, Wei)>,
}

fn u64_of(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl Protocol {
    pub fn ticket_broker(
        &self,
    ) -> ITicketBroker::ITicketBrokerInstance<&alloy::providers::DynProvider> {
        ITicketBroker::new(self.contracts().ticket_broker, self.provider())
    }

    /// Adds to the sender's deposit and reserve in one transaction (either may be zero).
    pub async fn fund_deposit_and_reserve(
        &self,
        deposit: Wei,
        reserve: Wei,
    ) -> Result<TxOutcome, ChainError> {
        let me = self.from()?;
        let total = deposit
            .checked_add(reserve)
            .map_err(|_| ChainError::Amount("deposit + reserve overflows"))?;
        let balance = self.eth_balance(me).await?;
        if balance < total {
            return Err(ChainError::InsufficientEth {
                have: balance,
                need: total,
            });
        }
        self.send(
            format!("fund deposit {deposit} and reserve {reserve}"),
            self.ticket_broker()
                .fundDepositAndReserve(deposit.base_units(), reserve.base_units())
                .value(total.base_units()),
        )
        .await
    }

    /// Starts the unlock period, after which `withdraw` returns deposit and reserve.
    pub async fn unlock(&self) -> Result<TxOutcome, ChainError> {
        self.send("unlock deposit and reserve", self.ticket_broker().unlock())
            .await
    }

    pub async fn cancel_unlock(&self) -> Result<TxOutcome, ChainError> {
        self.send("cancel unlock", self.ticket_broker().cancelUnlock())
            .await
    }

    pub async fn withdraw(&self) -> Result<TxOutcome, ChainError> {
        self.send(
            "withdraw deposit and reserve",
            self.ticket_broker().withdraw(),
        )
        .await
    }

    pub async fn sender_status(&self, who: Address) -> Result<SenderStatus, ChainError> {
        let tb = self.ticket_broker();
        let info = tb
            .getSenderInfo(who)
            .call()
            .await
            .map_err(|e| ChainError::call("getSenderInfo", e))?;
        let withdraw_round = u64_of(info.sender.withdrawRound);
        let mut claimable = Vec::new();
        for member in self.pool().await?.into_iter().filter(|m| m.active) {
            let c = tb
                .claimableReserve(who, member.address)
                .call()
                .await
                .map_err(|e| ChainError::call("claimableReserve", e))?;
            claimable.push((member.address, Wei::from_base_units(c)));
        }
        Ok(SenderStatus {
            address: who,
            deposit: Wei::from_base_units(info.sender.deposit),
            reserve: Wei::from_base_units(info.reserve.fundsRemaining),
            claimed_this_round: Wei::from_base_units(info.reserve.claimedInCurrentRound),
            withdraw_round: (withdraw_round > 0).then_some(Round(withdraw_round)),
            claimable,
        })
    }
}
