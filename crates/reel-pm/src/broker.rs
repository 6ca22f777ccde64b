//! The seam to the chain: what the payment code needs from the TicketBroker (and the
//! RoundsManager / BondingManager around it), as one trait.
//!
//! The alloy implementation belongs in the chain crate once the TicketBroker contract exists.
//! It must match these Solidity signatures (docs/compatibility.md#ticketbroker, Livepeer's deployed
//! ABI):
//!
//! ```solidity
//! struct Ticket {
//!     address recipient; address sender; uint256 faceValue; uint256 winProb;
//!     uint256 senderNonce; bytes32 recipientRandHash; bytes auxData; // 64 bytes
//! }
//! struct Sender { uint256 deposit; uint256 withdrawRound; }
//! struct ReserveInfo { uint256 fundsRemaining; uint256 claimedInCurrentRound; }
//!
//! // TicketBroker
//! function getTicketHash(Ticket memory _ticket) public pure returns (bytes32);
//! function redeemWinningTicket(Ticket memory _ticket, bytes memory _sig, uint256 _recipientRand) public;
//! function usedTickets(bytes32 _ticketHash) external view returns (bool);
//! function getSenderInfo(address _sender) external view
//!     returns (Sender memory sender, ReserveInfo memory reserve);
//! function claimableReserve(address _reserveHolder, address _claimant) external view returns (uint256);
//! function claimedReserve(address _reserveHolder, address _claimant) external view returns (uint256);
//! function ticketValidityPeriod() external view returns (uint256);
//! event DepositFunded(address indexed sender, uint256 amount);
//! event ReserveFunded(address indexed reserveHolder, uint256 amount);
//! event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);
//! event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);
//! event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
//! event UnlockCancelled(address indexed sender);
//! event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
//! event WinningTicketRedeemed(address indexed sender, address indexed recipient, uint256 faceValue,
//!     uint256 winProb, uint256 senderNonce, uint256 recipientRand, bytes auxData);
//!
//! // RoundsManager
//! function currentRound() external view returns (uint256);
//! function currentRoundInitialized() external view returns (bool);
//! function lastInitializedRound() external view returns (uint256);
//! function blockHashForRound(uint256 _round) external view returns (bytes32);
//! function blockNum() external view returns (uint256);
//! // BondingManager
//! function getTranscoderPoolSize() external view returns (uint256);
//! ```
//!
//! The revert strings [`classify_revert`] knows are the TicketBroker's, verbatim.

use crate::{PmError, SignedTicket};
use alloy_primitives::{Address, B256};
use reel_types::Wei;
use std::future::Future;

/// A sender's reserve as `getSenderInfo` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReserveInfo {
    pub funds_remaining: Wei,
    pub claimed_in_current_round: Wei,
}

/// `getSenderInfo(sender)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderInfo {
    pub deposit: Wei,
    /// 0 when no unlock is in progress.
    pub withdraw_round: u64,
    pub reserve: ReserveInfo,
}

/// Round and block facts, read together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainState {
    /// Newest L1 block (`blockNum()`; the L1 number on Arbitrum).
    pub block: u64,
    pub current_round: u64,
    pub current_round_initialized: bool,
}

/// A signed redemption transaction, known by hash before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedTx {
    pub tx_hash: B256,
    /// The account nonce; a replacement reuses it.
    pub tx_nonce: u64,
    pub gas_price: Wei,
    /// The signed transaction as broadcast (re-broadcasting it is idempotent).
    pub raw: Vec<u8>,
}

/// A mined transaction's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub block: u64,
    pub success: bool,
    /// The revert string when `success` is false and the node could recover it.
    pub revert_reason: Option<String>,
}

