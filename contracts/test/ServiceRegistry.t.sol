// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "./lib/ProtocolFixture.sol";
import {ServiceRegistry} from "../src/ServiceRegistry.sol";

contract ServiceRegistryTest is ProtocolFixture {
    function setUp() public {
        deployProtocol();
    }

    function test_SetAndGetServiceURI() public {
        address o = makeAddr("o");
        vm.expectEmit(address(serviceRegistry));
        emit ServiceRegistry.ServiceURIUpdate(o, "https://127.0.0.1:8935");
        vm.prank(o);
        serviceRegistry.setServiceURI("https://127.0.0.1:8935");
        vm.assertEq(serviceRegistry.getServiceURI(o), "https://127.0.0.1:8935", "stored");
        vm.assertEq(serviceRegistry.getServiceURI(address(this)), "", "unset is empty");
        vm.prank(o);
        serviceRegistry.setServiceURI("https://10.0.0.1:8935");
        vm.assertEq(serviceRegistry.getServiceURI(o), "https://10.0.0.1:8935", "overwritten");
    }

    function test_WorksWhilePaused() public {
        controller.pause();
        serviceRegistry.setServiceURI("https://x");
        vm.assertEq(serviceRegistry.getServiceURI(address(this)), "https://x", "no pause check");
    }
}
