// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MathUtils} from "../libraries/MathUtils.sol";

/// @title GovernorCountingOverridable
/// @notice Governor Bravo style counting (Against, For, Abstain) in which a delegator can
/// override its orchestrator's vote. An orchestrator votes with all the stake delegated to
/// it; a delegator who votes takes its own weight out of its orchestrator's vote: out of
/// the bucket the orchestrator chose if it voted already, out of its weight when it votes
/// later. Quorum counts all three buckets; a proposal passes when For is at least `quota`
/// (1e6 = 100%) of For + Against, so a tie passes at 50%.
/// @dev Override rule (Livepeer's, with the Code4rena 2023-08 H-02 fix, PR #626): with
/// `delegate` = the voter's delegate at the snapshot,
///   - a self-delegated voter (an orchestrator) votes its weight minus what its delegators
///     who voted already took out;
///   - a voter whose delegate is not self-delegated overrides nothing: that delegate's votes
///     never contained the voter's weight, so nothing may be subtracted from it;
///   - otherwise the voter's weight is taken out of its orchestrator's bucket (if it voted)
///     and future vote, and counted for the voter's own choice.
abstract contract GovernorCountingOverridable is Governor {
    enum VoteType {
        Against,
        For,
        Abstain
    }

    struct ProposalVoterState {
        bool hasVoted;
        VoteType support;
        // Weight of the delegators who voted themselves, taken out of this voter's vote.
        uint240 deductions;
    }

    struct ProposalTally {
        uint256 againstVotes;
        uint256 forVotes;
        uint256 abstainVotes;
        mapping(address => ProposalVoterState) voters;
    }

    error InvalidVoteType(uint8 voteType);
    error VoteAlreadyCast();
    error InvalidQuota(uint256 quota);

    uint256 private immutable quota_;
    mapping(uint256 => ProposalTally) private tallies;

    /// @param _quota share of For + Against that For needs (1e6 = 100%); it can never change.
    constructor(uint256 _quota) {
        if (!MathUtils.validPerc(_quota)) revert InvalidQuota(_quota);
        quota_ = _quota;
    }

    /// @notice Share of For + Against that For needs to pass a proposal (1e6 = 100%).
    function quota() public view returns (uint256) {
        return quota_;
    }

    // solhint-disable-next-line func-name-mixedcase
    // forge-lint: disable-next-line(mixed-case-function) -- the IGovernor name
    function COUNTING_MODE() public pure virtual override returns (string memory) {
        return "support=bravo&quorum=for,abstain,against";
    }

    function hasVoted(uint256 _proposalId, address _account) public view virtual override returns (bool) {
        return tallies[_proposalId].voters[_account].hasVoted;
    }

    function proposalVotes(uint256 _proposalId)
        public
        view
        returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes)
    {
        ProposalTally storage t = tallies[_proposalId];
        return (t.againstVotes, t.forVotes, t.abstainVotes);
    }

    function _quorumReached(uint256 _proposalId) internal view virtual override returns (bool) {
        ProposalTally storage t = tallies[_proposalId];
        return quorum(proposalSnapshot(_proposalId)) <= t.againstVotes + t.forVotes + t.abstainVotes;
    }

    function _voteSucceeded(uint256 _proposalId) internal view virtual override returns (bool) {
        ProposalTally storage t = tallies[_proposalId];
        uint256 forVotes = t.forVotes;
        return forVotes >= MathUtils.percOf(forVotes + t.againstVotes, quota_);
    }

    /// @dev Returns the weight counted for the voter's choice.
    function _countVote(uint256 _proposalId, address _account, uint8 _support, uint256 _totalWeight, bytes memory)
        internal
        virtual
        override
        returns (uint256)
    {
        if (_support > uint8(VoteType.Abstain)) revert InvalidVoteType(_support);
        ProposalTally storage tally = tallies[_proposalId];
        ProposalVoterState storage voter = tally.voters[_account];
        if (voter.hasVoted) revert VoteAlreadyCast();
        voter.hasVoted = true;
        voter.support = VoteType(_support);

        uint256 weight = _handleVoteOverrides(_proposalId, tally, voter, _account, _totalWeight);
        _addVotes(tally, VoteType(_support), weight);
        return weight;
    }

    /// @dev Applies the override rule (see the contract's notes) and returns the weight the
    /// voter counts with. Virtual so that a test can put back the pre-audit rule (H-02) for a
    /// proof of concept.
    function _handleVoteOverrides(
        uint256 _proposalId,
        ProposalTally storage _tally,
        ProposalVoterState storage _voter,
        address _account,
        uint256 _weight
    ) internal virtual returns (uint256) {
        uint256 snapshot = proposalSnapshot(_proposalId);
        address delegate = _delegatedAt(_account, snapshot);
        if (delegate == _account) return _weight - _voter.deductions;
        if (delegate == address(0) || _delegatedAt(delegate, snapshot) != delegate) return _weight;
        _overrideDelegateVote(_tally, delegate, _weight);
        return _weight;
    }

    /// @dev Takes `_weight` out of the delegate's vote, cast or to come.
    function _overrideDelegateVote(ProposalTally storage _tally, address _delegate, uint256 _weight) internal {
        ProposalVoterState storage delegateVoter = _tally.voters[_delegate];
        delegateVoter.deductions += SafeCast.toUint240(_weight);
        if (delegateVoter.hasVoted) {
            VoteType support = delegateVoter.support;
            if (support == VoteType.Against) _tally.againstVotes -= _weight;
            else if (support == VoteType.For) _tally.forVotes -= _weight;
            else _tally.abstainVotes -= _weight;
        }
    }

    /// @dev The account's delegate at the end of round `_timepoint`.
    function _delegatedAt(address _account, uint256 _timepoint) internal view virtual returns (address);

    function _addVotes(ProposalTally storage _tally, VoteType _support, uint256 _weight) private {
        if (_support == VoteType.Against) _tally.againstVotes += _weight;
        else if (_support == VoteType.For) _tally.forVotes += _weight;
        else _tally.abstainVotes += _weight;
    }
}