/// What the payment code needs from the chain.
pub trait TicketBroker: Send + Sync {
    fn chain_state(&self) -> impl Future<Output = Result<ChainState, PmError>> + Send;
    fn sender_info(
        &self,
        sender: Address,
    ) -> impl Future<Output = Result<SenderInfo, PmError>> + Send;
    fn claimed_reserve(
        &self,
        reserve_holder: Address,
        claimant: Address,
    ) -> impl Future<Output = Result<Wei, PmError>> + Send;
    fn claimable_reserve(
        &self,
        reserve_holder: Address,
        claimant: Address,
    ) -> impl Future<Output = Result<Wei, PmError>> + Send;
    fn transcoder_pool_size(&self) -> impl Future<Output = Result<u64, PmError>> + Send;
    fn is_used_ticket(
        &self,
        ticket_hash: B256,
    ) -> impl Future<Output = Result<bool, PmError>> + Send;
    /// The gas price to bid now (`eth_gasPrice`, already floored at the node's minimum).
    fn gas_price(&self) -> impl Future<Output = Result<Wei, PmError>> + Send;
    /// Signs `redeemWinningTicket(ticket, sig, recipientRand)` at `gas_price`; `replace`
    /// reuses that account nonce (a replacement), `None` takes the next one. Nothing is sent.
    fn prepare_redeem(
        &self,
        ticket: &SignedTicket,
        gas_price: Wei,
        replace: Option<u64>,
    ) -> impl Future<Output = Result<PreparedTx, PmError>> + Send;
    /// Broadcasts a prepared transaction. A revert found while sending (e.g. by gas
    /// estimation) is `PmError::Revert` with the contract's reason.
    fn broadcast(&self, tx: &PreparedTx) -> impl Future<Output = Result<(), PmError>> + Send;
    fn receipt(
        &self,
        tx_hash: B256,
    ) -> impl Future<Output = Result<Option<Receipt>, PmError>> + Send;
    /// How many transactions of the redeeming account are mined (its `latest` nonce), or
    /// `None` when the broker cannot tell. The queue uses it to see that another transaction
    /// from the same account (the round keeper's `reward()`, an operator's manual one) took
    /// the nonce of a redemption that was never mined, which can then never be mined.
    fn account_nonce(&self) -> impl Future<Output = Result<Option<u64>, PmError>> + Send {
        async { Ok(None) }
    }
}

/// What to do with a ticket after a failed redemption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Try again on a later block (until the ticket expires).
    Retry,
    /// The contract says the ticket is used.
    Used,
    /// "ticket is expired": retrying can never succeed
    /// (docs/faults.md#tickets-too-old-for-the-chain, upstream PR #3954).
    Expired,
    /// A deterministic refusal: the ticket will never redeem.
    Invalid(String),
}

/// Classifies a TicketBroker revert string. Only reasons that cannot change with time are
/// terminal; everything else — unlock state, empty deposit, pause, round not initialised,
/// gas, RPC trouble — is retried until the ticket's validity ends.
pub fn classify_revert(reason: &str) -> Disposition {
    match reason.trim() {
        "ticket is used" => Disposition::Used,
        "ticket is expired" => Disposition::Expired,
        r @ ("ticket recipient is null address"
        | "ticket sender is null address"
        | "invalid length for ticket auxData: must be 64 bytes"
        | "ticket creationRound does not have a block hash"
        | "ticket creationRoundBlockHash invalid for creationRound"
        | "recipientRand does not match recipientRandHash"
        | "INVALID_SIGNATURE_LENGTH"
        | "invalid signature over ticket hash"
        | "ticket did not win"
        | "ECDSA: invalid signature"
        | "ECDSA: invalid signature length"
        | "ECDSA: invalid signature 's' value") => Disposition::Invalid(r.to_owned()),
        _ => Disposition::Retry,
    }
}

impl PmError {
    /// How the redemption queue treats this error.
    pub fn disposition(&self) -> Disposition {
        match self {
            PmError::Revert { reason } => classify_revert(reason),
            _ => Disposition::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revert_classes() {
        assert_eq!(classify_revert("ticket is expired"), Disposition::Expired);
        assert_eq!(classify_revert("ticket is used"), Disposition::Used);
        assert_eq!(
            classify_revert("ticket did not win"),
            Disposition::Invalid("ticket did not win".into())
        );
        for retry in [
            "sender is unlocked",
            "sender deposit and reserve are zero",
            "transcoder must be registered",
            "Pausable: paused",
            "round is not initialized",
            "nonce too low",
            "",
        ] {
            assert_eq!(classify_revert(retry), Disposition::Retry, "{retry}");
        }
        assert_eq!(
            PmError::Chain {
                op: "broadcast",
                message: "timeout".into()
            }
            .disposition(),
            Disposition::Retry
        );
    }
}
