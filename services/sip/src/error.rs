//! Typed parse errors: where in the message, and why, in words a person can read.

use thiserror::Error;

/// A failure to parse a SIP message, a header or a URI.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind} at byte {offset}")]
pub struct ParseError {
    /// Byte offset into the input where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// An error of `kind` found at `offset`.
    pub fn new(offset: usize, kind: ParseErrorKind) -> Self {
        Self { offset, kind }
    }

    /// A short reason fit for a SIP reason phrase (no CR or LF, at most 100 bytes).
    pub fn reason_phrase(&self) -> String {
        let mut text = self.kind.to_string();
        text.retain(|c| c != '\r' && c != '\n');
        if text.len() > 100 {
            let mut cut = 100;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        text
    }

    pub(crate) fn shifted(mut self, by: usize) -> Self {
        self.offset += by;
        self
    }
}

/// The reason a message could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseErrorKind {
    /// The input ended before the message did.
    #[error("message is incomplete: {0}")]
    Incomplete(&'static str),
    /// The start line is malformed.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// The SIP version is not SIP/2.0.
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// A header line has no name or colon.
    #[error("malformed header line")]
    HeaderLine,
    /// A known header's value does not follow its grammar.
    #[error("bad {header} header: expected {expected}")]
    HeaderValue {
        /// The header's canonical name.
        header: &'static str,
        /// What the grammar expected at the offset.
        expected: &'static str,
    },
    /// A numeric field exceeds its allowed range.
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    /// More than one Content-Length header: the message cannot be framed.
    #[error("multiple Content-Length values")]
    MultipleContentLength,
    /// Content-Length promises more bytes than the message has.
    #[error("body shorter than Content-Length")]
    BodyTooShort,
    /// The method in CSeq differs from the request method.
    #[error("CSeq method does not match request method")]
    CSeqMethodMismatch,
    /// The Request-URI is malformed.
    #[error("bad Request-URI: expected {0}")]
    RequestUri(&'static str),
    /// A URI given on its own is malformed.
    #[error("bad URI: expected {0}")]
    Uri(&'static str),
    /// Text that must be UTF-8 is not.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// A header that must appear once appears several times.
    #[error("multiple {0} headers")]
    DuplicateHeader(&'static str),
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The header section or body exceeds the configured limit.
    #[error("{0} exceeds size limit")]
    TooLarge(&'static str),
}
