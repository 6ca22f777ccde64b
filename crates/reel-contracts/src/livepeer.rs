//! The external interface of Livepeer's deployed staking contracts (Arbitrum, `delta`
//! branch), written from the public ABI (see
//! docs/compatibility.md#functions-events-and-revert-strings). reel's own code talks to the
//! protocol only through these interfaces, so it works against Livepeer's deployment as well as
//! against ours; `tests/it/compat.rs` checks that every function and event here exists, with the
//! same selector, in the ABI of our contracts.
#![allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::too_many_arguments
)]

use alloy::sol;

sol! {
    #[sol(rpc, abi)]
    #[derive(Debug)]
    interface IBondingManager {
        event TranscoderUpdate(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
        event TranscoderActivated(address indexed transcoder, uint256 activationRound);
        event TranscoderDeactivated(address indexed transcoder, uint256 deactivationRound);
        event Reward(address indexed transcoder, uint256 amount);
        event TreasuryReward(address indexed transcoder, address treasury, uint256 amount);
        event Bond(address indexed newDelegate, address indexed oldDelegate, address indexed delegator, uint256 additionalAmount, uint256 bondedAmount);
        event Unbond(address indexed delegate, address indexed delegator, uint256 unbondingLockId, uint256 amount, uint256 withdrawRound);
        event Rebond(address indexed delegate, address indexed delegator, uint256 unbondingLockId, uint256 amount);
        event TransferBond(address indexed oldDelegator, address indexed newDelegator, uint256 oldUnbondingLockId, uint256 newUnbondingLockId, uint256 amount);
        event WithdrawStake(address indexed delegator, uint256 unbondingLockId, uint256 amount, uint256 withdrawRound);
        event WithdrawFees(address indexed delegator, address recipient, uint256 amount);
        event EarningsClaimed(address indexed delegate, address indexed delegator, uint256 rewards, uint256 fees, uint256 startRound, uint256 endRound);
        event ParameterUpdate(string param);

        function bond(uint256 _amount, address _to) external;
        function bondWithHint(uint256 _amount, address _to, address _oldDelegateNewPosPrev, address _oldDelegateNewPosNext, address _currDelegateNewPosPrev, address _currDelegateNewPosNext) external;
        function bondForWithHint(uint256 _amount, address _owner, address _to, address _oldDelegateNewPosPrev, address _oldDelegateNewPosNext, address _currDelegateNewPosPrev, address _currDelegateNewPosNext) external;
        function unbond(uint256 _amount) external;
        function unbondWithHint(uint256 _amount, address _newPosPrev, address _newPosNext) external;
        function rebond(uint256 _unbondingLockId) external;
        function rebondWithHint(uint256 _unbondingLockId, address _newPosPrev, address _newPosNext) external;
        function rebondFromUnbonded(address _to, uint256 _unbondingLockId) external;
        function rebondFromUnbondedWithHint(address _to, uint256 _unbondingLockId, address _newPosPrev, address _newPosNext) external;
        function withdrawStake(uint256 _unbondingLockId) external;
        function withdrawFees(address payable _recipient, uint256 _amount) external;
        function transferBond(address _delegator, uint256 _amount, address _oldDelegateNewPosPrev, address _oldDelegateNewPosNext, address _newDelegateNewPosPrev, address _newDelegateNewPosNext) external;
        function transcoder(uint256 _rewardCut, uint256 _feeShare) external;
        function transcoderWithHint(uint256 _rewardCut, uint256 _feeShare, address _newPosPrev, address _newPosNext) external;
        function reward() external;
        function rewardWithHint(address _newPosPrev, address _newPosNext) external;
        function claimEarnings(uint256 _endRound) external;
        function checkpointBondingState(address _account) external;
        function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256 _round) external;
        function setCurrentRoundTotalActiveStake() external;
        function setUnbondingPeriod(uint64 _unbondingPeriod) external;
        function setNumActiveTranscoders(uint256 _numActiveTranscoders) external;
        function setTreasuryRewardCutRate(uint256 _cutRate) external;
        function setTreasuryBalanceCeiling(uint256 _ceiling) external;

        function pendingStake(address _delegator, uint256 _endRound) external view returns (uint256);
        function pendingFees(address _delegator, uint256 _endRound) external view returns (uint256);
        function transcoderTotalStake(address _transcoder) external view returns (uint256);
        function transcoderStatus(address _transcoder) external view returns (uint8);
        function delegatorStatus(address _delegator) external view returns (uint8);
        function getDelegator(address _delegator) external view returns (uint256 bondedAmount, uint256 fees, address delegateAddress, uint256 delegatedAmount, uint256 startRound, uint256 lastClaimRound, uint256 nextUnbondingLockId);
        function getDelegatorUnbondingLock(address _delegator, uint256 _unbondingLockId) external view returns (uint256 amount, uint256 withdrawRound);
        function getTranscoder(address _transcoder) external view returns (uint256 lastRewardRound, uint256 rewardCut, uint256 feeShare, uint256 lastActiveStakeUpdateRound, uint256 activationRound, uint256 deactivationRound, uint256 activeCumulativeRewards, uint256 cumulativeRewards, uint256 cumulativeFees, uint256 lastFeeRound);
        function getTranscoderEarningsPoolForRound(address _transcoder, uint256 _round) external view returns (uint256 totalStake, uint256 transcoderRewardCut, uint256 transcoderFeeShare, uint256 cumulativeRewardFactor, uint256 cumulativeFeeFactor);
        function getTranscoderPoolMaxSize() external view returns (uint256);
        function getTranscoderPoolSize() external view returns (uint256);
        function getFirstTranscoderInPool() external view returns (address);
        function getNextTranscoderInPool(address _transcoder) external view returns (address);
        function getTotalBonded() external view returns (uint256);
        function isActiveTranscoder(address _transcoder) external view returns (bool);
        function isRegisteredTranscoder(address _transcoder) external view returns (bool);
        function isValidUnbondingLock(address _delegator, uint256 _unbondingLockId) external view returns (bool);
        function unbondingPeriod() external view returns (uint64);
        function currentRoundTotalActiveStake() external view returns (uint256);
        function nextRoundTotalActiveStake() external view returns (uint256);
        function treasuryRewardCutRate() external view returns (uint256);
        function nextRoundTreasuryRewardCutRate() external view returns (uint256);
        function treasuryBalanceCeiling() external view returns (uint256);
    }
}

