// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice On Arbitrum the Minter adds the LPT circulating on L1 to the L2 supply. reel has
/// no L1, so the Minter reads this only when a contract is registered as "L2LPTDataCache".
interface IL2LPTDataCache {
    function l1CirculatingSupply() external view returns (uint256);
}
