// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "./lib/GovernedProtocolFixture.sol";
import {Minter} from "../src/token/Minter.sol";

/// Fuzzed stakes, vote choices and vote order against a model of the counting: an
/// orchestrator counts its delegated stake minus its delegators who voted, each delegator
/// its own stake, whatever the order; every override moves exactly the delegator's weight.
contract GovernorFuzzTest is GovernedProtocolFixture {
    address[2] internal orchs;
    address[3] internal dels; // dels[0], dels[1] -> orchs[0]; dels[2] -> orchs[1]
    uint256[5] internal stake; // orchs then dels

    function setUp() public {
        deployGovernedProtocol();
        orchs[0] = makeAddr("o0");
        orchs[1] = makeAddr("o1");
        dels[0] = makeAddr("d0");
        dels[1] = makeAddr("d1");
        dels[2] = makeAddr("d2");
    }

    function voterAt(uint256 i) internal view returns (address) {
        return i < 2 ? orchs[i] : dels[i - 2];
    }

    function delegateOfVoter(uint256 i) internal pure returns (uint256) {
        return i < 2 ? i : (i == 4 ? 1 : 0);
    }

    function bucket(uint256 proposalId, uint8 support) internal view returns (uint256) {
        (uint256 against, uint256 for_, uint256 abstain) = governor.proposalVotes(proposalId);
        return support == 0 ? against : support == 1 ? for_ : abstain;
    }

    function testFuzz_CountingMatchesTheModel(uint256[5] memory stakes, uint8[5] memory choices, uint256 orderSeed)
        public
    {
        for (uint256 i = 0; i < 5; i++) {
            stake[i] = bound(stakes[i], i < 2 ? 100 ether : 1, 1_000_000 ether);
            choices[i] = uint8(bound(choices[i], 0, 2));
            fund(voterAt(i), stake[i]);
            bondAs(voterAt(i), stake[i], orchs[delegateOfVoter(i)]);
        }
        nextRound();
        Proposal memory p =
            propose(orchs[0], singleCall(address(minter), abi.encodeCall(Minter.setInflationChange, (1)), "fuzz"));
        advanceToVoting(p);

        // Vote in a random order, checking each override as it happens.
        bool[5] memory voted;
        for (uint256 k = 0; k < 5; k++) {
            uint256 i = (orderSeed >> (k * 8)) % 5;
            while (voted[i]) i = (i + 1) % 5;
            voted[i] = true;
            castAndCheck(p.id, i, choices, voted);
        }

        // The model: order doesn't matter.
        uint256[3] memory expected;
        uint256[2] memory delegatorsWeight;
        for (uint256 i = 2; i < 5; i++) {
            expected[choices[i]] += stake[i];
            delegatorsWeight[delegateOfVoter(i)] += stake[i];
        }
        expected[choices[0]] += stake[0] + stake[2] + stake[3] - delegatorsWeight[0];
        expected[choices[1]] += stake[1] + stake[4] - delegatorsWeight[1];
        (uint256 against, uint256 for_, uint256 abstain) = governor.proposalVotes(p.id);
        vm.assertEq(against, expected[0], "against");
        vm.assertEq(for_, expected[1], "for");
        vm.assertEq(abstain, expected[2], "abstain");
        uint256 supply = bondingVotes.getPastTotalSupply(governor.proposalSnapshot(p.id));
        vm.assertEq(against + for_ + abstain, supply, "everyone voted: exactly the active stake");
    }

    function castAndCheck(uint256 id, uint256 i, uint8[5] memory choices, bool[5] memory voted) internal {
        address voter = voterAt(i);
        uint256 o = delegateOfVoter(i);
        bool overrides = i >= 2 && voted[o];
        uint8 oSupport = choices[o];
        uint256 oBucketBefore = bucket(id, oSupport);
        uint256 mineBefore = bucket(id, choices[i]);
        uint256 weight = vote(voter, makeProposalRef(id), choices[i]);
        if (i >= 2) vm.assertEq(weight, stake[i], "a delegator votes its own stake");
        if (overrides) {
            if (oSupport == choices[i]) {
                vm.assertEq(bucket(id, oSupport), oBucketBefore, "same choice: the bucket doesn't move");
            } else {
                vm.assertEq(oBucketBefore - bucket(id, oSupport), weight, "exactly its weight leaves the orchestrator");
                vm.assertEq(bucket(id, choices[i]) - mineBefore, weight, "and joins its choice");
            }
        } else {
            vm.assertEq(bucket(id, choices[i]) - mineBefore, weight, "counted");
        }
    }

    function makeProposalRef(uint256 id) internal pure returns (Proposal memory p) {
        p.id = id;
    }

    /// A delegator's voting power is its bond grown by its orchestrator's rewards, as
    /// BondingManager's pendingStake computes it, and never more than the orchestrator holds.
    function testFuzz_DelegatorVotesFollowRewards(uint256 oStake, uint256 dStake, uint8 rounds, uint32 rewardCut)
        public
    {
        oStake = bound(oStake, 1 ether, 10_000_000 ether);
        dStake = bound(dStake, 1, 10_000_000 ether);
        rewardCut = uint32(bound(rewardCut, 0, 1_000_000));
        registerTranscoder(orchs[0], oStake, rewardCut, 0);
        fund(dels[0], dStake);
        bondAs(dels[0], dStake, orchs[0]);
        uint256 n = bound(rounds, 1, 12);
        for (uint256 r = 0; r < n; r++) {
            nextRound();
            rewardAs(orchs[0]);
        }
        vm.assertEq(bondingVotes.getVotes(dels[0]), pendingStake(dels[0]), "as pendingStake");
        vm.assertLe(bondingVotes.getVotes(dels[0]), bondingVotes.getVotes(orchs[0]), "within the orchestrator's");
        vm.assertEq(bondingVotes.getVotes(orchs[0]), bondingVotes.totalSupply(), "the only seat holds all votes");
    }
}
