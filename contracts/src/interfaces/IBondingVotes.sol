// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The checkpoint calls BondingManager makes into BondingVotes (voting power by
/// round). BondingVotes itself comes with governance; until a contract is registered as
/// "BondingVotes" in the Controller, BondingManager skips these calls.
interface IBondingVotes {
    function checkpointBondingState(
        address _account,
        uint256 _startRound,
        uint256 _bondedAmount,
        address _delegateAddress,
        uint256 _delegatedAmount,
        uint256 _lastClaimRound,
        uint256 _lastRewardRound
    ) external;

    function checkpointTotalActiveStake(uint256 _totalStake, uint256 _round) external;
}
