// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ManagerProxyTarget} from "./ManagerProxyTarget.sol";
import {Manager} from "./Manager.sol";

/// @title ServiceRegistry
/// @notice Where orchestrators publish the URI at which gateways reach them. Anyone may set
/// their own URI; there is no pause check, like Livepeer's.
/// @dev Runs behind a ManagerProxy. Storage after the proxy's two slots:
///   slot 2  records (address => Record)
contract ServiceRegistry is ManagerProxyTarget {
    struct Record {
        string serviceURI;
    }

    mapping(address => Record) private records;

    event ServiceURIUpdate(address indexed addr, string serviceURI);

    constructor(address _controller) Manager(_controller) {}

    function setServiceURI(string calldata _serviceURI) external {
        records[msg.sender].serviceURI = _serviceURI;
        emit ServiceURIUpdate(msg.sender, _serviceURI);
    }

    function getServiceURI(address _addr) external view returns (string memory) {
        return records[_addr].serviceURI;
    }
}
