//! Capabilities (see docs/compatibility.md#capabilities): what a job needs and what a node offers,
//! as a bitstring plus per-capability model constraints, and the rule deciding whether a node can
//! take a job.
//!
//! Capability `N` is bit `N % 64` of word `N / 64`. A job fits an orchestrator when the
//! orchestrator's version is at least the job's `minVersion`, every capability the
//! orchestrator marks mandatory is in the job, every capability of the job is offered, and
//! every model the job asks for is offered (warm when the job needs warm, with a runner at
//! least as new as required). An orchestrator that advertises no capabilities at all (an old
//! node) only fits jobs made of the legacy set, ids 0–11.

use crate::{NetError, proto};
use std::{cmp::Ordering, collections::BTreeMap, fmt};

/// The most bitstring words we accept from the network (4096 capabilities): bounds memory.
pub const MAX_WORDS: usize = 64;
/// The most capability-constraint entries (capabilities × models) we accept.
pub const MAX_CONSTRAINTS: usize = 1024;

macro_rules! capabilities {
    ($($(#[$doc:meta])* $name:ident = $id:literal,)*) => {
        /// A capability id from go-livepeer's `core/capabilities.go`. Ids never change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Capability {
            $($(#[$doc])* $name = $id,)*
        }

        impl Capability {
            /// Every known capability, in id order.
            pub const ALL: &'static [Capability] = &[$(Capability::$name,)*];

            pub const fn id(self) -> u32 {
                self as u32
            }

            pub const fn from_id(id: u32) -> Option<Capability> {
                match id {
                    $($id => Some(Capability::$name),)*
                    _ => None,
                }
            }

            pub const fn name(self) -> &'static str {
                match self {
                    $(Capability::$name => stringify!($name),)*
                }
            }
        }
    };
}

capabilities! {
    H264 = 0,
    Mpegts = 1,
    Mp4 = 2,
    FractionalFramerates = 3,
    StorageDirect = 4,
    StorageS3 = 5,
    StorageGcs = 6,
    ProfileH264Baseline = 7,
    ProfileH264Main = 8,
    ProfileH264High = 9,
    ProfileH264ConstrainedHigh = 10,
    GopSize = 11,
    AuthToken = 12,
    /// Deprecated upstream; the id stays reserved.
    SceneClassification = 13,
    Mpeg7VideoSignature = 14,
    HevcDecode = 15,
    HevcEncode = 16,
    Vp8Decode = 17,
    Vp9Decode = 18,
    Vp8Encode = 19,
    Vp9Encode = 20,
    H264Decode444_8bit = 21,
    H264Decode422_8bit = 22,
    H264Decode444_10bit = 23,
    H264Decode422_10bit = 24,
    H264Decode420_10bit = 25,
    SegmentSlicing = 26,
    TextToImage = 27,
    ImageToImage = 28,
    ImageToVideo = 29,
    Upscale = 30,
    AudioToText = 31,
    SegmentAnything2 = 32,
    Llm = 33,
    ImageToText = 34,
    LiveVideoToVideo = 35,
    TextToSpeech = 36,
    Byoc = 37,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.id())
    }
}

/// The highest id of the legacy set: old orchestrators that send no capabilities support
/// exactly ids 0..=11.
pub const LEGACY_MAX_ID: u32 = 11;

/// A set of capability ids as the wire bitstring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CapabilitySet {
    words: Vec<u64>,
}