sol! {
    #[sol(rpc, abi)]
    #[derive(Debug)]
    interface IRoundsManager {
        event NewRound(uint256 indexed round, bytes32 blockHash);
        event ParameterUpdate(string param);

        function initializeRound() external;
        function setRoundLength(uint256 _roundLength) external;
        function setRoundLockAmount(uint256 _roundLockAmount) external;
        function blockNum() external view returns (uint256);
        function blockHash(uint256 _block) external view returns (bytes32);
        function blockHashForRound(uint256 _round) external view returns (bytes32);
        function currentRound() external view returns (uint256);
        function currentRoundStartBlock() external view returns (uint256);
        function currentRoundInitialized() external view returns (bool);
        function currentRoundLocked() external view returns (bool);
        function roundLength() external view returns (uint256);
        function roundLockAmount() external view returns (uint256);
        function lastInitializedRound() external view returns (uint256);
    }
}

sol! {
    #[sol(rpc, abi)]
    #[derive(Debug)]
    interface IMinter {
        event SetCurrentRewardTokens(uint256 currentMintableTokens, uint256 currentInflation);
        event ParameterUpdate(string param);

        function setTargetBondingRate(uint256 _targetBondingRate) external;
        function setInflationChange(uint256 _inflationChange) external;
        function inflation() external view returns (uint256);
        function inflationChange() external view returns (uint256);
        function targetBondingRate() external view returns (uint256);
        function currentMintableTokens() external view returns (uint256);
        function currentMintedTokens() external view returns (uint256);
        function getGlobalTotalSupply() external view returns (uint256);
    }
}

sol! {
    #[sol(rpc, abi)]
    #[derive(Debug)]
    interface IServiceRegistry {
        event ServiceURIUpdate(address indexed addr, string serviceURI);

        function setServiceURI(string _serviceURI) external;
        function getServiceURI(address _addr) external view returns (string);
    }
}

