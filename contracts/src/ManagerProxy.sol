// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Manager} from "./Manager.sol";
import {ManagerProxyTarget} from "./ManagerProxyTarget.sol";

/// @title ManagerProxy
/// @notice Holds a protocol contract's state and runs the code registered in the Controller
/// under `targetContractId` (keccak256("<Name>Target")). Governance upgrades the contract by
/// registering a new target; the proxy's address and storage stay.
/// @dev Storage: slot 0 controller, slot 1 targetContractId (see ManagerProxyTarget). The
/// proxy answers `controller()`, `setController()` and `targetContractId()` itself; every
/// other call, and plain ETH transfers, are delegated to the current target.
contract ManagerProxy is ManagerProxyTarget {
    constructor(address _controller, bytes32 _targetContractId) Manager(_controller) {
        targetContractId = _targetContractId;
    }

    receive() external payable {
        _delegate();
    }

    fallback() external payable {
        _delegate();
    }

    function _delegate() private {
        // Looked up on every call so that re-registering the target takes effect at once.
        address target = controller.getContract(targetContractId);
        require(target != address(0), "target contract must be registered");
        assembly {
            // The call returns or reverts right here, so scratch memory from 0 is ours.
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
