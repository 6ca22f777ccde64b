// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "../lib/ProtocolFixture.sol";
import {console} from "../lib/console.sol";

/// Gas of single protocol calls, measured like a transaction receipt's gasUsed (intrinsic
/// gas included, refunds netted, all state cold) when run in isolation mode:
///   FOUNDRY_PROFILE=gas ./node_modules/.bin/forge test     (checks)
///   FOUNDRY_PROFILE=gas ./node_modules/.bin/forge snapshot (rewrites .gas-snapshot)
/// Each test prepares its state with gas metering paused, makes the measured call last,
/// and checks it against Livepeer's figure for the same call (docs/compatibility.md#gas, measured
/// on the deployed code with its hardhat fixture): at most 70% of it.
abstract contract GasBase is ProtocolFixture {
    uint256 internal constant TARGET_PERCENT = 70;

    /// Reads the gas of the last call, prints it with the reference and fails above 70%.
    function measure(string memory name, uint256 livepeerGas) internal returns (uint256) {
        return measure(name, livepeerGas, TARGET_PERCENT);
    }

    /// Metering stays paused afterwards, so a test's total in .gas-snapshot is its measured
    /// call plus a little harness overhead, whatever it checks afterwards.
    function measure(string memory name, uint256 livepeerGas, uint256 maxPercent) internal returns (uint256 gas) {
        gas = vm.lastCallGas().gasTotalUsed;
        vm.pauseGasMetering();
        console.log(name, gas);
        console.log("  livepeer", livepeerGas);
        console.log("  ratio x1000", gas * 1000 / livepeerGas);
        vm.assertLe(gas * 100, livepeerGas * maxPercent, string(abi.encodePacked(name, ": above the ceiling")));
    }

    function transcoderAt(uint256 i) internal returns (address) {
        return makeAddr(string(abi.encodePacked("gas-t", vm.toString(i))));
    }
}
