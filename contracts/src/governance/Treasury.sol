// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title Treasury
/// @notice The protocol's treasury and the executor of governance: an OpenZeppelin
/// TimelockController whose proposer, canceller and executor is the LivepeerGovernor. It
/// receives the treasury cut of every reward() in LPT, and it owns the Controller, so every
/// owner-only parameter change and every upgrade (registering a new `<Name>Target`) is a
/// passed proposal executed from here.
/// @dev Deployment: construct with minDelay 0, no proposers or executors and the deployer as
/// admin; deploy the governor with this address; grant PROPOSER_ROLE, CANCELLER_ROLE and
/// EXECUTOR_ROLE to the governor; the deployer renounces DEFAULT_ADMIN_ROLE. The timelock then
/// administers itself: role changes are proposals too. Not proxied, like Livepeer's Treasury.
contract Treasury is TimelockController {
    constructor(uint256 _minDelay, address[] memory _proposers, address[] memory _executors, address _admin)
        TimelockController(_minDelay, _proposers, _executors, _admin)
    {}
}
