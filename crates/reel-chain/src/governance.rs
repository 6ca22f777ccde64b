//! Stake-weighted governance: proposals to the LivepeerGovernor, votes, queue and execute.
//! The Treasury timelock owns the Controller, so a passed proposal is the only way to change
//! a parameter, upgrade a contract or pay out of the treasury.

use crate::{ChainError, Protocol, TxOutcome};
use alloy::{
    primitives::{Address, B256, Bytes, FixedBytes, U256, keccak256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::{SolCall, SolEvent},
};
use reel_contracts::{
    bindings::{Controller, LivepeerToken},
    livepeer::{IBondingManager, ILivepeerGovernor, IMinter, IRoundsManager},
};
use reel_types::{Lpt, Ppm};
use std::fmt;

/// The calls a proposal makes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalActions {
    pub targets: Vec<Address>,
    pub values: Vec<U256>,
    pub calldatas: Vec<Bytes>,
}

/// A named change for `reel gov propose`, turned into calldata here so that a voter can
/// read what a proposal does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParameterChange {
    InflationChange(u64),
    TargetBondingRate(u64),
    UnbondingPeriod(u64),
    RoundLength(u64),
    /// Share of rewards for the treasury, as a percentage.
    TreasuryRewardCut(Ppm),
    /// Pay LPT out of the treasury.
    TreasuryTransfer {
        to: Address,
        amount: Lpt,
    },
    /// Point `<contract>Target` at new code: an upgrade of a proxied contract.
    Upgrade {
        contract: String,
        target: Address,
    },
    /// Any call.
    Raw {
        target: Address,
        value: U256,
        calldata: Bytes,
    },
}

/// `IGovernor.ProposalState`, in the contract's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalState {
    Pending,
    Active,
    Canceled,
    Defeated,
    Succeeded,
    Queued,
    Expired,
    Executed,
}

impl ProposalState {
    fn from_u8(v: u8) -> Option<Self> {
        use ProposalState::*;
        [
            Pending, Active, Canceled, Defeated, Succeeded, Queued, Expired, Executed,
        ]
        .get(usize::from(v))
        .copied()
    }
}

impl fmt::Display for ProposalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// How a vote is cast (Bravo numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Against = 0,
    For = 1,
    Abstain = 2,
}

/// A proposal as the chain records it, with its tallies.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub id: U256,
    pub proposer: Address,
    pub description: String,
    pub actions: ProposalActions,
    pub state: ProposalState,
    /// Round whose end is the vote snapshot; voting runs until `deadline`.
    pub snapshot: u64,
    pub deadline: u64,
    pub for_votes: Lpt,
    pub against_votes: Lpt,
    pub abstain_votes: Lpt,
    /// Votes (of any kind) needed; known once the snapshot round has ended.
    pub quorum: Option<Lpt>,
    /// Share of For among For + Against needed.
    pub quota: Ppm,
}

