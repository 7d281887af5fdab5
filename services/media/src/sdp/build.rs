//! Writing SDP: RFC 4566 text with CRLF line endings, lines in the order of §5
//! (v o s i u e p c b t r z k a, then each m= section: m i c b k a).

use std::fmt::{self, Display, Formatter};

use super::{Attribute, Connection, MediaDescription, Origin, SessionDescription};

impl Display for SessionDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        write!(f, "o={}\r\n", self.origin)?;
        write!(f, "s={}\r\n", self.session_name)?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        if let Some(u) = &self.uri {
            write!(f, "u={u}\r\n")?;
        }
        for e in &self.emails {
            write!(f, "e={e}\r\n")?;
        }
        for p in &self.phones {
            write!(f, "p={p}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={}:{}\r\n", b.bw_type, b.value)?;
        }
        if self.times.is_empty() {
            // t= is required; an unbounded session is what a built description means.
            f.write_str("t=0 0\r\n")?;
        }
        for t in &self.times {
            write!(f, "t={} {}\r\n", t.start, t.stop)?;
            for r in &t.repeats {
                write!(f, "r={r}\r\n")?;
            }
        }
        if let Some(z) = &self.time_zones {
            write!(f, "z={z}\r\n")?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        for m in &self.media {
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

impl Display for Origin {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.session_version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

impl Display for Connection {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

/// The whole `m=` section, each line ending in CRLF.
impl Display for MediaDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto.as_str())?;
        for format in &self.formats {
            write!(f, " {format}")?;
        }
        f.write_str("\r\n")?;
        if let Some(i) = &self.information {
            write!(f, "i={i}\r\n")?;
        }
        if let Some(c) = &self.connection {
            write!(f, "c={c}\r\n")?;
        }
        for b in &self.bandwidths {
            write!(f, "b={}:{}\r\n", b.bw_type, b.value)?;
        }
        if let Some(k) = &self.key {
            write!(f, "k={k}\r\n")?;
        }
        for a in &self.attributes {
            write!(f, "a={a}\r\n")?;
        }
        Ok(())
    }
}

/// The attribute after `a=`.
impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Rtpmap(r) => write!(f, "rtpmap:{} {}", r.payload_type, r.codec),
            Attribute::Fmtp(p) if p.params.is_empty() => write!(f, "fmtp:{}", p.format),
            Attribute::Fmtp(p) => write!(f, "fmtp:{} {}", p.format, p.params),
            Attribute::Ptime(ms) => write!(f, "ptime:{ms}"),
            Attribute::MaxPtime(ms) => write!(f, "maxptime:{ms}"),
            Attribute::Direction(d) => f.write_str(d.as_str()),
            Attribute::Rtcp(r) => match &r.connection {
                Some(c) => write!(f, "rtcp:{} {c}", r.port),
                None => write!(f, "rtcp:{}", r.port),
            },
            Attribute::Other { name, value: None } => f.write_str(name),
            Attribute::Other {
                name,
                value: Some(v),
            } => write!(f, "{name}:{v}"),
        }
    }
}
