//! Hosts with their own addresses, in network namespaces the test makes, joined by a wire
//! whose links can be delayed, made lossy, rate limited or cut: the same roles a test runs
//! on loopback, run as if on separate machines.
//!
//! Each [`Host`] is a namespace with loopback and one interface, `wire0`, at
//! `10.77.0.N/24`. Code that should run "on" a host runs on the host's own async runtime
//! ([`Host::run`], [`Host::handle`]), whose threads live in the namespace, so every socket
//! it opens (listening or connecting) and every process it starts belongs to the host.
//! The links are set with [`Net::link`], [`Net::set`] and [`Net::isolate`]; see [`Link`].
//!
//! Namespaces need root and iproute2: [`Net::unavailable`] says why they cannot be made,
//! so that a test can say it skips instead of failing. A `Net` removes its namespaces when
//! dropped; one left by a process that was killed is removed by the next `Net` made.

mod tun;
mod wire;

use std::fs::File;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::runtime::{Handle, Runtime};
pub use wire::{Link, LinkStats, QUEUE_LIMIT};

const NETNS_DIR: &str = "/run/netns";
const PREFIX: &str = "reel-";
const TUN_NAME: &str = "wire0";

/// What went wrong making the hosts.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespaces are not available here: {0}")]
    Unavailable(String),
    #[error("`ip {args}` failed: {stderr}")]
    Ip { args: String, stderr: String },
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no host named {0:?}")]
    NoHost(String),
    #[error("{0} hosts: at most 250 fit the wire's /24")]
    TooMany(usize),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetnsError {
    let what = what.into();
    move |source| NetnsError::Io { what, source }
}

/// One host: a namespace, its address and the runtime whose threads live in it.
pub struct Host {
    name: String,
    netns: String,
    addr: Ipv4Addr,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("netns", &self.netns)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// The name the test gave it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its address on the wire.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// `addr:port` on this host (port 0 asks for any free one when bound).
    pub fn socket(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.addr, port))
    }

    /// The namespace's name, for `ip netns exec`.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The host's runtime: tasks spawned on it open their sockets on this host.
    pub fn handle(&self) -> Handle {
        match &self.runtime {
            Some(r) => r.handle().clone(),
            // Only `Net::drop` takes the runtime, and a host is not reachable after it.
            None => unreachable!("a host's runtime lives as long as its Net"),
        }
    }

    /// Runs `fut` on this host and waits for its output; a panic in it is the caller's.
    pub async fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.handle().spawn(fut).await {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the task on host {} was cancelled: {e}", self.name),
        }
    }

    /// A command that runs `program` on this host (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns, program]);
        c
    }
}

/// The hosts and the wire between them.
#[derive(Debug)]
pub struct Net {
    hosts: Vec<Host>,
    // Declared after the hosts: dropped after their runtimes stop, so nothing is left
    // writing to a wire that is gone.
    wire: wire::Wire,
}

