// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {ManagerProxy} from "../src/ManagerProxy.sol";
import {RoundsManager} from "../src/rounds/RoundsManager.sol";
import {IRoundsManager} from "../src/interfaces/IRoundsManager.sol";
import {IManager} from "../src/interfaces/IManager.sol";

contract RoundsManagerTest is ProtocolFixture {
    address internal stranger;

    function setUp() public {
        deployProtocol();
        stranger = makeAddr("stranger");
    }

    function freshRoundsManager() internal returns (RoundsManager rm) {
        rm = RoundsManager(address(new ManagerProxy(address(controller), keccak256("RoundsManagerTarget"))));
    }

    function test_SetRoundLength_FirstSetAlignsToMultiples() public {
        vm.roll(1234);
        RoundsManager rm = freshRoundsManager();
        vm.expectEmit(address(rm));
        emit IManager.ParameterUpdate("roundLength");
        rm.setRoundLength(100);
        vm.assertEq(rm.roundLength(), 100, "length");
        vm.assertEq(rm.currentRound(), 12, "round = block / length");
        vm.assertEq(rm.currentRoundStartBlock(), 1200, "start block");
        vm.assertEq(rm.lastRoundLengthUpdateRound(), 12, "anchor round");
        vm.assertEq(rm.lastRoundLengthUpdateStartBlock(), 1200, "anchor block");
        vm.roll(1299);
        vm.assertEq(rm.currentRound(), 12, "last block of the round");
        vm.roll(1300);
        vm.assertEq(rm.currentRound(), 13, "next round");
    }

    function test_SetRoundLength_ChangeAnchoredAtCurrentRoundStart() public {
        uint256 round = currentRound();
        uint256 start = roundsManager.currentRoundStartBlock();
        vm.roll(start + 10);
        roundsManager.setRoundLength(20);
        vm.assertEq(currentRound(), round, "round number kept");
        vm.assertEq(roundsManager.currentRoundStartBlock(), start, "start block kept");
        vm.assertEq(roundsManager.lastRoundLengthUpdateRound(), round, "anchor round");
        vm.assertEq(roundsManager.lastRoundLengthUpdateStartBlock(), start, "anchor block");
        vm.roll(start + 19);
        vm.assertEq(currentRound(), round, "same round with the new length");
        vm.roll(start + 20);
        vm.assertEq(currentRound(), round + 1, "new length applies");
        vm.roll(start + 45);
        vm.assertEq(currentRound(), round + 2, "two rounds later");
        vm.assertEq(roundsManager.currentRoundStartBlock(), start + 40, "start of that round");
    }

    function test_SetRoundLength_Reverts() public {
        vm.expectRevert(bytes("round length cannot be 0"));
        roundsManager.setRoundLength(0);
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be Controller owner"));
        roundsManager.setRoundLength(10);
    }

    function test_CurrentRound_RevertsBeforeRoundLengthIsSet() public {
        RoundsManager rm = freshRoundsManager();
        vm.expectRevert(bytes("round length is not set"));
        rm.currentRound();
    }

    function test_SetRoundLockAmount() public {
        vm.expectEmit(address(roundsManager));
        emit IManager.ParameterUpdate("roundLockAmount");
        roundsManager.setRoundLockAmount(200_000);
        vm.assertEq(roundsManager.roundLockAmount(), 200_000, "lock amount");
        vm.expectRevert(bytes("round lock amount must be a valid percentage"));
        roundsManager.setRoundLockAmount(1_000_001);
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be Controller owner"));
        roundsManager.setRoundLockAmount(1);
    }

    function test_CurrentRoundLocked_LastShareOfTheRound() public {
        uint256 start = roundsManager.currentRoundStartBlock();
        // 10% of 50 blocks = 5 locked blocks: offsets 45..49.
        vm.roll(start + 44);
        vm.assertFalse(roundsManager.currentRoundLocked(), "offset 44 open");
        vm.roll(start + 45);
        vm.assertTrue(roundsManager.currentRoundLocked(), "offset 45 locked");
        vm.roll(start + 49);
        vm.assertTrue(roundsManager.currentRoundLocked(), "offset 49 locked");
        vm.roll(start + 50);
        vm.assertFalse(roundsManager.currentRoundLocked(), "next round open");
    }

    function test_SetLIPUpgradeRound() public {
        vm.expectEmit(address(roundsManager));
        emit IManager.ParameterUpdate("lipUpgradeRound");
        roundsManager.setLIPUpgradeRound(36, 42);
        vm.assertEq(roundsManager.lipUpgradeRound(36), 42, "set");
        vm.expectRevert(bytes("LIP upgrade round already set"));
        roundsManager.setLIPUpgradeRound(36, 43);
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be Controller owner"));
        roundsManager.setLIPUpgradeRound(71, 1);
    }

    function test_InitializeRound_StoresHashAndEmits() public {
        rollToNextRound();
        uint256 round = currentRound();
        vm.assertFalse(roundsManager.currentRoundInitialized(), "not yet");
        bytes32 expected = blockhash(block.number - 1);
        vm.expectEmit(address(roundsManager));
        emit IRoundsManager.NewRound(round, expected);
        vm.prank(stranger); // anyone may initialize
        roundsManager.initializeRound();
        vm.assertTrue(roundsManager.currentRoundInitialized(), "initialized");
        vm.assertEq(roundsManager.lastInitializedRound(), round, "last initialized");
        vm.assertEq(roundsManager.blockHashForRound(round), expected, "hash stored");
        vm.expectRevert(bytes("round already initialized"));
        roundsManager.initializeRound();
    }

    function test_InitializeRound_SkippedRoundsStaySkipped() public {
        uint256 round = currentRound();
        vm.roll(roundsManager.currentRoundStartBlock() + 3 * ROUND_LENGTH);
        roundsManager.initializeRound();
        vm.assertEq(currentRound(), round + 3, "jumped");
        vm.assertEq(roundsManager.blockHashForRound(round + 1), bytes32(0), "skipped round has no hash");
        vm.assertEq(roundsManager.blockHashForRound(round + 2), bytes32(0), "skipped round has no hash");
        vm.assertEq(minter.inflation(), INFLATION + 2 * INFLATION_CHANGE, "inflation moved once per initialization");
    }

    function test_InitializeRound_RollsStakeBeforeMinterReadsIt() public {
        // Everybody's LPT bonded: a 100% bonding rate, above the 50% target, so inflation
        // must fall. Had the Minter read the stake before the roll it would see 0 and rise.
        address t = makeAddr("t");
        fund(t, 100 ether);
        bondAs(t, 100 ether, t);
        uint256 inflationBefore = minter.inflation();
        nextRound();
        vm.assertEq(bondingManager.currentRoundTotalActiveStake(), 100 ether, "rolled");
        vm.assertEq(minter.inflation(), inflationBefore - INFLATION_CHANGE, "inflation fell");
        vm.assertEq(minter.currentMintableTokens(), 100 ether * minter.inflation() / 1e9, "mintable");
    }

    function test_InitializeRound_RevertsWhenPaused() public {
        rollToNextRound();
        controller.pause();
        vm.expectRevert(bytes("system is paused"));
        roundsManager.initializeRound();
    }

    function test_BlockHash() public {
        vm.roll(1000);
        vm.assertEq(roundsManager.blockHash(999), blockhash(999), "previous block");
        vm.assertEq(roundsManager.blockHash(744), blockhash(744), "256 blocks back");
        vm.assertEq(roundsManager.blockNum(), 1000, "block number");
        vm.expectRevert(bytes("can only retrieve past block hashes"));
        roundsManager.blockHash(1000);
        vm.expectRevert(bytes("can only retrieve hashes for last 256 blocks"));
        roundsManager.blockHash(743);
        vm.roll(100);
        vm.assertEq(roundsManager.blockHash(0), blockhash(0), "early chain: any past block");
    }
}
