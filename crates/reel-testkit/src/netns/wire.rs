//! The wire between the hosts: every host's only interface is a TUN device whose packets
//! this process reads and delivers to the host they are addressed to, after the delay,
//! loss, rate limit or cut that the link between the two is set to. It does for the kit
//! what `tc netem` does on a kernel that has it (this machine's has not), with a seeded
//! random source so that a test's loss pattern repeats. The hosts' kernels do the rest:
//! TCP sees real lost and late packets and retransmits them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::rng::SplitMix64;

/// What one direction of a link does to the packets that cross it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Carried at all: a cut link drops everything, as a pulled cable or a partition.
    pub up: bool,
    /// One-way delay (a round trip over a link both ways costs twice this).
    pub delay: Duration,
    /// Share of packets lost, in parts per million.
    pub loss_ppm: u32,
    /// Bits per second the link carries; `None` is unlimited. Packets queue behind each
    /// other, and one that would wait more than [`QUEUE_LIMIT`] is dropped.
    pub rate_bps: Option<u64>,
}

/// The longest a packet waits behind others on a rate-limited link before it is dropped
/// (a router's queue).
pub const QUEUE_LIMIT: Duration = Duration::from_millis(200);

impl Link {
    /// A perfect link: up, no delay, no loss, no limit.
    pub const CLEAN: Self = Self {
        up: true,
        delay: Duration::ZERO,
        loss_ppm: 0,
        rate_bps: None,
    };
    /// A cut link.
    pub const CUT: Self = Self {
        up: false,
        ..Self::CLEAN
    };

    /// A link whose round trip (both directions set alike) is `rtt` and that loses
    /// `loss_percent` of its packets each way.
    pub fn wan(rtt: Duration, loss_percent: u32) -> Self {
        Self {
            delay: rtt / 2,
            loss_ppm: loss_percent.saturating_mul(10_000),
            ..Self::CLEAN
        }
    }
}

impl Default for Link {
    fn default() -> Self {
        Self::CLEAN
    }
}

/// What happened to the packets on one direction of a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Delivered.
    pub passed: u64,
    /// Dropped by the loss rate.
    pub lost: u64,
    /// Dropped because the link was cut.
    pub cut: u64,
    /// Dropped because the rate-limited queue was full.
    pub queue_full: u64,
    /// Bytes delivered.
    pub bytes: u64,
}

struct Pending {
    due: Instant,
    seq: u64,
    to: usize,
    packet: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

struct State {
    default: Link,
    links: HashMap<(usize, usize), Link>,
    stats: HashMap<(usize, usize), LinkStats>,
    busy_until: HashMap<(usize, usize), Instant>,
    queue: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    rng: SplitMix64,
}

struct Shared {
    taps: Vec<File>,
    addrs: Vec<Ipv4Addr>,
    state: Mutex<State>,
    ready: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data: a panic elsewhere leaves nothing half-written that
        // matters more than stopping the test with its own message.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running wire. Dropping it stops its threads; the hosts' interfaces then carry
/// nothing.
pub(crate) struct Wire {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("hosts", &self.shared.addrs)
            .finish_non_exhaustive()
    }
}

impl Wire {
    /// Starts carrying packets between `taps`, the TUN devices of hosts with addresses
    /// `addrs` (in the same order).
    pub(crate) fn start(taps: Vec<File>, addrs: Vec<Ipv4Addr>, seed: u64) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            taps,
            addrs,
            state: Mutex::new(State {
                default: Link::CLEAN,
                links: HashMap::new(),
                stats: HashMap::new(),
                busy_until: HashMap::new(),
                queue: BinaryHeap::new(),
                seq: 0,
                rng: SplitMix64(seed),
            }),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let reader = {
            let s = shared.clone();
            std::thread::Builder::new()
                .name("wire-in".into())
                .spawn(move || read_loop(&s))?
        };
        let writer = {
            let s = shared.clone();
            std::thread::Builder::new()
                .name("wire-out".into())
                .spawn(move || write_loop(&s))?
        };
        Ok(Self {
            shared,
            threads: vec![reader, writer],
        })
    }

    pub(crate) fn set(&self, from: usize, to: usize, link: Link) {
        self.shared.lock().links.insert((from, to), link);
    }

    pub(crate) fn set_default(&self, link: Link) {
        let mut s = self.shared.lock();
        s.default = link;
        s.links.clear();
    }

    pub(crate) fn get(&self, from: usize, to: usize) -> Link {
        let s = self.shared.lock();
        s.links.get(&(from, to)).copied().unwrap_or(s.default)
    }

