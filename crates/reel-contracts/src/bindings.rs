//! alloy bindings for every contract in `contracts/src`, with `deploy` where it has bytecode.
#![allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::too_many_arguments
)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Controller,
    "artifacts/Controller.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    LivepeerToken,
    "artifacts/LivepeerToken.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    Manager,
    "artifacts/Manager.json"
);
