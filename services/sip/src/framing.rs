//! Stream framing (RFC 3261 §18.3): over TCP, messages are cut by Content-Length.
//!
//! The framer only finds message boundaries; [`crate::parse_message`] does the parsing.
//! A double CRLF between messages is an RFC 5626 §3.5.1 keep-alive ping.

use bytes::{Buf, Bytes, BytesMut};
use thiserror::Error;

/// Size limits that protect the server from endless or huge messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingLimits {
    /// Largest start line plus header section, in bytes.
    pub max_header_bytes: usize,
    /// Largest body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for FramingLimits {
    fn default() -> Self {
        FramingLimits {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 256 * 1024,
        }
    }
}

/// What the framer found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One whole message, ready for [`crate::parse_message`].
    Message(Bytes),
    /// A CRLFCRLF keep-alive ping; answer with a single CRLF pong.
    KeepAlivePing,
}

/// The stream cannot be framed; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    /// The header section exceeds the limit.
    #[error("header section larger than {0} bytes")]
    HeadersTooLarge(usize),
    /// The body exceeds the limit.
    #[error("body of {0} bytes exceeds the limit")]
    BodyTooLarge(usize),
    /// More than one Content-Length header.
    #[error("multiple Content-Length headers")]
    MultipleContentLength,
    /// Content-Length is not a number.
    #[error("malformed Content-Length")]
    BadContentLength,
}

/// Accumulates stream bytes and cuts them into frames.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: FramingLimits,
}

impl StreamFramer {
    /// A framer with the given limits.
    pub fn new(limits: FramingLimits) -> Self {
        StreamFramer {
            buf: BytesMut::new(),
            limits,
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame, `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        loop {
            if self.buf.starts_with(b"\r\n\r\n") {
                self.buf.advance(4);
                return Ok(Some(Frame::KeepAlivePing));
            }
            if self.buf.starts_with(b"\r\n") {
                if self.buf.len() < 4 && b"\r\n\r\n".starts_with(&self.buf) {
                    return Ok(None);
                }
                // A lone CRLF (a pong, or padding before a message) is skipped.
                self.buf.advance(2);
                continue;
            }
            if self.buf.first() == Some(&b'\n') {
                self.buf.advance(1);
                continue;
            }
            break;
        }
        let Some(header_end) = find_header_end(&self.buf) else {
            if self.buf.len() > self.limits.max_header_bytes {
                return Err(FramingError::HeadersTooLarge(self.limits.max_header_bytes));
            }
            return Ok(None);
        };
        if header_end > self.limits.max_header_bytes {
            return Err(FramingError::HeadersTooLarge(self.limits.max_header_bytes));
        }
        let body_len = content_length(&self.buf[..header_end])?.unwrap_or(0);
        if body_len > self.limits.max_body_bytes {
            return Err(FramingError::BodyTooLarge(body_len));
        }
        if self.buf.len() < header_end + body_len {
            return Ok(None);
        }
        Ok(Some(Frame::Message(
            self.buf.split_to(header_end + body_len).freeze(),
        )))
    }
}

/// Offset just past the empty line that ends the header section.
fn find_header_end(b: &[u8]) -> Option<usize> {
    let mut k = 0;
    while let Some(rel) = b[k..].iter().position(|&c| c == b'\n') {
        let lf = k + rel;
        match b.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') if b.get(lf + 2) == Some(&b'\n') => return Some(lf + 3),
            _ => k = lf + 1,
        }
    }
    None
}

/// The Content-Length of a header section, if it has one.
fn content_length(head: &[u8]) -> Result<Option<usize>, FramingError> {
    let mut found = None;
    for line in head.split(|&c| c == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        if found.is_some() {
            return Err(FramingError::MultipleContentLength);
        }
        let value = line[colon + 1..].trim_ascii();
        if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::BadContentLength);
        }
        let n = value
            .iter()
            .fold(0usize, |a, d| a * 10 + usize::from(d - b'0'));
        found = Some(n);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> String {
        format!(
            "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn frames_two_messages_split_across_reads() {
        let both = format!("{}{}", msg("abc"), msg(""));
        let mut f = StreamFramer::default();
        let (a, b) = both.as_bytes().split_at(10);
        f.push(a);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(b);
        assert_eq!(
            f.next_frame(),
            Ok(Some(Frame::Message(Bytes::from(msg("abc")))))
        );
        assert_eq!(
            f.next_frame(),
            Ok(Some(Frame::Message(Bytes::from(msg("")))))
        );
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn waits_for_the_whole_body() {
        let m = msg("0123456789");
        let mut f = StreamFramer::default();
        f.push(&m.as_bytes()[..m.len() - 1]);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&m.as_bytes()[m.len() - 1..]);
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(_)))));
    }

    #[test]
    fn double_crlf_is_a_keepalive_ping_and_single_crlf_is_skipped() {
        let mut f = StreamFramer::default();
        f.push(b"\r\n\r\n\r\n");
        assert_eq!(f.next_frame(), Ok(Some(Frame::KeepAlivePing)));
        assert_eq!(f.next_frame(), Ok(None));
        f.push(msg("").as_bytes());
        assert_eq!(
            f.next_frame(),
            Ok(Some(Frame::Message(Bytes::from(msg("")))))
        );
    }

    #[test]
    fn multiple_content_length_is_a_framing_error() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\nl: 4\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::MultipleContentLength));
    }

    #[test]
    fn endless_headers_hit_the_limit() {
        let mut f = StreamFramer::new(FramingLimits {
            max_header_bytes: 64,
            max_body_bytes: 64,
        });
        f.push(&[b'a'; 100]);
        assert_eq!(f.next_frame(), Err(FramingError::HeadersTooLarge(64)));
    }

    #[test]
    fn oversized_body_is_refused_before_it_arrives() {
        let mut f = StreamFramer::new(FramingLimits {
            max_header_bytes: 1024,
            max_body_bytes: 10,
        });
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 11\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::BodyTooLarge(11)));
    }

    #[test]
    fn missing_content_length_frames_an_empty_body() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\nOPTIONS");
        assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(m))) if m.ends_with(b"\r\n\r\n")));
        assert_eq!(f.buffered(), 7);
    }
}
