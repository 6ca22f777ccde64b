//! Plain data shared by every reel crate: money amounts and protocol identifiers.
//!
//! Nothing here does I/O, so the payment and network crates can depend on it without
//! pulling in a chain client or FFmpeg.
//!
//! - [`Wei`] and [`Lpt`] are amounts of ETH and LPT in their 18-decimal base units. They are
//!   distinct types with no mixed arithmetic; every operation is checked and returns a
//!   [`Result`]. Decimal strings (`"12.5"`) are parsed only at the edges, exactly: an amount
//!   with more than 18 fractional digits is an error, never silently rounded.
//! - [`Ppm`] is a share in millionths (reward cut, fee share), parsed from a percentage.
//! - [`Round`] is a protocol round number.
//! - [`PricePerUnit`] is wei per unit of work (a pixel, a token, a unit of fuel) as an
//!   exact, reduced rational.
//! - [`prometheus`] reads samples out of a `/metrics` text exposition; the demo and the
//!   tests share it (it is text in, numbers out: no I/O either).
//!
//! Where to look:
//! - a new money type (another 18-decimal token): one more `amount!` in `amount.rs`,
//!   re-exported here; it gets the checked arithmetic, the exact decimal parsing, `Display`
//!   and serde of [`Wei`] and [`Lpt`], and no arithmetic with them.
//! - a new share or rate: `percent.rs` ([`Ppm`]).
//! - a price rule or a fee computation: `price.rs` ([`PricePerUnit`]).
//! - a new protocol identifier: a newtype with `Display` in a file of its own, as
//!   `round.rs` ([`Round`]).

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod amount;
mod percent;
mod price;
pub mod prometheus;
mod round;

pub use alloy_primitives::{Address, U256};
pub use amount::{AmountError, DECIMALS, Lpt, Wei};
pub use percent::{PercentError, Ppm};
pub use price::{PriceError, PricePerUnit};
pub use round::Round;
