//! One WHEP session: the rendition's newest segments, demuxed, each access unit written to
//! str0m when its timestamp comes due.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime, Mid};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::hls::HlsStore;
use crate::media::{TS_HZ, Track};
use crate::stream::StreamName;

/// How often the store is asked for new segments.
const POLL: Duration = Duration::from_millis(100);
/// A timestamp this far from the previous one starts a new timeline.
const JUMP: i64 = 5 * TS_HZ;

pub(super) struct Session {
    pub(super) rtc: Rtc,
    pub(super) socket: UdpSocket,
    pub(super) hls: Arc<HlsStore>,
    pub(super) stream: StreamName,
    pub(super) rendition: String,
    pub(super) stall: Duration,
    pub(super) cancel: CancellationToken,
}

/// Access units waiting for their time, and the clock that times them.
#[derive(Default)]
struct Pacer {
    queue: VecDeque<(i64, Bytes)>,
    /// (when, source pts, output RTP time) of the timeline's first unit.
    base: Option<(Instant, i64, i64)>,
    /// The last unit's source pts and output RTP time.
    last: Option<(i64, i64)>,
    last_seq: Option<u64>,
    last_new: Option<Instant>,
}

impl Pacer {
    /// When the front unit is due, and its output RTP time.
    fn due(&mut self) -> Option<(Instant, i64)> {
        let &(pts, _) = self.queue.front()?;
        let jumped = self.last.is_none_or(|(p, _)| pts <= p || pts - p > JUMP);
        if self.base.is_none() || jumped {
            // A new timeline continues the output clock one frame on, and starts now.
            let rtp = self.last.map_or(0, |(_, r)| r + 3000);
            self.base = Some((Instant::now(), pts, rtp));
        }
        let (at, base_pts, base_rtp) = self.base?;
        let ticks = u64::try_from(pts - base_pts).unwrap_or(0);
        Some((
            at + Duration::from_micros(ticks * 100 / 9),
            base_rtp + (pts - base_pts),
        ))
    }
}

impl Session {
    pub(super) async fn run(mut self) {
        if let Err(e) = self.drive().await {
            tracing::info!(target: "media::whep", stream = %self.stream, rendition = %self.rendition, error = %e, "WHEP session ended");
        }
        self.rtc.disconnect();
    }

    async fn drive(&mut self) -> Result<(), String> {
        let local = self.socket.local_addr().map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 2048];
        let mut video: Option<Mid> = None;
        let mut connected = false;
        let mut pacer = Pacer::default();
        let started = Instant::now();
        let mut next_poll = Instant::now();
        loop {
            let timeout = match self.rtc.poll_output().map_err(|e| e.to_string())? {
                Output::Timeout(t) => t,
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                    continue;
                }
                Output::Event(Event::MediaAdded(m)) => {
                    if m.kind == MediaKind::Video {
                        video = Some(m.mid);
                    }
                    continue;
                }
                Output::Event(Event::Connected) => {
                    connected = true;
                    continue;
                }
                Output::Event(Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                )) => return Ok(()),
                Output::Event(_) => continue,
            };
            let now = Instant::now();
            if !connected && now - started > self.stall {
                return Err("the player never connected".into());
            }
            if connected && now >= next_poll {
                next_poll = now + POLL;
                self.fetch(&mut pacer)?;
            }
            // Write every unit that is due.
            let mut wait = timeout.min(next_poll);
            if let Some(mid) = video.filter(|_| connected) {
                while let Some((at, rtp)) = pacer.due() {
                    if at > Instant::now() {
                        wait = wait.min(at);
                        break;
                    }
                    let Some((pts, data)) = pacer.queue.pop_front() else {
                        break;
                    };
                    pacer.last = Some((pts, rtp));
                    self.write(mid, rtp, &data)?;
                }
            }
            let input = tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, source)) => match crate::whip::http::datagram(&buf[..n], source, local) {
                        Some(input) => input,
                        None => continue,
                        },
                    Err(e) => return Err(e.to_string()),
                },
                () = tokio::time::sleep_until(wait.into()) => Input::Timeout(Instant::now()),
            };
            self.rtc.handle_input(input).map_err(|e| e.to_string())?;
        }
    }

    /// Queues the access units of segments new since the last look (the newest one only,
    /// the first time: play starts at the live edge).
    fn fetch(&self, pacer: &mut Pacer) -> Result<(), String> {
        let mut new = self
            .hls
            .segments_after(&self.stream, &self.rendition, pacer.last_seq);
        if pacer.last_seq.is_none() && new.len() > 1 {
            new.drain(..new.len() - 1);
        }
        if new.is_empty() {
            if self.hls.is_ended(&self.stream) != Some(false) && pacer.queue.is_empty() {
                return Err("the stream ended".into());
            }
            if pacer.last_new.is_some_and(|t| t.elapsed() > self.stall) {
                return Err("no new segment".into());
            }
            return Ok(());
        }
        pacer.last_new = Some(Instant::now());
        for (seq, ts) in new {
            pacer.last_seq = Some(seq);
            let Ok(media) = crate::ts::demux_rendition(&ts) else {
                continue;
            };
            if media.video_codec != crate::codec::VideoCodec::H264 {
                return Err("not an H.264 rendition".into());
            }
            // In decode order, timed by presentation: WebRTC players expect no B-frames, so
            // a rendition for WHEP is encoded without them (see the module documentation).
            pacer.queue.extend(
                media
                    .packets
                    .into_iter()
                    .filter(|p| p.track == Track::Video)
                    .map(|p| (p.pts, p.data)),
            );
        }
        Ok(())
    }

    fn write(&mut self, mid: Mid, rtp: i64, data: &[u8]) -> Result<(), String> {
        let Some(writer) = self.rtc.writer(mid) else {
            return Ok(());
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| {
                p.spec().codec == Codec::H264 && p.spec().format.packetization_mode == Some(1)
            })
            .map(|p| p.pt())
        else {
            return Err("the player takes no H.264 with packetization mode 1".into());
        };
        let time = MediaTime::from_90khz(u64::try_from(rtp).unwrap_or(0));
        writer
            .write(pt, Instant::now(), time, data.to_vec())
            .map_err(|e| e.to_string())
    }
}
