//! Event by event: every stream's arrival, sessions, failovers and end, every outage, every
//! AI and compute job, and the lottery of every interval of tickets.
//!
//! Segments are not events: between two events a session's work is uniform, so its pixels,
//! fee and tickets follow from the elapsed time, and the winning tickets among them are one
//! exact binomial draw (the distribution of drawing each ticket on its own). That keeps a
//! day of 100,000 concurrent streams at a few million events.

use crate::{
    network::Network,
    scenario::Scenario,
    select::{Known, pick},
    work::{Candidates, JobDemand, RoundWork, TicketModel, latency_score, weights},
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Geometric, Poisson};
use reel_types::U256;
use std::{cmp::Reverse, collections::BinaryHeap};

/// Time in microseconds since the start, so that events order exactly.
type Micros = u64;

fn micros(secs: f64) -> Micros {
    (secs.max(0.0) * 1e6) as Micros
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A stream ends (its slot and serial: a slot is reused once its stream is gone).
    End(u32, u32),
    /// A slow session gives up after one segment.
    Slow(u32, u32),
    /// A verification catches a dishonest session.
    Caught(u32, u32),
    OutageStart(u32),
    OutageEnd(u32),
}

#[derive(Debug, Clone, Default)]
struct Stream {
    live: bool,
    /// Bumped when a session ends, so that its pending events are ignored.
    generation: u32,
    serial: u32,
    region: usize,
    current: Option<usize>,
    /// Position in its orchestrator's list of streams.
    slot: usize,
    known: Vec<Known>,
    banned: Vec<usize>,
    session_pixels: u64,
    session_fee: U256,
    session_tickets: u64,
    settled_at: Micros,
}

#[derive(Debug, Clone, Default)]
struct OrchState {
    load: u32,
    down: bool,
    streams: Vec<u32>,
}

/// The state carried from round to round.
#[derive(Debug)]
pub struct EventSim {
    streams: Vec<Stream>,
    free: Vec<u32>,
    orchs: Vec<OrchState>,
    heap: BinaryHeap<Reverse<(Micros, u64, Event)>>,
    seq: u64,
    now: Micros,
    next_arrival: Option<Micros>,
    /// Credit a gateway holds with each orchestrator for jobs (wei already paid in tickets).
    job_credit: Vec<U256>,
    started: bool,
    /// Streams created so far: each stream's serial.
    serials: u32,
}

/// What a round's events need to read.
struct Ctx<'a> {
    s: &'a Scenario,
    net: &'a Network,
    cand: &'a Candidates,
    tickets: &'a TicketModel,
    out: &'a mut RoundWork,
}

impl EventSim {
    pub fn new(net: &Network) -> Self {
        let n = net.orchestrators.len();
        Self {
            streams: Vec::new(),
            free: Vec::new(),
            orchs: vec![OrchState::default(); n],
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0,
            next_arrival: None,
            job_credit: vec![U256::ZERO; n],
            started: false,
            serials: 0,
        }
    }

