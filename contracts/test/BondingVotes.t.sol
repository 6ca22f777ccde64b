// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "./lib/GovernedProtocolFixture.sol";
import {BondingVotes} from "../src/governance/BondingVotes.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";

/// BondingVotes on the full deployment: checkpoints written by BondingManager, votes and
/// total active stake read back by round.
contract BondingVotesTest is GovernedProtocolFixture {
    address internal t1;
    address internal t2;
    address internal alice;
    address internal bob;

    function setUp() public {
        activeSetSize = 2;
        deployGovernedProtocol();
        t1 = makeAddr("t1");
        t2 = makeAddr("t2");
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        registerTranscoder(t1, 1000 ether, 100_000, 0);
        registerTranscoder(t2, 600 ether, 0, 0);
        fund(alice, 10_000 ether);
        fund(bob, 10_000 ether);
        bondAs(alice, 400 ether, t1);
        nextRound();
    }

    function votesOf(address a) internal view returns (uint256) {
        return bondingVotes.getVotes(a);
    }

    // ------------------------------------------------------------------ metadata and clock

    function test_Metadata() public view {
        vm.assertEq(bondingVotes.name(), "Livepeer Voting Power", "name");
        vm.assertEq(bondingVotes.symbol(), "vLPT", "symbol");
        vm.assertEq(uint256(bondingVotes.decimals()), 18, "decimals");
        vm.assertEq(bondingVotes.CLOCK_MODE(), "mode=livepeer_round", "clock mode");
        vm.assertEq(uint256(bondingVotes.clock()), currentRound(), "clock = round");
        vm.assertEq(uint256(governor.clock()), currentRound(), "the governor's clock too");
    }

    function test_DelegateRevertsToBondingManager() public {
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.MustCallBondingManager.selector, "bond"));
        bondingVotes.delegate(t1);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.MustCallBondingManager.selector, "bondFor"));
        bondingVotes.delegateBySig(t1, 0, 0, 27, bytes32(0), bytes32(0));
    }

    // ------------------------------------------------------------------ checkpoint access and checks

    function test_OnlyBondingManagerWrites() public {
        uint256 round = currentRound();
        uint256 next = round + 1;
        vm.expectRevert(
            abi.encodeWithSelector(BondingVotes.InvalidCaller.selector, address(this), address(bondingManager))
        );
        bondingVotes.checkpointBondingState(alice, next, 1, t1, 0, 0, 0);
        vm.expectRevert(
            abi.encodeWithSelector(BondingVotes.InvalidCaller.selector, address(this), address(bondingManager))
        );
        bondingVotes.checkpointTotalActiveStake(1, round);
    }

    function test_CheckpointRoundChecks() public {
        uint256 round = currentRound();
        vm.startPrank(address(bondingManager));
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.InvalidStartRound.selector, round, round + 1));
        bondingVotes.checkpointBondingState(alice, round, 1, t1, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.InvalidStartRound.selector, round + 2, round + 1));
        bondingVotes.checkpointBondingState(alice, round + 2, 1, t1, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.FutureLastClaimRound.selector, round + 1, round));
        bondingVotes.checkpointBondingState(alice, round + 1, 1, t1, 0, round + 1, 0);
        vm.expectRevert(
            abi.encodeWithSelector(BondingVotes.InvalidTotalStakeCheckpointRound.selector, round + 1, round)
        );
        bondingVotes.checkpointTotalActiveStake(1, round + 1);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ votes

    function test_OrchestratorVotesItsDelegatedStake() public view {
        vm.assertEq(votesOf(t1), 1400 ether, "self-bond plus delegation");
        vm.assertEq(votesOf(t2), 600 ether, "self-bond");
        vm.assertEq(bondingVotes.delegates(t1), t1, "self-delegated");
        vm.assertEq(bondingVotes.delegates(alice), t1, "alice's delegate");
        vm.assertTrue(bondingVotes.hasCheckpoint(alice), "alice checkpointed");
        vm.assertFalse(bondingVotes.hasCheckpoint(bob), "bob never bonded");
        vm.assertEq(votesOf(bob), 0, "no bond, no votes");
    }

    function test_DelegatorVotesFollowRewardsNotFees() public {
        vm.assertEq(votesOf(alice), 400 ether, "bonded stake");
        rewardAs(t1);
        payFees(t1, 1 ether);
        uint256 expected = pendingStake(alice);
        vm.assertGt(expected, 400 ether, "earned rewards");
        vm.assertEq(votesOf(alice), expected, "bond grown by the reward factor, as pendingStake");
        vm.assertEq(votesOf(t1), delegatedAmount(t1), "orchestrator: all its delegated stake");
        vm.assertLe(votesOf(alice), votesOf(t1) - bondedAmount(t1), "within the orchestrator's votes");
    }

    function test_PastVotesDoNotMove() public {
        uint256 r = currentRound();
        nextRound();
        bondAs(bob, 250 ether, t1);
        rewardAs(t1);
        vm.assertEq(bondingVotes.getPastVotes(t1, r), 1400 ether, "end of round r unchanged");
        vm.assertEq(bondingVotes.getPastVotes(bob, r), 0, "bob bonded later");
        vm.assertEq(votesOf(bob), 250 ether, "counts from the next round");
        nextRound();
        vm.assertEq(bondingVotes.getPastVotes(bob, currentRound() - 1), 250 ether, "now in the past");
        vm.assertEq(bondingVotes.getPastVotes(t1, currentRound() - 1), delegatedAmount(t1), "t1 with reward");
    }

    function test_FutureLookupsRevert() public {
        uint256 round = currentRound();
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.FutureLookup.selector, round, round - 1));
        bondingVotes.getPastVotes(t1, round);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.FutureLookup.selector, round, round - 1));
        bondingVotes.getPastTotalSupply(round);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.FutureLookup.selector, round + 2, round + 1));
        bondingVotes.getVotesAndDelegateAtRoundStart(t1, round + 2);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.FutureLookup.selector, round + 2, round + 1));
        bondingVotes.getTotalActiveStakeAt(round + 2);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.FutureLookup.selector, round + 2, round + 1));
        bondingVotes.delegatedAt(t1, round + 1);
    }

    /// Only active stake votes: a registered orchestrator outside the active set has no
    /// votes, and neither have its delegators (deliberate difference, see BondingVotes).
    function test_OrchestratorOutsideTheActiveSetHasNoVotes() public {
        address t3 = makeAddr("t3");
        registerTranscoder(t3, 500 ether, 0, 0); // pool full (2 seats), 500 < 600: stays out
        bondAs(bob, 100 ether, t3);
        vm.assertTrue(bondingManager.isRegisteredTranscoder(t3), "registered");
        vm.assertFalse(bondingManager.isInTranscoderPool(t3), "not in the pool");
        vm.assertEq(votesOf(t3), 0, "no votes outside the active set");
        vm.assertEq(votesOf(bob), 0, "nor for its delegators");
    }

    /// An eviction is checkpointed too: the evicted orchestrator's votes end with its seat.
    function test_EvictionEndsVotes() public {
        address t3 = makeAddr("t3");
        fund(t3, 700 ether);
        vm.expectEmit(address(bondingVotes));
        emit IVotes.DelegateVotesChanged(t2, 600 ether, 0);
        bondAs(t3, 700 ether, t3); // registers and joins: 700 > 600 evicts t2 from the next round
        vm.assertEq(votesOf(t2), 0, "evicted: no votes from the next round");
        vm.assertEq(votesOf(t3), 700 ether, "t3 took the seat");
        vm.assertEq(bondingVotes.totalSupply(), bondingManager.nextRoundTotalActiveStake(), "supply = next active set");
        vm.assertEq(votesOf(t1) + votesOf(t3), bondingVotes.totalSupply(), "the seats hold all the votes");
    }

    /// Joining the pool through transcoder() changes no bond but starts the votes: it is
    /// checkpointed too.
    function test_JoiningThroughTranscoderStartsVotes() public {
        address t3 = makeAddr("t3");
        registerTranscoder(t3, 500 ether, 0, 0); // pool full: stays out
        vm.assertEq(votesOf(t3), 0, "out of the pool");
        vm.prank(treasury);
        bondingManager.setNumActiveTranscoders(3);
        vm.expectEmit(address(bondingVotes));
        emit IVotes.DelegateVotesChanged(t3, 0, 500 ether);
        vm.prank(t3);
        bondingManager.transcoder(0, 0);
        vm.assertEq(votesOf(t3), 500 ether, "in the pool: votes from the next round");
        vm.assertEq(votesOf(t1) + votesOf(t2) + votesOf(t3), bondingVotes.totalSupply(), "seats hold all votes");
    }

    function test_DelegatorOfANonOrchestratorHasNoVotes() public {
        bondAs(bob, 100 ether, alice); // alice delegates to t1: not an orchestrator
        vm.assertEq(votesOf(bob), 0, "delegate isn't an orchestrator");
        vm.assertEq(votesOf(alice), 400 ether, "alice votes her own stake only");
    }

    function test_FullUnbondEndsVotes() public {
        vm.prank(alice);
        bondingManager.unbond(400 ether);
        vm.assertEq(votesOf(alice), 0, "unbonded");
        vm.assertEq(bondingVotes.delegates(alice), address(0), "no delegate");
        vm.assertEq(votesOf(t1), 1000 ether, "t1 lost the delegation");
        vm.prank(t2);
        bondingManager.unbond(600 ether);
        vm.assertEq(votesOf(t2), 0, "resigned orchestrator");
    }

    function test_DelegateChangeMovesVotes() public {
        vm.expectEmit(address(bondingVotes));
        emit IVotes.DelegateVotesChanged(t1, 1400 ether, 1000 ether);
        vm.expectEmit(address(bondingVotes));
        emit IVotes.DelegateVotesChanged(t2, 600 ether, 1000 ether);
        vm.expectEmit(address(bondingVotes));
        emit IVotes.DelegateChanged(alice, t1, t2);
        bondAs(alice, 0, t2);
        vm.assertEq(votesOf(t1), 1000 ether, "t1 lost alice");
        vm.assertEq(votesOf(t2), 1000 ether, "t2 gained alice");
        uint256 r = currentRound();
        nextRound();
        vm.assertEq(bondingVotes.delegatedAt(alice, r - 1), t1, "before the change");
        vm.assertEq(bondingVotes.delegatedAt(alice, r), t2, "at the end of the round of the change");
    }

    function test_DelegatorBondedAmountChangedEvent() public {
        uint256 round = currentRound();
        vm.expectEmit(address(bondingVotes));
        emit BondingVotes.DelegatorBondedAmountChanged(bob, 0, 0, 50 ether, round);
        bondAs(bob, 50 ether, t2);
    }

    function test_GetBondingStateAtMatches() public view {
        uint256 next = currentRound() + 1;
        (uint256 v1, address d1) = bondingVotes.getVotesAndDelegateAtRoundStart(alice, next);
        (uint256 v2, address d2) = bondingVotes.getBondingStateAt(alice, next);
        vm.assertEq(v1, v2, "same votes");
        vm.assertEq(d1, d2, "same delegate");
        vm.assertEq(v1, 400 ether, "alice's");
    }

    /// A delegator's vote needs the earnings pool of its orchestrator's last reward round; a
    /// checkpoint pointing at a round without one is corrupt and the lookup says so.
    function test_MissingEarningsPool() public {
        uint256 round = currentRound();
        vm.prank(address(bondingManager));
        bondingVotes.checkpointBondingState(t1, round + 1, 1000 ether, t1, 1400 ether, round - 1, round - 1);
        vm.expectRevert(abi.encodeWithSelector(BondingVotes.MissingEarningsPool.selector, t1, round - 1));
        bondingVotes.getVotes(alice);
    }

    // ------------------------------------------------------------------ total active stake

    function test_TotalSupplyIsActiveStake() public {
        uint256 r = currentRound();
        vm.assertEq(bondingVotes.getTotalActiveStakeAt(r), 2000 ether, "this round's active stake");
        vm.assertEq(bondingVotes.getTotalActiveStakeAt(r), bondingManager.currentRoundTotalActiveStake(), "as BM");
        vm.assertEq(bondingVotes.getTotalActiveStakeAt(r - 1), 0, "nothing was active before");
        bondAs(bob, 300 ether, t2);
        vm.assertEq(bondingVotes.totalSupply(), 2300 ether, "pending total for the next round");
        vm.assertEq(votesOf(t1) + votesOf(t2), bondingVotes.totalSupply(), "orchestrators' votes = supply");
        nextRound();
        vm.assertEq(bondingVotes.getPastTotalSupply(r), 2300 ether, "end of r = start of r + 1");
        vm.assertEq(bondingVotes.getPastTotalSupply(r - 1), 2000 ether, "end of r - 1");
    }

    function test_TotalSupplyOfSkippedRounds() public {
        uint256 r = currentRound();
        bondAs(bob, 100 ether, t1);
        // Skip rounds r+1 and r+2: nobody initializes them.
        vm.roll(roundsManager.currentRoundStartBlock() + 3 * ROUND_LENGTH);
        vm.assertEq(bondingVotes.getTotalActiveStakeAt(r + 2), 2100 ether, "pending total before the next init");
        roundsManager.initializeRound();
        vm.assertEq(currentRound(), r + 3, "three rounds on");
        vm.assertEq(bondingVotes.getTotalActiveStakeAt(r + 1), 2100 ether, "skipped round: the next init's stake");
        vm.assertEq(bondingVotes.getTotalActiveStakeAt(r + 2), 2100 ether, "same");
        vm.assertEq(bondingVotes.getTotalActiveStakeAt(r + 3), 2100 ether, "initialized round");
        vm.assertEq(bondingVotes.getPastVotes(t1, r + 1), 1500 ether, "votes of a skipped round");
    }
}
