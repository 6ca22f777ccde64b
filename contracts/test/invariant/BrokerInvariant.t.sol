// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "../lib/GovernedProtocolFixture.sol";
import {BrokerHandler} from "./BrokerHandler.sol";

/// Random sequences of funding (own and third-party), unlocks, cancels, withdrawals, fresh
/// and stored ticket redemptions, orchestrators bonding, resigning, rewarding and
/// withdrawing fees, and rounds passing. After every call: C1-C5 in
/// docs/faults.md#contract-invariants (C1-C3 are also checked inside each redemption).
contract BrokerInvariantTest is GovernedProtocolFixture {
    BrokerHandler internal handler;
    address[] internal senderList;
    address[] internal orchList;

    function setUp() public {
        activeSetSize = 3;
        deployGovernedProtocol();
        uint256[] memory keys = new uint256[](3);
        for (uint256 i = 0; i < 3; i++) {
            string memory name = string(abi.encodePacked("broadcaster", vm.toString(i)));
            senderList.push(makeAddr(name));
            keys[i] = keyOf(name);
        }
        for (uint256 i = 0; i < 4; i++) {
            address o = makeAddr(string(abi.encodePacked("orchestrator", vm.toString(i))));
            orchList.push(o);
            fund(o, 1_000_000 ether);
            // Three seats: the fourth starts outside the active set.
            if (i < 3) registerTranscoder(o, (4 - i) * 1000 ether, 0, 0);
        }
        handler = new BrokerHandler(
            broker, bondingManager, roundsManager, minter, senderList, keys, orchList, makeAddr("payer")
        );
        nextRound();

        bytes4[] memory selectors = new bytes4[](15);
        selectors[0] = BrokerHandler.fund.selector;
        selectors[1] = BrokerHandler.fund.selector;
        selectors[2] = BrokerHandler.fundFor.selector;
        selectors[3] = BrokerHandler.unlock.selector;
        selectors[4] = BrokerHandler.cancelUnlock.selector;
        selectors[5] = BrokerHandler.withdraw.selector;
        selectors[6] = BrokerHandler.redeemNew.selector;
        selectors[7] = BrokerHandler.redeemNew.selector;
        selectors[8] = BrokerHandler.redeemStored.selector;
        selectors[9] = BrokerHandler.bondMore.selector;
        selectors[10] = BrokerHandler.bondMore.selector; // resigns are rarer
        selectors[11] = BrokerHandler.reward.selector;
        selectors[12] = BrokerHandler.withdrawFees.selector;
        selectors[13] = BrokerHandler.advance.selector;
        selectors[14] = BrokerHandler.resign.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector(address(handler), selectors));
    }

    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_C1_to_C5() public view {
        vm.assertEq(handler.violations(), 0, handler.firstViolation());
        uint256 held;
        for (uint256 i = 0; i < senderList.length; i++) {
            address s = senderList[i];
            uint256 funds = depositOf(s) + reserveOf(s);
            // C5: an account only shrinks by paid tickets and withdrawals.
            vm.assertEq(funds + handler.paidOut(s) + handler.withdrawnBy(s), handler.funded(s), "C5: sender ledger");
            held += funds;
            checkReserveClaims(s);
        }
        // C4: the Minter holds every deposit, every reserve and every fee not yet withdrawn.
        uint256 owedFees = handler.feesPaid() - handler.feesWithdrawn();
        vm.assertEq(address(minter).balance, held + owedFees, "C4: ETH conservation in the Minter");
        uint256 owed;
        for (uint256 i = 0; i < orchList.length; i++) {
            address o = orchList[i];
            owed += pendingFees(o);
            // Fees an orchestrator earned after its claim in the round it then unbonded
            // everything wait in its transcoder record until it self-bonds again (as in
            // Livepeer's BondingManager): pendingFees no longer shows them, but they are owed.
            if (delegateOf(o) != o) owed += cumulativeFeesOf(o);
        }
        vm.assertEq(owed, owedFees, "C4: fees owed = fees paid - withdrawn");
        vm.assertEq(address(broker).balance, 0, "the broker holds no ETH");
        // reward() divides by an active orchestrator's stake for the round: never 0, also
        // after a resignation and a bond in the same round (ZeroDivisors.t.sol).
        uint256 round = roundsManager.currentRound();
        for (uint256 i = 0; i < orchList.length; i++) {
            address o = orchList[i];
            if (!bondingManager.isActiveTranscoder(o)) continue;
            uint256 last = lastActiveStakeUpdateRoundOf(o);
            vm.assertGt(poolStake(o, last < round ? last : round), 0, "an active orchestrator has stake for the round");
        }
    }

    /// C3: the round's claims on a reserve add up to its total. Each claim's own bounds (an
    /// orchestrator active at that moment, within its slice of the reserve as it stood before
    /// the round's claims) are checked when it is made: both can move later in the round, the
    /// pool size it divides by (Livepeer known issue #656) and, for an orchestrator that
    /// resigns and self-bonds again within the round, its active status.
    function checkReserveClaims(address s) internal view {
        uint256 sum;
        for (uint256 j = 0; j < orchList.length; j++) {
            sum += broker.claimedReserve(s, orchList[j]);
        }
        vm.assertEq(sum, broker.getReserveInfo(s).claimedInCurrentRound, "C3: the round's claims add up");
    }
}
