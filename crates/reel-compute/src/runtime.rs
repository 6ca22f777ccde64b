//! The sandbox: one wasmtime engine per node, its compiled-module cache, and a run of one
//! job under its limits (memory, fuel, a wall-clock deadline, output size).
//!
//! The deadline rides on fuel: the guest runs as a future that yields every
//! [`YIELD_FUEL`] units, and at every host call that waits, so a timer can drop it. Epoch
//! interruption would check a second counter at every loop header: measured on the sieve
//! of `benches/wasm.rs`, fuel and epochs together ran at 2.06× native, fuel alone with
//! yields at 1.65×.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_core::SeedableRng;
use wasmtime::{Config, Engine, Linker, Module, ResourceLimiter, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use crate::io::{CappedPipe, VirtualClock};
use crate::job::{MAX_STDERR_BYTES, Outcome, sha256, to_hex};

/// Fuel between the guest's yields to the deadline timer (a few milliseconds of work): a
/// job overruns its deadline by at most about this much.
const YIELD_FUEL: u64 = 5_000_000;
/// The guest's clocks start here (2026-01-01T00:00:00Z), whatever the host's time.
const GUEST_EPOCH: Duration = Duration::from_secs(1_767_225_600);

/// Why a module cannot run at all. Nothing is billed for these: the job never started.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("not a valid WebAssembly module: {0}")]
    InvalidModule(#[source] wasmtime::Error),
    #[error(
        "the module imports {0}, which the sandbox does not provide (only WASI preview 1 without files or sockets)"
    )]
    MissingImport(String),
    #[error("the module has no `_start` function to run (build it as a WASI command)")]
    NoStart,
    #[error("the sandbox failed: {0}")]
    Host(#[source] wasmtime::Error),
    /// [`Runtime::shutdown`] was called: the job was stopped or never started.
    #[error("the sandbox is shutting down")]
    ShuttingDown,
}

/// The limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub fuel: u64,
    pub memory_bytes: usize,
    pub timeout: Duration,
    pub output_bytes: usize,
}

/// One run's inputs besides the module.
#[derive(Debug, Clone)]
pub struct RunInput<'a> {
    pub stdin: Bytes,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub seed: [u8; 32],
    pub limits: Limits,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub outcome: Outcome,
    pub stdout: Bytes,
    /// The tail of stderr.
    pub stderr: Bytes,
    pub fuel_used: u64,
    pub wall: Duration,
}

/// A compiled module and its content hash.
#[derive(Clone)]
pub struct Compiled {
    pub hash: [u8; 32],
    module: Module,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("hash", &to_hex(&self.hash))
            .finish_non_exhaustive()
    }
}

/// Counters of the module cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub compiled: u64,
    pub hits: u64,
}

struct Cache {
    map: HashMap<[u8; 32], Module>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

/// The sandbox of a node: an engine that meters fuel and honours deadlines, WASI preview 1
/// with nothing from the host but memory pipes and virtual clocks, and a bounded cache of
/// compiled modules by hash. Cheap to share.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<State>,
    cache: Mutex<Cache>,
    compiled: AtomicU64,
    hits: AtomicU64,
    /// Set by [`Runtime::shutdown`]; every running guest watches it.
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct State {
    wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
}

/// Caps linear memory and tables, and remembers a refused growth so the outcome can say
/// the guest died of its memory limit rather than of an opaque trap.
struct MemoryLimiter {
    max: usize,
    refused: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table entry is a pointer or two: the same bound, in entries.
        Ok(desired <= self.max / 16)
    }
}

