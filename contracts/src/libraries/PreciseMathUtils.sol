// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title PreciseMathUtils
/// @notice Fixed-point values with 1e27 = 1.0: the cumulative reward and fee factors, the
/// treasury reward cut rate and a transcoder's reward-stake shares.
/// @dev Same two-step floor rounding as MathUtils. Using 1e6 here instead was Code4rena
/// 2023-08 H-01 (fees lost when a transcoder skipped a reward round).
library PreciseMathUtils {
    uint256 internal constant PERC_DIVISOR = 1e27;

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
