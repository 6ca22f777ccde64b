// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "../lib/Vm.sol";
import {TicketBroker} from "../../src/pm/TicketBroker.sol";
import {BondingManager} from "../../src/bonding/BondingManager.sol";
import {RoundsManager} from "../../src/rounds/RoundsManager.sol";
import {Minter} from "../../src/token/Minter.sol";

/// Drives the TicketBroker with random actions: three senders funding themselves, a third
/// party funding them, unlocks, cancels and withdrawals; four orchestrators (three seats)
/// redeeming fresh and stored tickets, bonding, resigning, calling reward and withdrawing
/// fees; rounds passing. Every action predicts the outcome from the state and then expects
/// success or the exact revert (fail-on-revert catches anything else). Successful
/// redemptions are checked on the spot (see docs/faults.md#c1-single-redemption,
/// #c2-payout-is-the-face-value-or-nothing, #c3-reserve-slices); ghost ledgers serve C4 and C5 (see
/// docs/faults.md#contract-invariants).
contract BrokerHandler is TestBase {
    uint256 internal constant ROUND_LENGTH = 50;
    string internal constant INSUFFICIENT = "sender deposit and reserve insufficient to cover ticket face value";

    TicketBroker public immutable broker;
    BondingManager public immutable bm;
    RoundsManager public immutable rm;
    Minter public immutable minter;

    address[] public senders;
    uint256[] internal keys;
    address[] public orchs;
    address public payer;

    struct Stored {
        TicketBroker.Ticket ticket;
        bytes sig;
        uint256 rand;
    }

    Stored[] internal stored;
    uint256 internal nonce;

    // Ghost ledgers.
    mapping(address => uint256) public funded; // ETH put into a sender's deposit and reserve
    mapping(address => uint256) public paidOut; // face values paid from its account
    mapping(address => uint256) public withdrawnBy; // ETH it withdrew
    mapping(bytes32 => uint256) public timesPaid;
    uint256 public feesPaid;
    uint256 public feesWithdrawn;

    uint256 public violations;
    string public firstViolation;
    mapping(bytes32 => uint256) public calls;

    constructor(
        TicketBroker _broker,
        BondingManager _bm,
        RoundsManager _rm,
        Minter _minter,
        address[] memory _senders,
        uint256[] memory _keys,
        address[] memory _orchs,
        address _payer
    ) {
        broker = _broker;
        bm = _bm;
        rm = _rm;
        minter = _minter;
        senders = _senders;
        keys = _keys;
        orchs = _orchs;
        payer = _payer;
    }

    function numSenders() external view returns (uint256) {
        return senders.length;
    }

    function numOrchs() external view returns (uint256) {
        return orchs.length;
    }

    // ------------------------------------------------------------------ sender actions

    function fund(uint256 sSeed, uint256 deposit, uint256 reserve) external {
        _ensureRound();
        address s = senders[sSeed % senders.length];
        // Small deposits against larger reserves, so that tickets reach the reserve often.
        deposit = bound(deposit, 0, 1 ether);
        reserve = bound(reserve, 0, 6 ether);
        vm.deal(s, deposit + reserve);
        vm.prank(s);
        broker.fundDepositAndReserve{value: deposit + reserve}(deposit, reserve);
        funded[s] += deposit + reserve;
        _check(!broker.isUnlockInProgress(s), "own funding cancels the unlock");
        calls["fund"]++;
    }

    /// C5: a third party's funding credits the sender but never touches its unlock.
    function fundFor(uint256 sSeed, uint256 deposit, uint256 reserve) external {
        _ensureRound();
        address s = senders[sSeed % senders.length];
        deposit = bound(deposit, 0, 1 ether);
        reserve = bound(reserve, 0, 1 ether);
        uint256 withdrawRound = _withdrawRound(s);
        vm.deal(payer, deposit + reserve);
        vm.prank(payer);
        broker.fundDepositAndReserveFor{value: deposit + reserve}(s, deposit, reserve);
        funded[s] += deposit + reserve;
        _check(_withdrawRound(s) == withdrawRound, "C5: a third party changed an unlock");
        calls["fundFor"]++;
    }

    function unlock(uint256 sSeed) external {
        _ensureRound();
        address s = senders[sSeed % senders.length];
        uint256 funds = _funds(s);
        uint256 withdrawRound = _withdrawRound(s);
        // Predictions first: a view call after vm.prank would take the prank.
        if (funds == 0) {
            vm.expectRevert(bytes("sender deposit and reserve are zero"));
        } else if (withdrawRound != 0) {
            vm.expectRevert(bytes("unlock already initiated"));
        } else {
            calls["unlock"]++;
        }
        vm.prank(s);
        broker.unlock();
    }

    function cancelUnlock(uint256 sSeed) external {
        _ensureRound();
        address s = senders[sSeed % senders.length];
        if (_withdrawRound(s) == 0) vm.expectRevert(bytes("no unlock request in progress"));
        else calls["cancelUnlock"]++;
        vm.prank(s);
        broker.cancelUnlock();
    }

    /// C5: a withdrawal succeeds only from the withdraw round on, and pays the whole account.
    function withdraw(uint256 sSeed) external {
        _ensureRound();
        address s = senders[sSeed % senders.length];
        uint256 funds = _funds(s);
        uint256 withdrawRound = _withdrawRound(s);
        uint256 before = s.balance;
        bool locked = rm.currentRound() < withdrawRound;
        if (funds == 0) {
            vm.expectRevert(bytes("sender deposit and reserve are zero"));
        } else if (withdrawRound == 0) {
            vm.expectRevert(bytes("no unlock request in progress"));
        } else if (locked) {
            vm.expectRevert(bytes("account is locked"));
        }
        vm.prank(s);
        broker.withdraw();
        if (funds == 0 || withdrawRound == 0 || locked) return;
        _check(s.balance - before == funds, "C5: withdraw pays deposit plus reserve");
        _check(_funds(s) == 0, "C5: account emptied");
        withdrawnBy[s] += funds;
        calls["withdraw"]++;
    }

    // ------------------------------------------------------------------ redemption

    /// A fresh ticket from a sender to an orchestrator, redeemed at once.
    function redeemNew(uint256 sSeed, uint256 oSeed, uint256 faceValue) external {
        _ensureRound();
        uint256 si = sSeed % senders.length;
        address o = orchs[oSeed % orchs.length];
        // Around what the sender can cover for this orchestrator: deposit-only, reserve and
        // insufficient redemptions all happen.
        faceValue = bound(faceValue, 0, _deposit(senders[si]) + broker.claimableReserve(senders[si], o) + 0.5 ether);
        nonce++;
        TicketBroker.Ticket memory t = TicketBroker.Ticket({
            recipient: o,
            sender: senders[si],
            faceValue: faceValue,
            winProb: type(uint256).max,
            senderNonce: nonce,
            recipientRandHash: keccak256(abi.encodePacked(nonce + 1000)),
            auxData: abi.encode(rm.currentRound(), rm.blockHashForRound(rm.currentRound()))
        });
        bytes32 digest = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", broker.getTicketHash(t)));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[si], digest);
        stored.push(Stored(t, abi.encodePacked(r, s, v), nonce + 1000));
        _redeem(stored.length - 1);
    }

    /// A ticket created earlier: maybe paid already (see docs/faults.md#c1-single-redemption),
    /// maybe expired, maybe now covered.
    function redeemStored(uint256 idx) external {
        _ensureRound();
        if (stored.length == 0) return;
        _redeem(idx % stored.length);
    }

    function _redeem(uint256 idx) internal {
        Stored memory st = stored[idx];
        TicketBroker.Ticket memory t = st.ticket;
        bytes32 hash = broker.getTicketHash(t);
        (bool ok, string memory reason) = _predict(t, hash);
        uint256 deposit = _deposit(t.sender);
        uint256 reserve = _reserve(t.sender);
        uint256 claimedBefore = broker.claimedReserve(t.sender, t.recipient);
        uint256 feesBefore = bm.pendingFees(t.recipient, 0);
        if (!ok) {
            vm.expectRevert(bytes(reason));
            broker.redeemWinningTicket(t, st.sig, st.rand);
            calls[keccak256(bytes(string.concat("refused: ", reason)))]++;
            return;
        }
        broker.redeemWinningTicket(t, st.sig, st.rand);
        calls["redeem"]++;

        timesPaid[hash]++;
        _check(timesPaid[hash] == 1, "C1: a ticket paid twice");
        _check(broker.usedTickets(hash), "C1: a paid ticket is used");
        // C2: exactly the face value, deposit first.
        uint256 fromDeposit = t.faceValue < deposit ? t.faceValue : deposit;
        uint256 fromReserve = t.faceValue - fromDeposit;
        _check(_deposit(t.sender) == deposit - fromDeposit, "C2: deposit first");
        _check(_reserve(t.sender) == reserve - fromReserve, "C2: then the reserve");
        _check(bm.pendingFees(t.recipient, 0) - feesBefore == t.faceValue, "C2: fees = face value");
        // C3: the claim stays within the recipient's slice, and only an active one claims.
        uint256 claimed = broker.claimedReserve(t.sender, t.recipient);
        _check(claimed == claimedBefore + fromReserve, "C3: claim booked");
        if (fromReserve > 0) {
            _check(bm.isActiveTranscoder(t.recipient), "C3: only active orchestrators claim");
            (, TicketBroker.ReserveInfo memory info) = broker.getSenderInfo(t.sender);
            uint256 slice = (info.fundsRemaining + info.claimedInCurrentRound) / bm.getTranscoderPoolSize();
            _check(claimed <= slice, "C3: claim within the slice");
            calls["redeem from reserve"]++;
        }
        paidOut[t.sender] += t.faceValue;
        feesPaid += t.faceValue;
    }

    /// Outcome of redeeming `t` now: ok, or the revert reason.
    function _predict(TicketBroker.Ticket memory t, bytes32 hash) internal view returns (bool, string memory) {
        uint256 round = rm.currentRound();
        (uint256 creationRound,) = abi.decode(t.auxData, (uint256, bytes32));
        if (creationRound + broker.ticketValidityPeriod() <= round) return (false, "ticket is expired");
        if (broker.usedTickets(hash)) return (false, "ticket is used");
        uint256 withdrawRound = _withdrawRound(t.sender);
        if (withdrawRound != 0 && round >= withdrawRound) return (false, "sender is unlocked");
        uint256 deposit = _deposit(t.sender);
        if (deposit + _reserve(t.sender) == 0) return (false, "sender deposit and reserve are zero");
        if (t.faceValue > deposit && t.faceValue - deposit > broker.claimableReserve(t.sender, t.recipient)) {
            return (false, INSUFFICIENT);
        }
        if (t.faceValue == 0) return (true, "");
        if (!bm.isRegisteredTranscoder(t.recipient)) return (false, "transcoder must be registered");
        if (_feeStake(t.recipient, round) == 0) return (false, "transcoder has no stake in the round");
        return (true, "");
    }

    // ------------------------------------------------------------------ orchestrators and rounds

    /// More self-bond: may register again, join the pool and evict the smallest.
    function bondMore(uint256 oSeed, uint256 amount) external {
        _ensureRound();
        address o = orchs[oSeed % orchs.length];
        amount = bound(amount, 1 ether, 3000 ether);
        vm.prank(o);
        bm.bond(amount, o);
        calls["bondMore"]++;
    }

    /// An orchestrator unbonds everything: it leaves the pool (its seat stays active this
    /// round) and can't book fees any more.
    function resign(uint256 oSeed) external {
        _ensureRound();
        address o = orchs[oSeed % orchs.length];
        (uint256 bonded,,,, uint256 startRound, uint256 lastClaim,) = bm.getDelegator(o);
        // What the unbond's own claim leaves bonded (a claim is a no-op within a round).
        uint256 stake = lastClaim < rm.currentRound() ? bm.pendingStake(o, 0) : bonded;
        bool pending = startRound > rm.currentRound();
        vm.prank(o);
        if (bonded == 0 || pending) {
            vm.expectRevert(bytes("caller must be bonded"));
            bm.unbond(1);
            return;
        }
        bm.unbond(stake);
        calls["resign"]++;
    }

    function reward(uint256 oSeed) external {
        _ensureRound();
        address o = orchs[oSeed % orchs.length];
        (uint256 lastRewardRound,,,,,,,,,) = bm.getTranscoder(o);
        if (!bm.isActiveTranscoder(o) || lastRewardRound == rm.currentRound()) return;
        vm.prank(o);
        bm.reward();
        calls["reward"]++;
    }

    function withdrawFees(uint256 oSeed, uint256 amount) external {
        _ensureRound();
        address o = orchs[oSeed % orchs.length];
        (, uint256 claimed,,,, uint256 lastClaim,) = bm.getDelegator(o);
        uint256 available = lastClaim < rm.currentRound() ? bm.pendingFees(o, 0) : claimed;
        amount = bound(amount, 0, available);
        uint256 before = o.balance;
        vm.prank(o);
        bm.withdrawFees(payable(o), amount);
        _check(o.balance - before == amount, "fees paid out");
        feesWithdrawn += amount;
        calls["withdrawFees"]++;
    }

    function advance(uint256 rounds) external {
        rounds = bound(rounds, 1, 2);
        vm.roll(rm.currentRoundStartBlock() + rounds * ROUND_LENGTH);
        calls["advance"]++;
    }

    // ------------------------------------------------------------------ helpers

    function _ensureRound() internal {
        if (!rm.currentRoundInitialized()) rm.initializeRound();
    }

    function _deposit(address s) internal view returns (uint256) {
        (TicketBroker.Sender memory info,) = broker.getSenderInfo(s);
        return info.deposit;
    }

    function _withdrawRound(address s) internal view returns (uint256) {
        (TicketBroker.Sender memory info,) = broker.getSenderInfo(s);
        return info.withdrawRound;
    }

    function _reserve(address s) internal view returns (uint256) {
        return broker.getReserveInfo(s).fundsRemaining;
    }

    function _funds(address s) internal view returns (uint256) {
        return _deposit(s) + _reserve(s);
    }

    /// The stake updateTranscoderWithFees divides by this round (see BondingManager).
    function _feeStake(address t, uint256 round) internal view returns (uint256 stake) {
        (uint256 lastRewardRound,,, uint256 lastUpdate,,,,,,) = bm.getTranscoder(t);
        uint256 r = lastRewardRound == round || lastUpdate >= round ? round : lastUpdate;
        (stake,,,,) = bm.getTranscoderEarningsPoolForRound(t, r);
    }

    function _check(bool ok, string memory what) internal {
        if (ok) return;
        if (violations == 0) firstViolation = what;
        violations++;
    }
}
