// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {IBondingManager} from "../src/interfaces/IBondingManager.sol";

/// unbond, rebond, rebondFromUnbonded, withdrawStake and transferBond.
contract BondingManagerUnbondTest is ProtocolFixture {
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
        registerTranscoder(t1, 100 ether, 0, 0);
        registerTranscoder(t2, 50 ether, 0, 0);
        bondAs(alice, 40 ether, t1);
        nextRound();
    }

    function lock(address who, uint256 id) internal view returns (uint256 amount, uint256 withdrawRound) {
        return bondingManager.getDelegatorUnbondingLock(who, id);
    }

    // ------------------------------------------------------------------ unbond

    function test_Unbond_PartialCreatesLock() public {
        uint256 round = currentRound();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Unbond(t1, alice, 0, 15 ether, round + UNBONDING_PERIOD);
        vm.prank(alice);
        bondingManager.unbond(15 ether);

        (uint256 amount, uint256 withdrawRound) = lock(alice, 0);
        vm.assertEq(amount, 15 ether, "lock amount");
        vm.assertEq(withdrawRound, round + UNBONDING_PERIOD, "withdraw round");
        vm.assertTrue(bondingManager.isValidUnbondingLock(alice, 0), "valid");
        vm.assertFalse(bondingManager.isValidUnbondingLock(alice, 1), "next id not valid");
        vm.assertEq(nextLockId(alice), 1, "next lock id");
        vm.assertEq(bondedAmount(alice), 25 ether, "bonded");
        vm.assertEq(delegateOf(alice), t1, "still delegated");
        vm.assertEq(delegatedAmount(t1), 125 ether, "delegate lost the stake");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 175 ether, "next total");
        vm.assertEq(poolStake(t1, round), 140 ether, "this round keeps its stake");
        vm.assertEq(poolStake(t1, round + 1), 125 ether, "next round's stake");
        vm.assertEq(token.balanceOf(address(minter)), 190 ether, "LPT stays in the Minter");
    }

    function test_Unbond_FullLeavesDelegate() public {
        vm.prank(alice);
        bondingManager.unbond(40 ether);
        vm.assertEq(delegateOf(alice), address(0), "no delegate");
        vm.assertEq(startRoundOf(alice), 0, "no start round");
        vm.assertEq(uint256(bondingManager.delegatorStatus(alice)), 2, "Unbonded");
    }

    function test_Unbond_TranscoderFullUnbondResigns() public {
        uint256 round = currentRound();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TranscoderDeactivated(t1, round + 1);
        vm.prank(t1);
        bondingManager.unbond(100 ether);
        vm.assertFalse(bondingManager.isRegisteredTranscoder(t1), "no longer registered");
        vm.assertEq(bondingManager.getTranscoderPoolSize(), 1, "left the pool");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 50 ether, "all of t1's stake left the total");
        vm.assertEq(delegatedAmount(t1), 40 ether, "alice's stake still delegated to t1");
        vm.assertTrue(bondingManager.isActiveTranscoder(t1), "active until the round ends");
        nextRound();
        vm.assertFalse(bondingManager.isActiveTranscoder(t1), "inactive from the next round");
    }

    function test_Unbond_Reverts() public {
        vm.prank(bob);
        vm.expectRevert(bytes("caller must be bonded"));
        bondingManager.unbond(1);

        bondAs(bob, 10 ether, t1);
        vm.prank(bob);
        vm.expectRevert(bytes("caller must be bonded")); // Pending can't unbond
        bondingManager.unbond(1);

        vm.startPrank(alice);
        vm.expectRevert(bytes("unbond amount must be greater than 0"));
        bondingManager.unbond(0);
        vm.expectRevert(bytes("amount is greater than bonded amount"));
        bondingManager.unbond(40 ether + 1);
        vm.stopPrank();

        controller.pause();
        vm.prank(alice);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.unbond(1);
        controller.unpause();

        rollToNextRound();
        vm.prank(alice);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.unbond(1);
    }

    function test_UnbondWithHint() public {
        vm.prank(alice);
        bondingManager.bond(20 ether, t1);
        // t1 160 > t2 50; unbonding 120 moves t1 below t2.
        vm.prank(t1);
        bondingManager.unbondWithHint(80 ether, t2, address(0));
        address[] memory m = poolMembers();
        vm.assertEq(m[0], t1, "t1 (80) still ahead of t2 (50)");
        vm.prank(alice);
        bondingManager.unbondWithHint(40 ether, t2, address(0));
        m = poolMembers();
        vm.assertEq(m[0], t2, "t2 first");
        vm.assertEq(m[1], t1, "t1 second");
    }

    // ------------------------------------------------------------------ rebond

    function test_Rebond_RestoresStakeToDelegate() public {
        vm.prank(alice);
        bondingManager.unbond(15 ether);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Rebond(t1, alice, 0, 15 ether);
        vm.prank(alice);
        bondingManager.rebond(0);
        vm.assertEq(bondedAmount(alice), 40 ether, "bonded again");
        vm.assertEq(delegatedAmount(t1), 140 ether, "delegate restored");
        vm.assertFalse(bondingManager.isValidUnbondingLock(alice, 0), "lock consumed");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 190 ether, "next total");
    }

    function test_Rebond_Reverts() public {
        vm.prank(alice);
        bondingManager.unbond(40 ether);
        vm.prank(alice);
        vm.expectRevert(bytes("caller must be bonded"));
        bondingManager.rebond(0);

        vm.prank(t1);
        bondingManager.unbond(10 ether);
        vm.prank(t1);
        vm.expectRevert(bytes("invalid unbonding lock ID"));
        bondingManager.rebond(1);

        controller.pause();
        vm.prank(t1);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.rebond(0);
        controller.unpause();
        rollToNextRound();
        vm.prank(t1);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.rebond(0);
    }

    function test_RebondWithHint() public {
        vm.prank(t2);
        bondingManager.unbond(40 ether);
        vm.prank(t2);
        bondingManager.rebondWithHint(0, address(0), t1);
        vm.assertEq(delegatedAmount(t2), 50 ether, "restored");
    }

    // ------------------------------------------------------------------ rebondFromUnbonded

    function test_RebondFromUnbonded_BondsLockToNewDelegate() public {
        vm.prank(alice);
        bondingManager.unbond(40 ether);
        uint256 round = currentRound();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Rebond(t2, alice, 0, 40 ether);
        vm.prank(alice);
        bondingManager.rebondFromUnbonded(t2, 0);
        vm.assertEq(delegateOf(alice), t2, "new delegate");
        vm.assertEq(bondedAmount(alice), 40 ether, "bonded");
        vm.assertEq(startRoundOf(alice), round + 1, "pending until next round");
        vm.assertEq(delegatedAmount(t2), 90 ether, "t2 stake");
        vm.assertEq(delegatedAmount(t1), 100 ether, "t1 stake");
    }

    function test_RebondFromUnbonded_ToSelfRegisters() public {
        vm.prank(alice);
        bondingManager.unbond(40 ether);
        vm.prank(alice);
        bondingManager.rebondFromUnbondedWithHint(alice, 0, address(0), address(0));
        vm.assertTrue(bondingManager.isRegisteredTranscoder(alice), "registered");
        vm.assertEq(bondingManager.getTranscoderPoolSize(), 3, "joined the pool");
    }

    function test_RebondFromUnbonded_Reverts() public {
        vm.prank(alice);
        vm.expectRevert(bytes("caller must be unbonded"));
        bondingManager.rebondFromUnbonded(t2, 0);
        vm.prank(alice);
        bondingManager.unbond(40 ether);
        vm.prank(alice);
        vm.expectRevert(bytes("invalid unbonding lock ID"));
        bondingManager.rebondFromUnbonded(t2, 1);

        controller.pause();
        vm.prank(alice);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.rebondFromUnbonded(t2, 0);
        controller.unpause();
        rollToNextRound();
        vm.prank(alice);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.rebondFromUnbonded(t2, 0);
    }

    // ------------------------------------------------------------------ withdrawStake

    function test_WithdrawStake_AfterUnbondingPeriod() public {
        vm.prank(alice);
        bondingManager.unbond(15 ether);
        uint256 withdrawRound = currentRound() + UNBONDING_PERIOD;
        advanceRounds(UNBONDING_PERIOD - 1);
        vm.prank(alice);
        vm.expectRevert(bytes("withdraw round must be before or equal to the current round"));
        bondingManager.withdrawStake(0);

        nextRound();
        uint256 before = token.balanceOf(alice);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.WithdrawStake(alice, 0, 15 ether, withdrawRound);
        vm.prank(alice);
        bondingManager.withdrawStake(0);
        vm.assertEq(token.balanceOf(alice), before + 15 ether, "LPT back");
        vm.assertEq(token.balanceOf(address(minter)), 175 ether, "left the Minter");
        vm.assertFalse(bondingManager.isValidUnbondingLock(alice, 0), "lock gone");

        vm.prank(alice);
        vm.expectRevert(bytes("invalid unbonding lock ID"));
        bondingManager.withdrawStake(0);
    }

    function test_WithdrawStake_RevertsWhenPausedOrUninitialized() public {
        controller.pause();
        vm.prank(alice);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.withdrawStake(0);
        controller.unpause();
        rollToNextRound();
        vm.prank(alice);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.withdrawStake(0);
    }

    // ------------------------------------------------------------------ transferBond

    function test_TransferBond_ToUnbondedReceiverFollowsSendersDelegate() public {
        uint256 round = currentRound();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Unbond(t1, alice, 0, 10 ether, round + UNBONDING_PERIOD);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TransferBond(alice, bob, 0, 0, 10 ether);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Rebond(t1, bob, 0, 10 ether);
        vm.prank(alice);
        bondingManager.transferBond(bob, 10 ether, address(0), address(0), address(0), address(0));

        vm.assertEq(bondedAmount(alice), 30 ether, "sender bond");
        vm.assertEq(bondedAmount(bob), 10 ether, "receiver bond");
        vm.assertEq(delegateOf(bob), t1, "receiver follows the sender's delegate");
        vm.assertEq(startRoundOf(bob), round + 1, "receiver pending");
        vm.assertEq(delegatedAmount(t1), 140 ether, "delegate unchanged overall");
        vm.assertFalse(bondingManager.isValidUnbondingLock(alice, 0), "sender lock deleted");
        vm.assertFalse(bondingManager.isValidUnbondingLock(bob, 0), "receiver lock rebonded");
        vm.assertEq(nextLockId(bob), 1, "receiver lock id used");
    }

    function test_TransferBond_ToBondedReceiverGoesToReceiversDelegate() public {
        bondAs(bob, 5 ether, t2);
        nextRound();
        rewardAs(t2);
        uint256 bobBefore = pendingStake(bob);
        uint256 t2Before = delegatedAmount(t2);
        vm.prank(alice);
        bondingManager.transferBond(bob, 40 ether, address(0), address(0), address(0), address(0));
        vm.assertEq(delegateOf(bob), t2, "receiver keeps its delegate");
        vm.assertEq(bondedAmount(bob), bobBefore + 40 ether, "receiver bond (its claimed reward included)");
        vm.assertGt(bobBefore, 5 ether, "bob had earned a reward");
        vm.assertEq(delegatedAmount(t2), t2Before + 40 ether, "t2 gained");
        vm.assertEq(delegatedAmount(t1), 100 ether, "t1 lost");
        vm.assertEq(delegateOf(alice), address(0), "sender fully unbonded");
    }

    function test_TransferBond_Reverts() public {
        rewardAs(t1);
        // The unbond checks apply.
        vm.prank(bob);
        vm.expectRevert(bytes("caller must be bonded"));
        bondingManager.transferBond(alice, 1, address(0), address(0), address(0), address(0));
        vm.prank(alice);
        vm.expectRevert(bytes("amount is greater than bonded amount"));
        bondingManager.transferBond(bob, 41 ether, address(0), address(0), address(0), address(0));
        // No transfer to the null address.
        vm.prank(alice);
        vm.expectRevert(bytes("INVALID_DELEGATOR"));
        bondingManager.transferBond(address(0), 10 ether, address(0), address(0), address(0), address(0));

        // The receiver may not end up delegating to itself: carol is unbonded and is the
        // delegate of dave, who transfers to her.
        address carol = makeAddr("carol");
        address dave = makeAddr("dave");
        fund(dave, 10 ether);
        bondAs(dave, 10 ether, carol);
        nextRound();
        vm.prank(dave);
        vm.expectRevert(bytes("INVALID_DELEGATOR"));
        bondingManager.transferBond(carol, 1 ether, address(0), address(0), address(0), address(0));

        // Claiming for a receiver whose delegate hasn't rewarded yet is griefing.
        bondAs(bob, 5 ether, t2);
        nextRound();
        rewardAs(t1);
        vm.prank(alice);
        vm.expectRevert(bytes("ILLEGAL_CLAIM_EARNINGS"));
        bondingManager.transferBond(bob, 1 ether, address(0), address(0), address(0), address(0));
        rewardAs(t2);
        vm.prank(alice);
        bondingManager.transferBond(bob, 1 ether, address(0), address(0), address(0), address(0));

        controller.pause();
        vm.prank(alice);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.transferBond(bob, 1, address(0), address(0), address(0), address(0));
        controller.unpause();
        rollToNextRound();
        vm.prank(alice);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.transferBond(bob, 1, address(0), address(0), address(0), address(0));
    }

    function test_TransferBond_LockKeepsWithdrawRoundWhenUnbondedAgain() public {
        vm.prank(alice);
        bondingManager.transferBond(bob, 10 ether, address(0), address(0), address(0), address(0));
        nextRound();
        vm.prank(bob);
        bondingManager.unbond(10 ether);
        (uint256 amount, uint256 withdrawRound) = lock(bob, 1);
        vm.assertEq(amount, 10 ether, "amount");
        vm.assertEq(withdrawRound, currentRound() + UNBONDING_PERIOD, "fresh unbonding period");
    }
}
