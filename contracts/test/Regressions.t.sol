// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {RecordingBondingVotes} from "./BondingManagerEarnings.t.sol";

/// One test per historical bug of Livepeer's protocol named in
/// docs/compatibility.md#fixed-upstream-bugs: each replays the exploit or failure and checks that
/// it can't happen here.
contract RegressionsTest is ProtocolFixture {
    uint256 internal constant ONE = 1e27;

    address internal t1;
    address internal t2;
    address internal victim;
    address internal attacker;

    function setUp() public {
        deployProtocol();
        t1 = makeAddr("t1");
        t2 = makeAddr("t2");
        victim = makeAddr("victim");
        attacker = makeAddr("attacker");
        fund(victim, 1000 ether);
        fund(attacker, 1000 ether);
        registerTranscoder(t1, 1000 ether, 100_000, 500_000);
        registerTranscoder(t2, 800 ether, 100_000, 500_000);
        nextRound();
    }

    /// Oct 2023 "RebondUninitializedFactors": rebondFromUnbonded to a transcoder whose
    /// factors for the current round were never written made the start factor read as 1.0,
    /// so the next claim multiplied the stake by the transcoder's whole cumulative factor.
    function test_RebondFromUnbondedDoesNotInflateStake() public {
        bondAs(victim, 100 ether, t1);
        nextRound();
        vm.prank(victim);
        bondingManager.unbond(100 ether);
        // t1 earns for a while: its factor grows well above 1.0.
        for (uint256 i = 0; i < 5; i++) {
            nextRound();
            rewardAs(t1);
        }
        nextRound();
        uint256 round = currentRound();
        vm.assertEq(poolCRF(t1, round), 0, "t1's factors for this round not written yet");
        uint256 latestCRF = poolCRF(t1, lastRewardRound(t1));
        vm.assertGt(latestCRF, ONE + ONE / 1000, "factor grew");

        vm.prank(victim);
        bondingManager.rebondFromUnbonded(t1, 0);
        vm.assertEq(poolCRF(t1, round), latestCRF, "start factor persisted");
        rewardAs(t1);
        nextRound();
        rewardAs(t1);
        uint256 stake = pendingStake(victim);
        // One round of reward on 100 LPT, not 100 LPT times the cumulative factor.
        uint256 buggy = 100 ether * latestCRF / ONE;
        vm.assertGt(stake, 100 ether, "earns from the next round");
        vm.assertLt(stake - 100 ether, (buggy - 100 ether) / 2, "no inflation");
        vm.assertLe(pendingStake(victim) + pendingStake(t1), delegatedAmount(t1), "claims covered by stake");
    }

    /// 2022/2023 forced self-delegation: a third party bonding for an unbonded account to
    /// itself, or transferring a bond to an account that delegates to... itself.
    function test_NoForcedSelfDelegation() public {
        vm.prank(attacker);
        vm.expectRevert(bytes("INVALID_DELEGATE"));
        bondingManager.bondForWithHint(1, victim, victim, address(0), address(0), address(0), address(0));

        // The attacker delegates to the victim, then transfers the bond to the victim.
        bondAs(attacker, 10 ether, victim);
        nextRound();
        vm.prank(attacker);
        vm.expectRevert(bytes("INVALID_DELEGATOR"));
        bondingManager.transferBond(victim, 10 ether, address(0), address(0), address(0), address(0));
        vm.assertFalse(bondingManager.isRegisteredTranscoder(victim), "victim not made a transcoder");
    }

    /// 2022/2023 forced delegate change through a third-party bondFor.
    function test_NoForcedDelegateChange() public {
        bondAs(victim, 10 ether, t1);
        vm.prank(attacker);
        vm.expectRevert(bytes("INVALID_DELEGATE_CHANGE"));
        bondingManager.bondForWithHint(1, victim, t2, address(0), address(0), address(0), address(0));
        vm.assertEq(delegateOf(victim), t1, "delegate unchanged");
    }

    /// Aug 2022 / Code4rena #628: bonding for, or transferring a bond to, the null address.
    function test_NoNullDelegator() public {
        vm.prank(attacker);
        vm.expectRevert(bytes("INVALID_DELEGATOR"));
        bondingManager.bondForWithHint(1, address(0), t1, address(0), address(0), address(0), address(0));
        bondAs(attacker, 10 ether, t1);
        nextRound();
        rewardAs(t1);
        vm.prank(attacker);
        vm.expectRevert(bytes("INVALID_DELEGATOR"));
        bondingManager.transferBond(address(0), 1 ether, address(0), address(0), address(0), address(0));
    }

    /// Mar 2024 "RewardsGriefing": a 1-wei bondFor for a delegator before its transcoder's
    /// reward() claimed for it, fixing its start factor before reward() raised it: the
    /// delegator lost the round's reward, and the attacker could repeat it every round.
    function test_NoRewardGriefing() public {
        bondAs(victim, 100 ether, t1);
        nextRound();
        rewardAs(t1);
        nextRound();
        uint256 before = pendingStake(victim);
        uint256 s = poolStake(t1, currentRound()) == 0 ? delegatedAmount(t1) : poolStake(t1, currentRound());

        vm.prank(attacker);
        vm.expectRevert(bytes("ILLEGAL_CLAIM_EARNINGS"));
        bondingManager.bondForWithHint(1, victim, t1, address(0), address(0), address(0), address(0));

        uint256 mintedBefore = minter.currentMintedTokens();
        rewardAs(t1);
        uint256 r = minter.currentMintedTokens() - mintedBefore;
        uint256 delegatorsPart = r - r * 100_000 / 1_000_000;
        uint256 expected = before + delegatorsPart * before / s;
        vm.assertApproxEqAbs(pendingStake(victim), expected, 10, "victim got this round's reward");
        // After reward() the third-party top-up is harmless and allowed.
        vm.prank(attacker);
        bondingManager.bondForWithHint(1, victim, t1, address(0), address(0), address(0), address(0));
        vm.assertApproxEqAbs(bondedAmount(victim), expected + 1, 10, "reward kept, wei added");
    }

    /// Code4rena 2023-08 H-01 and #624: the fee path rebuilds the previous round's reward
    /// factor when the transcoder skipped that round's reward. It used 1e6 precision for the
    /// factor and the treasury cut, so it underflowed and the redemption reverted: the
    /// winning tickets were lost.
    function test_FeesAfterSkippedRewardWithTreasuryCut() public {
        bondAs(victim, 100 ether, t1);
        bondingManager.setTreasuryRewardCutRate(0.1e27);
        nextRound();
        rewardAs(t1);
        nextRound(); // no reward this round
        nextRound();
        rewardAs(t1);
        uint256 round = currentRound();
        vm.assertEq(poolCRF(t1, round - 1), 0, "previous round has no factor: rebuild path");
        payFees(t1, 1 ether);
        vm.assertGt(poolCFF(t1, round), 0, "fees booked");
        vm.assertGt(pendingFees(victim), 0, "delegator's share credited");
        vm.assertLe(pendingFees(victim) + pendingFees(t1), 1 ether, "not more than paid");
    }

    /// Code4rena #623: withdrawFees changed the bonding state (it claims earnings) without a
    /// checkpoint, so BondingVotes went stale.
    function test_WithdrawFeesCheckpoints() public {
        RecordingBondingVotes votes = new RecordingBondingVotes();
        register("BondingVotes", address(votes));
        payFees(t1, 1 ether);
        nextRound();
        uint256 n = votes.count();
        vm.prank(t1);
        bondingManager.withdrawFees(payable(t1), 0.1 ether);
        vm.assertEq(votes.count(), n + 1, "checkpointed");
        vm.assertEq(votes.get(n).account, t1, "the caller");
        vm.assertEq(votes.get(n).lastClaimRound, currentRound(), "after its claim");
    }

    /// Found by our invariant suite (not fixed in Livepeer's contracts): a transcoder evicted
    /// from the next round's set calls reward() in the round it is still active. Its stake
    /// grows but, out of the pool, no stake was recorded for the next round, so fees booked
    /// later divided by the old stake while the claims used the new one: more fees owed than
    /// paid. BondingManager now records the stake of evicted transcoders too.
    function test_EvictedTranscoderFeesNotOverCredited() public {
        bondingManager.setTreasuryRewardCutRate(0); // keep the numbers simple
        address t3 = makeAddr("t3");
        for (uint256 i = 0; i < NUM_ACTIVE - 2; i++) {
            registerTranscoder(makeAddr(string(abi.encodePacked("filler", vm.toString(i)))), 950 ether, 0, 0);
        }
        bondAs(victim, 100 ether, t2);
        nextRound();
        // t3 joins with more stake than t2 (900 LPT, the tail): t2 is evicted for the next round.
        vm.assertEq(poolMembers()[NUM_ACTIVE - 1], t2, "t2 is the tail");
        registerTranscoder(t3, 2000 ether, 0, 0);
        vm.assertTrue(bondingManager.isActiveTranscoder(t2), "t2 still active this round");
        rewardAs(t2); // grows t2's stake while it is out of the pool
        uint256 round = currentRound();
        vm.assertEq(poolStake(t2, round + 1), delegatedAmount(t2), "next round's stake recorded");
        nextRound();
        vm.assertFalse(bondingManager.isActiveTranscoder(t2), "evicted");
        payFees(t2, 10 ether);
        vm.assertLe(pendingFees(t2) + pendingFees(victim), 10 ether, "no more fees owed than paid");
        vm.assertApproxEqAbs(pendingFees(t2) + pendingFees(victim), 10 ether, 10, "all but dust");
    }

    /// 2022 "MinterGlobalTotalSupplyFix": on L2 the mintable tokens must come from the
    /// global supply, not the L2 supply alone.
    function test_MintableFromGlobalSupply() public {
        RecordingL1Cache cache = new RecordingL1Cache(5_000_000 ether);
        register("L2LPTDataCache", address(cache));
        nextRound();
        vm.assertEq(
            minter.currentMintableTokens(),
            (token.totalSupply() + 5_000_000 ether) * minter.inflation() / 1e9,
            "global supply"
        );
    }
}

contract RecordingL1Cache {
    uint256 public l1CirculatingSupply;

    constructor(uint256 s) {
        l1CirculatingSupply = s;
    }
}
