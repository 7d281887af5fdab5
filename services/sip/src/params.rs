//! Parameters: `;name=value` lists on URIs and header values.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

use crate::grammar::{self, PResult, is_token, quoted_string, sep, token};

/// One `name[=value]` parameter, kept as written (quotes included in quoted values).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Param {
    /// Parameter name as written.
    pub name: ByteString,
    /// Value as written, if the parameter has one.
    pub value: Option<ByteString>,
}

impl Param {
    /// A parameter with a value.
    pub fn new(name: impl Into<ByteString>, value: Option<impl Into<ByteString>>) -> Self {
        Param {
            name: name.into(),
            value: value.map(Into::into),
        }
    }
}

/// An ordered parameter list; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// An empty list.
    pub fn new() -> Self {
        Params(Vec::new())
    }

    /// The parameter called `name`, if present.
    pub fn find(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The value of `name`: `None` when absent, `Some(None)` when present without a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.find(name).map(|p| p.value.as_deref())
    }

    /// The value of `name` when present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Sets `name` to `value`, replacing an existing parameter of that name in place.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(ByteString::from);
        match self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: ByteString::from(name),
                value,
            }),
        }
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the parameters.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

/// Characters of a `gen-value` that is a token or a host (IPv6 references included).
fn is_gen_value(c: u8) -> bool {
    is_token(c) || matches!(c, b':' | b'[' | b']')
}

/// `*( SEMI generic-param )` as used by header values.
pub(crate) fn header_params<'a>(src: &Bytes, mut i: &'a [u8]) -> PResult<'a, Params> {
    let mut params = Vec::new();
    let semi = sep(b';', "';'");
    while let Ok((r, ())) = semi(i) {
        let (r, name) = match token(r) {
            Ok(x) => x,
            Err(_) => return grammar::cut(r, "parameter name"),
        };
        let (r, value) = match sep(b'=', "'='")(r) {
            Ok((r, ())) => {
                let (r, v) = if r.first() == Some(&b'"') {
                    quoted_string(r)?
                } else {
                    match nom::bytes::complete::take_while1::<_, _, grammar::GrammarError>(
                        is_gen_value,
                    )(r)
                    {
                        Ok(x) => x,
                        Err(_) => return grammar::cut(r, "parameter value"),
                    }
                };
                (r, Some(v))
            }
            Err(_) => (r, None),
        };
        params.push(Param {
            name: param_name(src, name),
            value: match value {
                Some(v) => Some(grammar::text(src, v).map_err(|s| {
                    nom::Err::Failure(grammar::GrammarError {
                        input: s,
                        expected: "UTF-8 text",
                        out_of_range: false,
                    })
                })?),
                None => None,
            },
        });
        i = r;
    }
    Ok((i, Params(params)))
}

/// A parameter name as a string: the names every message carries are static strings (no
/// reference count on the message buffer to bump now and drop later), others share `src`.
pub(crate) fn param_name(src: &Bytes, name: &[u8]) -> ByteString {
    let common = match name {
        b"tag" => "tag",
        b"branch" => "branch",
        b"rport" => "rport",
        b"received" => "received",
        b"transport" => "transport",
        b"lr" => "lr",
        b"user" => "user",
        b"expires" => "expires",
        b"q" => "q",
        b"maddr" => "maddr",
        b"ttl" => "ttl",
        b"username" => "username",
        b"realm" => "realm",
        b"nonce" => "nonce",
        b"uri" => "uri",
        b"response" => "response",
        b"algorithm" => "algorithm",
        b"cnonce" => "cnonce",
        b"opaque" => "opaque",
        b"qop" => "qop",
        b"nc" => "nc",
        _ => return ascii(src, name),
    };
    ByteString::from_static(common)
}

/// Converts grammar-checked ASCII to a string (cannot fail for ASCII input).
pub(crate) fn ascii(src: &Bytes, s: &[u8]) -> ByteString {
    grammar::text(src, s).unwrap_or_default()
}
