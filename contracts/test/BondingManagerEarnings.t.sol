// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {IBondingManager} from "../src/interfaces/IBondingManager.sol";
import {IManager} from "../src/interfaces/IManager.sol";
import {Minter} from "../src/token/Minter.sol";

/// Records what BondingManager sends to BondingVotes, to check the checkpoint hook.
contract RecordingBondingVotes {
    struct Checkpoint {
        address account;
        uint256 startRound;
        uint256 bondedAmount;
        address delegateAddress;
        uint256 delegatedAmount;
        uint256 lastClaimRound;
        uint256 lastRewardRound;
    }

    Checkpoint[] public checkpoints;
    uint256 public totalStake;
    uint256 public totalStakeRound;

    function checkpointBondingState(
        address _account,
        uint256 _startRound,
        uint256 _bondedAmount,
        address _delegateAddress,
        uint256 _delegatedAmount,
        uint256 _lastClaimRound,
        uint256 _lastRewardRound
    ) external {
        checkpoints.push(
            Checkpoint(
                _account,
                _startRound,
                _bondedAmount,
                _delegateAddress,
                _delegatedAmount,
                _lastClaimRound,
                _lastRewardRound
            )
        );
    }

    function checkpointTotalActiveStake(uint256 _totalStake, uint256 _round) external {
        totalStake = _totalStake;
        totalStakeRound = _round;
    }

    function count() external view returns (uint256) {
        return checkpoints.length;
    }

    function get(uint256 i) external view returns (Checkpoint memory) {
        return checkpoints[i];
    }
}