    pub(crate) fn stats(&self, from: usize, to: usize) -> LinkStats {
        self.shared
            .lock()
            .stats
            .get(&(from, to))
            .copied()
            .unwrap_or_default()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The IPv4 destination of a packet; anything else (IPv6 router solicitations) is not
/// carried.
fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    Some(Ipv4Addr::from(d))
}

fn read_loop(s: &Shared) {
    let mut buf = vec![0u8; 65_536];
    while !s.stop.load(Ordering::SeqCst) {
        let mut fds: Vec<PollFd<'_>> = s
            .taps
            .iter()
            .map(|t| PollFd::new(t.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, PollTimeout::from(50u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let readable: Vec<usize> = fds
            .iter()
            .enumerate()
            .filter(|(_, f)| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .map(|(i, _)| i)
            .collect();
        drop(fds);
        for from in readable {
            let Some(mut tap) = s.taps.get(from) else {
                continue;
            };
            let Ok(n) = tap.read(&mut buf) else {
                continue;
            };
            let packet = buf.get(..n).unwrap_or_default();
            let Some(to) = destination(packet).and_then(|d| s.addrs.iter().position(|a| *a == d))
            else {
                continue;
            };
            admit(s, from, to, packet.to_vec());
        }
    }
}

/// Decides a packet's fate on the link `from → to` and queues it for delivery.
fn admit(s: &Shared, from: usize, to: usize, packet: Vec<u8>) {
    let now = Instant::now();
    let mut st = s.lock();
    let link = st.links.get(&(from, to)).copied().unwrap_or(st.default);
    let lost = link.loss_ppm > 0 && st.rng.below(1_000_000) < u64::from(link.loss_ppm);
    let stats = st.stats.entry((from, to)).or_default();
    if !link.up {
        stats.cut = stats.cut.saturating_add(1);
        return;
    }
    if lost {
        stats.lost = stats.lost.saturating_add(1);
        return;
    }
    let mut depart = now;
    if let Some(rate) = link.rate_bps.filter(|r| *r > 0) {
        let bits = u64::try_from(packet.len())
            .unwrap_or(u64::MAX)
            .saturating_mul(8);
        let tx = Duration::from_nanos(bits.saturating_mul(1_000_000_000) / rate);
        let start = st
            .busy_until
            .get(&(from, to))
            .copied()
            .unwrap_or(now)
            .max(now);
        if start.duration_since(now) > QUEUE_LIMIT {
            let stats = st.stats.entry((from, to)).or_default();
            stats.queue_full = stats.queue_full.saturating_add(1);
            return;
        }
        depart = start + tx;
        st.busy_until.insert((from, to), depart);
    }
    let stats = st.stats.entry((from, to)).or_default();
    stats.passed = stats.passed.saturating_add(1);
    stats.bytes = stats
        .bytes
        .saturating_add(u64::try_from(packet.len()).unwrap_or(u64::MAX));
    st.seq = st.seq.wrapping_add(1);
    let seq = st.seq;
    st.queue.push(Reverse(Pending {
        due: depart + link.delay,
        seq,
        to,
        packet,
    }));
    drop(st);
    s.ready.notify_one();
}

fn write_loop(s: &Shared) {
    let mut st = s.lock();
    loop {
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        while st.queue.peek().is_some_and(|Reverse(p)| p.due <= now) {
            if let Some(Reverse(p)) = st.queue.pop() {
                due.push(p);
            }
        }
        if !due.is_empty() {
            drop(st);
            for p in due {
                if let Some(mut tap) = s.taps.get(p.to) {
                    // A host whose interface is gone or full loses the packet, as a wire
                    // into a dead port would.
                    let _ = tap.write(&p.packet);
                }
            }
            st = s.lock();
            continue;
        }
        let wait = st
            .queue
            .peek()
            .map_or(Duration::from_millis(50), |Reverse(p)| {
                p.due.saturating_duration_since(now)
            });
        st = s
            .ready
            .wait_timeout(st, wait)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ipv4_packets_have_a_destination() {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&[10, 77, 0, 3]);
        assert_eq!(destination(&p), Some(Ipv4Addr::new(10, 77, 0, 3)));
        p[0] = 0x60;
        assert_eq!(destination(&p), None);
        assert_eq!(destination(&[0x45, 0, 0]), None);
        assert_eq!(destination(&[]), None);
    }

    #[test]
    fn a_wan_link_halves_the_round_trip_each_way() {
        let l = Link::wan(Duration::from_millis(100), 1);
        assert_eq!(l.delay, Duration::from_millis(50));
        assert_eq!(l.loss_ppm, 10_000);
        assert!(l.up);
    }
}
