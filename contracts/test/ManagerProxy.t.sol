// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {ManagerProxy} from "../src/ManagerProxy.sol";
import {ManagerProxyTarget} from "../src/ManagerProxyTarget.sol";
import {Manager} from "../src/Manager.sol";
import {ServiceRegistry} from "../src/ServiceRegistry.sol";

/// A second version of ServiceRegistry, to upgrade to: same storage, one more function.
contract ServiceRegistryV2 is ServiceRegistry {
    constructor(address c) ServiceRegistry(c) {}

    function version() external pure returns (uint256) {
        return 2;
    }
}

contract PayableTarget is ManagerProxyTarget {
    uint256 public received;

    constructor(address c) Manager(c) {}

    receive() external payable {
        received += msg.value;
    }

    function fail() external pure {
        revert("target says no");
    }
}

contract ManagerProxyTest is ProtocolFixture {
    function setUp() public {
        deployProtocol();
    }

    function test_Proxy_DelegatesToRegisteredTarget() public view {
        vm.assertEq(address(bondingManager.controller()), address(controller), "proxy's controller");
        vm.assertEq(bondingManager.targetContractId(), keccak256("BondingManagerTarget"), "target id");
        vm.assertEq(bondingManager.unbondingPeriod(), UNBONDING_PERIOD, "state lives in the proxy");
        vm.assertEq(bondingManagerTarget.unbondingPeriod(), 0, "not in the target");
    }

    function test_Proxy_RevertsWithoutTarget() public {
        ServiceRegistry unregistered =
            ServiceRegistry(address(new ManagerProxy(address(controller), keccak256("NothingTarget"))));
        vm.expectRevert(bytes("target contract must be registered"));
        unregistered.getServiceURI(address(this));
    }

    function test_Proxy_UpgradeByRegisteringNewTargetKeepsState() public {
        serviceRegistry.setServiceURI("https://before");
        ServiceRegistryV2 v2 = new ServiceRegistryV2(address(controller));
        register("ServiceRegistryTarget", address(v2));
        vm.assertEq(ServiceRegistryV2(address(serviceRegistry)).version(), 2, "new code");
        vm.assertEq(serviceRegistry.getServiceURI(address(this)), "https://before", "old state");
    }

    function test_Proxy_ForwardsEthAndReverts() public {
        PayableTarget target = new PayableTarget(address(controller));
        register("PayableTarget", address(target));
        address proxy = address(new ManagerProxy(address(controller), keccak256("PayableTarget")));
        (bool ok,) = proxy.call{value: 1 ether}("");
        vm.assertTrue(ok, "plain transfer accepted");
        vm.assertEq(PayableTarget(payable(proxy)).received(), 1 ether, "counted in the proxy's storage");
        vm.assertEq(proxy.balance, 1 ether, "ETH in the proxy");
        vm.expectRevert(bytes("target says no"));
        PayableTarget(payable(proxy)).fail();
    }

    function test_Proxy_SetControllerOnlyViaController() public {
        vm.expectRevert(bytes("caller must be Controller"));
        bondingManager.setController(address(1));
        controller.updateController(keccak256("BondingManager"), address(0xBEEF));
        vm.assertEq(address(bondingManager.controller()), address(0xBEEF), "moved");
    }

    /// The layouts documented in the contracts, checked slot by slot.
    function test_StorageLayout_AsDocumented() public {
        address bm = address(bondingManager);
        vm.assertEq(
            vm.load(bm, bytes32(uint256(0))), bytes32(uint256(uint160(address(controller)))), "slot 0 controller"
        );
        vm.assertEq(vm.load(bm, bytes32(uint256(1))), keccak256("BondingManagerTarget"), "slot 1 target id");
        vm.assertEq(uint256(vm.load(bm, bytes32(uint256(2)))), UNBONDING_PERIOD, "slot 2 unbondingPeriod");
        address t = makeAddr("t");
        fund(t, 5 ether);
        bondAs(t, 5 ether, t);
        bondingManager.setTreasuryRewardCutRate(123);
        bondingManager.setTreasuryBalanceCeiling(456);
        vm.assertEq(uint256(vm.load(bm, bytes32(uint256(6)))), 5 ether, "slot 6 nextRoundTotalActiveStake");
        vm.assertEq(
            vm.load(bm, bytes32(uint256(7))), bytes32(uint256(uint160(t)) | (uint256(1) << 160)), "slot 7 head+size"
        );
        vm.assertEq(
            vm.load(bm, bytes32(uint256(8))), bytes32(uint256(uint160(t)) | (NUM_ACTIVE << 160)), "slot 8 tail+maxSize"
        );
        vm.assertEq(uint256(vm.load(bm, bytes32(uint256(11)))), 123, "slot 11 nextRoundTreasuryRewardCutRate");
        vm.assertEq(uint256(vm.load(bm, bytes32(uint256(12)))), 456, "slot 12 treasuryBalanceCeiling");
        // delegators[t].bondedAmount at keccak(t, 3)
        vm.assertEq(uint256(vm.load(bm, keccak256(abi.encode(t, uint256(3))))), 5 ether, "slot 3 delegators");

        address rm = address(roundsManager);
        uint256 packed = uint256(vm.load(rm, bytes32(uint256(2))));
        vm.assertEq(packed & type(uint64).max, ROUND_LENGTH, "slot 2 roundLength");
        vm.assertEq(packed >> 192, currentRound(), "slot 2 lastInitializedRound");
        vm.assertEq(uint256(vm.load(rm, bytes32(uint256(3)))), ROUND_LOCK_AMOUNT, "slot 3 roundLockAmount");
    }
}