impl CapabilitySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// From the wire words; refuses more than [`MAX_WORDS`].
    pub fn from_words(words: &[u64]) -> Result<Self, NetError> {
        if words.len() > MAX_WORDS {
            return Err(NetError::TooLarge {
                what: "capability bitstring words",
                len: words.len(),
                max: MAX_WORDS,
            });
        }
        let mut set = Self {
            words: words.to_vec(),
        };
        set.trim();
        Ok(set)
    }

    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The legacy set, ids 0..=11.
    pub fn legacy() -> Self {
        (0..=LEGACY_MAX_ID).fold(Self::new(), |mut s, id| {
            s.insert_id(id);
            s
        })
    }

    pub fn insert(&mut self, cap: Capability) {
        self.insert_id(cap.id());
    }

    /// Adds a capability by id (kinds of work reel does not name, test kinds).
    pub fn insert_id(&mut self, id: u32) {
        let (word, bit) = split_id(id);
        if self.words.len() <= word {
            self.words.resize(word.saturating_add(1), 0);
        }
        if let Some(w) = self.words.get_mut(word) {
            *w |= 1u64 << bit;
        }
    }

    pub fn contains(&self, cap: Capability) -> bool {
        self.contains_id(cap.id())
    }

    pub fn contains_id(&self, id: u32) -> bool {
        let (word, bit) = split_id(id);
        self.words.get(word).is_some_and(|w| w & (1u64 << bit) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Every id in `self` is in `other` (word-wise `a & b == a`).
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.words.iter().enumerate().all(|(i, w)| {
            let o = other.words.get(i).copied().unwrap_or(0);
            w & o == *w
        })
    }

    /// Ids in `self` missing from `other`, in order (for error messages).
    pub fn missing_from(&self, other: &Self) -> Vec<u32> {
        let mut out = Vec::new();
        for (i, w) in self.words.iter().enumerate() {
            let o = other.words.get(i).copied().unwrap_or(0);
            let miss = w & !o;
            for bit in 0..64u32 {
                if miss & (1u64 << bit) != 0 {
                    let word = u32::try_from(i).unwrap_or(u32::MAX);
                    out.push(word.saturating_mul(64).saturating_add(bit));
                }
            }
        }
        out
    }

    fn trim(&mut self) {
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
    }
}

impl FromIterator<Capability> for CapabilitySet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut s = Self::new();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

fn split_id(id: u32) -> (usize, u32) {
    // id / 64 fits usize on every platform we build for; % 64 < 64.
    (usize::try_from(id / 64).unwrap_or(usize::MAX), id % 64)
}

/// What a job requires of, or a node offers for, one AI model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelConstraint {
    pub warm: bool,
    pub capacity: u32,
    pub runner_version: String,
    pub capacity_in_use: u32,
}

/// Capabilities of a job (gateway side) or of a node (orchestrator side).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub offered: CapabilitySet,
    pub mandatory: CapabilitySet,
    pub capacities: BTreeMap<u32, u32>,
    pub version: String,
    pub min_version: String,
    /// Capability id → model id → constraint.
    pub models: BTreeMap<u32, BTreeMap<String, ModelConstraint>>,
}

/// Why a job does not fit an orchestrator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Incompatibility {
    #[error("orchestrator version `{have}` is older than the required `{need}`")]
    Version { have: String, need: String },
    #[error("orchestrator requires capabilities {ids:?} that the job lacks")]
    MandatoryMissing { ids: Vec<u32> },
    #[error("orchestrator lacks capabilities {ids:?}")]
    CapabilityMissing { ids: Vec<u32> },
    #[error("orchestrator does not serve model `{model}` for capability {capability}")]
    ModelMissing { capability: u32, model: String },
    #[error("model `{model}` for capability {capability} is not warm on the orchestrator")]
    ModelCold { capability: u32, model: String },
    #[error("model `{model}`: runner `{have}` is older than the required `{need}`")]
    RunnerVersion {
        model: String,
        have: String,
        need: String,
    },
    #[error("orchestrator advertises no capabilities and the job needs more than the legacy set")]
    NotLegacy,
}

