//! The job workers' side of the [`WorkerRegistry`]: registering a job worker with the
//! models it serves, picking the least loaded one for a (capability, model), running a
//! job on it (another is tried once if the first fails), delivering its answer, and the
//! [`JobWorker`] an offer served by remote job workers runs through.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reel_jobs::{BoxFuture, CapabilityKey, JobError, JobOutput, JobRequest, JobWorker, Placement};
use reel_net::capabilities::Capabilities;
use reel_net::proto;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use super::{Link, Origin, Remote, Reply, Task, WorkerRegistry};

impl WorkerRegistry {
    /// Adds a job worker serving the models in `capabilities`, `capacity` jobs at once;
    /// returns its id and the stream of tasks to send it.
    pub fn register_job_worker(
        &self,
        peer: String,
        capacity: u32,
        capabilities: Capabilities,
    ) -> (u64, mpsc::Receiver<Result<proto::NotifyAiJob, Status>>) {
        let (tx, rx) = mpsc::channel(capacity.clamp(1, 64) as usize * 2);
        let id = self.add(peer, capacity, capabilities, Origin::Remote, Link::Jobs(tx));
        (id, rx)
    }

    /// A job task's input and its content type.
    pub fn job_input(&self, task: i64) -> Option<(String, Bytes)> {
        self.lock()
            .tasks
            .get(&task)
            .map(|t| (t.content_type.clone(), t.input.clone()))
    }

    /// Delivers a job worker's answer; `false` if no such job task is waiting.
    pub fn complete_job(&self, task: i64, result: Result<JobOutput, JobError>) -> bool {
        let mut r = self.lock();
        let Some(t) = r.tasks.get_mut(&task) else {
            return false;
        };
        match t.reply.take() {
            Some(Reply::Job(reply)) => reply.send(result).is_ok(),
            other => {
                t.reply = other;
                false
            }
        }
    }

    /// The least loaded job worker serving `key` with a free slot, skipping `exclude`.
    fn pick_job(&self, key: &CapabilityKey, exclude: &[u64]) -> Option<u64> {
        let r = self.lock();
        r.remotes
            .iter()
            .filter(|(id, t)| {
                !exclude.contains(id)
                    && matches!(t.link, Link::Jobs(_))
                    && t.in_flight < t.capacity
                    && t.capabilities
                        .models
                        .get(&key.capability)
                        .is_some_and(|m| m.contains_key(&key.model))
            })
            .min_by(|(_, a), (_, b)| {
                (u64::from(a.in_flight) * u64::from(b.capacity))
                    .cmp(&(u64::from(b.in_flight) * u64::from(a.capacity)))
            })
            .map(|(id, _)| *id)
    }

    /// Whether a job worker serving `key` is connected (the model counts as warm).
    pub fn serves(&self, key: &CapabilityKey) -> bool {
        self.lock().remotes.values().any(|t| {
            matches!(t.link, Link::Jobs(_))
                && t.capabilities
                    .models
                    .get(&key.capability)
                    .is_some_and(|m| m.contains_key(&key.model))
        })
    }

    /// Runs one job on a job worker serving `key`; another worker is tried once if the
    /// first disconnects or fails.
    pub async fn run_job(
        &self,
        kind: &str,
        key: &CapabilityKey,
        request: JobRequest,
        input_base: &str,
        timeout: Duration,
    ) -> Result<JobOutput, JobError> {
        let mut tried = Vec::new();
        let mut last = JobError::Busy(format!("no worker serves {key} with a free slot"));
        while tried.len() < 2 {
            let Some(id) = self.pick_job(key, &tried) else {
                break;
            };
            tried.push(id);
            match self
                .run_job_on(id, kind, key, request.clone(), input_base, timeout)
                .await
            {
                Ok(out) => return Ok(out),
                Err(e) if e.is_retryable() => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn run_job_on(
        &self,
        id: u64,
        kind: &str,
        key: &CapabilityKey,
        request: JobRequest,
        input_base: &str,
        timeout: Duration,
    ) -> Result<JobOutput, JobError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let (task_id, tx) = {
            let mut r = self.lock();
            r.next_task = r.next_task.saturating_add(1);
            let task_id = r.next_task;
            let tx = match r.remotes.get_mut(&id) {
                Some(Remote {
                    link: Link::Jobs(tx),
                    in_flight,
                    ..
                }) => {
                    *in_flight = in_flight.saturating_add(1);
                    tx.clone()
                }
                _ => return Err(JobError::Failed(format!("worker {id} is gone"))),
            };
            r.tasks.insert(
                task_id,
                Task {
                    transcoder: id,
                    input: request.body,
                    content_type: request.content_type,
                    reply: Some(Reply::Job(reply_tx)),
                },
            );
            (task_id, tx)
        };
        // The worker downloads the input from the orchestrator, as transcoders do.
        let data = serde_json::json!({
            "model": key.model,
            "capability": key.capability,
            "input": format!("{input_base}/worker/input/{task_id}"),
        });
        let notify = proto::NotifyAiJob {
            ai_job_data: Some(proto::AiJobData {
                pipeline: kind.to_owned(),
                request_data: data.to_string().into_bytes(),
            }),
            task_id,
        };
        let result = async {
            tx.try_send(Ok(notify))
                .map_err(|_| JobError::Failed(format!("worker {id} cannot take a task now")))?;
            match tokio::time::timeout(timeout, reply_rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(JobError::Failed(format!("worker {id} dropped the job"))),
                Err(_) => Err(JobError::Failed(format!(
                    "worker {id} did not answer within {timeout:?}"
                ))),
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

    /// The [`JobWorker`] that runs a kind's jobs on this registry's job workers: what an
    /// orchestrator offers for a model served by remote workers.
    pub fn job_worker(
        self: &Arc<Self>,
        kind: &dyn reel_jobs::JobKind,
        input_base: String,
        timeout: Duration,
    ) -> Arc<dyn JobWorker> {
        Arc::new(RemoteJobs {
            registry: Arc::clone(self),
            kind: kind.name().to_owned(),
            capability: kind.capability(),
            input_base,
            timeout,
        })
    }
}

/// A kind's jobs on the registry's job workers.
struct RemoteJobs {
    registry: Arc<WorkerRegistry>,
    kind: String,
    capability: u32,
    input_base: String,
    timeout: Duration,
}

impl JobWorker for RemoteJobs {
    fn placement(&self) -> Placement {
        Placement::Remote
    }

    fn run(
        &self,
        model: &str,
        request: JobRequest,
    ) -> BoxFuture<'static, Result<JobOutput, JobError>> {
        let registry = Arc::clone(&self.registry);
        let kind = self.kind.clone();
        let input_base = self.input_base.clone();
        let timeout = self.timeout;
        let key = CapabilityKey::new(self.capability, model);
        Box::pin(async move {
            registry
                .run_job(&kind, &key, request, &input_base, timeout)
                .await
        })
    }
}
