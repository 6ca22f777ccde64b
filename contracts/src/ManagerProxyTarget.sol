// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Manager} from "./Manager.sol";

/// @title ManagerProxyTarget
/// @notice Base of every contract that runs behind a ManagerProxy. It only reserves the
/// proxy's second storage slot so that proxy and target agree on the layout.
/// @dev Storage layout shared by every proxy and its target:
///   slot 0  controller        (Manager)
///   slot 1  targetContractId  (this contract)
///   slot 2… the target's own fields, documented in each target.
/// A target must never reorder or remove fields: an upgrade (registering a new
/// `<Name>Target` in the Controller) keeps the proxy's storage.
abstract contract ManagerProxyTarget is Manager {
    /// @notice keccak256("<Name>Target"): the Controller key of the implementation.
    bytes32 public targetContractId;
}
