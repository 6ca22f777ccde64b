// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {GovernedProtocolFixture} from "./lib/GovernedProtocolFixture.sol";
import {TicketBroker} from "../src/pm/TicketBroker.sol";
import {IManager} from "../src/interfaces/IManager.sol";
import {Vm} from "./lib/Vm.sol";

/// Unit tests of every TicketBroker function and revert, on the full governed deployment:
/// two active orchestrators (t1 keeps all fees: fee share 0), a sender with a known key.
contract TicketBrokerTest is GovernedProtocolFixture {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant RAND = 0x1234567890abcdef;

    address internal t1;
    address internal t2;
    address internal sender;
    uint256 internal senderKey;
    address internal stranger;

    function setUp() public {
        deployGovernedProtocol();
        t1 = makeAddr("t1");
        t2 = makeAddr("t2");
        registerTranscoder(t1, 1000 ether, 0, 0);
        registerTranscoder(t2, 500 ether, 0, 0);
        nextRound();
        sender = makeAddr("sender");
        senderKey = keyOf("sender");
        stranger = makeAddr("stranger");
        vm.deal(stranger, 100 ether);
    }

    // ------------------------------------------------------------------ helpers

    function ticketFor(address recipient, uint256 faceValue, uint256 nonce)
        internal
        view
        returns (TicketBroker.Ticket memory t, bytes memory sig)
    {
        t = winningTicket(recipient, sender, faceValue, nonce, RAND);
        sig = signTicket(senderKey, t);
    }

    function redeem(TicketBroker.Ticket memory t, bytes memory sig) internal {
        vm.prank(t.recipient);
        broker.redeemWinningTicket(t, sig, RAND);
    }

    function expectRedeemRevert(TicketBroker.Ticket memory t, bytes memory sig, string memory reason) internal {
        vm.expectRevert(bytes(reason));
        broker.redeemWinningTicket(t, sig, RAND);
    }

    // ------------------------------------------------------------------ funding

    function test_FundDeposit() public {
        vm.deal(sender, 3 ether);
        vm.expectEmit(address(broker));
        emit TicketBroker.DepositFunded(sender, 3 ether);
        vm.prank(sender);
        broker.fundDeposit{value: 3 ether}();
        vm.assertEq(depositOf(sender), 3 ether, "deposit");
        vm.assertEq(reserveOf(sender), 0, "no reserve");
        vm.assertEq(address(minter).balance, 3 ether, "ETH held by the Minter");
        vm.assertEq(address(broker).balance, 0, "none by the broker");
    }

    function test_FundDeposit_CancelsOwnUnlock() public {
        fundSender(sender, 1 ether, 0);
        vm.prank(sender);
        broker.unlock();
        vm.deal(sender, 1 ether);
        vm.expectEmit(address(broker));
        emit TicketBroker.UnlockCancelled(sender);
        vm.expectEmit(address(broker));
        emit TicketBroker.DepositFunded(sender, 1 ether);
        vm.prank(sender);
        broker.fundDeposit{value: 1 ether}();
        vm.assertFalse(broker.isUnlockInProgress(sender), "unlock cancelled");
    }

    function test_FundReserve_CancelsOwnUnlockAfterFunding() public {
        fundSender(sender, 1 ether, 0);
        vm.prank(sender);
        broker.unlock();
        vm.deal(sender, 2 ether);
        vm.expectEmit(address(broker));
        emit TicketBroker.ReserveFunded(sender, 2 ether);
        vm.expectEmit(address(broker));
        emit TicketBroker.UnlockCancelled(sender);
        vm.prank(sender);
        broker.fundReserve{value: 2 ether}();
        vm.assertEq(reserveOf(sender), 2 ether, "reserve");
        vm.assertEq(depositOf(sender), 1 ether, "deposit untouched");
        vm.assertFalse(broker.isUnlockInProgress(sender), "unlock cancelled");
        vm.assertEq(address(minter).balance, 3 ether, "ETH held by the Minter");
    }

    function test_FundDepositAndReserve_EventsInOrder() public {
        fundSender(sender, 1 ether, 0);
        vm.prank(sender);
        broker.unlock();
        vm.deal(sender, 5 ether);
        vm.recordLogs();
        vm.prank(sender);
        broker.fundDepositAndReserve{value: 5 ether}(2 ether, 3 ether);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(logs.length, 3, "three events");
        vm.assertEq(logs[0].topics[0], TicketBroker.UnlockCancelled.selector, "unlock cancelled first");
        vm.assertEq(logs[1].topics[0], TicketBroker.ReserveFunded.selector, "then the reserve");
        vm.assertEq(abi.decode(logs[1].data, (uint256)), 3 ether, "reserve amount");
        vm.assertEq(logs[2].topics[0], TicketBroker.DepositFunded.selector, "then the deposit");
        vm.assertEq(abi.decode(logs[2].data, (uint256)), 2 ether, "deposit amount");
        vm.assertEq(depositOf(sender), 3 ether, "deposit");
        vm.assertEq(reserveOf(sender), 3 ether, "reserve");
        vm.assertEq(address(minter).balance, 6 ether, "ETH held by the Minter");
    }

    function test_FundDepositAndReserve_RevertsOnValueMismatch() public {
        vm.deal(sender, 5 ether);
        vm.prank(sender);
        vm.expectRevert(bytes("msg.value does not equal sum of deposit amount and reserve amount"));
        broker.fundDepositAndReserve{value: 5 ether}(2 ether, 2 ether);
        vm.prank(sender);
        vm.expectRevert(bytes("msg.value does not equal sum of deposit amount and reserve amount"));
        broker.fundDepositAndReserveFor{value: 1 ether}(sender, 2 ether, 0);
    }

    function test_FundDepositAndReserveFor_ThirdPartyKeepsTheUnlock() public {
        fundSender(sender, 1 ether, 0);
        vm.prank(sender);
        broker.unlock();
        uint256 withdrawRound = withdrawRoundOf(sender);
        vm.recordLogs();
        vm.prank(stranger);
        broker.fundDepositAndReserveFor{value: 3 ether}(sender, 1 ether, 2 ether);
        vm.assertEq(vm.getRecordedLogs().length, 2, "no UnlockCancelled");
        vm.assertEq(withdrawRoundOf(sender), withdrawRound, "unlock kept");
        vm.assertEq(depositOf(sender), 2 ether, "deposit credited to the sender");
        vm.assertEq(reserveOf(sender), 2 ether, "reserve credited to the sender");
        vm.assertEq(depositOf(stranger), 0, "not to the payer");
    }

    function test_Funding_RevertsWhenPaused() public {
        vm.prank(treasury);
        controller.pause();
        vm.deal(sender, 3 ether);
        vm.startPrank(sender);
        vm.expectRevert(bytes("system is paused"));
        broker.fundDeposit{value: 1 ether}();
        vm.expectRevert(bytes("system is paused"));
        broker.fundReserve{value: 1 ether}();
        vm.expectRevert(bytes("system is paused"));
        broker.fundDepositAndReserve{value: 1 ether}(1 ether, 0);
        vm.expectRevert(bytes("system is paused"));
        broker.unlock();
        vm.expectRevert(bytes("system is paused"));
        broker.cancelUnlock();
        vm.expectRevert(bytes("system is paused"));
        broker.withdraw();
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ unlock, cancel, withdraw

    function test_Unlock() public {
        fundSender(sender, 1 ether, 1 ether);
        uint256 round = currentRound();
        vm.expectEmit(address(broker));
        emit TicketBroker.Unlock(sender, round, round + UNLOCK_PERIOD);
        vm.prank(sender);
        broker.unlock();
        vm.assertTrue(broker.isUnlockInProgress(sender), "in progress");
        vm.assertEq(withdrawRoundOf(sender), round + UNLOCK_PERIOD, "withdraw round");
    }

    function test_Unlock_Reverts() public {
        vm.prank(sender);
        vm.expectRevert(bytes("sender deposit and reserve are zero"));
        broker.unlock();
        fundSender(sender, 0, 1 ether); // a reserve alone is enough to unlock
        vm.prank(sender);
        broker.unlock();
        vm.prank(sender);
        vm.expectRevert(bytes("unlock already initiated"));
        broker.unlock();
    }

    function test_CancelUnlock() public {
        vm.prank(sender);
        vm.expectRevert(bytes("no unlock request in progress"));
        broker.cancelUnlock();
        fundSender(sender, 1 ether, 0);
        vm.prank(sender);
        broker.unlock();
        vm.expectEmit(address(broker));
        emit TicketBroker.UnlockCancelled(sender);
        vm.prank(sender);
        broker.cancelUnlock();
        vm.assertFalse(broker.isUnlockInProgress(sender), "cancelled");
        vm.assertEq(withdrawRoundOf(sender), 0, "withdraw round cleared");
    }

    function test_Withdraw() public {
        fundSender(sender, 2 ether, 3 ether);
        vm.prank(sender);
        broker.unlock();
        uint256 withdrawRound = withdrawRoundOf(sender);
        advanceRounds(UNLOCK_PERIOD);
        vm.assertEq(currentRound(), withdrawRound, "at the withdraw round");
        uint256 before = sender.balance;
        vm.expectEmit(address(broker));
        emit TicketBroker.Withdrawal(sender, 2 ether, 3 ether);
        vm.prank(sender);
        broker.withdraw();
        vm.assertEq(sender.balance, before + 5 ether, "all ETH back");
        vm.assertEq(address(minter).balance, 0, "out of the Minter");
        vm.assertEq(depositOf(sender), 0, "deposit cleared");
        vm.assertEq(reserveOf(sender), 0, "reserve cleared");
        vm.assertTrue(broker.isUnlockInProgress(sender), "the unlock stays recorded, as in Livepeer's broker");
        vm.prank(sender);
        vm.expectRevert(bytes("sender deposit and reserve are zero"));
        broker.withdraw();
    }

    function test_Withdraw_Reverts() public {
        vm.prank(sender);
        vm.expectRevert(bytes("sender deposit and reserve are zero"));
        broker.withdraw();
        fundSender(sender, 1 ether, 0);
        vm.prank(sender);
        vm.expectRevert(bytes("no unlock request in progress"));
        broker.withdraw();
        vm.prank(sender);
        broker.unlock();
        advanceRounds(UNLOCK_PERIOD - 1);
        vm.prank(sender);
        vm.expectRevert(bytes("account is locked"));
        broker.withdraw();
    }

    function test_SenderStaysRedeemableUntilItsWithdrawRound() public {
        fundSender(sender, 5 ether, 0);
        vm.prank(sender);
        broker.unlock();
        advanceRounds(UNLOCK_PERIOD - 1);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        redeem(t, sig);
        nextRound();
        (t, sig) = ticketFor(t1, 1 ether, 2);
        expectRedeemRevert(t, sig, "sender is unlocked");
    }

    // ------------------------------------------------------------------ redemption: payouts

    function test_Redeem_FromDeposit() public {
        fundSender(sender, 5 ether, 1 ether);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 2 ether, 7);
        uint256 feesBefore = pendingFees(t1);
        vm.expectEmit(address(broker));
        emit TicketBroker.WinningTicketTransfer(sender, t1, 2 ether);
        vm.expectEmit(address(broker));
        emit TicketBroker.WinningTicketRedeemed(sender, t1, 2 ether, type(uint256).max, 7, RAND, t.auxData);
        vm.prank(stranger); // anyone may submit
        broker.redeemWinningTicket(t, sig, RAND);
        vm.assertTrue(broker.usedTickets(broker.getTicketHash(t)), "ticket used");
        vm.assertEq(depositOf(sender), 3 ether, "paid from the deposit");
        vm.assertEq(reserveOf(sender), 1 ether, "reserve untouched");
        vm.assertEq(pendingFees(t1) - feesBefore, 2 ether, "booked as the recipient's fees");
        vm.assertEq(address(minter).balance, 6 ether, "no ETH moved");
    }

    function test_Redeem_DepositThenReserveSlice() public {
        fundSender(sender, 1 ether, 10 ether);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 3 ether, 1);
        vm.assertEq(broker.claimableReserve(sender, t1), 5 ether, "half the reserve: two active orchestrators");
        vm.expectEmit(address(broker));
        emit TicketBroker.ReserveClaimed(sender, t1, 2 ether);
        vm.expectEmit(address(broker));
        emit TicketBroker.WinningTicketTransfer(sender, t1, 3 ether);
        redeem(t, sig);
        vm.assertEq(depositOf(sender), 0, "deposit used up first");
        vm.assertEq(reserveOf(sender), 8 ether, "the rest from the reserve");
        vm.assertEq(broker.claimedReserve(sender, t1), 2 ether, "claimed this round");
        vm.assertEq(broker.claimableReserve(sender, t1), 3 ether, "slice left");
        vm.assertEq(broker.claimableReserve(sender, t2), 5 ether, "t2's slice intact");
        (, TicketBroker.ReserveInfo memory info) = broker.getSenderInfo(sender);
        vm.assertEq(info.claimedInCurrentRound, 2 ether, "claimed in the round");
        vm.assertEq(pendingFees(t1), 3 ether, "full face value");
    }

    function test_Redeem_ReserveOnly() public {
        fundSender(sender, 0, 4 ether);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t2, 2 ether, 1);
        redeem(t, sig);
        vm.assertEq(reserveOf(sender), 2 ether, "from the reserve");
        vm.assertEq(broker.claimableReserve(sender, t2), 0, "slice used up");
        vm.assertEq(pendingFees(t2), 2 ether, "paid in full");
    }

    /// The one deliberate difference from the deployed broker: an underfunded sender makes the
    /// redemption revert and the ticket stays unused, to be paid in full after a top-up.
    function test_Redeem_AllOrNothing() public {
        fundSender(sender, 1 ether, 2 ether); // t1's slice: 1 ether
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 3 ether, 1);
        vm.prank(t1);
        vm.expectRevert(bytes("sender deposit and reserve insufficient to cover ticket face value"));
        broker.redeemWinningTicket(t, sig, RAND);
        vm.assertFalse(broker.usedTickets(broker.getTicketHash(t)), "ticket not consumed");
        vm.assertEq(depositOf(sender), 1 ether, "deposit untouched");
        vm.assertEq(reserveOf(sender), 2 ether, "reserve untouched");
        vm.assertEq(pendingFees(t1), 0, "nothing paid");

        fundSender(sender, 1 ether, 0);
        redeem(t, sig);
        vm.assertEq(pendingFees(t1), 3 ether, "paid in full after the top-up");
        vm.assertEq(depositOf(sender), 0, "deposit used");
        vm.assertEq(reserveOf(sender), 1 ether, "t1's slice used");
    }

    function test_Redeem_ReserveSliceOnlyForActiveOrchestrators() public {
        address t3 = makeAddr("t3");
        registerTranscoder(t3, 100 ether, 0, 0); // joins the pool for the next round only
        fundSender(sender, 1 ether, 30 ether);
        vm.assertFalse(bondingManager.isActiveTranscoder(t3), "not active this round");
        vm.assertEq(broker.claimableReserve(sender, t3), 0, "no slice for a non-active orchestrator");
        vm.assertEq(broker.claimableReserve(sender, stranger), 0, "nor for anyone else");
        // The deposit covers only half of the face value and t3 has no slice: all or nothing.
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t3, 2 ether, 1);
        expectRedeemRevert(t, sig, "sender deposit and reserve insufficient to cover ticket face value");
        nextRound();
        vm.assertTrue(bondingManager.isActiveTranscoder(t3), "active now");
        vm.assertEq(broker.claimableReserve(sender, t3), 10 ether, "a third of the reserve");
        (t, sig) = ticketFor(t3, 2 ether, 2);
        redeem(t, sig);
        vm.assertEq(pendingFees(t3), 2 ether, "paid");
    }

    function test_Reserve_SliceResetsEachRound() public {
        fundSender(sender, 0, 8 ether);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 4 ether, 1);
        redeem(t, sig);
        vm.assertEq(broker.claimableReserve(sender, t1), 0, "slice used this round");
        (t, sig) = ticketFor(t1, 1, 2);
        expectRedeemRevert(t, sig, "sender deposit and reserve insufficient to cover ticket face value");
        nextRound();
        vm.assertEq(broker.claimedReserve(sender, t1), 0, "new round, nothing claimed");
        vm.assertEq(broker.claimableReserve(sender, t1), 2 ether, "half of what is left");
        (, TicketBroker.ReserveInfo memory info) = broker.getSenderInfo(sender);
        vm.assertEq(info.claimedInCurrentRound, 0, "round total reset");
        vm.assertEq(info.fundsRemaining, 4 ether, "funds left");
    }

    function test_Redeem_ZeroFaceValueConsumesTheTicketAndPaysNothing() public {
        fundSender(sender, 1 ether, 0);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 0, 1);
        vm.recordLogs();
        redeem(t, sig);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(logs.length, 1, "only WinningTicketRedeemed");
        vm.assertEq(logs[0].topics[0], TicketBroker.WinningTicketRedeemed.selector, "redeemed event");
        vm.assertTrue(broker.usedTickets(broker.getTicketHash(t)), "used");
        vm.assertEq(depositOf(sender), 1 ether, "nothing taken");
    }

    function test_Redeem_UnregisteredRecipientReverts() public {
        fundSender(sender, 5 ether, 0);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(stranger, 1 ether, 1);
        expectRedeemRevert(t, sig, "transcoder must be registered");
        vm.assertFalse(broker.usedTickets(broker.getTicketHash(t)), "not consumed");
    }

    // ------------------------------------------------------------------ redemption: checks in order

    function test_Redeem_Modifiers() public {
        fundSender(sender, 5 ether, 0);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        rollToNextRound();
        expectRedeemRevert(t, sig, "current round is not initialized");
        roundsManager.initializeRound();
        vm.prank(treasury);
        controller.pause();
        expectRedeemRevert(t, sig, "system is paused");
    }

    function test_Check1_RecipientNull() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(address(0), 1 ether, 1);
        t.sender = address(0); // also fails check 2: the first check reports
        expectRedeemRevert(t, sig, "ticket recipient is null address");
    }

    function test_Check2_SenderNull() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        t.sender = address(0);
        t.auxData = hex"00"; // also fails check 3
        expectRedeemRevert(t, sig, "ticket sender is null address");
    }

    function test_Check3_AuxDataLength() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        t.auxData = abi.encodePacked(t.auxData, uint8(0));
        expectRedeemRevert(t, sig, "invalid length for ticket auxData: must be 64 bytes");
        t.auxData = new bytes(63);
        expectRedeemRevert(t, sig, "invalid length for ticket auxData: must be 64 bytes");
    }

    function test_Check4_CreationRoundWithoutBlockHash() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        t.auxData = abi.encode(FIRST_ROUND - 5, bytes32(0));
        expectRedeemRevert(t, sig, "ticket creationRound does not have a block hash");
        t.auxData = abi.encode(currentRound() + 1, bytes32(0));
        expectRedeemRevert(t, sig, "ticket creationRound does not have a block hash");
    }

    function test_Check5_CreationRoundBlockHash() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        t.auxData = abi.encode(currentRound(), bytes32(uint256(1)));
        expectRedeemRevert(t, sig, "ticket creationRoundBlockHash invalid for creationRound");
    }

    function test_Check6_Expired() public {
        fundSender(sender, 5 ether, 0);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        (TicketBroker.Ticket memory t2_, bytes memory sig2) = ticketFor(t1, 1 ether, 2);
        advanceRounds(TICKET_VALIDITY_PERIOD - 1);
        redeem(t2_, sig2); // still valid in the last round of its validity
        nextRound();
        expectRedeemRevert(t, sig, "ticket is expired");
        vm.expectRevert(bytes("ticket is expired")); // before the rand check
        broker.redeemWinningTicket(t, sig, RAND + 1);
    }

    function test_Check7_RecipientRand() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        vm.expectRevert(bytes("recipientRand does not match recipientRandHash"));
        broker.redeemWinningTicket(t, sig, RAND + 1);
    }

    function test_Check8_Used() public {
        fundSender(sender, 5 ether, 0);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        redeem(t, sig);
        expectRedeemRevert(t, sig, "ticket is used");
        // A malleable twin of the signature names the same ticket: still used.
        expectRedeemRevert(t, highS(sig), "ticket is used");
        vm.assertEq(pendingFees(t1), 1 ether, "paid once");
    }

    function test_Check9_SignatureLength() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        expectRedeemRevert(t, slice(sig, 64), "INVALID_SIGNATURE_LENGTH");
        expectRedeemRevert(t, abi.encodePacked(sig, uint8(0)), "INVALID_SIGNATURE_LENGTH");
    }

    function test_Check9_HighS() public {
        fundSender(sender, 5 ether, 0);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        expectRedeemRevert(t, highS(sig), "ECDSA: invalid signature 's' value");
    }

    function test_Check9_VMustBe27Or28() public {
        fundSender(sender, 5 ether, 0);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        bytes memory raw = slice(sig, 65);
        raw[64] = bytes1(uint8(sig[64]) - 27); // 0/1 form, as some signers produce
        expectRedeemRevert(t, raw, "ECDSA: invalid signature");
    }

    function test_Check9_WrongSigner() public {
        fundSender(sender, 5 ether, 0);
        TicketBroker.Ticket memory t = winningTicket(t1, sender, 1 ether, 1, RAND);
        bytes memory sig = signTicket(keyOf("someone else"), t);
        expectRedeemRevert(t, sig, "invalid signature over ticket hash");
        t.faceValue = 2 ether; // a tampered field changes the hash the sender signed
        expectRedeemRevert(
            t, signTicket(senderKey, winningTicket(t1, sender, 1 ether, 1, RAND)), "invalid signature over ticket hash"
        );
    }

    function test_Check10_DidNotWin() public {
        fundSender(sender, 5 ether, 0);
        TicketBroker.Ticket memory t = winningTicket(t1, sender, 1 ether, 1, RAND);
        t.winProb = 0;
        expectRedeemRevert(t, signTicket(senderKey, t), "ticket did not win");
    }

    /// The win test is keccak256(sig ‖ recipientRand) < winProb: at winProb = 2^255 about
    /// half the tickets win, and each outcome matches the draw computed here.
    function test_Check10_WinTest() public {
        fundSender(sender, 50 ether, 0);
        uint256 wins;
        for (uint256 nonce = 1; nonce <= 16; nonce++) {
            TicketBroker.Ticket memory t = winningTicket(t1, sender, 1 ether, nonce, RAND);
            t.winProb = 1 << 255;
            bytes memory sig = signTicket(senderKey, t);
            bool wins_ = uint256(keccak256(abi.encodePacked(sig, RAND))) < t.winProb;
            if (wins_) {
                redeem(t, sig);
                wins++;
            } else {
                expectRedeemRevert(t, sig, "ticket did not win");
            }
            vm.assertEq(broker.usedTickets(broker.getTicketHash(t)), wins_, "redeemed iff it wins");
        }
        vm.assertGt(wins, 0, "some win");
        vm.assertLt(wins, 16, "some lose");
        vm.assertEq(pendingFees(t1), wins * 1 ether, "each win paid");
    }

    function test_Check11_SenderUnlocked() public {
        fundSender(sender, 5 ether, 0);
        vm.prank(sender);
        broker.unlock();
        advanceRounds(UNLOCK_PERIOD);
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        expectRedeemRevert(t, sig, "sender is unlocked");
    }

    function test_Check12_NoFunds() public {
        (TicketBroker.Ticket memory t, bytes memory sig) = ticketFor(t1, 1 ether, 1);
        expectRedeemRevert(t, sig, "sender deposit and reserve are zero");
    }

    // ------------------------------------------------------------------ batch

    function test_BatchRedeem_SkipsFailures() public {
        fundSender(sender, 3 ether, 0);
        TicketBroker.Ticket[] memory ts = new TicketBroker.Ticket[](3);
        bytes[] memory sigs = new bytes[](3);
        uint256[] memory rands = new uint256[](3);
        (ts[0], sigs[0]) = ticketFor(t1, 1 ether, 1);
        (ts[1], sigs[1]) = ticketFor(t1, 1 ether, 2);
        sigs[1] = signTicket(keyOf("forger"), ts[1]); // bad signature
        (ts[2], sigs[2]) = ticketFor(t2, 1 ether, 3);
        for (uint256 i = 0; i < 3; i++) {
            rands[i] = RAND;
        }
        broker.batchRedeemWinningTickets(ts, sigs, rands);
        vm.assertTrue(broker.usedTickets(broker.getTicketHash(ts[0])), "first redeemed");
        vm.assertFalse(broker.usedTickets(broker.getTicketHash(ts[1])), "bad one skipped");
        vm.assertTrue(broker.usedTickets(broker.getTicketHash(ts[2])), "third redeemed");
        vm.assertEq(depositOf(sender), 1 ether, "two paid");
        vm.assertEq(pendingFees(t1), 1 ether, "t1 paid once");
        vm.assertEq(pendingFees(t2), 1 ether, "t2 paid once");

        rollToNextRound();
        vm.expectRevert(bytes("current round is not initialized"));
        broker.batchRedeemWinningTickets(ts, sigs, rands);
        roundsManager.initializeRound();
        vm.prank(treasury);
        controller.pause();
        vm.expectRevert(bytes("system is paused"));
        broker.batchRedeemWinningTickets(ts, sigs, rands);
    }

    // ------------------------------------------------------------------ views and parameters

    /// The hash is keccak256 over exactly 232 packed bytes, field by field.
    function test_GetTicketHash_Preimage() public view {
        TicketBroker.Ticket memory t = TicketBroker.Ticket({
            recipient: address(0x1111111111111111111111111111111111111111),
            sender: address(0x2222222222222222222222222222222222222222),
            faceValue: 3,
            winProb: 4,
            senderNonce: 5,
            recipientRandHash: bytes32(uint256(6)),
            auxData: abi.encode(uint256(7), bytes32(uint256(8)))
        });
        bytes memory preimage = bytes.concat(
            bytes20(t.recipient),
            bytes20(t.sender),
            bytes32(uint256(3)),
            bytes32(uint256(4)),
            bytes32(uint256(5)),
            bytes32(uint256(6)),
            bytes32(uint256(7)),
            bytes32(uint256(8))
        );
        vm.assertEq(preimage.length, 232, "232-byte preimage");
        vm.assertEq(broker.getTicketHash(t), keccak256(preimage), "hash of the packed preimage");
    }

    function test_Setters() public {
        vm.expectRevert(bytes("caller must be Controller owner"));
        broker.setUnlockPeriod(5);
        vm.expectRevert(bytes("caller must be Controller owner"));
        broker.setTicketValidityPeriod(5);
        vm.startPrank(treasury);
        vm.expectEmit(address(broker));
        emit IManager.ParameterUpdate("unlockPeriod");
        broker.setUnlockPeriod(5);
        vm.expectEmit(address(broker));
        emit IManager.ParameterUpdate("ticketValidityPeriod");
        broker.setTicketValidityPeriod(6);
        vm.expectRevert(bytes("ticketValidityPeriod must be greater than 0"));
        broker.setTicketValidityPeriod(0);
        vm.stopPrank();
        vm.assertEq(broker.unlockPeriod(), 5, "unlock period");
        vm.assertEq(broker.ticketValidityPeriod(), 6, "validity period");
    }

    function test_Views() public {
        fundSender(sender, 1 ether, 2 ether);
        (TicketBroker.Sender memory s, TicketBroker.ReserveInfo memory r) = broker.getSenderInfo(sender);
        vm.assertEq(s.deposit, 1 ether, "deposit");
        vm.assertEq(s.withdrawRound, 0, "no unlock");
        vm.assertEq(r.fundsRemaining, 2 ether, "reserve");
        vm.assertEq(r.claimedInCurrentRound, 0, "nothing claimed");
        TicketBroker.ReserveInfo memory r2 = broker.getReserveInfo(sender);
        vm.assertEq(r2.fundsRemaining, 2 ether, "getReserveInfo agrees");
        vm.assertFalse(broker.isUnlockInProgress(sender), "not unlocking");
        vm.assertEq(broker.claimedReserve(sender, t1), 0, "nothing claimed by t1");
    }

    // ------------------------------------------------------------------ signature helpers

    /// The malleable twin (r, n - s, v ^ 1) of a low-s signature.
    function highS(bytes memory sig) internal pure returns (bytes memory) {
        (bytes32 r, bytes32 s, uint8 v) = split(sig);
        return abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
    }

    function split(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
            v := byte(0, mload(add(sig, 96)))
        }
    }

    function slice(bytes memory b, uint256 n) internal pure returns (bytes memory out) {
        out = new bytes(n);
        for (uint256 i = 0; i < n; i++) {
            out[i] = b[i];
        }
    }
}
