//! Where a segment is transcoded: on a registered remote transcoder (sticky per session,
//! least loaded first, with a deadline), or locally with a media-engine session per
//! session id. A remote failure (the transcoder died, timed out or answered an error) is
//! retried on another transcoder or locally; the gateway is charged once, for the result
//! it gets.

use std::sync::Arc;
use std::time::Duration;

use super::engines::Engines;
pub use super::output::{OutRendition, Output, WorkError};
use super::registry::WorkerRegistry;
use super::workers::CrashBook;
use bytes::Bytes;
use reel_media::{SessionSettings, VideoProfile};
use reel_net::proto;

/// Local media-engine sessions, one per orchestrator session.
#[derive(Debug)]
pub struct LocalPool {
    preset: String,
    threads: usize,
    engines: Engines,
    /// A test's dishonest encode.
    #[cfg(feature = "test-hooks")]
    media_fault: Option<reel_media::transcode::MediaFault>,
}

impl LocalPool {
    pub fn new(preset: String, threads: usize) -> Self {
        Self {
            preset,
            threads,
            engines: Engines::default(),
            #[cfg(feature = "test-hooks")]
            media_fault: None,
        }
    }

    /// This pool, encoding the wrong picture on purpose (tests only).
    #[cfg(feature = "test-hooks")]
    pub fn with_media_fault(mut self, fault: Option<reel_media::transcode::MediaFault>) -> Self {
        self.media_fault = fault;
        self
    }

    pub fn end_session(&self, session: &str) {
        self.engines.remove(session);
    }

    /// Transcodes with the session's engine (a new one when the ladder changes or
    /// `reinit` is asked for).
    pub async fn transcode(
        &self,
        session: &str,
        seq: u64,
        ladder: Vec<VideoProfile>,
        input: Bytes,
        reinit: bool,
    ) -> Result<reel_media::TranscodeResult, WorkError> {
        let mut settings = SessionSettings::new(ladder);
        settings.x264_preset = self.preset.clone();
        settings.encoder_threads = self.threads;
        #[cfg(feature = "test-hooks")]
        {
            settings.fault = self.media_fault;
        }
        self.engines
            .transcode(session, seq, settings, input, reinit)
            .await
    }
}

/// Local work done in the orchestrator's own worker processes (see [`super::workers`]).
#[derive(Debug)]
pub struct WorkerPool {
    /// The loopback base URL the workers fetch inputs from.
    pub base: String,
    /// Crashes per stream and segment prefix.
    pub crashes: CrashBook,
    /// How long a segment waits for a worker while none is connected.
    pub wait: Duration,
    /// Asks worker process `n`'s supervisor to kill it (it hung); see [`super::workers`].
    pub kill: Arc<Vec<tokio::sync::Notify>>,
}

/// The orchestrator's transcoding capacity: remote transcoders and, if enabled, itself
/// (in process, or in worker processes).
#[derive(Debug)]
pub struct Work {
    pub remotes: Arc<WorkerRegistry>,
    pub local: Option<LocalPool>,
    pub workers: Option<WorkerPool>,
}

/// One segment to transcode.
#[derive(Debug)]
pub struct Job {
    pub session: String,
    pub seg_data: proto::SegData,
    pub ladder: Vec<VideoProfile>,
    pub input: Bytes,
    pub duration: Duration,
}

