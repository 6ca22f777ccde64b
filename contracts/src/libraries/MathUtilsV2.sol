// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title MathUtilsV2
/// @notice Fixed-point percentages with 1e9 = 100%, used by the Minter only (inflation,
/// inflation change, target bonding rate, a transcoder's share of the mintable tokens).
/// @dev Same two-step floor rounding as MathUtils.
library MathUtilsV2 {
    uint256 internal constant PERC_DIVISOR = 1_000_000_000;

    function validPerc(uint256 _amount) internal pure returns (bool) {
        return _amount <= PERC_DIVISOR;
    }

    function percOf(uint256 _amount, uint256 _fracNum, uint256 _fracDenom) internal pure returns (uint256) {
        return (_amount * percPoints(_fracNum, _fracDenom)) / PERC_DIVISOR;
    }

    function percOf(uint256 _amount, uint256 _fracNum) internal pure returns (uint256) {
        return (_amount * _fracNum) / PERC_DIVISOR;
    }

    function percPoints(uint256 _fracNum, uint256 _fracDenom) internal pure returns (uint256) {
        return (_fracNum * PERC_DIVISOR) / _fracDenom;
    }
}
