// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "../lib/Vm.sol";
import {BondingManager} from "../../src/bonding/BondingManager.sol";
import {RoundsManager} from "../../src/rounds/RoundsManager.sol";
import {Minter} from "../../src/token/Minter.sol";
import {LivepeerToken} from "../../src/LivepeerToken.sol";

/// Drives the protocol with random actions by 3 orchestrators, 4 delegators and an
/// attacker across rounds. Every action checks its preconditions and then either expects
/// success or the exact revert; anything else reverts the handler, which the invariant test
/// treats as a failure (fail-on-revert). Around each reward it checks C6 and C9 (see
/// docs/faults.md#contract-invariants); it keeps ghost totals of every LPT and ETH movement for the
/// invariants.
contract ProtocolHandler is TestBase {
    uint256 internal constant ONE = 1e27;
    uint256 internal constant C9_TOLERANCE = 1e15; // 0.001 LPT
    uint256 internal constant ROUND_LENGTH = 50;

    BondingManager public immutable bm;
    RoundsManager public immutable rm;
    Minter public immutable minter;
    LivepeerToken public immutable token;
    address public immutable owner;
    address public immutable ticketBroker;

    address[] public transcoders;
    address[] public delegators;
    address public attacker;

    // Ghost state: what the handler did, to compare the contracts with.
    mapping(address => address) public ghostDelegate;
    mapping(address => uint256[]) internal lockIds;
    uint256 public deposited; // LPT bonded from wallets
    uint256 public withdrawn; // LPT withdrawn to wallets
    uint256 public minted; // LPT minted as rewards
    uint256 public toTreasury; // LPT paid to the Treasury
    uint256 public feesPaid; // ETH booked as fees
    uint256 public feesWithdrawn; // ETH withdrawn as fees
    mapping(address => mapping(uint256 => uint256)) public rewardCalls;

    uint256 public violations;
    string public firstViolation;
    uint256 public maxRewardError; // largest |actual - exact| share seen, in wei

    mapping(bytes32 => uint256) public calls;

    constructor(
        BondingManager _bm,
        RoundsManager _rm,
        Minter _minter,
        LivepeerToken _token,
        address _owner,
        address _ticketBroker,
        address[] memory _transcoders,
        address[] memory _delegators,
        address _attacker
    ) {
        bm = _bm;
        rm = _rm;
        minter = _minter;
        token = _token;
        owner = _owner;
        ticketBroker = _ticketBroker;
        transcoders = _transcoders;
        delegators = _delegators;
        attacker = _attacker;
        for (uint256 i = 0; i < _transcoders.length; i++) {
            ghostDelegate[_transcoders[i]] = _transcoders[i];
        }
    }

    // ------------------------------------------------------------------ views for the invariants

    function numTranscoders() external view returns (uint256) {
        return transcoders.length;
    }

    function numActors() public view returns (uint256) {
        return transcoders.length + delegators.length + 1;
    }

    function actor(uint256 i) public view returns (address) {
        if (i < transcoders.length) return transcoders[i];
        i -= transcoders.length;
        if (i < delegators.length) return delegators[i];
        return attacker;
    }

    function locksOf(address a) external view returns (uint256[] memory) {
        return lockIds[a];
    }

    /// Called by the test's setUp for the initial stake, under the same bookkeeping.
    function seedBond(address who, uint256 amount, address to) external {
        _bond(who, amount, to);
    }

    // ------------------------------------------------------------------ actions

    function bond(uint256 dSeed, uint256 tSeed, uint256 amount) external {
        _ensureRound();
        address d = delegators[dSeed % delegators.length];
        address t = transcoders[tSeed % transcoders.length];
        amount = bound(amount, 1, 100_000 ether);
        _bond(d, amount, t);
        calls["bond"]++;
    }

    /// An orchestrator adds to its self-bond (registering again after a full unbond).
    function bondSelf(uint256 tSeed, uint256 amount) external {
        _ensureRound();
        address t = transcoders[tSeed % transcoders.length];
        amount = bound(amount, 1, 100_000 ether);
        _bond(t, amount, t);
        calls["bondSelf"]++;
    }

    function unbond(uint256 aSeed, uint256 amount) external {
        _ensureRound();
        address a = _transcoderOrDelegator(aSeed);
        uint256 round = rm.currentRound();
        uint256 stake = _movable(a, round);
        if (stake == 0 || _startRound(a) > round) {
            vm.prank(a);
            vm.expectRevert(bytes("caller must be bonded"));
            bm.unbond(1);
            return;
        }
        amount = bound(amount, 1, stake);
        lockIds[a].push(_nextLockId(a));
        vm.prank(a);
        bm.unbond(amount);
        if (amount == stake) ghostDelegate[a] = address(0);
        calls["unbond"]++;
    }

    function rebond(uint256 aSeed, uint256 lockSeed) external {
        _ensureRound();
        address a = _transcoderOrDelegator(aSeed);
        (bool found, uint256 id) = _pickLock(a, lockSeed);
        if (!found) return;
        uint256 bonded = bm.pendingStake(a, 0);
        vm.prank(a);
        if (bonded == 0) {
            vm.expectRevert(bytes("caller must be bonded"));
            bm.rebond(id);
            return;
        }
        bm.rebond(id);
        calls["rebond"]++;
    }

    function rebondFromUnbonded(uint256 aSeed, uint256 tSeed, uint256 lockSeed) external {
        _ensureRound();
        address a = _transcoderOrDelegator(aSeed);
        (bool found, uint256 id) = _pickLock(a, lockSeed);
        if (!found) return;
        // Orchestrators come back to themselves, delegators pick an orchestrator.
        address to = _isTranscoderActor(a) ? a : transcoders[tSeed % transcoders.length];
        bool bonded = bm.pendingStake(a, 0) > 0;
        vm.prank(a);
        if (bonded) {
            vm.expectRevert(bytes("caller must be unbonded"));
            bm.rebondFromUnbonded(to, id);
            return;
        }
        bm.rebondFromUnbonded(to, id);
        ghostDelegate[a] = to;
        calls["rebondFromUnbonded"]++;
    }

    function withdrawStake(uint256 aSeed, uint256 lockSeed) external {
        _ensureRound();
        address a = _transcoderOrDelegator(aSeed);
        (bool found, uint256 id) = _pickLock(a, lockSeed);
        if (!found) return;
        (uint256 amount, uint256 withdrawRound) = bm.getDelegatorUnbondingLock(a, id);
        bool early = withdrawRound > rm.currentRound();
        uint256 before = token.balanceOf(a);
        vm.prank(a);
        if (early) {
            vm.expectRevert(bytes("withdraw round must be before or equal to the current round"));
            bm.withdrawStake(id);
            return;
        }
        bm.withdrawStake(id);
        _check(token.balanceOf(a) == before + amount, "withdrawStake paid the lock");
        withdrawn += amount;
        calls["withdrawStake"]++;
    }

    function transferBond(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        _ensureRound();
        address from = delegators[fromSeed % delegators.length];
        address to = delegators[toSeed % delegators.length];
        if (from == to) to = delegators[(toSeed % delegators.length + 1) % delegators.length];
        uint256 round = rm.currentRound();
        uint256 stake = _movable(from, round);
        if (stake == 0 || _startRound(from) > round) return;
        amount = bound(amount, 1, stake);
        bool griefing = _claimWouldGrief(to, round);
        address fromDelegate = ghostDelegate[from];
        bool receiverUnbonded = bm.pendingStake(to, 0) == 0;
        vm.prank(from);
        if (griefing) {
            vm.expectRevert(bytes("ILLEGAL_CLAIM_EARNINGS"));
            bm.transferBond(to, amount, address(0), address(0), address(0), address(0));
            return;
        }
        bm.transferBond(to, amount, address(0), address(0), address(0), address(0));
        if (amount == stake) ghostDelegate[from] = address(0);
        if (receiverUnbonded) ghostDelegate[to] = fromDelegate;
        calls["transferBond"]++;
    }

    function reward(uint256 tSeed) external {
        _ensureRound();
        address t = transcoders[tSeed % transcoders.length];
        uint256 round = rm.currentRound();
        if (!bm.isActiveTranscoder(t)) {
            vm.prank(t);
            vm.expectRevert(bytes("caller must be an active transcoder"));
            bm.reward();
            return;
        }
        if (_lastRewardRound(t) == round) {
            vm.prank(t);
            vm.expectRevert(bytes("caller has already called reward for the current round"));
            bm.reward();
            return;
        }
        _rewardChecked(t, round);
        // C6: a second call in the round must fail. (A transcoder evicted earlier in the round
        // may re-enter the pool through its own reward, for the next round: it then also
        // stops counting as active in this one.)
        vm.prank(t);
        try bm.reward() {
            _check(false, "C6: second reward in a round");
        } catch Error(string memory reason) {
            bytes32 r = keccak256(bytes(reason));
            _check(
                r == keccak256("caller has already called reward for the current round")
                    || r == keccak256("caller must be an active transcoder"),
                "C6: second reward refused for an unexpected reason"
            );
        }
        calls["reward"]++;
    }

    function payFees(uint256 tSeed, uint256 amount) external {
        _ensureRound();
        address t = transcoders[tSeed % transcoders.length];
        amount = bound(amount, 1, 10 ether);
        uint256 round = rm.currentRound();
        vm.deal(ticketBroker, ticketBroker.balance + amount);
        vm.startPrank(ticketBroker);
        if (!bm.isRegisteredTranscoder(t)) {
            vm.expectRevert(bytes("transcoder must be registered"));
            bm.updateTranscoderWithFees(t, amount, round);
        } else if (_feeStake(t, round) == 0) {
            vm.expectRevert(bytes("transcoder has no stake in the round"));
            bm.updateTranscoderWithFees(t, amount, round);
        } else {
            minter.depositETH{value: amount}();
            bm.updateTranscoderWithFees(t, amount, round);
            feesPaid += amount;
            calls["payFees"]++;
        }
        vm.stopPrank();
    }

    function claim(uint256 aSeed) external {
        _ensureRound();
        address a = actor(aSeed % numActors());
        uint256 stake = bm.pendingStake(a, 0);
        uint256 fees = bm.pendingFees(a, 0);
        (,,,,, uint256 lastClaim,) = bm.getDelegator(a);
        vm.prank(a);
        bm.claimEarnings(0);
        _check(bm.pendingStake(a, 0) == stake, "claim leaves the pending stake as it was");
        _check(bm.pendingFees(a, 0) == fees, "claim leaves the pending fees as they were");
        // A claim is a no-op within a round; a transcoder's rewards since then wait for the
        // next round's claim.
        if (lastClaim < rm.currentRound()) {
            (uint256 bonded, uint256 claimedFees,,,,,) = bm.getDelegator(a);
            _check(bonded == stake, "claim bonds exactly the pending stake");
            _check(claimedFees == fees, "claim books exactly the pending fees");
        }
        calls["claim"]++;
    }

    function withdrawFees(uint256 aSeed, uint256 amount) external {
        _ensureRound();
        address a = actor(aSeed % numActors());
        // What the withdrawal's own claim makes available: all pending fees, unless the
        // account already claimed this round (a transcoder's later fees wait a round).
        (, uint256 claimed,,,, uint256 lastClaim,) = bm.getDelegator(a);
        uint256 fees = lastClaim < rm.currentRound() ? bm.pendingFees(a, 0) : claimed;
        amount = bound(amount, 0, fees);
        uint256 before = a.balance;
        vm.prank(a);
        bm.withdrawFees(payable(a), amount);
        _check(a.balance == before + amount, "withdrawFees paid");
        feesWithdrawn += amount;
        calls["withdrawFees"]++;
    }

    function setCommission(uint256 tSeed, uint256 rewardCut, uint256 feeShare) external {
        _ensureRound();
        address t = transcoders[tSeed % transcoders.length];
        rewardCut = bound(rewardCut, 0, 1_000_000);
        feeShare = bound(feeShare, 0, 1_000_000);
        uint256 round = rm.currentRound();
        bool locked = rm.currentRoundLocked();
        bool registered = bm.isRegisteredTranscoder(t);
        bool busy = bm.isActiveTranscoder(t) && _lastRewardRound(t) != round;
        if (locked) {
            vm.expectRevert(bytes("can't update transcoder params, current round is locked"));
        } else if (!registered) {
            vm.expectRevert(bytes("transcoder must be registered"));
        } else if (busy) {
            vm.expectRevert(bytes("caller can't be active or must have already called reward for the current round"));
        } else {
            calls["setCommission"]++;
        }
        vm.prank(t);
        bm.transcoder(rewardCut, feeShare);
    }

    /// Moves 1-3 rounds ahead to a random block of the round; the next action initializes
    /// it, so the rounds in between are skipped.
    function advance(uint256 rounds, uint256 offset) external {
        rounds = bound(rounds, 1, 3);
        offset = bound(offset, 0, ROUND_LENGTH - 1);
        vm.roll(rm.currentRoundStartBlock() + rounds * ROUND_LENGTH + offset);
        calls["advance"]++;
    }

    /// RewardsGriefing: the attacker tops up a victim's bond by a few wei before its
    /// orchestrator's reward. Allowed only when it can't cost the victim its reward.
    function grief(uint256 vSeed, uint256 amount, uint256 tSeed) external {
        _ensureRound();
        address victim = delegators[vSeed % delegators.length];
        amount = bound(amount, 1, 1 ether);
        uint256 round = rm.currentRound();
        _mint(attacker, amount);
        bool unbonded = bm.pendingStake(victim, 0) == 0;
        // An unbonded victim may be bonded by anyone, to anyone but itself.
        address to = unbonded ? transcoders[tSeed % transcoders.length] : ghostDelegate[victim];
        bool griefing = !unbonded && _claimWouldGrief(victim, round);
        vm.prank(attacker);
        if (griefing) {
            vm.expectRevert(bytes("ILLEGAL_CLAIM_EARNINGS"));
            bm.bondForWithHint(amount, victim, to, address(0), address(0), address(0), address(0));
            return;
        }
        bm.bondForWithHint(amount, victim, to, address(0), address(0), address(0), address(0));
        deposited += amount;
        ghostDelegate[victim] = to;
        calls["grief"]++;
    }

    /// Forced delegation: the attacker tries to make a victim delegate to itself or to
    /// change its delegate. Always refused.
    function forceDelegation(uint256 vSeed, uint256 tSeed) external {
        _ensureRound();
        address victim = delegators[vSeed % delegators.length];
        _mint(attacker, 1);
        address before = bm.pendingStake(victim, 0) == 0 ? address(0) : ghostDelegate[victim];
        address to = before == address(0) ? victim : transcoders[tSeed % transcoders.length];
        if (to == before) to = transcoders[(tSeed % transcoders.length + 1) % transcoders.length];
        vm.prank(attacker);
        try bm.bondForWithHint(1, victim, to, address(0), address(0), address(0), address(0)) {
            _check(false, "forced delegation succeeded");
        } catch Error(string memory reason) {
            bytes32 r = keccak256(bytes(reason));
            _check(
                r == keccak256("INVALID_DELEGATE") || r == keccak256("INVALID_DELEGATE_CHANGE")
                    || r == keccak256("ILLEGAL_CLAIM_EARNINGS"),
                "forced delegation refused with an unexpected reason"
            );
        }
        calls["forceDelegation"]++;
    }

    function setTreasury(uint256 rate, uint256 ceiling) external {
        rate = bound(rate, 0, 0.2e27);
        ceiling = bound(ceiling, 0, 2000 ether);
        vm.startPrank(owner);
        bm.setTreasuryRewardCutRate(rate);
        bm.setTreasuryBalanceCeiling(ceiling);
        vm.stopPrank();
        calls["setTreasury"]++;
    }

    // ------------------------------------------------------------------ reward with C6/C9 checks

    struct Share {
        address who;
        uint256 before;
    }

    struct RewardSnapshot {
        uint256 stake; // the transcoder's stake for this round
        uint256 total; // the round's total active stake
        uint256 mintable;
        uint256 mintedBefore;
        uint256 treasuryBefore;
        uint256 rate;
        uint256 rewardCut;
    }

    function _rewardChecked(address t, uint256 round) internal {
        RewardSnapshot memory snap;
        snap.stake = _roundStake(t, round);
        snap.total = bm.currentRoundTotalActiveStake();
        snap.mintable = minter.currentMintableTokens();
        snap.mintedBefore = minter.currentMintedTokens();
        snap.treasuryBefore = token.balanceOf(_treasury());
        snap.rate = bm.treasuryRewardCutRate();
        (, snap.rewardCut,,,,,,,,) = bm.getTranscoder(t);
        Share[] memory shares = _sharesBefore(t, round);

        vm.prank(t);
        bm.reward();
        rewardCalls[t][round]++;

        uint256 m = minter.currentMintedTokens() - snap.mintedBefore;
        uint256 cut = token.balanceOf(_treasury()) - snap.treasuryBefore;
        minted += m;
        toTreasury += cut;
        // C6: minted <= mintable x stake / total, and the round's total <= mintable.
        _check(m <= snap.mintable * snap.stake / snap.total, "C6: minted above the stake's share of mintable");
        _check(minter.currentMintedTokens() <= snap.mintable, "C6: minted above mintable");
        _check(cut == m * snap.rate / ONE, "C6: treasury cut at 1e27 precision");
        // C9: the minted amount and every counted participant's share vs exact rationals.
        _record(_absDiff(m * snap.total, snap.mintable * snap.stake) / snap.total, "C9: minted vs exact");
        _checkShares(t, shares, m - cut, snap);
    }

    function _checkShares(address t, Share[] memory shares, uint256 rewards, RewardSnapshot memory snap) internal {
        uint256 commission = rewards * snap.rewardCut / 1_000_000;
        uint256 dr = rewards - commission;
        for (uint256 i = 0; i < shares.length; i++) {
            address who = shares[i].who;
            if (who == address(0)) continue;
            uint256 exact = dr * shares[i].before / snap.stake;
            if (who == t) exact += commission;
            uint256 actual = bm.pendingStake(who, 0) - shares[i].before;
            _record(_absDiff(actual, exact), "C9: reward share vs exact");
        }
    }

    /// Pending stakes of the participants whose stake is in this round's pool stake: those
    /// delegating to `t` that have not touched their bond this round.
    function _sharesBefore(address t, uint256 round) internal view returns (Share[] memory shares) {
        shares = new Share[](numActors());
        for (uint256 i = 0; i < shares.length; i++) {
            address a = actor(i);
            (,, address delegate,,, uint256 lastClaim,) = bm.getDelegator(a);
            if (delegate != t || lastClaim >= round || _startRound(a) > round) continue;
            shares[i] = Share(a, bm.pendingStake(a, 0));
        }
    }

    // ------------------------------------------------------------------ helpers

    function _bond(address who, uint256 amount, address to) internal {
        _mint(who, amount);
        vm.prank(who);
        bm.bond(amount, to);
        deposited += amount;
        ghostDelegate[who] = to;
    }

    function _mint(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.prank(who);
        token.approve(address(bm), type(uint256).max);
    }

    function _ensureRound() internal {
        if (!rm.currentRoundInitialized()) rm.initializeRound();
    }

    function _transcoderOrDelegator(uint256 seed) internal view returns (address) {
        uint256 n = transcoders.length + delegators.length;
        return actor(seed % n);
    }

    function _isTranscoderActor(address a) internal view returns (bool) {
        for (uint256 i = 0; i < transcoders.length; i++) {
            if (transcoders[i] == a) return true;
        }
        return false;
    }

    function _pickLock(address a, uint256 seed) internal view returns (bool, uint256) {
        uint256[] storage ids = lockIds[a];
        uint256 n = ids.length;
        for (uint256 k = 0; k < n; k++) {
            // seed % n first: any seed, 2^256 − 1 included, without overflow.
            uint256 id = ids[(seed % n + k) % n];
            if (bm.isValidUnbondingLock(a, id)) return (true, id);
        }
        return (false, 0);
    }

    /// The anti-griefing rule: a third party claiming for `owner` now would fix its start
    /// factor before its active delegate's reward.
    function _claimWouldGrief(address _owner, uint256 round) internal view returns (bool) {
        (uint256 bonded,, address delegate,,, uint256 lastClaim,) = bm.getDelegator(_owner);
        if (bonded == 0 || lastClaim == round) return false;
        return bm.isActiveTranscoder(delegate) && _lastRewardRound(delegate) != round;
    }

    /// The stake a fee booking divides by now (0 means it will divide by zero).
    function _feeStake(address t, uint256 round) internal view returns (uint256) {
        if (_lastRewardRound(t) == round) return _poolStake(t, round);
        return _roundStake(t, round);
    }

    /// This round's stake of `t` as reward() determines it.
    function _roundStake(address t, uint256 round) internal view returns (uint256) {
        (,,, uint256 lastUpdate,,,,,,) = bm.getTranscoder(t);
        return lastUpdate < round ? _poolStake(t, lastUpdate) : _poolStake(t, round);
    }

    function _poolStake(address t, uint256 round) internal view returns (uint256 stake) {
        (stake,,,,) = bm.getTranscoderEarningsPoolForRound(t, round);
    }

    function _lastRewardRound(address t) internal view returns (uint256 r) {
        (r,,,,,,,,,) = bm.getTranscoder(t);
    }

    /// What `unbond`/`transferBond` can move now: their own claim books the pending stake
    /// only if the account has not claimed this round yet; after a same-round claim a
    /// transcoder's rewards of this round wait for the next round (as in Livepeer), so only
    /// the bonded amount moves.
    function _movable(address a, uint256 round) internal view returns (uint256) {
        (uint256 bonded,,,,, uint256 lastClaim,) = bm.getDelegator(a);
        return lastClaim < round ? bm.pendingStake(a, 0) : bonded;
    }

    function _startRound(address a) internal view returns (uint256 r) {
        (,,,, r,,) = bm.getDelegator(a);
    }

    function _nextLockId(address a) internal view returns (uint256 id) {
        (,,,,,, id) = bm.getDelegator(a);
    }

    function _treasury() internal view returns (address) {
        return bm.controller().getContract(keccak256("Treasury"));
    }

    function _absDiff(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }

    function _record(uint256 err, string memory what) internal {
        if (err > maxRewardError) maxRewardError = err;
        _check(err <= C9_TOLERANCE, what);
    }

    function _check(bool ok, string memory what) internal {
        if (ok) return;
        if (violations == 0) firstViolation = what;
        violations++;
    }
}
