//! A node's background tasks, in one place: each has a name, stops at any await when the
//! node shuts down, and reports how it is doing.
//!
//! [`Tasks::spawn`] runs a task until it ends or the node's shutdown token is cancelled. A
//! task that panics is logged with its name, recorded as the reason the node stopped
//! ([`Tasks::stop_reason`]) and shuts the node down cleanly instead of leaving it half alive.
//! [`Tasks::spawn_periodic`] runs one step every period, each step raced against the
//! shutdown, and records every outcome in [`TaskHealth`].
//!
//! [`TaskHealth`] is what `/status` (`tasks`) and `/healthz` show: per task its runs,
//! failures in a row and last error, plus conditions a task raises itself (the keeper's
//! "reward() not called by the middle of the round"). A task is unhealthy after
//! [`FAILURES_BEFORE_RED`] failures in a row or while it has a condition; the metrics
//! `reel_task_failures_total{task}` and `reel_tasks_unhealthy` follow.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::metrics::{CounterVec, Gauge, Registry};

/// Failed runs in a row after which a task counts as unhealthy.
pub const FAILURES_BEFORE_RED: u32 = 3;

/// What one task has done.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    pub runs: u64,
    pub failures: u64,
    pub failures_in_a_row: u32,
    pub last_error: Option<String>,
    /// Unix seconds of the last successful run.
    pub last_ok: Option<u64>,
    /// A condition the task raised about itself (why it is red), if any.
    pub condition: Option<String>,
}

impl TaskRecord {
    /// Why this task is unhealthy, if it is.
    pub fn problem(&self) -> Option<String> {
        if let Some(c) = &self.condition {
            return Some(c.clone());
        }
        (self.failures_in_a_row >= FAILURES_BEFORE_RED).then(|| {
            format!(
                "failed {} times in a row: {}",
                self.failures_in_a_row,
                self.last_error.as_deref().unwrap_or("no error recorded")
            )
        })
    }
}

#[derive(Debug)]
struct HealthMetrics {
    failures: Arc<CounterVec>,
    unhealthy: Arc<Gauge>,
}

