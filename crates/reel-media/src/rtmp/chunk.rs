//! The RTMP chunk stream, incoming direction: bytes in, whole messages out. Sans-IO and
//! bounded: the peer's chunk size is checked before it is used, every message length is
//! checked against a limit for its type before a byte of it is buffered, and the number of
//! chunk streams with half-received messages is capped. Pure; fuzzed.

use std::collections::HashMap;

use bytes::{Buf, Bytes, BytesMut};

use crate::MediaError;

/// Message type ids.
pub mod types {
    /// Set Chunk Size.
    pub const SET_CHUNK_SIZE: u8 = 1;
    /// Abort Message.
    pub const ABORT: u8 = 2;
    /// Acknowledgement.
    pub const ACK: u8 = 3;
    /// User Control Message.
    pub const USER_CONTROL: u8 = 4;
    /// Window Acknowledgement Size.
    pub const WINDOW_ACK_SIZE: u8 = 5;
    /// Set Peer Bandwidth.
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    /// Audio data.
    pub const AUDIO: u8 = 8;
    /// Video data.
    pub const VIDEO: u8 = 9;
    /// AMF3 data.
    pub const DATA_AMF3: u8 = 15;
    /// AMF3 command.
    pub const COMMAND_AMF3: u8 = 17;
    /// AMF0 data (metadata).
    pub const DATA_AMF0: u8 = 18;
    /// AMF0 command.
    pub const COMMAND_AMF0: u8 = 20;
}

/// Limits on what a peer may make us hold.
#[derive(Debug, Clone)]
pub struct ChunkLimits {
    /// Largest chunk size a peer may announce.
    pub max_chunk_size: u32,
    /// Largest audio or video message.
    pub max_media_message: u32,
    /// Largest message of any other type (commands, metadata, control).
    pub max_other_message: u32,
    /// Most chunk streams that may have a message half received at once.
    pub max_open_streams: usize,
    /// Most chunk streams a connection may use at all.
    pub max_streams: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            // The largest message RTMP can express (24-bit length): a larger chunk size
            // could only be a lie.
            max_chunk_size: 0x00FF_FFFF,
            max_media_message: 0x00FF_FFFF,
            max_other_message: 64 << 10,
            max_open_streams: 8,
            max_streams: 64,
        }
    }
}

/// A whole RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Timestamp in milliseconds.
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// The payload.
    pub payload: Bytes,
}

/// The last header seen on a chunk stream (what compressed headers refer back to).
#[derive(Debug, Default, Clone, Copy)]
struct Header {
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: bool,
}

#[derive(Debug, Default)]
struct StreamState {
    header: Header,
    /// The message being assembled, if one is half received.
    partial: Option<BytesMut>,
}

/// Reassembles messages from the chunk stream.
#[derive(Debug)]
pub struct ChunkReader {
    limits: ChunkLimits,
    chunk_size: u32,
    buf: BytesMut,
    streams: HashMap<u32, StreamState>,
    bytes_in: u64,
}

impl ChunkReader {
    /// A reader at the protocol's initial chunk size of 128.
    pub fn new(limits: ChunkLimits) -> Self {
        Self {
            limits,
            chunk_size: 128,
            buf: BytesMut::with_capacity(64 << 10),
            streams: HashMap::new(),
            bytes_in: 0,
        }
    }

    /// Bytes received so far (for acknowledgements).
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Bytes waiting to be parsed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends received bytes. The caller bounds how much it reads at a time.
    pub fn push(&mut self, bytes: &[u8]) {
        self.bytes_in += bytes.len() as u64;
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, if the buffered bytes complete one. Set Chunk Size and Abort
    /// messages are applied here, before any later chunk is read, and also returned.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, MediaError> {
        loop {
            match self.next_chunk()? {
                Step::NeedMore => return Ok(None),
                Step::Progress => continue,
                Step::Message(m) => {
                    match m.type_id {
                        types::SET_CHUNK_SIZE => self.apply_chunk_size(&m.payload)?,
                        types::ABORT => {
                            if let Some(csid) = read_u32(&m.payload)
                                && let Some(s) = self.streams.get_mut(&csid)
                            {
                                s.partial = None;
                            }
                        }
                        _ => {}
                    }
                    return Ok(Some(m));
                }
            }
        }
    }

