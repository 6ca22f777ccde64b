//! What the session and its rendition workers share: the messages the decoder sends each
//! worker, the session's handle on a worker thread, the counters behind its statistics, and
//! how a worker puts a segment's encoded video and the input's audio back together.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

use ffmpeg_next as ff;

use super::types::Rendition;
use crate::MediaError;
use crate::codec::VideoCodec;
use crate::media::{AudioCodec, Packet, SegmentMedia};

/// A worker's counters behind [`super::EncoderStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) opens: AtomicU64,
    pub(super) sentinel_frames: AtomicU64,
}

/// A message from the decoder to a rendition worker.
pub(super) enum Job {
    /// A segment starts; its first decoded frame has this size.
    Begin {
        seq: u64,
        input: (u32, u32),
        source_rate: (u32, u32),
        /// The segment's duration from its video timestamps (90 kHz).
        duration: i64,
        reset: bool,
    },
    Frame(Arc<ff::frame::Video>),
    /// The segment's frames are all sent; mux with this audio and reply (unless aborted).
    End {
        audio: Arc<Vec<Packet>>,
        audio_codec: Option<AudioCodec>,
        abort: bool,
    },
}

pub(super) struct Worker {
    pub(super) name: String,
    pub(super) counters: Arc<Counters>,
    pub(super) jobs: SyncSender<Job>,
    pub(super) results: Receiver<Result<Rendition, MediaError>>,
    pub(super) thread: Option<JoinHandle<()>>,
}

/// Merges encoded video with the input's audio by decode time.
fn merge_by_dts(video: Vec<Packet>, audio: &[Packet]) -> Vec<Packet> {
    let mut out = Vec::with_capacity(video.len() + audio.len());
    let mut a = audio.iter().peekable();
    for v in video {
        while let Some(p) = a.next_if(|p| p.dts < v.dts) {
            out.push(p.clone());
        }
        out.push(v);
    }
    out.extend(a.cloned());
    out
}

/// Builds a rendition's segment media.
pub(super) fn rendition_media(
    video_codec: VideoCodec,
    video: Vec<Packet>,
    audio: &[Packet],
    codec: Option<AudioCodec>,
) -> SegmentMedia {
    SegmentMedia {
        has_video: true,
        video_codec,
        audio: codec,
        packets: merge_by_dts(video, if codec.is_some() { audio } else { &[] }),
    }
}
