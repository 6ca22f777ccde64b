// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ManagerProxyTarget} from "../ManagerProxyTarget.sol";
import {Manager} from "../Manager.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";
import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {MathUtils} from "../libraries/MathUtils.sol";

/// @title RoundsManager
/// @notice Protocol time. A round is `roundLength` blocks; round N must be initialized once
/// (by anyone) before bonding and rewards work in it. Initialization records the previous
/// block's hash (tickets echo it), rolls the total active stake and sets the round's
/// mintable tokens, in that order.
/// @dev Runs behind a ManagerProxy. Storage after the proxy's two slots:
///   slot 2  RoundState (packed: roundLength, lastRoundLengthUpdateRound,
///           lastRoundLengthUpdateStartBlock, lastInitializedRound; uint64 each)
///   slot 3  roundLockAmount
///   slot 4  _blockHashForRound  (round => hash)
///   slot 5  lipUpgradeRound     (lip => round)
/// The four round fields share one slot because every protocol call reads them together.
contract RoundsManager is ManagerProxyTarget, IRoundsManager {
    struct RoundState {
        uint64 roundLength;
        uint64 lastRoundLengthUpdateRound;
        uint64 lastRoundLengthUpdateStartBlock;
        uint64 lastInitializedRound;
    }

    bytes32 private constant BONDING_MANAGER = keccak256("BondingManager");
    bytes32 private constant MINTER = keccak256("Minter");

    RoundState private state;
    /// @notice Share of a round (1e6 = 100%) at its end during which transcoders can't
    /// change their reward cut and fee share.
    uint256 public roundLockAmount;
    mapping(uint256 => bytes32) private _blockHashForRound;
    /// @notice Round at which a LIP took effect (historical; nothing reads it).
    mapping(uint256 => uint256) public lipUpgradeRound;

    constructor(address _controller) Manager(_controller) {}

    /// @notice Sets the round length in blocks. The first call aligns rounds to multiples
    /// of the length from block 0; later calls keep the current round's number and start
    /// block and apply the new length from there.
    function setRoundLength(uint256 _roundLength) external onlyControllerOwner {
        require(_roundLength > 0, "round length cannot be 0");
        RoundState memory s = state;
        uint64 length = SafeCast.toUint64(_roundLength);
        if (s.roundLength == 0) {
            s.roundLength = length;
            (uint256 round, uint256 startBlock) = _currentRoundAndStart(s);
            s.lastRoundLengthUpdateRound = SafeCast.toUint64(round);
            s.lastRoundLengthUpdateStartBlock = SafeCast.toUint64(startBlock);
        } else {
            (uint256 round, uint256 startBlock) = _currentRoundAndStart(s);
            s.lastRoundLengthUpdateRound = SafeCast.toUint64(round);
            s.lastRoundLengthUpdateStartBlock = SafeCast.toUint64(startBlock);
            s.roundLength = length;
        }
        state = s;
        emit ParameterUpdate("roundLength");
    }

    function setRoundLockAmount(uint256 _roundLockAmount) external onlyControllerOwner {
        require(MathUtils.validPerc(_roundLockAmount), "round lock amount must be a valid percentage");
        roundLockAmount = _roundLockAmount;
        emit ParameterUpdate("roundLockAmount");
    }

    function setLIPUpgradeRound(uint256 _lip, uint256 _round) external onlyControllerOwner {
        require(lipUpgradeRound[_lip] == 0, "LIP upgrade round already set");
        lipUpgradeRound[_lip] = _round;
        emit ParameterUpdate("lipUpgradeRound");
    }

    /// @notice Starts the current round: anyone may call it, once per round. Rounds that
    /// nobody initializes are skipped: they mint nothing and don't move inflation.
    function initializeRound() external whenSystemNotPaused {
        RoundState memory s = state;
        (uint256 round,) = _currentRoundAndStart(s);
        require(s.lastInitializedRound < round, "round already initialized");
        state.lastInitializedRound = SafeCast.toUint64(round);

        bytes32 roundBlockHash = blockHash(blockNum() - 1);
        _blockHashForRound[round] = roundBlockHash;
        // The Minter computes the bonding rate from the active stake rolled just before.
        IBondingManager(controller.getContract(BONDING_MANAGER)).setCurrentRoundTotalActiveStake();
        IMinter(controller.getContract(MINTER)).setCurrentRewardTokens();

        emit NewRound(round, roundBlockHash);
    }

    function roundLength() external view returns (uint256) {
        return state.roundLength;
    }

    function lastInitializedRound() external view returns (uint256) {
        return state.lastInitializedRound;
    }

    function lastRoundLengthUpdateRound() external view returns (uint256) {
        return state.lastRoundLengthUpdateRound;
    }

    function lastRoundLengthUpdateStartBlock() external view returns (uint256) {
        return state.lastRoundLengthUpdateStartBlock;
    }

    /// @notice The block number rounds are counted in (on Arbitrum: the L1 block number).
    function blockNum() public view virtual returns (uint256) {
        return block.number;
    }

    function blockHash(uint256 _block) public view returns (bytes32) {
        uint256 currentBlock = blockNum();
        require(_block < currentBlock, "can only retrieve past block hashes");
        require(currentBlock < 256 || _block >= currentBlock - 256, "can only retrieve hashes for last 256 blocks");
        return blockhash(_block);
    }

    /// @notice Hash of the block before the one that initialized `_round`; 0 if the round
    /// was never initialized.
    function blockHashForRound(uint256 _round) external view returns (bytes32) {
        return _blockHashForRound[_round];
    }

    function currentRound() public view returns (uint256 round) {
        (round,) = _currentRoundAndStart(state);
    }

    function currentRoundStartBlock() public view returns (uint256 startBlock) {
        (, startBlock) = _currentRoundAndStart(state);
    }

    function currentRoundInitialized() external view returns (bool) {
        RoundState memory s = state;
        (uint256 round,) = _currentRoundAndStart(s);
        return s.lastInitializedRound == round;
    }

    /// @notice True during the last `roundLockAmount` share of the round.
    function currentRoundLocked() external view returns (bool) {
        RoundState memory s = state;
        (, uint256 startBlock) = _currentRoundAndStart(s);
        uint256 lockedBlocks = MathUtils.percOf(s.roundLength, roundLockAmount);
        return blockNum() - startBlock >= s.roundLength - lockedBlocks;
    }

    function _currentRoundAndStart(RoundState memory s) private view returns (uint256 round, uint256 startBlock) {
        // Rounds don't exist before setRoundLength.
        require(s.roundLength > 0, "round length is not set");
        uint256 roundsSinceUpdate = (blockNum() - s.lastRoundLengthUpdateStartBlock) / s.roundLength;
        round = s.lastRoundLengthUpdateRound + roundsSinceUpdate;
        startBlock = s.lastRoundLengthUpdateStartBlock + roundsSinceUpdate * s.roundLength;
    }
}
