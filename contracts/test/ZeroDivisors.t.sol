// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {Minter} from "../src/token/Minter.sol";
import {RoundsManager} from "../src/rounds/RoundsManager.sol";
import {ManagerProxy} from "../src/ManagerProxy.sol";
import {MathUtilsV2} from "../src/libraries/MathUtilsV2.sol";

/// Every division in the contracts whose divisor is not a constant, and the call sequences
/// that once reached a zero divisor. Each reachable guard is tested here with its revert
/// string; the guards no sequence of calls can reach are proved unreachable by the
/// invariant suites (ProtocolInvariant's "round stake of an active transcoder").
///
/// | site                                           | divisor                      | cover |
/// |------------------------------------------------|------------------------------|-------|
/// | BondingManager.rewardWithHint → Minter/factors | the caller's round stake     | require + invariant + the two regressions below |
/// | BondingManager.updateTranscoderWithFees        | the recipient's round stake  | require, test_Fees_NoActiveStake |
/// | BondingManager._previousRewardFactor           | total active stake, stake+reward | follows from the fee require (reward ran this round) |
/// | BondingManager._pendingStakeAndFees            | start CRF                    | 0 read as 1.0 |
/// | Minter.createReward                            | total active stake           | require, test_CreateReward_ZeroTotal |
/// | Minter._nextInflation                          | supply                       | `if (_supply > 0)` |
/// | RoundsManager._currentRoundAndStart            | round length                 | require, test_CurrentRound_BeforeRoundLength |
/// | TicketBroker._claimableReserve                 | pool size                    | `if (poolSize == 0) return 0` |
/// | BondingVotes._stakeWithRewards                 | start CRF                    | 0 read as 1.0 |
contract ZeroDivisorsTest is ProtocolFixture {
    address internal o0;
    address internal o1;
    address internal o2;
    address internal o3;

    function setUp() public {
        // The broker invariant suite's network: three seats, three orchestrators in them and
        // a fourth outside.
        activeSetSize = 3;
        deployProtocol();
        o0 = makeAddr("o0");
        o1 = makeAddr("o1");
        o2 = makeAddr("o2");
        o3 = makeAddr("o3");
        registerTranscoder(o0, 4000 ether, 0, 0);
        registerTranscoder(o1, 3000 ether, 0, 0);
        registerTranscoder(o2, 2000 ether, 0, 0);
        fund(o0, 1_000_000 ether);
        fund(o1, 1_000_000 ether);
        fund(o2, 1_000_000 ether);
        fund(o3, 1_000_000 ether);
        nextRound();
    }

    /// What reward() must mint for a transcoder whose round began with `stake`.
    function expectedReward(uint256 stake) internal view returns (uint256) {
        return MathUtilsV2.percOf(minter.currentMintableTokens(), stake, bondingManager.getTotalBonded());
    }

    /// BrokerInvariantTest.invariant_C1_to_C5, seed 0x63d6…52a5, shrunk to
    /// advance → resign → bondMore → bondMore → reward: after o2 resigned, o3 took its seat
    /// and o2 bonded again without room to rejoin, so the out-of-pool stake record wrote o2's
    /// post-resign stake (0) as this round's, and reward() divided by it (panic 0x12). o2 is
    /// still active this round, so it is rewarded on the stake the round began with.
    function test_ResignBondMoreBondMoreReward_ShrunkInvariantSequence() public {
        nextRound(); // advance
        uint256 round = currentRound();
        uint256 roundStake = delegatedAmount(o2);
        vm.prank(o2); // resign: unbond everything
        bondingManager.unbond(2000 ether);
        bondAs(o3, 500 ether, o3); // bondMore: o3 registers and takes the free seat
        bondAs(o2, 7 ether, o2); // bondMore: o2 registers again, too small to rejoin
        vm.assertFalse(bondingManager.isInTranscoderPool(o2), "o2 outside the pool");
        vm.assertTrue(bondingManager.isActiveTranscoder(o2), "o2 still active this round");
        vm.assertEq(poolStake(o2, round), roundStake, "this round keeps the stake it began with");
        vm.assertEq(poolStake(o2, round + 1), 7 ether, "the next round has the new stake");

        uint256 want = expectedReward(roundStake);
        vm.assertGt(want, 0, "something to mint");
        uint256 before = delegatedAmount(o2);
        rewardAs(o2); // panicked with 0x12 before the fix
        vm.assertEq(delegatedAmount(o2) - before, want, "rewarded on the round-start stake");
        vm.assertEq(lastRewardRound(o2), round, "reward recorded");
    }

    /// The same shape through eviction: evicted by a bigger newcomer, then back in the pool
    /// within the round by bonding more. Rejoining moves its activation to the next round (as
    /// in Livepeer), so it can't call reward() again this round; the fees it books this round
    /// are shared over the stake the round began with (the divisor was 0 before the fix).
    function test_EvictedThenRejoinedInTheSameRound_FeesOnRoundStartStake() public {
        nextRound(); // no stake recorded for this round yet
        uint256 round = currentRound();
        uint256 roundStake = delegatedAmount(o2);
        bondAs(o3, 2500 ether, o3); // o3 takes o2's seat from the next round
        vm.assertFalse(bondingManager.isInTranscoderPool(o2), "o2 evicted");
        bondAs(o2, 1000 ether, o2); // 3000 > 2500: o2 evicts o3 and is back
        vm.assertTrue(bondingManager.isInTranscoderPool(o2), "o2 back in the pool");
        vm.assertEq(poolStake(o2, round), roundStake, "this round keeps the stake it began with");

        payFees(o2, 1 ether);
        // Fee share 0: every wei of the delegators' share (none) and all of the fee is o2's;
        // the factor grows by 0 and the fee lands in o2's own cumulative fees.
        vm.assertEq(cumulativeFeesOf(o2), 1 ether, "fees booked");
        vm.prank(o2);
        vm.expectRevert(bytes("caller must be an active transcoder"));
        bondingManager.reward();
    }

    /// Stake changes earlier in the round, then a resignation and a bond too small to rejoin:
    /// the round stake stays the one the round began with.
    function test_ResignAfterStakeChangesThisRound_KeepsRoundStartStake() public {
        nextRound();
        uint256 round = currentRound();
        uint256 roundStake = delegatedAmount(o1);
        bondAs(o1, 500 ether, o1);
        vm.prank(o1);
        bondingManager.unbond(3500 ether);
        bondAs(o3, 600 ether, o3);
        bondAs(o1, 1 ether, o1);
        vm.assertFalse(bondingManager.isInTranscoderPool(o1), "o1 outside the pool");
        vm.assertEq(poolStake(o1, round), roundStake, "round stake from before the first change");
        uint256 want = expectedReward(roundStake);
        uint256 before = delegatedAmount(o1);
        rewardAs(o1);
        vm.assertEq(delegatedAmount(o1) - before, want, "rewarded on the round-start stake");
    }

    /// A resigned transcoder is rewarded once more, in its last active round; in the next
    /// round it is inactive and reward() says so.
    function test_ResignedTranscoder_LastRoundThenInactive() public {
        vm.prank(o2);
        bondingManager.unbond(2000 ether);
        // Big enough that o2's reward, bonded to it, does not win the seat back.
        bondAs(o3, 2500 ether, o3);
        bondAs(o2, 1 ether, o2);
        rewardAs(o2);
        nextRound();
        vm.prank(o2);
        vm.expectRevert(bytes("caller must be an active transcoder"));
        bondingManager.reward();
    }

    // ------------------------------------------------------------------ the guards

    /// A registered transcoder that never had stake in the pool books no fees: the divisor
    /// (its round stake) is 0. Was a bare division by zero.
    function test_Fees_NoActiveStake() public {
        address idle = makeAddr("idle");
        fund(idle, 1 ether);
        bondAs(idle, 1 ether, idle); // the pool is full: never joins
        vm.assertFalse(bondingManager.isInTranscoderPool(idle), "outside the pool");
        uint256 round = currentRound();
        vm.prank(ticketBroker);
        vm.expectRevert(bytes("transcoder has no stake in the round"));
        bondingManager.updateTranscoderWithFees(idle, 1, round);
    }

    /// Minter.createReward divides by the round's total active stake.
    function test_CreateReward_ZeroTotal() public {
        vm.prank(address(bondingManager));
        vm.expectRevert(bytes("total active stake is zero"));
        minter.createReward(1, 0);
        // A zero numerator is fine: nothing is minted.
        vm.prank(address(bondingManager));
        vm.assertEq(minter.createReward(0, 1), 0, "nothing minted");
    }

    /// RoundsManager counts rounds by its round length, which is 0 until set.
    function test_CurrentRound_BeforeRoundLength() public {
        RoundsManager fresh = new RoundsManager(address(controller));
        vm.expectRevert(bytes("round length is not set"));
        fresh.currentRound();
        vm.expectRevert(bytes("round length is not set"));
        fresh.currentRoundInitialized();
    }

    /// An empty active set: the next round's inflation step divides by the supply, not by
    /// the bonded stake, and reward() has nobody to divide for.
    function test_EmptyActiveSet_RoundsGoOn() public {
        // Empty the pool: everybody unbonds.
        vm.prank(o0);
        bondingManager.unbond(4000 ether);
        vm.prank(o1);
        bondingManager.unbond(3000 ether);
        vm.prank(o2);
        bondingManager.unbond(2000 ether);
        vm.assertEq(bondingManager.getTranscoderPoolSize(), 0, "empty pool");
        nextRound();
        vm.assertEq(bondingManager.getTotalBonded(), 0, "no active stake");
        vm.assertFalse(bondingManager.isActiveTranscoder(o0), "nobody active");
    }
}
