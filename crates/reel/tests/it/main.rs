//! The `reel` binary, run as a user runs it.

mod chain_support;
mod compute;
mod deposit;
mod devnet;
mod gov;
mod media;
mod network;
mod proc_support;
mod redemption;
mod shutdown;
mod sim;
mod stake;