    fn apply_chunk_size(&mut self, payload: &[u8]) -> Result<(), MediaError> {
        let size = read_u32(payload)
            .ok_or_else(|| MediaError::rtmp("Set Chunk Size message shorter than 4 bytes"))?;
        // The top bit must be 0 (RTMP 5.4.1); 0 is meaningless.
        if size == 0 || size > self.limits.max_chunk_size {
            return Err(MediaError::RtmpChunkSize {
                size,
                limit: self.limits.max_chunk_size,
            });
        }
        self.chunk_size = size;
        Ok(())
    }

    fn next_chunk(&mut self) -> Result<Step, MediaError> {
        let b = &self.buf[..];
        let Some(&b0) = b.first() else {
            return Ok(Step::NeedMore);
        };
        let fmt = b0 >> 6;
        let (csid, basic_len) = match b0 & 0x3F {
            0 => match b.get(1) {
                Some(&b1) => (64 + u32::from(b1), 2),
                None => return Ok(Step::NeedMore),
            },
            1 => match (b.get(1), b.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + u32::from(b1) + 256 * u32::from(b2), 3),
                _ => return Ok(Step::NeedMore),
            },
            id => (u32::from(id), 1),
        };
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        let Some(h) = b.get(basic_len..basic_len + header_len) else {
            return Ok(Step::NeedMore);
        };
        let known = self.streams.contains_key(&csid);
        if !known {
            if fmt != 0 {
                return Err(MediaError::rtmp(format!(
                    "chunk stream {csid} starts with a compressed (type {fmt}) header"
                )));
            }
            if self.streams.len() >= self.limits.max_streams {
                return Err(MediaError::rtmp(format!(
                    "more than {} chunk streams on one connection",
                    self.limits.max_streams
                )));
            }
        }
        let (prev, have) = self
            .streams
            .get(&csid)
            .map(|s| (s.header, s.partial.as_ref().map(BytesMut::len)))
            .unwrap_or_default();
        let mut st = prev;
        let ts_field = if fmt <= 2 { u24(&h[0..3]) } else { 0 };
        if fmt <= 1 {
            st.length = u24(&h[3..6]);
            st.type_id = h[6];
        }
        if fmt == 0 {
            st.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
        }
        let extended = if fmt <= 2 {
            ts_field == 0x00FF_FFFF
        } else {
            prev.extended
        };
        let mut pos = basic_len + header_len;
        let ext_value = if extended {
            let Some(e) = b.get(pos..pos + 4) else {
                return Ok(Step::NeedMore);
            };
            pos += 4;
            Some(u32::from_be_bytes([e[0], e[1], e[2], e[3]]))
        } else {
            None
        };
        st.extended = extended;
        let starting = have.is_none();
        if !starting && fmt <= 1 && (st.length != prev.length || st.type_id != prev.type_id) {
            return Err(MediaError::rtmp(format!(
                "chunk stream {csid} changed its message header in the middle of a message"
            )));
        }
        if starting {
            let field = ext_value.unwrap_or(ts_field);
            match fmt {
                0 => {
                    st.timestamp = field;
                    st.delta = field;
                }
                1 | 2 => {
                    st.delta = field;
                    st.timestamp = prev.timestamp.wrapping_add(field);
                }
                _ => st.timestamp = prev.timestamp.wrapping_add(prev.delta),
            }
            let limit = if matches!(st.type_id, types::AUDIO | types::VIDEO) {
                self.limits.max_media_message
            } else {
                self.limits.max_other_message
            };
            if st.length > limit {
                return Err(MediaError::TooLarge {
                    what: "RTMP message",
                    limit: u64::from(limit),
                });
            }
            let open = self
                .streams
                .values()
                .filter(|s| s.partial.is_some())
                .count();
            if open >= self.limits.max_open_streams {
                return Err(MediaError::rtmp(format!(
                    "more than {} chunk streams with half-sent messages",
                    self.limits.max_open_streams
                )));
            }
        }
        let length = st.length as usize;
        let remaining = length - have.unwrap_or(0).min(length);
        let take = remaining.min(self.chunk_size as usize);
        if self.buf.len() < pos + take {
            return Ok(Step::NeedMore);
        }
        // The whole chunk is here: commit.
        self.buf.advance(pos);
        let data = self.buf.split_to(take);
        let state = self.streams.entry(csid).or_default();
        state.header = st;
        let partial = state.partial.get_or_insert_with(|| {
            // Grow as bytes arrive; never reserve what the peer only announced.
            BytesMut::with_capacity(length.min(64 << 10))
        });
        partial.extend_from_slice(&data);
        if partial.len() < length {
            return Ok(Step::Progress);
        }
        let payload = state.partial.take().unwrap_or_default().freeze();
        Ok(Step::Message(RawMessage {
            csid,
            timestamp: st.timestamp,
            type_id: st.type_id,
            stream_id: st.stream_id,
            payload,
        }))
    }
}

