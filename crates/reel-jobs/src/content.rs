//! [`ContentStore`]: the content-addressed parts of requests an orchestrator keeps (see
//! [`crate::Content`]), bounded in bytes, the least recently used evicted first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Why content was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    #[error("the body's sha256 is not the {0} it was uploaded as")]
    Hash(String),
    #[error("{size} bytes is over the content limit of {max}")]
    TooLarge { size: usize, max: usize },
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<[u8; 32], Bytes>,
    order: VecDeque<[u8; 32]>,
    bytes: usize,
    stats: ContentStats,
}

/// What a store took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ContentStats {
    /// Uploads that added something.
    pub stored: u64,
    /// Uploads of what was already there.
    pub repeated: u64,
    pub evicted: u64,
}

/// Content by sha256, at most `max_bytes` in all.
#[derive(Debug)]
pub struct ContentStore {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

impl ContentStore {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::default(),
        }
    }

    /// Stores `bytes` if they hash to `sha256`; `Ok(false)` when it was already there.
    pub fn put(&self, sha256: [u8; 32], bytes: Bytes) -> Result<bool, ContentError> {
        if bytes.len() > self.max_bytes {
            return Err(ContentError::TooLarge {
                size: bytes.len(),
                max: self.max_bytes,
            });
        }
        let actual: [u8; 32] = Sha256::digest(&bytes).into();
        if actual != sha256 {
            return Err(ContentError::Hash(hex(&sha256)));
        }
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if g.map.contains_key(&sha256) {
            g.stats.repeated += 1;
            return Ok(false);
        }
        g.stats.stored += 1;
        g.bytes += bytes.len();
        g.map.insert(sha256, bytes);
        g.order.push_back(sha256);
        while g.bytes > self.max_bytes {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some(b) = g.map.remove(&old) {
                g.bytes -= b.len();
                g.stats.evicted += 1;
            }
        }
        Ok(true)
    }

    pub fn get(&self, sha256: &[u8; 32]) -> Option<Bytes> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let b = g.map.get(sha256)?.clone();
        // Most recently used goes last, so a module in steady use is never evicted.
        if let Some(i) = g.order.iter().position(|h| h == sha256) {
            g.order.remove(i);
            g.order.push_back(*sha256);
        }
        Some(b)
    }

    pub fn stats(&self) -> ContentStats {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stats
    }

    pub fn contains(&self, sha256: &[u8; 32]) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .contains_key(sha256)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    #[test]
    fn content_is_checked_bounded_and_evicted_oldest_first() {
        let s = ContentStore::new(10);
        assert_eq!(s.put(h(b"abcd"), Bytes::from_static(b"abcd")), Ok(true));
        assert_eq!(s.put(h(b"abcd"), Bytes::from_static(b"abcd")), Ok(false));
        assert!(matches!(
            s.put(h(b"x"), Bytes::from_static(b"y")),
            Err(ContentError::Hash(_))
        ));
        assert!(matches!(
            s.put(h(b"0123456789a"), Bytes::from_static(b"0123456789a")),
            Err(ContentError::TooLarge { size: 11, max: 10 })
        ));
        s.put(h(b"efgh"), Bytes::from_static(b"efgh")).unwrap();
        // Using abcd makes efgh the oldest.
        assert!(s.get(&h(b"abcd")).is_some());
        s.put(h(b"ijkl"), Bytes::from_static(b"ijkl")).unwrap();
        assert!(s.contains(&h(b"abcd")) && s.contains(&h(b"ijkl")));
        assert!(!s.contains(&h(b"efgh")));
        assert_eq!(
            s.stats(),
            ContentStats {
                stored: 3,
                repeated: 1,
                evicted: 1
            }
        );
    }
}
