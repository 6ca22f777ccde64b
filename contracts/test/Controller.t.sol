// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./lib/Vm.sol";
import {Controller} from "../src/Controller.sol";
import {Manager} from "../src/Manager.sol";

/// A Manager exposing each access modifier, to test them in isolation.
contract ManagerHarness is Manager {
    uint256 public calls;

    constructor(address c) Manager(c) {}

    function ownerOnly() external onlyControllerOwner {
        calls++;
    }

    function controllerOnly() external onlyController {
        calls++;
    }

    function notPaused() external whenSystemNotPaused {
        calls++;
    }

    function onlyPaused() external whenSystemPaused {
        calls++;
    }
}

contract ControllerTest is TestBase {
    event SetContractInfo(bytes32 id, address contractAddress, bytes20 gitCommitHash);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Pause();
    event Unpause();
    event SetController(address controller);

    Controller internal controller;
    address internal stranger;

    function setUp() public {
        controller = new Controller();
        stranger = makeAddr("stranger");
    }

    function test_DeployedPausedAndOwnedByDeployer() public view {
        vm.assertTrue(controller.paused(), "deployed paused");
        vm.assertEq(controller.owner(), address(this), "owner");
    }

    function test_SetContractInfo_RegistersAndEmits() public {
        bytes32 id = keccak256("BondingManager");
        address target = makeAddr("bm");
        bytes20 commit = bytes20(hex"0102030405060708090a0b0c0d0e0f1011121314");
        vm.expectEmit(false, false, false, true, address(controller));
        emit SetContractInfo(id, target, commit);
        controller.setContractInfo(id, target, commit);

        vm.assertEq(controller.getContract(id), target, "getContract");
        (address a, bytes20 h) = controller.getContractInfo(id);
        vm.assertEq(a, target, "info address");
        vm.assertEq(bytes32(h), bytes32(commit), "info hash");
        vm.assertEq(controller.getContract(keccak256("Minter")), address(0), "unknown id is zero");
    }

    function test_SetContractInfo_Overwrites() public {
        bytes32 id = keccak256("Minter");
        controller.setContractInfo(id, address(1), bytes20(0));
        controller.setContractInfo(id, address(2), bytes20(0));
        vm.assertEq(controller.getContract(id), address(2), "latest registration wins");
    }

    function test_SetContractInfo_RevertsForNonOwner() public {
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be owner"));
        controller.setContractInfo(keccak256("Minter"), address(1), bytes20(0));
    }

    function test_PauseUnpause() public {
        vm.expectEmit(address(controller));
        emit Unpause();
        controller.unpause();
        vm.assertFalse(controller.paused(), "unpaused");
        vm.expectEmit(address(controller));
        emit Pause();
        controller.pause();
        vm.assertTrue(controller.paused(), "paused again");
    }

    function test_Unpause_RevertsWhenNotPaused() public {
        controller.unpause();
        vm.expectRevert(bytes("not paused"));
        controller.unpause();
    }

    function test_Pause_RevertsWhenPaused() public {
        vm.expectRevert(bytes("already paused"));
        controller.pause();
    }

    function test_PauseUnpause_RevertForNonOwner() public {
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be owner"));
        controller.unpause();
        controller.unpause();
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be owner"));
        controller.pause();
    }

    function test_TransferOwnership() public {
        vm.expectEmit(true, true, false, false, address(controller));
        emit OwnershipTransferred(address(this), stranger);
        controller.transferOwnership(stranger);
        vm.assertEq(controller.owner(), stranger, "new owner");
        // the old owner lost its rights
        vm.expectRevert(bytes("caller must be owner"));
        controller.unpause();
        vm.prank(stranger);
        controller.unpause();
    }

    function test_TransferOwnership_Reverts() public {
        vm.expectRevert(bytes("new owner is the zero address"));
        controller.transferOwnership(address(0));
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be owner"));
        controller.transferOwnership(stranger);
    }

    function test_UpdateController_MovesManager() public {
        ManagerHarness m = new ManagerHarness(address(controller));
        bytes32 id = keccak256("Harness");
        controller.setContractInfo(id, address(m), bytes20(0));
        Controller next = new Controller();
        vm.expectEmit(address(m));
        emit SetController(address(next));
        controller.updateController(id, address(next));
        vm.assertEq(address(m.controller()), address(next), "manager follows");
    }

    function test_UpdateController_Reverts() public {
        vm.expectRevert(bytes("contract not registered"));
        controller.updateController(keccak256("Nobody"), address(1));
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be owner"));
        controller.updateController(keccak256("Nobody"), address(1));
    }

    function test_Manager_SetController_OnlyController() public {
        ManagerHarness m = new ManagerHarness(address(controller));
        vm.expectRevert(bytes("caller must be Controller"));
        m.setController(address(1));
    }

    function test_Manager_Modifiers() public {
        ManagerHarness m = new ManagerHarness(address(controller));

        m.ownerOnly();
        vm.prank(stranger);
        vm.expectRevert(bytes("caller must be Controller owner"));
        m.ownerOnly();

        vm.prank(address(controller));
        m.controllerOnly();
        vm.expectRevert(bytes("caller must be Controller"));
        m.controllerOnly();

        // deployed paused
        m.onlyPaused();
        vm.expectRevert(bytes("system is paused"));
        m.notPaused();
        controller.unpause();
        m.notPaused();
        vm.expectRevert(bytes("system is not paused"));
        m.onlyPaused();

        vm.assertEq(m.calls(), 4, "successful calls counted");
    }

    function testFuzz_OnlyOwnerRegisters(address caller, bytes32 id, address target) public {
        vm.assume(caller != address(this));
        vm.prank(caller);
        vm.expectRevert(bytes("caller must be owner"));
        controller.setContractInfo(id, target, bytes20(0));
        controller.setContractInfo(id, target, bytes20(0));
        vm.assertEq(controller.getContract(id), target, "registered");
    }
}
