//! AMF0 (Action Message Format 0), the encoding of RTMP commands and metadata: a decoder
//! with limits on nesting and size (a hostile publisher must not be able to recurse us off
//! the stack or make us allocate by a count it made up) and an encoder for our replies.
//! Pure; fuzzed.

use crate::MediaError;

/// Deepest nesting of objects and arrays accepted.
const MAX_DEPTH: usize = 16;
/// Most values (at every level together) accepted in one message.
const MAX_VALUES: usize = 4096;

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    /// A number (always f64).
    Number(f64),
    /// A boolean.
    Boolean(bool),
    /// A string (short or long form).
    String(String),
    /// An anonymous object: properties in wire order.
    Object(Vec<(String, Amf0Value)>),
    /// null.
    Null,
    /// undefined.
    Undefined,
    /// An ECMA (associative) array: properties in wire order.
    EcmaArray(Vec<(String, Amf0Value)>),
    /// A strict (dense) array.
    StrictArray(Vec<Amf0Value>),
    /// A date: milliseconds since the epoch.
    Date(f64),
}

impl Amf0Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        match self {
            Self::Object(props) | Self::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }
}

/// Decodes every value in `bytes`. Pure; fuzzed.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Amf0Value>, MediaError> {
    let mut d = Decoder {
        data: bytes,
        pos: 0,
        values: 0,
    };
    let mut out = Vec::new();
    while d.pos < d.data.len() {
        out.push(d.value(0)?);
    }
    Ok(out)
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    values: usize,
}

fn err(reason: &'static str) -> MediaError {
    MediaError::Amf0 { reason }
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MediaError> {
        let end = self.pos.checked_add(n).ok_or(err("length overflow"))?;
        let s = self.data.get(self.pos..end).ok_or(err("value cut short"))?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, MediaError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MediaError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, MediaError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, MediaError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn string(&mut self, len: usize) -> Result<String, MediaError> {
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| err("string is not UTF-8"))
    }

    fn value(&mut self, depth: usize) -> Result<Amf0Value, MediaError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(err("too many values"));
        }
        let marker = self.u8()?;
        Ok(match marker {
            0x00 => Amf0Value::Number(self.f64()?),
            0x01 => Amf0Value::Boolean(self.u8()? != 0),
            0x02 => {
                let len = usize::from(self.u16()?);
                Amf0Value::String(self.string(len)?)
            }
            0x03 => Amf0Value::Object(self.properties(depth + 1)?),
            0x05 => Amf0Value::Null,
            0x06 => Amf0Value::Undefined,
            0x08 => {
                let _count = self.u32()?; // advisory; the end marker decides
                Amf0Value::EcmaArray(self.properties(depth + 1)?)
            }
            0x0A => {
                if depth + 1 > MAX_DEPTH {
                    return Err(err("nesting too deep"));
                }
                let count = self.u32()? as usize;
                // Every element takes at least one byte: a count beyond the bytes left is a lie.
                if count > self.data.len() - self.pos {
                    return Err(err("array count larger than the message"));
                }
                let mut items = Vec::with_capacity(count.min(64));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                Amf0Value::StrictArray(items)
            }
            0x0B => {
                let ms = self.f64()?;
                let _tz = self.u16()?;
                Amf0Value::Date(ms)
            }
            0x0C => {
                let len = self.u32()? as usize;
                Amf0Value::String(self.string(len)?)
            }
            0x09 => return Err(err("object end marker outside an object")),
            0x07 => return Err(err("references are not supported")),
            0x10 => return Err(err("typed objects are not supported")),
            0x11 => return Err(err("AMF3 values are not supported")),
            _ => return Err(err("unknown marker")),
        })
    }

    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Amf0Value)>, MediaError> {
        if depth > MAX_DEPTH {
            return Err(err("nesting too deep"));
        }
        let mut props = Vec::new();
        loop {
            let len = usize::from(self.u16()?);
            if len == 0 {
                if self.u8()? != 0x09 {
                    return Err(err("empty property name without an object end marker"));
                }
                return Ok(props);
            }
            let key = self.string(len)?;
            let value = self.value(depth)?;
            props.push((key, value));
        }
    }
}

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Amf0Value, out: &mut Vec<u8>) {
    match value {
        Amf0Value::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf0Value::Boolean(b) => out.extend_from_slice(&[0x01, u8::from(*b)]),
        Amf0Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.push(0x02);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Err(_) => {
                out.push(0x0C);
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&s.as_bytes()[..len as usize]);
            }
        },
        Amf0Value::Object(props) => {
            out.push(0x03);
            encode_properties(props, out);
        }
        Amf0Value::Null => out.push(0x05),
        Amf0Value::Undefined => out.push(0x06),
        Amf0Value::EcmaArray(props) => {
            out.push(0x08);
            let count = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            encode_properties(props, out);
        }
        Amf0Value::StrictArray(items) => {
            out.push(0x0A);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items {
                encode(item, out);
            }
        }
        Amf0Value::Date(ms) => {
            out.push(0x0B);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

fn encode_properties(props: &[(String, Amf0Value)], out: &mut Vec<u8>) {
    for (k, v) in props {
        // Property names are short strings; a longer one would not decode anywhere.
        let key = &k.as_bytes()[..k.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key);
        encode(v, out);
    }
    out.extend_from_slice(&[0, 0, 0x09]);
}

/// Encodes several values back to back.
pub fn encode_all(values: &[Amf0Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode(v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Amf0Value {
        Amf0Value::String(v.into())
    }

    #[test]
    fn round_trip() {
        let values = vec![
            s("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::Object(vec![
                ("app".into(), s("live")),
                ("tcUrl".into(), s("rtmp://127.0.0.1/live")),
                ("fpad".into(), Amf0Value::Boolean(false)),
                (
                    "nested".into(),
                    Amf0Value::EcmaArray(vec![("w".into(), Amf0Value::Number(640.0))]),
                ),
            ]),
            Amf0Value::Null,
            Amf0Value::Undefined,
            Amf0Value::StrictArray(vec![Amf0Value::Number(1.5), s("x")]),
            Amf0Value::Date(1.0e12),
            s(&"L".repeat(70_000)),
        ];
        let bytes = encode_all(&values);
        assert_eq!(decode_all(&bytes).unwrap(), values);
        assert_eq!(
            values[2].get("app").and_then(Amf0Value::as_str),
            Some("live")
        );
    }

    #[test]
    fn known_bytes() {
        // "connect" as ffmpeg sends it starts like this.
        let bytes = [
            0x02, 0x00, 0x07, b'c', b'o', b'n', b'n', b'e', b'c', b't', 0x00, 0x3F, 0xF0, 0, 0, 0,
            0, 0, 0,
        ];
        assert_eq!(
            decode_all(&bytes).unwrap(),
            vec![s("connect"), Amf0Value::Number(1.0)]
        );
    }

    #[test]
    fn hostile_input_is_bounded() {
        // 100 000 nested strict arrays would recurse 100 000 deep.
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
        }
        assert!(decode_all(&deep).is_err());
        let mut deep_obj = Vec::new();
        for _ in 0..100 {
            deep_obj.extend_from_slice(&[0x03, 0, 1, b'a']);
        }
        assert!(decode_all(&deep_obj).is_err());
        // An array that claims 4 billion elements.
        assert!(decode_all(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05]).is_err());
        // A long string longer than the message.
        assert!(decode_all(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']).is_err());
        assert!(decode_all(&[0x02, 0, 2, 0xFF, 0xFE]).is_err(), "not UTF-8");
        assert!(decode_all(&[0x42]).is_err());
        assert!(decode_all(&[0x09]).is_err());
    }
}
