//! The kinds of work a node runs, all on one pipeline. The interface is `reel_jobs`
//! (re-exported here); this module holds the node's side of it:
//!
//! - [`transcode`]: transcoding as a kind (its capability, unit and balance scope); its
//!   wire stays go-livepeer's `POST /segment`, served by the orchestrator module and
//!   driven by the gateway's segment handler through the shared dispatch and admission.
//! - [`Offer`] / [`Offers`]: what an orchestrator offers per (capability, model) — kind,
//!   price, capacity, warm flag, worker — how it advertises them in `GetOrchestrator`
//!   (`Capabilities` constraints and `capabilities_prices`), and capacity slots.
//!
//! Adding a kind of work: implement [`JobKind`] (and a [`JobWorker`] for the orchestrator)
//! in a folder of its own, give the orchestrator an [`Offer`] per model and the gateway the
//! kind (`GatewaySettings::jobs`). The request/response wire, payment, capacity, signing,
//! verification, scoring and failover come with the pipeline.

mod offers;
pub mod transcode;

pub use offers::{Offer, OfferStatus, Offers, Slot};
pub use reel_jobs::*;