    fn push(&mut self, at: Micros, e: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, e)));
    }

    /// Runs the round that covers `[start, end)` seconds.
    pub fn run_round(
        &mut self,
        s: &Scenario,
        net: &Network,
        cand: &Candidates,
        tickets: &TicketModel,
        rng: &mut ChaCha8Rng,
        out: &mut RoundWork,
    ) {
        let round = micros(s.protocol.round_seconds() as f64);
        let start = self.now;
        let end = start.saturating_add(round);
        let mut cx = Ctx {
            s,
            net,
            cand,
            tickets,
            out,
        };
        if !self.started {
            self.started = true;
            self.seed_state(&mut cx, rng);
        }
        loop {
            let next_event = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let arrival = self.next_arrival.unwrap_or(Micros::MAX);
            let t = next_event.unwrap_or(Micros::MAX).min(arrival);
            if t >= end {
                break;
            }
            self.now = t;
            if arrival <= next_event.unwrap_or(Micros::MAX) {
                self.arrive(&mut cx, rng);
                continue;
            }
            let Some(Reverse((_, _, e))) = self.heap.pop() else {
                break;
            };
            self.handle(&mut cx, rng, e);
        }
        self.now = end;
        // The round closes: every open session's tickets so far count in it.
        for id in 0..self.streams.len() {
            if self.streams[id].live && self.streams[id].current.is_some() {
                self.settle(&mut cx, rng, id);
            }
        }
        self.jobs(&mut cx, rng);
    }

    /// Streams already running at the start, and every orchestrator's first outage.
    fn seed_state(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng) {
        let s = cx.s;
        let initial = (s.demand.peak_streams * s.demand.daily_curve[0]).round() as u64;
        for _ in 0..initial {
            self.new_stream(cx, rng);
        }
        let rate = s.orchestrators.outages_per_day / 86_400.0;
        if rate > 0.0
            && let Ok(exp) = Exp::new(rate)
        {
            for o in 0..self.orchs.len() {
                let at = micros(exp.sample(rng));
                self.push(at, Event::OutageStart(o as u32));
            }
        }
        self.schedule_arrival(s, rng);
    }

    fn schedule_arrival(&mut self, s: &Scenario, rng: &mut ChaCha8Rng) {
        // A piecewise-constant Poisson process: the rate of the current hour (Little's law:
        // arrivals = concurrent streams / mean duration), redrawn at each hour's edge.
        let mut t = self.now;
        loop {
            let hour_us = 3_600_000_000u64;
            let hour = ((t / hour_us) % 24) as usize;
            let rate = s.demand.peak_streams * s.demand.daily_curve[hour]
                / (s.demand.mean_stream_minutes * 60.0);
            let edge = (t / hour_us + 1) * hour_us;
            if rate > 0.0 {
                let dt = Exp::new(rate)
                    .map(|e| e.sample(rng))
                    .unwrap_or(f64::INFINITY);
                let at = t.saturating_add(micros(dt));
                if at < edge {
                    self.next_arrival = Some(at);
                    return;
                }
            }
            // No arrival this hour: memorylessness lets the draw restart at the edge.
            t = edge;
            if t > self.now.saturating_add(366 * 24 * hour_us) {
                self.next_arrival = None;
                return;
            }
        }
    }

    fn arrive(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng) {
        self.new_stream(cx, rng);
        self.schedule_arrival(cx.s, rng);
    }

    fn new_stream(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng) {
        cx.out.streams_started += 1;
        let region = rng.random_range(0..cx.s.demand.regions.len());
        let id = match self.free.pop() {
            Some(id) => id as usize,
            None => {
                self.streams.push(Stream::default());
                self.streams.len() - 1
            }
        };
        let g = self.streams[id].generation.wrapping_add(1);
        self.streams[id] = Stream {
            live: true,
            generation: g,
            region,
            settled_at: self.now,
            ..Stream::default()
        };
        let mean = cx.s.demand.mean_stream_minutes * 60.0;
        let dur = Exp::new(1.0 / mean).map(|e| e.sample(rng)).unwrap_or(mean);
        // The end is keyed to the stream, not its sessions: an unserved stream leaves its
        // end behind, which must not end the next stream in the same slot.
        self.serials = self.serials.wrapping_add(1);
        self.streams[id].serial = self.serials;
        self.push(
            self.now.saturating_add(micros(dur)),
            Event::End(id as u32, self.serials),
        );
        self.start_session(cx, rng, id);
    }

    fn start_session(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng, id: usize) {
        let st = &self.streams[id];
        let orchs = &self.orchs;
        let net = cx.net;
        let usable = |o: usize| {
            let os = &orchs[o];
            !os.down && os.load < net.orchestrators[o].capacity && !st.banned.contains(&o)
        };
        let known: Vec<Known> = st
            .known
            .iter()
            .filter(|k| usable(k.orchestrator))
            .copied()
            .collect();
        let fresh = cx.cand.streams.draw_where(rng, |o| {
            usable(o) && !st.known.iter().any(|k| k.orchestrator == o)
        });
        let Some(o) = pick(&known, fresh, &weights(cx.s)) else {
            cx.out.unserved += 1;
            self.finish(id);
            return;
        };
        let score = match self.streams[id].known.iter().find(|k| k.orchestrator == o) {
            Some(k) => k.score,
            None => {
                let score = latency_score(cx.s, net, self.streams[id].region, o);
                self.streams[id].known.push(Known {
                    orchestrator: o,
                    score,
                    current: false,
                });
                score
            }
        };
        for k in &mut self.streams[id].known {
            k.current = k.orchestrator == o;
        }
        let os = &mut self.orchs[o];
        os.load += 1;
        os.streams.push(id as u32);
        let slot = os.streams.len() - 1;
        let st = &mut self.streams[id];
        st.current = Some(o);
        st.slot = slot;
        st.session_pixels = 0;
        st.session_fee = U256::ZERO;
        st.session_tickets = 0;
        st.settled_at = self.now;
        let g = st.generation;
        cx.out.orchestrators[o].sessions += 1;
        let seg = micros(cx.s.demand.segment_seconds);
        if score > 1.0 {
            self.push(self.now.saturating_add(seg), Event::Slow(id as u32, g));
        }
        let v = cx.s.gateway.verify_rate;
        if net.orchestrators[o].dishonest && v > 0.0 {
            // Segments until the first checked one: each is checked with probability v.
            let n = Geometric::new(v).map(|d| d.sample(rng)).unwrap_or(0);
            let at = self
                .now
                .saturating_add(seg.saturating_mul(n.saturating_add(1)));
            self.push(at, Event::Caught(id as u32, g));
        }
    }

    /// Books the current session's work since the last settlement.
    fn settle(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng, id: usize) {
        let st = &mut self.streams[id];
        let Some(o) = st.current else { return };
        let secs = (self.now.saturating_sub(st.settled_at)) as f64 / 1e6;
        st.settled_at = self.now;
        if secs <= 0.0 {
            return;
        }
        let px = (secs * cx.s.demand.ladder_pixels_per_second as f64) as u64;
        st.session_pixels = st.session_pixels.saturating_add(px);
        let fee = cx.net.orchestrators[o]
            .price
            .fee_ceil(st.session_pixels)
            .unwrap_or(U256::MAX);
        let delta_fee = fee.saturating_sub(st.session_fee);
        st.session_fee = fee;
        // The gateway keeps its balance with the session covered: ⌈fee / EV⌉ tickets so far.
        let total = cx.tickets.tickets_for(fee);
        let new = total.saturating_sub(st.session_tickets);
        st.session_tickets = total;
        let w = &mut cx.out.orchestrators[o];
        w.pixels = w.pixels.saturating_add(px);
        w.fees = w.fees.saturating_add(delta_fee);
        w.stream_seconds += secs;
        w.add_tickets(new, cx.tickets, rng);
    }

    fn end_session(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng, id: usize) -> Option<usize> {
        self.settle(cx, rng, id);
        let st = &mut self.streams[id];
        let o = st.current.take()?;
        st.generation = st.generation.wrapping_add(1);
        let slot = st.slot;
        let os = &mut self.orchs[o];
        os.load = os.load.saturating_sub(1);
        if slot < os.streams.len() {
            os.streams.swap_remove(slot);
            if let Some(moved) = os.streams.get(slot).copied() {
                self.streams[moved as usize].slot = slot;
            }
        }
        Some(o)
    }

    fn finish(&mut self, id: usize) {
        let st = &mut self.streams[id];
        if st.live {
            st.live = false;
            st.known.clear();
            st.banned.clear();
            self.free.push(id as u32);
        }
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng, e: Event) {
        match e {
            Event::End(id, serial) => {
                let id = id as usize;
                if self.streams[id].live && self.streams[id].serial == serial {
                    self.end_session(cx, rng, id);
                    self.finish(id);
                }
            }
            Event::Slow(id, g) | Event::Caught(id, g) => {
                let id = id as usize;
                let st = &self.streams[id];
                if !st.live || st.generation != g || st.current.is_none() {
                    return;
                }
                let o = self.end_session(cx, rng, id);
                if matches!(e, Event::Caught(..)) {
                    cx.out.caught += 1;
                    if let Some(o) = o {
                        self.streams[id].banned.push(o);
                        self.streams[id].known.retain(|k| k.orchestrator != o);
                    }
                }
                cx.out.failovers += 1;
                self.start_session(cx, rng, id);
            }
            Event::OutageStart(o) => {
                let oi = o as usize;
                self.orchs[oi].down = true;
                // A copy: each move below takes its stream out of the orchestrator's list.
                let hit = self.orchs[oi].streams.clone();
                for sid in hit {
                    let sid = sid as usize;
                    if self.streams[sid].live && self.streams[sid].current == Some(oi) {
                        self.end_session(cx, rng, sid);
                        cx.out.failovers += 1;
                        self.start_session(cx, rng, sid);
                    }
                }
                let back = micros(cx.s.orchestrators.outage_minutes * 60.0);
                self.push(self.now.saturating_add(back.max(1)), Event::OutageEnd(o));
            }
            Event::OutageEnd(o) => {
                self.orchs[o as usize].down = false;
                let rate = cx.s.orchestrators.outages_per_day / 86_400.0;
                if let Ok(exp) = Exp::new(rate) {
                    let at = self.now.saturating_add(micros(exp.sample(rng)).max(1));
                    self.push(at, Event::OutageStart(o));
                }
            }
        }
    }

    /// The round's AI and compute jobs, one by one. Jobs are short next to a round, so they
    /// are not placed in time; each goes to an orchestrator drawn by the same weights.
    fn jobs(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng) {
        let hours = cx.s.round_hours();
        for d in crate::work::job_demands(cx.s) {
            let mean = d.jobs_per_hour * hours;
            let n = if mean > 0.0 {
                Poisson::new(mean)
                    .map(|p| p.sample(rng) as u64)
                    .unwrap_or(0)
            } else {
                0
            };
            for _ in 0..n {
                let Some(o) = cx.cand.jobs.draw_where(rng, |o| !self.orchs[o].down) else {
                    continue;
                };
                self.job(cx, rng, &d, o);
            }
        }
    }

    fn job(&mut self, cx: &mut Ctx<'_>, rng: &mut ChaCha8Rng, d: &JobDemand, o: usize) {
        let fee = d.fee(&cx.net.orchestrators[o]);
        // Paid from the credit left by earlier jobs first, then in whole tickets.
        let credit = self.job_credit[o];
        let owed = fee.saturating_sub(credit);
        let n = cx.tickets.tickets_for(owed);
        let paid = U256::from(n).saturating_mul(cx.tickets.ev.base_units());
        self.job_credit[o] = credit.saturating_add(paid).saturating_sub(fee);
        let w = &mut cx.out.orchestrators[o];
        w.jobs += 1;
        w.fees = w.fees.saturating_add(fee);
        w.job_fees = w.job_fees.saturating_add(fee);
        w.add_tickets(n, cx.tickets, rng);
    }
}
