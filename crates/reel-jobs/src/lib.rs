//! The job interface: everything the node needs to know about a kind of work to run it
//! through one pipeline, whatever the work is.
//!
//! A kind ([`JobKind`]) declares:
//! - its capability id, and per request the capability's constraint (the model id);
//! - its billing unit, the units a request is paid for up front ([`JobKind::admit`]) and the
//!   units a result is debited ([`JobKind::units_used`]);
//! - how it is paid ([`Cadence`]): per job, up front with settlement, or streamed;
//! - how the gateway verifies a result ([`JobKind::verify`]);
//! - where its work runs, through the [`JobWorker`] an orchestrator attaches
//!   ([`Placement`]: in process, in a worker process, or on a remote worker).
//!
//! The node crate (`reel-node`) runs every kind through the same gateway dispatch
//! (discover → filter by capability, model and price → select → pay → submit → verify →
//! debit → score → fail over) and the same orchestrator admission (credentials → payment →
//! capacity per (capability, model) → run → debit). Transcoding keeps its own wire
//! (`POST /segment`, go-livepeer's) behind that pipeline; request/response kinds — AI
//! inference, compute, and the test kinds — share the wire in [`wire`].
//!
//! This crate is plain data and traits: no I/O, no FFmpeg, no chain.
//!
//! Where to look:
//! - a new kind of job: implement [`JobKind`] (and a [`JobWorker`] that runs it) in a folder
//!   of its own in the node crate, next to `reel-node/src/jobs/transcode.rs`; nothing here
//!   changes. `reel-node/src/jobs/mod.rs` says how to register it.
//! - a new way to pay for work: [`Cadence`], and the debit rule in
//!   [`JobKind::units_used`] (`kind.rs`).
//! - a new place to run work: [`Placement`] (`kind.rs`).
//! - a new error a job can end in: [`JobError`] with its HTTP status (`kind.rs`).
//! - a new header of the request/response wire: [`wire`].

mod content;
mod kind;
pub mod pipeline;
pub mod wire;

pub use content::{ContentError, ContentStats, ContentStore};
pub use kind::{
    Admission, BoxFuture, Cadence, CapabilityKey, Content, JobError, JobKind, JobOutput,
    JobRequest, JobWorker, Placement,
};