sol! {
    #[sol(rpc, abi)]
    #[derive(Debug)]
    interface ITicketBroker {
        struct Ticket {
            address recipient;
            address sender;
            uint256 faceValue;
            uint256 winProb;
            uint256 senderNonce;
            bytes32 recipientRandHash;
            bytes auxData;
        }
        struct Sender {
            uint256 deposit;
            uint256 withdrawRound;
        }
        struct ReserveInfo {
            uint256 fundsRemaining;
            uint256 claimedInCurrentRound;
        }

        event DepositFunded(address indexed sender, uint256 amount);
        event ReserveFunded(address indexed reserveHolder, uint256 amount);
        event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);
        event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);
        event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
        event UnlockCancelled(address indexed sender);
        event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
        event WinningTicketRedeemed(address indexed sender, address indexed recipient, uint256 faceValue, uint256 winProb, uint256 senderNonce, uint256 recipientRand, bytes auxData);
        event ParameterUpdate(string param);

        function fundDeposit() external payable;
        function fundReserve() external payable;
        function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable;
        function fundDepositAndReserveFor(address _addr, uint256 _depositAmount, uint256 _reserveAmount) external payable;
        function unlock() external;
        function cancelUnlock() external;
        function withdraw() external;
        function redeemWinningTicket(Ticket _ticket, bytes _sig, uint256 _recipientRand) external;
        function batchRedeemWinningTickets(Ticket[] _tickets, bytes[] _sigs, uint256[] _recipientRands) external;
        function setUnlockPeriod(uint256 _unlockPeriod) external;
        function setTicketValidityPeriod(uint256 _ticketValidityPeriod) external;

        function getTicketHash(Ticket _ticket) external pure returns (bytes32);
        function getSenderInfo(address _sender) external view returns (Sender sender, ReserveInfo reserve);
        function isUnlockInProgress(address _sender) external view returns (bool);
        function claimableReserve(address _reserveHolder, address _claimant) external view returns (uint256);
        function claimedReserve(address _reserveHolder, address _claimant) external view returns (uint256);
        function usedTickets(bytes32 _ticketHash) external view returns (bool);
        function unlockPeriod() external view returns (uint256);
        function ticketValidityPeriod() external view returns (uint256);
    }
}

sol! {
    /// The governor's client surface (OpenZeppelin Governor with Bravo-style counting).
    #[sol(rpc, abi)]
    #[derive(Debug)]
    interface ILivepeerGovernor {
        event ProposalCreated(uint256 proposalId, address proposer, address[] targets, uint256[] values, string[] signatures, bytes[] calldatas, uint256 voteStart, uint256 voteEnd, string description);
        event VoteCast(address indexed voter, uint256 proposalId, uint8 support, uint256 weight, string reason);
        event ProposalQueued(uint256 proposalId, uint256 etaSeconds);
        event ProposalExecuted(uint256 proposalId);
        event ProposalCanceled(uint256 proposalId);

        function propose(address[] targets, uint256[] values, bytes[] calldatas, string description) external returns (uint256 proposalId);
        function castVote(uint256 proposalId, uint8 support) external returns (uint256 balance);
        function castVoteWithReason(uint256 proposalId, uint8 support, string reason) external returns (uint256 balance);
        function queue(address[] targets, uint256[] values, bytes[] calldatas, bytes32 descriptionHash) external returns (uint256 proposalId);
        function execute(address[] targets, uint256[] values, bytes[] calldatas, bytes32 descriptionHash) external payable returns (uint256 proposalId);

        function state(uint256 proposalId) external view returns (uint8);
        function proposalVotes(uint256 proposalId) external view returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes);
        function quorum(uint256 timepoint) external view returns (uint256);
        function quota() external view returns (uint256);
        function proposalSnapshot(uint256 proposalId) external view returns (uint256);
        function proposalDeadline(uint256 proposalId) external view returns (uint256);
        function hasVoted(uint256 proposalId, address account) external view returns (bool);
        function getVotes(address account, uint256 timepoint) external view returns (uint256);
        function votingDelay() external view returns (uint256);
        function votingPeriod() external view returns (uint256);
        function proposalThreshold() external view returns (uint256);
        function clock() external view returns (uint48);
        function hashProposal(address[] targets, uint256[] values, bytes[] calldatas, bytes32 descriptionHash) external pure returns (uint256);
    }
}
