//! Integration tests of reel-chain against real anvil processes on loopback.

mod anvil;
mod devnet;
mod keeper;
mod tickets;
