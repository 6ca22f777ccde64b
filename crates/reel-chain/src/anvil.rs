//! Starting and stopping a local anvil chain.
//!
//! The binary comes from npm (`@foundry-rs/anvil` installs the real executable under
//! `node_modules/@foundry-rs/anvil-linux-<arch>/bin/`). We run that executable directly
//! rather than npm's `node_modules/.bin/anvil` node shim: signals sent to the shim would not
//! reach anvil, so it could neither dump its state on shutdown nor be killed on drop.

use crate::{ChainError, connect};
use alloy::providers::Provider;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};
use tokio::process::{Child, Command};
use tracing::{debug, info, warn};

/// The chain id anvil uses unless told otherwise.
pub const DEFAULT_CHAIN_ID: u64 = 31337;

/// How to start anvil.
#[derive(Debug, Clone)]
pub struct AnvilConfig {
    /// The address anvil listens on: loopback, unless the chain runs on a host of its own
    /// (a test's network namespace) that others reach by its address.
    pub host: IpAddr,
    /// Port; `None` picks a free one.
    pub port: Option<u16>,
    /// The flag a user changes to pick another port, named in the "port in use" error.
    pub port_flag: &'static str,
    pub chain_id: u64,
    /// Loaded at start if it exists, dumped on graceful shutdown and every `state_interval`.
    pub state_file: Option<PathBuf>,
    pub state_interval: Option<Duration>,
    /// Where anvil's stdout/stderr go; `None` keeps a temporary log, deleted on drop.
    pub log_file: Option<PathBuf>,
    /// The anvil executable; `None` searches for it (see [`find_anvil`]).
    pub binary: Option<PathBuf>,
    pub ready_timeout: Duration,
    /// Historical states anvil may write to disk once its in-memory history (the last few
    /// hundred blocks) is full. Left to anvil, a chain mining a block a second writes
    /// gigabytes an hour under `~/.foundry/anvil/tmp`, and leaves them behind when it is
    /// killed; `Some(0)` keeps only the in-memory history (calls at older blocks fail,
    /// logs and receipts stay). `None` leaves anvil's default.
    pub max_persisted_states: Option<usize>,
}

impl Default for AnvilConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: None,
            port_flag: "--port",
            chain_id: DEFAULT_CHAIN_ID,
            state_file: None,
            state_interval: None,
            log_file: None,
            binary: None,
            ready_timeout: Duration::from_secs(20),
            max_persisted_states: Some(0),
        }
    }
}

/// A running anvil. Dropping it kills the process at once; call [`Anvil::shutdown`] to let
/// it write its state file first.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    addr: SocketAddr,
    chain_id: u64,
    log: PathBuf,
    temp_log: bool,
}

