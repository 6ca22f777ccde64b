//! Media-engine sessions kept per orchestrator session: by the orchestrator when it
//! transcodes itself, and by each remote transcoder. An engine holds encoders for a whole
//! ladder (tens of MiB), so one left behind by a session that moved or ended is memory
//! lost for good: sessions are dropped when told (a teardown, the end of a registration)
//! and reaped when idle, whatever was or was not said.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reel_media::{SessionSettings, TranscodeResult, TranscodeSession};

use crate::orchestrator::work::WorkError;

type Slot = Arc<tokio::sync::Mutex<Option<TranscodeSession>>>;

#[derive(Debug)]
struct Entry {
    slot: Slot,
    last: Instant,
}

/// The engines, one per session id.
#[derive(Debug, Default)]
pub(crate) struct Engines {
    map: Mutex<HashMap<String, Entry>>,
}

impl Engines {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn slot(&self, session: &str) -> Slot {
        let mut map = self.lock();
        let e = map.entry(session.to_owned()).or_insert_with(|| Entry {
            slot: Slot::default(),
            last: Instant::now(),
        });
        e.last = Instant::now();
        Arc::clone(&e.slot)
    }

    /// Drops a session's engine (a segment in flight on it finishes first).
    pub(crate) fn remove(&self, session: &str) {
        self.lock().remove(session);
    }

    /// Drops every engine: the orchestrator that assigned them is gone, and gives their
    /// sessions to other transcoders.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Drops the engines of sessions without a segment for longer than `idle`; returns how
    /// many.
    pub(crate) fn reap(&self, idle: Duration) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, e| e.last.elapsed() <= idle);
        before - map.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Transcodes on a blocking thread with the session's engine: a new one when the
    /// ladder changes or `reinit` is asked for.
    pub(crate) async fn transcode(
        &self,
        session: &str,
        seq: u64,
        settings: SessionSettings,
        input: Bytes,
        reinit: bool,
    ) -> Result<TranscodeResult, WorkError> {
        let mut guard = self.slot(session).lock_owned().await;
        let span = tracing::debug_span!(target: "node::work", "transcode", session, seq);
        tokio::task::spawn_blocking(move || {
            let _e = span.enter();
            let fresh = match guard.as_ref() {
                Some(s) => reinit || s.settings().profiles != settings.profiles,
                None => true,
            };
            if fresh {
                *guard = Some(TranscodeSession::new(settings).map_err(|e| media_err(&e))?);
            }
            match guard.as_mut() {
                Some(s) => s.transcode_ts(seq, &input).map_err(|e| media_err(&e)),
                None => Err(WorkError::Media("no session".into())),
            }
        })
        .await
        .map_err(|_| WorkError::Media("the transcode task panicked".into()))?
    }
}

fn media_err(e: &reel_media::MediaError) -> WorkError {
    if e.is_bad_input() {
        WorkError::BadInput(e.to_string())
    } else {
        WorkError::Media(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_sessions_are_reaped_and_busy_ones_kept() {
        let e = Engines::default();
        drop(e.slot("old"));
        std::thread::sleep(Duration::from_millis(30));
        drop(e.slot("busy"));
        assert_eq!(e.reap(Duration::from_millis(20)), 1);
        assert_eq!(e.len(), 1);
        drop(e.slot("other"));
        e.remove("busy");
        assert_eq!(e.len(), 1);
        e.clear();
        assert_eq!(e.len(), 0);
    }
}