impl Capabilities {
    /// Reads and bounds the wire form.
    pub fn from_proto(p: &proto::Capabilities) -> Result<Self, NetError> {
        let constraints = p.constraints.as_ref();
        let per_cap = constraints.map(|c| &c.per_capability);
        let entries: usize = per_cap
            .map(|m| m.values().map(|c| c.models.len().max(1)).sum())
            .unwrap_or(0);
        if entries > MAX_CONSTRAINTS || p.capacities.len() > MAX_CONSTRAINTS {
            return Err(NetError::TooLarge {
                what: "capability constraints",
                len: entries.max(p.capacities.len()),
                max: MAX_CONSTRAINTS,
            });
        }
        let models = per_cap
            .map(|m| {
                m.iter()
                    .map(|(cap, cc)| {
                        let models = cc
                            .models
                            .iter()
                            .map(|(id, mc)| {
                                (
                                    id.clone(),
                                    ModelConstraint {
                                        warm: mc.warm,
                                        capacity: mc.capacity,
                                        runner_version: mc.runner_version.clone(),
                                        capacity_in_use: mc.capacity_in_use,
                                    },
                                )
                            })
                            .collect();
                        (*cap, models)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            offered: CapabilitySet::from_words(&p.bitstring)?,
            mandatory: CapabilitySet::from_words(&p.mandatories)?,
            capacities: p.capacities.iter().map(|(k, v)| (*k, *v)).collect(),
            version: p.version.clone(),
            min_version: constraints
                .map(|c| c.min_version.clone())
                .unwrap_or_default(),
            models,
        })
    }

    pub fn to_proto(&self) -> proto::Capabilities {
        use proto::capabilities as pc;
        let constraints = if self.min_version.is_empty() && self.models.is_empty() {
            None
        } else {
            Some(pc::Constraints {
                min_version: self.min_version.clone(),
                per_capability: self
                    .models
                    .iter()
                    .map(|(cap, models)| {
                        let models = models
                            .iter()
                            .map(|(id, m)| {
                                (
                                    id.clone(),
                                    pc::capability_constraints::ModelConstraint {
                                        warm: m.warm,
                                        capacity: m.capacity,
                                        runner_version: m.runner_version.clone(),
                                        capacity_in_use: m.capacity_in_use,
                                    },
                                )
                            })
                            .collect();
                        (*cap, pc::CapabilityConstraints { models })
                    })
                    .collect(),
            })
        };
        proto::Capabilities {
            bitstring: self.offered.words().to_vec(),
            mandatories: self.mandatory.words().to_vec(),
            capacities: self.capacities.iter().map(|(k, v)| (*k, *v)).collect(),
            version: self.version.clone(),
            constraints,
        }
    }

    /// Whether the job `self` can run on an orchestrator offering `orch` (`None` = it sent
    /// no capabilities).
    pub fn fits(&self, orch: Option<&Capabilities>) -> Result<(), Incompatibility> {
        let Some(orch) = orch else {
            return if self.offered.is_subset_of(&CapabilitySet::legacy()) {
                Ok(())
            } else {
                Err(Incompatibility::NotLegacy)
            };
        };
        if !self.min_version.is_empty()
            && version_cmp(&orch.version, &self.min_version) == Ordering::Less
        {
            return Err(Incompatibility::Version {
                have: orch.version.clone(),
                need: self.min_version.clone(),
            });
        }
        if !orch.mandatory.is_subset_of(&self.offered) {
            return Err(Incompatibility::MandatoryMissing {
                ids: orch.mandatory.missing_from(&self.offered),
            });
        }
        if !self.offered.is_subset_of(&orch.offered) {
            return Err(Incompatibility::CapabilityMissing {
                ids: self.offered.missing_from(&orch.offered),
            });
        }
        for (cap, models) in &self.models {
            for (model, need) in models {
                let have = orch
                    .models
                    .get(cap)
                    .and_then(|m| m.get(model))
                    .ok_or_else(|| Incompatibility::ModelMissing {
                        capability: *cap,
                        model: model.clone(),
                    })?;
                if need.warm && !have.warm {
                    return Err(Incompatibility::ModelCold {
                        capability: *cap,
                        model: model.clone(),
                    });
                }
                if !need.runner_version.is_empty()
                    && version_cmp(&have.runner_version, &need.runner_version) == Ordering::Less
                {
                    return Err(Incompatibility::RunnerVersion {
                        model: model.clone(),
                        have: have.runner_version.clone(),
                        need: need.runner_version.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A parsed `major.minor.patch[-pre][+build]` version; missing parts are 0.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version {
    nums: [u64; 3],
    pre: Option<String>,
}

fn parse_version(s: &str) -> Option<Version> {
    let s = s.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Some(p.to_owned())),
        None => (s, None),
    };
    let mut nums = [0u64; 3];
    let mut parts = core.split('.');
    for slot in &mut nums {
        match parts.next() {
            Some(p) => *slot = p.parse().ok()?,
            None => break,
        }
    }
    if parts.next().is_some() || core.is_empty() {
        return None;
    }
    Some(Version { nums, pre })
}

/// Compares versions the semver way (a pre-release sorts before its release). A version that
/// does not parse sorts below every version that does, so a node with a garbled version never
/// satisfies a minimum.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    match (parse_version(a), parse_version(b)) {
        (Some(a), Some(b)) => a.nums.cmp(&b.nums).then_with(|| match (&a.pre, &b.pre) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.cmp(y),
        }),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
