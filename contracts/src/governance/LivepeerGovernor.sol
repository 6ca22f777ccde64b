// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5805} from "@openzeppelin/contracts/interfaces/IERC5805.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {
    GovernorVotesQuorumFraction
} from "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {GovernorCountingOverridable} from "./GovernorCountingOverridable.sol";

interface IDelegatedAt {
    function delegatedAt(address _account, uint256 _round) external view returns (address);
}

/// @title LivepeerGovernor
/// @notice Stake-weighted governance of the protocol: proposals are voted with the voting
/// power of BondingVotes (active stake, clock = round) and executed by the Treasury timelock,
/// which owns the Controller. So parameter changes, upgrades (registering a new
/// `<Name>Target`) and treasury payouts are all proposals.
///
/// Timing in rounds: a proposal made in round c is snapshotted at the end of round
/// c + votingDelay and open for votes until the end of round snapshot + votingPeriod. It
/// needs the proposer to hold `proposalThreshold` votes at the end of the previous round,
/// quorum = quorumNumerator / 1e6 of the active stake at the snapshot (For, Against and
/// Abstain all count), and For >= quota × (For + Against). Then queue (schedule on the
/// Treasury) and execute.
/// @dev OpenZeppelin 5 Governor with Settings, TimelockControl, Votes, QuorumFraction and our
/// GovernorCountingOverridable. Differences from Livepeer's deployment, which uses
/// OpenZeppelin 4.9 behind a ManagerProxy: not proxied (its settings and quorum change by
/// proposal; a replacement governor is installed by a proposal granting it the Treasury's
/// roles); the votes contract is fixed at construction (BondingVotes is proxied, so its address
/// never changes, and there is no bumpGovernorVotesTokenAddress); OpenZeppelin 5's function set
/// (e.g. castVoteBySig takes a signature, not v, r, s). The quota is immutable, as in Livepeer's.
contract LivepeerGovernor is
    Governor,
    GovernorSettings,
    GovernorTimelockControl,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorCountingOverridable
{
    /// @param _bondingVotes the BondingVotes proxy
    /// @param _treasury the Treasury timelock (grant this governor its roles afterwards)
    /// @param _votingDelay rounds from proposal to snapshot (Livepeer: 1)
    /// @param _votingPeriod rounds of voting after the snapshot (Livepeer: 10)
    /// @param _proposalThreshold votes a proposer needs, LPT wei (Livepeer: 100e18)
    /// @param _quorumNumerator quorum, 1e6 = 100% of active stake (Livepeer: 333300)
    /// @param _quota share of For + Against needed to pass, 1e6 = 100% (Livepeer: 500000)
    constructor(
        IVotes _bondingVotes,
        TimelockController _treasury,
        uint48 _votingDelay,
        uint32 _votingPeriod,
        uint256 _proposalThreshold,
        uint256 _quorumNumerator,
        uint256 _quota
    )
        Governor("LivepeerGovernor")
        GovernorSettings(_votingDelay, _votingPeriod, _proposalThreshold)
        GovernorTimelockControl(_treasury)
        GovernorVotes(_bondingVotes)
        GovernorVotesQuorumFraction(_quorumNumerator)
        GovernorCountingOverridable(_quota)
    {}

    /// @notice The current round. Unlike GovernorVotes, never falls back to block numbers: a
    /// broken votes contract must stop governance, not silently switch its clock.
    function clock() public view override(Governor, GovernorVotes) returns (uint48) {
        return token().clock();
    }

    // solhint-disable-next-line func-name-mixedcase
    // forge-lint: disable-next-line(mixed-case-function) -- the ERC-6372 name
    function CLOCK_MODE() public view override(Governor, GovernorVotes) returns (string memory) {
        return token().CLOCK_MODE();
    }

    /// @notice Quorum and quota share Livepeer's 1e6 = 100% precision.
    function quorumDenominator() public pure override returns (uint256) {
        return 1_000_000;
    }

    function _delegatedAt(address _account, uint256 _timepoint) internal view override returns (address) {
        return IDelegatedAt(address(token())).delegatedAt(_account, _timepoint);
    }

    // ------------------------------------------------------------------ overrides Solidity requires

    function state(uint256 _proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (ProposalState)
    {
        return super.state(_proposalId);
    }

    function proposalNeedsQueuing(uint256 _proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (bool)
    {
        return super.proposalNeedsQueuing(_proposalId);
    }

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function _queueOperations(
        uint256 _proposalId,
        address[] memory _targets,
        uint256[] memory _values,
        bytes[] memory _calldatas,
        bytes32 _descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(_proposalId, _targets, _values, _calldatas, _descriptionHash);
    }

    function _executeOperations(
        uint256 _proposalId,
        address[] memory _targets,
        uint256[] memory _values,
        bytes[] memory _calldatas,
        bytes32 _descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(_proposalId, _targets, _values, _calldatas, _descriptionHash);
    }

    function _cancel(
        address[] memory _targets,
        uint256[] memory _values,
        bytes[] memory _calldatas,
        bytes32 _descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(_targets, _values, _calldatas, _descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}
