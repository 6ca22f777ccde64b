//! The publish side of an RTMP connection as a sans-IO state machine: whole messages in
//! (from [`super::chunk::ChunkReader`]), reply bytes and [`SessionEvent`]s out. Only
//! publishing is served; playback is HLS's job.

use bytes::Bytes;
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::messages::MessagePayload;
use rml_rtmp::time::RtmpTimestamp;

use super::chunk::{RawMessage, types};
use crate::MediaError;
use crate::amf0::{self, Amf0Value};

/// The window we ask the peer to acknowledge and the bandwidth we grant.
const WINDOW: u32 = 2_500_000;
/// Our outgoing chunk size.
const OUT_CHUNK_SIZE: u32 = 4096;

/// What the connection wants the server to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The peer asks to publish: answer with [`PublishSession::accept_publish`] or
    /// [`PublishSession::reject_publish`].
    Publish {
        /// The application from `connect` (`live` in `rtmp://host/live/key`).
        app: String,
        /// The publish name (the stream key).
        name: String,
    },
    /// `@setDataFrame onMetaData`.
    Metadata(Amf0Value),
    /// An FLV video tag body.
    Video {
        /// Milliseconds.
        timestamp: u32,
        /// The tag body.
        data: Bytes,
    },
    /// An FLV audio tag body.
    Audio {
        /// Milliseconds.
        timestamp: u32,
        /// The tag body.
        data: Bytes,
    },
    /// The peer stopped publishing.
    Unpublish,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitConnect,
    Connected,
    AwaitPublishAnswer { stream_id: u32 },
    Publishing { stream_id: u32 },
    Closed,
}

/// One connection's RTMP session.
pub struct PublishSession {
    serializer: ChunkSerializer,
    out: Vec<u8>,
    state: State,
    app: String,
    peer_window: Option<u32>,
    acked: u64,
}

impl std::fmt::Debug for PublishSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishSession")
            .field("state", &self.state)
            .field("app", &self.app)
            .finish()
    }
}

impl Default for PublishSession {
    fn default() -> Self {
        Self::new()
    }
}

impl PublishSession {
    /// A session waiting for `connect`.
    pub fn new() -> Self {
        Self {
            serializer: ChunkSerializer::new(),
            out: Vec::new(),
            state: State::AwaitConnect,
            app: String::new(),
            peer_window: None,
            acked: 0,
        }
    }

    /// Reply bytes to write to the peer.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the peer is publishing.
    pub fn is_publishing(&self) -> bool {
        matches!(self.state, State::Publishing { .. })
    }