impl Work {
    /// Transcodes a segment: on remote transcoders and worker processes (up to two
    /// attempts), then in process. The task deadline is go-livepeer's max(8 s, 4 ×
    /// duration). A worker process that dies with the segment in flight ends the attempts
    /// at once: the segment may be what killed it, and the next worker would die too.
    pub async fn transcode(
        &self,
        job: Job,
        input_url: impl Fn(i64) -> String,
    ) -> Result<Output, WorkError> {
        let timeout = Duration::from_secs(8).max(job.duration.saturating_mul(4));
        let seq = u64::try_from(job.seg_data.seq).unwrap_or(0);
        let wait_until = self
            .workers
            .as_ref()
            .map(|w| tokio::time::Instant::now() + w.wait);
        let mut tried = Vec::new();
        let mut tried_worker = false;
        let mut last = WorkError::NoTranscoders;
        while tried.len() < 2 {
            let Some(id) = self.remotes.pick(&job.session, &tried) else {
                // A worker may be restarting: wait for it a little, once.
                match wait_until {
                    Some(until)
                        if !tried_worker
                            && self.remotes.workers() == 0
                            && tokio::time::Instant::now() < until =>
                    {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    _ => break,
                }
            };
            tried.push(id);
            let worker_n = self.remotes.worker_of(id);
            let worker = worker_n.is_some();
            tried_worker |= worker;
            let url = |task: i64| match (&self.workers, worker) {
                (Some(w), true) => format!("{}/transcoder/input/{task}", w.base),
                _ => input_url(task),
            };
            match self
                .remotes
                .run(id, url, job.seg_data.clone(), job.input.clone(), timeout)
                .await
            {
                Ok(mut out) => {
                    out.worker = if worker {
                        format!("worker-{id}")
                    } else {
                        format!("transcoder-{id}")
                    };
                    return Ok(out);
                }
                Err(e @ WorkError::BadInput(_)) => return Err(e),
                Err(WorkError::TranscoderGone { id }) if worker => {
                    let Some(w) = &self.workers else {
                        return Err(WorkError::TranscoderGone { id });
                    };
                    let crashes = w.crashes.record(&job.seg_data.manifest_id, &job.input);
                    tracing::warn!(target: "node::work", session = %job.session, seq, worker = id, manifest = %String::from_utf8_lossy(&job.seg_data.manifest_id), crashes, "a transcode worker died with this segment in flight");
                    return Err(WorkError::WorkerCrashed {
                        id,
                        crashes,
                        refuse_after: w.crashes.refuse_after(),
                    });
                }
                Err(WorkError::TranscoderTimeout { id, after }) if worker => {
                    let Some(w) = &self.workers else {
                        return Err(WorkError::TranscoderTimeout { id, after });
                    };
                    // A hung decoder never gives its slot back: the worker goes.
                    if let Some(kill) = worker_n.and_then(|n| w.kill.get(n)) {
                        kill.notify_waiters();
                    }
                    let crashes = w.crashes.record(&job.seg_data.manifest_id, &job.input);
                    tracing::warn!(target: "node::work", session = %job.session, seq, worker = id, manifest = %String::from_utf8_lossy(&job.seg_data.manifest_id), crashes, ?after, "a transcode worker hung on this segment; killing it");
                    return Err(WorkError::WorkerHung {
                        id,
                        after,
                        crashes,
                        refuse_after: w.crashes.refuse_after(),
                    });
                }
                Err(e) => {
                    tracing::warn!(target: "node::work", session = %job.session, seq, transcoder = id, error = %e, "remote transcode failed; retrying elsewhere");
                    last = e;
                }
            }
        }
        let Some(local) = &self.local else {
            return Err(last);
        };
        let r = local
            .transcode(
                &job.session,
                seq,
                job.ladder,
                job.input,
                job.seg_data.force_session_reinit,
            )
            .await?;
        Ok(Output {
            decoded_pixels: r.decoded_pixels,
            renditions: r
                .renditions
                .into_iter()
                .map(|r| OutRendition {
                    name: r.name,
                    data: r.data,
                    pixels: r.pixels,
                })
                .collect(),
            worker: "local".into(),
        })
    }

    pub fn end_session(&self, session: &str) {
        self.remotes.end_session(session);
        if let Some(l) = &self.local {
            l.end_session(session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::registry::Origin;

    #[test]
    fn sticky_then_least_loaded() {
        let r = WorkerRegistry::default();
        let (a, _ra) = r.register("a".into(), 2, Origin::Remote);
        let (b, _rb) = r.register("b".into(), 1, Origin::Remote);
        assert_eq!(r.pick("s1", &[]), Some(a));
        assert_eq!(r.pick("s1", &[]), Some(a), "sticky");
        // a is at 1/2, b at 0/1: b is less loaded.
        assert_eq!(r.pick("s2", &[]), Some(b));
        assert_eq!(r.pick("s3", &[]), Some(a));
        // Everyone is full now.
        assert_eq!(r.pick("s4", &[]), None);
        // A transcoder leaving frees its sessions for others.
        r.unregister(a);
        assert_eq!(r.pick("s1", &[]), None, "b is full");
        r.end_session("s2");
        assert_eq!(r.pick("s1", &[]), Some(b));
        assert_eq!(r.totals(), (1, 1, 1));
    }

    /// A transcoder a session leaves, or whose session ends, is told to drop its engine
    /// for it (an empty URL with the session's token): else it holds the engine for good.
    #[test]
    fn a_session_that_moves_or_ends_is_torn_down_where_it_was() {
        let r = WorkerRegistry::default();
        let (a, mut ra) = r.register("a".into(), 2, Origin::Remote);
        let (b, mut rb) = r.register("b".into(), 2, Origin::Remote);
        assert_eq!(r.pick("s1", &[]), Some(a));
        assert!(ra.try_recv().is_err(), "nothing sent on a pick");
        assert_eq!(r.pick("s1", &[a]), Some(b), "a failed: s1 moves");
        let torn = |m: Option<Result<proto::NotifySegment, tonic::Status>>| {
            let n = m.and_then(Result::ok).expect("a teardown");
            assert!(n.url.is_empty(), "{n:?}");
            n.seg_data.and_then(|d| d.auth_token).map(|t| t.session_id)
        };
        assert_eq!(torn(ra.try_recv().ok()), Some("s1".into()));
        r.end_session("s1");
        assert_eq!(torn(rb.try_recv().ok()), Some("s1".into()));
        assert!(ra.try_recv().is_err(), "a was told once");
        assert_eq!(r.totals(), (2, 4, 0));
    }

    #[test]
    fn remote_transcoders_before_worker_processes() {
        let r = WorkerRegistry::default();
        let (w, _rw) = r.register("worker".into(), 10, Origin::Worker(0));
        let (a, _ra) = r.register("a".into(), 1, Origin::Remote);
        assert_eq!(r.workers(), 1);
        assert_eq!((r.worker_of(w), r.worker_of(a)), (Some(0), None));
        assert_eq!(r.pick("s1", &[]), Some(a), "the idle remote first");
        assert_eq!(r.pick("s2", &[]), Some(w), "the remote is full");
        assert_eq!(r.pick("s3", &[a]), Some(w));
        assert_eq!(r.totals(), (1, 1, 1), "workers are not remote transcoders");
    }

    /// Work done by worker processes only (reached at `base`), none registered yet; a
    /// stream is refused after two crashes, and a segment waits `wait` for a worker.
    fn with_workers(base: &str, wait: Duration) -> Work {
        Work {
            remotes: WorkerRegistry::new(),
            local: None,
            workers: Some(WorkerPool {
                base: base.into(),
                crashes: CrashBook::new(2, Duration::from_secs(60)),
                wait,
                kill: Arc::default(),
            }),
        }
    }

    fn job(manifest: &[u8], input: &'static [u8]) -> Job {
        Job {
            session: "s".into(),
            seg_data: proto::SegData {
                manifest_id: manifest.to_vec(),
                ..Default::default()
            },
            ladder: Vec::new(),
            input: Bytes::from_static(input),
            duration: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn a_worker_dying_mid_task_fails_the_segment_once_and_records_a_crash() {
        let work = Arc::new(with_workers(
            "https://127.0.0.1:1",
            Duration::from_millis(200),
        ));
        let (w1, mut rx1) = work.remotes.register("w1".into(), 4, Origin::Worker(0));
        let (_w2, mut rx2) = work.remotes.register("w2".into(), 4, Origin::Worker(1));
        let w = Arc::clone(&work);
        let run = tokio::spawn(async move {
            w.transcode(job(b"poison", b"ts"), |t| format!("x/{t}"))
                .await
        });
        let notify = rx1.recv().await.unwrap().unwrap();
        assert_eq!(
            notify.url,
            format!("https://127.0.0.1:1/transcoder/input/{}", notify.task_id),
            "workers fetch on loopback"
        );
        work.remotes.unregister(w1);
        assert_eq!(
            run.await.unwrap().unwrap_err(),
            WorkError::WorkerCrashed {
                id: w1,
                crashes: 1,
                refuse_after: 2
            }
        );
        assert!(rx2.try_recv().is_err(), "not retried on the other worker");
        let crashes = &work.workers.as_ref().unwrap().crashes;
        assert!(crashes.refused_stream(b"poison").is_none());
        assert_eq!(crashes.record(b"poison", b"other"), 2);
        assert!(crashes.refused_stream(b"poison").is_some());
    }

    #[tokio::test]
    async fn a_segment_waits_a_little_for_a_restarting_worker() {
        let work = Arc::new(with_workers("https://127.0.0.1:1", Duration::from_secs(5)));
        let w = Arc::clone(&work);
        let run =
            tokio::spawn(async move { w.transcode(job(b"m", b"ts"), |t| format!("x/{t}")).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (id, mut rx) = work.remotes.register("w".into(), 1, Origin::Worker(0));
        let notify = rx.recv().await.unwrap().unwrap();
        assert!(work.remotes.complete(
            notify.task_id,
            Some(id),
            Err(WorkError::Media("fine".into()))
        ));
        assert_eq!(
            run.await.unwrap().unwrap_err(),
            WorkError::Media("fine".into())
        );
        // With no worker at all, the wait is bounded.
        let idle = with_workers("", Duration::from_millis(100));
        let t0 = std::time::Instant::now();
        assert_eq!(
            idle.transcode(job(b"m", b"ts"), |t| format!("x/{t}"))
                .await
                .unwrap_err(),
            WorkError::NoTranscoders
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_task_on_a_disconnecting_transcoder_fails_at_once() {
        let r = WorkerRegistry::new();
        let (a, mut rx) = r.register("a".into(), 1, Origin::Remote);
        let r2 = Arc::clone(&r);
        let run = tokio::spawn(async move {
            r2.run(
                a,
                |t| format!("u/{t}"),
                proto::SegData::default(),
                Bytes::from_static(b"x"),
                Duration::from_secs(30),
            )
            .await
        });
        let notify = rx.recv().await.unwrap().unwrap();
        assert_eq!(notify.url, format!("u/{}", notify.task_id));
        assert_eq!(r.input(notify.task_id).unwrap(), Bytes::from_static(b"x"));
        r.unregister(a);
        let t0 = std::time::Instant::now();
        assert_eq!(
            run.await.unwrap().unwrap_err(),
            WorkError::TranscoderGone { id: a }
        );
        assert!(t0.elapsed() < Duration::from_secs(1));
        // A late answer for the finished task is refused.
        assert!(!r.complete(
            notify.task_id,
            Some(a),
            Err(WorkError::Media("late".into()))
        ));
    }
}
