// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "../lib/GovernedProtocolFixture.sol";
import {GovernanceHandler} from "./GovernanceHandler.sol";

/// Random sequences of bonding, moving and unbonding stake, orchestrators joining, resigning
/// and rewarding (three for two seats, so the active set changes), rounds passing, and
/// proposals voted on in random order. After every call: the votes cast on a proposal never
/// exceed the active stake at its snapshot, and every vote so far was counted by the rule
/// (checked as it was cast, overrides included).
contract GovernanceInvariantTest is GovernedProtocolFixture {
    GovernanceHandler internal handler;

    function setUp() public {
        activeSetSize = 2;
        deployGovernedProtocol();
        address[] memory os = new address[](3);
        address[] memory ds = new address[](4);
        for (uint256 i = 0; i < 3; i++) {
            os[i] = makeAddr(string(abi.encodePacked("orchestrator", vm.toString(i))));
            fund(os[i], 1_000_000 ether);
            registerTranscoder(os[i], (3 - i) * 1000 ether, 100_000 * i, 0);
        }
        for (uint256 i = 0; i < 4; i++) {
            ds[i] = makeAddr(string(abi.encodePacked("delegator", vm.toString(i))));
            fund(ds[i], 1_000_000 ether);
        }
        bondAs(ds[0], 800 ether, os[0]);
        bondAs(ds[1], 500 ether, os[1]);
        handler = new GovernanceHandler(bondingManager, roundsManager, bondingVotes, governor, address(minter), os, ds);
        nextRound();

        bytes4[] memory selectors = new bytes4[](12);
        selectors[0] = GovernanceHandler.bond.selector;
        selectors[1] = GovernanceHandler.unbond.selector;
        selectors[2] = GovernanceHandler.bondSelf.selector;
        selectors[3] = GovernanceHandler.reward.selector;
        selectors[4] = GovernanceHandler.advance.selector;
        selectors[5] = GovernanceHandler.vote.selector;
        selectors[6] = GovernanceHandler.propose.selector;
        selectors[7] = GovernanceHandler.vote.selector;
        selectors[8] = GovernanceHandler.vote.selector;
        selectors[9] = GovernanceHandler.vote.selector;
        selectors[10] = GovernanceHandler.vote.selector;
        selectors[11] = GovernanceHandler.finalize.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector(address(handler), selectors));
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_VotesCastWithinActiveStake() public view {
        vm.assertEq(handler.violations(), 0, handler.firstViolation());
        uint256 round = currentRound();
        for (uint256 i = 0; i < handler.numProposals(); i++) {
            uint256 id = handler.proposalId(i);
            uint256 snapshot = governor.proposalSnapshot(id);
            if (snapshot >= round) continue;
            (uint256 against, uint256 for_, uint256 abstain) = governor.proposalVotes(id);
            vm.assertLe(
                against + for_ + abstain,
                bondingVotes.getPastTotalSupply(snapshot),
                "votes cast <= total active stake at the snapshot"
            );
        }
    }
}
