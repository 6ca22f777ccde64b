//! reel's Solidity contracts, seen from Rust.
//!
//! - [`bindings`]: alloy `sol!` bindings generated from the ABI + bytecode artifacts in
//!   `artifacts/` (exported from `contracts/` by `./x artifacts`, committed so that
//!   `cargo build` needs neither node nor forge; `./x test` fails if they are stale).
//! - [`livepeer`]: the external interface of Livepeer's deployed staking contracts, which
//!   reel's clients use so they work against Livepeer's deployment too.
//! - [`deploy`]: deploys the whole protocol that exists so far, registers every contract in
//!   the Controller under Livepeer's names, mints the genesis LPT allocations and unpauses.
//! - [`revert`]: turns a failed call into the contract's revert reason in plain words.
//! - [`ContractId`]: the registry keys, `keccak256(name)`.
//!
//! Where to look:
//! - a change to a contract: its Solidity in `contracts/src`, then `./x artifacts` to refresh
//!   `artifacts/`; [`bindings`] follows the artifact.
//! - a new contract: its name in the `bind!` list of [`bindings`], its deployment and
//!   Controller registration in `deploy.rs` (and an address in [`Deployment`]), its external
//!   interface in [`livepeer`] if reel's clients call it, its custom errors in [`revert`].
//! - a new protocol parameter: a [`ProtocolParams`] field with Livepeer's mainnet default,
//!   set during the deployment in `deploy.rs`.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

pub mod bindings;
mod deploy;
mod ids;
pub mod livepeer;
pub mod revert;

pub use deploy::{DeployError, DeployParams, Deployment, ProtocolParams, deploy};
pub use ids::ContractId;
