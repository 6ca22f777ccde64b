//! Transcoding in supervised child processes (docs/faults.md#poison-streams: a decoder or GPU crash
//! on a poison stream must not take the orchestrator, its sessions and its payments down).
//!
//! With [`WorkerSettings`] set, the orchestrator transcodes nothing in its own process. It
//! starts `count` worker processes — its own binary as a `reel transcoder` — that register
//! over loopback with a secret drawn for each worker at each start (so its registration
//! tells which process it is), exactly as remote transcoders do, so a worker's task
//! travels the remote path of [`super::work`]. A supervisor task per worker:
//!
//! - spawns it with a piped stdin (the worker exits when the pipe closes, so an
//!   orchestrator killed with SIGKILL leaves no orphan) and `kill_on_drop`;
//! - logs how it ended (exit code or signal) and restarts it after a backoff doubling from
//!   `backoff_min` to `backoff_max` (reset once a worker has lived 30 s);
//! - kills it on shutdown, and when it hung on a task past the task deadline (a stuck
//!   decoder never gives its slot back; the hang counts as a crash, as below).
//!
//! When a worker dies with tasks in flight, each of those segments fails for its session
//! only (the gateway fails over) and is never charged; a crash is recorded against the
//! stream's manifest id and against a hash of the segment's leading bytes in the
//! [`CrashBook`]. At `refuse_after` crashes the stream (or a segment with those bytes, under
//! any manifest id) is refused up front instead of crashing workers again.
//!
//! A worker serves several sessions, so a crash is also recorded against the streams that
//! merely shared it at the time; an innocent stream is refused only if it shared the worker
//! at `refuse_after` crashes within `crash_memory`, and then only here (the gateway takes
//! it elsewhere). More workers (`count`) mean fewer such bystanders.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, keccak256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::Counter;
use crate::rpc::ServiceUri;

/// Abort on a task of this stream (manifest id): the crash tests' poison input
/// (`test-hooks` builds only; the supervisor below passes it on to its worker processes,
/// whose transcoder reads it).
#[cfg(feature = "test-hooks")]
pub const ABORT_ON_STREAM_ENV: &str = "REEL_TEST_ABORT_ON_STREAM";
/// Never finish a task of this stream (`test-hooks` builds only).
#[cfg(feature = "test-hooks")]
pub const HANG_ON_STREAM_ENV: &str = "REEL_TEST_HANG_ON_STREAM";

/// Environment variable through which a worker learns the orchestrator's loopback URI.
pub const WORKER_ORCH_ADDR_ENV: &str = "REEL_ORCH_ADDR";
/// Environment variable carrying the per-start worker secret (not on the command line,
/// where `ps` would show it).
pub const WORKER_SECRET_ENV: &str = "REEL_ORCH_SECRET";

/// How many leading bytes of a segment identify it in the [`CrashBook`].
pub const CRASH_HASH_BYTES: usize = 64 << 10;

/// How to start and supervise the worker processes.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The worker program (the orchestrator's own binary: `/proc/self/exe`).
    pub program: PathBuf,
    /// The name the worker shows in `ps` (`argv[0]`); by default `program`.
    pub arg0: Option<OsString>,
    /// Its arguments (`transcoder --capacity … --preset …`); the orchestrator's address
    /// and the secret are added as [`WORKER_ORCH_ADDR_ENV`] / [`WORKER_SECRET_ENV`].
    pub args: Vec<OsString>,
    /// Extra environment for the worker. Inherited `REEL_*` variables (the
    /// orchestrator's own configuration) are removed first, so that they cannot configure
    /// the worker by accident.
    pub env: Vec<(OsString, OsString)>,
    /// Worker processes; the orchestrator's sessions are spread over them.
    pub count: usize,
    /// Restart backoff: doubles from `backoff_min` up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long a segment waits for a worker while none is connected (one restarting).
    pub wait_for_worker: Duration,
    /// Crashes after which a stream, or a segment's leading bytes, is refused.
    pub refuse_after: u32,
    /// How long a crash is remembered.
    pub crash_memory: Duration,
}

impl WorkerSettings {
    /// One worker running `program args`, with the default backoff and crash policy.
    pub fn new(program: PathBuf, args: Vec<OsString>) -> Self {
        #[allow(unused_mut)] // filled by the test hooks only
        let mut env = Vec::new();
        // The crash tests' poison and stuck streams reach the workers through their
        // environment (`test-hooks` builds only).
        #[cfg(feature = "test-hooks")]
        for var in [ABORT_ON_STREAM_ENV, HANG_ON_STREAM_ENV] {
            if let Some(v) = std::env::var_os(var) {
                env.push((var.into(), v));
            }
        }
        Self {
            program,
            arg0: None,
            args,
            env,
            count: 1,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            wait_for_worker: Duration::from_secs(5),
            refuse_after: 2,
            crash_memory: Duration::from_secs(3600),
        }
    }
}