    /// Handles one message.
    pub fn handle(&mut self, msg: RawMessage) -> Result<Option<SessionEvent>, MediaError> {
        match msg.type_id {
            types::COMMAND_AMF0 => self.command(&msg, &msg.payload),
            types::COMMAND_AMF3 => {
                // AMF3 commands from Flash-era clients are AMF0 behind a zero byte.
                let body = msg.payload.strip_prefix(&[0]).unwrap_or(&msg.payload);
                self.command(&msg, body)
            }
            types::DATA_AMF0 | types::DATA_AMF3 => {
                let body = if msg.type_id == types::DATA_AMF3 {
                    msg.payload.strip_prefix(&[0]).unwrap_or(&msg.payload)
                } else {
                    &msg.payload
                };
                let values = amf0::decode_all(body)?;
                let meta = match values.as_slice() {
                    [Amf0Value::String(s), Amf0Value::String(m), v, ..]
                        if s == "@setDataFrame" && m == "onMetaData" =>
                    {
                        Some(v.clone())
                    }
                    [Amf0Value::String(m), v, ..] if m == "onMetaData" => Some(v.clone()),
                    _ => None,
                };
                Ok(meta.map(SessionEvent::Metadata))
            }
            types::VIDEO | types::AUDIO => {
                if !self.is_publishing() {
                    return Ok(None);
                }
                let (timestamp, data) = (msg.timestamp, msg.payload);
                Ok(Some(if msg.type_id == types::VIDEO {
                    SessionEvent::Video { timestamp, data }
                } else {
                    SessionEvent::Audio { timestamp, data }
                }))
            }
            types::WINDOW_ACK_SIZE => {
                let size = msg
                    .payload
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| MediaError::rtmp("Window Acknowledgement Size too short"))?;
                self.peer_window = (size > 0).then_some(size);
                Ok(None)
            }
            // Set Chunk Size and Abort were applied by the chunk reader; acknowledgements,
            // user control and bandwidth messages need nothing from a publish server.
            _ => Ok(None),
        }
    }

    /// Sends an acknowledgement if the peer's window has filled since the last one.
    pub fn acknowledge(&mut self, bytes_in: u64) -> Result<(), MediaError> {
        if let Some(window) = self.peer_window
            && bytes_in - self.acked >= u64::from(window)
        {
            self.acked = bytes_in;
            // The sequence number is the byte count modulo 2^32.
            let seq = (bytes_in & 0xFFFF_FFFF) as u32;
            self.send(types::ACK, 0, seq.to_be_bytes().to_vec())?;
        }
        Ok(())
    }

    /// Accepts the pending publish.
    pub fn accept_publish(&mut self, name: &str) -> Result<(), MediaError> {
        let State::AwaitPublishAnswer { stream_id } = self.state else {
            return Err(MediaError::rtmp("no publish request to accept"));
        };
        // User Control: Stream Begin.
        let mut begin = vec![0, 0];
        begin.extend_from_slice(&stream_id.to_be_bytes());
        self.send(types::USER_CONTROL, 0, begin)?;
        self.on_status(
            stream_id,
            "status",
            "NetStream.Publish.Start",
            &format!("{name} is now published"),
        )?;
        self.state = State::Publishing { stream_id };
        Ok(())
    }

    /// Refuses the pending publish with a reason the publisher's log will show.
    pub fn reject_publish(&mut self, description: &str) -> Result<(), MediaError> {
        let stream_id = match self.state {
            State::AwaitPublishAnswer { stream_id } | State::Publishing { stream_id } => stream_id,
            _ => 1,
        };
        self.on_status(stream_id, "error", "NetStream.Publish.BadName", description)?;
        self.state = State::Closed;
        Ok(())
    }

    fn command(
        &mut self,
        msg: &RawMessage,
        body: &[u8],
    ) -> Result<Option<SessionEvent>, MediaError> {
        let values = amf0::decode_all(body)?;
        let (Some(Amf0Value::String(name)), txn) = (values.first(), values.get(1)) else {
            return Err(MediaError::rtmp("command without a name"));
        };
        let txn = txn.and_then(Amf0Value::as_number).unwrap_or(0.0);
        match name.as_str() {
            "connect" => {
                if self.state != State::AwaitConnect {
                    return Err(MediaError::rtmp("connect sent twice"));
                }
                self.app = values
                    .get(2)
                    .and_then(|o| o.get("app"))
                    .and_then(Amf0Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.send(types::WINDOW_ACK_SIZE, 0, WINDOW.to_be_bytes().to_vec())?;
                let mut bw = WINDOW.to_be_bytes().to_vec();
                bw.push(2); // dynamic
                self.send(types::SET_PEER_BANDWIDTH, 0, bw)?;
                let packet = self
                    .serializer
                    .set_max_chunk_size(OUT_CHUNK_SIZE, RtmpTimestamp::new(0))
                    .map_err(|e| MediaError::rtmp(format!("serializing Set Chunk Size: {e}")))?;
                self.out.extend_from_slice(&packet.bytes);
                let reply = amf0::encode_all(&[
                    Amf0Value::String("_result".into()),
                    Amf0Value::Number(txn),
                    Amf0Value::Object(vec![
                        ("fmsVer".into(), Amf0Value::String("FMS/3,0,1,123".into())),
                        ("capabilities".into(), Amf0Value::Number(31.0)),
                    ]),
                    Amf0Value::Object(vec![
                        ("level".into(), Amf0Value::String("status".into())),
                        (
                            "code".into(),
                            Amf0Value::String("NetConnection.Connect.Success".into()),
                        ),
                        (
                            "description".into(),
                            Amf0Value::String("Connection succeeded.".into()),
                        ),
                        ("objectEncoding".into(), Amf0Value::Number(0.0)),
                    ]),
                ]);
                self.send(types::COMMAND_AMF0, 0, reply)?;
                self.state = State::Connected;
                Ok(None)
            }
            "createStream" => {
                self.require_connected()?;
                let reply = amf0::encode_all(&[
                    Amf0Value::String("_result".into()),
                    Amf0Value::Number(txn),
                    Amf0Value::Null,
                    Amf0Value::Number(1.0),
                ]);
                self.send(types::COMMAND_AMF0, 0, reply)?;
                Ok(None)
            }
            "publish" => {
                self.require_connected()?;
                if self.state != State::Connected {
                    return Err(MediaError::rtmp("publish sent twice on one connection"));
                }
                let name = values
                    .get(3)
                    .and_then(Amf0Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                self.state = State::AwaitPublishAnswer {
                    stream_id: msg.stream_id,
                };
                Ok(Some(SessionEvent::Publish {
                    app: self.app.clone(),
                    name,
                }))
            }
            "FCUnpublish" | "deleteStream" | "closeStream" => {
                let was = self.is_publishing();
                self.state = State::Closed;
                Ok(was.then_some(SessionEvent::Unpublish))
            }
            "play" | "play2" => Err(MediaError::rtmp(
                "RTMP playback is not served: play the stream over HLS at /stream/<name>.m3u8",
            )),
            other => {
                // releaseStream, FCPublish, getStreamLength…: nothing a publisher waits for.
                tracing::debug!(target: "media::rtmp", command = other, "ignoring command");
                Ok(None)
            }
        }
    }

    fn require_connected(&self) -> Result<(), MediaError> {
        if self.state == State::AwaitConnect {
            return Err(MediaError::rtmp("command before connect"));
        }
        Ok(())
    }

    fn on_status(
        &mut self,
        stream_id: u32,
        level: &str,
        code: &str,
        description: &str,
    ) -> Result<(), MediaError> {
        let body = amf0::encode_all(&[
            Amf0Value::String("onStatus".into()),
            Amf0Value::Number(0.0),
            Amf0Value::Null,
            Amf0Value::Object(vec![
                ("level".into(), Amf0Value::String(level.into())),
                ("code".into(), Amf0Value::String(code.into())),
                ("description".into(), Amf0Value::String(description.into())),
            ]),
        ]);
        self.send(types::COMMAND_AMF0, stream_id, body)
    }

    fn send(&mut self, type_id: u8, stream_id: u32, data: Vec<u8>) -> Result<(), MediaError> {
        let payload = MessagePayload {
            timestamp: RtmpTimestamp::new(0),
            type_id,
            message_stream_id: stream_id,
            data: Bytes::from(data),
        };
        let packet = self
            .serializer
            .serialize(&payload, true, false)
            .map_err(|e| MediaError::rtmp(format!("serializing a reply: {e}")))?;
        self.out.extend_from_slice(&packet.bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtmp::chunk::{ChunkLimits, ChunkReader};

    fn cmd(values: &[Amf0Value], stream_id: u32) -> RawMessage {
        RawMessage {
            csid: 3,
            timestamp: 0,
            type_id: types::COMMAND_AMF0,
            stream_id,
            payload: Bytes::from(amf0::encode_all(values)),
        }
    }

    fn s(v: &str) -> Amf0Value {
        Amf0Value::String(v.into())
    }

    /// Decodes the replies with our own chunk reader.
    fn replies(session: &mut PublishSession) -> Vec<RawMessage> {
        let mut r = ChunkReader::new(ChunkLimits::default());
        r.push(&session.take_output());
        let mut v = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            v.push(m);
        }
        v
    }

    #[test]
    fn connect_create_publish() {
        let mut sess = PublishSession::new();
        let connect = cmd(
            &[
                s("connect"),
                Amf0Value::Number(1.0),
                Amf0Value::Object(vec![("app".into(), s("live"))]),
            ],
            0,
        );
        assert_eq!(sess.handle(connect).unwrap(), None);
        let r = replies(&mut sess);
        let kinds: Vec<u8> = r.iter().map(|m| m.type_id).collect();
        assert_eq!(kinds, vec![5, 6, 1, 20]);
        let result = amf0::decode_all(&r[3].payload).unwrap();
        assert_eq!(result[0], s("_result"));
        assert_eq!(
            result[3].get("code"),
            Some(&s("NetConnection.Connect.Success"))
        );

        sess.handle(cmd(
            &[s("createStream"), Amf0Value::Number(4.0), Amf0Value::Null],
            0,
        ))
        .unwrap();
        let r = replies(&mut sess);
        assert_eq!(
            amf0::decode_all(&r[0].payload).unwrap()[3],
            Amf0Value::Number(1.0)
        );

        let ev = sess
            .handle(cmd(
                &[
                    s("publish"),
                    Amf0Value::Number(5.0),
                    Amf0Value::Null,
                    s("key1"),
                    s("live"),
                ],
                1,
            ))
            .unwrap();
        assert_eq!(
            ev,
            Some(SessionEvent::Publish {
                app: "live".into(),
                name: "key1".into()
            })
        );
        assert!(!sess.is_publishing());
        sess.accept_publish("key1").unwrap();
        assert!(sess.is_publishing());
        let r = replies(&mut sess);
        let status = amf0::decode_all(&r[1].payload).unwrap();
        assert_eq!(status[3].get("code"), Some(&s("NetStream.Publish.Start")));
        assert_eq!(r[1].stream_id, 1);

        let video = RawMessage {
            csid: 4,
            timestamp: 33,
            type_id: types::VIDEO,
            stream_id: 1,
            payload: Bytes::from_static(&[0x17, 0]),
        };
        assert!(matches!(
            sess.handle(video),
            Ok(Some(SessionEvent::Video { timestamp: 33, .. }))
        ));
        assert_eq!(
            sess.handle(cmd(
                &[
                    s("deleteStream"),
                    Amf0Value::Number(6.0),
                    Amf0Value::Null,
                    Amf0Value::Number(1.0)
                ],
                0
            ))
            .unwrap(),
            Some(SessionEvent::Unpublish)
        );
    }

    #[test]
    fn protocol_errors() {
        let mut sess = PublishSession::new();
        assert!(
            sess.handle(cmd(&[s("publish"), Amf0Value::Number(1.0)], 1))
                .is_err()
        );
        let mut sess = PublishSession::new();
        assert!(sess.handle(cmd(&[Amf0Value::Number(1.0)], 0)).is_err());
        let mut sess = PublishSession::new();
        // Media before publishing is ignored, not an error.
        let audio = RawMessage {
            csid: 5,
            timestamp: 0,
            type_id: types::AUDIO,
            stream_id: 1,
            payload: Bytes::new(),
        };
        assert_eq!(sess.handle(audio).unwrap(), None);
    }

    #[test]
    fn acknowledges_the_peer_window() {
        let mut sess = PublishSession::new();
        let win = RawMessage {
            csid: 2,
            timestamp: 0,
            type_id: types::WINDOW_ACK_SIZE,
            stream_id: 0,
            payload: Bytes::from(1000u32.to_be_bytes().to_vec()),
        };
        sess.handle(win).unwrap();
        sess.acknowledge(500).unwrap();
        assert!(sess.take_output().is_empty());
        sess.acknowledge(1200).unwrap();
        let r = replies(&mut sess);
        assert_eq!(r[0].type_id, types::ACK);
        assert_eq!(&r[0].payload[..], &1200u32.to_be_bytes());
    }
}
