// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ManagerProxyTarget} from "../ManagerProxyTarget.sol";
import {Manager} from "../Manager.sol";
import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IBondingVotes} from "../interfaces/IBondingVotes.sol";
import {ILivepeerToken} from "../interfaces/ILivepeerToken.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";
import {MathUtils} from "../libraries/MathUtils.sol";
import {PreciseMathUtils} from "../libraries/PreciseMathUtils.sol";
import {SortedDoublyLL} from "../libraries/SortedDoublyLL.sol";

/// @title BondingManager
/// @notice Stake and its earnings. Delegators bond LPT to transcoders (orchestrators); a
/// self-bond registers a transcoder. The largest registered transcoders, up to
/// `numActiveTranscoders`, form the active set of the next round. Each round an active
/// transcoder calls `reward()` to mint its stake-weighted share of the round's inflation,
/// minus the treasury cut; fees arrive from the TicketBroker. Both are split by the
/// transcoder's reward cut and fee share and accrue to delegators through per-round
/// cumulative reward and fee factors (LIP-36), so claiming costs O(1) however many rounds
/// passed. All bonded LPT and fee ETH sit in the Minter.
/// @dev Runs behind a ManagerProxy. Storage after the proxy's two slots:
///   slot 2   unbondingPeriod (uint64)
///   slot 3   delegators      (address => Delegator)
///   slot 4   transcoders     (address => Transcoder)
///   slot 5   currentRoundTotalActiveStake
///   slot 6   nextRoundTotalActiveStake
///   slot 7-9 transcoderPool  (SortedDoublyLL.Data: head+size, tail+maxSize, nodes)
///   slot 10  treasuryRewardCutRate
///   slot 11  nextRoundTreasuryRewardCutRate
///   slot 12  treasuryBalanceCeiling
/// Rounds are stored as uint48 and small percentages as uint32 so that the fields each
/// call touches share slots; the views return them as uint256, as Livepeer's do. A
/// transcoder's "never deactivated" round is stored as type(uint48).max and reported as
/// type(uint256).max. Fixed point: 1e6 for cuts and shares, 1e27 for the factors and the
/// treasury cut, floor division with the a/b ratio quantised first (see the libraries).
/// Every external entry point reads the current round once and passes it down.
contract BondingManager is ManagerProxyTarget, IBondingManager {
    using SortedDoublyLL for SortedDoublyLL.Data;

    struct UnbondingLock {
        uint208 amount; // LPT
        uint48 withdrawRound; // 0 = no lock
    }

    struct Delegator {
        uint256 bondedAmount; // LPT bonded, rewards claimed so far included
        uint256 fees; // ETH claimed and not yet withdrawn
        address delegateAddress;
        uint48 startRound; // round from which the stake counts
        uint48 lastClaimRound;
        uint256 delegatedAmount; // stake delegated to this address, its own self-bond included
        uint256 nextUnbondingLockId;
        mapping(uint256 => UnbondingLock) unbondingLocks;
    }

    /// @dev A transcoder's books for one round. Commission and stake are snapshotted when
    /// reward or fees are first booked in the round.
    struct EarningsPool {
        uint192 totalStake;
        uint32 transcoderRewardCut;
        uint32 transcoderFeeShare;
        uint256 cumulativeRewardFactor; // 1e27; 0 = not recorded for this round
        uint256 cumulativeFeeFactor; // 1e27
    }

    struct Transcoder {
        uint48 lastRewardRound;
        uint48 lastActiveStakeUpdateRound;
        uint48 activationRound;
        uint48 deactivationRound;
        uint32 rewardCut; // share of rewards the transcoder keeps (1e6)
        uint32 feeShare; // share of fees passed to delegators (1e6)
        uint256 lastFeeRound;
        // Rewards earned by the transcoder's own unclaimed earnings as of its last reward call.
        uint256 activeCumulativeRewards;
        // The transcoder's unclaimed rewards and fees that no cumulative factor covers: its
        // commission plus what its unclaimed rewards earned.
        uint256 cumulativeRewards;
        uint256 cumulativeFees;
        mapping(uint256 => EarningsPool) earningsPoolPerRound;
    }

    enum DelegatorStatus {
        Pending,
        Bonded,
        Unbonded
    }

    enum TranscoderStatus {
        NotRegistered,
        Registered
    }

    uint256 private constant PRECISE_ONE = 1e27;
    uint48 private constant NEVER = type(uint48).max;

    bytes32 private constant LIVEPEER_TOKEN = keccak256("LivepeerToken");
    bytes32 private constant MINTER = keccak256("Minter");
    bytes32 private constant ROUNDS_MANAGER = keccak256("RoundsManager");
    bytes32 private constant TICKET_BROKER = keccak256("TicketBroker");
    bytes32 private constant VERIFIER = keccak256("Verifier");
    bytes32 private constant TREASURY = keccak256("Treasury");
    bytes32 private constant BONDING_VOTES = keccak256("BondingVotes");
    bytes32 private constant L2_MIGRATOR = keccak256("L2Migrator");

    /// @notice Rounds an unbonding lock waits before its LPT can be withdrawn.
    uint64 public unbondingPeriod;
    mapping(address => Delegator) private delegators;
    mapping(address => Transcoder) private transcoders;
    /// @notice Total stake of the current round's active set.
    uint256 public currentRoundTotalActiveStake;
    /// @notice Total stake of the pool, i.e. of the next round's active set.
    uint256 public nextRoundTotalActiveStake;
    SortedDoublyLL.Data private transcoderPool;
    /// @notice Share of each reward paid to the Treasury in this round (1e27 = 100%).
    uint256 public treasuryRewardCutRate;
    /// @notice The treasury cut rate that applies from the next initialized round.
    uint256 public nextRoundTreasuryRewardCutRate;
    /// @notice Treasury LPT balance at which the treasury cut switches itself off.
    uint256 public treasuryBalanceCeiling;

    constructor(address _controller) Manager(_controller) {}

    // ------------------------------------------------------------------ parameters

    function setUnbondingPeriod(uint64 _unbondingPeriod) external onlyControllerOwner {
        unbondingPeriod = _unbondingPeriod;
        emit ParameterUpdate("unbondingPeriod");
    }

    /// @notice Grows the active set; it can never shrink.
    function setNumActiveTranscoders(uint256 _numActiveTranscoders) external onlyControllerOwner {
        transcoderPool.setMaxSize(_numActiveTranscoders);
        emit ParameterUpdate("numActiveTranscoders");
    }

    /// @notice Sets the treasury cut that applies from the next initialized round.
    function setTreasuryRewardCutRate(uint256 _cutRate) external onlyControllerOwner {
        _setNextRoundTreasuryRewardCutRate(_cutRate);
    }

    function setTreasuryBalanceCeiling(uint256 _ceiling) external onlyControllerOwner {
        treasuryBalanceCeiling = _ceiling;
        emit ParameterUpdate("treasuryBalanceCeiling");
    }

    // ------------------------------------------------------------------ transcoders

    function transcoder(uint256 _rewardCut, uint256 _feeShare) external {
        transcoderWithHint(_rewardCut, _feeShare, address(0), address(0));
    }

    /// @notice Sets the caller's reward cut and fee share (1e6 = 100%) and, if it is not in
    /// the pool, tries to join it for the next round. An active transcoder may change them
    /// only after calling reward in the round, and nobody during the round's lock.
    function transcoderWithHint(uint256 _rewardCut, uint256 _feeShare, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
    {
        uint256 round = _currentRoundInitialized();
        require(!_roundsManager().currentRoundLocked(), "can't update transcoder params, current round is locked");
        require(MathUtils.validPerc(_rewardCut), "invalid rewardCut percentage");
        require(MathUtils.validPerc(_feeShare), "invalid feeShare percentage");
        require(isRegisteredTranscoder(msg.sender), "transcoder must be registered");
        Transcoder storage t = transcoders[msg.sender];
        require(
            !_isActive(t, round) || t.lastRewardRound == round,
            "caller can't be active or must have already called reward for the current round"
        );
        // forge-lint: disable-next-line(unsafe-typecast) -- both are <= 1e6 (validPerc above)
        t.rewardCut = uint32(_rewardCut);
        // forge-lint: disable-next-line(unsafe-typecast)
        t.feeShare = uint32(_feeShare);
        bool joined;
        if (!transcoderPool.contains(msg.sender)) {
            joined = _tryToJoinActiveSet(
                msg.sender, delegators[msg.sender].delegatedAmount, round + 1, _newPosPrev, _newPosNext
            );
        }
        emit TranscoderUpdate(msg.sender, _rewardCut, _feeShare);
        // Voting power follows membership of the next round's active set (see BondingVotes).
        if (joined) _checkpoint(msg.sender, round);
    }

    function reward() external {
        rewardWithHint(address(0), address(0));
    }

    /// @notice Mints the caller's share of the round's inflation: mintable × its round stake
    /// / total active stake. The treasury cut goes to the Treasury; the rest is split by the
    /// reward cut and bonded to the transcoder and its delegators. Once per round.
    function rewardWithHint(address _newPosPrev, address _newPosNext) public whenSystemNotPaused {
        uint256 round = _currentRoundInitialized();
        Transcoder storage t = transcoders[msg.sender];
        require(_isActive(t, round), "caller must be an active transcoder");
        require(t.lastRewardRound != round, "caller has already called reward for the current round");

        EarningsPool storage pool = t.earningsPoolPerRound[round];
        pool.transcoderRewardCut = t.rewardCut;
        pool.transcoderFeeShare = t.feeShare;
        // Without stake changes since, the round's stake is still in the pool of the last change.
        uint256 lastUpdateRound = t.lastActiveStakeUpdateRound;
        if (lastUpdateRound < round) pool.totalStake = t.earningsPoolPerRound[lastUpdateRound].totalStake;
        // Unreachable (an active transcoder began the round in the pool, with stake, and
        // _freezeRoundStake keeps it): the reward and factor math below divide by it.
        require(pool.totalStake > 0, "transcoder has no stake in the round");

        // Reaching the ceiling stops the cut from the next round; this round still pays it.
        uint256 ceiling = treasuryBalanceCeiling;
        if (ceiling > 0 && nextRoundTreasuryRewardCutRate > 0) {
            if (_livepeerToken().balanceOf(_getContract(TREASURY)) >= ceiling) _setNextRoundTreasuryRewardCutRate(0);
        }

        IMinter mtr = _minter();
        uint256 totalRewards = mtr.createReward(pool.totalStake, currentRoundTotalActiveStake);
        uint256 treasuryRewards = PreciseMathUtils.percOf(totalRewards, treasuryRewardCutRate);
        if (treasuryRewards > 0) {
            address treasury = _getContract(TREASURY);
            mtr.trustedTransferTokens(treasury, treasuryRewards);
            emit TreasuryReward(msg.sender, treasury, treasuryRewards);
        }
        uint256 rewards = totalRewards - treasuryRewards;
        _updateTranscoderWithRewards(msg.sender, rewards, round, _newPosPrev, _newPosNext);
        t.lastRewardRound = SafeCast.toUint48(round);
        emit Reward(msg.sender, rewards);
        _checkpoint(msg.sender, round);
    }

    /// @notice Books fees from a winning ticket for `_transcoder` in the current round
    /// (`_round` is ignored, as in LIP-36). Only the TicketBroker calls it.
    function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256) external whenSystemNotPaused {
        require(msg.sender == _getContract(TICKET_BROKER), "caller must be TicketBroker");
        require(isRegisteredTranscoder(_transcoder), "transcoder must be registered");
        uint256 round = _roundsManager().currentRound();
        Transcoder storage t = transcoders[_transcoder];
        EarningsPool storage pool = t.earningsPoolPerRound[round];
        (uint256 prevCRF, uint256 prevCFF) = _latestCumulativeFactors(t, round - 1);

        uint256 lastRewardRound = t.lastRewardRound;
        uint256 activeCumulativeRewards;
        if (round > lastRewardRound) {
            // reward() has not run this round: snapshot commission and stake here. The
            // transcoder's cumulativeRewards is what reward() would make active.
            pool.transcoderRewardCut = t.rewardCut;
            pool.transcoderFeeShare = t.feeShare;
            uint256 lastUpdateRound = t.lastActiveStakeUpdateRound;
            if (lastUpdateRound < round) pool.totalStake = t.earningsPoolPerRound[lastUpdateRound].totalStake;
            activeCumulativeRewards = t.cumulativeRewards;
        } else {
            activeCumulativeRewards = t.activeCumulativeRewards;
        }
        uint256 totalStake = pool.totalStake;
        // A transcoder that never had stake in the pool can't take fees: nobody to share with.
        require(totalStake > 0, "transcoder has no stake in the round");

        if (prevCRF == 0 && lastRewardRound == round) {
            // reward() ran this round but none was recorded for the round before: rebuild the
            // factor it must have had from this round's reward.
            prevCRF = _previousRewardFactor(pool, totalStake);
        }

        uint256 delegatorsFees = MathUtils.percOf(_fees, pool.transcoderFeeShare);
        uint256 transcoderRewardStakeFees = PreciseMathUtils.percOf(delegatorsFees, activeCumulativeRewards, totalStake);
        t.cumulativeFees += transcoderRewardStakeFees + (_fees - delegatorsFees);

        uint256 baseCFF = pool.cumulativeFeeFactor;
        if (baseCFF == 0) baseCFF = prevCFF;
        if (prevCRF == 0) prevCRF = PRECISE_ONE;
        pool.cumulativeFeeFactor = baseCFF + PreciseMathUtils.percOf(prevCRF, delegatorsFees, totalStake);
        t.lastFeeRound = round;
    }

    /// @notice Slashes `_slashAmount` (1e6) of a transcoder's bonded stake. Only the
    /// contract registered as "Verifier" may call it; none is registered, so slashing is off
    /// as on Livepeer's network.
    function slashTranscoder(address _transcoder, address _finder, uint256 _slashAmount, uint256 _finderFee)
        external
        whenSystemNotPaused
    {
        require(msg.sender == _getContract(VERIFIER), "caller must be Verifier");
        uint256 round = _roundsManager().currentRound();
        _autoClaimEarnings(_transcoder, round);
        Delegator storage del = delegators[_transcoder];
        uint256 bonded = del.bondedAmount;
        uint256 penalty;
        uint256 finderAmount;
        if (bonded > 0) {
            penalty = MathUtils.percOf(bonded, _slashAmount);
            if (transcoderPool.contains(_transcoder)) _resignTranscoder(_transcoder, round);
            del.bondedAmount = bonded - penalty;
            if (_delegatorStatus(del, round) == DelegatorStatus.Bonded) {
                delegators[del.delegateAddress].delegatedAmount -= penalty;
            }
            IMinter mtr = _minter();
            if (_finder != address(0)) {
                finderAmount = MathUtils.percOf(penalty, _finderFee);
                mtr.trustedTransferTokens(_finder, finderAmount);
            }
            mtr.trustedBurnTokens(penalty - finderAmount);
        }
        emit TranscoderSlashed(_transcoder, _finder, penalty, finderAmount);
        _checkpoint(_transcoder, round);
    }

    /// @notice Rolls the pending total active stake into the current round and applies the
    /// pending treasury cut rate. RoundsManager calls it from initializeRound.
    function setCurrentRoundTotalActiveStake() external {
        require(msg.sender == _getContract(ROUNDS_MANAGER), "caller must be RoundsManager");
        uint256 total = nextRoundTotalActiveStake;
        currentRoundTotalActiveStake = total;
        uint256 nextRate = nextRoundTreasuryRewardCutRate;
        if (nextRate != treasuryRewardCutRate) {
            treasuryRewardCutRate = nextRate;
            emit ParameterUpdate("treasuryRewardCutRate");
        }
        address bondingVotes = _getContract(BONDING_VOTES);
        if (bondingVotes != address(0)) {
            IBondingVotes(bondingVotes).checkpointTotalActiveStake(total, IRoundsManager(msg.sender).currentRound());
        }
    }

    // ------------------------------------------------------------------ delegators

    function bond(uint256 _amount, address _to) external {
        bondForWithHint(_amount, msg.sender, _to, address(0), address(0), address(0), address(0));
    }

    function bondWithHint(
        uint256 _amount,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) external {
        bondForWithHint(
            _amount,
            msg.sender,
            _to,
            _oldDelegateNewPosPrev,
            _oldDelegateNewPosNext,
            _currDelegateNewPosPrev,
            _currDelegateNewPosNext
        );
    }

    /// @notice Bonds `_amount` LPT, paid by the caller, for `_owner` to `_to`, first claiming
    /// the owner's earnings. Delegating to oneself registers a transcoder. A third party may
    /// add stake for an owner but never choose its delegate: not towards the owner itself
    /// when it is unbonded, not away from its current delegate otherwise.
    function bondForWithHint(
        uint256 _amount,
        address _owner,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) public whenSystemNotPaused {
        uint256 round = _currentRoundInitialized();
        _authorizeClaimEarnings(_owner, round);
        _autoClaimEarnings(_owner, round);

        Delegator storage del = delegators[_owner];
        address oldDelegate = del.delegateAddress;
        uint256 delegationAmount =
            _prepareBond(_amount, _owner, _to, _oldDelegateNewPosPrev, _oldDelegateNewPosNext, round);

        // Set before the stake moves, so a first self-bond counts as registered and joins the pool.
        del.delegateAddress = _to;
        uint256 newBondedAmount = del.bondedAmount + _amount;
        del.bondedAmount = newBondedAmount;
        _increaseTotalStake(_to, delegationAmount, _currDelegateNewPosPrev, _currDelegateNewPosNext, round);

        if (_amount > 0) {
            require(_livepeerToken().transferFrom(msg.sender, address(_minter()), _amount), "token transfer failed");
        }
        emit Bond(_to, oldDelegate, _owner, _amount, newBondedAmount);
        if (_to != _owner) _checkpoint(_to, round);
        _checkpoint(_owner, round);
    }

    function unbond(uint256 _amount) external {
        unbondWithHint(_amount, address(0), address(0));
    }

    /// @notice Moves `_amount` of the caller's bonded stake into a new unbonding lock that
    /// can be withdrawn after `unbondingPeriod` rounds. Unbonding everything leaves the
    /// delegate (and, for a transcoder, the pool).
    function unbondWithHint(uint256 _amount, address _newPosPrev, address _newPosNext) public whenSystemNotPaused {
        uint256 round = _currentRoundInitialized();
        _autoClaimEarnings(msg.sender, round);
        _unbond(_amount, _newPosPrev, _newPosNext, round);
        _checkpoint(msg.sender, round);
    }

    function rebond(uint256 _unbondingLockId) external {
        rebondWithHint(_unbondingLockId, address(0), address(0));
    }

    /// @notice Bonds an unbonding lock again, to the caller's current delegate.
    function rebondWithHint(uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
    {
        uint256 round = _currentRoundInitialized();
        _autoClaimEarnings(msg.sender, round);
        require(delegators[msg.sender].bondedAmount > 0, "caller must be bonded");
        _processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext, round);
        _checkpoint(msg.sender, round);
    }

    function rebondFromUnbonded(address _to, uint256 _unbondingLockId) external {
        rebondFromUnbondedWithHint(_to, _unbondingLockId, address(0), address(0));
    }

    /// @notice Bonds an unbonding lock of an unbonded caller to `_to`.
    function rebondFromUnbondedWithHint(address _to, uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
    {
        uint256 round = _currentRoundInitialized();
        _autoClaimEarnings(msg.sender, round);
        Delegator storage del = delegators[msg.sender];
        require(del.bondedAmount == 0, "caller must be unbonded");
        // The caller's earnings start from `_to`'s factors of this round; without them
        // recorded the start factor would read as 1.0 and inflate the stake (Oct 2023 bug).
        _ensureInitializedCumulativeFactorsPool(transcoders[_to], round);
        del.startRound = _round48(round + 1);
        del.delegateAddress = _to;
        _processRebond(msg.sender, _unbondingLockId, _newPosPrev, _newPosNext, round);
        _checkpoint(msg.sender, round);
    }

    /// @notice Withdraws an unbonding lock whose withdraw round has come.
    function withdrawStake(uint256 _unbondingLockId) external whenSystemNotPaused {
        uint256 round = _currentRoundInitialized();
        UnbondingLock storage lock = delegators[msg.sender].unbondingLocks[_unbondingLockId];
        uint256 withdrawRound = lock.withdrawRound;
        require(withdrawRound > 0, "invalid unbonding lock ID");
        require(withdrawRound <= round, "withdraw round must be before or equal to the current round");
        uint256 amount = lock.amount;
        delete delegators[msg.sender].unbondingLocks[_unbondingLockId];
        _minter().trustedTransferTokens(msg.sender, amount);
        emit WithdrawStake(msg.sender, _unbondingLockId, amount, withdrawRound);
    }

    /// @notice Unbonds `_amount` of the caller's stake and bonds it for `_delegator`: to the
    /// receiver's delegate if it has one, else to the caller's delegate (never making the
    /// receiver delegate to itself).
    function transferBond(
        address _delegator,
        uint256 _amount,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _newDelegateNewPosPrev,
        address _newDelegateNewPosNext
    ) external whenSystemNotPaused {
        uint256 round = _currentRoundInitialized();
        _authorizeClaimEarnings(_delegator, round);
        _autoClaimEarnings(msg.sender, round);
        address oldDelDelegate = delegators[msg.sender].delegateAddress;
        (uint256 oldLockId, uint256 withdrawRound) =
            _unbond(_amount, _oldDelegateNewPosPrev, _oldDelegateNewPosNext, round);
        _checkpoint(msg.sender, round);

        // The lock changes hands: deleted for the sender, recreated for the receiver.
        delete delegators[msg.sender].unbondingLocks[oldLockId];
        Delegator storage newDel = delegators[_delegator];
        uint256 newLockId = newDel.nextUnbondingLockId;
        newDel.unbondingLocks[newLockId] = UnbondingLock(SafeCast.toUint208(_amount), SafeCast.toUint48(withdrawRound));
        newDel.nextUnbondingLockId = newLockId + 1;
        emit TransferBond(msg.sender, _delegator, oldLockId, newLockId, _amount);

        _receiveTransferredBond(
            _delegator, oldDelDelegate, newLockId, _newDelegateNewPosPrev, _newDelegateNewPosNext, round
        );
    }

    /// @notice Claims the caller's rewards and fees up to the current round (`_endRound` is
    /// ignored). Rewards are bonded; fees wait for withdrawFees.
    function claimEarnings(uint256) external whenSystemNotPaused {
        uint256 round = _currentRoundInitialized();
        _autoClaimEarnings(msg.sender, round);
        _checkpoint(msg.sender, round);
    }

    /// @notice Sends `_amount` of the caller's claimed fees (ETH) to `_recipient`.
    function withdrawFees(address payable _recipient, uint256 _amount) external whenSystemNotPaused {
        uint256 round = _currentRoundInitialized();
        _autoClaimEarnings(msg.sender, round);
        require(_recipient != address(0), "invalid recipient");
        Delegator storage del = delegators[msg.sender];
        uint256 fees = del.fees;
        require(fees >= _amount, "insufficient fees to withdraw");
        del.fees = fees - _amount;
        _minter().trustedWithdrawETH(_recipient, _amount);
        emit WithdrawFees(msg.sender, _recipient, _amount);
        _checkpoint(msg.sender, round);
    }

    /// @notice Re-sends `_account`'s bonding state to BondingVotes (if one is registered).
    function checkpointBondingState(address _account) external {
        _checkpoint(_account, _roundsManager().currentRound());
    }

    // ------------------------------------------------------------------ views

    /// @notice Bonded stake including unclaimed rewards, as of the current round
    /// (`_endRound` is ignored).
    function pendingStake(address _delegator, uint256) external view returns (uint256 stake) {
        (stake,) = _pendingStakeAndFees(_delegator, _roundsManager().currentRound());
    }

    /// @notice Claimed plus unclaimed fees, as of the current round (`_endRound` is ignored).
    function pendingFees(address _delegator, uint256) external view returns (uint256 fees) {
        (, fees) = _pendingStakeAndFees(_delegator, _roundsManager().currentRound());
    }

    function transcoderTotalStake(address _transcoder) external view returns (uint256) {
        return delegators[_transcoder].delegatedAmount;
    }

    function transcoderStatus(address _transcoder) external view returns (TranscoderStatus) {
        return isRegisteredTranscoder(_transcoder) ? TranscoderStatus.Registered : TranscoderStatus.NotRegistered;
    }

    function delegatorStatus(address _delegator) external view returns (DelegatorStatus) {
        return _delegatorStatus(delegators[_delegator], _roundsManager().currentRound());
    }

    function getTranscoder(address _transcoder)
        external
        view
        returns (
            uint256 lastRewardRound,
            uint256 rewardCut,
            uint256 feeShare,
            uint256 lastActiveStakeUpdateRound,
            uint256 activationRound,
            uint256 deactivationRound,
            uint256 activeCumulativeRewards,
            uint256 cumulativeRewards,
            uint256 cumulativeFees,
            uint256 lastFeeRound
        )
    {
        Transcoder storage t = transcoders[_transcoder];
        lastRewardRound = t.lastRewardRound;
        rewardCut = t.rewardCut;
        feeShare = t.feeShare;
        lastActiveStakeUpdateRound = t.lastActiveStakeUpdateRound;
        activationRound = t.activationRound;
        deactivationRound = t.deactivationRound == NEVER ? type(uint256).max : t.deactivationRound;
        activeCumulativeRewards = t.activeCumulativeRewards;
        cumulativeRewards = t.cumulativeRewards;
        cumulativeFees = t.cumulativeFees;
        lastFeeRound = t.lastFeeRound;
    }

    function getTranscoderEarningsPoolForRound(address _transcoder, uint256 _round)
        external
        view
        returns (
            uint256 totalStake,
            uint256 transcoderRewardCut,
            uint256 transcoderFeeShare,
            uint256 cumulativeRewardFactor,
            uint256 cumulativeFeeFactor
        )
    {
        EarningsPool storage pool = transcoders[_transcoder].earningsPoolPerRound[_round];
        return (
            pool.totalStake,
            pool.transcoderRewardCut,
            pool.transcoderFeeShare,
            pool.cumulativeRewardFactor,
            pool.cumulativeFeeFactor
        );
    }

    function getDelegator(address _delegator)
        external
        view
        returns (
            uint256 bondedAmount,
            uint256 fees,
            address delegateAddress,
            uint256 delegatedAmount,
            uint256 startRound,
            uint256 lastClaimRound,
            uint256 nextUnbondingLockId
        )
    {
        Delegator storage del = delegators[_delegator];
        return (
            del.bondedAmount,
            del.fees,
            del.delegateAddress,
            del.delegatedAmount,
            del.startRound,
            del.lastClaimRound,
            del.nextUnbondingLockId
        );
    }

    function getDelegatorUnbondingLock(address _delegator, uint256 _unbondingLockId)
        external
        view
        returns (uint256 amount, uint256 withdrawRound)
    {
        UnbondingLock storage lock = delegators[_delegator].unbondingLocks[_unbondingLockId];
        return (lock.amount, lock.withdrawRound);
    }

    function isValidUnbondingLock(address _delegator, uint256 _unbondingLockId) external view returns (bool) {
        return delegators[_delegator].unbondingLocks[_unbondingLockId].withdrawRound > 0;
    }

    function getTranscoderPoolMaxSize() external view returns (uint256) {
        return transcoderPool.getMaxSize();
    }

    function getTranscoderPoolSize() external view returns (uint256) {
        return transcoderPool.getSize();
    }

    function getFirstTranscoderInPool() external view returns (address) {
        return transcoderPool.getFirst();
    }

    function getNextTranscoderInPool(address _transcoder) external view returns (address) {
        return transcoderPool.getNext(_transcoder);
    }

    /// @notice Total stake of the current round's active set (not all bonded LPT).
    function getTotalBonded() external view returns (uint256) {
        return currentRoundTotalActiveStake;
    }

    function isActiveTranscoder(address _transcoder) external view returns (bool) {
        return _isActive(transcoders[_transcoder], _roundsManager().currentRound());
    }

    /// @notice Whether `_transcoder` is in the pool, i.e. in the active set of the next round.
    /// BondingVotes records it with each checkpoint: only active stake votes.
    function isInTranscoderPool(address _transcoder) external view returns (bool) {
        return transcoderPool.contains(_transcoder);
    }

    function isRegisteredTranscoder(address _transcoder) public view returns (bool) {
        Delegator storage d = delegators[_transcoder];
        return d.delegateAddress == _transcoder && d.bondedAmount > 0;
    }

    // ------------------------------------------------------------------ internals: bonding

    /// @dev The checks and stake moves of bondForWithHint that depend on the owner's current
    /// bond; returns the amount the new delegate gains.
    function _prepareBond(
        uint256 _amount,
        address _owner,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        uint256 _round
    ) private returns (uint256 delegationAmount) {
        Delegator storage del = delegators[_owner];
        address currentDelegate = del.delegateAddress;
        uint256 currentBondedAmount = del.bondedAmount;
        if (msg.sender != _owner && msg.sender != _getContract(L2_MIGRATOR)) {
            require(_owner != address(0), "INVALID_DELEGATOR");
            if (currentBondedAmount == 0) require(_to != _owner, "INVALID_DELEGATE");
            else require(currentDelegate == _to, "INVALID_DELEGATE_CHANGE");
        }

        delegationAmount = _amount;
        if (currentBondedAmount == 0) {
            del.startRound = _round48(_round + 1);
        } else if (currentDelegate != _to) {
            // Moving an existing bond (also allowed while Pending): it counts for the new
            // delegate from the next round.
            require(!isRegisteredTranscoder(_owner), "registered transcoders can't delegate towards other addresses");
            del.startRound = _round48(_round + 1);
            delegationAmount += currentBondedAmount;
            _decreaseTotalStake(
                currentDelegate, currentBondedAmount, _oldDelegateNewPosPrev, _oldDelegateNewPosNext, _round
            );
            _checkpoint(currentDelegate, _round);
        }
        _ensureInitializedCumulativeFactorsPool(transcoders[_to], _round);
        require(delegationAmount > 0, "delegation amount must be greater than 0");
    }

    function _unbond(uint256 _amount, address _newPosPrev, address _newPosNext, uint256 _round)
        private
        returns (uint256 lockId, uint256 withdrawRound)
    {
        Delegator storage del = delegators[msg.sender];
        require(_delegatorStatus(del, _round) == DelegatorStatus.Bonded, "caller must be bonded");
        require(_amount > 0, "unbond amount must be greater than 0");
        uint256 bonded = del.bondedAmount;
        require(_amount <= bonded, "amount is greater than bonded amount");

        address currentDelegate = del.delegateAddress;
        withdrawRound = _round + unbondingPeriod;
        lockId = del.nextUnbondingLockId;
        del.unbondingLocks[lockId] = UnbondingLock(SafeCast.toUint208(_amount), SafeCast.toUint48(withdrawRound));
        del.nextUnbondingLockId = lockId + 1;
        bonded -= _amount;
        del.bondedAmount = bonded;
        if (bonded == 0) {
            del.delegateAddress = address(0);
            del.startRound = 0;
            if (transcoderPool.contains(msg.sender)) _resignTranscoder(msg.sender, _round);
        }
        // After a resignation this only lowers the delegated amount.
        _decreaseTotalStake(currentDelegate, _amount, _newPosPrev, _newPosNext, _round);
        if (currentDelegate != msg.sender) _checkpoint(currentDelegate, _round);
        emit Unbond(currentDelegate, msg.sender, lockId, _amount, withdrawRound);
    }

    function _processRebond(
        address _delegator,
        uint256 _unbondingLockId,
        address _newPosPrev,
        address _newPosNext,
        uint256 _round
    ) private {
        Delegator storage del = delegators[_delegator];
        UnbondingLock storage lock = del.unbondingLocks[_unbondingLockId];
        require(lock.withdrawRound > 0, "invalid unbonding lock ID");
        uint256 amount = lock.amount;
        del.bondedAmount += amount;
        delete del.unbondingLocks[_unbondingLockId];
        address delegate = del.delegateAddress;
        _increaseTotalStake(delegate, amount, _newPosPrev, _newPosNext, _round);
        if (delegate != _delegator) _checkpoint(delegate, _round);
        emit Rebond(delegate, _delegator, _unbondingLockId, amount);
    }

    function _receiveTransferredBond(
        address _delegator,
        address _oldDelDelegate,
        uint256 _newLockId,
        address _newPosPrev,
        address _newPosNext,
        uint256 _round
    ) private {
        Delegator storage newDel = delegators[_delegator];
        uint256 lastClaimRound = newDel.lastClaimRound;
        if (lastClaimRound < _round) _updateDelegatorWithEarnings(_delegator, _round, lastClaimRound);
        if (newDel.bondedAmount == 0) {
            if (newDel.delegateAddress == address(0)) {
                require(_oldDelDelegate != _delegator, "INVALID_DELEGATOR");
                require(_delegator != address(0), "INVALID_DELEGATOR");
                newDel.delegateAddress = _oldDelDelegate;
            }
            newDel.startRound = _round48(_round + 1);
        }
        _processRebond(_delegator, _newLockId, _newPosPrev, _newPosNext, _round);
        _checkpoint(_delegator, _round);
    }

    // ------------------------------------------------------------------ internals: stake and pool

    function _increaseTotalStake(
        address _delegate,
        uint256 _amount,
        address _newPosPrev,
        address _newPosNext,
        uint256 _round
    ) private {
        Delegator storage d = delegators[_delegate];
        uint256 currStake = d.delegatedAmount;
        uint256 newStake = currStake + _amount;
        if (d.delegateAddress == _delegate && d.bondedAmount > 0) {
            if (transcoderPool.contains(_delegate)) {
                transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
                nextRoundTotalActiveStake += _amount;
                _recordNextRoundStake(transcoders[_delegate], currStake, newStake, _round);
            } else if (!_tryToJoinActiveSet(_delegate, newStake, _round + 1, _newPosPrev, _newPosNext)) {
                _recordOutOfPoolStake(_delegate, currStake, newStake, _round);
            }
        }
        // Unregistered delegates only accumulate delegated stake.
        d.delegatedAmount = newStake;
    }

    function _decreaseTotalStake(
        address _delegate,
        uint256 _amount,
        address _newPosPrev,
        address _newPosNext,
        uint256 _round
    ) private {
        Delegator storage d = delegators[_delegate];
        uint256 currStake = d.delegatedAmount;
        uint256 newStake = currStake - _amount;
        if (transcoderPool.contains(_delegate)) {
            transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
            nextRoundTotalActiveStake -= _amount;
            _recordNextRoundStake(transcoders[_delegate], currStake, newStake, _round);
        } else if (d.delegateAddress == _delegate && d.bondedAmount > 0) {
            _recordOutOfPoolStake(_delegate, currStake, newStake, _round);
        }
        d.delegatedAmount = newStake;
    }

    /// @dev The stake change counts from the next round; the current round keeps the stake
    /// from before it, written down here if no earlier change this round did so.
    function _recordNextRoundStake(Transcoder storage t, uint256 _currStake, uint256 _newStake, uint256 _round)
        private
    {
        if (t.lastActiveStakeUpdateRound < _round) {
            t.earningsPoolPerRound[_round].totalStake = SafeCast.toUint192(_currStake);
        }
        t.earningsPoolPerRound[_round + 1].totalStake = SafeCast.toUint192(_newStake);
        t.lastActiveStakeUpdateRound = _round48(_round + 1);
    }

    /// @dev A transcoder leaving the pool (resigning, unbonding everything, slashed or evicted)
    /// stays active until the round ends: reward() and fee bookings of this round must divide
    /// by the stake the round began with. While it is in the pool every stake change is
    /// recorded, so with nothing recorded for this round yet its delegated amount is still
    /// that stake. Written down here, it is never overwritten by the round's later changes,
    /// which are made while it is out of the pool (and may not be recorded at all: once it
    /// is unregistered) and only move the next round's stake. Without it the next change
    /// recorded this round wrote the post-resignation stake, 0 after unbonding everything, as
    /// this round's, and reward() divided by it (docs/faults.md, "reward after resigning").
    function _freezeRoundStake(address _transcoder, uint256 _round) private {
        Transcoder storage t = transcoders[_transcoder];
        if (t.lastActiveStakeUpdateRound < _round) {
            t.earningsPoolPerRound[_round].totalStake = SafeCast.toUint192(delegators[_transcoder].delegatedAmount);
            t.lastActiveStakeUpdateRound = _round48(_round);
        }
    }

    /// @dev Deviation from Livepeer's contracts, which record nothing here. A transcoder out of
    /// the pool can still book fees (with the stake of its last recorded round), including the
    /// round in which it was evicted and may still call reward(). Without this record a stake
    /// change made while out of the pool leaves that stake stale: a later fee booking divides
    /// by the old stake while the claims use the new one, so more fees are owed than were
    /// paid in (found by the invariant suite). Transcoders that never were in the pool have
    /// nothing recorded and still can't book fees.
    function _recordOutOfPoolStake(address _transcoder, uint256 _currStake, uint256 _newStake, uint256 _round) private {
        Transcoder storage t = transcoders[_transcoder];
        if (t.lastActiveStakeUpdateRound > 0) _recordNextRoundStake(t, _currStake, _newStake, _round);
    }

    /// @dev Joins the pool for `_activationRound` if there is room or `_totalStake` is
    /// strictly greater than the smallest member's, which is then evicted. A tie does not
    /// evict. Stale stake snapshots of the evicted transcoder are left in place on purpose:
    /// every path that re-activates it writes them again.
    function _tryToJoinActiveSet(
        address _transcoder,
        uint256 _totalStake,
        uint256 _activationRound,
        address _newPosPrev,
        address _newPosNext
    ) private returns (bool joined) {
        uint256 pendingTotal = nextRoundTotalActiveStake;
        address evicted;
        if (transcoderPool.isFull()) {
            address last = transcoderPool.getLast();
            uint256 lastStake = delegators[last].delegatedAmount;
            if (_totalStake <= lastStake) return false;
            _freezeRoundStake(last, _activationRound - 1);
            transcoderPool.remove(last);
            transcoders[last].deactivationRound = _round48(_activationRound);
            pendingTotal -= lastStake;
            emit TranscoderDeactivated(last, _activationRound);
            evicted = last;
        }
        transcoderPool.insert(_transcoder, _totalStake, _newPosPrev, _newPosNext);
        pendingTotal += _totalStake;
        Transcoder storage t = transcoders[_transcoder];
        uint48 activation = _round48(_activationRound);
        t.lastActiveStakeUpdateRound = activation;
        t.activationRound = activation;
        t.deactivationRound = NEVER;
        t.earningsPoolPerRound[_activationRound].totalStake = SafeCast.toUint192(_totalStake);
        nextRoundTotalActiveStake = pendingTotal;
        emit TranscoderActivated(_transcoder, _activationRound);
        // The evicted transcoder's voting power ends with its seat; nothing else checkpoints it.
        if (evicted != address(0)) _checkpoint(evicted, _activationRound - 1);
        return true;
    }

    function _resignTranscoder(address _transcoder, uint256 _round) private {
        _freezeRoundStake(_transcoder, _round);
        transcoderPool.remove(_transcoder);
        nextRoundTotalActiveStake -= delegators[_transcoder].delegatedAmount;
        uint256 deactivationRound = _round + 1;
        transcoders[_transcoder].deactivationRound = _round48(deactivationRound);
        emit TranscoderDeactivated(_transcoder, deactivationRound);
    }

    // ------------------------------------------------------------------ internals: earnings

    /// @dev Splits `_rewards` by the round's reward cut, credits the transcoder with its
    /// commission and with what its unclaimed earnings earned, advances the round's
    /// cumulative reward factor from that of the last reward round, and adds all of the
    /// rewards to the transcoder's stake.
    function _updateTranscoderWithRewards(
        address _transcoder,
        uint256 _rewards,
        uint256 _round,
        address _newPosPrev,
        address _newPosNext
    ) private {
        Transcoder storage t = transcoders[_transcoder];
        EarningsPool storage pool = t.earningsPoolPerRound[_round];
        uint256 prevCRF = t.earningsPoolPerRound[t.lastRewardRound].cumulativeRewardFactor;
        if (prevCRF == 0) prevCRF = PRECISE_ONE;

        uint256 cumulativeRewards = t.cumulativeRewards;
        t.activeCumulativeRewards = cumulativeRewards;
        uint256 commission = MathUtils.percOf(_rewards, pool.transcoderRewardCut);
        uint256 delegatorsRewards = _rewards - commission;
        uint256 totalStake = pool.totalStake;
        uint256 rewardStakeRewards = PreciseMathUtils.percOf(delegatorsRewards, cumulativeRewards, totalStake);
        t.cumulativeRewards = cumulativeRewards + rewardStakeRewards + commission;
        pool.cumulativeRewardFactor = prevCRF + PreciseMathUtils.percOf(prevCRF, delegatorsRewards, totalStake);

        _increaseTotalStake(_transcoder, _rewards, _newPosPrev, _newPosNext, _round);
    }

    /// @dev The cumulative reward factor of the round before the current one, rebuilt from
    /// the current round's factor and reward: CRF_n · S / (D_r + S).
    function _previousRewardFactor(EarningsPool storage _pool, uint256 _totalStake) private view returns (uint256) {
        IMinter mtr = _minter();
        uint256 rewards = PreciseMathUtils.percOf(
            mtr.currentMintableTokens() + mtr.currentMintedTokens(), _totalStake, currentRoundTotalActiveStake
        );
        rewards -= PreciseMathUtils.percOf(rewards, treasuryRewardCutRate);
        uint256 delegatorsRewards = rewards - MathUtils.percOf(rewards, _pool.transcoderRewardCut);
        return PreciseMathUtils.percOf(_pool.cumulativeRewardFactor, _totalStake, delegatorsRewards + _totalStake);
    }

    /// @dev Factors at `_round`, falling back to the last reward / fee round before it for
    /// a factor not recorded in `_round`.
    function _latestCumulativeFactors(Transcoder storage t, uint256 _round)
        private
        view
        returns (uint256 crf, uint256 cff)
    {
        EarningsPool storage pool = t.earningsPoolPerRound[_round];
        crf = pool.cumulativeRewardFactor;
        cff = pool.cumulativeFeeFactor;
        if (crf == 0) {
            uint256 lastRewardRound = t.lastRewardRound;
            if (lastRewardRound < _round) crf = t.earningsPoolPerRound[lastRewardRound].cumulativeRewardFactor;
        }
        if (cff == 0) {
            uint256 lastFeeRound = t.lastFeeRound;
            if (lastFeeRound < _round) cff = t.earningsPoolPerRound[lastFeeRound].cumulativeFeeFactor;
        }
    }

    /// @dev Persists the fallback factors into `_round`, so that a claim starting there later
    /// reads the right start factors.
    function _ensureInitializedCumulativeFactorsPool(Transcoder storage t, uint256 _round) private {
        EarningsPool storage pool = t.earningsPoolPerRound[_round];
        if (pool.cumulativeRewardFactor == 0) {
            uint256 lastRewardRound = t.lastRewardRound;
            if (lastRewardRound < _round) {
                uint256 crf = t.earningsPoolPerRound[lastRewardRound].cumulativeRewardFactor;
                if (crf != 0) pool.cumulativeRewardFactor = crf;
            }
        }
        if (pool.cumulativeFeeFactor == 0) {
            uint256 lastFeeRound = t.lastFeeRound;
            if (lastFeeRound < _round) {
                uint256 cff = t.earningsPoolPerRound[lastFeeRound].cumulativeFeeFactor;
                if (cff != 0) pool.cumulativeFeeFactor = cff;
            }
        }
    }

    /// @dev Stake and fees of `_delegator` as of `_endRound`: its claimed amounts grown by
    /// its delegate's factors since its last claim, plus, for a transcoder, its own
    /// cumulative rewards and fees.
    function _pendingStakeAndFees(address _delegator, uint256 _endRound)
        private
        view
        returns (uint256 stake, uint256 fees)
    {
        Delegator storage del = delegators[_delegator];
        address delegate = del.delegateAddress;
        Transcoder storage t = transcoders[delegate];
        stake = del.bondedAmount;
        fees = del.fees;
        uint256 lastClaimRound = del.lastClaimRound;
        if (lastClaimRound < _endRound) {
            EarningsPool storage startPool = t.earningsPoolPerRound[lastClaimRound];
            uint256 startCRF = startPool.cumulativeRewardFactor;
            if (startCRF == 0) startCRF = PRECISE_ONE;
            (uint256 endCRF, uint256 endCFF) = _latestCumulativeFactors(t, _endRound);
            if (endCRF == 0) endCRF = PRECISE_ONE;
            fees += PreciseMathUtils.percOf(stake, endCFF - startPool.cumulativeFeeFactor, startCRF);
            stake = PreciseMathUtils.percOf(stake, endCRF, startCRF);
        }
        if (_delegator == delegate) {
            stake += t.cumulativeRewards;
            fees += t.cumulativeFees;
        }
    }

    function _autoClaimEarnings(address _delegator, uint256 _round) private {
        uint256 lastClaimRound = delegators[_delegator].lastClaimRound;
        if (lastClaimRound < _round) _updateDelegatorWithEarnings(_delegator, _round, lastClaimRound);
    }

    function _updateDelegatorWithEarnings(address _delegator, uint256 _endRound, uint256 _lastClaimRound) private {
        Delegator storage del = delegators[_delegator];
        uint256 bonded = del.bondedAmount;
        uint256 fees = del.fees;
        address delegate = del.delegateAddress;
        uint256 newBonded = bonded;
        uint256 newFees = fees;
        if (delegate != address(0)) {
            (newBonded, newFees) = _pendingStakeAndFees(_delegator, _endRound);
            Transcoder storage t = transcoders[delegate];
            _ensureInitializedCumulativeFactorsPool(t, _endRound);
            if (delegate == _delegator) {
                // Now in bondedAmount and fees. activeCumulativeRewards stays: reward() resets it.
                t.cumulativeRewards = 0;
                t.cumulativeFees = 0;
            }
        }
        emit EarningsClaimed(delegate, _delegator, newBonded - bonded, newFees - fees, _lastClaimRound + 1, _endRound);
        del.lastClaimRound = _round48(_endRound);
        if (newBonded != bonded) del.bondedAmount = newBonded;
        if (newFees != fees) del.fees = newFees;
    }

    /// @dev Anti-griefing (Mar 2024): a third party may not claim a delegator's earnings in a
    /// round before its active delegate called reward, because the claim would fix the
    /// delegator's start factor before reward() raises it and the round's reward would be lost.
    function _authorizeClaimEarnings(address _owner, uint256 _round) private view {
        if (msg.sender == _owner || msg.sender == _getContract(L2_MIGRATOR)) return;
        Delegator storage del = delegators[_owner];
        if (del.bondedAmount == 0 || del.lastClaimRound == _round) return;
        Transcoder storage t = transcoders[del.delegateAddress];
        if (!_isActive(t, _round) || t.lastRewardRound == _round) return;
        revert("ILLEGAL_CLAIM_EARNINGS");
    }

    // ------------------------------------------------------------------ internals: misc

    function _setNextRoundTreasuryRewardCutRate(uint256 _cutRate) private {
        require(PreciseMathUtils.validPerc(_cutRate), "_cutRate is invalid precise percentage");
        nextRoundTreasuryRewardCutRate = _cutRate;
        emit ParameterUpdate("nextRoundTreasuryRewardCutRate");
    }

    /// @dev Hook for BondingVotes (voting power by round): sends `_account`'s state as of the
    /// next round. Skipped while no BondingVotes is registered in the Controller.
    function _checkpoint(address _account, uint256 _round) private {
        address bondingVotes = _getContract(BONDING_VOTES);
        if (bondingVotes == address(0)) return;
        Delegator storage del = delegators[_account];
        IBondingVotes(bondingVotes)
            .checkpointBondingState(
                _account,
                _round + 1,
                del.bondedAmount,
                del.delegateAddress,
                del.delegatedAmount,
                del.lastClaimRound,
                transcoders[_account].lastRewardRound
            );
    }

    function _currentRoundInitialized() private view returns (uint256) {
        IRoundsManager rm = _roundsManager();
        require(rm.currentRoundInitialized(), "current round is not initialized");
        return rm.currentRound();
    }

    function _isActive(Transcoder storage t, uint256 _round) private view returns (bool) {
        return t.activationRound <= _round && _round < t.deactivationRound;
    }

    function _delegatorStatus(Delegator storage del, uint256 _round) private view returns (DelegatorStatus) {
        if (del.bondedAmount == 0) return DelegatorStatus.Unbonded;
        if (del.startRound > _round) return DelegatorStatus.Pending;
        return DelegatorStatus.Bonded;
    }

    function _round48(uint256 _round) private pure returns (uint48) {
        return SafeCast.toUint48(_round);
    }

    function _getContract(bytes32 _id) private view returns (address) {
        return controller.getContract(_id);
    }

    function _roundsManager() private view returns (IRoundsManager) {
        return IRoundsManager(_getContract(ROUNDS_MANAGER));
    }

    function _minter() private view returns (IMinter) {
        return IMinter(_getContract(MINTER));
    }

    function _livepeerToken() private view returns (ILivepeerToken) {
        return ILivepeerToken(_getContract(LIVEPEER_TOKEN));
    }
}
