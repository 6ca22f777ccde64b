//! Compute jobs: WebAssembly modules run in a sandbox that makes them safe to accept from
//! strangers and cheap to check.
//!
//! - [`Runtime`]: wasmtime with WASI preview 1. A guest gets stdin, stdout, stderr, its
//!   arguments and environment, a clock and randomness seeded per job, and nothing else:
//!   no files, no sockets. Every run is bounded in memory, fuel (instructions) and wall
//!   time; compiled modules are cached by hash.
//! - [`job`]: the wire form of a job and of its signed result, and how units are counted
//!   (fuel, plus the input and output in [`job::FUEL_PER_MIB`]).
//! - [`WasmKind`] / [`WasmWorker`]: the job pipeline's kind (capability
//!   [`CAPABILITY`]) and the orchestrator's worker.
//!
//! A run is a function of (module, input, arguments, environment, seed): the clocks are
//! virtual and the randomness is a seeded ChaCha20, so a gateway can re-run a job on a
//! second orchestrator and compare the results.

mod io;
pub mod job;
mod kind;
mod runtime;

pub use kind::{CAPABILITY, KIND_NAME, MODEL, ModuleStore, WasmKind, WasmWorker};
pub use runtime::{CacheStats, Compiled, ComputeError, Limits, Run, RunInput, Runtime};