/// Most streams and segment hashes remembered; the oldest are forgotten first.
const MAX_CRASH_ENTRIES: usize = 10_000;

/// What a refusal is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashKey {
    Manifest(Vec<u8>),
    Leading(B256),
}

impl std::fmt::Display for CrashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Manifest(m) => write!(f, "stream {}", String::from_utf8_lossy(m)),
            Self::Leading(h) => write!(f, "segment bytes {h}"),
        }
    }
}

#[derive(Debug, Default)]
struct Book<K> {
    counts: HashMap<K, (u32, Instant)>,
    order: VecDeque<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Book<K> {
    fn record(&mut self, key: K, now: Instant, memory: Duration) -> u32 {
        self.expire(now, memory);
        let e = self.counts.entry(key.clone()).or_insert_with(|| {
            self.order.push_back(key);
            (0, now)
        });
        e.0 = e.0.saturating_add(1);
        e.1 = now;
        let n = e.0;
        while self.counts.len() > MAX_CRASH_ENTRIES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.counts.remove(&old);
        }
        n
    }

    fn count(&self, key: &K, now: Instant, memory: Duration) -> u32 {
        self.counts
            .get(key)
            .filter(|(_, at)| now.saturating_duration_since(*at) <= memory)
            .map_or(0, |(n, _)| *n)
    }

    fn expire(&mut self, now: Instant, memory: Duration) {
        while let Some(old) = self.order.front() {
            let stale = self
                .counts
                .get(old)
                .is_none_or(|(_, at)| now.saturating_duration_since(*at) > memory);
            if !stale {
                break;
            }
            if let Some(k) = self.order.pop_front() {
                self.counts.remove(&k);
            }
        }
    }
}

/// Worker crashes per stream and per segment prefix.
#[derive(Debug)]
pub struct CrashBook {
    refuse_after: u32,
    memory: Duration,
    books: Mutex<(Book<Vec<u8>>, Book<B256>)>,
}

/// The hash that identifies a segment's bytes in the [`CrashBook`].
pub fn leading_hash(input: &[u8]) -> B256 {
    keccak256(input.get(..CRASH_HASH_BYTES).unwrap_or(input))
}

impl CrashBook {
    pub fn new(refuse_after: u32, memory: Duration) -> Self {
        Self {
            refuse_after: refuse_after.max(1),
            memory,
            books: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Book<Vec<u8>>, Book<B256>)> {
        self.books
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a worker crash with this segment in flight; returns the stream's count.
    pub fn record(&self, manifest: &[u8], input: &[u8]) -> u32 {
        let now = Instant::now();
        let mut b = self.lock();
        b.1.record(leading_hash(input), now, self.memory);
        b.0.record(manifest.to_vec(), now, self.memory)
    }

    /// The stream is refused: how often it crashed a worker.
    pub fn refused_stream(&self, manifest: &[u8]) -> Option<(CrashKey, u32)> {
        let n = self
            .lock()
            .0
            .count(&manifest.to_vec(), Instant::now(), self.memory);
        (n >= self.refuse_after).then(|| (CrashKey::Manifest(manifest.to_vec()), n))
    }

    /// A segment with these leading bytes is refused, whatever stream it claims.
    pub fn refused_segment(&self, input: &[u8]) -> Option<(CrashKey, u32)> {
        let h = leading_hash(input);
        let n = self.lock().1.count(&h, Instant::now(), self.memory);
        (n >= self.refuse_after).then_some((CrashKey::Leading(h), n))
    }

    pub fn refuse_after(&self) -> u32 {
        self.refuse_after
    }
}

/// Counters the supervisors keep.
#[derive(Debug, Clone)]
pub(crate) struct WorkerMetrics {
    pub restarts: Arc<Counter>,
    pub exits: Arc<Counter>,
}

/// How a worker process ended, for the log.
fn describe(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!(
            "signal {s}{}",
            if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            }
        ),
        _ => status.to_string(),
    }
}

/// Starts one supervisor task per worker. `orch` is the loopback URI the workers dial.
pub(crate) fn spawn_supervisors(
    tasks: &TaskTracker,
    settings: &WorkerSettings,
    orch: &ServiceUri,
    secrets: &[String],
    kill: &Arc<Vec<Notify>>,
    metrics: &WorkerMetrics,
    shutdown: &CancellationToken,
) {
    for (n, secret) in secrets.iter().enumerate() {
        let w = Worker {
            n,
            settings: settings.clone(),
            orch: orch.to_string(),
            secret: secret.clone(),
            kill: Arc::clone(kill),
            metrics: metrics.clone(),
        };
        let stop = shutdown.clone();
        tasks.spawn(async move { supervise(w, stop).await });
    }
}

