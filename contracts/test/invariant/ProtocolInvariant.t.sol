// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ProtocolFixture} from "../lib/ProtocolFixture.sol";
import {ProtocolHandler} from "./ProtocolHandler.sol";
import {console} from "../lib/console.sol";

/// Random sequences of bond, unbond, rebond, withdraw, transferBond, reward, fees, claims,
/// commission changes, round skips, treasury changes, griefing and forced-delegation
/// attempts by 3 orchestrators (2 active seats, so evictions happen), 4 delegators and an
/// attacker. After every call: C6, C7, C8, C9 in docs/faults.md#contract-invariants.
abstract contract ProtocolInvariantBase is ProtocolFixture {
    ProtocolHandler internal handler;

    function setUp() public {
        activeSetSize = 2;
        deployProtocol();
        address[] memory ts = new address[](3);
        address[] memory ds = new address[](4);
        for (uint256 i = 0; i < 3; i++) {
            ts[i] = makeAddr(string(abi.encodePacked("orchestrator", vm.toString(i))));
        }
        for (uint256 i = 0; i < 4; i++) {
            ds[i] = makeAddr(string(abi.encodePacked("delegator", vm.toString(i))));
        }
        handler = new ProtocolHandler(
            bondingManager, roundsManager, minter, token, address(this), ticketBroker, ts, ds, makeAddr("attacker")
        );
        token.grantRole(token.MINTER_ROLE(), address(handler));

        // Start from a running network: three orchestrators with different commissions.
        for (uint256 i = 0; i < 3; i++) {
            handler.seedBond(ts[i], (3 - i) * 1000 ether, ts[i]);
            vm.prank(ts[i]);
            bondingManager.transcoder(100_000 * (i + 1), 250_000 * (i + 1));
        }
        handler.seedBond(ds[0], 500 ether, ts[0]);
        handler.seedBond(ds[1], 800 ether, ts[1]);
        bondingManager.setTreasuryRewardCutRate(0.05e27);
        nextRound();

        bytes4[] memory selectors = new bytes4[](17);
        selectors[0] = ProtocolHandler.bond.selector;
        selectors[1] = ProtocolHandler.bondSelf.selector;
        selectors[2] = ProtocolHandler.unbond.selector;
        selectors[3] = ProtocolHandler.rebond.selector;
        selectors[4] = ProtocolHandler.rebondFromUnbonded.selector;
        selectors[5] = ProtocolHandler.withdrawStake.selector;
        selectors[6] = ProtocolHandler.transferBond.selector;
        selectors[7] = ProtocolHandler.reward.selector;
        selectors[8] = ProtocolHandler.reward.selector; // rewards twice as often
        selectors[9] = ProtocolHandler.payFees.selector;
        selectors[10] = ProtocolHandler.claim.selector;
        selectors[11] = ProtocolHandler.withdrawFees.selector;
        selectors[12] = ProtocolHandler.setCommission.selector;
        selectors[13] = ProtocolHandler.advance.selector;
        selectors[14] = ProtocolHandler.grief.selector;
        selectors[15] = ProtocolHandler.forceDelegation.selector;
        selectors[16] = ProtocolHandler.setTreasury.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector(address(handler), selectors));
    }

    /// Every check, after every call.
    function checkAll() internal view {
        // Violations found inside actions (C6 and C9 around rewards, C8 attempts, payouts).
        vm.assertEq(handler.violations(), 0, handler.firstViolation());
        checkC6();
        checkC7();
        checkC8();
        checkCustodyOfEth();
        checkRoundStakeOfActive();
    }

    /// reward() and the fee booking divide by an active transcoder's stake for the round and
    /// the Minter by the round's total active stake: both are non-zero for every transcoder
    /// active this round, so their `require`s can never fire (see ZeroDivisors.t.sol).
    function checkRoundStakeOfActive() internal view {
        uint256 round = currentRound();
        if (!roundsManager.currentRoundInitialized()) return;
        for (uint256 i = 0; i < handler.numTranscoders(); i++) {
            address t = handler.transcoders(i);
            if (!bondingManager.isActiveTranscoder(t)) continue;
            uint256 last = lastActiveStakeUpdateRoundOf(t);
            uint256 stake = poolStake(t, last < round ? last : round);
            vm.assertGt(stake, 0, "an active transcoder has stake for the round");
            vm.assertGt(bondingManager.getTotalBonded(), 0, "active stake while a transcoder is active");
        }
    }

    /// C6: minted never exceeds mintable; at most one reward per transcoder per round.
    function checkC6() internal view {
        vm.assertLe(minter.currentMintedTokens(), minter.currentMintableTokens(), "C6: minted <= mintable");
        uint256 round = currentRound();
        for (uint256 i = 0; i < handler.numTranscoders(); i++) {
            vm.assertLe(handler.rewardCalls(handler.transcoders(i), round), 1, "C6: one reward per round");
        }
    }

    /// C7: stake sums add up and the Minter holds every bonded and unbonding LPT.
    function checkC7() internal view {
        uint256 sumDelegated;
        uint256 sumPool;
        for (uint256 i = 0; i < handler.numTranscoders(); i++) {
            address t = handler.transcoders(i);
            uint256 delegated = delegatedAmount(t);
            sumDelegated += delegated;
            uint256 claims;
            for (uint256 j = 0; j < handler.numActors(); j++) {
                address a = handler.actor(j);
                if (delegateOf(a) == t) claims += pendingStake(a);
            }
            // Equality up to rounding dust and rewards forfeited by a delegator's own
            // claim before its orchestrator's reward; never below (no stake inflation).
            vm.assertLe(claims, delegated, "C7: delegators' stake covered by the delegated amount");
        }
        address cur = bondingManager.getFirstTranscoderInPool();
        while (cur != address(0)) {
            sumPool += delegatedAmount(cur);
            cur = bondingManager.getNextTranscoderInPool(cur);
        }
        vm.assertEq(bondingManager.nextRoundTotalActiveStake(), sumPool, "C7: next total = pool stakes");

        uint256 locked;
        uint256 pending;
        for (uint256 j = 0; j < handler.numActors(); j++) {
            address a = handler.actor(j);
            pending += pendingStake(a);
            uint256[] memory ids = handler.locksOf(a);
            for (uint256 k = 0; k < ids.length; k++) {
                (uint256 amount,) = bondingManager.getDelegatorUnbondingLock(a, ids[k]);
                locked += amount;
            }
        }
        uint256 held = token.balanceOf(address(minter));
        vm.assertEq(
            held,
            handler.deposited() + handler.minted() - handler.toTreasury() - handler.withdrawn(),
            "C7: Minter LPT = deposits + rewards - treasury - withdrawals"
        );
        vm.assertEq(held, sumDelegated + locked, "C7: Minter LPT = delegated + unbonding");
        vm.assertGe(held, pending + locked, "C7: Minter LPT >= bonded + unbonding");
    }

    /// C8: every delegate is the one its owner (or an allowed transfer) chose; nobody was
    /// made an orchestrator.
    function checkC8() internal view {
        for (uint256 j = 0; j < handler.numActors(); j++) {
            address a = handler.actor(j);
            address expected = bondedAmount(a) == 0 ? address(0) : handler.ghostDelegate(a);
            vm.assertEq(delegateOf(a), expected, "C8: delegate as chosen by its owner");
            if (j >= handler.numTranscoders()) {
                vm.assertFalse(bondingManager.isRegisteredTranscoder(a), "C8: no forced self-delegation");
            }
        }
    }

    function checkCustodyOfEth() internal view {
        uint256 held = address(minter).balance;
        vm.assertEq(held, handler.feesPaid() - handler.feesWithdrawn(), "Minter ETH = fees - withdrawals");
        uint256 owed;
        for (uint256 j = 0; j < handler.numActors(); j++) {
            owed += pendingFees(handler.actor(j));
        }
        vm.assertLe(owed, held, "fees owed <= ETH held");
    }

    function afterInvariant() external view {
        console.log("max reward share error (wei)", handler.maxRewardError());
        console.log("rewards", handler.calls("reward"));
        console.log("bonds", handler.calls("bond"));
        console.log("unbonds", handler.calls("unbond"));
        console.log("transfers", handler.calls("transferBond"));
        console.log("rebondFromUnbonded", handler.calls("rebondFromUnbonded"));
        console.log("withdrawStake", handler.calls("withdrawStake"));
        console.log("fees", handler.calls("payFees"));
        console.log("griefs allowed", handler.calls("grief"));
        console.log("rounds advanced", handler.calls("advance"));
    }
}

contract ProtocolInvariantTest is ProtocolInvariantBase {
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_C6_C7_C8_C9() public view {
        checkAll();
    }
}

/// Finds of the fresh-seeded campaigns (`./x fuzz`), replayed through the handler.
contract ProtocolHandlerRegressionTest is ProtocolInvariantBase {
    /// Seed 0x42a5…bf71, shrunk to unbond → unbond → rebond → withdrawStake: a lock seed of
    /// 2^256 − 1 overflowed the handler's own lock pick (`seed + k`), a harness bug that
    /// hid every later call of the sequence.
    function test_LockPickWithTheLargestSeed() public {
        handler.unbond(1e19, 1e9);
        handler.unbond(500, 1349);
        handler.rebond(5e8, 12599);
        handler.withdrawStake(4889, type(uint256).max);
        handler.rebond(1, type(uint256).max);
        handler.rebondFromUnbonded(2, 3, type(uint256).max);
        checkAll();
    }
}
