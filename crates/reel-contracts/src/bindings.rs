//! alloy bindings for every contract in `contracts/src`, with `deploy` where it has bytecode.
//!
//! These are generated from our own artifacts and used to deploy and administer our
//! contracts. Code that only *uses* the protocol goes through [`crate::livepeer`] instead, so
//! it stays compatible with Livepeer's deployment.
#![allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::too_many_arguments
)]

use alloy::sol;

macro_rules! bind {
    ($($name:ident),* $(,)?) => {$(
        sol!(
            #[sol(rpc)]
            #[derive(Debug)]
            $name,
            concat!("artifacts/", stringify!($name), ".json")
        );
    )*};
}

bind!(
    BondingManager,
    BondingVotes,
    Controller,
    LivepeerToken,
    Manager,
    ManagerProxy,
    LivepeerGovernor,
    Minter,
    RoundsManager,
    ServiceRegistry,
    TicketBroker,
    Treasury,
);
