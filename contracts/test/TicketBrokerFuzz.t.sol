// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "./lib/GovernedProtocolFixture.sol";
import {TicketBroker} from "../src/pm/TicketBroker.sol";

/// Fuzzed funding, redemption amounts and win probabilities against the exact rules:
/// a ticket pays its face value (deposit first, then the recipient's half of the reserve,
/// two orchestrators being active) or reverts leaving everything as it was.
contract TicketBrokerFuzzTest is GovernedProtocolFixture {
    address internal t1;
    address internal t2;
    address internal sender;
    uint256 internal senderKey;

    function setUp() public {
        deployGovernedProtocol();
        t1 = makeAddr("t1");
        t2 = makeAddr("t2");
        registerTranscoder(t1, 1000 ether, 0, 0);
        registerTranscoder(t2, 1000 ether, 0, 0);
        nextRound();
        sender = makeAddr("sender");
        senderKey = keyOf("sender");
    }

    function testFuzz_FundingAndWithdrawal(uint256 deposit, uint256 reserve, uint256 extra) public {
        deposit = bound(deposit, 0, 1e9 ether);
        reserve = bound(reserve, 0, 1e9 ether);
        extra = bound(extra, 0, 1e9 ether);
        fundSender(sender, deposit, reserve);
        address payer = makeAddr("payer");
        vm.deal(payer, extra);
        vm.prank(payer);
        broker.fundDepositAndReserveFor{value: extra}(sender, extra / 3, extra - extra / 3);
        vm.assertEq(depositOf(sender), deposit + extra / 3, "deposit");
        vm.assertEq(reserveOf(sender), reserve + extra - extra / 3, "reserve");
        vm.assertEq(address(minter).balance, deposit + reserve + extra, "all ETH in the Minter");
        if (deposit + reserve + extra == 0) return;
        vm.prank(sender);
        broker.unlock();
        advanceRounds(UNLOCK_PERIOD);
        uint256 before = sender.balance;
        vm.prank(sender);
        broker.withdraw();
        vm.assertEq(sender.balance - before, deposit + reserve + extra, "everything back");
        vm.assertEq(address(minter).balance, 0, "Minter empty");
    }

    function testFuzz_RedemptionPaysFaceValueOrReverts(uint256 deposit, uint256 reserve, uint256 faceValue) public {
        deposit = bound(deposit, 0, 100 ether);
        reserve = bound(reserve, 0, 100 ether);
        faceValue = bound(faceValue, 0, 250 ether);
        if (deposit + reserve > 0) fundSender(sender, deposit, reserve);
        TicketBroker.Ticket memory t = winningTicket(t1, sender, faceValue, 1, 9);
        bytes memory sig = signTicket(senderKey, t);
        uint256 slice = reserve / 2; // two active orchestrators
        if (deposit + reserve == 0) {
            vm.expectRevert(bytes("sender deposit and reserve are zero"));
        } else if (faceValue > deposit + slice) {
            vm.expectRevert(bytes("sender deposit and reserve insufficient to cover ticket face value"));
        }
        broker.redeemWinningTicket(t, sig, 9);

        bool paid = deposit + reserve > 0 && faceValue <= deposit + slice;
        vm.assertEq(broker.usedTickets(broker.getTicketHash(t)), paid, "used iff paid");
        if (paid) {
            vm.assertEq(pendingFees(t1), faceValue, "face value exactly");
            uint256 fromDeposit = faceValue < deposit ? faceValue : deposit;
            vm.assertEq(depositOf(sender), deposit - fromDeposit, "deposit first");
            vm.assertEq(reserveOf(sender), reserve - (faceValue - fromDeposit), "then the reserve");
            vm.assertEq(broker.claimedReserve(sender, t1), faceValue - fromDeposit, "claimed");
        } else {
            vm.assertEq(pendingFees(t1), 0, "nothing paid");
            vm.assertEq(depositOf(sender), deposit, "deposit untouched");
            vm.assertEq(reserveOf(sender), reserve, "reserve untouched");
        }
        vm.assertEq(address(minter).balance, deposit + reserve, "no ETH moves on redemption");
    }

    /// Many tickets to two orchestrators: each is paid in full or not at all, and together
    /// they never take more than the deposit plus each one's half of the reserve.
    function testFuzz_RedemptionSequence(uint256 deposit, uint256 reserve, uint256[8] memory faces) public {
        deposit = bound(deposit, 1, 20 ether);
        reserve = bound(reserve, 0, 20 ether);
        fundSender(sender, deposit, reserve);
        uint256 paid;
        uint256[2] memory fromReserve;
        for (uint256 i = 0; i < faces.length; i++) {
            address recipient = i % 2 == 0 ? t1 : t2;
            uint256 face = bound(faces[i], 0, 10 ether);
            TicketBroker.Ticket memory t = winningTicket(recipient, sender, face, i, 5);
            bytes memory sig = signTicket(senderKey, t);
            uint256 dep = depositOf(sender);
            uint256 claimable = broker.claimableReserve(sender, recipient);
            bool empty = dep + reserveOf(sender) == 0;
            bool covered = !empty && face <= dep + claimable;
            if (empty) {
                vm.expectRevert(bytes("sender deposit and reserve are zero"));
            } else if (!covered) {
                vm.expectRevert(bytes("sender deposit and reserve insufficient to cover ticket face value"));
            }
            broker.redeemWinningTicket(t, sig, 5);
            if (covered) {
                paid += face;
                if (face > dep) fromReserve[i % 2] += face - dep;
            }
        }
        vm.assertEq(pendingFees(t1) + pendingFees(t2), paid, "fees = face values paid");
        vm.assertEq(depositOf(sender) + reserveOf(sender) + paid, deposit + reserve, "conservation");
        vm.assertLe(fromReserve[0], reserve / 2, "t1 within its slice");
        vm.assertLe(fromReserve[1], reserve / 2, "t2 within its slice");
    }

    function testFuzz_WinTest(uint256 winProb, uint256 rand, uint256 nonce) public {
        fundSender(sender, 1 ether, 0);
        TicketBroker.Ticket memory t = winningTicket(t1, sender, 1, nonce, rand);
        t.winProb = winProb;
        bytes memory sig = signTicket(senderKey, t);
        bool wins = uint256(keccak256(abi.encodePacked(sig, rand))) < winProb;
        if (!wins) vm.expectRevert(bytes("ticket did not win"));
        broker.redeemWinningTicket(t, sig, rand);
        vm.assertEq(broker.usedTickets(broker.getTicketHash(t)), wins, "redeemed iff it wins");
    }
}
