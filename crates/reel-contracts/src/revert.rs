//! A failed contract call, explained: the revert string, panic code or custom error the
//! contract returned, instead of a JSON-RPC error dump.

use crate::bindings::{
    BondingManager, BondingVotes, LivepeerGovernor, LivepeerToken, RoundsManager, TicketBroker,
    Treasury,
};
use alloy::{
    contract::Error as ContractError,
    sol_types::{Revert, SolError, decode_revert_reason},
};

/// The contract's own words for why `err` happened, if it reverted; `None` when the error
/// is not a revert (connection refused, bad ABI, ...).
pub fn reason(err: &ContractError) -> Option<String> {
    let data = err.as_revert_data()?;
    if data.is_empty() {
        return Some("reverted without a reason".to_owned());
    }
    // require(cond, "reason"): the string alone, as the contract wrote it.
    if let Ok(revert) = Revert::abi_decode(&data) {
        return Some(revert.reason);
    }
    // Panic(uint256) (overflow, division by zero, ...) and other built-in encodings.
    if let Some(text) = decode_revert_reason(&data) {
        return Some(text);
    }
    // Custom errors (OpenZeppelin 5 uses them) of any contract we know.
    macro_rules! try_errors {
        ($($errors:ty),*) => {$(
            if let Some(e) = err.as_decoded_interface_error::<$errors>() {
                return Some(format!("{e:?}"));
            }
        )*};
    }
    try_errors!(
        LivepeerToken::LivepeerTokenErrors,
        LivepeerGovernor::LivepeerGovernorErrors,
        BondingVotes::BondingVotesErrors,
        Treasury::TreasuryErrors,
        BondingManager::BondingManagerErrors,
        RoundsManager::RoundsManagerErrors,
        TicketBroker::TicketBrokerErrors
    );
    Some(format!("reverted with unknown data {data}"))
}

/// `err` with the revert reason in front when there is one: what a CLI should print.
pub fn describe(err: &ContractError) -> String {
    match reason(err) {
        Some(r) => format!("reverted: {r}"),
        None => err.to_string(),
    }
}