impl Anvil {
    /// Starts anvil and waits until it answers JSON-RPC.
    pub async fn spawn(config: AnvilConfig) -> Result<Self, ChainError> {
        let binary = match config.binary.clone() {
            Some(b) => b,
            None => find_anvil()?,
        };
        let port = pick_port(config.host, config.port, config.port_flag)?;
        let addr = SocketAddr::from((config.host, port));
        let (log, temp_log) = match &config.log_file {
            Some(p) => (p.clone(), false),
            None => (
                std::env::temp_dir().join(format!("reel-anvil-{}-{port}.log", std::process::id())),
                true,
            ),
        };
        let log_out = std::fs::File::create(&log).map_err(|source| ChainError::Io {
            what: format!("creating {}", log.display()),
            source,
        })?;
        let log_err = log_out.try_clone().map_err(|source| ChainError::Io {
            what: format!("opening {}", log.display()),
            source,
        })?;

        let mut cmd = Command::new(&binary);
        cmd.arg("--host")
            .arg(config.host.to_string())
            .arg("--port")
            .arg(port.to_string())
            .arg("--chain-id")
            .arg(config.chain_id.to_string());
        if let Some(n) = config.max_persisted_states {
            cmd.arg("--max-persisted-states").arg(n.to_string());
        }
        if let Some(state) = &config.state_file {
            cmd.arg("--state").arg(state);
            if let Some(every) = config.state_interval {
                cmd.arg("--state-interval")
                    .arg(every.as_secs().max(1).to_string());
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log_out))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        debug!(target: "chain::anvil", binary = %binary.display(), %addr, "starting anvil");
        let child = cmd.spawn().map_err(|source| ChainError::AnvilSpawn {
            binary: binary.clone(),
            source,
        })?;

        let mut anvil = Self {
            child,
            addr,
            chain_id: config.chain_id,
            log,
            temp_log,
        };
        anvil.wait_ready(config.ready_timeout).await?;
        info!(target: "chain::anvil", endpoint = %anvil.endpoint(), "anvil ready");
        Ok(anvil)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), ChainError> {
        let provider = connect(&self.endpoint())?;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ChainError::AnvilExited {
                    status: status.to_string(),
                    log_tail: tail(&self.log, 20),
                });
            }
            if provider.get_chain_id().await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(ChainError::AnvilTimeout {
                    addr: self.addr,
                    secs: timeout.as_secs(),
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `http://<host>:<port>`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn log_file(&self) -> &Path {
        &self.log
    }

    /// Waits until anvil exits by itself and says how it ended.
    pub async fn wait_exit(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => format!("{status}; last output:\n{}", tail(&self.log, 20)),
            Err(e) => format!("unknown ({e})"),
        }
    }

    /// Kills anvil (SIGKILL: no state is written beyond its last periodic dump) and waits
    /// for it to be gone: a chain host that crashed.
    pub async fn kill(mut self) -> Result<(), ChainError> {
        self.child.kill().await.map_err(|source| ChainError::Io {
            what: "killing anvil".into(),
            source,
        })
    }

    /// Asks anvil to stop (SIGTERM), which makes it write its state file, and waits for it;
    /// kills it if it has not exited after `grace`.
    pub async fn shutdown(mut self, grace: Duration) -> Result<(), ChainError> {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM) {
                debug!(target: "chain::anvil", error = %e, "anvil already gone");
            }
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => {
                debug!(target: "chain::anvil", %status, "anvil stopped");
                Ok(())
            }
            Ok(Err(source)) => Err(ChainError::Io {
                what: "waiting for anvil".into(),
                source,
            }),
            Err(_) => {
                warn!(target: "chain::anvil", "anvil ignored SIGTERM for {grace:?}; killing it");
                self.child.kill().await.map_err(|source| ChainError::Io {
                    what: "killing anvil".into(),
                    source,
                })
            }
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // kill_on_drop on the child does the killing; only our temporary log is ours to clean.
        if self.temp_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Makes the kernel kill anvil when the thread that started it exits, so an anvil never
/// outlives a reel that was killed (SIGKILL runs no destructors). The thread that spawns is
/// an async-runtime worker or the main thread, both of which live as long as the runtime.
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2),
    // which is async-signal-safe; it allocates nothing and takes no locks.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// A free port when `wanted` is `None`; otherwise checks `wanted` is free.
fn pick_port(host: IpAddr, wanted: Option<u16>, flag: &'static str) -> Result<u16, ChainError> {
    let port = wanted.unwrap_or(0);
    match TcpListener::bind((host, port)) {
        Ok(l) => l
            .local_addr()
            .map(|a| a.port())
            .map_err(|source| ChainError::Io {
                what: "reading a free port".into(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Err(ChainError::PortInUse { port, flag })
        }
        Err(source) => Err(ChainError::Io {
            what: format!("binding {}", SocketAddr::from((host, port))),
            source,
        }),
    }
}

/// The last `n` lines of a log file, for error messages.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .rev()
        .take(n)
        .rev()
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

fn arch_dir() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "anvil-linux-arm64"
    } else {
        "anvil-linux-amd64"
    }
}

/// Finds the anvil executable: `REEL_ANVIL`, then `node_modules` in the current directory,
/// the executable's directory, the checkout reel was built from, or any of their parents,
/// then `PATH`.
pub fn find_anvil() -> Result<PathBuf, ChainError> {
    if let Some(p) = std::env::var_os("REEL_ANVIL") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        return Err(ChainError::AnvilNotFound {
            searched: format!("REEL_ANVIL={}", p.display()),
        });
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        roots.push(dir);
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    search_anvil(&roots, std::env::var_os("PATH").as_deref())
}

/// The search behind [`find_anvil`], over explicit roots and a `PATH` value.
pub fn search_anvil(
    roots: &[PathBuf],
    path_var: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, ChainError> {
    let mut searched = Vec::new();
    for root in roots {
        for dir in root.ancestors() {
            let modules = dir.join("node_modules");
            let candidate = modules
                .join("@foundry-rs")
                .join(arch_dir())
                .join("bin")
                .join("anvil");
            if candidate.is_file() {
                return Ok(candidate);
            }
            if modules.is_dir() {
                searched.push(modules.display().to_string());
            }
        }
    }
    for dir in path_var.map(std::env::split_paths).into_iter().flatten() {
        let candidate = dir.join("anvil");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    searched.push("node_modules in the working directory and its parents".into());
    searched.push("$PATH".into());
    searched.dedup();
    Err(ChainError::AnvilNotFound {
        searched: searched.join(", "),
    })
}
