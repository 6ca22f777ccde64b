// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {IBondingManager} from "../src/interfaces/IBondingManager.sol";
import {IManager} from "../src/interfaces/IManager.sol";

/// bond / bondWithHint / bondForWithHint, transcoder(), the active set and the status views.
contract BondingManagerBondTest is ProtocolFixture {
    address internal t1;
    address internal t2;
    address internal alice;
    address internal bob;

    function setUp() public {
        deployProtocol();
        t1 = makeAddr("t1");
        t2 = makeAddr("t2");
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        fund(alice, 1000 ether);
        fund(bob, 1000 ether);
    }

    // ------------------------------------------------------------------ self-bond = registration

    function test_Bond_SelfBondRegistersAndJoinsPoolForNextRound() public {
        fund(t1, 100 ether);
        uint256 round = currentRound();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TranscoderActivated(t1, round + 1);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Bond(t1, address(0), t1, 100 ether, 100 ether);
        bondAs(t1, 100 ether, t1);

        vm.assertTrue(bondingManager.isRegisteredTranscoder(t1), "registered");
        vm.assertEq(uint256(bondingManager.transcoderStatus(t1)), 1, "status Registered");
        vm.assertEq(bondingManager.getTranscoderPoolSize(), 1, "in pool");
        vm.assertEq(bondingManager.getFirstTranscoderInPool(), t1, "head");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 100 ether, "next total");
        vm.assertEq(bondingManager.currentRoundTotalActiveStake(), 0, "current total unchanged");
        vm.assertFalse(bondingManager.isActiveTranscoder(t1), "not active this round");
        vm.assertEq(token.balanceOf(address(minter)), 100 ether, "LPT held by the Minter");
        vm.assertEq(token.balanceOf(t1), 0, "LPT left the bonder");
        vm.assertEq(uint256(bondingManager.delegatorStatus(t1)), 0, "Pending");
        vm.assertEq(startRoundOf(t1), round + 1, "start round");
        vm.assertEq(lastClaimRound(t1), round, "claim round");
        vm.assertEq(poolStake(t1, round + 1), 100 ether, "next round pool stake");

        (, uint256 rewardCut, uint256 feeShare,, uint256 activation, uint256 deactivation,,,,) =
            bondingManager.getTranscoder(t1);
        vm.assertEq(rewardCut, 0, "default reward cut");
        vm.assertEq(feeShare, 0, "default fee share");
        vm.assertEq(activation, round + 1, "activation round");
        vm.assertEq(deactivation, type(uint256).max, "never deactivated");

        nextRound();
        vm.assertTrue(bondingManager.isActiveTranscoder(t1), "active next round");
        vm.assertEq(bondingManager.getTotalBonded(), 100 ether, "total bonded = active stake");
        vm.assertEq(uint256(bondingManager.delegatorStatus(t1)), 1, "Bonded");
    }

    function test_Bond_DelegatorAddsToTranscoderStake() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        nextRound();
        uint256 round = currentRound();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Bond(t1, address(0), alice, 50 ether, 50 ether);
        bondAs(alice, 50 ether, t1);
        vm.assertEq(delegatedAmount(t1), 150 ether, "delegated");
        vm.assertEq(bondingManager.transcoderTotalStake(t1), 150 ether, "total stake view");
        vm.assertEq(poolStake(t1, round), 100 ether, "this round's stake kept");
        vm.assertEq(poolStake(t1, round + 1), 150 ether, "next round's stake");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 150 ether, "next total");
        vm.assertEq(bondingManager.currentRoundTotalActiveStake(), 100 ether, "current total");
        vm.assertFalse(bondingManager.isRegisteredTranscoder(alice), "a delegator is not a transcoder");
        vm.assertEq(uint256(bondingManager.transcoderStatus(alice)), 0, "NotRegistered");
        // The new delegator's start factors are those of the round it bonded in.
        vm.assertEq(lastClaimRound(alice), round, "claim round");
    }

    function test_Bond_AddStakeKeepsStartRound() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        bondAs(alice, 10 ether, t1);
        uint256 start = startRoundOf(alice);
        nextRound();
        nextRound();
        bondAs(alice, 5 ether, t1);
        vm.assertEq(startRoundOf(alice), start, "adding stake keeps the start round");
        vm.assertEq(bondedAmount(alice), 15 ether, "bonded");
    }

    function test_Bond_ChangeDelegateMovesWholeBond() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        registerTranscoder(t2, 100 ether, 0, 0);
        bondAs(alice, 10 ether, t1);
        nextRound();
        uint256 round = currentRound();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Bond(t2, t1, alice, 5 ether, 15 ether);
        bondAs(alice, 5 ether, t2);
        vm.assertEq(delegatedAmount(t1), 100 ether, "old delegate lost the bond");
        vm.assertEq(delegatedAmount(t2), 115 ether, "new delegate got bond + amount");
        vm.assertEq(startRoundOf(alice), round + 1, "start round reset");
        vm.assertEq(uint256(bondingManager.delegatorStatus(alice)), 0, "Pending again");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 215 ether, "next total");
        vm.assertEq(poolStake(t1, round + 1), 100 ether, "old delegate next stake");
    }

    function test_Bond_ChangeDelegateWithZeroAmount() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        registerTranscoder(t2, 100 ether, 0, 0);
        bondAs(alice, 10 ether, t1);
        // Moving while still Pending is allowed.
        bondAs(alice, 0, t2);
        vm.assertEq(delegateOf(alice), t2, "moved");
        vm.assertEq(delegatedAmount(t2), 110 ether, "moved stake");
        vm.assertEq(token.balanceOf(alice), 990 ether, "nothing paid");
    }

    function test_Bond_WithHints() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        registerTranscoder(t2, 50 ether, 0, 0);
        vm.prank(alice);
        bondingManager.bondWithHint(10 ether, t2, address(0), address(0), t1, address(0));
        vm.assertEq(delegatedAmount(t2), 60 ether, "bonded with a valid hint");
        // A wrong hint costs gas, not correctness.
        vm.prank(bob);
        bondingManager.bondWithHint(100 ether, t2, address(0), address(0), address(0), t1);
        address[] memory members = poolMembers();
        vm.assertEq(members[0], t2, "t2 now first");
        vm.assertEq(members[1], t1, "t1 second");
    }

    function test_Bond_RevertsForZeroDelegation() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        vm.prank(alice);
        vm.expectRevert(bytes("delegation amount must be greater than 0"));
        bondingManager.bond(0, t1);
    }

    function test_Bond_RevertsWhenTranscoderDelegatesElsewhere() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        registerTranscoder(t2, 100 ether, 0, 0);
        vm.prank(t1);
        vm.expectRevert(bytes("registered transcoders can't delegate towards other addresses"));
        bondingManager.bond(0, t2);
    }

    function test_Bond_RevertsWithoutAllowance() public {
        address carol = makeAddr("carol");
        token.mint(carol, 10 ether);
        registerTranscoder(t1, 100 ether, 0, 0);
        vm.prank(carol);
        vm.expectRevert();
        bondingManager.bond(10 ether, t1);
    }

    function test_Bond_RevertsWhenPaused() public {
        controller.pause();
        vm.prank(alice);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.bond(1 ether, alice);
    }

    function test_Bond_RevertsWhenRoundNotInitialized() public {
        rollToNextRound();
        vm.prank(alice);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.bond(1 ether, alice);
    }

    function test_Bond_ToAccountThatIsNotATranscoderOnlyAccumulates() public {
        bondAs(alice, 10 ether, bob);
        vm.assertEq(delegatedAmount(bob), 10 ether, "delegated to bob");
        vm.assertEq(bondingManager.getTranscoderPoolSize(), 0, "bob is not in the pool");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 0, "not active stake");
        // Bob registering later brings the stake delegated to him into the pool.
        bondAs(bob, 5 ether, bob);
        vm.assertEq(poolMembers()[0], bob, "bob joined");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 15 ether, "with alice's stake");
    }

    // ------------------------------------------------------------------ third-party bonding

    function test_BondFor_ThirdPartyAddsStakeToExistingDelegate() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        bondAs(alice, 10 ether, t1);
        vm.prank(bob);
        bondingManager.bondForWithHint(5 ether, alice, t1, address(0), address(0), address(0), address(0));
        vm.assertEq(bondedAmount(alice), 15 ether, "alice's bond grew");
        vm.assertEq(token.balanceOf(bob), 995 ether, "bob paid");
        vm.assertEq(token.balanceOf(alice), 990 ether, "alice paid nothing more");
    }

    function test_BondFor_ThirdPartyMayBondUnbondedOwnerToSomeoneElse() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        address carol = makeAddr("carol");
        vm.prank(bob);
        bondingManager.bondForWithHint(5 ether, carol, t1, address(0), address(0), address(0), address(0));
        vm.assertEq(delegateOf(carol), t1, "carol delegates to t1");
        vm.assertEq(bondedAmount(carol), 5 ether, "carol's bond");
    }

    function test_BondFor_RevertsForcedSelfDelegation() public {
        address carol = makeAddr("carol");
        vm.prank(bob);
        vm.expectRevert(bytes("INVALID_DELEGATE"));
        bondingManager.bondForWithHint(5 ether, carol, carol, address(0), address(0), address(0), address(0));
    }

    function test_BondFor_RevertsForcedDelegateChange() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        registerTranscoder(t2, 100 ether, 0, 0);
        bondAs(alice, 10 ether, t1);
        vm.prank(bob);
        vm.expectRevert(bytes("INVALID_DELEGATE_CHANGE"));
        bondingManager.bondForWithHint(5 ether, alice, t2, address(0), address(0), address(0), address(0));
    }

    function test_BondFor_RevertsForNullOwner() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        vm.prank(bob);
        vm.expectRevert(bytes("INVALID_DELEGATOR"));
        bondingManager.bondForWithHint(5 ether, address(0), t1, address(0), address(0), address(0), address(0));
    }

    function test_BondFor_RevertsIllegalClaimBeforeReward() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        bondAs(alice, 10 ether, t1);
        nextRound();
        nextRound();
        // t1 is active and has not called reward this round; alice has not claimed.
        vm.prank(bob);
        vm.expectRevert(bytes("ILLEGAL_CLAIM_EARNINGS"));
        bondingManager.bondForWithHint(1, alice, t1, address(0), address(0), address(0), address(0));
        // Allowed once t1 called reward.
        rewardAs(t1);
        vm.prank(bob);
        bondingManager.bondForWithHint(1, alice, t1, address(0), address(0), address(0), address(0));
    }

    function test_BondFor_AllowedWhenOwnerAlreadyClaimedOrDelegateInactive() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        bondAs(alice, 10 ether, t1);
        // t1 is not active yet in this round: a third party may add stake.
        vm.prank(bob);
        bondingManager.bondForWithHint(1, alice, t1, address(0), address(0), address(0), address(0));
        nextRound();
        vm.prank(alice);
        bondingManager.claimEarnings(0);
        // alice claimed herself this round: nothing more to lose.
        vm.prank(bob);
        bondingManager.bondForWithHint(1, alice, t1, address(0), address(0), address(0), address(0));
        vm.assertEq(bondedAmount(alice), 10 ether + 2, "both top-ups landed");
    }

    function test_BondFor_L2MigratorMayChooseDelegate() public {
        address migrator = makeAddr("migrator");
        register("L2Migrator", migrator);
        fund(migrator, 10 ether);
        address carol = makeAddr("carol");
        vm.prank(migrator);
        bondingManager.bondForWithHint(5 ether, carol, carol, address(0), address(0), address(0), address(0));
        vm.assertTrue(bondingManager.isRegisteredTranscoder(carol), "migrated transcoder");
    }

    // ------------------------------------------------------------------ transcoder()

    function test_Transcoder_SetsCommissionAndEmits() public {
        fund(t1, 100 ether);
        bondAs(t1, 100 ether, t1);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TranscoderUpdate(t1, 250_000, 750_000);
        vm.prank(t1);
        bondingManager.transcoder(250_000, 750_000);
        (, uint256 rewardCut, uint256 feeShare,,,,,,,) = bondingManager.getTranscoder(t1);
        vm.assertEq(rewardCut, 250_000, "reward cut");
        vm.assertEq(feeShare, 750_000, "fee share");
    }

    function test_Transcoder_Reverts() public {
        fund(t1, 100 ether);
        vm.startPrank(t1);
        vm.expectRevert(bytes("transcoder must be registered"));
        bondingManager.transcoder(0, 0);
        bondingManager.bond(100 ether, t1);
        vm.expectRevert(bytes("invalid rewardCut percentage"));
        bondingManager.transcoder(1_000_001, 0);
        vm.expectRevert(bytes("invalid feeShare percentage"));
        bondingManager.transcoder(0, 1_000_001);
        vm.stopPrank();

        // Locked: the last 10% of the round.
        vm.roll(roundsManager.currentRoundStartBlock() + ROUND_LENGTH - ROUND_LENGTH / 10);
        vm.prank(t1);
        vm.expectRevert(bytes("can't update transcoder params, current round is locked"));
        bondingManager.transcoder(0, 0);

        // Active and not yet rewarded.
        nextRound();
        vm.prank(t1);
        vm.expectRevert(bytes("caller can't be active or must have already called reward for the current round"));
        bondingManager.transcoder(1, 1);
        rewardAs(t1);
        vm.prank(t1);
        bondingManager.transcoder(1, 1);

        controller.pause();
        vm.prank(t1);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.transcoder(1, 1);
    }

    function test_Transcoder_RevertsWhenRoundNotInitialized() public {
        registerTranscoder(t1, 100 ether, 0, 0);
        rollToNextRound();
        vm.prank(t1);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.transcoder(0, 0);
    }

    // ------------------------------------------------------------------ active set

    function test_Pool_FullPoolEvictsTailOnlyOnStrictlyGreaterStake() public {
        // Grow a fresh fixture's pool to exactly NUM_ACTIVE members.
        address[] memory ts = new address[](NUM_ACTIVE);
        for (uint256 i = 0; i < NUM_ACTIVE; i++) {
            ts[i] = makeAddr(string(abi.encodePacked("pool", vm.toString(i))));
            registerTranscoder(ts[i], (i + 1) * 10 ether, 0, 0);
        }
        vm.assertEq(bondingManager.getTranscoderPoolSize(), NUM_ACTIVE, "full");
        vm.assertEq(bondingManager.getTranscoderPoolMaxSize(), NUM_ACTIVE, "max");
        nextRound();
        uint256 round = currentRound();
        uint256 totalBefore = bondingManager.nextRoundTotalActiveStake();

        // A tie with the tail (10 LPT) does not evict.
        address tie = makeAddr("tie");
        fund(tie, 10 ether);
        bondAs(tie, 10 ether, tie);
        vm.assertEq(bondingManager.getTranscoderPoolSize(), NUM_ACTIVE, "still full");
        vm.assertTrue(bondingManager.isRegisteredTranscoder(tie), "registered anyway");
        (,,,, uint256 tieActivation,,,,,) = bondingManager.getTranscoder(tie);
        vm.assertEq(tieActivation, 0, "not activated");

        // One wei more evicts the tail at the next round.
        address bigger = makeAddr("bigger");
        fund(bigger, 10 ether + 1);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TranscoderDeactivated(ts[0], round + 1);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TranscoderActivated(bigger, round + 1);
        bondAs(bigger, 10 ether + 1, bigger);
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), totalBefore - 10 ether + 10 ether + 1, "total swapped");
        address[] memory members = poolMembers();
        vm.assertEq(members[NUM_ACTIVE - 1], bigger, "new tail");
        vm.assertTrue(bondingManager.isActiveTranscoder(ts[0]), "evicted one still active this round");
        nextRound();
        vm.assertFalse(bondingManager.isActiveTranscoder(ts[0]), "inactive from the next round");
        vm.assertTrue(bondingManager.isActiveTranscoder(bigger), "active from the next round");
        vm.assertEq(bondingManager.getTotalBonded(), totalBefore + 1, "active total");

        // The evicted transcoder re-enters with more stake than the new tail (10 LPT + 1 wei).
        fund(ts[0], 1 ether);
        bondAs(ts[0], 1 ether, ts[0]);
        vm.assertTrue(contains(ts[0]), "back in the pool");
        vm.assertFalse(contains(bigger), "bigger evicted in turn");
    }

    function test_Pool_TranscoderCallJoinsWhenRoomAppears() public {
        for (uint256 i = 0; i < NUM_ACTIVE; i++) {
            registerTranscoder(makeAddr(string(abi.encodePacked("p", vm.toString(i)))), 10 ether, 0, 0);
        }
        address late = makeAddr("late");
        registerTranscoder(late, 5 ether, 0, 0);
        vm.assertFalse(contains(late), "no room");
        bondingManager.setNumActiveTranscoders(NUM_ACTIVE + 1);
        vm.prank(late);
        bondingManager.transcoder(0, 0);
        vm.assertTrue(contains(late), "joined via transcoder()");
    }

    function test_Pool_SetNumActiveTranscodersOnlyGrows() public {
        vm.expectRevert(bytes("new max size must be greater than old max size"));
        bondingManager.setNumActiveTranscoders(NUM_ACTIVE);
        vm.expectEmit(address(bondingManager));
        emit IManager.ParameterUpdate("numActiveTranscoders");
        bondingManager.setNumActiveTranscoders(NUM_ACTIVE + 5);
        vm.assertEq(bondingManager.getTranscoderPoolMaxSize(), NUM_ACTIVE + 5, "grown");
    }

    function test_Pool_OrderedByStakeAndFollowsStakeChanges() public {
        registerTranscoder(t1, 10 ether, 0, 0);
        registerTranscoder(t2, 20 ether, 0, 0);
        address t3 = makeAddr("t3");
        registerTranscoder(t3, 15 ether, 0, 0);
        address[] memory m = poolMembers();
        vm.assertEq(m[0], t2, "first");
        vm.assertEq(m[1], t3, "second");
        vm.assertEq(m[2], t1, "third");
        bondAs(alice, 11 ether, t1);
        m = poolMembers();
        vm.assertEq(m[0], t1, "t1 overtook");
        vm.assertEq(bondingManager.getNextTranscoderInPool(t1), t2, "then t2");
        vm.assertEq(bondingManager.getNextTranscoderInPool(t3), address(0), "t3 last");
    }

    function contains(address t) internal view returns (bool) {
        address[] memory m = poolMembers();
        for (uint256 i = 0; i < m.length; i++) {
            if (m[i] == t) return true;
        }
        return false;
    }
}
