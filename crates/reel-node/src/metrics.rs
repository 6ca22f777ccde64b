//! Prometheus text exposition (format 0.0.4) without a metrics library: counters, gauges,
//! histograms and labelled counters registered once per process and rendered at
//! `GET /metrics`. Names are go-livepeer's (`livepeer_` prefix) where it has the same metric,
//! so operators' dashboards keep working.
//!
//! Values of money are exported as float wei: a metric is an observation, never a balance
//! anything is computed from.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A monotonically increasing float (wei values, seconds).
#[derive(Debug, Default)]
pub struct FloatCounter(AtomicU64);

impl FloatCounter {
    pub fn add(&self, v: f64) {
        if !(v.is_finite() && v > 0.0) {
            return;
        }
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A distribution over fixed buckets (upper bounds, ascending).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum: FloatCounter,
    count: AtomicU64,
}

/// Buckets for latencies in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0,
];

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum: FloatCounter::default(),
            count: AtomicU64::new(0),
        }
    }
    pub fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum.add(v);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
    pub fn sum(&self) -> f64 {
        self.sum.get()
    }
}

/// A counter per label value set.
#[derive(Debug)]
pub struct CounterVec {
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

/// Most distinct label sets kept per metric; beyond it new ones are folded into "other"
/// so a hostile peer cannot grow memory through label values.
const MAX_LABEL_SETS: usize = 1000;

impl CounterVec {
    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }
    pub fn add(&self, values: &[&str], n: u64) {
        let mut map = self
            .values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        if !map.contains_key(&key) && map.len() >= MAX_LABEL_SETS {
            key = values.iter().map(|_| "other".to_owned()).collect();
        }
        *map.entry(key).or_insert(0) += n;
    }
    pub fn get(&self, values: &[&str]) -> u64 {
        let key: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        self.values
            .lock()
            .map(|m| m.get(&key).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
enum Metric {
    Counter(Arc<Counter>),
    FloatCounter(Arc<FloatCounter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
    CounterVec(Arc<CounterVec>),
}

#[derive(Debug, Clone)]
struct Entry {
    name: &'static str,
    help: &'static str,
    metric: Metric,
}

/// Every metric of one process, in registration order.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<Vec<Entry>>,
}

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn push(&self, name: &'static str, help: &'static str, metric: Metric) {
        if let Ok(mut e) = self.entries.lock() {
            e.push(Entry { name, help, metric });
        }
    }

    pub fn counter(&self, name: &'static str, help: &'static str) -> Arc<Counter> {
        let c = Arc::new(Counter::default());
        self.push(name, help, Metric::Counter(Arc::clone(&c)));
        c
    }

    pub fn float_counter(&self, name: &'static str, help: &'static str) -> Arc<FloatCounter> {
        let c = Arc::new(FloatCounter::default());
        self.push(name, help, Metric::FloatCounter(Arc::clone(&c)));
        c
    }

    pub fn gauge(&self, name: &'static str, help: &'static str) -> Arc<Gauge> {
        let g = Arc::new(Gauge::default());
        self.push(name, help, Metric::Gauge(Arc::clone(&g)));
        g
    }

    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        bounds: &'static [f64],
    ) -> Arc<Histogram> {
        let h = Arc::new(Histogram::new(bounds));
        self.push(name, help, Metric::Histogram(Arc::clone(&h)));
        h
    }

    pub fn counter_vec(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<CounterVec> {
        let c = Arc::new(CounterVec {
            labels,
            values: Mutex::default(),
        });
        self.push(name, help, Metric::CounterVec(Arc::clone(&c)));
        c
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let entries = self.entries.lock().map(|e| e.clone()).unwrap_or_default();
        let mut out = String::with_capacity(entries.len() * 128);
        for e in entries {
            let kind = match e.metric {
                Metric::Counter(_) | Metric::FloatCounter(_) | Metric::CounterVec(_) => "counter",
                Metric::Gauge(_) => "gauge",
                Metric::Histogram(_) => "histogram",
            };
            let _ = writeln!(out, "# HELP {} {}", e.name, e.help);
            let _ = writeln!(out, "# TYPE {} {kind}", e.name);
            match &e.metric {
                Metric::Counter(c) => {
                    let _ = writeln!(out, "{} {}", e.name, c.get());
                }
                Metric::FloatCounter(c) => {
                    let _ = writeln!(out, "{} {}", e.name, c.get());
                }
                Metric::Gauge(g) => {
                    let _ = writeln!(out, "{} {}", e.name, g.get());
                }
                Metric::Histogram(h) => {
                    for (b, c) in h.bounds.iter().zip(&h.counts) {
                        let _ = writeln!(
                            out,
                            "{}_bucket{{le=\"{b}\"}} {}",
                            e.name,
                            c.load(Ordering::Relaxed)
                        );
                    }
                    let _ = writeln!(out, "{}_bucket{{le=\"+Inf\"}} {}", e.name, h.count());
                    let _ = writeln!(out, "{}_sum {}", e.name, h.sum());
                    let _ = writeln!(out, "{}_count {}", e.name, h.count());
                }
                Metric::CounterVec(c) => {
                    let values = c.values.lock().map(|m| m.clone()).unwrap_or_default();
                    for (vals, n) in values {
                        let labels: Vec<String> = c
                            .labels
                            .iter()
                            .zip(&vals)
                            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                            .collect();
                        let _ = writeln!(out, "{}{{{}}} {n}", e.name, labels.join(","));
                    }
                }
            }
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_text_format() {
        let r = Registry::new();
        let c = r.counter("livepeer_segment_source_appeared_total", "Segments in");
        let h = r.histogram(
            "livepeer_transcode_time_seconds",
            "Transcode time",
            &[1.0, 2.0],
        );
        let v = r.counter_vec("livepeer_x", "X", &["orch"]);
        let f = r.float_counter("livepeer_ticket_value_sent", "Wei sent");
        c.add(3);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(9.0);
        v.inc(&["a\"b"]);
        f.add(2.5);
        let text = r.render();
        assert!(text.contains("# TYPE livepeer_segment_source_appeared_total counter\nlivepeer_segment_source_appeared_total 3\n"));
        assert!(text.contains("livepeer_transcode_time_seconds_bucket{le=\"1\"} 1\n"));
        assert!(text.contains("livepeer_transcode_time_seconds_bucket{le=\"2\"} 2\n"));
        assert!(text.contains("livepeer_transcode_time_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("livepeer_transcode_time_seconds_count 3\n"));
        assert!(text.contains("livepeer_x{orch=\"a\\\"b\"} 1\n"));
        assert!(text.contains("livepeer_ticket_value_sent 2.5\n"));
    }

    #[test]
    fn label_sets_are_bounded() {
        let r = Registry::new();
        let v = r.counter_vec("m", "m", &["k"]);
        for i in 0..(MAX_LABEL_SETS + 50) {
            v.inc(&[&i.to_string()]);
        }
        assert_eq!(v.get(&["other"]), 50);
    }
}
