//! Tiny independent SIP message reader for assertions, and unique tokens
//! for composing requests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::find;

/// A unique RFC 3261 branch parameter (magic cookie prefix).
pub fn new_branch() -> String {
    format!("z9hG4bK{}", unique_token())
}

/// A token unique within this test run (for tags, Call-IDs, branches).
pub fn unique_token() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A SIP message split into start line, headers and body. Header names are
/// matched case-insensitively and compact forms are understood; folded
/// header lines are unfolded. Only meant for test assertions.
#[derive(Debug, Clone)]
pub struct SipMessage {
    /// The first line, e.g. `SIP/2.0 200 OK`.
    pub start_line: String,
    /// Headers in order, with names as sent and values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (everything after the blank line).
    pub body: Vec<u8>,
    /// The whole message, lossily decoded, for panic messages.
    pub raw: String,
}

/// Compact header forms (RFC 3261 section 7.3.3 and common extensions).
const COMPACT_FORMS: &[(&str, &str)] = &[
    ("i", "call-id"),
    ("m", "contact"),
    ("e", "content-encoding"),
    ("l", "content-length"),
    ("c", "content-type"),
    ("f", "from"),
    ("s", "subject"),
    ("k", "supported"),
    ("t", "to"),
    ("v", "via"),
    ("o", "event"),
    ("r", "refer-to"),
    ("u", "allow-events"),
];

fn canonical_header_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    COMPACT_FORMS
        .iter()
        .find(|(short, _)| *short == lower)
        .map(|(_, long)| (*long).to_owned())
        .unwrap_or(lower)
}

impl SipMessage {
    /// Parses `bytes`; panics with the raw text if it is not a SIP message.
    pub fn parse(bytes: &[u8]) -> SipMessage {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let (head, body) = match find(bytes, b"\r\n\r\n") {
            Some(i) => (&bytes[..i], bytes[i + 4..].to_vec()),
            None => panic!("SIP message without end of headers (CRLF CRLF):\n{raw}"),
        };
        let head = String::from_utf8_lossy(head).into_owned();
        let mut lines = head.split("\r\n");
        let start_line = lines.next().unwrap_or_default().to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                match headers.last_mut() {
                    Some((_, value)) => {
                        value.push(' ');
                        value.push_str(line.trim());
                    }
                    None => panic!("continuation line before any header:\n{raw}"),
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                panic!("header line without a colon: {line:?}\n{raw}");
            };
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        SipMessage {
            start_line,
            headers,
            body,
            raw,
        }
    }

    /// The status code if this is a response (`SIP/2.0 200 OK` -> 200).
    pub fn status(&self) -> Option<u16> {
        let rest = self.start_line.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }

    /// All values of header `name` (full or compact form, any case), in
    /// order. Comma-separated values on one line are returned as one entry.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let wanted = canonical_header_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| canonical_header_name(n) == wanted)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// The first value of header `name`; panics with the message if absent.
    pub fn expect_header(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("header {name} missing from:\n{}", self.raw))
    }

    /// Parameter `param` (e.g. `tag`, `branch`) of a header value such as
    /// `<sip:a@b>;tag=x` or `SIP/2.0/UDP h:p;branch=y`. Parameters inside
    /// `<...>` are ignored. Returns `Some("")` for a valueless parameter.
    pub fn param<'a>(header_value: &'a str, param: &str) -> Option<&'a str> {
        let after_uri = match header_value.rfind('>') {
            Some(i) => &header_value[i + 1..],
            None => header_value,
        };
        after_uri.split(';').skip(1).find_map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            name.trim()
                .eq_ignore_ascii_case(param)
                .then_some(value.trim())
        })
    }

    pub(super) fn content_length_of(head: &str) -> Option<usize> {
        head.split("\r\n").skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (canonical_header_name(name) == "content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
    }
}
