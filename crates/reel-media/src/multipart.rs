//! `multipart/mixed` bodies (RFC 2046) as go-livepeer uses them for renditions: one part
//! per rendition with `Content-Type`, `Content-Disposition`, `Content-Length` and
//! `Rendition-Name` headers. Writing, and a bounded reader (pure; fuzzed).

use bytes::Bytes;

use crate::MediaError;

/// Most parts read from one body.
const MAX_PARTS: usize = 64;
/// Largest header block of one part.
const MAX_PART_HEADERS: usize = 8 << 10;

/// One part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Part {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Writes a body; returns it with its `Content-Type` header value.
pub fn write(boundary: &str, parts: &[Part]) -> (String, Vec<u8>) {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.body.len() + 256).sum());
    for p in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (k, v) in &p.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary.as_bytes());
    out.extend_from_slice(b"--\r\n");
    (format!("multipart/mixed; boundary={boundary}"), out)
}

/// The boundary parameter of a `multipart/*` content type.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params
        .split(';')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// Reads a body. A part with `Content-Length` is taken by length; otherwise up to the next
/// delimiter. Pure; fuzzed.
pub fn parse(boundary: &str, body: &[u8]) -> Result<Vec<Part>, MediaError> {
    let bad = |reason| MediaError::Multipart { reason };
    if boundary.is_empty() {
        return Err(bad("empty boundary"));
    }
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    let mut pos = find(body, delim, 0).ok_or(bad("no opening boundary"))?;
    let mut parts = Vec::new();
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then CRLF.
        while body.get(pos).is_some_and(|b| *b == b' ' || *b == b'\t') {
            pos += 1;
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(bad("boundary line not ended by CRLF"));
        }
        pos += 2;
        if parts.len() == MAX_PARTS {
            return Err(bad("too many parts"));
        }
        let (head, body_start) = if body[pos..].starts_with(b"\r\n") {
            (&body[pos..pos], pos + 2)
        } else {
            let end = find(body, b"\r\n\r\n", pos)
                .filter(|e| e - pos <= MAX_PART_HEADERS)
                .ok_or(bad("part headers not ended by an empty line"))?;
            (&body[pos..end], end + 4)
        };
        let mut headers = Vec::new();
        if !head.is_empty() {
            let text = std::str::from_utf8(head).map_err(|_| bad("part headers not UTF-8"))?;
            for line in text.split("\r\n") {
                let (k, v) = line
                    .split_once(':')
                    .ok_or(bad("part header without a colon"))?;
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let length = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| {
                v.parse::<usize>()
                    .map_err(|_| bad("bad part Content-Length"))
            })
            .transpose()?;
        let (part_body, next) = match length {
            Some(len) => {
                let end = body_start
                    .checked_add(len)
                    .filter(|e| *e <= body.len())
                    .ok_or(bad("part shorter than its Content-Length"))?;
                let next = find(body, delim, end).ok_or(bad("no boundary after a part"))?;
                (&body[body_start..end], next)
            }
            None => {
                let mut crlf_delim = b"\r\n".to_vec();
                crlf_delim.extend_from_slice(delim);
                let end =
                    find(body, &crlf_delim, body_start).ok_or(bad("no boundary after a part"))?;
                (&body[body_start..end], end + 2)
            }
        };
        parts.push(Part {
            headers,
            body: Bytes::copy_from_slice(part_body),
        });
        pos = next;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, body: &[u8], with_len: bool) -> Part {
        let mut headers = vec![
            (
                "Content-Type".to_owned(),
                format!("video/mp2t; name=\"{name}.ts\""),
            ),
            ("Rendition-Name".to_owned(), name.to_owned()),
        ];
        if with_len {
            headers.push(("Content-Length".into(), body.len().to_string()));
        }
        Part {
            headers,
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn round_trip() {
        let parts = vec![
            part("P144p", b"\r\n--b0undary\r\nnot a real boundary", true),
            part("low", b"abc", false),
            part("empty", b"", true),
        ];
        let (ct, body) = write("b0undary", &parts);
        assert_eq!(boundary(&ct), Some("b0undary"));
        let back = parse("b0undary", &body).unwrap();
        assert_eq!(back, parts);
        assert_eq!(back[1].header("rendition-name"), Some("low"));
    }

    #[test]
    fn boundaries_from_content_types() {
        assert_eq!(boundary("multipart/mixed; boundary=\"x y\""), Some("x y"));
        assert_eq!(
            boundary("multipart/mixed;charset=x; Boundary=abc"),
            Some("abc")
        );
        assert_eq!(boundary("text/plain; boundary=abc"), None);
        assert_eq!(boundary("multipart/mixed"), None);
    }

    #[test]
    fn rejects_malformed_bodies() {
        assert!(parse("b", b"").is_err());
        assert!(parse("b", b"--b\r\nContent-Length: 99\r\n\r\nabc\r\n--b--").is_err());
        assert!(parse("b", b"--b\r\nNoColon\r\n\r\nabc\r\n--b--").is_err());
        assert!(parse("b", b"--b\r\n\r\nabc").is_err());
        assert!(parse("b", b"--bX").is_err());
        assert_eq!(parse("b", b"--b--\r\n").unwrap(), vec![]);
    }
}
