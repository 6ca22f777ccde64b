// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "./lib/GovernedProtocolFixture.sol";
import {TicketBroker} from "../src/pm/TicketBroker.sol";
import {Minter} from "../src/token/Minter.sol";
import {IManager} from "../src/interfaces/IManager.sol";
import {GovernorCountingOverridable} from "../src/governance/GovernorCountingOverridable.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// A new TicketBroker implementation for the upgrade test: same storage, one more function.
contract TicketBrokerV2 is TicketBroker {
    constructor(address _controller) TicketBroker(_controller) {}

    function version() external pure returns (uint256) {
        return 2;
    }
}

/// LivepeerGovernor over BondingVotes with the Treasury timelock owning the Controller:
/// settings, thresholds, timing, Bravo counting with delegator override, and full proposal
/// cycles that change a parameter, upgrade a proxied contract and pay out of the treasury,
/// next to failed proposals that change nothing.
contract LivepeerGovernorTest is GovernedProtocolFixture {
    address internal t1; // 3000 LPT self + alice's 1000
    address internal t2; // 2000 LPT self + bob's 500
    address internal alice;
    address internal bob;
    address internal carol; // 50 LPT to t2: below the proposal threshold

    function setUp() public {
        deployGovernedProtocol();
        t1 = makeAddr("t1");
        t2 = makeAddr("t2");
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        carol = makeAddr("carol");
        registerTranscoder(t1, 3000 ether, 0, 0);
        registerTranscoder(t2, 2000 ether, 0, 0);
        fund(alice, 1000 ether);
        bondAs(alice, 1000 ether, t1);
        fund(bob, 500 ether);
        bondAs(bob, 500 ether, t2);
        fund(carol, 50 ether);
        bondAs(carol, 50 ether, t2);
        nextRound();
    }

    function inflationProposal(uint256 value, string memory description) internal view returns (Proposal memory) {
        return singleCall(address(minter), abi.encodeCall(Minter.setInflationChange, (value)), description);
    }

    function tally(Proposal memory p) internal view returns (uint256 against, uint256 for_, uint256 abstain) {
        return governor.proposalVotes(p.id);
    }

    // ------------------------------------------------------------------ settings

    function test_Settings() public view {
        vm.assertEq(governor.name(), "LivepeerGovernor", "name");
        vm.assertEq(governor.votingDelay(), 1, "voting delay: 1 round");
        vm.assertEq(governor.votingPeriod(), 10, "voting period: 10 rounds");
        vm.assertEq(governor.proposalThreshold(), 100 ether, "threshold: 100 LPT");
        vm.assertEq(governor.quorumNumerator(), 333_300, "quorum numerator");
        vm.assertEq(governor.quorumDenominator(), 1_000_000, "quorum denominator");
        vm.assertEq(governor.quota(), 500_000, "quota");
        vm.assertEq(governor.COUNTING_MODE(), "support=bravo&quorum=for,abstain,against", "counting mode");
        vm.assertEq(governor.timelock(), treasury, "executes through the Treasury");
        vm.assertEq(address(governor.token()), address(bondingVotes), "votes from BondingVotes");
        vm.assertEq(governor.CLOCK_MODE(), "mode=livepeer_round", "round clock");
        vm.assertEq(controller.owner(), treasury, "the Treasury owns the Controller");
        vm.assertEq(
            controller.getContract(keccak256("LivepeerGovernor")), address(governor), "registered in the Controller"
        );
    }

    /// Nobody but a passed proposal can change the protocol: the deployer kept no power.
    function test_DeployerKeptNoPower() public {
        vm.expectRevert(bytes("caller must be owner"));
        controller.setContractInfo(keccak256("TicketBrokerTarget"), address(1), bytes20(0));
        vm.expectRevert(bytes("caller must be owner"));
        controller.pause();
        vm.expectRevert(bytes("caller must be Controller owner"));
        minter.setInflationChange(600);
        vm.expectRevert(bytes("caller must be Controller owner"));
        bondingManager.setUnbondingPeriod(1);
        vm.expectRevert(bytes("caller must be Controller owner"));
        broker.setUnlockPeriod(1);
        vm.assertFalse(token.hasRole(token.DEFAULT_ADMIN_ROLE(), address(this)), "no token admin");
        vm.assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), treasury), "the Treasury administers the token");
        bytes32 adminRole = treasuryTimelock.DEFAULT_ADMIN_ROLE();
        vm.assertFalse(treasuryTimelock.hasRole(adminRole, address(this)), "no timelock admin");
        vm.assertTrue(treasuryTimelock.hasRole(adminRole, treasury), "the timelock administers itself");
        vm.assertTrue(treasuryTimelock.hasRole(treasuryTimelock.PROPOSER_ROLE(), address(governor)), "proposer");
        vm.assertTrue(treasuryTimelock.hasRole(treasuryTimelock.CANCELLER_ROLE(), address(governor)), "canceller");
        vm.assertTrue(treasuryTimelock.hasRole(treasuryTimelock.EXECUTOR_ROLE(), address(governor)), "executor");
        vm.assertEq(treasuryTimelock.getMinDelay(), 0, "no delay");
        // The timelock runs only what the governor scheduled.
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                address(this),
                treasuryTimelock.EXECUTOR_ROLE()
            )
        );
        treasuryTimelock.execute(address(minter), 0, abi.encodeCall(Minter.setInflationChange, (600)), 0, 0);
    }

    function test_GovernorSettersOnlyByGovernance() public {
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorOnlyExecutor.selector, address(this)));
        governor.setVotingPeriod(20);
        vm.expectRevert(abi.encodeWithSelector(IGovernor.GovernorOnlyExecutor.selector, address(this)));
        governor.updateQuorumNumerator(500_000);

        Proposal memory p;
        p.targets = new address[](2);
        p.values = new uint256[](2);
        p.calldatas = new bytes[](2);
        p.targets[0] = address(governor);
        p.calldatas[0] = abi.encodeWithSignature("setVotingPeriod(uint32)", uint32(20));
        p.targets[1] = address(governor);
        p.calldatas[1] = abi.encodeWithSignature("updateQuorumNumerator(uint256)", uint256(400_000));
        p.description = "longer votes, higher quorum";
        address[] memory voters = new address[](2);
        voters[0] = t1;
        voters[1] = t2;
        passProposal(t1, p, voters);
        vm.assertEq(governor.votingPeriod(), 20, "voting period changed");
        vm.assertEq(governor.quorumNumerator(), 400_000, "quorum changed");
        vm.assertEq(governor.quota(), 500_000, "the quota has no setter");
    }

    // ------------------------------------------------------------------ proposing and timing

    function test_ProposalThreshold() public {
        Proposal memory p = inflationProposal(600, "below threshold");
        vm.expectRevert(
            abi.encodeWithSelector(IGovernor.GovernorInsufficientProposerVotes.selector, carol, 50 ether, 100 ether)
        );
        vm.prank(carol);
        governor.propose(p.targets, p.values, p.calldatas, p.description);

        uint256 round = currentRound();
        vm.expectEmit(true, true, true, true, address(governor));
        emit IGovernor.ProposalCreated(
            governor.hashProposal(p.targets, p.values, p.calldatas, keccak256(bytes(p.description))),
            bob,
            p.targets,
            p.values,
            new string[](1),
            p.calldatas,
            round + 1,
            round + 11,
            p.description
        );
        p = propose(bob, p); // 500 LPT of votes
        vm.assertEq(governor.proposalSnapshot(p.id), round + 1, "snapshot: end of the next round");
        vm.assertEq(governor.proposalDeadline(p.id), round + 11, "ten rounds of voting");
        vm.assertEq(governor.proposalProposer(p.id), bob, "proposer");
    }

    /// The threshold is read at the end of the previous round: stake bonded now doesn't count.
    function test_ProposalThresholdUsesThePreviousRound() public {
        address dave = makeAddr("dave");
        fund(dave, 200 ether);
        bondAs(dave, 200 ether, t1);
        Proposal memory p = inflationProposal(600, "too early");
        vm.expectRevert(
            abi.encodeWithSelector(IGovernor.GovernorInsufficientProposerVotes.selector, dave, 0, 100 ether)
        );
        vm.prank(dave);
        governor.propose(p.targets, p.values, p.calldatas, p.description);
        nextRound();
        nextRound();
        propose(dave, p);
    }

    function test_Timing() public {
        Proposal memory p = propose(t1, inflationProposal(600, "timing"));
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Pending), "pending");
        vm.expectRevert();
        vote(t1, p, 1);
        nextRound();
        vm.assertEq(
            uint8(proposalState(p)), uint8(IGovernor.ProposalState.Pending), "pending through the snapshot round"
        );
        nextRound();
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Active), "active after the snapshot");
        vote(t1, p, 1);
        vote(t2, p, 1);
        for (uint256 i = 0; i < 9; i++) {
            nextRound();
        }
        vm.assertEq(currentRound(), governor.proposalDeadline(p.id), "deadline round");
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Active), "active through the deadline");
        vm.expectRevert();
        queue(p);
        nextRound();
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Succeeded), "succeeded");
        queue(p);
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Queued), "queued");
        execute(p);
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Executed), "executed");
        vm.assertEq(minter.inflationChange(), 600, "parameter changed");
    }

    function test_CancelWhilePending() public {
        Proposal memory p = propose(t1, inflationProposal(600, "changed my mind"));
        vm.expectRevert();
        vm.prank(t2);
        governor.cancel(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
        vm.prank(t1);
        governor.cancel(p.targets, p.values, p.calldatas, keccak256(bytes(p.description)));
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Canceled), "canceled");
    }

    // ------------------------------------------------------------------ quorum and counting

    function test_QuorumIsAShareOfActiveStake() public {
        Proposal memory p = propose(t1, inflationProposal(600, "quorum"));
        uint256 snapshot = governor.proposalSnapshot(p.id);
        advanceToVoting(p);
        uint256 active = bondingVotes.getPastTotalSupply(snapshot);
        vm.assertEq(active, 6550 ether, "all the stake is active");
        vm.assertEq(governor.quorum(snapshot), active * 333_300 / 1_000_000, "33.33%");
    }

    function test_VoteWeightIsPastVotes() public {
        Proposal memory p = propose(t1, inflationProposal(600, "weights"));
        advanceToVoting(p);
        uint256 snapshot = governor.proposalSnapshot(p.id);
        vm.expectEmit(address(governor));
        emit IGovernor.VoteCast(t2, p.id, 0, 2550 ether, "too low");
        vm.prank(t2);
        uint256 w = governor.castVoteWithReason(p.id, 0, "too low");
        vm.assertEq(w, bondingVotes.getPastVotes(t2, snapshot), "getPastVotes at the snapshot");
        vm.assertTrue(governor.hasVoted(p.id, t2), "hasVoted");
        (uint256 against, uint256 for_, uint256 abstain) = tally(p);
        vm.assertEq(against, 2550 ether, "against");
        vm.assertEq(for_ + abstain, 0, "nothing else");
    }

    function test_RejectsDoubleVotesAndBadSupport() public {
        Proposal memory p = propose(t1, inflationProposal(600, "once"));
        advanceToVoting(p);
        vote(t1, p, 1);
        vm.expectRevert(GovernorCountingOverridable.VoteAlreadyCast.selector);
        vote(t1, p, 0);
        vm.expectRevert(abi.encodeWithSelector(GovernorCountingOverridable.InvalidVoteType.selector, uint8(3)));
        vote(t2, p, 3);
    }

    /// Abstain counts towards quorum but not towards success; For needs the quota of
    /// For + Against, and a tie passes at 50%.
    function test_BravoCounting() public {
        // t2 alone (2550) is above quorum (2183.1): abstaining reaches quorum with no For
        // votes, and 0 >= 50% of 0 passes: Livepeer's rule, kept.
        Proposal memory p = propose(t1, inflationProposal(600, "abstain only"));
        advanceToVoting(p);
        vote(t2, p, 2);
        advancePastDeadline(p);
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Succeeded), "abstain reaches quorum");

        // Against and For: For needs half of For + Against; the delegator's override counts.
        Proposal memory q = propose(t1, inflationProposal(700, "for and against"));
        advanceToVoting(q);
        vote(t2, q, 0); // 2550 against
        vote(alice, q, 1); // 1000 for (alice's own)
        vote(t1, q, 1); // 4000 - 1000 = 3000 for
        (uint256 against, uint256 for_, uint256 abstain) = tally(q);
        vm.assertEq(against, 2550 ether, "against");
        vm.assertEq(for_, 4000 ether, "for");
        vm.assertEq(abstain, 0, "abstain");
        advancePastDeadline(q);
        vm.assertEq(uint8(proposalState(q)), uint8(IGovernor.ProposalState.Succeeded), "for wins");
    }

    function test_TiePasses() public {
        // Make t1 and t2 equal: t2 bonds 1450 more; then 4000 For vs 4000 Against.
        fund(t2, 1450 ether);
        bondAs(t2, 1450 ether, t2);
        nextRound();
        Proposal memory p = propose(t1, inflationProposal(600, "tie"));
        advanceToVoting(p);
        vote(t1, p, 1);
        vote(t2, p, 0);
        (uint256 against, uint256 for_,) = tally(p);
        vm.assertEq(for_, against, "a tie");
        advancePastDeadline(p);
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Succeeded), "a tie passes at 50%");
    }

    // ------------------------------------------------------------------ delegator override

    function test_DelegatorOverridesAfterItsOrchestrator() public {
        Proposal memory p = propose(t1, inflationProposal(600, "override after"));
        advanceToVoting(p);
        vm.assertEq(vote(t1, p, 1), 4000 ether, "t1 votes all its delegated stake");
        vm.assertEq(vote(alice, p, 0), 1000 ether, "alice votes her own");
        (uint256 against, uint256 for_,) = tally(p);
        vm.assertEq(for_, 3000 ether, "alice's weight taken out of t1's For");
        vm.assertEq(against, 1000 ether, "and counted Against");
    }

    function test_DelegatorOverridesBeforeItsOrchestrator() public {
        Proposal memory p = propose(t1, inflationProposal(600, "override before"));
        advanceToVoting(p);
        vote(alice, p, 2);
        vm.assertEq(vote(t1, p, 1), 3000 ether, "t1 votes without alice's weight");
        (uint256 against, uint256 for_, uint256 abstain) = tally(p);
        vm.assertEq(for_, 3000 ether, "for");
        vm.assertEq(abstain, 1000 ether, "abstain");
        vm.assertEq(against, 0, "against");
    }

    function test_OrchestratorVotesStakeOfSilentDelegators() public {
        Proposal memory p = propose(t1, inflationProposal(600, "silent"));
        advanceToVoting(p);
        vote(bob, p, 0);
        vote(t2, p, 1);
        (uint256 against, uint256 for_,) = tally(p);
        vm.assertEq(for_, 2050 ether, "t2 keeps carol's silent 50");
        vm.assertEq(against, 500 ether, "bob's override");
        vm.assertLe(against + for_, bondingVotes.getPastTotalSupply(governor.proposalSnapshot(p.id)), "<= supply");
    }

    // ------------------------------------------------------------------ governance really governs

    /// (a) An economic parameter changed by a passed proposal.
    function test_ProposalChangesAParameter() public {
        vm.assertEq(minter.inflationChange(), INFLATION_CHANGE, "before");
        address[] memory voters = new address[](2);
        voters[0] = t1;
        voters[1] = bob;
        Proposal memory p = propose(t1, inflationProposal(600, "LIP-x: inflationChange 600"));
        advanceToVoting(p);
        vote(t1, p, 1);
        vote(bob, p, 1);
        advancePastDeadline(p);
        queue(p);
        vm.expectEmit(address(minter));
        emit IManager.ParameterUpdate("inflationChange");
        execute(p);
        vm.assertEq(minter.inflationChange(), 600, "after");

        Proposal memory q = singleCall(
            address(bondingManager), abi.encodeWithSignature("setUnbondingPeriod(uint64)", uint64(3)), "unbond in 3"
        );
        passProposal(t1, q, voters);
        vm.assertEq(bondingManager.unbondingPeriod(), 3, "unbonding period changed");
    }

    /// (b) A proxied contract upgraded to a new target, its state kept.
    function test_ProposalUpgradesAProxiedContract() public {
        address sender = makeAddr("sender");
        fundSender(sender, 3 ether, 4 ether);
        TicketBroker.Ticket memory t = winningTicket(t1, sender, 1 ether, 1, 42);
        bytes memory sig = signTicket(keyOf("sender"), t);
        broker.redeemWinningTicket(t, sig, 42);

        TicketBrokerV2 v2 = new TicketBrokerV2(address(controller));
        Proposal memory p = singleCall(
            address(controller),
            abi.encodeCall(controller.setContractInfo, (keccak256("TicketBrokerTarget"), address(v2), bytes20(0))),
            "upgrade the TicketBroker"
        );
        address[] memory voters = new address[](1);
        voters[0] = t1;
        passProposal(t1, p, voters);

        vm.assertEq(controller.getContract(keccak256("TicketBrokerTarget")), address(v2), "new target registered");
        vm.assertEq(TicketBrokerV2(address(broker)).version(), 2, "the proxy runs the new code");
        vm.assertEq(depositOf(sender), 2 ether, "deposit kept");
        vm.assertEq(reserveOf(sender), 4 ether, "reserve kept");
        vm.assertTrue(broker.usedTickets(broker.getTicketHash(t)), "used tickets kept");
        vm.assertEq(broker.unlockPeriod(), UNLOCK_PERIOD, "parameters kept");
        vm.assertEq(address(minter).balance, 7 ether, "ETH untouched");
        t = winningTicket(t1, sender, 1 ether, 2, 42); // the old one expired during the vote
        broker.redeemWinningTicket(t, signTicket(keyOf("sender"), t), 42);
        vm.assertEq(depositOf(sender), 1 ether, "and it keeps working");
    }

    /// (c) LPT paid out of the treasury, which the treasury cut of reward() funded.
    function test_ProposalPaysOutOfTheTreasury() public {
        rewardAs(t1);
        rewardAs(t2);
        uint256 funded = token.balanceOf(treasury);
        vm.assertGt(funded, 0, "the treasury cut of reward() funds the Treasury");
        address grantee = makeAddr("grantee");
        uint256 amount = funded / 2;
        Proposal memory p = singleCall(address(token), abi.encodeCall(token.transfer, (grantee, amount)), "grant");
        address[] memory voters = new address[](2);
        voters[0] = t1;
        voters[1] = t2;
        passProposal(t1, p, voters);
        vm.assertEq(token.balanceOf(grantee), amount, "paid");
        vm.assertGe(token.balanceOf(treasury), funded - amount, "the rest stays (plus later cuts)");
    }

    /// A failed proposal changes nothing: quorum missed.
    function test_QuorumMissedChangesNothing() public {
        Proposal memory p = propose(t1, inflationProposal(600, "quiet"));
        advanceToVoting(p);
        vote(bob, p, 1); // 500 For: below the 2183.1 quorum
        vote(alice, p, 1); // 1000 more: still below
        advancePastDeadline(p);
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Defeated), "defeated");
        vm.expectRevert();
        queue(p);
        vm.expectRevert();
        execute(p);
        vm.assertEq(minter.inflationChange(), INFLATION_CHANGE, "unchanged");
    }

    /// A failed proposal changes nothing: quota missed.
    function test_QuotaMissedChangesNothing() public {
        Proposal memory p = propose(t1, inflationProposal(600, "contested"));
        advanceToVoting(p);
        vote(t2, p, 1); // 2550 For
        vote(t1, p, 0); // 4000 Against: For < 50%
        advancePastDeadline(p);
        vm.assertEq(uint8(proposalState(p)), uint8(IGovernor.ProposalState.Defeated), "defeated");
        vm.expectRevert();
        queue(p);
        vm.assertEq(minter.inflationChange(), INFLATION_CHANGE, "unchanged");
    }
}
