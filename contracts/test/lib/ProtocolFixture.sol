// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./Vm.sol";
import {Controller} from "../../src/Controller.sol";
import {LivepeerToken} from "../../src/LivepeerToken.sol";
import {ManagerProxy} from "../../src/ManagerProxy.sol";
import {BondingManager} from "../../src/bonding/BondingManager.sol";
import {RoundsManager} from "../../src/rounds/RoundsManager.sol";
import {Minter} from "../../src/token/Minter.sol";
import {ServiceRegistry} from "../../src/ServiceRegistry.sol";

/// @notice The whole protocol of issue 3 deployed the way `reel devnet` deploys it: every
/// contract registered in a Controller, the proxied ones behind ManagerProxy, parameters
/// set while paused, then unpaused and the first round initialized. The TicketBroker
/// (a later issue) and the Treasury are plain addresses that tests impersonate.
abstract contract ProtocolFixture is TestBase {
    uint256 internal constant ROUND_LENGTH = 50;
    uint256 internal constant ROUND_LOCK_AMOUNT = 100_000; // 10%
    uint64 internal constant UNBONDING_PERIOD = 7;
    uint256 internal constant NUM_ACTIVE = 10;
    uint256 internal constant INFLATION = 1_000_000; // 0.1% per round (1e9 scale)
    uint256 internal constant INFLATION_CHANGE = 500;
    uint256 internal constant TARGET_BONDING_RATE = 500_000_000; // 50%
    // Rounds start well above 0, as on a real chain: round 0 edge cases stay out of the way.
    uint256 internal constant FIRST_ROUND = 100;

    Controller internal controller;
    LivepeerToken internal token;
    Minter internal minter;
    BondingManager internal bondingManager;
    RoundsManager internal roundsManager;
    ServiceRegistry internal serviceRegistry;
    BondingManager internal bondingManagerTarget;
    RoundsManager internal roundsManagerTarget;
    ServiceRegistry internal serviceRegistryTarget;
    address internal treasury;
    address internal ticketBroker;
    /// Size of the active set; a test may change it before deployProtocol().
    uint256 internal activeSetSize = NUM_ACTIVE;
    /// Whether deployProtocol() initializes the first round (the gas suite measures it).
    bool internal initializeFirstRound = true;

    function deployProtocol() internal {
        vm.roll(FIRST_ROUND * ROUND_LENGTH + 1);
        treasury = makeAddr("treasury");
        ticketBroker = makeAddr("ticketBroker");

        controller = new Controller();
        token = new LivepeerToken();
        register("LivepeerToken", address(token));

        minter = new Minter(address(controller), INFLATION, INFLATION_CHANGE, TARGET_BONDING_RATE);
        register("Minter", address(minter));
        token.grantRole(token.MINTER_ROLE(), address(minter));
        token.grantRole(token.BURNER_ROLE(), address(minter));
        // The test contract mints the participants' LPT.
        token.grantRole(token.MINTER_ROLE(), address(this));

        bondingManagerTarget = new BondingManager(address(controller));
        bondingManager = BondingManager(deployProxied("BondingManager", address(bondingManagerTarget)));
        roundsManagerTarget = new RoundsManager(address(controller));
        roundsManager = RoundsManager(deployProxied("RoundsManager", address(roundsManagerTarget)));
        serviceRegistryTarget = new ServiceRegistry(address(controller));
        serviceRegistry = ServiceRegistry(deployProxied("ServiceRegistry", address(serviceRegistryTarget)));

        register("Treasury", treasury);
        // The Minter authorises ETH moves by the legacy name of the TicketBroker.
        register("TicketBroker", ticketBroker);
        register("JobsManager", ticketBroker);

        bondingManager.setUnbondingPeriod(UNBONDING_PERIOD);
        bondingManager.setNumActiveTranscoders(activeSetSize);
        roundsManager.setRoundLength(ROUND_LENGTH);
        roundsManager.setRoundLockAmount(ROUND_LOCK_AMOUNT);

        controller.unpause();
        if (initializeFirstRound) roundsManager.initializeRound();
    }

    function register(string memory name, address addr) internal {
        controller.setContractInfo(keccak256(bytes(name)), addr, bytes20(0));
    }

    function deployProxied(string memory name, address target) internal returns (address proxy) {
        bytes32 targetId = keccak256(abi.encodePacked(name, "Target"));
        register(string(abi.encodePacked(name, "Target")), target);
        proxy = address(new ManagerProxy(address(controller), targetId));
        register(name, proxy);
    }

    // ------------------------------------------------------------------ helpers

    function currentRound() internal view returns (uint256) {
        return roundsManager.currentRound();
    }

    /// @dev Rolls to the first block of the next round and initializes it.
    function nextRound() internal {
        rollToNextRound();
        roundsManager.initializeRound();
    }

    function rollToNextRound() internal {
        vm.roll(roundsManager.currentRoundStartBlock() + ROUND_LENGTH);
    }

    function advanceRounds(uint256 n) internal {
        for (uint256 i = 0; i < n; i++) {
            nextRound();
        }
    }

    function fund(address who, uint256 amount) internal {
        token.mint(who, amount);
        vm.prank(who);
        token.approve(address(bondingManager), type(uint256).max);
    }

    function bondAs(address who, uint256 amount, address to) internal {
        vm.prank(who);
        bondingManager.bond(amount, to);
    }

    /// @dev Funds, self-bonds and sets the commission of a transcoder. It joins the pool
    /// for the next round.
    function registerTranscoder(address t, uint256 stake, uint256 rewardCut, uint256 feeShare) internal {
        fund(t, stake);
        bondAs(t, stake, t);
        vm.prank(t);
        bondingManager.transcoder(rewardCut, feeShare);
    }

    function rewardAs(address t) internal {
        vm.prank(t);
        bondingManager.reward();
    }

    /// @dev Books fees as the TicketBroker does on a winning ticket: the ETH goes to the
    /// Minter, the accounting to BondingManager.
    function payFees(address t, uint256 amount) internal {
        vm.deal(ticketBroker, ticketBroker.balance + amount);
        vm.startPrank(ticketBroker);
        minter.depositETH{value: amount}();
        bondingManager.updateTranscoderWithFees(t, amount, currentRound());
        vm.stopPrank();
    }

    function pendingStake(address who) internal view returns (uint256) {
        return bondingManager.pendingStake(who, 0);
    }

    function pendingFees(address who) internal view returns (uint256) {
        return bondingManager.pendingFees(who, 0);
    }

    function bondedAmount(address who) internal view returns (uint256 bonded) {
        (bonded,,,,,,) = bondingManager.getDelegator(who);
    }

    function delegateOf(address who) internal view returns (address delegate) {
        (,, delegate,,,,) = bondingManager.getDelegator(who);
    }

    function delegatedAmount(address who) internal view returns (uint256 amount) {
        (,,, amount,,,) = bondingManager.getDelegator(who);
    }

    function lastClaimRound(address who) internal view returns (uint256 round) {
        (,,,,, round,) = bondingManager.getDelegator(who);
    }

    function startRoundOf(address who) internal view returns (uint256 round) {
        (,,,, round,,) = bondingManager.getDelegator(who);
    }

    function nextLockId(address who) internal view returns (uint256 id) {
        (,,,,,, id) = bondingManager.getDelegator(who);
    }

    function lastRewardRound(address t) internal view returns (uint256 round) {
        (round,,,,,,,,,) = bondingManager.getTranscoder(t);
    }

    function activeCumulativeRewardsOf(address t) internal view returns (uint256 v) {
        (,,,,,, v,,,) = bondingManager.getTranscoder(t);
    }

    function cumulativeRewardsOf(address t) internal view returns (uint256 v) {
        (,,,,,,, v,,) = bondingManager.getTranscoder(t);
    }

    function cumulativeFeesOf(address t) internal view returns (uint256 v) {
        (,,,,,,,, v,) = bondingManager.getTranscoder(t);
    }

    function lastActiveStakeUpdateRoundOf(address t) internal view returns (uint256 v) {
        (,,, v,,,,,,) = bondingManager.getTranscoder(t);
    }

    function poolStake(address t, uint256 round) internal view returns (uint256 stake) {
        (stake,,,,) = bondingManager.getTranscoderEarningsPoolForRound(t, round);
    }

    function poolCRF(address t, uint256 round) internal view returns (uint256 crf) {
        (,,, crf,) = bondingManager.getTranscoderEarningsPoolForRound(t, round);
    }

    function poolCFF(address t, uint256 round) internal view returns (uint256 cff) {
        (,,,, cff) = bondingManager.getTranscoderEarningsPoolForRound(t, round);
    }

    /// @dev The pool from head to tail.
    function poolMembers() internal view returns (address[] memory members) {
        members = new address[](bondingManager.getTranscoderPoolSize());
        address cur = bondingManager.getFirstTranscoderInPool();
        for (uint256 i = 0; i < members.length; i++) {
            members[i] = cur;
            cur = bondingManager.getNextTranscoderInPool(cur);
        }
    }

    /// @dev floor(a * b / c) without intermediate overflow concerns for test magnitudes.
    function mulDiv(uint256 a, uint256 b, uint256 c) internal pure returns (uint256) {
        return a * b / c;
    }
}
