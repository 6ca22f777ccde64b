//! reel's chain client.
//!
//! - [`anvil`]: finds the `anvil` binary (npm's `node_modules`, `REEL_ANVIL` or `PATH`),
//!   starts it on a chosen or free loopback port, waits until it answers, and stops it:
//!   gracefully with [`Anvil::shutdown`] (anvil dumps its state), hard on drop.
//! - [`ChainConfig`]: what a node needs to know about a chain (RPC URL, chain id, Controller
//!   address); every other protocol address is resolved from the Controller.
//! - [`devnet`]: a local network on anvil with the protocol deployed and accounts funded,
//!   described in `devnet.json`, resumable across restarts.
//! - [`protocol`]: the staking client (bond, unbond, reward, round status, ...) that the CLI
//!   and the keepers use.
//! - [`keeper`]: initialises rounds and calls `reward()` when due, idempotently.
//! - [`broker`]: the TicketBroker seam of reel-pm on a real chain (redemptions signed
//!   before broadcast so the queue can store them first).
//! - [`watch`]: the TicketBroker event watcher that keeps the orchestrator's cached sender
//!   state fresh (a re-read per event naming a watched sender), with rollback detection.
//! - [`deposit`] and [`governance`]: a broadcaster's deposit and reserve, and proposals,
//!   votes and execution through the governor (more `Protocol` methods).
//! - [`txsender`]: the one [`TxSender`] per account that everything signing for it goes
//!   through: a nonce manager that never leaves a gap, replacement of stuck transactions,
//!   receipts awaited with a deadline.
//! - [`connect`] / [`connect_with_signer`]: an alloy provider for any JSON-RPC URL.
//!
//! Where to look:
//! - a new contract parameter: its deploy-time value in [`reel_contracts::ProtocolParams`]
//!   (a devnet override in [`DevnetOptions::devnet_protocol`]); changing it by vote, a
//!   [`governance::ParameterChange`] and its calldata in [`Protocol::actions_for`]; reading
//!   it, a [`Protocol`] method in [`protocol`].
//! - a new transaction: a [`Protocol`] method (in [`protocol`], [`deposit`] or
//!   [`governance`]) that builds the call and sends it with [`Protocol::send`], which goes
//!   through the account's [`TxSender`] (`txsender/`: nonces, replacement, receipts).
//! - a new TicketBroker event the orchestrator reacts to: [`watch`]; a redemption change:
//!   [`broker`].
//! - a new round duty (like `reward()`): [`keeper`].
//! - a new error: [`ChainError`] (`error.rs`).

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod anvil;
pub mod broker;
mod config;
pub mod deposit;
pub mod devnet;
mod error;
pub mod governance;
pub mod keeper;
pub mod protocol;
pub mod signer;
pub mod txsender;
pub mod watch;

pub use anvil::{Anvil, AnvilConfig};
pub use config::{ChainConfig, chain_id, connect, connect_with_signer};
pub use devnet::{Devnet, DevnetError, DevnetFile, DevnetOptions};
pub use error::ChainError;
pub use protocol::{Protocol, concurrently};
pub use signer::{KeyError, KeySource};
pub use txsender::{SenderConfig, SenderStats, TxOutcome, TxSender};
