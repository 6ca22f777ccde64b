// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IManager {
    event SetController(address controller);
    event ParameterUpdate(string param);

    function setController(address _controller) external;
}
