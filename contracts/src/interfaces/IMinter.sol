// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IController} from "./IController.sol";

/// @notice Minter as Livepeer's contracts call it.
interface IMinter {
    event SetCurrentRewardTokens(uint256 currentMintableTokens, uint256 currentInflation);

    function createReward(uint256 _fracNum, uint256 _fracDenom) external returns (uint256);

    function trustedTransferTokens(address _to, uint256 _amount) external;

    function trustedBurnTokens(uint256 _amount) external;

    function trustedWithdrawETH(address payable _to, uint256 _amount) external;

    function depositETH() external payable returns (bool);

    function setCurrentRewardTokens() external;

    function currentMintableTokens() external view returns (uint256);

    function currentMintedTokens() external view returns (uint256);

    function getController() external view returns (IController);
}
