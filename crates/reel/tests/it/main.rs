//! The `reel` binary, run as a user runs it.

mod deposit;
mod devnet;
mod gov;
mod media;
mod network;
mod stake;
