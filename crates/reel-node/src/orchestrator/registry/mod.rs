//! One registry for the orchestrator's remote workers of every kind: remote transcoders
//! (`RegisterTranscoder`, tasks as `NotifySegment`), the orchestrator's own transcode worker
//! processes (which register the same way), and job workers (`RegisterAIWorker`, tasks as
//! `NotifyAIJob`) for request/response kinds such as AI inference or compute. Each worker
//! registers with its capabilities (for job workers, the models it serves) and a capacity;
//! work goes to the least loaded worker that can do it, with a deadline. A worker that
//! disconnects fails its tasks at once, so they are retried elsewhere.
//!
//! This file holds the registry and the transcoders' side; the job workers' side
//! (registration, picking, running a job, the [`JobWorker`](reel_jobs::JobWorker) of an
//! offer) is `jobs.rs`.

mod jobs;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reel_jobs::{BoxFuture, JobError, JobOutput};
use reel_net::capabilities::Capabilities;
use reel_net::proto;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use super::output::{Output, WorkError};

/// Who registered as a transcoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A remote `reel transcoder` with the operator's `--orch-secret`.
    Remote,
    /// The orchestrator's own worker process number `n`.
    Worker(usize),
}

/// How tasks reach a worker: the server stream it registered with.
#[derive(Debug, Clone)]
enum Link {
    Segments(mpsc::Sender<Result<proto::NotifySegment, Status>>),
    Jobs(mpsc::Sender<Result<proto::NotifyAiJob, Status>>),
}

/// A worker registered over gRPC.
#[derive(Debug)]
struct Remote {
    peer: String,
    capacity: u32,
    /// What it can do: transcoding, or the (capability, model)s of a job worker.
    capabilities: Capabilities,
    /// Sessions assigned to it.
    sessions: u32,
    /// Tasks in flight.
    in_flight: u32,
    /// A remote transcoder or one of the orchestrator's own worker processes.
    origin: Origin,
    link: Link,
}

#[derive(Debug)]
enum Reply {
    Segment(oneshot::Sender<Result<Output, WorkError>>),
    Job(oneshot::Sender<Result<JobOutput, JobError>>),
}

#[derive(Debug)]
struct Task {
    transcoder: u64,
    input: Bytes,
    /// The request's content type (job tasks).
    content_type: String,
    reply: Option<Reply>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    next_task: i64,
    remotes: BTreeMap<u64, Remote>,
    sticky: HashMap<String, u64>,
    tasks: HashMap<i64, Task>,
}

/// What the status page shows of a worker.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RemoteStatus {
    pub id: u64,
    pub peer: String,
    pub capacity: u32,
    pub sessions: u32,
    pub in_flight: u32,
    /// One of the orchestrator's own worker processes.
    pub worker: bool,
    /// `transcoder`, or `jobs` for a job worker.
    pub kind: &'static str,
    /// The (capability, model)s a job worker serves, as `<capability>_<model>`.
    pub models: Vec<String>,
}

/// Registered remote workers of every kind, and their tasks.
#[derive(Debug, Default)]
pub struct WorkerRegistry {
    reg: Mutex<Registry>,
}

impl WorkerRegistry {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.reg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(
        &self,
        peer: String,
        capacity: u32,
        capabilities: Capabilities,
        origin: Origin,
        link: Link,
    ) -> u64 {
        let mut r = self.lock();
        r.next_id = r.next_id.saturating_add(1);
        let id = r.next_id;
        r.remotes.insert(
            id,
            Remote {
                peer,
                capacity,
                capabilities,
                sessions: 0,
                in_flight: 0,
                origin,
                link,
            },
        );
        id
    }

    /// Adds a transcoder; returns its id and the stream of tasks to send it.
    pub fn register(
        &self,
        peer: String,
        capacity: u32,
        origin: Origin,
    ) -> (u64, mpsc::Receiver<Result<proto::NotifySegment, Status>>) {
        let (tx, rx) = mpsc::channel(capacity.clamp(1, 64) as usize * 2);
        let caps = crate::caps::node_capabilities(capacity);
        let id = self.add(peer, capacity, caps, origin, Link::Segments(tx));
        (id, rx)
    }

