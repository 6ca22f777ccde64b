// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5805} from "@openzeppelin/contracts/interfaces/IERC5805.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ManagerProxyTarget} from "../ManagerProxyTarget.sol";
import {Manager} from "../Manager.sol";
import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IBondingVotes} from "../interfaces/IBondingVotes.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";
import {PreciseMathUtils} from "../libraries/PreciseMathUtils.sol";

/// @title BondingVotes
/// @notice Voting power by round (ERC-5805 / ERC-6372 with the round as clock). BondingManager
/// writes a checkpoint of an account's bonding state on every change, and the total active
/// stake when a round is initialized; the governor reads them back at a proposal's snapshot.
/// "At the end of round r" means the state at the start of round r + 1, so a checkpoint written
/// during round r takes effect at r + 1 and past votes never move.
///
/// Voting power:
///   - an orchestrator (registered transcoder) that is in the transcoder pool, i.e. in the
///     active set of the round the checkpoint starts, has its delegated stake;
///   - a delegator of such an orchestrator has its bonded stake grown by the orchestrator's
///     reward factors since its last claim (rewards only, fees are ETH);
///   - everyone else has none.
/// @dev Deliberate difference from Livepeer's BondingVotes: there any registered transcoder
/// (and its delegators) votes, also outside the active set, while quorum is a share of the
/// active stake only, so votes could exceed the supply the quorum is measured on. Here only
/// active stake votes, and the ERC-5805 expectation "sum of past votes <= past total supply"
/// holds. The check needs one flag, taken from BondingManager at each checkpoint
/// (`isInTranscoderPool`); BondingManager checkpoints every change of pool membership,
/// evictions included.
///
/// Runs behind a ManagerProxy. Storage after the proxy's two slots:
///   slot 2  checkpoints        (account => Checkpoint[], ascending startRound)
///   slot 3  totalActiveStake   (Checkpoints.Trace208: round => total active stake)
/// Rounds are stored as uint32 so that a checkpoint fits two slots (2^32 rounds outlast any
/// chain); amounts as uint128.
contract BondingVotes is ManagerProxyTarget, IBondingVotes, IERC5805 {
    using Checkpoints for Checkpoints.Trace208;

    /// @dev An account's bonding state from `startRound` on, as voting needs it.
    struct Checkpoint {
        uint128 bondedAmount;
        // Delegated stake if the account is an orchestrator in the next active set, else 0.
        uint128 orchestratorVotes;
        address delegateAddress;
        uint32 startRound;
        uint32 lastClaimRound;
        uint32 lastRewardRound;
    }

    error InvalidCaller(address caller, address required);
    error InvalidStartRound(uint256 checkpointRound, uint256 requiredRound);
    error FutureLastClaimRound(uint256 lastClaimRound, uint256 maxAllowed);
    error InvalidTotalStakeCheckpointRound(uint256 checkpointRound, uint256 requiredRound);
    error FutureLookup(uint256 queryRound, uint256 maxAllowed);
    error MissingEarningsPool(address transcoder, uint256 round);
    error DecreasingValues(uint256 newValue, uint256 lastPushed);
    /// Voting power follows bonding: there is nothing to delegate here.
    error MustCallBondingManager(string bondingManagerFunction);

    /// @notice A delegator's checkpointed bond changed (its votes follow it, plus rewards).
    event DelegatorBondedAmountChanged(
        address indexed delegate,
        uint256 previousBondedAmount,
        uint256 previousLastClaimRound,
        uint256 newBondedAmount,
        uint256 newLastClaimRound
    );

    uint256 private constant PRECISE_ONE = 1e27;
    bytes32 private constant BONDING_MANAGER = keccak256("BondingManager");
    bytes32 private constant ROUNDS_MANAGER = keccak256("RoundsManager");

    mapping(address => Checkpoint[]) private checkpoints;
    Checkpoints.Trace208 private totalActiveStake;

    constructor(address _controller) Manager(_controller) {}

    // ------------------------------------------------------------------ ERC-20-like metadata

    function name() external pure returns (string memory) {
        return "Livepeer Voting Power";
    }

    function symbol() external pure returns (string memory) {
        return "vLPT";
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    // ------------------------------------------------------------------ ERC-6372

    /// @notice The current round.
    function clock() public view returns (uint48) {
        return SafeCast.toUint48(_roundsManager().currentRound());
    }

    // forge-lint: disable-next-line(mixed-case-function) -- the ERC-6372 name
    function CLOCK_MODE() external pure returns (string memory) {
        return "mode=livepeer_round";
    }

    // ------------------------------------------------------------------ checkpoints (BondingManager)

    /// @notice Records `_account`'s bonding state from `_startRound` (the next round) on.
    /// A second call in the same round overwrites the first.
    function checkpointBondingState(
        address _account,
        uint256 _startRound,
        uint256 _bondedAmount,
        address _delegateAddress,
        uint256 _delegatedAmount,
        uint256 _lastClaimRound,
        uint256 _lastRewardRound
    ) external {
        IBondingManager bm = _onlyBondingManager();
        uint256 nextRound = uint256(clock()) + 1;
        if (_startRound != nextRound) revert InvalidStartRound(_startRound, nextRound);
        if (_lastClaimRound >= _startRound) revert FutureLastClaimRound(_lastClaimRound, _startRound - 1);

        bool isOrchestrator = _delegateAddress == _account && _bondedAmount > 0;
        uint256 votes = isOrchestrator && bm.isInTranscoderPool(_account) ? _delegatedAmount : 0;
        Checkpoint memory current = Checkpoint({
            bondedAmount: SafeCast.toUint128(_bondedAmount),
            orchestratorVotes: SafeCast.toUint128(votes),
            delegateAddress: _delegateAddress,
            startRound: SafeCast.toUint32(_startRound),
            lastClaimRound: SafeCast.toUint32(_lastClaimRound),
            lastRewardRound: SafeCast.toUint32(_lastRewardRound)
        });

        Checkpoint[] storage list = checkpoints[_account];
        uint256 n = list.length;
        Checkpoint memory previous;
        if (n > 0) {
            previous = list[n - 1];
            if (previous.startRound > _startRound) revert DecreasingValues(_startRound, previous.startRound);
        }
        if (n > 0 && previous.startRound == _startRound) list[n - 1] = current;
        else list.push(current);

        _emitChanges(_account, previous, current);
    }

    /// @notice Records the total active stake of `_round`, the current round, when it is
    /// initialized.
    function checkpointTotalActiveStake(uint256 _totalStake, uint256 _round) external {
        _onlyBondingManager();
        uint256 round = clock();
        if (_round != round) revert InvalidTotalStakeCheckpointRound(_round, round);
        totalActiveStake.push(SafeCast.toUint48(_round), SafeCast.toUint208(_totalStake));
    }

    // ------------------------------------------------------------------ ERC-5805 votes

    /// @notice Votes at the end of the current round (the state the next round starts with).
    function getVotes(address _account) external view returns (uint256 votes) {
        (votes,) = _votesAndDelegateAt(_account, uint256(clock()) + 1);
    }

    /// @notice Votes at the end of round `_round`, a past round.
    function getPastVotes(address _account, uint256 _round) external view returns (uint256 votes) {
        _requirePast(_round);
        (votes,) = _votesAndDelegateAt(_account, _round + 1);
    }

    /// @notice Total active stake at the end of the current round.
    function totalSupply() external view returns (uint256) {
        return getTotalActiveStakeAt(uint256(clock()) + 1);
    }

    /// @notice Total active stake at the end of round `_round`, a past round: the stake that
    /// votes at a proposal snapshotted then.
    function getPastTotalSupply(uint256 _round) external view returns (uint256) {
        _requirePast(_round);
        return getTotalActiveStakeAt(_round + 1);
    }

    /// @notice The account's delegate at the end of the current round.
    function delegates(address _account) external view returns (address) {
        return _checkpointAt(_account, uint256(clock()) + 1).delegateAddress;
    }

    /// @notice The account's delegate at the end of round `_round`.
    function delegatedAt(address _account, uint256 _round) external view returns (address) {
        _requireNotFuture(_round + 1);
        return _checkpointAt(_account, _round + 1).delegateAddress;
    }

    function delegate(address) external pure {
        revert MustCallBondingManager("bond");
    }

    function delegateBySig(address, uint256, uint256, uint8, bytes32, bytes32) external pure {
        revert MustCallBondingManager("bondFor");
    }

    // ------------------------------------------------------------------ lookups

    function hasCheckpoint(address _account) external view returns (bool) {
        return checkpoints[_account].length > 0;
    }

    /// @notice Votes and delegate of `_account` at the start of round `_round`.
    function getVotesAndDelegateAtRoundStart(address _account, uint256 _round)
        public
        view
        returns (uint256 votes, address delegateAddress)
    {
        _requireNotFuture(_round);
        return _votesAndDelegateAt(_account, _round);
    }

    /// @notice Same as getVotesAndDelegateAtRoundStart (Livepeer's name for it).
    function getBondingStateAt(address _account, uint256 _round)
        external
        view
        returns (uint256 amount, address delegateAddress)
    {
        return getVotesAndDelegateAtRoundStart(_account, _round);
    }

    /// @notice Total active stake of round `_round`. A round never initialized has the stake
    /// the next initialized round rolled over (nothing can change it in between); a round
    /// past the last initialized one has the pending total.
    function getTotalActiveStakeAt(uint256 _round) public view returns (uint256) {
        _requireNotFuture(_round);
        uint256 n = totalActiveStake.length();
        if (n == 0 || _round < totalActiveStake.at(0)._key) return 0;
        if (_round > totalActiveStake.at(SafeCast.toUint32(n - 1))._key) {
            return IBondingManager(_getContract(BONDING_MANAGER)).nextRoundTotalActiveStake();
        }
        return totalActiveStake.lowerLookup(SafeCast.toUint48(_round));
    }

    // ------------------------------------------------------------------ internals

    /// @dev Callers check that `_round` is at most the next round.
    function _votesAndDelegateAt(address _account, uint256 _round)
        private
        view
        returns (uint256 votes, address delegateAddress)
    {
        Checkpoint memory c = _checkpointAt(_account, _round);
        delegateAddress = c.delegateAddress;
        if (c.bondedAmount == 0) return (0, delegateAddress);
        if (delegateAddress == _account) return (c.orchestratorVotes, delegateAddress);
        return (_delegatorVotes(c, _round), delegateAddress);
    }

    /// @dev A delegator's votes: its bond grown by its delegate's reward factors from its
    /// last claim to the delegate's last reward as of `_round`, provided the delegate is an
    /// orchestrator in the active set then. Virtual so that a test can put back the
    /// pre-audit rule (Code4rena 2023-08, fix #625) for a proof of concept.
    function _delegatorVotes(Checkpoint memory _bond, uint256 _round) internal view virtual returns (uint256) {
        address orchestrator = _bond.delegateAddress;
        Checkpoint memory o = _checkpointAt(orchestrator, _round);
        if (o.delegateAddress != orchestrator || o.bondedAmount == 0 || o.orchestratorVotes == 0) return 0;
        return _stakeWithRewards(_bond, o.lastRewardRound);
    }

    /// @dev `_bond`'s bonded amount times CRF(last reward) / CRF(last claim), with the
    /// rounding of BondingManager's pending stake.
    function _stakeWithRewards(Checkpoint memory _bond, uint256 _lastRewardRound) internal view returns (uint256) {
        uint256 lastClaimRound = _bond.lastClaimRound;
        if (_lastRewardRound < lastClaimRound) return _bond.bondedAmount;
        IBondingManager bm = IBondingManager(_getContract(BONDING_MANAGER));
        address orchestrator = _bond.delegateAddress;
        (,,, uint256 endCRF,) = bm.getTranscoderEarningsPoolForRound(orchestrator, _lastRewardRound);
        if (_lastRewardRound > 0 && endCRF == 0) revert MissingEarningsPool(orchestrator, _lastRewardRound);
        if (endCRF == 0) endCRF = PRECISE_ONE;
        (,,, uint256 startCRF,) = bm.getTranscoderEarningsPoolForRound(orchestrator, lastClaimRound);
        if (startCRF == 0) startCRF = PRECISE_ONE;
        return PreciseMathUtils.percOf(_bond.bondedAmount, endCRF, startCRF);
    }

    /// @dev The checkpoint in effect at the start of `_round`: the last one starting at or
    /// before it, or an empty one.
    function _checkpointAt(address _account, uint256 _round) internal view returns (Checkpoint memory c) {
        Checkpoint[] storage list = checkpoints[_account];
        // Binary search for the first checkpoint starting after `_round`.
        uint256 low = 0;
        uint256 high = list.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (list[mid].startRound > _round) high = mid;
            else low = mid + 1;
        }
        if (high > 0) c = list[high - 1];
    }

    function _emitChanges(address _account, Checkpoint memory _previous, Checkpoint memory _current) private {
        if (_previous.delegateAddress != _current.delegateAddress) {
            emit DelegateChanged(_account, _previous.delegateAddress, _current.delegateAddress);
        }
        if (_previous.orchestratorVotes != _current.orchestratorVotes) {
            emit DelegateVotesChanged(_account, _previous.orchestratorVotes, _current.orchestratorVotes);
        }
        if (_previous.bondedAmount != _current.bondedAmount || _previous.lastClaimRound != _current.lastClaimRound) {
            emit DelegatorBondedAmountChanged(
                _account,
                _previous.bondedAmount,
                _previous.lastClaimRound,
                _current.bondedAmount,
                _current.lastClaimRound
            );
        }
    }

    function _requireNotFuture(uint256 _round) private view {
        uint256 maxRound = uint256(clock()) + 1;
        if (_round > maxRound) revert FutureLookup(_round, maxRound);
    }

    function _requirePast(uint256 _round) private view {
        uint256 round = clock();
        if (_round >= round) revert FutureLookup(_round, round == 0 ? 0 : round - 1);
    }

    function _onlyBondingManager() private view returns (IBondingManager) {
        address bm = _getContract(BONDING_MANAGER);
        if (msg.sender != bm) revert InvalidCaller(msg.sender, bm);
        return IBondingManager(bm);
    }

    function _roundsManager() private view returns (IRoundsManager) {
        return IRoundsManager(_getContract(ROUNDS_MANAGER));
    }

    function _getContract(bytes32 _id) private view returns (address) {
        return controller.getContract(_id);
    }
}