/// What one supervisor needs.
#[derive(Debug)]
struct Worker {
    n: usize,
    settings: WorkerSettings,
    orch: String,
    secret: String,
    /// `kill[n]` is notified when worker `n` hung on a task.
    kill: Arc<Vec<Notify>>,
    metrics: WorkerMetrics,
}

fn command(s: &WorkerSettings, orch: &str, secret: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(&s.program);
    if let Some(a) = &s.arg0 {
        cmd.arg0(a);
    }
    cmd.args(&s.args);
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("REEL_")) {
            cmd.env_remove(k);
        }
    }
    cmd.envs(s.env.iter().map(|(k, v)| (k, v)))
        .env(WORKER_ORCH_ADDR_ENV, orch)
        .env(WORKER_SECRET_ENV, secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd
}

async fn supervise(w: Worker, shutdown: CancellationToken) {
    let (n, s) = (w.n, &w.settings);
    let never = Notify::new();
    let kill = w.kill.get(n).unwrap_or(&never);
    let mut backoff = s.backoff_min;
    let mut first = true;
    loop {
        if !first {
            w.metrics.restarts.inc();
        }
        first = false;
        let started = Instant::now();
        match command(s, &w.orch, &w.secret).spawn() {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                tracing::info!(target: "node::workers", worker = n, pid, "transcode worker started");
                // Held open while the worker should live: its end is the worker's cue to exit.
                let stdin = child.stdin.take();
                tokio::select! {
                    () = shutdown.cancelled() => {
                        drop(stdin);
                        // Killed, not asked: its work is abandoned with the orchestrator's.
                        let _ = child.kill().await;
                        tracing::info!(target: "node::workers", worker = n, pid, "transcode worker stopped");
                        return;
                    }
                    () = kill.notified() => {
                        drop(stdin);
                        let _ = child.kill().await;
                        w.metrics.exits.inc();
                        tracing::warn!(target: "node::workers", worker = n, pid, "transcode worker hung on a task: killed; restarting");
                    }
                    status = child.wait() => {
                        drop(stdin);
                        w.metrics.exits.inc();
                        match status {
                            Ok(st) => tracing::warn!(target: "node::workers", worker = n, pid, status = %describe(&st), lived_ms = started.elapsed().as_millis() as u64, "transcode worker died; restarting"),
                            Err(e) => tracing::warn!(target: "node::workers", worker = n, pid, error = %e, "waiting for the transcode worker failed; restarting"),
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(target: "node::workers", worker = n, program = %s.program.display(), error = %e, "cannot start a transcode worker");
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            backoff = s.backoff_min;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = backoff.saturating_mul(2).min(s.backoff_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_refused_after_the_set_number_of_crashes() {
        let b = CrashBook::new(2, Duration::from_secs(60));
        assert_eq!(b.record(b"poison", b"seg-1"), 1);
        assert!(b.refused_stream(b"poison").is_none());
        assert!(b.refused_segment(b"seg-1").is_none());
        assert_eq!(b.record(b"poison", b"seg-2"), 2);
        assert_eq!(
            b.refused_stream(b"poison"),
            Some((CrashKey::Manifest(b"poison".to_vec()), 2))
        );
        assert!(b.refused_stream(b"other").is_none());
        // The same bytes twice, under two stream names: refused whatever name comes next.
        b.record(b"a", b"same");
        b.record(b"b", b"same");
        assert!(b.refused_segment(b"same").is_some());
        assert!(b.refused_stream(b"a").is_none());
    }

    #[test]
    fn crashes_are_forgotten_after_the_memory() {
        let b = CrashBook::new(1, Duration::ZERO);
        b.record(b"s", b"x");
        std::thread::sleep(Duration::from_millis(5));
        assert!(b.refused_stream(b"s").is_none());
        // Expired entries are dropped on the next record.
        b.record(b"t", b"y");
        assert_eq!(b.lock().0.counts.len(), 1);
    }

    #[test]
    fn the_book_is_bounded() {
        let mut book = Book::<u32>::default();
        let now = Instant::now();
        for i in 0..(MAX_CRASH_ENTRIES as u32 + 10) {
            book.record(i, now, Duration::from_secs(60));
        }
        assert_eq!(book.counts.len(), MAX_CRASH_ENTRIES);
        assert_eq!(
            book.count(&0, now, Duration::from_secs(60)),
            0,
            "oldest forgotten"
        );
    }
}
