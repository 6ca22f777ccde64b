//! One WHIP session: str0m driven from tokio on its own UDP socket, H.264 frames into a
//! segmenter, segments out as [`IngestEvent`]s.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use str0m::format::Codec;
use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::settings::WhipSettings;
use crate::MediaError;
use crate::media::{Packet, TS_HZ, Track};
use crate::rtmp::IngestEvent;
use crate::segmenter::Segmenter;
use crate::stream::StreamName;

/// Keyframe requests are sent at most this often.
const PLI_EVERY: Duration = Duration::from_secs(1);
/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;

pub(super) struct Session {
    pub(super) rtc: Rtc,
    pub(super) socket: UdpSocket,
    pub(super) stream: StreamName,
    pub(super) events: mpsc::Sender<IngestEvent>,
    pub(super) settings: WhipSettings,
    pub(super) cancel: CancellationToken,
}

/// What the loop keeps between events.
struct State {
    segmenter: Segmenter,
    /// When the session started: the tracks' clocks are aligned on their first packets'
    /// arrival after it (their RTP clocks start at random values).
    t0: Instant,
    /// Per track (video, audio): its first RTP time (90 kHz) and that packet's arrival.
    base: [Option<(u64, i64)>; 2],
    audio: Option<super::audio::OpusToAac>,
    started: bool,
    last_media: Instant,
    last_keyframe: Instant,
    last_pli: Option<Instant>,
    video_mid: Option<Mid>,
}

impl Session {
    pub(super) async fn run(mut self) {
        let now = Instant::now();
        let mut st = State {
            segmenter: {
                let mut s = Segmenter::new(self.settings.segmenter.clone());
                s.set_audio_codec(Some(crate::media::AudioCodec::Aac));
                s
            },
            t0: now,
            base: [None, None],
            audio: None,
            started: false,
            last_media: now,
            last_keyframe: now,
            last_pli: None,
            video_mid: None,
        };
        let error = self.drive(&mut st).await.err();
        if let Some(segment) = st.segmenter.finish() {
            let _ = self
                .events
                .send(IngestEvent::Segment {
                    stream: self.stream.clone(),
                    segment,
                })
                .await;
        }
        if st.started {
            match &error {
                Some(e) => {
                    tracing::info!(target: "media::whip", stream = %self.stream, error = %e, "WHIP session ended")
                }
                None => {
                    tracing::info!(target: "media::whip", stream = %self.stream, "WHIP session ended")
                }
            }
            let _ = self
                .events
                .send(IngestEvent::Ended {
                    stream: self.stream.clone(),
                    error,
                })
                .await;
        }
        self.rtc.disconnect();
    }

    async fn drive(&mut self, st: &mut State) -> Result<(), MediaError> {
        let local = self
            .socket
            .local_addr()
            .map_err(|e| MediaError::io("reading the WHIP socket's address", e))?;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let deadline = match self.rtc.poll_output().map_err(rtc_err)? {
                Output::Timeout(t) => t,
                Output::Transmit(t) => {
                    // A send that fails (the peer's address unreachable) is what ICE and
                    // retransmission are for.
                    let _ = self.socket.send_to(&t.contents, t.destination).await;
                    continue;
                }
                Output::Event(e) => {
                    if self.event(e, st).await? {
                        return Ok(());
                    }
                    continue;
                }
            };
            if st.last_media.elapsed() > self.settings.stall {
                return Err(MediaError::Timeout {
                    what: "WHIP video",
                    after: self.settings.stall,
                });
            }
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(250));
            let input = tokio::select! {
                () = self.cancel.cancelled() => return Ok(()),
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, source)) => match crate::whip::http::datagram(&buf[..n], source, local) {
                        Some(input) => input,
                        // Not STUN, DTLS or RTP: a stray datagram.
                        None => continue,
                        },
                    Err(e) => return Err(MediaError::io("receiving WHIP media", e)),
                },
                () = tokio::time::sleep(wait) => Input::Timeout(Instant::now()),
            };
            self.rtc.handle_input(input).map_err(rtc_err)?;
        }
    }

    /// Handles one event; true when the session is over.
    async fn event(&mut self, e: Event, st: &mut State) -> Result<bool, MediaError> {
        match e {
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => Ok(true),
            Event::Connected => {
                st.started = true;
                let peer: SocketAddr = self
                    .socket
                    .peer_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                tracing::info!(target: "media::whip", stream = %self.stream, "WHIP publisher connected");
                self.emit(IngestEvent::Started {
                    stream: self.stream.clone(),
                    peer,
                })
                .await?;
                Ok(false)
            }
            Event::MediaData(d) => {
                self.media(d, st).await?;
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    async fn media(&mut self, d: MediaData, st: &mut State) -> Result<(), MediaError> {
        let codec = d.params.spec().codec;
        let track = match codec {
            Codec::H264 => 0,
            Codec::Opus => 1,
            _ => return Ok(()),
        };
        let ticks = u128::from(d.time.numer()) * TS_HZ as u128 / u128::from(d.time.denom().max(1));
        let ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
        let arrival =
            i64::try_from(d.network_time.saturating_duration_since(st.t0).as_micros() * 9 / 100)
                .unwrap_or(0);
        let (first, at) = *st.base[track].get_or_insert((ticks, arrival));
        let pts = at + i64::try_from(ticks.saturating_sub(first)).unwrap_or(i64::MAX);
        if codec == Codec::Opus {
            let audio = match &mut st.audio {
                Some(a) => a,
                None => st.audio.insert(super::audio::OpusToAac::new()?),
            };
            for packet in audio.push(&d.data, pts)? {
                st.segmenter.push(packet)?;
            }
            return Ok(());
        }
        st.last_media = Instant::now();
        st.video_mid = Some(d.mid);
        let keyframe = d.is_keyframe();
        if keyframe {
            st.last_keyframe = Instant::now();
        }
        // Browsers send keyframes only when asked: ask once a segment's worth has passed,
        // and after lost packets.
        if !d.contiguous || st.last_keyframe.elapsed() >= self.settings.segmenter.target {
            self.request_keyframe(st);
        }
        let packet = Packet {
            track: Track::Video,
            pts,
            dts: pts,
            keyframe,
            data: Bytes::copy_from_slice(&d.data),
        };
        if let Some(segment) = st.segmenter.push(packet)? {
            self.emit(IngestEvent::Segment {
                stream: self.stream.clone(),
                segment,
            })
            .await?;
        }
        Ok(())
    }

    fn request_keyframe(&mut self, st: &mut State) {
        if st.last_pli.is_some_and(|t| t.elapsed() < PLI_EVERY) {
            return;
        }
        let Some(mid) = st.video_mid else { return };
        if let Some(mut w) = self.rtc.writer(mid)
            && w.request_keyframe(None, KeyframeRequestKind::Pli).is_ok()
        {
            st.last_pli = Some(Instant::now());
        }
    }

    async fn emit(&self, e: IngestEvent) -> Result<(), MediaError> {
        self.events.send(e).await.map_err(|_| MediaError::Timeout {
            what: "the pipeline (it stopped)",
            after: Duration::ZERO,
        })
    }
}

#[allow(clippy::needless_pass_by_value)] // the shape `map_err` hands over
fn rtc_err(e: str0m::RtcError) -> MediaError {
    MediaError::WebRtc {
        reason: e.to_string(),
    }
}