enum Step {
    NeedMore,
    Progress,
    Message(RawMessage),
}

fn u24(b: &[u8]) -> u32 {
    (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2])
}

fn read_u32(b: &[u8]) -> Option<u32> {
    let b: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

/// Writes one message as chunks (type 0 header first, type 3 after), for tests and tools
/// that play the client. The server's replies go through `rml_rtmp`'s serializer.
pub fn write_message(
    out: &mut Vec<u8>,
    csid: u8,
    msg_type: u8,
    stream_id: u32,
    timestamp: u32,
    payload: &[u8],
    chunk_size: usize,
) {
    let csid = csid & 0x3F;
    let ts_field = timestamp.min(0x00FF_FFFF);
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.push(csid);
    out.extend_from_slice(&ts_field.to_be_bytes()[1..]);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(msg_type);
    out.extend_from_slice(&stream_id.to_le_bytes());
    if ts_field == 0x00FF_FFFF {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for (i, chunk) in payload.chunks(chunk_size.max(1)).enumerate() {
        if i > 0 {
            out.push(0xC0 | csid);
            if ts_field == 0x00FF_FFFF {
                out.extend_from_slice(&timestamp.to_be_bytes());
            }
        }
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> ChunkReader {
        ChunkReader::new(ChunkLimits::default())
    }

    fn all(r: &mut ChunkReader) -> Vec<RawMessage> {
        let mut v = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            v.push(m);
        }
        v
    }

    #[test]
    fn reassembles_split_messages_byte_by_byte() {
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        write_message(&mut wire, 4, types::VIDEO, 1, 40, &payload, 128);
        write_message(
            &mut wire,
            4,
            types::VIDEO,
            1,
            0x0100_0000,
            &payload[..10],
            128,
        );
        let mut r = reader();
        let mut got = Vec::new();
        for b in &wire {
            r.push(&[*b]);
            got.extend(all(&mut r));
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].payload, payload);
        assert_eq!(
            (got[0].timestamp, got[0].type_id, got[0].stream_id),
            (40, 9, 1)
        );
        assert_eq!(got[1].timestamp, 0x0100_0000, "extended timestamp");
        assert_eq!(r.bytes_in(), wire.len() as u64);
    }

    #[test]
    fn applies_chunk_size_before_the_next_chunk() {
        let mut wire = Vec::new();
        write_message(
            &mut wire,
            2,
            types::SET_CHUNK_SIZE,
            0,
            0,
            &4096u32.to_be_bytes(),
            128,
        );
        let payload = vec![7u8; 3000];
        write_message(&mut wire, 5, types::AUDIO, 1, 0, &payload, 4096);
        let mut r = reader();
        r.push(&wire);
        let msgs = all(&mut r);
        assert_eq!(msgs.len(), 2);
        assert_eq!(r.chunk_size(), 4096);
        assert_eq!(msgs[1].payload.len(), 3000);
    }

    #[test]
    fn interleaved_chunk_streams() {
        // Two messages whose chunks alternate, as the spec allows.
        let a = vec![1u8; 200];
        let b = vec![2u8; 200];
        let mut wa = Vec::new();
        write_message(&mut wa, 4, types::VIDEO, 1, 0, &a, 128);
        let mut wb = Vec::new();
        write_message(&mut wb, 5, types::AUDIO, 1, 0, &b, 128);
        // split at chunk boundaries: header 12 + 128, then 1 + 72
        let mut wire = Vec::new();
        wire.extend_from_slice(&wa[..140]);
        wire.extend_from_slice(&wb[..140]);
        wire.extend_from_slice(&wa[140..]);
        wire.extend_from_slice(&wb[140..]);
        let mut r = reader();
        r.push(&wire);
        let msgs = all(&mut r);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].payload, a);
        assert_eq!(msgs[1].payload, b);
    }

    #[test]
    fn type_1_2_3_headers_carry_deltas() {
        let mut wire = Vec::new();
        write_message(&mut wire, 4, types::VIDEO, 1, 1000, &[1, 2], 128);
        // type 1: delta 33, len 2, type 9
        wire.extend_from_slice(&[0x44, 0, 0, 33, 0, 0, 2, 9, 3, 4]);
        // type 2: delta 34
        wire.extend_from_slice(&[0x84, 0, 0, 34, 5, 6]);
        // type 3: same delta again
        wire.extend_from_slice(&[0xC4, 7, 8]);
        let mut r = reader();
        r.push(&wire);
        let ts: Vec<u32> = all(&mut r).iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![1000, 1033, 1067, 1101]);
    }

    #[test]
    fn rejects_a_2_gib_chunk_size() {
        let mut wire = Vec::new();
        write_message(
            &mut wire,
            2,
            types::SET_CHUNK_SIZE,
            0,
            0,
            &0x8000_0000u32.to_be_bytes(),
            128,
        );
        let mut r = reader();
        r.push(&wire);
        assert!(matches!(
            r.next_message(),
            Err(MediaError::RtmpChunkSize {
                size: 0x8000_0000,
                ..
            })
        ));
        let mut wire = Vec::new();
        write_message(
            &mut wire,
            2,
            types::SET_CHUNK_SIZE,
            0,
            0,
            &0u32.to_be_bytes(),
            128,
        );
        let mut r = reader();
        r.push(&wire);
        assert!(r.next_message().is_err());
    }

    #[test]
    fn rejects_oversized_messages_before_buffering_them() {
        let mut r = reader();
        // A command message announcing 16 MB.
        r.push(&[0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 20, 0, 0, 0, 0]);
        assert!(matches!(r.next_message(), Err(MediaError::TooLarge { .. })));
    }

    #[test]
    fn rejects_too_many_half_sent_messages() {
        let mut r = reader();
        let mut wire = Vec::new();
        for csid in 3..40u8 {
            // 1000-byte video messages, only their first chunk sent.
            let mut one = Vec::new();
            write_message(&mut one, csid, types::VIDEO, 1, 0, &[0u8; 1000], 128);
            wire.extend_from_slice(&one[..12 + 128]);
        }
        r.push(&wire);
        assert!(r.next_message().is_err());
    }

    #[test]
    fn rejects_compressed_header_on_a_new_stream() {
        let mut r = reader();
        r.push(&[0xC7, 1, 2, 3]);
        assert!(r.next_message().is_err());
        let mut r = reader();
        r.push(&[0x47, 0, 0, 1, 0, 0, 1, 9]);
        assert!(r.next_message().is_err());
    }
}
