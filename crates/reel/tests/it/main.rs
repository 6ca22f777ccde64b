//! The `reel` binary, run as a user runs it.

mod devnet;
mod media;
mod network;
mod stake;
