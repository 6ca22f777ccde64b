// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IController} from "./interfaces/IController.sol";
import {IManager} from "./interfaces/IManager.sol";

/// @title Controller
/// @notice Owner-managed registry `keccak256(name) -> (address, gitCommitHash)` with a
/// protocol-wide pause switch. External functions and events match Livepeer's Controller so
/// that clients written for it work unchanged.
/// @dev Deployed paused, like Livepeer's: the deployer registers every contract and then
/// unpauses, so no protocol call can run against a half-registered system.
contract Controller is IController {
    struct ContractInfo {
        address contractAddress;
        bytes20 gitCommitHash;
    }

    address public owner;
    bool public paused;

    mapping(bytes32 => ContractInfo) private registry;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Pause();
    event Unpause();

    modifier onlyOwner() {
        require(msg.sender == owner, "caller must be owner");
        _;
    }

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        paused = true;
        emit Pause();
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function pause() external onlyOwner {
        require(!paused, "already paused");
        paused = true;
        emit Pause();
    }

    function unpause() external onlyOwner {
        require(paused, "not paused");
        paused = false;
        emit Unpause();
    }

    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external onlyOwner {
        registry[_id] = ContractInfo(_contractAddress, _gitCommitHash);
        emit SetContractInfo(_id, _contractAddress, _gitCommitHash);
    }

    /// @notice Points the registered contract `_id` at a new Controller (a migration step).
    function updateController(bytes32 _id, address _controller) external onlyOwner {
        address target = registry[_id].contractAddress;
        require(target != address(0), "contract not registered");
        IManager(target).setController(_controller);
    }

    function getContractInfo(bytes32 _id) external view returns (address, bytes20) {
        ContractInfo storage info = registry[_id];
        return (info.contractAddress, info.gitCommitHash);
    }

    function getContract(bytes32 _id) external view returns (address) {
        return registry[_id].contractAddress;
    }
}
