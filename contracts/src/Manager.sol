// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IController} from "./interfaces/IController.sol";
import {IManager} from "./interfaces/IManager.sol";

/// @title Manager
/// @notice Base of every protocol contract: holds the Controller and the access modifiers
/// whose revert strings match Livepeer's.
contract Manager is IManager {
    IController public controller;

    modifier onlyController() {
        _onlyController();
        _;
    }

    modifier onlyControllerOwner() {
        _onlyControllerOwner();
        _;
    }

    modifier whenSystemNotPaused() {
        _whenSystemNotPaused();
        _;
    }

    modifier whenSystemPaused() {
        _whenSystemPaused();
        _;
    }

    constructor(address _controller) {
        controller = IController(_controller);
    }

    function setController(address _controller) external onlyController {
        controller = IController(_controller);
        emit SetController(_controller);
    }

    // Modifier bodies live in functions so that each modifier is compiled once, not inlined
    // at every use (smaller bytecode for the large contracts).
    function _onlyController() private view {
        require(msg.sender == address(controller), "caller must be Controller");
    }

    function _onlyControllerOwner() private view {
        require(msg.sender == controller.owner(), "caller must be Controller owner");
    }

    function _whenSystemNotPaused() private view {
        require(!controller.paused(), "system is paused");
    }

    function _whenSystemPaused() private view {
        require(controller.paused(), "system is not paused");
    }
}