impl Runtime {
    /// A runtime keeping up to `cache_modules` compiled modules.
    pub fn new(cache_modules: usize) -> Result<Self, ComputeError> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            // Same bits on every host: NaNs canonical, relaxed SIMD in its deterministic
            // form, no threads.
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(ComputeError::Host)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut State| &mut s.wasi)
            .map_err(ComputeError::Host)?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache: Mutex::new(Cache {
                    map: HashMap::new(),
                    order: VecDeque::new(),
                    cap: cache_modules.max(1),
                }),
                compiled: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                stop: tokio::sync::watch::Sender::new(false),
            }),
        })
    }

    /// Stops every running guest at its next yield (a few milliseconds) and refuses new
    /// runs: a node shutting down must not wait for a job's deadline, which may be minutes
    /// away, on a thread nothing else can stop.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.inner.compiled.load(Ordering::Relaxed),
            hits: self.inner.hits.load(Ordering::Relaxed),
        }
    }

    /// The compiled module with this hash, if cached.
    pub fn cached(&self, hash: &[u8; 32]) -> Option<Compiled> {
        let cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let module = cache.map.get(hash)?.clone();
        self.inner.hits.fetch_add(1, Ordering::Relaxed);
        Some(Compiled {
            hash: *hash,
            module,
        })
    }

    /// Compiles (or finds in the cache) a module, and checks that it can run here: every
    /// import is provided and it has `_start`.
    pub fn compile(&self, wasm: &[u8]) -> Result<Compiled, ComputeError> {
        let hash = sha256(wasm);
        if let Some(c) = self.cached(&hash) {
            return Ok(c);
        }
        let module = Module::new(&self.inner.engine, wasm).map_err(ComputeError::InvalidModule)?;
        if let Err(e) = self.inner.linker.instantiate_pre(&module) {
            // Name the first import from outside WASI, or else the linker's own words.
            let detail = module
                .imports()
                .find(|i| i.module() != "wasi_snapshot_preview1")
                .map(|i| format!("`{}::{}`", i.module(), i.name()))
                .unwrap_or_else(|| format!("{e}"));
            return Err(ComputeError::MissingImport(detail));
        }
        if !module
            .exports()
            .any(|e| e.name() == "_start" && e.ty().func().is_some())
        {
            return Err(ComputeError::NoStart);
        }
        self.inner.compiled.fetch_add(1, Ordering::Relaxed);
        let mut cache = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.map.insert(hash, module.clone()).is_none() {
            cache.order.push_back(hash);
            while cache.order.len() > cache.cap {
                if let Some(old) = cache.order.pop_front() {
                    cache.map.remove(&old);
                }
            }
        }
        Ok(Compiled { hash, module })
    }

    /// Runs a compiled module's `_start` to the end or to a limit. Blocking: it drives the
    /// guest on a timer of its own, on this thread, or on a scoped thread when called from
    /// inside an async runtime (which cannot be blocked on from within).
    pub fn run(&self, module: &Compiled, input: &RunInput<'_>) -> Result<Run, ComputeError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.run_here(module, input);
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.run_here(module, input))
                .join()
                .unwrap_or_else(|_| {
                    Err(ComputeError::Host(wasmtime::Error::msg(
                        "the sandbox's thread panicked",
                    )))
                })
        })
    }

    fn run_here(&self, module: &Compiled, input: &RunInput<'_>) -> Result<Run, ComputeError> {
        let mut stop = self.inner.stop.subscribe();
        if *stop.borrow() {
            return Err(ComputeError::ShuttingDown);
        }
        let t0 = Instant::now();
        let limits = input.limits;
        let stdout = CappedPipe::new(limits.output_bytes);
        let stderr = CappedPipe::new(MAX_STDERR_BYTES);
        let clock = VirtualClock::new(GUEST_EPOCH);
        let insecure = derive(&input.seed);
        let mut args = vec![to_hex(&module.hash)];
        args.extend(input.args.iter().cloned());
        let wasi = WasiCtxBuilder::new()
            .stdin(MemoryInputPipe::new(input.stdin.clone()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .args(&args)
            .envs(input.env)
            .wall_clock(clock.clone())
            .monotonic_clock(clock)
            .secure_random(chacha20::ChaCha20Rng::from_seed(input.seed))
            .insecure_random(chacha20::ChaCha20Rng::from_seed(insecure))
            .insecure_random_seed(u128::from_le_bytes(
                insecure[..16].try_into().unwrap_or_default(),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build_p1();
        let mut store = Store::new(
            &self.inner.engine,
            State {
                wasi,
                limiter: MemoryLimiter {
                    max: limits.memory_bytes,
                    refused: false,
                },
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_fuel(limits.fuel).map_err(ComputeError::Host)?;
        store
            .fuel_async_yield_interval(Some(YIELD_FUEL))
            .map_err(ComputeError::Host)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| ComputeError::Host(wasmtime::Error::msg(e.to_string())))?;
        let linker = &self.inner.linker;
        let result = rt.block_on(async {
            tokio::select! {
                r = tokio::time::timeout(limits.timeout, async {
                    let instance = linker.instantiate_async(&mut store, &module.module).await?;
                    let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
                    start.call_async(&mut store, ()).await
                }) => Some(r),
                _ = stop.wait_for(|s| *s) => None,
            }
        });
        let Some(result) = result else {
            return Err(ComputeError::ShuttingDown);
        };
        let left = store.get_fuel().unwrap_or(0);
        let fuel_used = limits.fuel.saturating_sub(left);
        let refused = store.data().limiter.refused;
        let outcome = match result {
            // The timer dropped the guest at a yield or a host wait.
            Err(_elapsed) => Outcome::Timeout,
            Ok(Ok(())) => Outcome::Exited { code: 0 },
            Ok(Err(e)) => classify(&e, refused),
        };
        let outcome = if stdout.overflowed() {
            Outcome::OutputLimit
        } else {
            outcome
        };
        Ok(Run {
            fuel_used: if outcome == Outcome::OutOfFuel {
                limits.fuel
            } else {
                fuel_used
            },
            outcome,
            stdout: stdout.contents(),
            stderr: stderr.contents(),
            wall: t0.elapsed(),
        })
    }
}

fn classify(e: &wasmtime::Error, memory_refused: bool) -> Outcome {
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Outcome::Exited { code: exit.0 };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Outcome::OutOfFuel,
        _ if memory_refused => Outcome::MemoryLimit,
        Some(t) => Outcome::Trapped {
            message: t.to_string(),
        },
        None => Outcome::Trapped {
            message: format!("{e:#}"),
        },
    }
}

/// A second, independent seed from the job's (for the insecure generator).
fn derive(seed: &[u8; 32]) -> [u8; 32] {
    let mut v = seed.to_vec();
    v.extend_from_slice(b"insecure");
    sha256(&v)
}
