// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {Minter} from "../src/token/Minter.sol";
import {Controller} from "../src/Controller.sol";
import {IMinter} from "../src/interfaces/IMinter.sol";
import {IManager} from "../src/interfaces/IManager.sol";

contract FakeL2LPTDataCache {
    uint256 public l1CirculatingSupply;

    constructor(uint256 supply) {
        l1CirculatingSupply = supply;
    }
}

contract MinterTest is ProtocolFixture {
    address internal stranger;
    address internal bm;
    address internal rm;

    function setUp() public {
        deployProtocol();
        stranger = makeAddr("stranger");
        bm = address(bondingManager);
        rm = address(roundsManager);
    }

    function test_Constructor_ValidatesRates() public {
        vm.expectRevert(bytes("_inflation is invalid percentage"));
        new Minter(address(controller), 1e9 + 1, 0, 0);
        vm.expectRevert(bytes("_inflationChange is invalid percentage"));
        new Minter(address(controller), 0, 1e9 + 1, 0);
        vm.expectRevert(bytes("_targetBondingRate is invalid percentage"));
        new Minter(address(controller), 0, 0, 1e9 + 1);
        Minter m = new Minter(address(controller), 1e9, 1e9, 1e9);
        vm.assertEq(m.inflation(), 1e9, "inflation");
        vm.assertEq(m.inflationChange(), 1e9, "change");
        vm.assertEq(m.targetBondingRate(), 1e9, "target");
        vm.assertEq(address(m.getController()), address(controller), "controller");
    }

    function test_Setters() public {
        vm.expectEmit(address(minter));
        emit IManager.ParameterUpdate("targetBondingRate");
        minter.setTargetBondingRate(400_000_000);
        vm.assertEq(minter.targetBondingRate(), 400_000_000, "target");
        vm.expectEmit(address(minter));
        emit IManager.ParameterUpdate("inflationChange");
        minter.setInflationChange(700);
        vm.assertEq(minter.inflationChange(), 700, "change");
        vm.expectRevert(bytes("_targetBondingRate is invalid percentage"));
        minter.setTargetBondingRate(1e9 + 1);
        vm.expectRevert(bytes("_inflationChange is invalid percentage"));
        minter.setInflationChange(1e9 + 1);
        vm.startPrank(stranger);
        vm.expectRevert(bytes("caller must be Controller owner"));
        minter.setTargetBondingRate(1);
        vm.expectRevert(bytes("caller must be Controller owner"));
        minter.setInflationChange(1);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ inflation

    function test_SetCurrentRewardTokens_RaisesInflationBelowTarget() public {
        token.mint(stranger, 1000 ether); // nothing bonded: bonding rate 0
        uint256 before = minter.inflation();
        vm.expectEmit(address(minter));
        emit IMinter.SetCurrentRewardTokens(1000 ether * (before + INFLATION_CHANGE) / 1e9, before + INFLATION_CHANGE);
        vm.prank(rm);
        minter.setCurrentRewardTokens();
        vm.assertEq(minter.inflation(), before + INFLATION_CHANGE, "up one step");
        vm.assertEq(minter.currentMintedTokens(), 0, "minted reset");
    }

    function test_SetCurrentRewardTokens_LowersAndFloorsAtZero() public {
        address t = makeAddr("t");
        fund(t, 100 ether);
        bondAs(t, 100 ether, t);
        nextRound(); // 100% bonded
        minter.setInflationChange(1e9);
        vm.prank(rm);
        minter.setCurrentRewardTokens();
        vm.assertEq(minter.inflation(), 0, "floored at 0");
        vm.assertEq(minter.currentMintableTokens(), 0, "nothing mintable");
    }

    function test_SetCurrentRewardTokens_UnchangedAtTarget() public {
        address t = makeAddr("t");
        fund(t, 100 ether);
        bondAs(t, 100 ether, t);
        token.mint(stranger, 100 ether); // bonding rate exactly 50%
        nextRound();
        uint256 before = minter.inflation();
        vm.prank(rm);
        minter.setCurrentRewardTokens();
        vm.assertEq(minter.inflation(), before, "unchanged");
    }

    function test_GlobalSupplyIncludesL1SupplyWhenCacheRegistered() public {
        token.mint(stranger, 1000 ether);
        vm.assertEq(minter.getGlobalTotalSupply(), 1000 ether, "L2 only");
        register("L2LPTDataCache", address(new FakeL2LPTDataCache(500 ether)));
        vm.assertEq(minter.getGlobalTotalSupply(), 1500 ether, "plus L1");
        vm.prank(rm);
        minter.setCurrentRewardTokens();
        vm.assertEq(minter.currentMintableTokens(), 1500 ether * minter.inflation() / 1e9, "mintable from both");
    }

    function test_SetCurrentRewardTokens_Reverts() public {
        vm.prank(stranger);
        vm.expectRevert(bytes("msg.sender not RoundsManager"));
        minter.setCurrentRewardTokens();
        controller.pause();
        vm.prank(rm);
        vm.expectRevert(bytes("system is paused"));
        minter.setCurrentRewardTokens();
    }

    // ------------------------------------------------------------------ rewards

    function test_CreateReward_MintsShareWithTwoStepRounding() public {
        token.mint(stranger, 3000 ether);
        vm.prank(rm);
        minter.setCurrentRewardTokens();
        uint256 mintable = minter.currentMintableTokens();
        vm.prank(bm);
        uint256 amount = minter.createReward(1, 3);
        // 1/3 is quantised to 333333333e-9 before it multiplies.
        vm.assertEq(amount, mintable * 333_333_333 / 1e9, "two-step rounding");
        vm.assertEq(minter.currentMintedTokens(), amount, "minted");
        vm.assertEq(token.balanceOf(address(minter)), amount, "minted to the Minter");
        vm.prank(bm);
        vm.expectRevert(bytes("minted tokens cannot exceed mintable tokens"));
        minter.createReward(3, 3);
    }

    function test_CreateReward_Reverts() public {
        vm.prank(stranger);
        vm.expectRevert(bytes("msg.sender not BondingManager"));
        minter.createReward(1, 1);
        controller.pause();
        vm.prank(bm);
        vm.expectRevert(bytes("system is paused"));
        minter.createReward(1, 1);
    }

    // ------------------------------------------------------------------ custody

    function test_TrustedTransferAndBurn() public {
        token.mint(address(minter), 10 ether);
        vm.prank(bm);
        minter.trustedTransferTokens(stranger, 4 ether);
        vm.assertEq(token.balanceOf(stranger), 4 ether, "transferred");
        vm.prank(bm);
        minter.trustedBurnTokens(1 ether);
        vm.assertEq(token.balanceOf(address(minter)), 5 ether, "burned");
        vm.assertEq(token.totalSupply(), 9 ether, "supply");

        vm.startPrank(stranger);
        vm.expectRevert(bytes("msg.sender not BondingManager"));
        minter.trustedTransferTokens(stranger, 1);
        vm.expectRevert(bytes("msg.sender not BondingManager"));
        minter.trustedBurnTokens(1);
        vm.stopPrank();
        controller.pause();
        vm.startPrank(bm);
        vm.expectRevert(bytes("system is paused"));
        minter.trustedTransferTokens(stranger, 1);
        vm.expectRevert(bytes("system is paused"));
        minter.trustedBurnTokens(1);
        vm.stopPrank();
    }

    function test_DepositAndWithdrawETH() public {
        vm.deal(ticketBroker, 5 ether);
        vm.prank(ticketBroker);
        vm.assertTrue(minter.depositETH{value: 5 ether}(), "deposit returns true");
        vm.assertEq(address(minter).balance, 5 ether, "held");

        vm.deal(stranger, 1 ether);
        vm.prank(stranger);
        vm.expectRevert(bytes("msg.sender not Minter or JobsManager"));
        minter.depositETH{value: 1 ether}();

        vm.prank(ticketBroker);
        minter.trustedWithdrawETH(payable(stranger), 2 ether);
        vm.prank(bm);
        minter.trustedWithdrawETH(payable(stranger), 1 ether);
        vm.assertEq(stranger.balance, 4 ether, "withdrawn twice");
        vm.prank(stranger);
        vm.expectRevert(bytes("msg.sender not BondingManager or JobsManager"));
        minter.trustedWithdrawETH(payable(stranger), 1);
        controller.pause();
        vm.prank(bm);
        vm.expectRevert(bytes("system is paused"));
        minter.trustedWithdrawETH(payable(stranger), 1);
    }

    // ------------------------------------------------------------------ migration

    function test_Migrate_MovesLptAndEth() public {
        token.mint(address(minter), 7 ether);
        vm.deal(ticketBroker, 3 ether);
        vm.prank(ticketBroker);
        minter.depositETH{value: 3 ether}();
        Minter next = new Minter(address(controller), INFLATION, INFLATION_CHANGE, TARGET_BONDING_RATE);
        minter.migrateToNewMinter(next);
        vm.assertEq(token.balanceOf(address(next)), 7 ether, "LPT moved");
        vm.assertEq(address(next).balance, 3 ether, "ETH moved");
        vm.assertEq(token.balanceOf(address(minter)), 0, "old empty");
        vm.assertEq(address(minter).balance, 0, "old ETH empty");
    }

    function test_Migrate_Reverts() public {
        Minter next = new Minter(address(controller), INFLATION, INFLATION_CHANGE, TARGET_BONDING_RATE);
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be Controller owner"));
        minter.migrateToNewMinter(next);
        vm.expectRevert(bytes("new Minter cannot be current Minter"));
        minter.migrateToNewMinter(minter);
        vm.expectRevert(bytes("new Minter cannot be null address"));
        minter.migrateToNewMinter(IMinter(address(0)));
        Minter foreign = new Minter(address(new Controller()), INFLATION, INFLATION_CHANGE, TARGET_BONDING_RATE);
        vm.expectRevert(bytes("new Minter Controller must be current Controller"));
        minter.migrateToNewMinter(foreign);
        register("Minter", address(next));
        vm.expectRevert(bytes("new Minter must be registered"));
        minter.migrateToNewMinter(next);
    }
}
