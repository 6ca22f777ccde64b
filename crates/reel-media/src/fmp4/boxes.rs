//! ISO BMFF box writing (sizes patched once the contents are known) and bounded box
//! reading.

use super::types::mp4_err;
use crate::MediaError;

/// Deepest box nesting `read` follows; reel's own files go five deep.
pub(super) const MAX_DEPTH: usize = 12;

/// Appends boxes to a buffer.
#[derive(Debug, Default)]
pub(super) struct BoxWriter {
    pub(super) buf: Vec<u8>,
}

impl BoxWriter {
    /// Starts a box; returns its offset for [`BoxWriter::end`].
    pub(super) fn start(&mut self, kind: &[u8; 4]) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(kind);
        at
    }

    /// Starts a full box (version and flags after the header).
    pub(super) fn start_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) -> usize {
        let at = self.start(kind);
        self.u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
        at
    }

    /// Ends the box started at `at` by writing its size.
    pub(super) fn end(&mut self, at: usize) -> Result<(), MediaError> {
        let size = u32::try_from(self.buf.len() - at)
            .map_err(|_| mp4_err("a box would be larger than 4 GiB"))?;
        self.buf[at..at + 4].copy_from_slice(&size.to_be_bytes());
        Ok(())
    }

    pub(super) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(super) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    pub(super) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
}

/// One box found by [`boxes`]: its type, its payload, and the payload's offset in the
/// buffer that was walked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mp4Box<'a> {
    pub(super) kind: [u8; 4],
    pub(super) start: usize,
    pub(super) body: &'a [u8],
    pub(super) body_offset: usize,
}

/// The boxes laid end to end in `data` (whose first byte is at `base` in the file). A box
/// that claims more bytes than remain is an error, never a short read.
pub(super) fn boxes(
    data: &[u8],
    base: usize,
) -> impl Iterator<Item = Result<Mp4Box<'_>, MediaError>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        let rest = &data[pos..];
        let parsed = parse_header(rest);
        let Ok((kind, header, size)) = parsed else {
            pos = data.len();
            return parsed.err().map(Err);
        };
        let b = Mp4Box {
            kind,
            start: base + pos,
            body: &rest[header..size],
            body_offset: base + pos + header,
        };
        pos += size;
        Some(Ok(b))
    })
}

/// (type, header length, whole box length) of the box at the start of `rest`.
fn parse_header(rest: &[u8]) -> Result<([u8; 4], usize, usize), MediaError> {
    let [a, b, c, d, k0, k1, k2, k3, tail @ ..] = rest else {
        return Err(mp4_err(format!(
            "box header cut short ({} bytes left)",
            rest.len()
        )));
    };
    let kind = [*k0, *k1, *k2, *k3];
    let size32 = u32::from_be_bytes([*a, *b, *c, *d]);
    let (header, size) = match size32 {
        0 => (8, rest.len() as u64),
        1 => {
            let Some(large) = tail.get(..8) else {
                return Err(mp4_err("64-bit box size cut short"));
            };
            let mut v = [0u8; 8];
            v.copy_from_slice(large);
            (16, u64::from_be_bytes(v))
        }
        s => (8, u64::from(s)),
    };
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size < header || size > rest.len() {
        return Err(mp4_err(format!(
            "box {} claims {size} bytes but {} remain",
            fourcc(&kind),
            rest.len()
        )));
    }
    Ok((kind, header, size))
}

/// A box type for messages, with anything unprintable escaped.
pub(super) fn fourcc(kind: &[u8; 4]) -> String {
    kind.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// The first child of `parent` with type `kind`.
pub(super) fn child<'a>(
    parent: &Mp4Box<'a>,
    kind: &[u8; 4],
) -> Result<Option<Mp4Box<'a>>, MediaError> {
    for b in boxes(parent.body, parent.body_offset) {
        let b = b?;
        if &b.kind == kind {
            return Ok(Some(b));
        }
    }
    Ok(None)
}

/// Follows a path of child types from `parent`; `None` if any step is missing.
pub(super) fn path<'a>(
    parent: &Mp4Box<'a>,
    kinds: &[&[u8; 4]],
) -> Result<Option<Mp4Box<'a>>, MediaError> {
    if kinds.len() > MAX_DEPTH {
        return Err(mp4_err("boxes nested too deep"));
    }
    let mut cur = *parent;
    for kind in kinds {
        match child(&cur, kind)? {
            Some(b) => cur = b,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// A cursor over a box payload; every read past the end is an `Mp4` error naming `what`.
#[derive(Debug)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], MediaError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let Some(end) = end else {
            return Err(mp4_err(format!("{} box cut short", self.what)));
        };
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(super) fn remaining(&self) -> &'a [u8] {
        &self.data[self.pos.min(self.data.len())..]
    }

    pub(super) fn u8(&mut self) -> Result<u8, MediaError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, MediaError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self) -> Result<u32, MediaError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn u64(&mut self) -> Result<u64, MediaError> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }

    /// Version and flags of a full box.
    pub(super) fn full(&mut self) -> Result<(u8, u32), MediaError> {
        let v = self.u32()?;
        Ok(((v >> 24) as u8, v & 0x00FF_FFFF))
    }
}
