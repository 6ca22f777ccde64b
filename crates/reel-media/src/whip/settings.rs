//! WHIP's settings, shared by the HTTP side and the sessions.

use std::net::IpAddr;
use std::time::Duration;

use crate::segmenter::SegmenterSettings;

/// WHIP settings.
#[derive(Debug, Clone)]
pub struct WhipSettings {
    /// How streams are cut into segments (as for RTMP).
    pub segmenter: SegmenterSettings,
    /// The address media is received on (one UDP port per session) and offered to peers as
    /// the host candidate.
    pub media_ip: IpAddr,
    /// A token publishers must send as `Authorization: Bearer <token>` (OBS's "Bearer
    /// Token" field); `None` takes any publisher.
    pub bearer: Option<String>,
    /// Sessions at once.
    pub max_sessions: usize,
    /// A session that receives no video for this long ends.
    pub stall: Duration,
    /// Largest SDP offer taken.
    pub max_offer_bytes: usize,
}

impl Default for WhipSettings {
    fn default() -> Self {
        Self {
            segmenter: SegmenterSettings::default(),
            media_ip: IpAddr::from([127, 0, 0, 1]),
            bearer: None,
            max_sessions: 16,
            stall: Duration::from_secs(10),
            max_offer_bytes: 64 << 10,
        }
    }
}
