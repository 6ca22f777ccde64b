//! Stream names (go-livepeer's manifest ids): they become directory names and URL path
//! segments, so only a safe alphabet is accepted.

use std::fmt;

use crate::MediaError;

/// A validated stream name: 1 to 128 of `A-Z a-z 0-9 _ - .`, not starting with `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(String);

impl StreamName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<Self, MediaError> {
        let ok = !name.is_empty()
            && name.len() <= 128
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(MediaError::InvalidStreamName {
                name: name.chars().take(160).collect(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stream name for an RTMP publish: `rtmp://host/live/<key>`, `rtmp://host/stream/<key>`
    /// and `rtmp://host/<key>` all name `<key>`; a query string (`?token=…`) is dropped.
    pub fn from_rtmp(app: &str, publish_name: &str) -> Result<Self, MediaError> {
        let name = publish_name.split('?').next().unwrap_or_default();
        let app = app.split('?').next().unwrap_or_default().trim_matches('/');
        let candidate = if name.is_empty() { app } else { name };
        let candidate = candidate
            .strip_prefix("live/")
            .or_else(|| candidate.strip_prefix("stream/"))
            .unwrap_or(candidate);
        Self::new(candidate)
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(StreamName::new("abc-DEF_1.2").is_ok());
        for bad in ["", ".hidden", "a/b", "../x", "a b", "ü", &"x".repeat(129)] {
            assert!(StreamName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rtmp_names() {
        let n = |app, name| StreamName::from_rtmp(app, name).map(|s| s.0);
        assert_eq!(n("live", "key1").unwrap(), "key1");
        assert_eq!(n("stream", "key1?token=x").unwrap(), "key1");
        assert_eq!(n("", "live/key1").unwrap(), "key1");
        assert_eq!(n("key1", "").unwrap(), "key1");
        assert_eq!(n("live/key1", "").unwrap(), "key1");
        assert!(n("live", "../etc").is_err());
    }
}