contract BondingManagerEarningsTest is ProtocolFixture {
    uint256 internal constant ONE = 1e27;

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

    /// t1 (rewardCut 25%, feeShare 60%) with alice delegating 300 of its 1000 LPT, t2 with
    /// 500 LPT; two rounds later both are active and the round is initialized.
    function setUpTwoTranscoders() internal {
        fund(alice, 1000 ether);
        fund(bob, 1000 ether);
        registerTranscoder(t1, 700 ether, 250_000, 600_000);
        registerTranscoder(t2, 500 ether, 100_000, 500_000);
        bondAs(alice, 300 ether, t1);
        nextRound();
        nextRound();
    }

    // ------------------------------------------------------------------ reward

    /// The worked example of docs/compatibility.md#reward-and-fee-arithmetic: mint 1000, treasury
    /// 6.31%, reward cut 50%, stake 1000 -> treasury 63, rewards 937, commission 468, delegators
    /// 469, CRF 1.469.
    function test_Reward_WorkedExample() public {
        Minter fullInflation = new Minter(address(controller), 1_000_000_000, 0, TARGET_BONDING_RATE);
        register("Minter", address(fullInflation));
        token.grantRole(token.MINTER_ROLE(), address(fullInflation));
        fund(t1, 1000);
        bondAs(t1, 1000, t1);
        vm.prank(t1);
        bondingManager.transcoder(500_000, 0);
        bondingManager.setTreasuryRewardCutRate(0.0631e27);
        nextRound();
        vm.assertEq(fullInflation.currentMintableTokens(), 1000, "mintable 1000");
        uint256 round = currentRound();

        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TreasuryReward(t1, treasury, 63);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.Reward(t1, 937);
        rewardAs(t1);

        vm.assertEq(token.balanceOf(treasury), 63, "treasury");
        vm.assertEq(poolCRF(t1, round), ONE + 469 * ONE / 1000, "CRF 1.469");
        (,,,,,,, uint256 cumulativeRewards,,) = bondingManager.getTranscoder(t1);
        vm.assertEq(cumulativeRewards, 468, "commission kept as cumulative rewards");
        vm.assertEq(delegatedAmount(t1), 1937, "stake grows by all 937");
        vm.assertEq(poolStake(t1, round + 1), 1937, "next round's stake");
        vm.assertEq(pendingStake(t1), 1000 * 1469 / 1000 + 468, "self-bond grown by the CRF + commission");
        vm.assertEq(fullInflation.currentMintedTokens(), 1000, "minted");
    }

    function test_Reward_SplitsByStakeAndRewardCut() public {
        setUpTwoTranscoders();
        uint256 round = currentRound();
        uint256 mintable = minter.currentMintableTokens();
        uint256 total = bondingManager.currentRoundTotalActiveStake();
        vm.assertEq(total, 1500 ether, "active stake");

        rewardAs(t1);
        uint256 m1 = mintable * (1000 ether * 1e9 / total) / 1e9;
        uint256 commission = m1 * 250_000 / 1_000_000;
        uint256 dr = m1 - commission;
        uint256 crf = ONE + ONE * (dr * ONE / 1000 ether) / ONE;
        vm.assertEq(poolCRF(t1, round), crf, "CRF");
        vm.assertEq(minter.currentMintedTokens(), m1, "minted");
        vm.assertEq(delegatedAmount(t1), 1000 ether + m1, "t1 stake");
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), 1500 ether + m1, "next total");
        vm.assertEq(pendingStake(alice), 300 ether * (crf * ONE / ONE) / ONE, "alice");
        vm.assertEq(pendingStake(t1), 700 ether * (crf * ONE / ONE) / ONE + commission, "t1");
        // The exact shares: alice 300/1000 of the delegators' part, within rounding.
        vm.assertApproxEqAbs(pendingStake(alice), 300 ether + dr * 3 / 10, 1, "alice exact share");

        rewardAs(t2);
        uint256 m2 = mintable * (500 ether * 1e9 / total) / 1e9;
        vm.assertEq(minter.currentMintedTokens(), m1 + m2, "minted both");
        vm.assertLe(m1 + m2, mintable, "never above mintable");
        vm.assertEq(lastRewardRound(t2), round, "last reward round");

        vm.prank(t1);
        vm.expectRevert(bytes("caller has already called reward for the current round"));
        bondingManager.reward();
    }

    function test_Reward_CompoundsAcrossRoundsAndCreditsUnclaimedEarnings() public {
        setUpTwoTranscoders();
        uint256 r1 = currentRound();
        rewardAs(t1);
        uint256 cr1 = cumulativeRewardsOf(t1);
        nextRound();
        uint256 r2 = currentRound();
        uint256 mintable = minter.currentMintableTokens();
        uint256 s = poolStake(t1, r2);
        vm.assertEq(s, delegatedAmount(t1), "round stake = stake after last reward");
        uint256 total = bondingManager.currentRoundTotalActiveStake();
        rewardAs(t1);
        uint256 m = mintable * (s * 1e9 / total) / 1e9;
        uint256 commission = m * 250_000 / 1_000_000;
        uint256 dr = m - commission;
        uint256 trs = dr * (cr1 * ONE / s) / ONE;
        vm.assertEq(activeCumulativeRewardsOf(t1), cr1, "active cumulative rewards = unclaimed before this reward");
        vm.assertEq(cumulativeRewardsOf(t1), cr1 + trs + commission, "cumulative rewards");
        uint256 crf2 = poolCRF(t1, r1) + poolCRF(t1, r1) * (dr * ONE / s) / ONE;
        vm.assertEq(poolCRF(t1, r2), crf2, "CRF from the previous reward round");
    }

    function test_Reward_AfterSkippedRoundsUsesLastStakeUpdate() public {
        setUpTwoTranscoders();
        rewardAs(t1);
        advanceRounds(3);
        uint256 round = currentRound();
        vm.assertEq(poolStake(t1, round), 0, "nothing written for this round yet");
        uint256 stake = delegatedAmount(t1);
        vm.assertLt(lastActiveStakeUpdateRoundOf(t1), round, "last stake change rounds ago");
        rewardAs(t1);
        vm.assertEq(poolStake(t1, round), stake, "round stake copied from the last change");
        vm.assertEq(poolStake(t1, round + 1), delegatedAmount(t1), "next round holds the reward");
        vm.assertEq(lastActiveStakeUpdateRoundOf(t1), round + 1, "stake update round");
    }

    function test_Reward_Reverts() public {
        setUpTwoTranscoders();
        vm.prank(alice);
        vm.expectRevert(bytes("caller must be an active transcoder"));
        bondingManager.reward();
        controller.pause();
        vm.prank(t1);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.reward();
        controller.unpause();
        rollToNextRound();
        vm.prank(t1);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.reward();
    }

    function test_RewardWithHint() public {
        setUpTwoTranscoders();
        vm.prank(t2);
        bondingManager.rewardWithHint(t1, address(0));
        vm.assertEq(poolMembers()[1], t2, "t2 stays second");
    }

    // ------------------------------------------------------------------ treasury

    function test_Treasury_RateAppliesFromNextRound() public {
        setUpTwoTranscoders();
        vm.expectEmit(address(bondingManager));
        emit IManager.ParameterUpdate("nextRoundTreasuryRewardCutRate");
        bondingManager.setTreasuryRewardCutRate(0.1e27);
        vm.assertEq(bondingManager.treasuryRewardCutRate(), 0, "not yet");
        rewardAs(t1);
        vm.assertEq(token.balanceOf(treasury), 0, "no cut this round");

        rollToNextRound();
        vm.expectEmit(address(bondingManager));
        emit IManager.ParameterUpdate("treasuryRewardCutRate");
        roundsManager.initializeRound();
        vm.assertEq(bondingManager.treasuryRewardCutRate(), 0.1e27, "applied");
        uint256 mintedBefore = minter.currentMintedTokens();
        rewardAs(t1);
        uint256 m = minter.currentMintedTokens() - mintedBefore;
        vm.assertEq(token.balanceOf(treasury), m * 0.1e27 / 1e27, "10% to the treasury");
    }

    function test_Treasury_CeilingStopsCutFromNextRound() public {
        setUpTwoTranscoders();
        bondingManager.setTreasuryRewardCutRate(0.5e27);
        nextRound();
        bondingManager.setTreasuryBalanceCeiling(1);
        rewardAs(t1);
        uint256 paid = token.balanceOf(treasury);
        vm.assertGt(paid, 0, "paid this round");
        vm.assertEq(bondingManager.nextRoundTreasuryRewardCutRate(), 0.5e27, "below ceiling before the reward");

        // The treasury now holds >= 1 wei: the next reward switches the next rate off but
        // still pays this round's cut.
        vm.expectEmit(address(bondingManager));
        emit IManager.ParameterUpdate("nextRoundTreasuryRewardCutRate");
        rewardAs(t2);
        vm.assertGt(token.balanceOf(treasury), paid, "t2 still paid the cut");
        vm.assertEq(bondingManager.nextRoundTreasuryRewardCutRate(), 0, "next rate off");
        vm.assertEq(bondingManager.treasuryRewardCutRate(), 0.5e27, "current rate kept");
        nextRound();
        vm.assertEq(bondingManager.treasuryRewardCutRate(), 0, "off from the next round");
        paid = token.balanceOf(treasury);
        rewardAs(t1);
        vm.assertEq(token.balanceOf(treasury), paid, "no more cut");
    }

    // ------------------------------------------------------------------ fees

    function test_Fees_AfterRewardSplitByFeeShare() public {
        setUpTwoTranscoders();
        rewardAs(t1);
        nextRound();
        uint256 round = currentRound();
        uint256 aliceStake = pendingStake(alice);
        uint256 t1Stake = pendingStake(t1);
        uint256 stakeAtStart = delegatedAmount(t1);
        rewardAs(t1);
        uint256 prevCRF = poolCRF(t1, round - 1);
        vm.assertGt(prevCRF, ONE, "reward recorded in the previous round");
        uint256 s = poolStake(t1, round);
        vm.assertEq(s, stakeAtStart, "round stake = stake at the start of the round");
        uint256 unclaimed = cumulativeRewardsOf(t1);
        uint256 acr = activeCumulativeRewardsOf(t1);

        payFees(t1, 1 ether);
        uint256 df = 1 ether * 600_000 / 1_000_000;
        // CFF grows by CRF(n-1) times the delegators' fees per unit of this round's stake.
        vm.assertEq(poolCFF(t1, round), prevCRF * (df * ONE / s) / ONE, "CFF");
        (,,,,,,,,, uint256 lastFeeRound) = bondingManager.getTranscoder(t1);
        vm.assertEq(lastFeeRound, round, "last fee round");
        // The transcoder keeps the commission plus what its unclaimed rewards earned.
        vm.assertEq(cumulativeFeesOf(t1), (1 ether - df) + df * (acr * ONE / s) / ONE, "cumulative fees");
        vm.assertEq(cumulativeRewardsOf(t1), unclaimed, "rewards untouched");
        // Each share follows the stake at the start of the round.
        vm.assertApproxEqAbs(pendingFees(alice), df * aliceStake / s, 10, "alice's fees");
        vm.assertApproxEqAbs(pendingFees(t1), (1 ether - df) + df * t1Stake / s, 10, "t1's fees");
        vm.assertLe(pendingFees(alice) + pendingFees(t1), 1 ether, "never more than paid");
    }

    function test_Fees_BeforeRewardSnapshotCommissionAndStake() public {
        setUpTwoTranscoders();
        uint256 round = currentRound();
        payFees(t2, 2 ether);
        (uint256 stake, uint256 cut, uint256 share,,) = bondingManager.getTranscoderEarningsPoolForRound(t2, round);
        vm.assertEq(stake, 500 ether, "stake snapshot");
        vm.assertEq(cut, 100_000, "reward cut snapshot");
        vm.assertEq(share, 500_000, "fee share snapshot");
        vm.assertEq(pendingFees(t2), 2 ether, "a lone transcoder gets all");
        // reward() later in the round keeps the fees.
        rewardAs(t2);
        vm.assertEq(pendingFees(t2), 2 ether, "fees kept after reward");
    }

    /// Code4rena 2023-08 H-01: a transcoder that skipped the previous round's reward, rewards
    /// now and then receives fees. The previous factor is rebuilt at 1e27 precision; with
    /// the old 1e6 precision the redemption reverted and the fees were lost.
    function test_Fees_AfterSkippedRewardRebuildsPreviousFactor() public {
        setUpTwoTranscoders();
        rewardAs(t1);
        nextRound(); // t1 skips this round's reward
        nextRound();
        bondingManager.setTreasuryRewardCutRate(0.1e27);
        nextRound();
        uint256 round = currentRound();
        uint256 aliceStake = pendingStake(alice);
        rewardAs(t1);
        vm.assertEq(poolCRF(t1, round - 1), 0, "nothing recorded for round n-1");
        uint256 s = poolStake(t1, round);
        uint256 crfN = poolCRF(t1, round);

        payFees(t1, 1 ether);
        uint256 rewards = (minter.currentMintableTokens() + minter.currentMintedTokens())
            * (s * ONE / bondingManager.currentRoundTotalActiveStake()) / ONE;
        rewards -= rewards * 0.1e27 / ONE;
        uint256 dr = rewards - rewards * 250_000 / 1_000_000;
        uint256 prevCRF = crfN * (s * ONE / (dr + s)) / ONE;
        uint256 df = 1 ether * 600_000 / 1_000_000;
        vm.assertEq(poolCFF(t1, round), prevCRF * (df * ONE / s) / ONE, "CFF from the rebuilt factor");
        // Livepeer's rebuild counts this round's already minted tokens on top of the mintable
        // ones, so it comes out below the factor of t1's last reward round: delegators get
        // slightly less than their exact share, never more.
        vm.assertLt(prevCRF, poolCRF(t1, round - 3), "rebuilt factor is biased low");
        vm.assertGt(prevCRF, poolCRF(t1, round - 3) * 99 / 100, "by less than 1% here");
        uint256 exact = df * aliceStake / s;
        vm.assertLe(pendingFees(alice), exact, "alice: not more than the exact share");
        vm.assertGt(pendingFees(alice), exact * 99 / 100, "alice: within 1%");
    }

    function test_Fees_Reverts() public {
        setUpTwoTranscoders();
        uint256 round = currentRound();
        vm.expectRevert(bytes("caller must be TicketBroker"));
        bondingManager.updateTranscoderWithFees(t1, 1, round);
        vm.prank(ticketBroker);
        vm.expectRevert(bytes("transcoder must be registered"));
        bondingManager.updateTranscoderWithFees(alice, 1, round);
        // A registered transcoder that never had stake in the pool: nobody to share fees with.
        address idle = makeAddr("idle");
        fund(idle, 1 ether);
        for (uint256 i = 0; i < NUM_ACTIVE - 2; i++) {
            registerTranscoder(makeAddr(string(abi.encodePacked("x", vm.toString(i)))), 10 ether, 0, 0);
        }
        bondAs(idle, 1 ether, idle);
        vm.prank(ticketBroker);
        vm.expectRevert(bytes("transcoder has no stake in the round"));
        bondingManager.updateTranscoderWithFees(idle, 1, round);
        controller.pause();
        vm.prank(ticketBroker);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.updateTranscoderWithFees(t1, 1, round);
    }

    // ------------------------------------------------------------------ claims and withdrawals

    function test_ClaimEarnings_BondsRewardsAndEmits() public {
        setUpTwoTranscoders();
        uint256 claimedRound = lastClaimRound(alice);
        rewardAs(t1);
        payFees(t1, 1 ether);
        nextRound();
        rewardAs(t1);
        uint256 stake = pendingStake(alice);
        uint256 fees = pendingFees(alice);
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.EarningsClaimed(t1, alice, stake - 300 ether, fees, claimedRound + 1, currentRound());
        vm.prank(alice);
        bondingManager.claimEarnings(0);
        vm.assertEq(bondedAmount(alice), stake, "rewards bonded");
        (, uint256 claimedFees,,,,,) = bondingManager.getDelegator(alice);
        vm.assertEq(claimedFees, fees, "fees claimed");
        vm.assertEq(lastClaimRound(alice), currentRound(), "claim round");
        vm.assertEq(pendingStake(alice), stake, "pending unchanged by the claim");
        // Claiming twice in a round is a no-op.
        vm.recordLogs();
        vm.prank(alice);
        bondingManager.claimEarnings(0);
        vm.assertEq(vm.getRecordedLogs().length, 0, "nothing to claim");
    }

    function test_ClaimEarnings_TranscoderSelfClaimMovesCumulativeIntoBond() public {
        setUpTwoTranscoders();
        rewardAs(t1);
        payFees(t1, 1 ether);
        nextRound();
        uint256 stake = pendingStake(t1);
        uint256 fees = pendingFees(t1);
        vm.prank(t1);
        bondingManager.claimEarnings(0);
        vm.assertEq(cumulativeRewardsOf(t1), 0, "cumulative rewards moved");
        vm.assertEq(cumulativeFeesOf(t1), 0, "cumulative fees moved");
        vm.assertEq(activeCumulativeRewardsOf(t1), 0, "reward in the first active round: nothing unclaimed before");
        vm.assertEq(bondedAmount(t1), stake, "bonded");
        vm.assertEq(pendingFees(t1), fees, "fees");
    }

    function test_ClaimEarnings_RevertsWhenPausedOrUninitialized() public {
        controller.pause();
        vm.expectRevert(bytes("system is paused"));
        bondingManager.claimEarnings(0);
        controller.unpause();
        rollToNextRound();
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.claimEarnings(0);
    }

    function test_WithdrawFees_SendsEthFromMinter() public {
        setUpTwoTranscoders();
        payFees(t2, 3 ether);
        address payable sink = payable(makeAddr("sink"));
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.WithdrawFees(t2, sink, 1 ether);
        vm.prank(t2);
        bondingManager.withdrawFees(sink, 1 ether);
        vm.assertEq(sink.balance, 1 ether, "received");
        vm.assertEq(address(minter).balance, 2 ether, "rest in the Minter");
        vm.assertEq(pendingFees(t2), 2 ether, "rest of the fees");

        vm.prank(t2);
        vm.expectRevert(bytes("insufficient fees to withdraw"));
        bondingManager.withdrawFees(sink, 2 ether + 1);
        vm.prank(t2);
        vm.expectRevert(bytes("invalid recipient"));
        bondingManager.withdrawFees(payable(address(0)), 1);
        controller.pause();
        vm.prank(t2);
        vm.expectRevert(bytes("system is paused"));
        bondingManager.withdrawFees(sink, 1);
        controller.unpause();
        rollToNextRound();
        vm.prank(t2);
        vm.expectRevert(bytes("current round is not initialized"));
        bondingManager.withdrawFees(sink, 1);
    }

    // ------------------------------------------------------------------ slashing

    function test_Slash_OnlyVerifier() public {
        setUpTwoTranscoders();
        vm.expectRevert(bytes("caller must be Verifier"));
        bondingManager.slashTranscoder(t1, address(0), 500_000, 0);
    }

    function test_Slash_PenaltyFinderFeeAndResignation() public {
        setUpTwoTranscoders();
        address verifier = makeAddr("verifier");
        address finder = makeAddr("finder");
        register("Verifier", verifier);
        uint256 supplyBefore = token.totalSupply();
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TranscoderSlashed(t1, finder, 350 ether, 35 ether);
        vm.prank(verifier);
        bondingManager.slashTranscoder(t1, finder, 500_000, 100_000);
        vm.assertEq(bondedAmount(t1), 350 ether, "half of the self-bond");
        vm.assertEq(delegatedAmount(t1), 650 ether, "delegated amount lowered");
        vm.assertEq(token.balanceOf(finder), 35 ether, "finder fee");
        vm.assertEq(token.totalSupply(), supplyBefore - 315 ether, "rest burned");
        vm.assertEq(bondingManager.getTranscoderPoolSize(), 1, "resigned");

        // Nothing bonded: an empty slash event.
        vm.expectEmit(address(bondingManager));
        emit IBondingManager.TranscoderSlashed(bob, address(0), 0, 0);
        vm.prank(verifier);
        bondingManager.slashTranscoder(bob, address(0), 500_000, 0);
    }

    // ------------------------------------------------------------------ parameters and hooks

    function test_Params_OwnerOnlyAndEvents() public {
        vm.expectEmit(address(bondingManager));
        emit IManager.ParameterUpdate("unbondingPeriod");
        bondingManager.setUnbondingPeriod(3);
        vm.assertEq(bondingManager.unbondingPeriod(), 3, "unbonding period");
        vm.expectEmit(address(bondingManager));
        emit IManager.ParameterUpdate("treasuryBalanceCeiling");
        bondingManager.setTreasuryBalanceCeiling(750_000 ether);
        vm.assertEq(bondingManager.treasuryBalanceCeiling(), 750_000 ether, "ceiling");
        vm.expectRevert(bytes("_cutRate is invalid precise percentage"));
        bondingManager.setTreasuryRewardCutRate(1e27 + 1);
        bondingManager.setTreasuryRewardCutRate(1e27);

        vm.startPrank(alice);
        vm.expectRevert(bytes("caller must be Controller owner"));
        bondingManager.setUnbondingPeriod(1);
        vm.expectRevert(bytes("caller must be Controller owner"));
        bondingManager.setNumActiveTranscoders(100);
        vm.expectRevert(bytes("caller must be Controller owner"));
        bondingManager.setTreasuryRewardCutRate(1);
        vm.expectRevert(bytes("caller must be Controller owner"));
        bondingManager.setTreasuryBalanceCeiling(1);
        vm.expectRevert(bytes("caller must be RoundsManager"));
        bondingManager.setCurrentRoundTotalActiveStake();
        vm.stopPrank();
    }

    function test_Checkpoint_SentToRegisteredBondingVotes() public {
        fund(alice, 1000 ether);
        RecordingBondingVotes votes = new RecordingBondingVotes();
        register("BondingVotes", address(votes));
        registerTranscoder(t1, 100 ether, 0, 0);
        uint256 round = currentRound();
        uint256 n = votes.count();
        bondAs(alice, 10 ether, t1);
        vm.assertEq(votes.count(), n + 2, "delegate and owner checkpointed");
        RecordingBondingVotes.Checkpoint memory c = votes.get(n);
        vm.assertEq(c.account, t1, "delegate first");
        vm.assertEq(c.delegatedAmount, 110 ether, "delegate's new stake");
        vm.assertEq(c.startRound, round + 1, "for the next round");
        c = votes.get(n + 1);
        vm.assertEq(c.account, alice, "then the owner");
        vm.assertEq(c.bondedAmount, 10 ether, "owner's bond");
        vm.assertEq(c.delegateAddress, t1, "owner's delegate");
        vm.assertEq(c.lastClaimRound, round, "owner's claim round");

        nextRound();
        vm.assertEq(votes.totalStake(), 110 ether, "total active stake checkpointed");
        vm.assertEq(votes.totalStakeRound(), round + 1, "at its round");

        bondingManager.checkpointBondingState(bob);
        vm.assertEq(votes.get(votes.count() - 1).account, bob, "anyone can re-checkpoint");
    }
}