fn u64_of(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

impl Protocol {
    pub fn governor(
        &self,
    ) -> ILivepeerGovernor::ILivepeerGovernorInstance<&alloy::providers::DynProvider> {
        ILivepeerGovernor::new(self.contracts().governor, self.provider())
    }

    /// The calls that make `change`.
    pub fn actions_for(&self, change: &ParameterChange) -> ProposalActions {
        let c = self.contracts();
        let one = |target: Address, calldata: Vec<u8>| ProposalActions {
            targets: vec![target],
            values: vec![U256::ZERO],
            calldatas: vec![Bytes::from(calldata)],
        };
        match change {
            ParameterChange::InflationChange(v) => one(
                c.minter,
                IMinter::setInflationChangeCall {
                    _inflationChange: U256::from(*v),
                }
                .abi_encode(),
            ),
            ParameterChange::TargetBondingRate(v) => one(
                c.minter,
                IMinter::setTargetBondingRateCall {
                    _targetBondingRate: U256::from(*v),
                }
                .abi_encode(),
            ),
            ParameterChange::UnbondingPeriod(v) => one(
                c.bonding_manager,
                IBondingManager::setUnbondingPeriodCall {
                    _unbondingPeriod: *v,
                }
                .abi_encode(),
            ),
            ParameterChange::RoundLength(v) => one(
                c.rounds_manager,
                IRoundsManager::setRoundLengthCall {
                    _roundLength: U256::from(*v),
                }
                .abi_encode(),
            ),
            ParameterChange::TreasuryRewardCut(p) => {
                // percentage in millionths -> 1e27 precision
                // ≤ 1e6 × 1e21: far inside U256, saturation never triggers.
                let rate = U256::from(p.millionths())
                    .saturating_mul(U256::from(10u64).pow(U256::from(21u64)));
                one(
                    c.bonding_manager,
                    IBondingManager::setTreasuryRewardCutRateCall { _cutRate: rate }.abi_encode(),
                )
            }
            ParameterChange::TreasuryTransfer { to, amount } => one(
                c.livepeer_token,
                LivepeerToken::transferCall {
                    to: *to,
                    value: amount.base_units(),
                }
                .abi_encode(),
            ),
            ParameterChange::Upgrade { contract, target } => {
                let id = keccak256(format!("{contract}Target"));
                one(
                    c.controller,
                    Controller::setContractInfoCall {
                        _id: id,
                        _contractAddress: *target,
                        _gitCommitHash: FixedBytes::<20>::ZERO,
                    }
                    .abi_encode(),
                )
            }
            ParameterChange::Raw {
                target,
                value,
                calldata,
            } => ProposalActions {
                targets: vec![*target],
                values: vec![*value],
                calldatas: vec![calldata.clone()],
            },
        }
    }

    /// Submits a proposal; returns its id.
    pub async fn propose(
        &self,
        actions: &ProposalActions,
        description: &str,
    ) -> Result<(U256, TxOutcome), ChainError> {
        let out = self
            .send(
                "propose",
                self.governor().propose(
                    actions.targets.clone(),
                    actions.values.clone(),
                    actions.calldatas.clone(),
                    description.to_owned(),
                ),
            )
            .await?;
        let id = out
            .event::<ILivepeerGovernor::ProposalCreated>()
            .map(|e| e.proposalId)
            .ok_or(ChainError::MissingEvent {
                action: "propose",
                event: "ProposalCreated",
            })?;
        Ok((id, out))
    }

    pub async fn vote(
        &self,
        id: U256,
        support: Support,
        reason: Option<&str>,
    ) -> Result<(Lpt, TxOutcome), ChainError> {
        let g = self.governor();
        let out = match reason {
            Some(r) => {
                self.send(
                    format!("vote {support:?} on {id}"),
                    g.castVoteWithReason(id, support as u8, r.to_owned()),
                )
                .await?
            }
            None => {
                self.send(
                    format!("vote {support:?} on {id}"),
                    g.castVote(id, support as u8),
                )
                .await?
            }
        };
        let weight = out
            .event::<ILivepeerGovernor::VoteCast>()
            .map(|e| Lpt::from_base_units(e.weight))
            .unwrap_or_default();
        Ok((weight, out))
    }

    pub async fn queue_proposal(&self, id: U256) -> Result<TxOutcome, ChainError> {
        let p = self.proposal(id).await?;
        let a = &p.actions;
        self.send(
            format!("queue proposal {id}"),
            self.governor().queue(
                a.targets.clone(),
                a.values.clone(),
                a.calldatas.clone(),
                keccak256(&p.description),
            ),
        )
        .await
    }

    pub async fn execute_proposal(&self, id: U256) -> Result<TxOutcome, ChainError> {
        let p = self.proposal(id).await?;
        let a = &p.actions;
        let value = a
            .values
            .iter()
            .fold(U256::ZERO, |acc, v| acc.saturating_add(*v));
        self.send(
            format!("execute proposal {id}"),
            self.governor()
                .execute(
                    a.targets.clone(),
                    a.values.clone(),
                    a.calldatas.clone(),
                    keccak256(&p.description),
                )
                .value(value),
        )
        .await
    }

    /// Every proposal ever created, oldest first.
    pub async fn proposals(&self) -> Result<Vec<Proposal>, ChainError> {
        let mut out = Vec::new();
        for created in self.created_events().await? {
            out.push(self.with_tallies(created).await?);
        }
        Ok(out)
    }

    pub async fn proposal(&self, id: U256) -> Result<Proposal, ChainError> {
        let created = self
            .created_events()
            .await?
            .into_iter()
            .find(|e| e.proposalId == id)
            .ok_or(ChainError::UnknownProposal { id })?;
        self.with_tallies(created).await
    }

    async fn created_events(&self) -> Result<Vec<ILivepeerGovernor::ProposalCreated>, ChainError> {
        let filter = Filter::new()
            .address(self.contracts().governor)
            .event_signature(ILivepeerGovernor::ProposalCreated::SIGNATURE_HASH)
            .from_block(0);
        let logs = self
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| ChainError::rpc("eth_getLogs", self.rpc_url(), e))?;
        Ok(logs
            .iter()
            .filter_map(|l| {
                ILivepeerGovernor::ProposalCreated::decode_log(&l.inner)
                    .ok()
                    .map(|d| d.data)
            })
            .collect())
    }

    async fn with_tallies(
        &self,
        e: ILivepeerGovernor::ProposalCreated,
    ) -> Result<Proposal, ChainError> {
        let g = self.governor();
        let id = e.proposalId;
        let call = |name| move |err| ChainError::call(name, err);
        let state = g.state(id).call().await.map_err(call("state"))?;
        let votes = g
            .proposalVotes(id)
            .call()
            .await
            .map_err(call("proposalVotes"))?;
        let snapshot = g
            .proposalSnapshot(id)
            .call()
            .await
            .map_err(call("proposalSnapshot"))?;
        let deadline = g
            .proposalDeadline(id)
            .call()
            .await
            .map_err(call("proposalDeadline"))?;
        // The quorum is a share of the stake at the snapshot, which the contract only
        // reports once the snapshot round is over.
        let clock = g.clock().call().await.map_err(call("clock"))?;
        let quorum = if u64_of(snapshot) < clock.to::<u64>() {
            Some(Lpt::from_base_units(
                g.quorum(snapshot).call().await.map_err(call("quorum"))?,
            ))
        } else {
            None
        };
        let quota = g.quota().call().await.map_err(call("quota"))?;
        Ok(Proposal {
            id,
            proposer: e.proposer,
            description: e.description,
            actions: ProposalActions {
                targets: e.targets,
                values: e.values,
                calldatas: e.calldatas,
            },
            state: ProposalState::from_u8(state)
                .ok_or(ChainError::Amount("unknown proposal state"))?,
            snapshot: u64_of(snapshot),
            deadline: u64_of(deadline),
            for_votes: Lpt::from_base_units(votes.forVotes),
            against_votes: Lpt::from_base_units(votes.againstVotes),
            abstain_votes: Lpt::from_base_units(votes.abstainVotes),
            quorum,
            quota: u32::try_from(quota)
                .ok()
                .and_then(Ppm::new)
                .unwrap_or(Ppm::ONE_HUNDRED_PERCENT),
        })
    }

    /// The signer's voting power at the end of `round` (its stake and its delegators', if an
    /// active orchestrator).
    pub async fn votes_at(&self, who: Address, round: u64) -> Result<Lpt, ChainError> {
        let v = self
            .governor()
            .getVotes(who, U256::from(round))
            .call()
            .await
            .map_err(|e| ChainError::call("getVotes", e))?;
        Ok(Lpt::from_base_units(v))
    }

    /// The registry id of a proxied contract's target, e.g. for checking an upgrade.
    pub async fn target_of(&self, contract: &str) -> Result<Address, ChainError> {
        let controller = Controller::new(self.contracts().controller, self.provider());
        let id: B256 = keccak256(format!("{contract}Target"));
        controller
            .getContract(id)
            .call()
            .await
            .map_err(|e| ChainError::call("getContract", e))
    }
}
