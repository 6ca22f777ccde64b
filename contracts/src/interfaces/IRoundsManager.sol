// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice RoundsManager as Livepeer's clients and contracts call it.
interface IRoundsManager {
    event NewRound(uint256 indexed round, bytes32 blockHash);

    function initializeRound() external;

    function lipUpgradeRound(uint256 _lip) external view returns (uint256);

    function blockNum() external view returns (uint256);

    function blockHash(uint256 _block) external view returns (bytes32);

    function blockHashForRound(uint256 _round) external view returns (bytes32);

    function currentRound() external view returns (uint256);

    function currentRoundStartBlock() external view returns (uint256);

    function currentRoundInitialized() external view returns (bool);

    function currentRoundLocked() external view returns (bool);
}