    /// Resolves when the worker's task stream closes (it went away).
    pub fn closed(&self, id: u64) -> Option<BoxFuture<'static, ()>> {
        Some(match self.lock().remotes.get(&id)?.link.clone() {
            Link::Segments(tx) => Box::pin(async move { tx.closed().await }),
            Link::Jobs(tx) => Box::pin(async move { tx.closed().await }),
        })
    }

    /// Removes a transcoder and fails its tasks at once (they are retried elsewhere).
    pub fn unregister(&self, id: u64) {
        let mut r = self.lock();
        if r.remotes.remove(&id).is_none() {
            return;
        }
        r.sticky.retain(|_, t| *t != id);
        for task in r.tasks.values_mut().filter(|t| t.transcoder == id) {
            match task.reply.take() {
                Some(Reply::Segment(reply)) => {
                    let _ = reply.send(Err(WorkError::TranscoderGone { id }));
                }
                Some(Reply::Job(reply)) => {
                    let _ = reply.send(Err(JobError::Failed(format!(
                        "worker {id} disconnected during the job"
                    ))));
                }
                None => {}
            }
        }
    }

    /// Number of remote transcoders (worker processes not counted, as go-livepeer's
    /// `livepeer_transcoders_*` count remote ones), their total capacity and load.
    pub fn totals(&self) -> (usize, u64, u64) {
        let r = self.lock();
        let remote = || {
            r.remotes
                .values()
                .filter(|t| t.origin == Origin::Remote && matches!(t.link, Link::Segments(_)))
        };
        let cap = remote().map(|t| u64::from(t.capacity)).sum();
        let load = remote().map(|t| u64::from(t.sessions)).sum();
        (remote().count(), cap, load)
    }

    pub fn status(&self) -> Vec<RemoteStatus> {
        self.lock()
            .remotes
            .iter()
            .map(|(id, t)| RemoteStatus {
                id: *id,
                peer: t.peer.clone(),
                capacity: t.capacity,
                sessions: t.sessions,
                in_flight: t.in_flight,
                worker: t.origin != Origin::Remote,
                kind: match t.link {
                    Link::Segments(_) => "transcoder",
                    Link::Jobs(_) => "jobs",
                },
                models: match t.link {
                    Link::Segments(_) => Vec::new(),
                    Link::Jobs(_) => t
                        .capabilities
                        .models
                        .iter()
                        .flat_map(|(c, ms)| ms.keys().map(move |m| format!("{c}_{m}")))
                        .collect(),
                },
            })
            .collect()
    }

    /// The transcoder for a session: its sticky one while connected, else the least loaded
    /// one with room (load / capacity), skipping `exclude`. Remote transcoders come before
    /// the orchestrator's own worker processes, as they come before in-process work.
    pub(super) fn pick(&self, session: &str, exclude: &[u64]) -> Option<u64> {
        let mut r = self.lock();
        if let Some(id) = r.sticky.get(session).copied() {
            if r.remotes.contains_key(&id) && !exclude.contains(&id) {
                return Some(id);
            }
            // The session moves: the transcoder it leaves (still connected, but excluded
            // after a failure) drops its engine for it, or it would keep it for good.
            r.sticky.remove(session);
            if let Some(t) = r.remotes.get_mut(&id) {
                t.sessions = t.sessions.saturating_sub(1);
                t.tear_down(session);
            }
        }
        let id = r
            .remotes
            .iter()
            .filter(|(id, t)| {
                !exclude.contains(id)
                    && t.sessions < t.capacity
                    && matches!(t.link, Link::Segments(_))
            })
            .min_by(|(_, a), (_, b)| {
                // a.sessions / a.capacity < b.sessions / b.capacity, in integers.
                let worker = |t: &Remote| t.origin != Origin::Remote;
                worker(a).cmp(&worker(b)).then_with(|| {
                    (u64::from(a.sessions) * u64::from(b.capacity))
                        .cmp(&(u64::from(b.sessions) * u64::from(a.capacity)))
                })
            })
            .map(|(id, _)| *id)?;
        r.sticky.insert(session.to_owned(), id);
        if let Some(t) = r.remotes.get_mut(&id) {
            t.sessions = t.sessions.saturating_add(1);
        }
        Some(id)
    }

    /// The worker process number of transcoder `id`, if it is one of ours.
    pub(super) fn worker_of(&self, id: u64) -> Option<usize> {
        match self.lock().remotes.get(&id)?.origin {
            Origin::Worker(n) => Some(n),
            Origin::Remote => None,
        }
    }

    /// Worker processes connected now.
    pub fn workers(&self) -> usize {
        self.lock()
            .remotes
            .values()
            .filter(|t| t.origin != Origin::Remote)
            .count()
    }

    /// The input bytes of a task, for the worker's download.
    pub fn input(&self, task: i64) -> Option<Bytes> {
        self.lock().tasks.get(&task).map(|t| t.input.clone())
    }

    /// Delivers a transcoder's answer. `false` if no such task is waiting (late, or sent by
    /// another transcoder than the one it was given to).
    pub fn complete(
        &self,
        task: i64,
        from: Option<u64>,
        result: Result<Output, WorkError>,
    ) -> bool {
        let mut r = self.lock();
        let Some(t) = r.tasks.get_mut(&task) else {
            return false;
        };
        if from.is_some_and(|f| f != t.transcoder) {
            return false;
        }
        match t.reply.take() {
            Some(Reply::Segment(reply)) => reply.send(result).is_ok(),
            other => {
                t.reply = other;
                false
            }
        }
    }

    /// Runs a task on transcoder `id`.
    pub(super) async fn run(
        &self,
        id: u64,
        input_url: impl FnOnce(i64) -> String,
        seg_data: proto::SegData,
        input: Bytes,
        timeout: Duration,
    ) -> Result<Output, WorkError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let (task_id, tx) = {
            let mut r = self.lock();
            r.next_task = r.next_task.saturating_add(1);
            let task_id = r.next_task;
            let tx = match r.remotes.get_mut(&id) {
                Some(Remote {
                    link: Link::Segments(tx),
                    in_flight,
                    ..
                }) => {
                    *in_flight = in_flight.saturating_add(1);
                    tx.clone()
                }
                _ => return Err(WorkError::TranscoderGone { id }),
            };
            r.tasks.insert(
                task_id,
                Task {
                    transcoder: id,
                    input,
                    content_type: String::new(),
                    reply: Some(Reply::Segment(reply_tx)),
                },
            );
            (task_id, tx)
        };
        let notify = proto::NotifySegment {
            url: input_url(task_id),
            seg_data: Some(seg_data),
            task_id,
            ..Default::default()
        };
        let result = async {
            tx.try_send(Ok(notify)).map_err(|e| match e {
                // Gone before it saw the task: not this segment's doing, so retried.
                mpsc::error::TrySendError::Closed(_) => WorkError::TranscoderFailed {
                    id,
                    message: "it disconnected before the task was sent".into(),
                },
                mpsc::error::TrySendError::Full(_) => WorkError::TranscoderFailed {
                    id,
                    message: "its task queue is full".into(),
                },
            })?;
            match tokio::time::timeout(timeout, reply_rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(WorkError::TranscoderGone { id }),
                Err(_) => Err(WorkError::TranscoderTimeout { id, after: timeout }),
            }
        }
        .await;
        let mut r = self.lock();
        r.tasks.remove(&task_id);
        if let Some(t) = r.remotes.get_mut(&id) {
            t.in_flight = t.in_flight.saturating_sub(1);
        }
        result
    }

    /// The session ended: frees its transcoder slot and tells the transcoder.
    pub fn end_session(&self, session: &str) {
        let mut r = self.lock();
        let Some(id) = r.sticky.remove(session) else {
            return;
        };
        if let Some(t) = r.remotes.get_mut(&id) {
            t.sessions = t.sessions.saturating_sub(1);
            t.tear_down(session);
        }
    }
}

impl Remote {
    /// Tells the transcoder to drop its media engine for `session`: an empty URL with the
    /// session's token. Best effort: a full queue drops it, and the transcoder reaps
    /// sessions left idle on its own.
    fn tear_down(&self, session: &str) {
        let Link::Segments(tx) = &self.link else {
            return;
        };
        let _ = tx.try_send(Ok(proto::NotifySegment {
            seg_data: Some(proto::SegData {
                auth_token: Some(proto::AuthToken {
                    session_id: session.to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }));
    }
}
