// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ManagerProxyTarget} from "../ManagerProxyTarget.sol";
import {Manager} from "../Manager.sol";
import {IBondingManager} from "../interfaces/IBondingManager.sol";
import {IMinter} from "../interfaces/IMinter.sol";
import {IRoundsManager} from "../interfaces/IRoundsManager.sol";

/// @title TicketBroker
/// @notice Probabilistic micropayments. A broadcaster (sender) funds a deposit and a reserve
/// and pays orchestrators with signed lottery tickets; an orchestrator (recipient) redeems a
/// winning ticket here for its face value, which is booked as fees in its earnings pool
/// (BondingManager.updateTranscoderWithFees). The ETH itself stays in the Minter from funding
/// until a sender's withdraw or a delegator's withdrawFees.
///
/// A ticket is paid from the sender's deposit first, then from the recipient's slice of the
/// sender's reserve: each orchestrator active in the current round may take an equal share of
/// the reserve per round. A sender leaves by `unlock`, waits `unlockPeriod` rounds (its
/// tickets stay redeemable meanwhile) and `withdraw`s.
///
/// External functions, events, check order and revert strings are those of Livepeer's
/// TicketBroker, with ONE deliberate difference: payout is all-or-nothing. Livepeer's broker
/// (before its 2026 fix, protocol PR #657) paid whatever the sender had left and consumed the
/// ticket, so anyone could front-run a redemption with a 1-wei fundDepositAndReserveFor and
/// have the ticket settle for 1 wei (docs/faults.md#front-running-draining-and-dust-griefing, "dust
/// griefing"). Here a winning ticket pays its full face value from the deposit and the recipient's
/// own claimable reserve slice, or the call reverts with "sender deposit and reserve insufficient
/// to cover ticket face value" and the ticket stays unused, redeemable once the sender tops up.
/// Unlike PR #657, which compares the face value with the whole remaining reserve, the check uses
/// the recipient's claimable slice, the amount actually paid (Livepeer known issue #663).
///
/// @dev Runs behind a ManagerProxy. Storage after the proxy's two slots:
///   slot 2  accounts              (sender => Account: deposit, reserve, withdrawRound)
///   slot 3  roundClaims           (reserve holder => RoundAmount: claims of the round)
///   slot 4  claimantClaims        (holder => claimant => RoundAmount)
///   slot 5  usedTickets           (ticket hash => bool)
///   slot 6  unlockPeriod
///   slot 7  ticketValidityPeriod
/// Deposit, reserve and withdraw round share one slot (uint96 wei exceeds all the ETH there
/// is), and reserve claims keep only the round they belong to: Livepeer's per-round maps are
/// read for the current round only, so a stale round reads as zero.
contract TicketBroker is ManagerProxyTarget {
    /// @notice A lottery ticket; its hash is keccak256 of the 232-byte packed preimage
    /// recipient ‖ sender ‖ faceValue ‖ winProb ‖ senderNonce ‖ recipientRandHash ‖ auxData,
    /// auxData being abi.encode(creationRound, creationRoundBlockHash).
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue; // wei
        uint256 winProb; // P(win) = winProb / 2^256
        uint256 senderNonce;
        bytes32 recipientRandHash; // keccak256 of the recipient's 32-byte random number
        bytes auxData;
    }

    /// @notice A sender's deposit and unlock state, as getSenderInfo returns it.
    struct Sender {
        uint256 deposit;
        uint256 withdrawRound; // 0 = no unlock in progress
    }

    /// @notice A sender's reserve, as getSenderInfo and getReserveInfo return it.
    struct ReserveInfo {
        uint256 fundsRemaining;
        uint256 claimedInCurrentRound;
    }

    struct Account {
        uint96 deposit;
        uint96 reserve;
        uint64 withdrawRound;
    }

    struct RoundAmount {
        uint64 round;
        uint192 amount;
    }

    event DepositFunded(address indexed sender, uint256 amount);
    event WinningTicketRedeemed(
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 winProb,
        uint256 senderNonce,
        uint256 recipientRand,
        bytes auxData
    );
    event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    event UnlockCancelled(address indexed sender);
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);
    event ReserveFunded(address indexed reserveHolder, uint256 amount);
    event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);

    // secp256k1 n / 2: signatures with a larger s are the malleable twins of low-s ones.
    uint256 private constant MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private constant BONDING_MANAGER = keccak256("BondingManager");
    bytes32 private constant MINTER = keccak256("Minter");
    bytes32 private constant ROUNDS_MANAGER = keccak256("RoundsManager");

    mapping(address => Account) private accounts;
    mapping(address => RoundAmount) private roundClaims;
    mapping(address => mapping(address => RoundAmount)) private claimantClaims;
    /// @notice Hashes of the tickets redeemed so far.
    mapping(bytes32 => bool) public usedTickets;
    /// @notice Rounds between a sender's unlock and the round from which it may withdraw.
    uint256 public unlockPeriod;
    /// @notice Rounds a ticket stays redeemable after its creation round.
    uint256 public ticketValidityPeriod;

    modifier currentRoundInitialized() {
        require(_roundsManager().currentRoundInitialized(), "current round is not initialized");
        _;
    }

    constructor(address _controller) Manager(_controller) {}

    // ------------------------------------------------------------------ parameters

    function setUnlockPeriod(uint256 _unlockPeriod) external onlyControllerOwner {
        unlockPeriod = _unlockPeriod;
        emit ParameterUpdate("unlockPeriod");
    }

    function setTicketValidityPeriod(uint256 _ticketValidityPeriod) external onlyControllerOwner {
        require(_ticketValidityPeriod > 0, "ticketValidityPeriod must be greater than 0");
        ticketValidityPeriod = _ticketValidityPeriod;
        emit ParameterUpdate("ticketValidityPeriod");
    }

    // ------------------------------------------------------------------ funding

    /// @notice Adds the ETH sent to the caller's deposit; cancels the caller's unlock.
    function fundDeposit() external payable whenSystemNotPaused {
        Account storage a = accounts[msg.sender];
        _cancelUnlockOnFunding(a, msg.sender);
        a.deposit = SafeCast.toUint96(a.deposit + msg.value);
        emit DepositFunded(msg.sender, msg.value);
        _minter().depositETH{value: msg.value}();
    }

    /// @notice Adds the ETH sent to the caller's reserve; cancels the caller's unlock.
    function fundReserve() external payable whenSystemNotPaused {
        Account storage a = accounts[msg.sender];
        a.reserve = SafeCast.toUint96(a.reserve + msg.value);
        emit ReserveFunded(msg.sender, msg.value);
        _cancelUnlockOnFunding(a, msg.sender);
        _minter().depositETH{value: msg.value}();
    }

    function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable {
        fundDepositAndReserveFor(msg.sender, _depositAmount, _reserveAmount);
    }

    /// @notice Funds `_addr`'s deposit and reserve with the ETH sent (which must be their
    /// sum). Anyone may fund anyone, but only the sender's own funding cancels its unlock.
    function fundDepositAndReserveFor(address _addr, uint256 _depositAmount, uint256 _reserveAmount)
        public
        payable
        whenSystemNotPaused
    {
        require(
            msg.value == _depositAmount + _reserveAmount,
            "msg.value does not equal sum of deposit amount and reserve amount"
        );
        Account storage a = accounts[_addr];
        _cancelUnlockOnFunding(a, _addr);
        a.reserve = SafeCast.toUint96(a.reserve + _reserveAmount);
        emit ReserveFunded(_addr, _reserveAmount);
        a.deposit = SafeCast.toUint96(a.deposit + _depositAmount);
        emit DepositFunded(_addr, _depositAmount);
        _minter().depositETH{value: msg.value}();
    }

    // ------------------------------------------------------------------ unlock and withdraw

    /// @notice Starts the caller's unlock: it may withdraw from `unlockPeriod` rounds on and
    /// its tickets stay redeemable until then.
    function unlock() external whenSystemNotPaused {
        Account storage a = accounts[msg.sender];
        require(a.deposit > 0 || a.reserve > 0, "sender deposit and reserve are zero");
        require(a.withdrawRound == 0, "unlock already initiated");
        uint256 round = _roundsManager().currentRound();
        uint256 withdrawRound = round + unlockPeriod;
        a.withdrawRound = SafeCast.toUint64(withdrawRound);
        emit Unlock(msg.sender, round, withdrawRound);
    }

    function cancelUnlock() external whenSystemNotPaused {
        Account storage a = accounts[msg.sender];
        require(a.withdrawRound > 0, "no unlock request in progress");
        a.withdrawRound = 0;
        emit UnlockCancelled(msg.sender);
    }

    /// @notice Sends the caller its whole deposit and reserve once its unlock period is over.
    /// The unlock stays recorded, as in Livepeer's broker: new funding by the sender cancels it.
    function withdraw() external whenSystemNotPaused {
        Account memory a = accounts[msg.sender];
        require(a.deposit > 0 || a.reserve > 0, "sender deposit and reserve are zero");
        require(a.withdrawRound > 0, "no unlock request in progress");
        require(_roundsManager().currentRound() >= a.withdrawRound, "account is locked");
        accounts[msg.sender] = Account(0, 0, a.withdrawRound);
        _minter().trustedWithdrawETH(payable(msg.sender), uint256(a.deposit) + a.reserve);
        emit Withdrawal(msg.sender, a.deposit, a.reserve);
    }

    // ------------------------------------------------------------------ redemption

    /// @notice Redeems a winning ticket for its full face value, booked as fees of the
    /// recipient; anyone may submit it. Reverts, leaving the ticket unused, if any check
    /// fails or the sender can't cover the face value.
    function redeemWinningTicket(Ticket calldata _ticket, bytes calldata _sig, uint256 _recipientRand)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        bytes32 ticketHash = _hashTicket(_ticket);
        (uint256 creationRound, uint256 round) = _requireValidWinningTicket(_ticket, ticketHash, _sig, _recipientRand);

        address sender = _ticket.sender;
        Account storage a = accounts[sender];
        Account memory acct = a;
        require(acct.withdrawRound == 0 || round < acct.withdrawRound, "sender is unlocked");
        require(acct.deposit > 0 || acct.reserve > 0, "sender deposit and reserve are zero");

        usedTickets[ticketHash] = true;
        uint256 amount = _settle(a, acct, _ticket.recipient, sender, _ticket.faceValue, round);
        if (amount > 0) {
            _bondingManager().updateTranscoderWithFees(_ticket.recipient, amount, creationRound);
            emit WinningTicketTransfer(sender, _ticket.recipient, amount);
        }
        _emitRedeemed(_ticket, _recipientRand);
    }

    /// @notice Redeems each ticket in its own call; a failing ticket is skipped (its revert
    /// is swallowed), as in Livepeer's broker.
    function batchRedeemWinningTickets(
        Ticket[] calldata _tickets,
        bytes[] calldata _sigs,
        uint256[] calldata _recipientRands
    ) external whenSystemNotPaused currentRoundInitialized {
        for (uint256 i = 0; i < _tickets.length; i++) {
            // Result ignored on purpose: one bad ticket must not block the others.
            // forge-lint: disable-next-line(unchecked-call)
            (bool ok,) = address(this)
                .call(abi.encodeCall(this.redeemWinningTicket, (_tickets[i], _sigs[i], _recipientRands[i])));
            ok;
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice keccak256 of the ticket's 232-byte packed preimage (what the sender signs,
    /// EIP-191 personal-message style).
    function getTicketHash(Ticket memory _ticket) public pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                _ticket.recipient,
                _ticket.sender,
                _ticket.faceValue,
                _ticket.winProb,
                _ticket.senderNonce,
                _ticket.recipientRandHash,
                _ticket.auxData
            )
        );
    }

    function getSenderInfo(address _sender) external view returns (Sender memory sender, ReserveInfo memory reserve) {
        Account memory a = accounts[_sender];
        sender = Sender(a.deposit, a.withdrawRound);
        reserve = getReserveInfo(_sender);
    }

    function getReserveInfo(address _reserveHolder) public view returns (ReserveInfo memory info) {
        info.fundsRemaining = accounts[_reserveHolder].reserve;
        info.claimedInCurrentRound = _amountIn(roundClaims[_reserveHolder], _roundsManager().currentRound());
    }

    function isUnlockInProgress(address _sender) external view returns (bool) {
        return accounts[_sender].withdrawRound > 0;
    }

    /// @notice What `_claimant` may still take from `_reserveHolder`'s reserve this round:
    /// an equal share, among the transcoder pool, of the reserve as it stood before this
    /// round's claims, less what it took already; 0 unless it is an active transcoder.
    function claimableReserve(address _reserveHolder, address _claimant) external view returns (uint256) {
        return _claimableReserve(_reserveHolder, _claimant, accounts[_reserveHolder].reserve, _currentRound());
    }

    /// @notice What `_claimant` took from `_reserveHolder`'s reserve in the current round.
    function claimedReserve(address _reserveHolder, address _claimant) external view returns (uint256) {
        return _amountIn(claimantClaims[_reserveHolder][_claimant], _currentRound());
    }

    // ------------------------------------------------------------------ internals

    /// @dev Checks 1-10 of Livepeer's redemption, in its order and with its messages; returns
    /// the ticket's creation round and the current round.
    function _requireValidWinningTicket(
        Ticket calldata _ticket,
        bytes32 _ticketHash,
        bytes calldata _sig,
        uint256 _recipientRand
    ) private view returns (uint256 creationRound, uint256 round) {
        require(_ticket.recipient != address(0), "ticket recipient is null address");
        require(_ticket.sender != address(0), "ticket sender is null address");

        require(_ticket.auxData.length == 64, "invalid length for ticket auxData: must be 64 bytes");
        bytes32 creationRoundBlockHash;
        (creationRound, creationRoundBlockHash) = abi.decode(_ticket.auxData, (uint256, bytes32));
        IRoundsManager rm = _roundsManager();
        bytes32 blockHash = rm.blockHashForRound(creationRound);
        require(blockHash != bytes32(0), "ticket creationRound does not have a block hash");
        require(creationRoundBlockHash == blockHash, "ticket creationRoundBlockHash invalid for creationRound");
        round = rm.currentRound();
        // A round with a block hash was initialized, so creationRound is small: no overflow.
        require(creationRound + ticketValidityPeriod > round, "ticket is expired");

        require(
            keccak256(abi.encodePacked(_recipientRand)) == _ticket.recipientRandHash,
            "recipientRand does not match recipientRandHash"
        );
        require(!usedTickets[_ticketHash], "ticket is used");
        require(_sig.length == 65, "INVALID_SIGNATURE_LENGTH");
        require(
            _recover(MessageHashUtils.toEthSignedMessageHash(_ticketHash), _sig) == _ticket.sender,
            "invalid signature over ticket hash"
        );
        require(uint256(keccak256(abi.encodePacked(_sig, _recipientRand))) < _ticket.winProb, "ticket did not win");
    }

    /// @dev Takes the face value from the deposit, then from the recipient's reserve slice,
    /// all of it or nothing (see the contract's notice); returns the amount paid. Virtual only
    /// so that a test can put back the deployed partial payout for a proof of concept.
    function _settle(
        Account storage _a,
        Account memory _acct,
        address _recipient,
        address _sender,
        uint256 _faceValue,
        uint256 _round
    ) internal virtual returns (uint256) {
        uint256 deposit = _acct.deposit;
        if (_faceValue <= deposit) {
            // forge-lint: disable-next-line(unsafe-typecast) -- below the stored uint96 deposit
            _a.deposit = uint96(deposit - _faceValue);
            return _faceValue;
        }
        uint256 fromReserve = _faceValue - deposit;
        require(
            _claimableReserve(_sender, _recipient, _acct.reserve, _round) >= fromReserve,
            "sender deposit and reserve insufficient to cover ticket face value"
        );
        _claimFromReserve(_a, _acct.reserve, _sender, _recipient, fromReserve, _round);
        _a.deposit = 0;
        return _faceValue;
    }

    /// @dev Books a claim of `_amount` (at most the claimable slice) on the reserve.
    function _claimFromReserve(
        Account storage _a,
        uint256 _reserve,
        address _holder,
        address _claimant,
        uint256 _amount,
        uint256 _round
    ) internal {
        if (_amount == 0) return;
        uint64 round = SafeCast.toUint64(_round);
        RoundAmount storage total = roundClaims[_holder];
        RoundAmount storage mine = claimantClaims[_holder][_claimant];
        // Claims are below the reserve, a uint96: the sums fit a uint192.
        // forge-lint: disable-next-line(unsafe-typecast)
        roundClaims[_holder] = RoundAmount(round, uint192(_amountIn(total, _round) + _amount));
        // forge-lint: disable-next-line(unsafe-typecast)
        claimantClaims[_holder][_claimant] = RoundAmount(round, uint192(_amountIn(mine, _round) + _amount));
        // forge-lint: disable-next-line(unsafe-typecast)
        _a.reserve = uint96(_reserve - _amount);
        emit ReserveClaimed(_holder, _claimant, _amount);
    }

    /// @dev ⌊(reserve + claimed this round) / pool size⌋ − claimed by the claimant, for an
    /// active transcoder, capped at the reserve left. Where Livepeer's broker reverts on
    /// underflow (the pool grew mid-round) this returns 0, and the cap keeps a shrunken pool
    /// from promising more than is left (Livepeer known issue #656).
    function _claimableReserve(address _holder, address _claimant, uint256 _reserve, uint256 _round)
        internal
        view
        returns (uint256)
    {
        IBondingManager bm = _bondingManager();
        if (!bm.isActiveTranscoder(_claimant)) return 0;
        uint256 poolSize = bm.getTranscoderPoolSize();
        if (poolSize == 0) return 0;
        uint256 allowance = (_reserve + _amountIn(roundClaims[_holder], _round)) / poolSize;
        uint256 claimed = _amountIn(claimantClaims[_holder][_claimant], _round);
        if (allowance <= claimed) return 0;
        uint256 claimable = allowance - claimed;
        return claimable < _reserve ? claimable : _reserve;
    }

    /// @dev Cancels `_sender`'s unlock when it funds its own account. A third party's
    /// funding never does (Livepeer's 2023 fix "TicketBrokerForceCancelUnlock"). Virtual only
    /// so that a test can put back the pre-fix rule for a proof of concept.
    function _cancelUnlockOnFunding(Account storage _a, address _sender) internal virtual {
        if (msg.sender == _sender && _a.withdrawRound > 0) {
            _a.withdrawRound = 0;
            emit UnlockCancelled(_sender);
        }
    }

    function _emitRedeemed(Ticket calldata _ticket, uint256 _recipientRand) private {
        emit WinningTicketRedeemed(
            _ticket.sender,
            _ticket.recipient,
            _ticket.faceValue,
            _ticket.winProb,
            _ticket.senderNonce,
            _recipientRand,
            _ticket.auxData
        );
    }

    function _hashTicket(Ticket calldata _ticket) private pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                _ticket.recipient,
                _ticket.sender,
                _ticket.faceValue,
                _ticket.winProb,
                _ticket.senderNonce,
                _ticket.recipientRandHash,
                _ticket.auxData
            )
        );
    }

    /// @dev ecrecover of a 65-byte r ‖ s ‖ v signature, with the checks and messages of
    /// OpenZeppelin 4.9's ECDSA.recover, which Livepeer's broker uses: high s is rejected, and
    /// a v other than 27 or 28 (or any signature ecrecover refuses) recovers nothing.
    function _recover(bytes32 _digest, bytes calldata _sig) private pure returns (address signer) {
        bytes32 r = bytes32(_sig[0:32]);
        bytes32 s = bytes32(_sig[32:64]);
        uint8 v = uint8(_sig[64]);
        require(uint256(s) <= MAX_S, "ECDSA: invalid signature 's' value");
        signer = ecrecover(_digest, v, r, s);
        require(signer != address(0), "ECDSA: invalid signature");
    }

    function _amountIn(RoundAmount memory _ra, uint256 _round) private pure returns (uint256) {
        return _ra.round == _round ? _ra.amount : 0;
    }

    function _currentRound() private view returns (uint256) {
        return _roundsManager().currentRound();
    }

    function _getContract(bytes32 _id) private view returns (address) {
        return controller.getContract(_id);
    }

    function _bondingManager() private view returns (IBondingManager) {
        return IBondingManager(_getContract(BONDING_MANAGER));
    }

    function _minter() private view returns (IMinter) {
        return IMinter(_getContract(MINTER));
    }

    function _roundsManager() private view returns (IRoundsManager) {
        return IRoundsManager(_getContract(ROUNDS_MANAGER));
    }
}
