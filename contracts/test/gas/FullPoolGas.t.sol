// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GasBase} from "./GasBase.sol";

/// A full pool of 100 transcoders, t0 (10,000 LPT, the tail) to t99 (19,900 LPT, the head),
/// 100 LPT apart, all active. Each call moves a node to the position that costs the most
/// without hints here: an unhinted insert walks down from the head, so the far end of the
/// list is the worst place to land. (A re-key that keeps a node between its neighbours is
/// done in place and needs no walk; those cases are measured too.)
contract FullPoolGasTest is GasBase {
    uint256 internal constant POOL = 100;
    address[POOL] internal t;

    function setUp() public {
        activeSetSize = POOL;
        deployProtocol();
        for (uint256 i = 0; i < POOL; i++) {
            t[i] = transcoderAt(i);
            registerTranscoder(t[i], 10_000 ether + i * 100 ether, 100_000, 500_000);
        }
        nextRound();
        for (uint256 i = 0; i < POOL; i++) {
            rewardAs(t[i]);
        }
        nextRound();
        vm.assertEq(poolMembers()[POOL - 1], t[0], "t0 is the tail");
    }

    // ------------------------------------------------------------------ reward

    /// Livepeer's worst case: the tail rewards. Its node stays the tail: re-keyed in place.
    function test_Reward_TailStays_NoHint() public {
        rewardAs(t[0]);
        measure("pool100 reward by tail, no hint (stays)", 993_947);
    }

    /// Our worst case: the tail's reward lifts it above its neighbour (t1 brought down to
    /// 1 wei above it), so the node is re-inserted and the unhinted walk covers the list.
    function test_Reward_TailMoves_NoHint() public {
        vm.pauseGasMetering();
        bringT1JustAboveTail();
        vm.resumeGasMetering();
        rewardAs(t[0]);
        measure("pool100 reward by tail, no hint (moves)", 993_947);
        vm.assertEq(poolMembers()[POOL - 2], t[0], "t0 moved up one");
    }

    function test_Reward_TailMoves_Hint() public {
        vm.pauseGasMetering();
        bringT1JustAboveTail();
        vm.resumeGasMetering();
        vm.prank(t[0]);
        bondingManager.rewardWithHint(t[2], t[1]);
        measure("pool100 reward by tail, hint", 469_597);
        vm.assertEq(poolMembers()[POOL - 2], t[0], "t0 moved up one");
    }

    function bringT1JustAboveTail() internal {
        rewardAs(t[1]);
        uint256 amount = delegatedAmount(t[1]) - delegatedAmount(t[0]) - 1;
        vm.prank(t[1]);
        bondingManager.unbond(amount);
    }

    // ------------------------------------------------------------------ transcoder()

    /// A newcomer with 9,999 LPT could not join; the tail drops to 8,000 LPT and the
    /// newcomer's transcoder() evicts it and lands at the tail.
    function prepareJoinAtTail() internal returns (address newcomer) {
        newcomer = transcoderAt(1000);
        fund(newcomer, 9_999 ether);
        bondAs(newcomer, 9_999 ether, newcomer);
        rewardAs(t[0]);
        vm.prank(t[0]);
        bondingManager.unbond(2_000 ether);
    }

    function test_Transcoder_JoinAtTailEvict_NoHint() public {
        vm.pauseGasMetering();
        address newcomer = prepareJoinAtTail();
        vm.resumeGasMetering();
        vm.prank(newcomer);
        bondingManager.transcoder(100_000, 500_000);
        measure("pool100 transcoder() join at tail + evict, no hint", 840_553);
        vm.assertEq(poolMembers()[POOL - 1], newcomer, "newcomer is the tail");
    }

    function test_Transcoder_JoinAtTailEvict_Hint() public {
        vm.pauseGasMetering();
        address newcomer = prepareJoinAtTail();
        vm.resumeGasMetering();
        vm.prank(newcomer);
        bondingManager.transcoderWithHint(100_000, 500_000, t[1], address(0));
        measure("pool100 transcoder() join at tail + evict, hint", 316_167);
        vm.assertEq(poolMembers()[POOL - 1], newcomer, "newcomer is the tail");
    }

    // ------------------------------------------------------------------ bond

    /// A new delegator lifts the tail one place: 10,150 LPT lands between t2 and t1.
    function test_Bond_TailUpOne_NoHint() public {
        vm.pauseGasMetering();
        address d = makeAddr("d");
        fund(d, 150 ether);
        vm.resumeGasMetering();
        vm.prank(d);
        bondingManager.bond(150 ether, t[0]);
        measure("pool100 bond, no hint", 1_113_336);
        vm.assertEq(poolMembers()[POOL - 2], t[0], "t0 moved up one");
    }

    function test_Bond_TailUpOne_Hint() public {
        vm.pauseGasMetering();
        address d = makeAddr("d");
        fund(d, 150 ether);
        vm.resumeGasMetering();
        vm.prank(d);
        bondingManager.bondWithHint(150 ether, t[0], address(0), address(0), t[2], t[1]);
        measure("pool100 bond, hint", 519_000);
        vm.assertEq(poolMembers()[POOL - 2], t[0], "t0 moved up one");
    }

    /// A delegator's 9,850 LPT on t1 make it the head (19,950 LPT); moving them to the tail
    /// t0 drops t1 back to the tail (~10,100 LPT: the longest walk) and lifts t0 to
    /// second place (19,850 LPT).
    function prepareDelegateChange() internal returns (address d) {
        d = makeAddr("mover");
        fund(d, 9_850 ether);
        bondAs(d, 9_850 ether, t[1]);
        nextRound();
        for (uint256 i = 0; i < POOL; i++) {
            rewardAs(t[i]);
        }
    }

    function test_Bond_DelegateChangeHeadToTail_NoHint() public {
        vm.pauseGasMetering();
        address d = prepareDelegateChange();
        vm.resumeGasMetering();
        vm.prank(d);
        bondingManager.bond(0, t[0]);
        measure("pool100 bond (delegate change head->tail), no hint", 1_113_336);
        vm.assertEq(poolMembers()[POOL - 1], t[1], "old delegate now the tail");
        vm.assertEq(poolMembers()[1], t[0], "new delegate second");
    }

    function test_Bond_DelegateChangeHeadToTail_Hint() public {
        vm.pauseGasMetering();
        address d = prepareDelegateChange();
        uint256 oldKey = delegatedAmount(t[1]) - bondedAmountAfterClaim(d);
        (address oldPrev, address oldNext) = positionFor(oldKey, t[1]);
        uint256 newKey = delegatedAmount(t[0]) + bondedAmountAfterClaim(d);
        (address newPrev, address newNext) = positionFor(newKey, t[0]);
        vm.resumeGasMetering();
        vm.prank(d);
        bondingManager.bondWithHint(0, t[0], oldPrev, oldNext, newPrev, newNext);
        measure("pool100 bond (delegate change head->tail), hint", 519_000);
        vm.assertEq(poolMembers()[POOL - 1], t[1], "old delegate now the tail");
        vm.assertEq(poolMembers()[1], t[0], "new delegate second");
    }

    // ------------------------------------------------------------------ unbond

    /// The head unbonds down to 9,950 LPT: from the head to the tail.
    function test_Unbond_HeadToTail_NoHint() public {
        vm.pauseGasMetering();
        rewardAs(t[99]);
        uint256 amount = delegatedAmount(t[99]) - 9_950 ether;
        vm.resumeGasMetering();
        vm.prank(t[99]);
        bondingManager.unbond(amount);
        measure("pool100 unbond, no hint", 1_028_461);
        vm.assertEq(poolMembers()[POOL - 1], t[99], "head became the tail");
    }

    function test_Unbond_HeadToTail_Hint() public {
        vm.pauseGasMetering();
        rewardAs(t[99]);
        uint256 amount = delegatedAmount(t[99]) - 9_950 ether;
        vm.resumeGasMetering();
        vm.prank(t[99]);
        bondingManager.unbondWithHint(amount, t[0], address(0));
        measure("pool100 unbond, hint", 458_000);
        vm.assertEq(poolMembers()[POOL - 1], t[99], "head became the tail");
    }

    // ------------------------------------------------------------------ rebondFromUnbonded

    /// An unbonded delegator rebonds 150 LPT to the tail: it moves up one place.
    function prepareUnbonded() internal returns (address d) {
        d = makeAddr("returning");
        fund(d, 150 ether);
        bondAs(d, 150 ether, t[50]);
        nextRound();
        for (uint256 i = 0; i < POOL; i++) {
            rewardAs(t[i]);
        }
        uint256 all = pendingStake(d);
        vm.prank(d);
        bondingManager.unbond(all);
    }

    function test_RebondFromUnbonded_TailUpOne_NoHint() public {
        vm.pauseGasMetering();
        address d = prepareUnbonded();
        vm.resumeGasMetering();
        vm.prank(d);
        bondingManager.rebondFromUnbonded(t[0], 0);
        measure("pool100 rebondFromUnbonded, no hint", 967_350);
        vm.assertEq(poolMembers()[POOL - 2], t[0], "t0 moved up one");
    }

    function test_RebondFromUnbonded_TailUpOne_Hint() public {
        vm.pauseGasMetering();
        address d = prepareUnbonded();
        vm.resumeGasMetering();
        vm.prank(d);
        bondingManager.rebondFromUnbondedWithHint(t[0], 0, t[2], t[1]);
        measure("pool100 rebondFromUnbonded, hint", 440_900);
        vm.assertEq(poolMembers()[POOL - 2], t[0], "t0 moved up one");
    }

    // ------------------------------------------------------------------ helpers

    function bondedAmountAfterClaim(address d) internal view returns (uint256) {
        return pendingStake(d);
    }

    /// The neighbours `node` will have once its key is `key` (computed off-chain by a client
    /// the same way: walk the pool without the node).
    function positionFor(uint256 key, address node) internal view returns (address prev, address next) {
        address[] memory m = poolMembers();
        for (uint256 i = 0; i < m.length; i++) {
            if (m[i] == node) continue;
            if (delegatedAmount(m[i]) < key) return (prev, m[i]);
            prev = m[i];
        }
        return (prev, address(0));
    }
}
