//! Integration tests of reel-chain against real anvil processes on loopback.

mod anvil;
mod catalogue;
mod devnet;
mod keeper;
mod tickets;
mod txsender;
mod watch;
