//! What the bitstream readers share: an MSB-first bit reader and the error they raise.

use crate::MediaError;

pub(crate) fn bitstream(codec: &'static str, reason: impl Into<String>) -> MediaError {
    MediaError::Bitstream {
        codec,
        reason: reason.into(),
    }
}

/// An MSB-first bit reader; every read is `None` past the end.
pub(crate) struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn read(&mut self, n: u32) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n.min(64) {
            let byte = *self.data.get(self.pos / 8)?;
            v = (v << 1) | u64::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    pub(crate) fn u8(&mut self, n: u32) -> Option<u8> {
        self.read(n.min(8)).and_then(|v| u8::try_from(v).ok())
    }

    pub(crate) fn flag(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }

    /// Exp-Golomb ue(v), refusing codes longer than 32 bits.
    pub(crate) fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while !self.flag()? {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.read(zeros)?;
        u32::try_from((1u64 << zeros) - 1 + rest).ok()
    }
}