impl Net {
    /// Why namespaces cannot be made here, or `None` when they can.
    pub fn unavailable() -> Option<String> {
        if !nix::unistd::geteuid().is_root() {
            return Some("not running as root".into());
        }
        if !std::path::Path::new("/dev/net/tun").exists() {
            return Some("no /dev/net/tun".into());
        }
        match Command::new("ip").arg("-V").output() {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!(
                "`ip -V` failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Some(format!("no `ip` command (iproute2): {e}")),
        }
    }

    /// Makes one host per name, at 10.77.0.1, .2, … in this order, all links clean. `seed`
    /// fixes which packets a lossy link drops.
    pub fn new(names: &[&str], seed: u64) -> Result<Self, NetnsError> {
        if let Some(why) = Self::unavailable() {
            return Err(NetnsError::Unavailable(why));
        }
        if names.len() > 250 {
            return Err(NetnsError::TooMany(names.len()));
        }
        sweep_stale();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let net_id = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let mut hosts = Vec::new();
        let mut taps = Vec::new();
        let mut addrs = Vec::new();
        // On an error part way, the hosts made so far are removed by `Partial`'s drop.
        let mut partial = Partial(Vec::new());
        for (i, name) in names.iter().enumerate() {
            let netns = format!("{PREFIX}{pid}-{net_id}-{i}");
            ip(&["netns", "add", &netns])?;
            partial.0.push(netns.clone());
            ip(&["-n", &netns, "link", "set", "lo", "up"])?;
            let path = PathBuf::from(NETNS_DIR).join(&netns);
            let tap = tun::open_in(&path, TUN_NAME)
                .map_err(io(format!("opening a TUN device in namespace {netns}")))?;
            let octet =
                u8::try_from(i.saturating_add(1)).map_err(|_| NetnsError::TooMany(names.len()))?;
            let addr = Ipv4Addr::new(10, 77, 0, octet);
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                TUN_NAME,
            ])?;
            ip(&["-n", &netns, "link", "set", TUN_NAME, "up"])?;
            let ns_file =
                Arc::new(File::open(&path).map_err(io(format!("opening {}", path.display())))?);
            let runtime = host_runtime(name, ns_file)?;
            hosts.push(Host {
                name: (*name).to_owned(),
                netns,
                addr,
                runtime: Some(runtime),
            });
            taps.push(tap);
            addrs.push(addr);
        }
        let wire = wire::Wire::start(taps, addrs, seed).map_err(io("starting the wire"))?;
        partial.0.clear();
        Ok(Self { hosts, wire })
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Result<&Host, NetnsError> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| NetnsError::NoHost(name.to_owned()))
    }

    /// Every host, in the order made.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    fn index(&self, name: &str) -> Result<usize, NetnsError> {
        self.hosts
            .iter()
            .position(|h| h.name == name)
            .ok_or_else(|| NetnsError::NoHost(name.to_owned()))
    }

    /// Sets the link between `a` and `b`, both directions.
    pub fn link(&self, a: &str, b: &str, link: Link) -> Result<(), NetnsError> {
        let (a, b) = (self.index(a)?, self.index(b)?);
        self.wire.set(a, b, link);
        self.wire.set(b, a, link);
        Ok(())
    }

    /// Sets one direction of the link from `from` to `to`.
    pub fn set(&self, from: &str, to: &str, link: Link) -> Result<(), NetnsError> {
        self.wire.set(self.index(from)?, self.index(to)?, link);
        Ok(())
    }

    /// Sets every link, both directions, forgetting any set one by one.
    pub fn all(&self, link: Link) {
        self.wire.set_default(link);
    }

    /// Cuts (`up` false) or restores every link of `host` to its default, both ways.
    pub fn isolate(&self, host: &str, cut: bool) -> Result<(), NetnsError> {
        let h = self.index(host)?;
        for o in (0..self.hosts.len()).filter(|o| *o != h) {
            for (from, to) in [(h, o), (o, h)] {
                let mut l = self.wire.get(from, to);
                l.up = !cut;
                self.wire.set(from, to, l);
            }
        }
        Ok(())
    }

    /// What the link from `from` to `to` is set to.
    pub fn get(&self, from: &str, to: &str) -> Result<Link, NetnsError> {
        Ok(self.wire.get(self.index(from)?, self.index(to)?))
    }

    /// What the link from `from` to `to` did to the packets sent over it so far.
    pub fn stats(&self, from: &str, to: &str) -> Result<LinkStats, NetnsError> {
        Ok(self.wire.stats(self.index(from)?, self.index(to)?))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(r) = h.runtime.take() {
                // Not `drop`: a runtime dropped inside another's task would panic.
                r.shutdown_background();
            }
        }
        for h in &self.hosts {
            let _ = ip(&["netns", "del", &h.netns]);
        }
    }
}

/// Namespaces made before a failure part way through [`Net::new`].
struct Partial(Vec<String>);

impl Drop for Partial {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = ip(&["netns", "del", n]);
        }
    }
}

fn host_runtime(name: &str, ns: Arc<File>) -> Result<Runtime, NetnsError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name(format!("host-{name}"))
        .on_thread_start(move || {
            if let Err(e) = tun::enter(&ns) {
                // A thread left in the test's own namespace would open sockets in the wrong
                // place and make the test wrong without failing it.
                eprintln!("a host thread could not enter its network namespace: {e}");
                std::process::abort();
            }
        })
        .build()
        .map_err(io(format!("starting host {name}'s runtime")))
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(io(format!("running ip {}", args.join(" "))))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Ip {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Removes namespaces left by kit processes that no longer run (killed before their
/// `Net` was dropped).
fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}
