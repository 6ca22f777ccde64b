use serde::{Deserialize, Serialize};
use std::fmt;

/// A protocol round number, as counted by the RoundsManager (block number / round length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Round(pub u64);

impl Round {
    /// The round after this one, or `None` at `u64::MAX`.
    pub fn next(self) -> Option<Round> {
        self.0.checked_add(1).map(Round)
    }
}

impl fmt::Display for Round {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "round {}", self.0)
    }
}
