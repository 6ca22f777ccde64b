// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";

/// Property tests over amounts, cuts and shares. Expected values are computed here from the
/// formulas of docs/compatibility.md#reward-and-fee-arithmetic, or as exact rational shares with
/// the tolerance of C9 (0.001 LPT, docs/faults.md#c9-rounding).
contract BondingManagerFuzzTest is ProtocolFixture {
    uint256 internal constant ONE = 1e27;
    uint256 internal constant MAX_AMOUNT = 100_000_000 ether; // 100M LPT each
    uint256 internal constant C9_TOLERANCE = 1e15; // 0.001 LPT

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
    }

    function testFuzz_BondUnbondRebondConserveStake(uint256 amount, uint256 unbondAmount, bool full) public {
        amount = bound(amount, 1, MAX_AMOUNT);
        unbondAmount = full ? amount : bound(unbondAmount, 1, amount);
        registerTranscoder(t1, 1000 ether, 0, 0);
        fund(alice, amount);
        bondAs(alice, amount, t1);
        vm.assertEq(delegatedAmount(t1), 1000 ether + amount, "bonded stake delegated");
        vm.assertEq(token.balanceOf(address(minter)), 1000 ether + amount, "custody");
        nextRound();

        vm.prank(alice);
        bondingManager.unbond(unbondAmount);
        (uint256 lockAmount, uint256 withdrawRound) = bondingManager.getDelegatorUnbondingLock(alice, 0);
        vm.assertEq(lockAmount, unbondAmount, "lock");
        vm.assertEq(withdrawRound, currentRound() + UNBONDING_PERIOD, "withdraw round");
        vm.assertEq(bondedAmount(alice) + lockAmount, amount, "bonded + locked = bonded before");
        vm.assertEq(delegatedAmount(t1), 1000 ether + amount - unbondAmount, "delegate lost the lock");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), delegatedAmount(t1), "pool total");

        vm.prank(alice);
        if (unbondAmount == amount) {
            bondingManager.rebondFromUnbonded(t1, 0);
        } else {
            bondingManager.rebond(0);
        }
        vm.assertEq(bondedAmount(alice), amount, "all back");
        vm.assertEq(delegatedAmount(t1), 1000 ether + amount, "delegate restored");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 1000 ether + amount, "pool total restored");
        vm.assertEq(token.balanceOf(address(minter)), 1000 ether + amount, "no LPT moved");
    }

    function testFuzz_WithdrawOnlyAfterUnbondingPeriod(uint256 amount, uint256 rounds) public {
        amount = bound(amount, 1, MAX_AMOUNT);
        rounds = bound(rounds, 0, UNBONDING_PERIOD + 2);
        registerTranscoder(t1, 1000 ether, 0, 0);
        fund(alice, amount);
        bondAs(alice, amount, t1);
        nextRound();
        vm.prank(alice);
        bondingManager.unbond(amount);
        advanceRounds(rounds);
        vm.prank(alice);
        if (rounds < UNBONDING_PERIOD) {
            vm.expectRevert(bytes("withdraw round must be before or equal to the current round"));
            bondingManager.withdrawStake(0);
        } else {
            bondingManager.withdrawStake(0);
            vm.assertEq(token.balanceOf(alice), amount, "withdrawn");
            vm.assertEq(token.balanceOf(address(minter)), 1000 ether, "left custody");
        }
    }

    function testFuzz_TransferBondConservesStake(uint256 amount, uint256 transferAmount, uint256 receiverStake) public {
        amount = bound(amount, 1, MAX_AMOUNT);
        transferAmount = bound(transferAmount, 1, amount);
        receiverStake = bound(receiverStake, 0, MAX_AMOUNT);
        registerTranscoder(t1, 1000 ether, 0, 0);
        registerTranscoder(t2, 1000 ether, 0, 0);
        fund(alice, amount);
        bondAs(alice, amount, t1);
        if (receiverStake > 0) {
            fund(bob, receiverStake);
            bondAs(bob, receiverStake, t2);
        }
        nextRound();
        rewardAs(t1);
        rewardAs(t2);
        // Both sides claim their rewards in the transfer: compare with their pending stake.
        uint256 aliceBefore = pendingStake(alice);
        uint256 bobBefore = pendingStake(bob);
        uint256 totalBefore = delegatedAmount(t1) + delegatedAmount(t2);
        uint256 t2Before = delegatedAmount(t2);
        transferAmount = bound(transferAmount, 1, aliceBefore);
        vm.prank(alice);
        bondingManager.transferBond(bob, transferAmount, address(0), address(0), address(0), address(0));

        vm.assertEq(bondedAmount(alice), aliceBefore - transferAmount, "sender");
        vm.assertEq(bondedAmount(bob), bobBefore + transferAmount, "receiver");
        address receiverDelegate = receiverStake > 0 ? t2 : t1;
        vm.assertEq(delegateOf(bob), receiverDelegate, "receiver's delegate");
        vm.assertEq(delegatedAmount(t1) + delegatedAmount(t2), totalBefore, "total stake unchanged");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), totalBefore, "pool total");
        vm.assertEq(
            delegatedAmount(t2),
            receiverDelegate == t2 ? t2Before + transferAmount : t2Before,
            "stake moved to t2 or not"
        );
        uint256 bobOnT1 = receiverDelegate == t1 ? pendingStake(bob) : 0;
        uint256 bobOnT2 = receiverDelegate == t2 ? pendingStake(bob) : 0;
        vm.assertLe(pendingStake(alice) + pendingStake(t1) + bobOnT1, delegatedAmount(t1), "t1 covers its delegators");
        vm.assertLe(pendingStake(t2) + bobOnT2, delegatedAmount(t2), "t2 covers its delegators");
    }

    struct RewardCase {
        uint256 stakeT;
        uint256 stakeD;
        uint256 otherStake;
        uint256 rewardCut;
        uint256 treasuryRate;
        uint256 round;
        uint256 mintable;
    }

    /// One reward: the minted amount, treasury cut, commission and factor follow the formulas
    /// (docs/compatibility.md#reward-and-fee-arithmetic) to the wei; every participant's share is
    /// within 0.001 LPT of the exact rational share.
    function testFuzz_RewardSplit(
        uint256 stakeT,
        uint256 stakeD,
        uint256 otherStake,
        uint256 rewardCut,
        uint256 treasuryRate
    ) public {
        RewardCase memory c = RewardCase(
            bound(stakeT, 1 ether, MAX_AMOUNT),
            bound(stakeD, 0, MAX_AMOUNT),
            bound(otherStake, 1 ether, MAX_AMOUNT),
            bound(rewardCut, 0, 1_000_000),
            bound(treasuryRate, 0, ONE),
            0,
            0
        );
        registerTranscoder(t1, c.stakeT, c.rewardCut, 0);
        registerTranscoder(t2, c.otherStake, 0, 0);
        if (c.stakeD > 0) {
            fund(alice, c.stakeD);
            bondAs(alice, c.stakeD, t1);
        }
        bondingManager.setTreasuryRewardCutRate(c.treasuryRate);
        nextRound();
        c.round = currentRound();
        c.mintable = minter.currentMintableTokens();
        vm.assertEq(bondingManager.currentRoundTotalActiveStake(), c.stakeT + c.stakeD + c.otherStake, "active stake");
        rewardAs(t1);
        checkRewardSplit(c);
    }

    function checkRewardSplit(RewardCase memory c) internal view {
        uint256 s = c.stakeT + c.stakeD;
        uint256 total = s + c.otherStake;
        uint256 minted = c.mintable * (s * 1e9 / total) / 1e9;
        uint256 toTreasury = minted * c.treasuryRate / ONE;
        uint256 rewards = minted - toTreasury;
        uint256 commission = rewards * c.rewardCut / 1_000_000;
        uint256 dr = rewards - commission;
        vm.assertEq(minter.currentMintedTokens(), minted, "minted");
        vm.assertLe(minted, c.mintable * s / total, "C6: minted <= mintable x stake share");
        vm.assertEq(token.balanceOf(treasury), toTreasury, "treasury");
        vm.assertEq(delegatedAmount(t1), s + rewards, "stake += rewards");
        vm.assertEq(poolCRF(t1, c.round), ONE + ONE * (dr * ONE / s) / ONE, "factor");

        // C9 against exact rational shares.
        vm.assertApproxEqAbs(minted, c.mintable * s / total, C9_TOLERANCE, "minted ~ exact");
        vm.assertApproxEqAbs(pendingStake(alice), c.stakeD + dr * c.stakeD / s, C9_TOLERANCE, "delegator share");
        vm.assertApproxEqAbs(
            pendingStake(t1), c.stakeT + commission + dr * c.stakeT / s, C9_TOLERANCE, "transcoder share"
        );
        vm.assertLe(pendingStake(alice) + pendingStake(t1), delegatedAmount(t1), "claims covered");
    }

    /// One fee payment after reward: delegator and transcoder shares add up to the fees
    /// (minus dust) and follow the fee share.
    function testFuzz_FeeSplit(uint256 stakeT, uint256 stakeD, uint256 feeShare, uint256 fees, bool rewardFirst)
        public
    {
        stakeT = bound(stakeT, 1 ether, MAX_AMOUNT);
        stakeD = bound(stakeD, 1, MAX_AMOUNT);
        feeShare = bound(feeShare, 0, 1_000_000);
        fees = bound(fees, 1, 1000 ether);
        registerTranscoder(t1, stakeT, 200_000, feeShare);
        fund(alice, stakeD);
        bondAs(alice, stakeD, t1);
        nextRound();
        rewardAs(t1);
        nextRound();
        uint256 round = currentRound();
        uint256 stakeAliceAtStart = pendingStake(alice);
        uint256 stakeTAtStart = pendingStake(t1);
        uint256 s = delegatedAmount(t1);
        if (rewardFirst) rewardAs(t1);

        payFees(t1, fees);
        uint256 df = fees * feeShare / 1_000_000;
        vm.assertEq(poolCFF(t1, round), poolCRF(t1, round - 1) * (df * ONE / s) / ONE, "fee factor");
        uint256 aliceFees = pendingFees(alice);
        uint256 tFees = pendingFees(t1);
        vm.assertLe(aliceFees + tFees, fees, "not more than paid");
        // The stakes above are floored to the wei; fees per unit of stake amplify that.
        uint256 tolerance = 10 + 2 * df / s;
        vm.assertApproxEqAbs(aliceFees + tFees, fees, tolerance, "all but dust");
        vm.assertApproxEqAbs(aliceFees, df * stakeAliceAtStart / s, tolerance, "delegator share");
        vm.assertApproxEqAbs(tFees, fees - df + df * stakeTAtStart / s, tolerance, "transcoder share");

        // Withdrawing moves exactly that ETH out of the Minter.
        nextRound();
        vm.prank(alice);
        bondingManager.withdrawFees(payable(alice), aliceFees);
        vm.assertEq(alice.balance, aliceFees, "withdrawn");
        vm.assertEq(address(minter).balance, fees - aliceFees, "rest in custody");
    }
}
