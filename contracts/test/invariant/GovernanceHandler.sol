// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "../lib/Vm.sol";
import {BondingManager} from "../../src/bonding/BondingManager.sol";
import {RoundsManager} from "../../src/rounds/RoundsManager.sol";
import {Minter} from "../../src/token/Minter.sol";
import {BondingVotes} from "../../src/governance/BondingVotes.sol";
import {LivepeerGovernor} from "../../src/governance/LivepeerGovernor.sol";
import {IGovernor} from "@openzeppelin/contracts/governance/IGovernor.sol";

/// Drives governance with random actions: delegators bonding (and moving) and unbonding,
/// orchestrators bonding more, resigning and calling reward (three of them for two seats),
/// rounds passing, proposals made, voted on with random choices in random order, queued and
/// executed. Each vote is checked against the counting rule as it is cast: the weight
/// counted, and for a delegator whose orchestrator voted already, exactly its weight moving
/// out of the orchestrator's bucket into its own.
contract GovernanceHandler is TestBase {
    uint256 internal constant ROUND_LENGTH = 50;

    BondingManager public immutable bm;
    RoundsManager public immutable rm;
    BondingVotes public immutable votes;
    LivepeerGovernor public immutable governor;
    address public immutable minter;

    address[] public orchs;
    address[] public dels;

    struct P {
        address[] targets;
        uint256[] values;
        bytes[] calldatas;
        bytes32 descriptionHash;
        uint256 id;
    }

    P[] internal proposals;
    mapping(uint256 => mapping(address => uint8)) internal choice;
    mapping(uint256 => mapping(address => uint256)) internal deductions;

    uint256 public violations;
    string public firstViolation;
    mapping(bytes32 => uint256) public calls;

    constructor(
        BondingManager _bm,
        RoundsManager _rm,
        BondingVotes _votes,
        LivepeerGovernor _governor,
        address _minter,
        address[] memory _orchs,
        address[] memory _dels
    ) {
        bm = _bm;
        rm = _rm;
        votes = _votes;
        governor = _governor;
        minter = _minter;
        orchs = _orchs;
        dels = _dels;
    }

    function numProposals() external view returns (uint256) {
        return proposals.length;
    }

    function proposalId(uint256 i) external view returns (uint256) {
        return proposals[i].id;
    }

    // ------------------------------------------------------------------ stake

    function bond(uint256 dSeed, uint256 oSeed, uint256 amount) external {
        _ensureRound();
        address d = dels[dSeed % dels.length];
        address o = orchs[oSeed % orchs.length];
        amount = bound(amount, 1 ether, 5000 ether);
        vm.prank(d);
        bm.bond(amount, o);
        calls["bond"]++;
    }

    function unbond(uint256 aSeed, uint256 amount) external {
        _ensureRound();
        uint256 n = orchs.length + dels.length;
        uint256 i = aSeed % n;
        address a = i < orchs.length ? orchs[i] : dels[i - orchs.length];
        (uint256 bonded,,,, uint256 startRound, uint256 lastClaim,) = bm.getDelegator(a);
        uint256 round = rm.currentRound();
        uint256 stake = lastClaim < round ? bm.pendingStake(a, 0) : bonded;
        if (bonded == 0 || startRound > round) {
            vm.prank(a);
            vm.expectRevert(bytes("caller must be bonded"));
            bm.unbond(1);
            return;
        }
        // Orchestrators resign (all of it), delegators unbond some or all.
        amount = i < orchs.length ? stake : bound(amount, 1, stake);
        vm.prank(a);
        bm.unbond(amount);
        calls["unbond"]++;
    }

    function bondSelf(uint256 oSeed, uint256 amount) external {
        _ensureRound();
        address o = orchs[oSeed % orchs.length];
        amount = bound(amount, 1 ether, 5000 ether);
        vm.prank(o);
        bm.bond(amount, o);
        calls["bondSelf"]++;
    }

    function reward(uint256 oSeed) external {
        _ensureRound();
        address o = orchs[oSeed % orchs.length];
        (uint256 lastRewardRound,,,,,,,,,) = bm.getTranscoder(o);
        if (!bm.isActiveTranscoder(o) || lastRewardRound == rm.currentRound()) return;
        vm.prank(o);
        bm.reward();
        calls["reward"]++;
    }

    function advance(uint256 rounds) external {
        rounds = bound(rounds, 1, 2);
        vm.roll(rm.currentRoundStartBlock() + rounds * ROUND_LENGTH);
        calls["advance"]++;
    }

    // ------------------------------------------------------------------ governance

    function propose(uint256 aSeed, uint256 value) external {
        _ensureRound();
        if (proposals.length >= 24) return;
        address a = _actor(aSeed);
        P storage p = proposals.push();
        p.targets.push(minter);
        p.values.push(0);
        p.calldatas.push(abi.encodeCall(Minter.setInflationChange, (bound(value, 0, 10_000))));
        string memory description = string.concat("proposal ", vm.toString(proposals.length));
        p.descriptionHash = keccak256(bytes(description));
        uint256 have = governor.getVotes(a, rm.currentRound() - 1);
        if (have < governor.proposalThreshold()) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IGovernor.GovernorInsufficientProposerVotes.selector, a, have, governor.proposalThreshold()
                )
            );
            vm.prank(a);
            governor.propose(p.targets, p.values, p.calldatas, description);
            proposals.pop();
            return;
        }
        vm.prank(a);
        p.id = governor.propose(p.targets, p.values, p.calldatas, description);
        calls["propose"]++;
    }

    function vote(uint256 pSeed, uint256 aSeed, uint8 support) external {
        // On an open proposal, starting the search at a random one.
        uint256 n = proposals.length;
        for (uint256 k = 0; k < n; k++) {
            uint256 id = proposals[(pSeed % n + k) % n].id;
            if (governor.state(id) != IGovernor.ProposalState.Active) continue;
            address voter = _actor(aSeed);
            if (governor.hasVoted(id, voter)) return;
            _voteChecked(id, voter, uint8(bound(support, 0, 2)));
            calls["vote"]++;
            return;
        }
    }

    struct Expectation {
        uint256 power;
        address delegate;
        bool orchestrator;
        bool overrides;
        bool delegateVoted;
        uint8 delegateChoice;
        uint256[3] before;
    }

    function _voteChecked(uint256 id, address voter, uint8 support) internal {
        Expectation memory e = _expect(id, voter);
        vm.prank(voter);
        uint256 weight = governor.castVote(id, support);
        choice[id][voter] = support;

        uint256 expected = e.orchestrator ? e.power - deductions[id][voter] : e.power;
        _check(weight == expected, "counted weight: votes, less the delegators who voted, for an orchestrator");
        if (e.overrides) deductions[id][e.delegate] += weight;
        uint256[3] memory afterVote = _tally(id);
        for (uint8 s = 0; s < 3; s++) {
            uint256 want = e.before[s];
            if (s == support) want += weight;
            if (e.delegateVoted && s == e.delegateChoice) want -= weight;
            _check(afterVote[s] == want, "an override moves exactly the delegator's weight");
        }
        if (e.delegateVoted) calls["override after orchestrator"]++;
        if (e.orchestrator && deductions[id][voter] > 0) calls["orchestrator after override"]++;
    }

    function _expect(uint256 id, address voter) internal view returns (Expectation memory e) {
        uint256 snapshot = governor.proposalSnapshot(id);
        e.power = votes.getPastVotes(voter, snapshot);
        e.delegate = votes.delegatedAt(voter, snapshot);
        e.orchestrator = e.delegate == voter;
        e.overrides =
            !e.orchestrator && e.delegate != address(0) && votes.delegatedAt(e.delegate, snapshot) == e.delegate;
        e.delegateVoted = e.overrides && governor.hasVoted(id, e.delegate);
        e.delegateChoice = choice[id][e.delegate];
        e.before = _tally(id);
    }

    /// Queue or execute a proposal that passed.
    function finalize(uint256 pSeed) external {
        _ensureRound();
        if (proposals.length == 0) return;
        P storage p = proposals[pSeed % proposals.length];
        IGovernor.ProposalState st = governor.state(p.id);
        if (st == IGovernor.ProposalState.Succeeded) {
            governor.queue(p.targets, p.values, p.calldatas, p.descriptionHash);
            calls["queue"]++;
        } else if (st == IGovernor.ProposalState.Queued) {
            governor.execute(p.targets, p.values, p.calldatas, p.descriptionHash);
            calls["execute"]++;
        }
    }

    // ------------------------------------------------------------------ helpers

    function _actor(uint256 seed) internal view returns (address) {
        uint256 i = seed % (orchs.length + dels.length);
        return i < orchs.length ? orchs[i] : dels[i - orchs.length];
    }

    function _tally(uint256 id) internal view returns (uint256[3] memory t) {
        (t[0], t[1], t[2]) = governor.proposalVotes(id);
    }

    function _ensureRound() internal {
        if (!rm.currentRoundInitialized()) rm.initializeRound();
    }

    function _check(bool ok, string memory what) internal {
        if (ok) return;
        if (violations == 0) firstViolation = what;
        violations++;
    }
}
