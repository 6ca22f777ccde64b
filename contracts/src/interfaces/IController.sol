// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The protocol's registry: every contract finds its neighbours here at call time,
/// keyed by keccak256 of the contract's name (e.g. keccak256("BondingManager")).
interface IController {
    event SetContractInfo(bytes32 id, address contractAddress, bytes20 gitCommitHash);

    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external;

    function updateController(bytes32 _id, address _controller) external;

    function getContract(bytes32 _id) external view returns (address);

    function owner() external view returns (address);

    function paused() external view returns (bool);
}