/// The tasks' records; shared by the tasks and the status pages.
#[derive(Debug, Default)]
pub struct TaskHealth {
    records: Mutex<BTreeMap<&'static str, TaskRecord>>,
    metrics: Mutex<Option<HealthMetrics>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TaskHealth {
    /// Exports the failure counts and the number of unhealthy tasks in `registry`.
    pub fn register_metrics(&self, registry: &Registry) {
        let m = HealthMetrics {
            failures: registry.counter_vec(
                "reel_task_failures_total",
                "Failed runs of a background task (keeper, redeemer, watchers, pollers, probes)",
                &["task"],
            ),
            unhealthy: registry.gauge(
                "reel_tasks_unhealthy",
                "Background tasks failing in a row or raising a condition (see /healthz)",
            ),
        };
        if let Ok(mut slot) = self.metrics.lock() {
            *slot = Some(m);
        }
        self.update_gauge();
    }

    fn update<R>(&self, name: &'static str, f: impl FnOnce(&mut TaskRecord) -> R) -> Option<R> {
        let r = self
            .records
            .lock()
            .ok()
            .map(|mut m| f(m.entry(name).or_default()));
        self.update_gauge();
        r
    }

    fn update_gauge(&self) {
        let unhealthy = self.problems().len();
        if let Ok(m) = self.metrics.lock()
            && let Some(m) = m.as_ref()
        {
            m.unhealthy
                .set(i64::try_from(unhealthy).unwrap_or(i64::MAX));
        }
    }

    /// Makes `name` known before its first run (so `/status` lists it from the start).
    pub fn declare(&self, name: &'static str) {
        self.update(name, |_| ());
    }

    /// Records one run of `name`.
    pub fn record<E: Display>(&self, name: &'static str, outcome: &Result<(), E>) {
        let failed = self
            .update(name, |r| {
                r.runs = r.runs.saturating_add(1);
                match outcome {
                    Ok(()) => {
                        r.failures_in_a_row = 0;
                        r.last_ok = Some(unix_now());
                        false
                    }
                    Err(e) => {
                        r.failures = r.failures.saturating_add(1);
                        r.failures_in_a_row = r.failures_in_a_row.saturating_add(1);
                        r.last_error = Some(e.to_string());
                        true
                    }
                }
            })
            .unwrap_or(false);
        if failed
            && let Ok(m) = self.metrics.lock()
            && let Some(m) = m.as_ref()
        {
            m.failures.inc(&[name]);
        }
    }

    /// Raises (`Some`) or clears (`None`) a condition of `name`.
    pub fn set_condition(&self, name: &'static str, condition: Option<String>) {
        self.update(name, |r| r.condition = condition);
    }

    pub fn get(&self, name: &str) -> Option<TaskRecord> {
        self.records.lock().ok()?.get(name).cloned()
    }

    /// `"<task>: <why>"` for every unhealthy task.
    pub fn problems(&self) -> Vec<String> {
        self.records
            .lock()
            .map(|m| {
                m.iter()
                    .filter_map(|(name, r)| r.problem().map(|p| format!("{name}: {p}")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every task's record, for `/status`.
    pub fn json(&self) -> serde_json::Value {
        self.records
            .lock()
            .map(|m| serde_json::to_value(&*m).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// A node's background tasks and their shutdown token.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    health: Arc<TaskHealth>,
    stop_reason: Arc<Mutex<Option<String>>>,
}

/// Tasks stopped by a token the caller holds (tests and benches stop nodes this way).
impl From<CancellationToken> for Tasks {
    fn from(shutdown: CancellationToken) -> Self {
        Self::with_shutdown(shutdown)
    }
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tasks stopped by `shutdown` (a token the caller also holds).
    pub fn with_shutdown(shutdown: CancellationToken) -> Self {
        Self {
            shutdown,
            ..Self::default()
        }
    }

    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    pub fn health(&self) -> &Arc<TaskHealth> {
        &self.health
    }

    /// Why the node stopped by itself (a task panicked), if it did.
    pub fn stop_reason(&self) -> Option<String> {
        self.stop_reason.lock().ok()?.clone()
    }

    /// Runs `fut` as the task `name` until it ends or the node shuts down (then it is
    /// dropped at its current await). A panic stops the node, naming the task.
    pub fn spawn(&self, name: &'static str, fut: impl Future<Output = ()> + Send + 'static) {
        let token = self.shutdown.clone();
        let inner = tokio::spawn(async move {
            tokio::select! {
                () = token.cancelled() => {}
                () = fut => {}
            }
        });
        let token = self.shutdown.clone();
        let reason = Arc::clone(&self.stop_reason);
        let health = Arc::clone(&self.health);
        self.tracker.spawn(async move {
            if let Err(e) = inner.await
                && e.is_panic()
            {
                let why = e.into_panic();
                let message = why
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| why.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".to_owned());
                let text = format!("task {name} panicked: {message}");
                tracing::error!(target: "node::tasks", task = name, %message, "a background task panicked: shutting the node down");
                health.set_condition(name, Some(format!("panicked: {message}")));
                if let Ok(mut r) = reason.lock() {
                    r.get_or_insert(text);
                }
                token.cancel();
            }
        });
    }

    /// Every `every` (the first at once), runs `step` as the task `name` and records its
    /// outcome; a step is dropped at its current await when the node shuts down.
    pub fn spawn_periodic<F, Fut, E>(&self, name: &'static str, every: Duration, mut step: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send,
        E: Display + Send,
    {
        let health = Arc::clone(&self.health);
        health.declare(name);
        self.spawn(name, async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let outcome = step().await;
                if let Err(e) = &outcome {
                    tracing::warn!(target: "node::tasks", task = name, error = %e, "background task step failed");
                }
                health.record(name, &outcome);
            }
        });
    }

    /// Stops every task: cancels the token and waits for them all.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_failures_conditions_and_recovery() {
        let h = TaskHealth::default();
        let registry = Registry::new();
        h.register_metrics(&registry);
        h.declare("probe");
        assert!(h.problems().is_empty());
        for _ in 0..FAILURES_BEFORE_RED {
            h.record("probe", &Err::<(), _>("disk full"));
        }
        assert_eq!(
            h.problems(),
            vec!["probe: failed 3 times in a row: disk full"]
        );
        assert!(
            registry
                .render()
                .contains("reel_task_failures_total{task=\"probe\"} 3")
        );
        assert!(registry.render().contains("reel_tasks_unhealthy 1"));
        h.record("probe", &Ok::<(), &str>(()));
        assert!(h.problems().is_empty());
        h.set_condition("keeper", Some("reward() not called".into()));
        assert_eq!(h.problems(), vec!["keeper: reward() not called"]);
        h.set_condition("keeper", None);
        assert!(h.problems().is_empty());
        assert!(registry.render().contains("reel_tasks_unhealthy 0"));
    }

    #[tokio::test]
    async fn shutdown_stops_a_task_stuck_at_an_await() {
        let tasks = Tasks::new();
        tasks.spawn("stuck", std::future::pending());
        tasks.spawn_periodic("slow", Duration::from_millis(10), || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), String>(())
        });
        tokio::time::timeout(Duration::from_secs(2), tasks.shutdown())
            .await
            .expect("tasks stopped at once");
    }

    #[tokio::test]
    async fn a_panicking_task_stops_the_node_and_says_why() {
        let tasks = Tasks::new();
        tasks.spawn("bad", async { panic!("boom") });
        tokio::time::timeout(Duration::from_secs(2), tasks.shutdown_token().cancelled())
            .await
            .expect("the panic cancelled the node");
        tasks.shutdown().await;
        assert_eq!(
            tasks.stop_reason().as_deref(),
            Some("task bad panicked: boom")
        );
        assert!(tasks.health().problems()[0].contains("panicked: boom"));
    }
}
